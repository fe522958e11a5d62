//! OpenTelemetry traces of requests, the request path's side: the ids a request is given at
//! ingress (continuing a caller's `traceparent`), the sampling decision, the few timestamps the
//! pipeline takes (admission, cache lookup, each upstream attempt) and the `traceparent` each
//! attempt sends upstream. Nothing is built or encoded here: when the request's log record is
//! finished, the record and these timings are handed to a bounded queue with `try_send` — full
//! means dropped and counted, never waited for — and the server's exporter turns them into
//! spans off the request path. With telemetry off a request carries no trace at all.

pub mod context;
pub mod sampler;

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

pub use context::{SpanId, TraceId, TraceParent};
pub use sampler::Sampler;

use crate::metrics::traffic::Endpoint;
use crate::store::LogRecord;

/// What requests are traced with: the sampler, whether content is captured, and the queue to
/// the exporter. One per process (telemetry settings need a restart to change).
pub struct Tracer {
    sampler: Sampler,
    capture_content: bool,
    queue: mpsc::Sender<FinishedTrace>,
}

impl Tracer {
    /// A tracer and the receiving end of its queue, which holds up to `capacity` requests.
    pub fn new(sample_ratio: f64, capture_content: bool, capacity: usize) -> (Arc<Tracer>, mpsc::Receiver<FinishedTrace>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        (Arc::new(Tracer { sampler: Sampler::new(sample_ratio), capture_content, queue }), receiver)
    }

    /// The trace of a request that came in with these headers: a child of the caller's span when
    /// its `traceparent` is valid, a new trace otherwise.
    pub fn start(self: &Arc<Self>, traceparent: Option<&str>, tracestate: Option<&str>) -> RequestTrace {
        let parent = traceparent.and_then(TraceParent::parse);
        let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id);
        let sampled = self.sampler.sample(parent.as_ref(), trace_id);
        // A tracestate without a valid traceparent belongs to no trace we continue.
        let tracestate = parent.and(tracestate).filter(|s| !s.is_empty() && s.len() <= 512).map(Arc::from);
        RequestTrace {
            tracer: self.clone(),
            current: Current { trace_id, sampled, clock: Clock::now(), tracestate },
            span_id: SpanId::random(),
            parent: parent.map(|p| p.parent_id),
            admission: None,
            cache: None,
            request_body: None,
            response_body: None,
            content_allowed: true,
            stream_chunks: Vec::new(),
        }
    }
}

/// Wall-clock nanoseconds, read from a monotonic clock after one wall-clock reading, so that a
/// request's spans are ordered even when the system clock steps.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    unix_ns: u64,
}

impl Clock {
    fn now() -> Self {
        let unix_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Self { origin: Instant::now(), unix_ns }
    }

    pub fn unix_ns(&self) -> u64 {
        self.unix_ns + self.origin.elapsed().as_nanos() as u64
    }
}

/// What an upstream attempt needs of its request's trace.
#[derive(Debug, Clone)]
pub struct Current {
    pub trace_id: TraceId,
    pub sampled: bool,
    clock: Clock,
    tracestate: Option<Arc<str>>,
}

tokio::task_local! {
    pub(crate) static CURRENT: Current;
}

/// The trace of one request, carried by its `Recorder`.
pub struct RequestTrace {
    tracer: Arc<Tracer>,
    current: Current,
    span_id: SpanId,
    parent: Option<SpanId>,
    admission: Option<Phase>,
    cache: Option<Phase>,
    request_body: Option<Bytes>,
    response_body: Option<Bytes>,
    /// Off for a request that set `disable_log`: its content is not captured either.
    content_allowed: bool,
    /// A streamed answer's chunks (shared, not copied): the first and the last two, or every
    /// one up to `MAX_STREAM_CHUNKS` when content is captured.
    stream_chunks: Vec<Bytes>,
}

/// Chunks of one streamed answer kept for its captured content.
const MAX_STREAM_CHUNKS: usize = 8192;

