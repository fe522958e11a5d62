//! Graceful shutdown loses no budget settlement: requests answered just before SIGTERM still
//! settle their reservations in the real Redis, even when Redis answers slowly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use switchyard_testkit::GatewayProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::common::*;

/// A TCP proxy in front of Redis that makes it slow: each command of the budget counters reaches
/// Redis `delay` after it was sent (without queueing behind the others), and commands still on
/// their way when the gateway's connection closes are lost, as a busy Redis loses the unread
/// input of a client that went away. The connection that shares circuit-breaker state (it names
/// `switchyard:circuits`) is spared: shutdown waits for its round trip in flight, which would
/// give settlements time by chance.
struct SlowProxy {
    port: u16,
    delay_ms: Arc<AtomicU64>,
}

impl SlowProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target.clone(), delay.clone()));
            }
        });
        Self { port, delay_ms }
    }

    fn slow_down(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn relay(client: TcpStream, target: String, delay: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(&target).await else { return };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    let gone = Arc::new(AtomicBool::new(false));
    let (send, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let commands = {
        let gone = gone.clone();
        tokio::spawn(async move {
            let (mut buf, mut spared) = (vec![0u8; 64 * 1024], false);
            loop {
                let n = match from_client.read(&mut buf).await {
                    Ok(n) if n > 0 => n,
                    _ => break,
                };
                spared |= buf[..n].windows(CIRCUITS.len()).any(|w| w == CIRCUITS);
                let ms = if spared { 0 } else { delay.load(Ordering::SeqCst) };
                if send.send((tokio::time::Instant::now() + Duration::from_millis(ms), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
            gone.store(true, Ordering::SeqCst);
        })
    };
    while let Some((at, bytes)) = due.recv().await {
        tokio::time::sleep_until(at).await;
        if gone.load(Ordering::SeqCst) || to_server.write_all(&bytes).await.is_err() {
            break;
        }
    }
    commands.abort();
    answers.abort();
}

const CIRCUITS: &[u8] = b"switchyard:circuits";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_answers_loses_no_settlement_on_a_slow_redis() {
    let Some(redis) = redis_url() else { return };
    let rest = redis.strip_prefix("redis://").expect("a redis:// URL");
    let (host_port, db) = rest.split_once('/').map_or((rest, String::new()), |(h, d)| (h, format!("/{d}")));
    assert!(!host_port.contains('@'), "a Redis URL with credentials is not supported by this test's proxy");
    let proxy = SlowProxy::start(host_port.to_string()).await;
    let up = metered_upstream(Duration::ZERO).await;
    // A slow Redis is not an outage: the gateway waits for it (admissions within the 1 s cap).
    let config = format!(
        "redis: redis://127.0.0.1:{}{db}\nadmin: {{ listen: 127.0.0.1:0, key: {ADMIN_KEY} }}\ngovernance: {{ redis_timeout: 2s }}\n{}",
        proxy.port,
        metered_models(&up.base_url())
    );
    let mut gw = GatewayProcess::spawn(bin(), &config).await;
    let (id, key) = create_key(&gw, json!({"name": "settles", "budget": {"usd": 1000.0, "window": "daily"}})).await;
    // No max_tokens: each request reserves 4096 tokens ($40.96) and spends one ($0.01), so a
    // settlement that never ran leaves $40.95 too much in the shared total.
    let body = json!({"model": "metered", "messages": [{"role": "user", "content": "hi"}]});
    // The first request seeds the budget total while Redis is still quick.
    let mut costs = vec![call(&gw, Some(&key), &body).await];

    proxy.slow_down(Duration::from_millis(300));
    let answered = join_all((0..8).map(|_| call(&gw, Some(&key), &body))).await;
    gw.sigterm();
    let stopping = Instant::now();
    costs.extend(answered);
    let mut expected_nanos = 0i64;
    for r in &costs {
        assert_eq!(r.status(), 200, "{}", gw.output());
        expected_nanos += (header(r, "x-switchyard-cost-usd").parse::<f64>().unwrap() * 1e9).round() as i64;
    }
    assert_eq!(expected_nanos, 9 * 10_000_000, "nine requests of one $0.01 token");
    let status = gw.wait_exit(Duration::from_secs(30)).await.expect("the gateway exits");
    assert!(status.success(), "{}", gw.output());
    let took = stopping.elapsed();

    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let date = &switchyard_core::time::rfc3339(switchyard_core::time::now_ms())[..10];
    let total_key = format!("switchyard:b:key:{id}:usd:d{date}");
    let total: Option<i64> = redis::cmd("GET").arg(&total_key).query_async(&mut conn).await.unwrap();
    let reserved: Option<i64> = redis::cmd("HGET").arg(format!("{total_key}:ra")).arg("_sum").query_async(&mut conn).await.unwrap();
    assert_eq!(
        (total, reserved.unwrap_or(0)),
        (Some(expected_nanos), 0),
        "the shared total is the answered requests' cost and no reservation is left (shutdown took {took:?})\n{}",
        gw.output()
    );
    let logged: f64 = records(gw.data_dir(), 9).await.iter().filter_map(|r| r.cost_usd).sum();
    assert!((logged - expected_nanos as f64 / 1e9).abs() < 1e-9, "the request log agrees: {logged}");
}
