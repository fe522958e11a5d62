//! The HTTP edge of the pipeline, shared by every inbound API: start the request's recorder, hand
//! the body, the presented key and the gateway headers to `switchyard_core::pipeline`, and let the
//! endpoint's codec write the canonical answer (or the refusal) in its wire shape. No request
//! step lives here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use switchyard_core::pipeline::{Answer, AnswerBody, BodyError, Hold, Inbound, Rejection};
use switchyard_core::{new_request_id, Decode, Recorder, RequestHeaders};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::cached::hit;
use super::error::ApiError;
use super::stream::{held_sse_response, replay_response, sse_response, PendingAnswer};
use super::wire::{OpenAiSse, WireStream};
use super::App;
use crate::snapshot::Snapshot;

/// How an endpoint reads its wire request and writes the pipeline's canonical answer (a
/// `chat.completion`, its chunks, or an embeddings list) in its own shape. A value, so that an
/// API can carry what one request's answer needs (the Responses API: its id and stored state).
pub trait Codec: Send + 'static {
    /// Decodes the endpoint's wire request into the canonical request.
    const DECODE: Decode;
    /// The endpoint's metrics label.
    const ENDPOINT: switchyard_core::metrics::traffic::Endpoint;
    /// The canonical complete answer's JSON in the wire's shape.
    fn complete(&self, body: Bytes) -> Bytes {
        body
    }
    /// A new writer for one streamed answer.
    fn stream(&self) -> Box<dyn WireStream> {
        Box::new(OpenAiSse)
    }
    fn error(&self, error: ApiError) -> Response {
        error.into_response()
    }
}

/// The canonical answer in the codec's wire shape, with the gateway's headers.
fn encode<C: Codec>(codec: &C, answer: Answer) -> Response {
    let mut response = match answer.body {
        AnswerBody::Complete(body) => json_response(codec.complete(body)),
        AnswerBody::Cached { entry, stream: false, .. } => hit(&entry, json_response(codec.complete(entry.to_completion_body()))),
        AnswerBody::Cached { entry, stream: true, include_usage } => hit(&entry, replay_response(&entry, include_usage, codec.stream())),
        AnswerBody::Stream(stream) => sse_response(stream, codec.stream()),
    };
    put_all(response.headers_mut(), answer.headers);
    response
}

fn json_response(body: Bytes) -> Response {
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs one request of endpoint `C` through the pipeline.
pub async fn serve<C: Codec>(app: Arc<App>, headers: HeaderMap, body: Body, codec: C) -> Response {
    let (snap, recorder) = start(&app, &headers);
    let inbound = inbound(&snap, &headers, body, C::DECODE);
    run(app, snap, recorder, inbound, codec).await
}

/// What the pipeline gets of an HTTP request: its body (read under the snapshot's limits), the
/// presented key and the gateway's headers.
pub fn inbound(
    snap: &Snapshot,
    headers: &HeaderMap,
    body: Body,
    decode: Decode,
) -> Inbound<impl std::future::Future<Output = Result<Bytes, BodyError>> + Send + 'static> {
    Inbound {
        body: read_body(body, snap.max_body_bytes, snap.config.server.body_timeout),
        decode,
        key: presented_key(headers).map(str::to_string),
        headers: gateway_headers(headers),
        on_stream: None,
    }
}

/// The configuration this request runs on to its end (whatever a reload does meanwhile), and
/// its recorder — tracing it, when telemetry is on, as the child of the caller's `traceparent`.
pub fn start(app: &App, headers: &HeaderMap) -> (Arc<Snapshot>, Recorder) {
    let snap = app.snapshot();
    let mut recorder = Recorder::start(app.log.clone(), new_request_id(), snap.log_bodies);
    if let Some(tracer) = &app.tracer {
        recorder.trace(crate::telemetry::start_trace(tracer, headers));
    }
    (snap, recorder)
}