/// A step of the pipeline timed as a child span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Admission,
    CacheLookup,
}

#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub span_id: SpanId,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub failed: bool,
}

/// The span of one upstream attempt: its id (sent upstream in `traceparent`), when it started,
/// and the upstream's HTTP status when there was one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptSpan {
    pub span_id: SpanId,
    pub start_unix_ns: u64,
    pub status: Option<u16>,
    /// `gen_ai.provider.name`: the well-known name of the provider's type (`aws.bedrock`), not
    /// the name the config gave it.
    pub system: &'static str,
}

impl AttemptSpan {
    /// A new attempt span when the running request is traced (sampled or not: the upstream is
    /// told the trace either way); `None` otherwise.
    pub fn begin(provider_kind: &str) -> Option<AttemptSpan> {
        CURRENT
            .try_with(|c| AttemptSpan {
                span_id: SpanId::random(),
                start_unix_ns: c.clock.unix_ns(),
                status: None,
                system: genai_provider(provider_kind),
            })
            .ok()
    }
}

/// The OpenTelemetry GenAI well-known `gen_ai.provider.name` of a provider `type`; an
/// OpenAI-compatible server (vLLM, Ollama, Groq, …) speaks the `openai` protocol and is `openai`.
pub fn genai_provider(kind: &str) -> &'static str {
    match kind {
        "anthropic" => "anthropic",
        "azure" => "azure.ai.openai",
        "gemini" => "gcp.gemini",
        "vertex" => "gcp.vertex_ai",
        "bedrock" => "aws.bedrock",
        "mock" => "switchyard.mock",
        _ => "openai",
    }
}

/// Runs `attempt` with `span`'s `traceparent` (and the caller's `tracestate`) on the requests it
/// sends upstream.
pub async fn traced<F: Future>(span: Option<&AttemptSpan>, attempt: F) -> F::Output {
    match outbound(span) {
        Some(o) => switchyard_providers::OUTBOUND.scope(o, attempt).await,
        None => attempt.await,
    }
}

/// The trace context an attempt tells its upstream: `None` outside a traced request. Callers on
/// the hot path match on it and build the attempt's future inside each arm: wrapping the future in
/// `traced` moves it (several KB) into the wrapper and makes every future around it bigger.
pub fn outbound(span: Option<&AttemptSpan>) -> Option<switchyard_providers::Outbound> {
    let span = span?;
    CURRENT
        .try_with(|c| switchyard_providers::Outbound {
            traceparent: TraceParent::format(c.trace_id, span.span_id, c.sampled),
            tracestate: c.tracestate.clone(),
        })
        .ok()
}

/// Runs the attempts of a request under its trace, when it has one. (The pipeline matches on the
/// trace itself, for the reason given at `outbound`.)
pub async fn within<F: Future>(current: Option<Current>, work: F) -> F::Output {
    match current {
        Some(c) => CURRENT.scope(c, work).await,
        None => work.await,
    }
}

impl RequestTrace {
    pub fn sampled(&self) -> bool {
        self.current.sampled
    }

    pub fn current(&self) -> Current {
        self.current.clone()
    }

    /// The request asked not to be logged (`disable_log`): no content on its spans either.
    pub fn forbid_content(&mut self) {
        self.content_allowed = false;
    }

    /// Now, when this request is sampled (there is a span to time).
    pub fn phase_start(&self) -> Option<u64> {
        self.current.sampled.then(|| self.current.clock.unix_ns())
    }

    pub fn phase_end(&mut self, step: Step, started: Option<u64>, failed: bool) {
        let Some(start_unix_ns) = started else { return };
        let phase = Phase { span_id: SpanId::random(), start_unix_ns, end_unix_ns: self.current.clock.unix_ns(), failed };
        match step {
            Step::Admission => self.admission = Some(phase),
            Step::CacheLookup => self.cache = Some(phase),
        }
    }

