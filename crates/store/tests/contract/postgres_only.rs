//! What only the PostgreSQL backend has to show: migrating once when many instances start
//! together, surviving a dropped connection, bounded calls, and URLs whose password stays secret.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use switchyard_core::store::{GovernanceStore, LogQuery, StoreError};

use switchyard_store::{PostgresGovernance, PostgresLog};

use crate::backend::{admin, PgSchema, Storage};
use crate::governance::full_key;
use crate::log::full_record;

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_together_migrate_exactly_once() {
    let Some(schema) = PgSchema::create().await else { return };
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (schema.url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PostgresLog::connect(&url).map(drop)
            })
        })
        .collect();
    for t in threads {
        t.join().expect("connect thread").expect("every instance starts");
    }
    let sql = format!("SELECT version, count(*) FROM {}.schema_migrations GROUP BY version ORDER BY version", schema.name);
    let rows = admin(&schema.admin_url).await.query(sql.as_str(), &[]).await.unwrap();
    let versions: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(versions.len() >= 2, "{versions:?}");
    for (i, (version, count)) in versions.iter().enumerate() {
        assert_eq!((*version, *count), (i as i64 + 1, 1), "each migration recorded once: {versions:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_is_replaced() {
    let Some(storage) = Storage::postgres().await else { return };
    let Storage::Postgres(schema) = &storage else { unreachable!() };
    let mut b = storage.open().await;
    let key = b.gov.create_key(full_key("key_1", "sy-aaaaaaaa")).await.unwrap();
    b.log.insert(&[full_record("r1", 1)]).unwrap();

    assert!(schema.terminate_connections().await >= 2, "the governance and log connections were open");
    // The first call may see the dead connection (and fail, so the writer spools); the next
    // one must work again.
    let mut keys = b.gov.list_keys().await;
    if keys.is_err() {
        keys = b.gov.list_keys().await;
    }
    assert_eq!(keys.unwrap(), vec![key]);
    if b.log.insert(&[full_record("r2", 2)]).is_err() {
        b.log.insert(&[full_record("r2", 2)]).expect("the log reconnects");
    }
    let stored = b.log.query(&LogQuery { limit: 10, ..LogQuery::default() }).unwrap();
    assert_eq!(stored.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), ["r2", "r1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_does_not_answer_gives_an_error_in_time() {
    let Some(schema) = PgSchema::create().await else { return };
    let gov = PostgresGovernance::connect_with_timeout(&schema.url, Duration::from_millis(300)).await.unwrap();
    let mut locker = admin(&schema.admin_url).await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute(&format!("LOCK TABLE {}.keys IN ACCESS EXCLUSIVE MODE", schema.name)).await.unwrap();

    let started = Instant::now();
    match gov.list_keys().await {
        Err(StoreError::Server(msg)) => assert!(msg.contains("no answer within"), "{msg}"),
        other => panic!("expected a timeout error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    tx.rollback().await.unwrap();
    assert_eq!(gov.list_keys().await.unwrap(), vec![], "works again once the database answers");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_database_but_never_the_password() {
    // Nothing listens on port 1.
    let url = "postgres://sy_user:hunter2-secret@127.0.0.1:1/switchyard";
    let gov = PostgresGovernance::connect(url).await.err().expect("no server on port 1");
    let log = PostgresLog::connect(url).err().expect("no server on port 1");
    for e in [gov.to_string(), log.to_string()] {
        assert!(!e.contains("hunter2"), "password leaked: {e}");
        assert!(e.contains("postgres://sy_user@127.0.0.1:1/switchyard"), "{e}");
    }
    let bad = PostgresLog::connect("postgres://u:hunter2@host/db?no_such_option=1").err().expect("unknown option");
    assert!(!bad.to_string().contains("hunter2") && bad.to_string().contains("no_such_option"), "{bad}");
}

/// The newest-first keyset page is read from the search index in order (no sort of the table),
/// with the byte-order collation the cursor compares with.
#[tokio::test(flavor = "multi_thread")]
async fn log_pages_read_the_keyset_index() {
    let Some(schema) = PgSchema::create().await else { return };
    drop(PostgresLog::connect(&schema.url).unwrap());
    let client = admin(&schema.url).await;
    client.batch_execute("SET enable_seqscan = off; SET enable_sort = off").await.unwrap();
    let sql = r#"EXPLAIN SELECT request_id FROM request_log
        WHERE (started_at_ms < 5 OR (started_at_ms = 5 AND request_id COLLATE "C" < 'r'))
        ORDER BY started_at_ms DESC, request_id COLLATE "C" DESC LIMIT 51"#;
    let plan: Vec<String> = client.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let plan = plan.join("\n");
    assert!(plan.contains("request_log_started_id") && !plan.contains("Sort"), "{plan}");
}
