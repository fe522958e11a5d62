//! Outages injected for real: a redis-server this test starts on a spare port and kills, and a
//! TCP proxy in front of PostgreSQL that this test cuts.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::GatewayProcess;
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::common::*;

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if std::env::var("CI").is_err() => {
                eprintln!("SKIPPED: needs the redis-server binary ({e})");
                return None;
            }
            Err(e) => panic!("redis-server is needed under CI: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn get(&self, key: &str) -> String {
        self.cli(&["GET", key])
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// SIGSTOP / SIGCONT: a Redis that accepts connections and answers nothing.
    fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill").success();
        assert!(ok, "kill {signal}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn timed(gw: &GatewayProcess, key: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let r = call(gw, Some(key), &one_token()).await;
    let status = r.status().as_u16();
    let e: Value = r.json().await.unwrap_or(Value::Null);
    (status, code(&e).to_string(), started.elapsed())
}

#[tokio::test]
async fn redis_killed_mid_run_limits_go_local_budgets_spend_their_lease_and_no_phantom_spend_after_restart() {
    let port = spare_port();
    let Some(mut redis) = RedisServer::start(port) else { return };
    let up = metered_upstream(Duration::ZERO).await;
    let config = format!(
        "redis: redis://127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ on_redis_outage: {{ limits: local, budgets: lease, lease_pct: 10 }} }}\n{}",
        metered_models(&up.base_url())
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&gw, json!({"name": "outage", "limits": {"rpm": 6000}, "budget": {"usd": 1.0, "window": "daily"}})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut healthy = Vec::new();
    for _ in 0..20 {
        let (status, _, took) = timed(&gw, &key).await;
        assert_eq!(status, 200);
        healthy.push(took);
    }
    redis.kill();
    // With Redis gone: limits are enforced locally and the budget spends its 10% lease ($0.10,
    // ten requests), then refuses.
    let mut outage = Vec::new();
    let mut refused = None;
    for i in 0..15 {
        let (status, code, took) = timed(&gw, &key).await;
        outage.push(took);
        if status != 200 {
            assert_eq!((status, code.as_str()), (503, "limits_unavailable"), "request {i}");
            refused.get_or_insert(i);
        }
    }
    assert_eq!(refused, Some(10), "exactly the lease was spent");
    let slowest_healthy = healthy.iter().max().unwrap();
    let slowest_outage = outage.iter().max().unwrap();
    eprintln!("slowest request: {slowest_healthy:?} with Redis, {slowest_outage:?} during the outage");
    assert!(*slowest_outage < *slowest_healthy + Duration::from_millis(80), "no request waits long on a dead Redis: {outage:?}");
    assert!(gw.output().contains("shared counters (Redis) unreachable"), "the outage is logged");
    let metrics = client().get(format!("{}/metrics", gw.root_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_shared_counter_outages_total 1"), "{metrics}");
    assert!(metrics.contains("switchyard_local_admissions_total 1"), "the outage admissions are counted: {metrics}");

    // Redis comes back empty: the budget total is seeded from the request log, not from what
    // was reserved or queued before.
    let _redis = RedisServer::start(port).expect("restart");
    let back = eventually(Duration::from_secs(3), || async { timed(&gw, &key).await.0 == 200 }).await;
    assert!(back.is_some(), "requests are admitted through Redis again");
    for _ in 0..4 {
        assert_eq!(timed(&gw, &key).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let date = &switchyard_core::time::rfc3339(switchyard_core::time::now_ms())[..10];
    let total = _redis.get(&format!("switchyard:b:key:{id}:usd:d{date}"));
    // 20 before, 10 during, 5 after: $0.35, in nano-dollars.
    assert_eq!(total, "350000000", "the shared total is exactly what the log says was spent");
}

/// A TCP proxy in front of PostgreSQL that the test can cut (dropping every connection and
/// refusing new ones) and restore.
struct CuttableProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, tasks) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let (cut2, tasks2, target) = (cut.clone(), tasks.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                tasks2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self { port, cut, tasks }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn with_the_database_down_known_keys_keep_working_and_records_arrive_later() {
    let Some(pg) = postgres_url() else { return };
    let schema = Schema::create(&pg).await;
    let host_port = pg.split('@').nth(1).and_then(|r| r.split('/').next()).unwrap_or("127.0.0.1:5432").to_string();
    let proxy = CuttableProxy::start(&host_port).await;
    let proxied = schema.url.replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let config = format!(
        "database: \"{proxied}\"\nkeys: {{ secret: {KEY_SECRET}, require: true }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\nproviders:\n  mock: {{ type: mock }}\n"
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&gw, json!({"name": "survivor"})).await;
    assert_eq!(call(&gw, Some(&key), &chat("mock/echo", "before")).await.status(), 200);

    proxy.cut();
    for i in 0..20 {
        let r = call(&gw, Some(&key), &chat("mock/echo", "during")).await;
        assert_eq!(r.status(), 200, "request {i} with the database down");
    }
    let (status, _) = admin(&gw, reqwest::Method::GET, "/admin/keys", None).await;
    assert!(status >= 500, "the admin API says the database is down ({status})");
    // A key minted meanwhile through an instance that still reaches the database cannot be
    // checked here: a retryable 503, never a 401 for a key that is valid.
    let other = GatewayProcess::spawn(bin(), &config.replace(&proxied, &schema.url)).await;
    let (_, newer) = create_key(&other, json!({"name": "minted-during-the-cut"})).await;
    let r = call(&gw, Some(&newer), &chat("mock/echo", "unverifiable")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "key_store_unavailable");
    assert!(!e.to_string().contains(&newer), "the key is not echoed");
    proxy.restore();
    let accepted =
        eventually(Duration::from_secs(10), || async { call(&gw, Some(&newer), &chat("mock/echo", "after")).await.status() == 200 }).await;
    assert!(accepted.is_some(), "the new key works once the database answers again");

    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let logged = eventually(Duration::from_secs(20), || async {
        let n: i64 = client.query_one("SELECT count(*) FROM request_log WHERE key_id = $1", &[&id]).await.unwrap().get(0);
        n == 21
    })
    .await;
    assert!(logged.is_some(), "every request's record reached PostgreSQL once it was back");
    drop((gw, other));
    drop(client);
    schema.drop_now().await;
}

#[tokio::test]
async fn a_hung_redis_costs_a_request_about_the_redis_timeout_and_leaves_no_reservation_behind() {
    let port = spare_port();
    let Some(redis) = RedisServer::start(port) else { return };
    let up = metered_upstream(Duration::ZERO).await;
    let config = format!(
        "redis: redis://127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ on_redis_outage: {{ limits: local, budgets: lease, lease_pct: 10 }} }}\n{}",
        metered_models(&up.base_url())
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) =
        create_key(&gw, json!({"name": "hung", "limits": {"rpm": 6000, "concurrency": 50}, "budget": {"usd": 1.0, "window": "daily"}}))
            .await;
    for _ in 0..20 {
        assert_eq!(timed(&gw, &key).await.0, 200);
    }

    redis.signal("-STOP");
    let mut hung = Vec::new();
    for i in 0..5 {
        let (status, code, took) = timed(&gw, &key).await;
        assert_eq!(status, 200, "request {i} while Redis hangs ({code}): within the 10% lease");
        hung.push(took);
    }
    redis.signal("-CONT");
    eprintln!("requests while Redis hung: {hung:?}");
    // The default Redis timeout is 50 ms; on a host too loaded to keep the gateway's timers on
    // time it takes up to four such windows. Before silence counted, the first request took
    // ~0.8 s (two probe periods).
    assert!(hung.iter().all(|t| *t < Duration::from_millis(400)), "no request waits long on a hung Redis: {hung:?}");
    assert!(gw.output().contains("no answer from Redis within 50ms"), "the reason is logged:\n{}", gw.output());

    let back = eventually(Duration::from_secs(5), || async { gw.output().contains("shared counters (Redis) reachable again") }).await;
    assert!(back.is_some(), "the monitor finds Redis back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The admission Redis ran when it woke took a concurrency slot and reserved $0.01 that
    // nobody would give back: both released. The five requests admitted meanwhile were replayed
    // as spend, once each.
    assert_eq!(redis.cli(&["ZCARD", &format!("switchyard:cc:key:{id}")]), "0", "no concurrency slot is left behind");
    let amounts = redis.cli(&["--scan", "--pattern", "switchyard:b:key:*:ra"]);
    let amounts = amounts.lines().next().unwrap_or_else(|| panic!("no budget reservations hash in Redis"));
    let total = amounts.strip_suffix(":ra").unwrap();
    assert_eq!(redis.cli(&["HGET", amounts, "_sum"]), "0", "no reservation is left behind: {}", redis.cli(&["HGETALL", amounts]));
    assert_eq!(redis.cli(&["ZCARD", &format!("{total}:r")]), "0");
    assert_eq!(redis.get(total), "250000000", "25 requests of $0.01 each, in nano-dollars");
}