/// Runs `inbound` through the pipeline and writes the answer with `codec`.
pub async fn run<C, B, O>(app: Arc<App>, snap: Arc<Snapshot>, mut recorder: Recorder, mut inbound: Inbound<B>, codec: C) -> Response
where
    C: Codec,
    B: std::future::Future<Output = Result<O, BodyError>> + Send + 'static,
    O: Into<switchyard_core::InboundBody> + Send + 'static,
{
    recorder.endpoint(C::ENDPOINT);
    let request_id = HeaderValue::from_str(recorder.request_id()).ok();
    let (on_stream, told) = oneshot::channel();
    inbound.on_stream = Some(on_stream);
    let force_stop = app.force_stop.clone();
    // Owned, so that a response committed before the answer can carry the run in its body.
    let run: PendingAnswer = Box::pin(async move { app.pipeline(&snap).run(inbound, recorder).await });
    let mut response = match hold(run, told, &force_stop).await {
        Held::Answered(answer) => match *answer {
            Ok(answer) => encode(&codec, answer),
            Err(rejection) => reject(&codec, rejection),
        },
        // The grace period ran out while waiting upstream: answer rather than vanish. The
        // dropped pipeline logs the request as its recorder drops.
        Held::ShuttingDown => codec.error(ApiError::ShuttingDown),
        Held::TooLong(run, keep_alive) => held_sse_response(run, keep_alive, force_stop, codec.stream()),
    };
    if let Some(id) = request_id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

enum Held {
    Answered(Box<Result<Answer, Rejection>>),
    ShuttingDown,
    /// A stream still without its first token when its hold ran out; keep it alive this often.
    TooLong(PendingAnswer, Duration),
}

/// Waits for the answer without sending a byte — so that a failure is still an HTTP status a
/// client can act on — but a stream only for its `hold`: common load balancers cut a connection
/// silent for 60 s, and a client sees nothing of a slow first token or a failover meanwhile.
async fn hold(mut run: PendingAnswer, told: oneshot::Receiver<Hold>, force_stop: &CancellationToken) -> Held {
    let held_too_long = async {
        // Not a stream (or refused before its plan): wait for the answer, however long.
        let Ok(hold) = told.await else { return std::future::pending().await };
        tokio::time::sleep(hold.hold).await;
        hold.keep_alive
    };
    let keep_alive = tokio::select! {
        biased;
        answer = &mut run => return Held::Answered(Box::new(answer)),
        () = force_stop.cancelled() => return Held::ShuttingDown,
        keep_alive = held_too_long => keep_alive,
    };
    Held::TooLong(run, keep_alive)
}

/// A refusal, in the codec's shape, recorded with the status the client gets.
fn reject<C: Codec>(codec: &C, rejection: Rejection) -> Response {
    let (error, headers) = rejection.record(ApiError::from, |e| (e.status().as_u16(), e.log_type(), e.body().error.message));
    let mut response = codec.error(error);
    put_all(response.headers_mut(), headers);
    response
}

pub fn put_all(headers: &mut HeaderMap, values: impl IntoIterator<Item = (&'static str, String)>) {
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
}

/// The body under `max_body_bytes` and `server.body_timeout`: a deadline for the whole body, not
/// an inactivity timer, since a body trickled a byte at a time would hold its request slot forever.
pub async fn read_body(body: Body, limit: usize, deadline: std::time::Duration) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    match tokio::time::timeout(deadline, http_body_util::Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(BodyError::TooLarge { limit }),
        Ok(Err(e)) => Err(BodyError::Unreadable(e.to_string())),
        Err(_) => Err(BodyError::TimedOut { after: deadline }),
    }
}

/// The virtual key: `Authorization: Bearer …`, or Anthropic's `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    });
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

pub fn gateway_headers(headers: &HeaderMap) -> RequestHeaders {
    RequestHeaders {
        customer: header_text(headers, "x-switchyard-customer"),
        feature: header_text(headers, "x-switchyard-feature"),
        fallback: header_text(headers, "x-switchyard-fallback")
            .map(|v| v.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
        cache_control: header_text(headers, "cache-control"),
        anthropic_beta: header_text(headers, "anthropic-beta"),
    }
}