    /// The request and response bodies are kept (shared, not copied) for the exporter to read
    /// the request parameters, the response id and finish reasons, and content when captured.
    pub fn request_body(&mut self, body: &Bytes) {
        if self.current.sampled {
            self.request_body = Some(body.clone());
        }
    }

    pub fn response_body(&mut self, body: &Bytes) {
        if self.current.sampled {
            self.response_body = Some(body.clone());
        }
    }

    /// One chunk of a streamed answer as the client received it.
    pub fn response_chunk(&mut self, chunk: &Bytes) {
        if !self.current.sampled {
            return;
        }
        let all = self.tracer.capture_content && self.content_allowed;
        if all && self.stream_chunks.len() >= MAX_STREAM_CHUNKS {
            return;
        }
        if !all && self.stream_chunks.len() >= 3 {
            self.stream_chunks.remove(1);
        }
        self.stream_chunks.push(chunk.clone());
    }

    /// Hands a sampled request's finished record to the exporter, without waiting: when the queue
    /// is full its spans are dropped and counted.
    pub fn finish(self, record: &mut LogRecord, endpoint: Endpoint, latency_ms: f64) {
        if !self.current.sampled {
            return;
        }
        // The bodies are the only large part of a record, and spans read them elsewhere.
        let (request_body, response_body) = (record.request_body.take(), record.response_body.take());
        let copy = record.clone();
        (record.request_body, record.response_body) = (request_body, response_body);
        let start_unix_ns = self.current.clock.unix_ns;
        let finished = FinishedTrace {
            trace_id: self.current.trace_id,
            span_id: self.span_id,
            parent: self.parent,
            tracestate: self.current.tracestate,
            start_unix_ns,
            end_unix_ns: start_unix_ns + (latency_ms * 1e6) as u64,
            endpoint,
            admission: self.admission,
            cache: self.cache,
            request_body: self.request_body,
            response_body: self.response_body,
            capture_content: self.tracer.capture_content && self.content_allowed,
            stream_chunks: self.stream_chunks,
            record: copy,
        };
        let spans = finished.span_count();
        if self.tracer.queue.try_send(finished).is_err() {
            crate::metrics::TRACE_SPANS_DROPPED.add(spans);
        }
    }
}

/// A sampled request, finished: what its spans are built from.
#[derive(Debug)]
pub struct FinishedTrace {
    pub trace_id: TraceId,
    /// The request span.
    pub span_id: SpanId,
    /// The caller's span, from its `traceparent`.
    pub parent: Option<SpanId>,
    pub tracestate: Option<Arc<str>>,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub endpoint: Endpoint,
    /// The request's log record, without its bodies.
    pub record: LogRecord,
    pub admission: Option<Phase>,
    pub cache: Option<Phase>,
    pub request_body: Option<Bytes>,
    pub response_body: Option<Bytes>,
    /// A streamed answer's chunks: the first and the last two, or all when content is captured.
    pub stream_chunks: Vec<Bytes>,
    pub capture_content: bool,
}

