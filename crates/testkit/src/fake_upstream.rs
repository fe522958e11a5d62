//! A scriptable OpenAI-compatible fake upstream on 127.0.0.1:0 that records what the gateway
//! sent and notices when the gateway goes away mid-answer.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::reply::{split_body, split_events, Reply};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lowercased, in arrival order; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(err) => panic!("request body is not JSON ({err}): {}", String::from_utf8_lossy(&self.body)),
        }
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The running fake. Dropping it stops the server, including stalled answers.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<Recorded>,
    /// Woken on every new request and abort, for the `wait_for_*` helpers.
    changed: Notify,
    shutdown: CancellationToken,
}

struct Recorded {
    script: Vec<Reply>,
    next: usize,
    started: Vec<Instant>,
    requests: Vec<RecordedRequest>,
    aborts: Vec<Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A panicking test thread must not hide what was recorded from the others.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_abort(&self) {
        self.lock().aborts.push(Instant::now());
        self.changed.notify_waiters();
    }
}

impl FakeUpstream {
    /// Starts the fake; request `i` (to any path) gets `script[i]`, and once the script is
    /// exhausted its last reply repeats. Panics on an empty script.
    pub async fn start(script: Vec<Reply>) -> FakeUpstream {
        assert!(!script.is_empty(), "FakeUpstream::start needs at least one reply");
        let shared = Arc::new(Shared {
            state: Mutex::new(Recorded { script, next: 0, started: Vec::new(), requests: Vec::new(), aborts: Vec::new() }),
            changed: Notify::new(),
            shutdown: CancellationToken::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("fake upstream: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake upstream: local address");
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let stop = shared.shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            // Errors here only mean the test runtime is going away.
            let _ = axum::serve(listener, app).with_graceful_shutdown(stop).await;
        });
        FakeUpstream { addr, shared }
    }

    /// Starts a fake that answers every request with `reply`.
    pub async fn start_repeating(reply: Reply) -> FakeUpstream {
        Self::start(vec![reply]).await
    }

    /// `http://127.0.0.1:PORT/v1`, what goes into a provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Appends replies to the script (useful after the last one has started repeating).
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// Answers every request from now on with `reply`, whatever is left of the script (fuzz tests
    /// set one reply per case, and a case may send no request at all).
    pub fn answer_from_now_on(&self, reply: Reply) {
        let mut state = self.shared.lock();
        state.script = vec![reply];
        state.next = 0;
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// The most recent request; panics when there was none.
    pub fn last_request(&self) -> RecordedRequest {
        self.shared.lock().requests.last().cloned().expect("the fake upstream received no request")
    }

    /// When each request arrived (before its body was read).
    pub fn request_started(&self) -> Vec<Instant> {
        self.shared.lock().started.clone()
    }

    /// When the fake saw the client go away before an answer was complete (handler dropped
    /// before the head was sent, or the response body dropped before its end).
    pub fn aborts(&self) -> Vec<Instant> {
        self.shared.lock().aborts.clone()
    }

    /// Whether the latest abort happened within `d` after `since`.
    pub fn last_abort_within(&self, since: Instant, d: Duration) -> bool {
        self.shared.lock().aborts.last().is_some_and(|at| *at >= since && at.duration_since(since) <= d)
    }

    /// Waits until `n` requests have arrived; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |r| r.requests.len() >= n).await
    }

    /// Waits until at least `n` aborts were recorded; false on timeout.
    pub async fn wait_for_aborts(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |r| r.aborts.len() >= n).await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Recorded) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so a change in between is not missed.
            let mut notified = pin!(self.shared.changed.notified());
            notified.as_mut().enable();
            if done(&self.shared.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(&self.shared.lock());
            }
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Records an abort when dropped while armed: the handler future or body stream it lives in
/// was dropped by hyper before the answer was complete, i.e. the peer went away.
struct AbortGuard {
    shared: Option<Arc<Shared>>,
}

