//! Load generator for the Switchyard overhead benchmark (`bench/run`).
//!
//! Modes (all send `POST <url>` with the body
//! `{"model": M, "messages":[{"role":"user","content":"hello"}], "stream": S}`):
//!
//! * `open`   — open loop: requests are *scheduled* at fixed intervals (1/rate) by a dedicated
//!   scheduler thread and handed to a pool of N keep-alive HTTP/1.1 connections through a shared
//!   queue. Latency is measured from the scheduled send time, so a stalled target is charged for
//!   the requests that queued up behind the stall (coordinated-omission corrected). The time from
//!   the actual write is reported separately as `service_ms`.
//! * `closed` — closed loop: C connections, each sends its next request as soon as the previous
//!   response body is complete; reports throughput over the measurement window.
//! * `stream` — open loop like `open` with `"stream": true`: time to the first response-body byte
//!   (`ttfb_ms`) and to the end of the body (`latency_ms`), both from the scheduled send time; a
//!   response counts as ok only if it is a 200 whose body contains `data: [DONE]` (or the
//!   `--done-marker`).
//!
//! `--body-file F` sends the bytes of F instead of the generated body (e.g. a provider's native
//! request, to measure a direct call to a native endpoint); `--model`/`--extra` then only label.
//! `--header 'Name: value'` (repeatable) and `--bearer TOKEN` add request headers, e.g. a virtual
//! key; without either, requests carry `Authorization: Bearer bench`.
//! `--unique` makes every request body different: the last message's content gets a suffix unique
//! to this run and request (`hello <run>-<n>`), so a response cache keyed on the messages misses.
//! The `x-switchyard-cache` answer header (HIT / MISS / BYPASS …) is counted per value.
//!
//! Any non-200 status, connection error, timeout or (stream mode) missing `[DONE]` is an error and
//! is not recorded in the latency histograms.
//!
//! Output: one JSON object per run on stdout (for the driver), one human-readable line on stderr.

mod report;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const USAGE: &str = "\
usage: loadgen <open|closed|stream> --url URL [options]
       loadgen report RESULTS.jsonl     (markdown tables for bench/run)
  --url URL         http://HOST:PORT/path (plain HTTP only)
  --model M         model field of the request body (default gpt-4o-mini)
  --label L         free-form label copied into the output (default: the url)
  --rate R          open/stream: requests per second (default 1000 / 100 for stream)
  --duration S      measured seconds (default 10)
  --warmup S        seconds of identical load before measuring, not recorded (default 2)
  --conns N         keep-alive connections (default 16 open/stream, 64 closed)
  --timeout S       per-request timeout in seconds (default 10)
  --threads T       tokio worker threads; 1 = current-thread runtime (default 1)
  --extra JSON      object merged into the request body, e.g. '{\"disable_log\":true}'
  --body-file F     send the bytes of file F as the request body (instead of the generated one)
  --done-marker S   stream: a 200 counts as ok only if its body contains S (default 'data: [DONE]')
  --header 'N: V'   add a request header (repeatable); replaces a default header of that name
  --bearer TOKEN    same as --header 'Authorization: Bearer TOKEN' (default token: bench)
  --unique          (flag) a different last-message content in every request (cache misses)";

/// Placeholder in the serialized body where `--unique` puts each request's nonce.
const NONCE_MARK: &str = "@@loadgen-nonce@@";
/// Requests sent so far by this process (the per-request part of the `--unique` nonce).
static SENT: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Open,
    Closed,
    Stream,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Closed => "closed",
            Mode::Stream => "stream",
        }
    }
}