impl FinishedTrace {
    /// The request span, the timed steps and every attempt that has a span.
    pub fn span_count(&self) -> u64 {
        let attempts = self.record.attempt_log.iter().filter(|a| a.span.is_some()).count();
        1 + u64::from(self.admission.is_some()) + u64::from(self.cache.is_some()) + attempts as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_callers_trace_is_continued_and_attempts_send_its_trace_id() {
        let (tracer, _rx) = Tracer::new(0.0, false, 4);
        let t = tracer.start(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), Some("vendor=1"));
        assert!(t.sampled(), "the caller sampled it, whatever the ratio");
        assert_eq!(t.parent.map(SpanId::to_hex).as_deref(), Some("00f067aa0ba902b7"));
        let seen = within(Some(t.current()), async {
            let span = AttemptSpan::begin("openai").expect("a traced request's attempt has a span");
            let header = traced(Some(&span), async { switchyard_providers::OUTBOUND.with(|o| o.clone()) }).await;
            (span, header)
        })
        .await;
        let (span, outbound) = seen;
        assert_eq!(outbound.traceparent, format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", span.span_id.to_hex()));
        assert_eq!(outbound.tracestate.as_deref(), Some("vendor=1"));
        assert!(AttemptSpan::begin("openai").is_none(), "outside a traced request there is no attempt span");
    }

    /// What tracing adds to one request on the request path, sampled: the ids at ingress, two
    /// timed steps, one attempt span and its `traceparent`, and the hand-over of the finished
    /// record; and that each finished request hands over its four spans. The timing is printed,
    /// never asserted (a timing is not a test; the budget is 20 µs at the median): for numbers
    /// worth reading `cargo test --release -p switchyard-core --lib the_request_path_cost --
    /// --nocapture`; the end-to-end number is bench/run's telemetry phase.
    #[tokio::test]
    async fn the_request_path_cost_of_a_sampled_trace_is_printed_and_its_spans_handed_over() {
        let (tracer, mut rx) = Tracer::new(1.0, false, 1 << 16);
        let body = Bytes::from_static(br#"{"model":"support-bot","messages":[{"role":"user","content":"hello"}]}"#);
        let record = LogRecord {
            request_id: "0193a000-0000-7000-8000-000000000000".into(),
            requested_model: "support-bot".into(),
            provider: Some("openai".into()),
            model: Some("gpt-4o-mini".into()),
            outcome: "ok".into(),
            customer_identifier: Some("acme".into()),
            attempt_log: vec![crate::store::AttemptDetail { provider: "openai".into(), model: "gpt-4o-mini".into(), ..Default::default() }],
            ..LogRecord::default()
        };
        let mut times = Vec::with_capacity(5_000);
        for _ in 0..5_000 {
            let mut record = record.clone();
            let began = Instant::now();
            let mut t = tracer.start(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
            t.request_body(&body);
            for step in [Step::Admission, Step::CacheLookup] {
                let s = t.phase_start();
                t.phase_end(step, s, false);
            }
            let span = within(Some(t.current()), async {
                let span = AttemptSpan::begin("openai");
                traced(span.as_ref(), async {}).await;
                span
            })
            .await;
            record.attempt_log[0].span = span;
            t.response_body(&body);
            t.finish(&mut record, Endpoint::ChatCompletions, 1.0);
            times.push(began.elapsed());
        }
        times.sort();
        let p50 = times[times.len() / 2];
        eprintln!("tracing on the request path: p50 {p50:?}, p99 {:?}", times[times.len() * 99 / 100]);
        assert_eq!(rx.try_recv().map(|f| f.span_count()).ok(), Some(4));
    }

    #[test]
    fn a_stream_keeps_its_first_and_last_two_chunks_unless_content_is_captured() {
        let chunks: Vec<Bytes> = (0..6).map(|i| Bytes::from(format!("{i}"))).collect();
        for (capture, kept) in [(false, vec!["0", "4", "5"]), (true, vec!["0", "1", "2", "3", "4", "5"])] {
            let (tracer, _rx) = Tracer::new(1.0, capture, 4);
            let mut t = tracer.start(None, None);
            for c in &chunks {
                t.response_chunk(c);
            }
            let got: Vec<&str> = t.stream_chunks.iter().map(|b| std::str::from_utf8(b).unwrap()).collect();
            assert_eq!(got, kept, "capture_content {capture}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tracer, _rx) = Tracer::new(1.0, false, 1);
        let before = crate::metrics::TRACE_SPANS_DROPPED.get();
        for _ in 0..3 {
            tracer.start(None, None).finish(&mut LogRecord::default(), Endpoint::ChatCompletions, 1.0);
        }
        assert_eq!(crate::metrics::TRACE_SPANS_DROPPED.get() - before, 2, "one request queued, two dropped (one span each)");
    }
}
