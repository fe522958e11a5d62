//! OpenTelemetry traces over OTLP (`telemetry:` in the config): the core's tracer hands finished
//! requests to a bounded queue; this module turns them into GenAI spans (`spans`), encodes them
//! (`encode`) and exports them in the background (`export`). Shutdown posts what is queued,
//! within a bound.

mod encode;
mod export;
mod spans;

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::telemetry::Tracer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::TelemetryConfig;

/// Requests waiting for the exporter; past it, their spans are dropped and counted.
const QUEUE: usize = 4096;

/// The running exporter.
pub struct Exporter {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

/// Starts the exporter; requests are traced with the returned tracer.
pub fn start(config: &TelemetryConfig) -> (Arc<Tracer>, Exporter) {
    let (tracer, queue) = Tracer::new(config.sample_ratio, config.capture_content, QUEUE);
    let service = std::env::var("OTEL_SERVICE_NAME").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "switchyard".into());
    let destination = export::Destination::new(config, service);
    let stop = CancellationToken::new();
    let task = tokio::spawn(export::run(queue, destination, stop.clone()));
    (tracer, Exporter { task, stop })
}

impl Exporter {
    /// Posts what is queued, waiting at most `bound` (each post has its own timeout).
    pub async fn shutdown(self, bound: Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(bound, &mut task).await.is_err() {
            tracing::warn!(?bound, "trace export still running at exit is abandoned");
            task.abort();
        }
    }
}

/// The trace of a request that came in with `headers` (a caller's `traceparent` is continued).
pub fn start_trace(tracer: &Arc<Tracer>, headers: &http::HeaderMap) -> switchyard_core::telemetry::RequestTrace {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    tracer.start(header("traceparent"), header("tracestate"))
}
