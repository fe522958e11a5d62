//! `GET /metrics` read by a real Prometheus server (Debian's `prometheus`): it scrapes the
//! gateway, and PromQL over its HTTP API must count exactly the requests that were sent, agree
//! with the request log, and find no customer among the label values.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::{fixture_reply, FakeUpstream, GatewayProcess, Reply};

use crate::common::*;

const CUSTOMER: &str = "cust-metrics-7f3a9";

/// The `prometheus` binary, or `None` (said loudly) when it is missing outside CI.
fn prometheus_bin() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(!ci, "prometheus is required in CI (scripts/test.sh installs Debian's `prometheus` package)");
        eprintln!("SKIPPED: metrics_scraped_by_prometheus — no `prometheus` on PATH (apt-get install prometheus)");
    }
    found
}

/// Kills the Prometheus server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_prometheus(bin: &PathBuf, dir: &std::path::Path, target: &str) -> (Server, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\nscrape_configs:\n  - job_name: switchyard\n    metrics_path: /metrics\n    static_configs: [ {{ targets: [\"{target}\"] }} ]\n"
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    (Server(child), format!("http://{listen}"))
}

/// The value of an instant PromQL query (the first series), `None` while it has no result.
async fn query(prom: &str, promql: &str) -> Option<f64> {
    let r = client().get(format!("{prom}/api/v1/query")).query(&[("query", promql)]).send().await.ok()?;
    let body: Value = r.json().await.ok()?;
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Waits for `promql` to have a value, and returns it.
async fn eventually(prom: &str, promql: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = query(prom, promql).await {
            return v;
        }
        assert!(Instant::now() < deadline, "Prometheus never answered `{promql}`");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn metrics_scraped_by_prometheus() {
    let Some(prometheus) = prometheus_bin() else { return };
    let up = FakeUpstream::start_repeating(fixture_reply("openai/text.json")).await;
    let down = FakeUpstream::start_repeating(Reply::openai_error(503, "overloaded", "server_error", "overloaded")).await;
    let config = format!(
        "providers:\n  up: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-123 }}\n  down: {{ type: openai, base_url: \"{}\", api_key: sk-upstream-456 }}\nmodels:\n  bot:\n    targets: [ {{ provider: up, model: gpt-4o-mini }} ]\n    cache: {{ enabled: true }}\n  flaky:\n    targets: [ {{ provider: down, model: gpt-4o }} ]\n    fallbacks: [ bot ]\n",
        up.base_url(),
        down.base_url()
    );
    let gw = GatewayProcess::spawn(bin(), &config).await;
    let ask = |model: &str| {
        json!({"model": model, "temperature": 0, "customer_identifier": CUSTOMER, "metadata": {"team": CUSTOMER},
               "messages": [{"role": "user", "content": "hello"}]})
    };
    let send = |body: Value| {
        let url = format!("{}/chat/completions", gw.base_url());
        async move { client().post(url).header("x-switchyard-customer", CUSTOMER).json(&body).send().await.unwrap() }
    };
    let miss = send(ask("bot")).await;
    assert_eq!((miss.status().as_u16(), header(&miss, "x-switchyard-cache")), (200, "MISS"));
    miss.text().await.unwrap();
    let hit = send(ask("bot")).await;
    assert_eq!((hit.status().as_u16(), header(&hit, "x-switchyard-cache")), (200, "HIT"));
    hit.text().await.unwrap();
    // A model name a client made up (here carrying the customer id) is `other`, never a label.
    let unknown = send(ask(&format!("{CUSTOMER}-model"))).await;
    assert_eq!(unknown.status(), 404);
    unknown.text().await.unwrap();
    // Fails on `down`, served by `bot`'s target: a fallback, under the model asked for.
    let mut fell_back = ask("flaky");
    fell_back["cache_enabled"] = json!(false);
    let fell_back = send(fell_back).await;
    assert_eq!((fell_back.status().as_u16(), header(&fell_back, "x-switchyard-provider")), (200, "up"));
    fell_back.text().await.unwrap();
    let logged = records(gw.data_dir(), 4).await;
    assert_eq!(logged.len(), 4);
    let failed_on_down = logged.iter().flat_map(|r| &r.attempt_log).filter(|a| a.provider == "down").count();
    assert!(failed_on_down >= 1);

    let dir = tempfile::tempdir().unwrap();
    let target = gw.root_url().trim_start_matches("http://").to_string();
    let (_server, prom) = start_prometheus(&prometheus, dir.path(), &target);
    let up_query = "up{job=\"switchyard\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(&prom, up_query).await != Some(1.0) {
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "Prometheus never scraped the gateway:\n{log}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let q = |promql: &'static str| eventually(&prom, promql);
    assert_eq!(q("sum(switchyard_requests_total{status_class=\"2xx\"})").await, 3.0);
    assert_eq!(q("sum(switchyard_requests_total{model=\"flaky\",provider=\"up\",status_class=\"2xx\"})").await, 1.0);
    assert_eq!(q("sum(switchyard_upstream_attempts_total{provider=\"down\",outcome!=\"ok\"})").await, failed_on_down as f64);
    assert_eq!(q("switchyard_fallbacks_total").await, 1.0);
    // Circuits are named by configured target.
    assert_eq!(q("count(switchyard_circuit_open{provider=\"down\",model=\"gpt-4o\"})").await, 1.0);
    assert_eq!(q("sum(switchyard_requests_total{status_class=\"4xx\"})").await, 1.0);
    assert_eq!(q("sum(switchyard_requests_total{endpoint=\"chat_completions\",model=\"bot\",provider=\"up\",cache=\"hit\"})").await, 1.0);
    assert_eq!(q("sum(switchyard_requests_total{model=\"bot\",cache=\"miss\",status_class=\"2xx\"})").await, 1.0);
    assert_eq!(q("sum(switchyard_requests_total{model=\"other\",provider=\"none\",status_class=\"4xx\"})").await, 1.0);
    assert_eq!(q("switchyard_cache_lookups_total{result=\"hit\"}").await, 1.0);
    assert_eq!(q("switchyard_cache_lookups_total{result=\"miss\"}").await, 1.0);
    assert_eq!(q("sum(switchyard_upstream_attempts_total{provider=\"up\",outcome=\"ok\"})").await, 2.0);
    assert_eq!(q("switchyard_in_flight_requests").await, 0.0);
    assert_eq!(q("sum(switchyard_request_duration_seconds_count)").await, 4.0);
    // A histogram Prometheus can take a quantile of: every request took less than 120 s.
    assert_eq!(q("sum(switchyard_request_duration_seconds_bucket{le=\"120\"})").await, 4.0);
    assert_eq!(q("sum(switchyard_time_to_first_token_seconds_count{model=\"bot\"})").await, 2.0);
    // Tokens and cost are the log's.
    let input: u64 = logged.iter().map(|r| r.input_tokens).sum();
    let output: u64 = logged.iter().map(|r| r.output_tokens).sum();
    assert!(input > 0 && output > 0, "the fixture reports usage");
    assert_eq!(q("sum(switchyard_tokens_total{direction=\"input\",provider=\"up\"})").await, input as f64);
    assert_eq!(q("sum(switchyard_tokens_total{direction=\"output\"})").await, output as f64);
    let cost: f64 = logged.iter().filter_map(|r| r.cost_usd).sum();
    assert!(cost > 0.0, "gpt-4o-mini is in the bundled catalog");
    assert!((q("sum(switchyard_cost_usd_total)").await - cost).abs() < 1e-9);
    // The log writer's gauges and the governance counters kept under their names.
    assert_eq!(q("switchyard_log_spool_bytes").await, 0.0);
    assert!(q("switchyard_log_queue_depth").await >= 0.0);
    assert_eq!(q("switchyard_rate_limited_total").await, 0.0);

    // No label value anywhere carries the customer (or anything else the client sent).
    let series = client()
        .get(format!("{prom}/api/v1/series"))
        .query(&[("match[]", "{__name__=~\"switchyard_.+\"}")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let series = series["data"].as_array().expect("series");
    assert!(series.len() > 20, "Prometheus holds the gateway's series: {series:?}");
    for s in series {
        for (name, value) in s.as_object().unwrap() {
            assert!(!value.as_str().unwrap_or_default().contains(CUSTOMER), "label {name} of {s} carries the customer");
        }
    }
    let text = client().get(format!("{}/metrics", gw.root_url())).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains(CUSTOMER));

    // Prometheus' own parser and linter (shipped with it) accept the exposition. The one lint
    // allowed is about a name kept from before: `shared_counter` there means Redis, not a type.
    let promtool = prometheus.with_file_name("promtool");
    if promtool.is_file() {
        let mut check = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut check.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let out = check.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let kept = "switchyard_shared_counter_outages_total metric name should not include type 'counter'";
        let problems: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty() && l.trim() != kept).collect();
        assert!(problems.is_empty(), "promtool check metrics:\n{said}");
    }
}