#[derive(Clone, Debug)]
struct Cfg {
    mode: Mode,
    url: String,
    addr: String,
    path: String,
    model: String,
    label: String,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    conns: usize,
    timeout: Duration,
    threads: usize,
    body: Bytes,
    /// `--unique`: the body before and after the nonce, and this run's part of the nonce.
    unique: Option<(Vec<u8>, Vec<u8>, String)>,
    body_file: Option<String>,
    done_marker: Vec<u8>,
    /// Every request header but `content-length`: the defaults (host, content-type,
    /// authorization) unless `--header`/`--bearer` gave one of the same name, then those.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// `Name: value` as given to `--header`.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text.split_once(':').ok_or_else(|| format!("--header must look like 'Name: value': {text:?}"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("--header: not a header name: {:?}", name.trim()))?;
    if name == hyper::header::CONTENT_LENGTH || name == hyper::header::TRANSFER_ENCODING || name == hyper::header::CONNECTION {
        return Err(format!("--header: {name} is managed by the client"));
    }
    let value = HeaderValue::from_str(value.trim()).map_err(|_| format!("--header {name}: not a valid header value"))?;
    Ok((name, value))
}

fn parse_args() -> Result<Cfg, String> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("open") => Mode::Open,
        Some("closed") => Mode::Closed,
        Some("stream") => Mode::Stream,
        Some("-h") | Some("--help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown mode {other:?}")),
    };
    let mut kv: BTreeMap<String, String> = BTreeMap::new();
    let mut extra_headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    while let Some(k) = args.next() {
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument {k:?}"));
        };
        if name == "unique" {
            kv.insert(name.to_string(), String::new());
            continue;
        }
        let v = args.next().ok_or_else(|| format!("{k} needs a value"))?;
        if name == "header" {
            extra_headers.push(parse_header(&v)?);
        } else {
            kv.insert(name.to_string(), v);
        }
    }
    let take = |kv: &mut BTreeMap<String, String>, k: &str| kv.remove(k);
    let num = |v: Option<String>, k: &str, d: f64| -> Result<f64, String> {
        match v {
            None => Ok(d),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("--{k}: not a non-negative number: {s:?}")),
        }
    };
    let url = take(&mut kv, "url").ok_or("--url is required")?;
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("--url must start with http:// : {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    };
    let addr = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.clone()
    } else {
        format!("{authority}:80")
    };
    let model = take(&mut kv, "model").unwrap_or_else(|| "gpt-4o-mini".into());
    let label = take(&mut kv, "label").unwrap_or_else(|| url.clone());
    let default_rate = if mode == Mode::Stream { 100.0 } else { 1000.0 };
    let rate = num(take(&mut kv, "rate"), "rate", default_rate)?;
    let duration = Duration::from_secs_f64(num(take(&mut kv, "duration"), "duration", 10.0)?);
    let warmup = Duration::from_secs_f64(num(take(&mut kv, "warmup"), "warmup", 2.0)?);
    let default_conns = if mode == Mode::Closed { 64.0 } else { 16.0 };
    let conns = num(take(&mut kv, "conns"), "conns", default_conns)? as usize;
    let timeout = Duration::from_secs_f64(num(take(&mut kv, "timeout"), "timeout", 10.0)?);
    let threads = num(take(&mut kv, "threads"), "threads", 1.0)? as usize;
    let extra: Option<serde_json::Map<String, Value>> = match take(&mut kv, "extra") {
        None => None,
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Some(m),
            _ => return Err(format!("--extra must be a JSON object: {s:?}")),
        },
    };
    let body_file = take(&mut kv, "body-file");
    let unique = take(&mut kv, "unique").is_some();
    if body_file.is_some() && unique {
        return Err("--unique and --body-file exclude each other".into());
    }
    if body_file.is_some() && extra.is_some() {
        return Err("--extra and --body-file exclude each other".into());
    }
    let done_marker = take(&mut kv, "done-marker").unwrap_or_else(|| "data: [DONE]".into()).into_bytes();
    if done_marker.is_empty() {
        return Err("--done-marker must not be empty".into());
    }
    if let Some(token) = take(&mut kv, "bearer") {
        if extra_headers.iter().any(|(n, _)| n == hyper::header::AUTHORIZATION) {
            return Err("--bearer and --header 'Authorization: …' exclude each other".into());
        }
        extra_headers.push(parse_header(&format!("authorization: Bearer {token}"))?);
    }
    if let Some(k) = kv.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    if conns == 0 || threads == 0 || duration.is_zero() {
        return Err("--conns, --threads and --duration must be > 0".into());
    }
    if mode != Mode::Closed && rate <= 0.0 {
        return Err("--rate must be > 0".into());
    }
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": mode == Mode::Stream,
    });
    if let (Some(extra), Some(obj)) = (extra, body.as_object_mut()) {
        obj.extend(extra);
    }
    let unique = if unique {
        let content = body
            .pointer_mut("/messages")
            .and_then(Value::as_array_mut)
            .and_then(|m| m.last_mut())
            .and_then(|m| m.get_mut("content"))
            .filter(|c| c.is_string())
            .ok_or("--unique needs a last message with string content")?;
        *content = Value::String(format!("{} {NONCE_MARK}", content.as_str().unwrap_or_default()));
        let text = serde_json::to_string(&body).unwrap();
        let (before, after) = text.split_once(NONCE_MARK).ok_or("--unique: placeholder not found")?;
        // Unique across runs too: the same gateway serves several runs of a scenario.
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let run = format!("{:x}{:x}", std::process::id(), since_epoch.as_nanos());
        Some((before.as_bytes().to_vec(), after.as_bytes().to_vec(), run))
    } else {
        None
    };
    let body = match &body_file {
        Some(f) => Bytes::from(std::fs::read(f).map_err(|e| format!("--body-file {f}: {e}"))?),
        None => Bytes::from(serde_json::to_vec(&body).unwrap()),
    };
    let host = HeaderValue::from_str(&authority).map_err(|_| format!("--url: bad host {authority:?}"))?;
    let mut headers: Vec<(HeaderName, HeaderValue)> = [
        (hyper::header::HOST, host),
        (hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (hyper::header::AUTHORIZATION, HeaderValue::from_static("Bearer bench")),
    ]
    .into_iter()
    .filter(|(n, _)| !extra_headers.iter().any(|(x, _)| x == n))
    .collect();
    headers.extend(extra_headers);
    Ok(Cfg {
        mode,
        url,
        addr,
        path,
        model,
        label,
        rate,
        duration,
        warmup,
        conns,
        timeout,
        threads,
        body,
        unique,
        body_file,
        done_marker,
        headers,
    })
}