impl AbortGuard {
    fn disarm(&mut self) {
        self.shared = None;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            if !shared.shutdown.is_cancelled() {
                shared.record_abort();
            }
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.lock().started.push(Instant::now());
    // Armed until an answer is chosen: hyper drops this future if the peer leaves first.
    let guard = AbortGuard { shared: Some(Arc::clone(&shared)) };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body,
        received_at: Instant::now(),
    };
    let reply = {
        let mut state = shared.lock();
        state.requests.push(recorded);
        let index = state.next.min(state.script.len() - 1);
        state.next += 1;
        state.script[index].clone()
    };
    shared.changed.notify_waiters();
    answer(reply, &shared, guard).await
}

async fn answer(mut reply: Reply, shared: &Arc<Shared>, mut guard: AbortGuard) -> Response {
    loop {
        match reply.normalized() {
            Reply::Delay(delay, inner) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => reply = *inner,
                    _ = shared.shutdown.cancelled() => return shut_down(guard),
                }
            }
            Reply::Json { status, body, headers } => {
                guard.disarm();
                return json_response(status, body, &headers);
            }
            Reply::Sse { body, split, delay_between_pieces } => {
                let pieces = split_body(&body, split);
                return sse_response(Feed::new(pieces, delay_between_pieces, End::Clean, shared, guard));
            }
            Reply::StallBeforeHeaders => {
                shared.shutdown.cancelled().await;
                return shut_down(guard);
            }
            Reply::StallAfterEvents { body, events } => {
                let pieces = first_events(&body, events);
                return sse_response(Feed::new(pieces, Duration::ZERO, End::Stall, shared, guard));
            }
            Reply::DropAfterEvents { body, events } => {
                let pieces = first_events(&body, events);
                return sse_response(Feed::new(pieces, Duration::ZERO, End::Error, shared, guard));
            }
            Reply::SseFromChunks { .. } => {
                unreachable!("normalized() turns SseFromChunks into Sse")
            }
        }
    }
}

fn first_events(body: &Bytes, n: usize) -> Vec<Bytes> {
    split_events(body).into_iter().take(n).collect()
}

fn shut_down(mut guard: AbortGuard) -> Response {
    guard.disarm();
    json_response(503, Bytes::from_static(b"{\"error\":{\"message\":\"fake upstream shut down\"}}"), &[])
}

fn json_response(status: u16, body: Bytes, headers: &[(String, String)]) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).expect("Reply::Json status must be 100..=999");
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("Reply header name must be valid");
        let value = HeaderValue::from_str(value).expect("Reply header value must be valid");
        response.headers_mut().append(name, value);
    }
    response
}

fn sse_response(feed: Feed) -> Response {
    let stream = futures_util::stream::unfold(feed, Feed::next);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// How a streamed body ends once its pieces are written.
#[derive(Clone, Copy)]
enum End {
    Clean,
    Stall,
    Error,
    Done,
}

/// The state of one streamed body; owns the abort guard so hyper dropping the body records it.
struct Feed {
    pieces: std::collections::VecDeque<Bytes>,
    delay: Duration,
    first: bool,
    end: End,
    shutdown: CancellationToken,
    guard: AbortGuard,
}

impl Feed {
    fn new(pieces: Vec<Bytes>, delay: Duration, end: End, shared: &Arc<Shared>, guard: AbortGuard) -> Feed {
        Feed { pieces: pieces.into(), delay, first: true, end, shutdown: shared.shutdown.clone(), guard }
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Feed)> {
        if let Some(piece) = self.pieces.pop_front() {
            if !self.first && !self.delay.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(self.delay) => {}
                    _ = self.shutdown.cancelled() => return self.fail("fake upstream shut down"),
                }
            }
            self.first = false;
            return Some((Ok(piece), self));
        }
        match self.end {
            End::Clean | End::Done => {
                self.guard.disarm();
                None
            }
            End::Stall => {
                self.shutdown.cancelled().await;
                self.fail("fake upstream shut down")
            }
            End::Error => {
                // Pending once so hyper flushes the head and events: a real mid-stream drop
                // happens after the client has seen them, not instead of them.
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.fail("fake upstream dropped the stream (DropAfterEvents)")
            }
        }
    }

    /// Ends the body with an error: hyper then aborts the response instead of finishing it.
    fn fail(mut self, why: &str) -> Option<(Result<Bytes, std::io::Error>, Feed)> {
        self.guard.disarm();
        self.end = End::Done;
        Some((Err(std::io::Error::other(why.to_owned())), self))
    }
}

#[cfg(test)]
mod tests;
