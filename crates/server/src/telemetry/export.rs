//! The background exporter: takes finished requests off the tracer's queue, turns them into
//! spans, and posts them in batches (up to `MAX_BATCH` spans, or what a second brought) over
//! OTLP/HTTP protobuf or OTLP/gRPC, each post bounded by `TIMEOUT`. One post at a time: while one
//! is slow the queue fills and new requests' spans are dropped (and counted), never waited for.

use std::time::Duration;

use switchyard_core::metrics::{TRACE_SPANS_EXPORTED, TRACE_SPANS_FAILED};
use switchyard_core::telemetry::FinishedTrace;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use super::encode::export_request;
use super::spans::{spans, Span, Value};
use crate::config::{Protocol, TelemetryConfig};

pub const MAX_BATCH: usize = 512;
const INTERVAL: Duration = Duration::from_secs(1);
/// How often the queue is emptied: its 4,096 places hold this long at 40,000 requests a second.
const DRAIN: Duration = Duration::from_millis(100);
pub const TIMEOUT: Duration = Duration::from_secs(5);
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where and how batches are posted.
pub struct Destination {
    client: reqwest::Client,
    url: String,
    /// The URL as logged: without credentials.
    shown: String,
    protocol: Protocol,
    resource: Vec<(&'static str, Value)>,
}

impl Destination {
    pub fn new(config: &TelemetryConfig, service_name: String) -> Self {
        let builder = reqwest::Client::builder().timeout(TIMEOUT).connect_timeout(TIMEOUT);
        let (builder, url) = match config.protocol {
            Protocol::HttpProtobuf => {
                let url = if config.otlp_endpoint.ends_with("/v1/traces") {
                    config.otlp_endpoint.clone()
                } else {
                    format!("{}/v1/traces", config.otlp_endpoint)
                };
                (builder, url)
            }
            // gRPC is HTTP/2: without TLS there is no ALPN to agree on it, so it is assumed.
            Protocol::Grpc if config.otlp_endpoint.starts_with("http://") => {
                (builder.http2_prior_knowledge(), format!("{}{GRPC_PATH}", config.otlp_endpoint))
            }
            Protocol::Grpc => (builder, format!("{}{GRPC_PATH}", config.otlp_endpoint)),
        };
        let resource = vec![
            ("service.name", Value::Str(service_name)),
            ("service.version", Value::Str(env!("CARGO_PKG_VERSION").into())),
            ("telemetry.sdk.language", Value::Str("rust".into())),
        ];
        let shown = crate::config::redact_url(&url);
        Self { client: builder.build().unwrap_or_default(), url, shown, protocol: config.protocol, resource }
    }

    /// Posts one batch; the spans are counted as exported or failed.
    async fn post(&self, batch: &[Span]) {
        let message = export_request(&self.resource, ("switchyard", env!("CARGO_PKG_VERSION")), batch);
        let result = match self.protocol {
            Protocol::HttpProtobuf => self.post_http(message).await,
            Protocol::Grpc => self.post_grpc(message).await,
        };
        let n = batch.len() as u64;
        match result {
            Ok(()) => TRACE_SPANS_EXPORTED.add(n),
            Err(why) => {
                TRACE_SPANS_FAILED.add(n);
                tracing::warn!(spans = n, url = %self.shown, "trace export failed: {why}");
            }
        }
    }

    async fn post_http(&self, message: Vec<u8>) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-protobuf")
            .body(message)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        // The body (an ExportTraceServiceResponse, or an error) is read so the connection is reused.
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }

    /// A unary gRPC call: the message behind gRPC's 5-byte prefix (uncompressed, length).
    async fn post_grpc(&self, message: Vec<u8>) -> Result<(), String> {
        let mut framed = Vec::with_capacity(message.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(&message);
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(framed)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        // A failure with no message is "trailers only": grpc-status comes in the headers. A
        // failure reported in the trailers proper is not seen (reqwest does not expose them).
        let grpc_status = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_string);
        let _ = response.bytes().await;
        match (status.is_success(), grpc_status.as_deref()) {
            (true, None | Some("0")) => Ok(()),
            (true, Some(code)) => Err(format!("gRPC status {code}")),
            (false, _) => Err(format!("HTTP {status}")),
        }
    }
}

/// Runs until `stop`, then drains the queue and posts what was left. The queue is drained every
/// `DRAIN` rather than awaited: a receiver that never waits registers no waker, so a request
/// handing over its trace wakes nobody (a wake per request cost more than building its spans).
pub async fn run(mut queue: Receiver<FinishedTrace>, destination: Destination, stop: CancellationToken) {
    let mut batch: Vec<Span> = Vec::with_capacity(MAX_BATCH);
    let mut tick = tokio::time::interval(DRAIN);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_post = tokio::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let open = drain(&mut queue, &mut batch, &destination).await;
        if !batch.is_empty() && (last_post.elapsed() >= INTERVAL || !open) {
            destination.post(&std::mem::take(&mut batch)).await;
            last_post = tokio::time::Instant::now();
        }
        if !open {
            return;
        }
    }
    drain(&mut queue, &mut batch, &destination).await;
    if !batch.is_empty() {
        destination.post(&batch).await;
    }
}

/// Moves every queued trace into `batch` as spans, posting each full batch; false once every
/// sender is gone.
async fn drain(queue: &mut Receiver<FinishedTrace>, batch: &mut Vec<Span>, destination: &Destination) -> bool {
    loop {
        match queue.try_recv() {
            Ok(trace) => {
                batch.extend(spans(&trace));
                if batch.len() >= MAX_BATCH {
                    destination.post(&std::mem::take(batch)).await;
                }
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => return true,
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}
