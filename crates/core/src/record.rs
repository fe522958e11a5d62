//! Step `record`: one log record per request, built as the request goes and submitted exactly once
//! when the `Recorder` is dropped, whichever way the request ended (answered, failed, or the
//! client went away and the handler or stream was dropped). Submitting never waits.

use std::time::Instant;

use crate::store::{LogHandle, LogRecord};
use crate::time::{now_ms, rfc3339};
use switchyard_protocol::Usage;
use switchyard_providers::ProviderError;

use crate::billing::{Bill, Priced};
use crate::govern::Caller;
use crate::metrics::traffic::{self, Endpoint, ModelLabel};
use crate::request::GatewayFields;
use crate::telemetry::{RequestTrace, Step};

/// Bodies are kept up to this size when the config asks for them.
const MAX_LOGGED_BODY: usize = 256 * 1024;

pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub struct Recorder {
    log: LogHandle,
    record: LogRecord,
    started: Instant,
    keep_bodies: bool,
    /// The status already sent to the client, once response headers went out.
    sent_status: Option<u16>,
    usage: Option<Usage>,
    /// What the request reserved and will be charged; settled once, when the record is.
    bill: Option<Bill>,
    /// Output tokens a stream delivered, counted by the gateway: what is logged and billed
    /// when the provider reported no usage. `None` for an answer that did not stream.
    delivered_output: Option<u64>,
    /// The inbound API and the model label its metrics are counted under.
    endpoint: Endpoint,
    model_label: ModelLabel,
    /// The request's trace, when telemetry is on; handed to the exporter with the record.
    trace: Option<Box<RequestTrace>>,
}