pub(crate) fn new_hist() -> Histogram<u64> {
    // nanoseconds, 1 ns .. 10 min, 3 significant digits
    Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3).unwrap()
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

struct Stats {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    ttfb: Histogram<u64>,
    /// 503 answers (load shedding), from the actual send: how fast the gateway says no.
    shed: Histogram<u64>,
    ok: u64,
    errors: u64,
    dropped: u64,
    status: BTreeMap<u16, u64>,
    /// Successful answers per `x-switchyard-cache` value.
    cache: BTreeMap<String, u64>,
    error_kinds: BTreeMap<String, u64>,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            latency: new_hist(),
            service: new_hist(),
            ttfb: new_hist(),
            shed: new_hist(),
            ok: 0,
            errors: 0,
            dropped: 0,
            status: BTreeMap::new(),
            cache: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            first_error: None,
            last_done: None,
        }
    }

    fn merge(&mut self, o: Stats) {
        self.latency.add(&o.latency).unwrap();
        self.service.add(&o.service).unwrap();
        self.ttfb.add(&o.ttfb).unwrap();
        self.shed.add(&o.shed).unwrap();
        self.ok += o.ok;
        self.errors += o.errors;
        self.dropped += o.dropped;
        for (k, v) in o.status {
            *self.status.entry(k).or_default() += v;
        }
        for (k, v) in o.error_kinds {
            *self.error_kinds.entry(k).or_default() += v;
        }
        for (k, v) in o.cache {
            *self.cache.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.last_done = match (self.last_done, o.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn error(&mut self, kind: &str, detail: String) {
        self.errors += 1;
        *self.error_kinds.entry(kind.to_string()).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(detail);
        }
    }

    /// Record one finished request. `origin` is the time latency is measured from (scheduled
    /// send time in open/stream mode, actual send time in closed mode).
    fn record(&mut self, origin: Instant, sent: Instant, done: Instant, r: Result<Reply, String>) {
        self.last_done = Some(self.last_done.map_or(done, |l| l.max(done)));
        match r {
            Ok(rep) => {
                *self.status.entry(rep.status).or_default() += 1;
                if rep.status == 503 {
                    self.shed.saturating_record(nanos(done.saturating_duration_since(sent)).max(1));
                }
                if rep.status != 200 {
                    self.error("status", format!("HTTP {}: {}", rep.status, String::from_utf8_lossy(&rep.snippet)));
                } else if !rep.valid {
                    self.error("no_done_marker", format!("stream body without the done marker: {}", String::from_utf8_lossy(&rep.snippet)));
                } else {
                    self.ok += 1;
                    if let Some(c) = rep.cache {
                        *self.cache.entry(c).or_default() += 1;
                    }
                    self.latency.saturating_record(nanos(done.saturating_duration_since(origin)).max(1));
                    self.service.saturating_record(nanos(done.saturating_duration_since(sent)).max(1));
                    if let Some(fb) = rep.first_byte {
                        self.ttfb.saturating_record(nanos(fb.saturating_duration_since(origin)).max(1));
                    }
                }
            }
            Err(e) => {
                let kind = if e.starts_with("timeout") { "timeout" } else { "io" };
                self.error(kind, e);
            }
        }
    }
}

struct Reply {
    status: u16,
    first_byte: Option<Instant>,
    valid: bool,
    snippet: Vec<u8>,
    cache: Option<String>,
}

struct Conn {
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

async fn connect(addr: &str) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn request_inner(conn: &mut Conn, cfg: &Cfg) -> Result<Reply, String> {
    if conn.sender.as_ref().is_none_or(|s| s.is_closed()) {
        conn.sender = Some(connect(&cfg.addr).await?);
    }
    let sender = conn.sender.as_mut().unwrap();
    if let Err(e) = sender.ready().await {
        conn.sender = None;
        return Err(format!("connection not ready: {e}"));
    }
    let body = match &cfg.unique {
        None => cfg.body.clone(),
        Some((before, after, run)) => {
            let n = SENT.fetch_add(1, Ordering::Relaxed);
            let mut b = Vec::with_capacity(before.len() + after.len() + run.len() + 24);
            b.extend_from_slice(before);
            b.extend_from_slice(format!("{run}-{n}").as_bytes());
            b.extend_from_slice(after);
            Bytes::from(b)
        }
    };
    let mut req = hyper::Request::post(cfg.path.as_str()).body(Full::new(body)).map_err(|e| format!("build request: {e}"))?;
    let headers = req.headers_mut();
    for (name, value) in &cfg.headers {
        headers.append(name.clone(), value.clone());
    }
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            conn.sender = None;
            return Err(format!("send: {e}"));
        }
    };
    let status = resp.status().as_u16();
    let cache = resp.headers().get("x-switchyard-cache").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let want_done = cfg.mode == Mode::Stream;
    let mut body = resp.into_body();
    let mut first_byte = None;
    let mut keep: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                conn.sender = None;
                return Err(format!("body: {e}"));
            }
        };
        if let Some(d) = frame.data_ref() {
            if first_byte.is_none() && !d.is_empty() {
                first_byte = Some(Instant::now());
            }
            if want_done || status != 200 {
                keep.extend_from_slice(d);
            }
        }
    }
    let valid = !want_done || memfind(&keep, &cfg.done_marker);
    let snippet = if status != 200 || !valid { keep[..keep.len().min(300)].to_vec() } else { Vec::new() };
    Ok(Reply { status, first_byte, valid, snippet, cache })
}

