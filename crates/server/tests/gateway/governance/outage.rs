//! Outages injected for real: a redis-server this test starts on a spare port and kills, and a
//! TCP proxy in front of PostgreSQL that this test cuts.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
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
async fn redis_killed_mid_run_limits_go_local_budgets_spend_their_escrow_and_no_phantom_spend_after_restart() {
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
    // The escrow is asked for after every probe (250 ms): $0.20 spent in the last minute, capped
    // at the 10% lease and at an eighth of the $0.80 left: $0.10.
    tokio::time::sleep(Duration::from_millis(600)).await;
    redis.kill();
    // With Redis gone: limits are enforced locally and the budget spends its escrow ($0.10, ten
    // requests), then refuses.
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
    assert_eq!(refused, Some(10), "exactly the escrow was spent:\n{}", gw.output());
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
    // A Redis timeout far below the 5 s default, so that the test does not wait that long; it
    // decides only when silence counts as a hang, never how much is spent (the escrow does).
    let config = format!(
        "redis: redis://127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ redis_timeout: 300ms, on_redis_outage: {{ limits: local, budgets: lease, lease_pct: 10 }} }}\n{}",
        metered_models(&up.base_url())
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) =
        create_key(&gw, json!({"name": "hung", "limits": {"rpm": 6000, "concurrency": 50}, "budget": {"usd": 1.0, "window": "daily"}}))
            .await;
    for _ in 0..20 {
        assert_eq!(timed(&gw, &key).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(600)).await; // the escrow is asked for

    redis.signal("-STOP");
    let mut hung = Vec::new();
    for i in 0..5 {
        let (status, code, took) = timed(&gw, &key).await;
        assert_eq!(status, 200, "request {i} while Redis hangs ({code}): within the escrow");
        hung.push(took);
    }
    redis.signal("-CONT");
    eprintln!("requests while Redis hung: {hung:?}");
    // On a host too loaded to keep the gateway's timers on time silence takes up to four windows
    // of the Redis timeout; once marked down no request waits.
    assert!(hung.iter().all(|t| *t < Duration::from_millis(1_500)), "no request waits long on a hung Redis: {hung:?}");
    assert!(hung[1..].iter().all(|t| *t < Duration::from_millis(300)), "only the first one waits: {hung:?}");
    assert!(gw.output().contains("no answer from Redis within 300ms"), "the reason is logged:\n{}", gw.output());

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
    // What is still reserved is this instance's outage escrow, and nothing else.
    let escrows = redis.cli(&["HVALS", &format!("{total}:e")]);
    let escrowed: i64 = escrows.lines().filter_map(|v| v.parse::<i64>().ok()).sum();
    let reserved: i64 = redis.cli(&["HGET", amounts, "_sum"]).parse().unwrap_or(0);
    assert_eq!(reserved, escrowed, "no reservation is left behind: {}", redis.cli(&["HGETALL", amounts]));
    assert_eq!(redis.cli(&["ZCARD", &format!("{total}:r")]), redis.cli(&["HLEN", &format!("{total}:e")]));
    assert_eq!(redis.get(total), "250000000", "25 requests of $0.01 each, in nano-dollars");
}

async fn spend_of(gw: &GatewayProcess, key_id: &str) -> (u64, f64) {
    let (status, body) = admin(gw, reqwest::Method::GET, &format!("/admin/spend?key={key_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    let row = &body["rows"][0];
    (row["requests"].as_u64().unwrap_or(0), row["cost_usd"].as_f64().unwrap_or(0.0))
}

#[tokio::test]
async fn redis_killed_mid_burst_three_instances_spend_at_most_the_budget_plus_one_request_each() {
    let Some(pg) = postgres_url() else { return };
    let port = spare_port();
    let Some(mut redis) = RedisServer::start(port) else { return };
    let schema = Schema::create(&pg).await;
    let up = metered_upstream(Duration::from_millis(100)).await;
    // Default outage settings: budgets spend their escrows (at most 5% each).
    let config = format!(
        "database: \"{}\"\nredis: redis://127.0.0.1:{port}\nkeys: {{ secret: {KEY_SECRET}, require: true }}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\n{}",
        schema.url,
        metered_models(&up.base_url())
    );
    let gws = Arc::new([
        GatewayProcess::spawn(bin(), &config).await,
        GatewayProcess::spawn(bin(), &config).await,
        GatewayProcess::spawn(bin(), &config).await,
    ]);
    let (id, key) = create_key(&gws[0], json!({"name": "escrowed", "budget": {"usd": 1.0, "window": "total"}})).await;
    let body = one_token();
    let mut results = Vec::new();
    // Some spend on every instance sizes its escrow: $0.10 in the last minute, capped at 5%.
    for i in 0..30 {
        results.push(charged(&gws[i % 3], &key, &body).await);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The burst goes through two instances while the first one idles: what it last saw of the
    // budget is stale by the time Redis dies (a lease sized from that overspent), its escrow is not.
    let burst = {
        let (gws, key, body) = (gws.clone(), key.clone(), body.clone());
        tokio::spawn(async move { join_all((0..300).map(|i| charged(&gws[1 + i % 2], &key, &body))).await })
    };
    let midway = eventually(Duration::from_secs(5), || async { up.request_count() >= 30 + 62 }).await;
    assert!(midway.is_some(), "the burst reached the provider");
    let before_kill = up.request_count();
    redis.kill();
    results.extend(burst.await.unwrap());
    for i in 0..30 {
        results.push(charged(&gws[i % 3], &key, &body).await);
    }
    let admitted = results.iter().filter(|r| r.0 == 200).count();
    let charged_usd: f64 = results.iter().map(|r| r.2).sum();
    let unavailable = results.iter().filter(|r| r.0 == 503 && r.1 == "limits_unavailable").count();
    eprintln!(
        "Redis killed mid-burst: admitted {admitted} of {}, charged ${charged_usd:.2}, {unavailable} refused as unavailable, {} reached the provider before the kill",
        results.len(),
        before_kill
    );
    assert!(gws.iter().all(|g| g.output().contains("shared counters (Redis) unreachable")), "every instance saw the outage");
    assert!(unavailable > 0, "the escrows ran out during the outage");
    assert!(charged_usd <= 1.0 + 3.0 * 0.01 + 1e-9, "spent ${charged_usd}: more than the budget plus one request per instance");
    assert!(results.iter().all(|r| r.0 == 200 || r.0 == 429 || r.0 == 503), "{:?}", results.iter().find(|r| r.0 >= 500 && r.0 != 503));

    // Redis comes back empty: the total is read back from the log, and reconciles with it.
    let sent = results.len() as u64;
    let logged = eventually(Duration::from_secs(15), || async { spend_of(&gws[0], &id).await.0 == sent }).await;
    assert!(logged.is_some(), "all {sent} requests logged: {:?}", spend_of(&gws[0], &id).await);
    let redis = RedisServer::start(port).expect("restart");
    let back = eventually(Duration::from_secs(5), || async { charged(&gws[0], &key, &body).await.0 != 503 }).await;
    assert!(back.is_some(), "admissions go through Redis again");
    for i in 0..10 {
        charged(&gws[i % 3], &key, &body).await;
    }
    let (_, logged_usd) = spend_of(&gws[0], &id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, logged_usd_after) = spend_of(&gws[0], &id).await;
    assert!(logged_usd_after <= 1.0 + 3.0 * 0.01 + 1e-9, "spent ${logged_usd_after} in all");
    let totals = redis.cli(&["--scan", "--pattern", &format!("switchyard:b:key:{id}:usd:*")]);
    // The total is the key with a window and nothing after it (not a reservation, escrow,
    // squeeze or alert mark).
    let total = totals
        .lines()
        .find(|k| !k.contains(":alerted") && k.rsplit(':').next().is_some_and(|w| !["r", "ra", "e", "sq", "alerted"].contains(&w)));
    let total = total.unwrap_or_else(|| panic!("no budget total in Redis: {totals}"));
    let nanos: i64 = redis.get(total).parse().unwrap_or(-1);
    assert_eq!(nanos, (logged_usd_after * 1e9).round() as i64, "the shared total is what the log says was spent ({logged_usd})");
    drop(gws);
    schema.drop_now().await;
}