impl Recorder {
    pub fn start(log: LogHandle, request_id: String, keep_bodies: bool) -> Self {
        let ms = now_ms();
        let record = LogRecord { request_id, started_at: rfc3339(ms), started_at_ms: ms, ..LogRecord::default() };
        traffic::IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            log,
            record,
            started: Instant::now(),
            keep_bodies,
            sent_status: None,
            usage: None,
            bill: None,
            delivered_output: None,
            endpoint: Endpoint::Other,
            model_label: ModelLabel::Unrouted,
            trace: None,
        }
    }

    /// Traces this request (telemetry is on).
    pub fn trace(&mut self, trace: RequestTrace) {
        self.trace = Some(Box::new(trace));
    }

    /// What the attempts of this request need to be traced and to tell the upstream the trace.
    pub fn trace_current(&self) -> Option<crate::telemetry::Current> {
        self.trace.as_ref().map(|t| t.current())
    }

    /// The start of a step timed as a span: `None` unless this request is sampled.
    pub fn step_started(&self) -> Option<u64> {
        self.trace.as_ref().and_then(|t| t.phase_start())
    }

    pub fn step_ended(&mut self, step: Step, started: Option<u64>, failed: bool) {
        if let Some(t) = self.trace.as_mut() {
            t.phase_end(step, started, failed);
        }
    }

    /// The request as received, kept (shared) for its trace.
    pub fn trace_request(&mut self, body: &bytes::Bytes) {
        if let Some(t) = self.trace.as_mut() {
            t.request_body(body);
        }
    }

    /// A streamed chunk as delivered, kept (shared) for its trace.
    pub fn trace_chunk(&mut self, chunk: &bytes::Bytes) {
        if let Some(t) = self.trace.as_mut() {
            t.response_chunk(chunk);
        }
    }

    /// A complete answer, kept (shared) for its trace.
    pub fn trace_response(&mut self, body: &bytes::Bytes) {
        if let Some(t) = self.trace.as_mut() {
            t.response_body(body);
        }
    }

    /// The inbound API the request came in on (a metrics label).
    pub fn endpoint(&mut self, endpoint: Endpoint) {
        self.endpoint = endpoint;
    }

    /// The model was routed: through the configured alias `alias`, or as a `provider/model` name.
    pub fn routed(&mut self, alias: Option<std::sync::Arc<str>>) {
        self.model_label = alias.map_or(ModelLabel::Direct, ModelLabel::Alias);
    }

    pub fn request_id(&self) -> &str {
        &self.record.request_id
    }

    pub fn requested(&mut self, model: &str, stream: bool) {
        self.record.requested_model = model.to_string();
        self.record.stream = stream;
    }

    pub fn fields(&mut self, fields: &GatewayFields, feature: Option<&str>, body: &[u8]) {
        self.record.customer_identifier = fields.customer_identifier.clone();
        self.record.metadata = fields.metadata.clone();
        self.record.feature = feature.map(str::to_string);
        if fields.disable_log {
            self.keep_bodies = false;
            if let Some(t) = self.trace.as_mut() {
                t.forbid_content();
            }
        }
        if self.keep_bodies {
            self.record.request_body = Some(truncated(body));
        }
    }

    pub fn caller(&mut self, caller: &Caller) {
        self.record.key_id = caller.key_id().map(str::to_string);
        self.record.team = caller.team().map(str::to_string);
    }

    /// The customer the request is accounted to (a key's bound customer wins over the body's).
    pub fn customer(&mut self, customer: Option<&str>) {
        self.record.customer_identifier = customer.map(str::to_string);
    }

    pub fn bill(&mut self, bill: Bill) {
        self.bill = Some(bill);
    }

    /// The price of the target that served (a fallback may be priced differently).
    pub fn priced(&mut self, priced: Option<Priced>) {
        if let (Some(bill), Some(p)) = (self.bill.as_mut(), priced) {
            bill.priced = Some(p);
        }
    }

    /// What the response cache did.
    pub fn cache_status(&mut self, status: crate::cache::Status) {
        self.record.cache_status = Some(status.as_str().to_string());
    }

    /// Answered from the cache: nothing was spent, and what the answer first cost was saved.
    pub fn cache_hit(&mut self, status: crate::cache::Status, provider: &str, model: &str, saved_usd: f64) {
        self.cache_status(status);
        self.record.provider = Some(provider.to_string());
        self.record.model = Some(model.to_string());
        self.record.cache_saved_usd = Some(saved_usd);
        self.record.cost_usd = Some(0.0);
        self.record.cost_source = Some("cache".into());
        self.first_token();
    }

    /// The cost so far, from the usage recorded (for the `x-switchyard-cost-usd` header).
    pub fn cost_usd(&self) -> Option<f64> {
        self.bill.as_ref().and_then(|b| b.cost(self.usage.as_ref(), true, self.delivered_output.unwrap_or(0)).0)
    }

    pub fn attempt(&mut self, provider: &str, model: &str) {
        self.record.attempts += 1;
        self.record.provider = Some(provider.to_string());
        self.record.model = Some(model.to_string());
    }

    /// The attempts a request made, in order; the last one names the provider and model.
    pub fn attempts(&mut self, attempts: Vec<crate::store::AttemptDetail>) {
        if let Some(last) = attempts.iter().rev().find(|a| a.reached_upstream()) {
            self.record.provider = Some(last.provider.clone());
            self.record.model = Some(last.model.clone());
        }
        // Targets passed over for an open circuit are in the log but were not attempts.
        self.record.attempts = attempts.iter().filter(|a| a.reached_upstream()).count() as u32;
        self.record.attempt_log = attempts;
    }

    /// The output tokens a stream has delivered so far, by the gateway's count: counted only
    /// when the provider reported no usage (it is then what the log and the bill use).
    pub fn delivered_output(&mut self, count: impl FnOnce() -> u64) {
        if self.usage.is_none_or(|u| u.input_tokens + u.output_tokens == 0) {
            self.delivered_output = Some(count());
        }
    }

    /// Why the stream of the attempt that served stopped before its end: written on that
    /// attempt, which until then had no error (it had served).
    pub fn serving_attempt_cut(&mut self, reason: crate::store::AttemptError) {
        if let Some(serving) = self.record.attempt_log.iter_mut().rev().find(|a| a.reached_upstream()) {
            serving.error.get_or_insert(reason);
        }
    }

    pub fn first_token(&mut self) {
        if self.record.ttft_ms.is_none() {
            self.record.ttft_ms = Some(self.elapsed_ms());
        }
    }

    pub fn usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
        self.record.input_tokens = usage.input_tokens;
        self.record.output_tokens = usage.output_tokens;
        self.record.cached_tokens = usage.cached_input_tokens;
        self.record.reasoning_tokens = usage.reasoning_tokens;
    }

    /// One streamed chunk as the client receives it, framed as a server-sent event.
    pub fn response_chunk(&mut self, data: &[u8]) {
        if self.keep_bodies {
            self.response_body(b"data: ");
            self.response_body(data);
            self.response_body(b"\n\n");
        }
    }

    pub fn response_started(&mut self, status: u16) {
        self.sent_status = Some(status);
    }

    pub fn response_body(&mut self, chunk: &[u8]) {
        if self.keep_bodies {
            let body = self.record.response_body.get_or_insert_with(String::new);
            if body.len() < MAX_LOGGED_BODY {
                body.push_str(&String::from_utf8_lossy(&chunk[..chunk.len().min(MAX_LOGGED_BODY - body.len())]));
            }
        }
    }

    pub fn ok(mut self, status: u16) {
        self.end(status, "ok", None, None);
    }

    pub fn failed(mut self, status: u16, error_type: &str, message: &str) {
        self.end(status, "error", Some(error_type), Some(message));
    }

    /// A stream that had started and was cut by an upstream failure.
    pub fn incomplete(mut self, error: &ProviderError) {
        let status = self.sent_status.unwrap_or(200);
        self.end(status, "incomplete", Some(error.kind.as_str()), Some(&error.message));
    }

    fn end(&mut self, status: u16, outcome: &str, error_type: Option<&str>, message: Option<&str>) {
        self.record.status = status;
        self.record.outcome = outcome.to_string();
        self.record.error_type = error_type.map(str::to_string);
        self.record.error_message = message.map(str::to_string);
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.record.outcome.is_empty() {
            // Nobody ended the request: the client went away and the handler or stream was
            // dropped. 499 is the conventional status for "client closed request".
            let status = self.sent_status.unwrap_or(499);
            self.end(status, "client_disconnected", None, None);
        }
        self.record.latency_ms = self.elapsed_ms();
        let served = self.record.outcome == "ok" || self.sent_status.is_some();
        let reported = self.usage.filter(|u| u.input_tokens + u.output_tokens > 0);
        if let Some(bill) = self.bill.take() {
            let (cost, source) = bill.cost(reported.as_ref(), served, self.delivered_output.unwrap_or(0));
            self.record.cost_usd = cost;
            self.record.cost_source = source.map(str::to_string);
            if served && matches!(source, Some("estimate" | "unpriced")) {
                crate::metrics::UNPRICED_REQUESTS.inc();
            }
            // A stream without a report is billed its estimate: the log and the limits say so too.
            let estimate = self.delivered_output.filter(|_| served && reported.is_none()).map(|out| bill.estimate(out));
            if let Some(e) = estimate {
                self.record.input_tokens = e.input_tokens;
                self.record.output_tokens = e.output_tokens;
            }
            let tokens = reported.or(estimate).map(|u| u.total()).or(if served { None } else { Some(0) });
            bill.ticket.settle(tokens, cost);
        } else if let Some(out) = self.delivered_output.filter(|_| served && reported.is_none()) {
            self.record.output_tokens = out;
        }
        traffic::observe(&self.record, self.endpoint, &self.model_label);
        crate::monitor::observe(&self.record);
        if let Some(trace) = self.trace.take() {
            let latency_ms = self.record.latency_ms;
            trace.finish(&mut self.record, self.endpoint, latency_ms);
        }
        traffic::IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.log.submit(std::mem::take(&mut self.record));
    }
}