async fn request(conn: &mut Conn, cfg: &Cfg) -> Result<Reply, String> {
    match tokio::time::timeout(cfg.timeout, request_inner(conn, cfg)).await {
        Ok(r) => r,
        Err(_) => {
            conn.sender = None; // the response may still arrive; never reuse this connection
            Err(format!("timeout after {:?}", cfg.timeout))
        }
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Produces the schedule: one `due` instant every `interval_ns`, from `start` until `end`.
///
/// Driven by a periodic `timerfd` registered with the runtime's epoll (tokio timers have 1 ms
/// granularity, a timerfd is an hrtimer without slack), on the same thread as the connections,
/// so there is no cross-thread hand-off. Each expiry read returns how many periods elapsed, so a
/// late wake-up still produces every scheduled request, stamped with its ideal due time.
async fn schedule(
    tx: async_channel::Sender<Instant>,
    start: Instant,
    first_delay: Duration,
    interval_ns: u64,
    end: Instant,
) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use tokio::io::unix::AsyncFd;

    let ts = |d: Duration| libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ };
    let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // `start` was computed as now + first_delay just before this call; arm relative to now and
    // correct for the few microseconds that passed since.
    let spec = libc::itimerspec {
        it_interval: ts(Duration::from_nanos(interval_ns)),
        it_value: ts(start.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1)).min(first_delay)),
    };
    if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is an owned timerfd that lives (inside the AsyncFd) until deregistration.
    let afd =
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut k: u64 = 0;
    loop {
        let mut guard = afd.readable().await?;
        let mut buf = [0u8; 8];
        let n = unsafe { libc::read(afd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        guard.clear_ready();
        if n != 8 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for _ in 0..u64::from_ne_bytes(buf) {
            let due = start + Duration::from_nanos(k * interval_ns);
            if due >= end {
                return Ok(()); // dropping tx ends the workers once the queue is drained
            }
            if tx.try_send(due).is_err() {
                return Ok(());
            }
            k += 1;
        }
    }
}

/// Open loop (modes `open` and `stream`).
async fn run_open(cfg: &'static Cfg) -> (Stats, Instant, Duration) {
    let mut conns = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        match connect(&cfg.addr).await {
            Ok(s) => conns.push(Conn { sender: Some(s) }),
            Err(e) => {
                eprintln!("loadgen: {e}");
                conns.push(Conn { sender: None });
            }
        }
    }
    let (tx, rx) = async_channel::unbounded::<Instant>();
    let interval_ns = ((1e9 / cfg.rate).round() as u64).max(1);
    let first_delay = Duration::from_millis(20);
    let start = Instant::now() + first_delay;
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    // Requests still queued this long after the schedule ended are counted as `dropped`.
    let hard_deadline = end + cfg.timeout;
    let sched = tokio::spawn(schedule(tx, start, first_delay, interval_ns, end));

    let mut tasks = Vec::new();
    for mut conn in conns {
        let rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::new();
            while let Ok(due) = rx.recv().await {
                let sent = Instant::now();
                if sent > hard_deadline {
                    if due >= measure_from {
                        st.dropped += 1;
                    }
                    continue;
                }
                let r = request(&mut conn, cfg).await;
                let done = Instant::now();
                if due >= measure_from {
                    st.record(due, sent, done, r);
                }
            }
            st
        }));
    }
    drop(rx);
    let mut total = Stats::new();
    for t in tasks {
        total.merge(t.await.expect("worker panicked"));
    }
    if let Err(e) = sched.await.expect("scheduler panicked") {
        eprintln!("loadgen: scheduler: {e}");
    }
    let elapsed = total.last_done.map_or(cfg.duration, |l| l.saturating_duration_since(measure_from)).max(cfg.duration);
    (total, measure_from, elapsed)
}

/// Closed loop (mode `closed`): throughput = responses completed inside the window / window.
async fn run_closed(cfg: &'static Cfg) -> (Stats, Instant, Duration) {
    let mut conns = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        match connect(&cfg.addr).await {
            Ok(s) => conns.push(Conn { sender: Some(s) }),
            Err(e) => {
                eprintln!("loadgen: {e}");
                conns.push(Conn { sender: None });
            }
        }
    }
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let mut tasks = Vec::new();
    for mut conn in conns {
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::new();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let r = request(&mut conn, cfg).await;
                let done = Instant::now();
                if sent >= measure_from && done <= end {
                    st.record(sent, sent, done, r);
                } else if r.is_err() {
                    // back off a little on connection failures during warm-up/tail
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            st
        }));
    }
    let mut total = Stats::new();
    for t in tasks {
        total.merge(t.await.expect("worker panicked"));
    }
    (total, measure_from, cfg.duration)
}

fn dump(h: &Histogram<u64>) -> Value {
    Value::Array(h.iter_recorded().map(|v| json!([v.value_iterated_to(), v.count_at_value()])).collect())
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 10_000.0).round() / 10_000.0
}

fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": ((h.mean() / 1e6) * 10_000.0).round() / 10_000.0,
        "count": h.len(),
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("report") {
        let Some(path) = argv.get(2) else {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        };
        return match report::report(path) {
            Ok(md) => {
                print!("{md}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("loadgen report: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("loadgen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg: &'static Cfg = Box::leak(Box::new(cfg));
    let rt = if cfg.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(cfg.threads).enable_all().build()
    }
    .expect("tokio runtime");
    let (st, _measure_from, elapsed) = rt.block_on(async move {
        match cfg.mode {
            Mode::Open | Mode::Stream => run_open(cfg).await,
            Mode::Closed => run_closed(cfg).await,
        }
    });
    let completed = st.ok + st.errors;
    let achieved = st.ok as f64 / elapsed.as_secs_f64();
    let status: BTreeMap<String, u64> = st.status.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let out = json!({
        "label": cfg.label,
        "mode": cfg.mode.name(),
        "url": cfg.url,
        "model": cfg.model,
        "body_file": cfg.body_file,
        "body_bytes": cfg.body.len(),
        "unique": cfg.unique.is_some(),
        // Names only: a value may be a key.
        "headers": cfg.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "done_marker": if cfg.mode == Mode::Stream { json!(String::from_utf8_lossy(&cfg.done_marker)) } else { Value::Null },
        "rate": if cfg.mode == Mode::Closed { Value::Null } else { json!(cfg.rate) },
        "conns": cfg.conns,
        "duration_s": cfg.duration.as_secs_f64(),
        "warmup_s": cfg.warmup.as_secs_f64(),
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "ok": st.ok,
        "errors": st.errors,
        "dropped": st.dropped,
        "completed": completed,
        "achieved_rps": (achieved * 10.0).round() / 10.0,
        "status": status,
        "cache": st.cache,
        "error_kinds": st.error_kinds,
        "first_error": st.first_error,
        "latency_ms": summary(&st.latency),
        "service_ms": summary(&st.service),
        "ttfb_ms": if cfg.mode == Mode::Stream { summary(&st.ttfb) } else { Value::Null },
        "shed_ms": if st.shed.is_empty() { Value::Null } else { summary(&st.shed) },
        // Raw histograms (nanoseconds, [value, count] per non-empty bucket) so that the report
        // can merge rounds exactly.
        "hist_ns": {
            "latency": dump(&st.latency),
            "service": dump(&st.service),
            "ttfb": dump(&st.ttfb),
        },
    });
    println!("{out}");
    let q = |h: &Histogram<u64>, p: f64| if h.is_empty() { f64::NAN } else { ms(h.value_at_quantile(p)) };
    let rate = if cfg.mode == Mode::Closed { String::new() } else { format!(" rate={}", cfg.rate) };
    let cache = if st.cache.is_empty() {
        String::new()
    } else {
        format!(" | cache {}", st.cache.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
    };
    let ttfb =
        if cfg.mode == Mode::Stream { format!(" | ttfb p50={:.3} p99={:.3}", q(&st.ttfb, 0.5), q(&st.ttfb, 0.99)) } else { String::new() };
    let shed = if st.shed.is_empty() {
        String::new()
    } else {
        format!(" | 503 n={} p50={:.3} p99={:.3} max={:.3}", st.shed.len(), q(&st.shed, 0.5), q(&st.shed, 0.99), ms(st.shed.max()))
    };
    eprintln!(
        "[{}] {}{} conns={} ok={} err={} dropped={} rps={:.1} | ms p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} max={:.3}{}{}{}",
        cfg.label,
        cfg.mode.name(),
        rate,
        cfg.conns,
        st.ok,
        st.errors,
        st.dropped,
        achieved,
        q(&st.latency, 0.5),
        q(&st.latency, 0.9),
        q(&st.latency, 0.99),
        q(&st.latency, 0.999),
        if st.latency.is_empty() { f64::NAN } else { ms(st.latency.max()) },
        ttfb,
        cache,
        shed,
    );
    if let Some(e) = &st.first_error {
        eprintln!("[{}] first error: {}", cfg.label, e);
    }
    ExitCode::SUCCESS
}