fn truncated(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(MAX_LOGGED_BODY)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use crate::store::{LogStatus, LogSubmit};

    /// Keeps what is submitted; the real writer is tested in `switchyard-store`.
    #[derive(Default)]
    struct Collect(Mutex<Vec<LogRecord>>);

    impl LogSubmit for Collect {
        fn submit(&self, record: LogRecord) {
            self.0.lock().unwrap().push(record);
        }
        fn status(&self) -> LogStatus {
            LogStatus::default()
        }
    }

    fn records_after(f: impl FnOnce(LogHandle)) -> Vec<LogRecord> {
        let log = Arc::new(Collect::default());
        f(LogHandle::new(log.clone()));
        let records = log.0.lock().unwrap().clone();
        records
    }

    #[test]
    fn every_ending_gives_exactly_one_record() {
        let records = records_after(|log| {
            let mut r = Recorder::start(log.clone(), "a".into(), false);
            r.requested("mock/echo", false);
            r.usage(Usage { input_tokens: 5, output_tokens: 2, ..Usage::default() });
            r.ok(200);
            Recorder::start(log.clone(), "b".into(), false).failed(404, "model_not_found", "unknown model");
            let mut c = Recorder::start(log.clone(), "c".into(), false);
            c.response_started(200);
            drop(c);
            drop(Recorder::start(log, "d".into(), false));
        });
        let by_id = |id: &str| records.iter().filter(|r| r.request_id == id).collect::<Vec<_>>();
        assert_eq!(records.len(), 4);
        assert_eq!((by_id("a")[0].outcome.as_str(), by_id("a")[0].input_tokens), ("ok", 5));
        assert_eq!((by_id("b")[0].status, by_id("b")[0].error_type.as_deref()), (404, Some("model_not_found")));
        assert_eq!((by_id("c")[0].status, by_id("c")[0].outcome.as_str()), (200, "client_disconnected"));
        assert_eq!(by_id("d")[0].status, 499);
    }

    #[test]
    fn a_traced_request_reaches_the_exporter_once_and_disable_log_keeps_its_content_off() {
        let (tracer, mut rx) = crate::telemetry::Tracer::new(1.0, true, 8);
        let records = records_after(|log| {
            for (id, disable_log) in [("shown", false), ("private", true)] {
                let mut r = Recorder::start(log.clone(), id.into(), false);
                r.trace(tracer.start(None, None));
                r.fields(&GatewayFields { disable_log, ..Default::default() }, None, b"{}");
                r.ok(200);
            }
        });
        assert_eq!(records.len(), 2);
        let finished: Vec<(String, bool)> =
            std::iter::from_fn(|| rx.try_recv().ok()).map(|f| (f.record.request_id, f.capture_content)).collect();
        assert_eq!(finished, [("shown".to_string(), true), ("private".to_string(), false)]);
    }

    #[test]
    fn bodies_only_when_asked_and_never_with_disable_log() {
        let records = records_after(|log| {
            let mut r = Recorder::start(log.clone(), "kept".into(), true);
            r.fields(&GatewayFields::default(), None, b"{\"q\":1}");
            r.response_body(b"answer");
            r.ok(200);
            let mut r = Recorder::start(log, "dropped".into(), true);
            r.fields(&GatewayFields { disable_log: true, ..Default::default() }, None, b"{\"q\":1}");
            r.response_body(b"answer");
            r.ok(200);
        });
        let kept = records.iter().find(|r| r.request_id == "kept").unwrap();
        assert_eq!((kept.request_body.as_deref(), kept.response_body.as_deref()), (Some("{\"q\":1}"), Some("answer")));
        let dropped = records.iter().find(|r| r.request_id == "dropped").unwrap();
        assert_eq!((dropped.request_body.as_ref(), dropped.response_body.as_ref()), (None, None));
    }
}
