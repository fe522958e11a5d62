//! The Responses codec: one value per request, carrying the response's id and, once the body
//! future has translated the request, the turn (its echo fields, its input, the conversation it
//! continues). It writes the canonical answer as a Response object (or its events) and hands what
//! is to be stored to `save` — for a complete answer through `pending`, which the handler writes
//! before returning; for a stream when it ends properly, in the background.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use switchyard_core::store::{ResponseStore, StoredResponse};
use switchyard_core::Decode;
use switchyard_protocol::responses::{from_completion, listed_input_items, Events, ResponseContext, Translated};

use super::super::endpoint::Codec;
use super::super::error::ApiError;
use super::super::wire::{named_frame, WireStream};

/// The request as the body future translated it, and the stored conversation it continues.
pub struct Turn {
    pub translated: Translated,
    pub history: Vec<Value>,
}

/// Filled by the body future, read by the codec once the answer is there.
pub type TurnSlot = Arc<Mutex<Option<Turn>>>;

/// Where a finished response is kept: the store and the caller's tenant.
#[derive(Clone)]
pub struct Keeper {
    pub store: Arc<dyn ResponseStore>,
    pub tenant: String,
}

pub struct ResponsesCodec {
    pub id: String,
    pub created_at: u64,
    pub turn: TurnSlot,
    /// `None`: the caller was not authenticated, and nothing is answered but the refusal.
    pub keeper: Option<Keeper>,
    /// A complete answer's response to store, taken by the handler.
    pub pending: Arc<Mutex<Option<StoredResponse>>>,
}

impl ResponsesCodec {
    pub fn new(keeper: Option<Keeper>) -> Self {
        let own = switchyard_core::new_request_id().replace('-', "");
        Self {
            id: format!("resp_{own}"),
            created_at: switchyard_core::time::now_ms().max(0) as u64 / 1000,
            turn: Arc::default(),
            keeper,
            pending: Arc::default(),
        }
    }

    fn context(&self) -> ResponseContext {
        let echo = lock(&self.turn).as_ref().map(|t| t.translated.echo.clone()).unwrap_or_default();
        ResponseContext { id: self.id.clone(), created_at: self.created_at, echo }
    }

    /// What to store of this turn's answer, when the request asked to store it.
    fn to_store(&self, ctx: &ResponseContext, response: Value, assistant: Value) -> Option<(Keeper, StoredResponse)> {
        let keeper = self.keeper.clone()?;
        let guard = lock(&self.turn);
        let turn = guard.as_ref().filter(|t| t.translated.store)?;
        let mut conversation = turn.history.clone();
        conversation.extend(turn.translated.messages.iter().cloned());
        conversation.push(assistant);
        let stored = StoredResponse {
            id: self.id.clone(),
            tenant: keeper.tenant.clone(),
            created_at_ms: switchyard_core::time::now_ms(),
            model: response["model"].as_str().unwrap_or("").to_string(),
            conversation,
            response,
            input_items: listed_input_items(ctx, &turn.translated.input_items),
        };
        Some((keeper, stored))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stores a finished response; a failure is logged, never the client's problem.
pub async fn save(store: &dyn ResponseStore, stored: StoredResponse) {
    let id = stored.id.clone();
    match tokio::time::timeout(SAVE_TIMEOUT, store.put_response(stored)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(response = %id, error = %e, "could not store a response; GET and previous_response_id will not find it")
        }
        Err(_) => tracing::warn!(response = %id, "storing a response timed out; GET and previous_response_id may not find it"),
    }
}

/// How long the answer may wait for its response to be stored.
const SAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Codec for ResponsesCodec {
    // The body future hands the pipeline the already translated, canonical request.
    const DECODE: Decode = switchyard_core::decode_chat;
    const ENDPOINT: switchyard_core::metrics::traffic::Endpoint = switchyard_core::metrics::traffic::Endpoint::Responses;

    fn complete(&self, body: Bytes) -> Bytes {
        let ctx = self.context();
        let (response, assistant) = from_completion(&ctx, &body);
        let out = Bytes::from(serde_json::to_vec(&response).expect("a JSON value serialises"));
        if let Some((_, stored)) = self.to_store(&ctx, response, assistant) {
            *lock(&self.pending) = Some(stored);
        }
        out
    }

    fn stream(&self) -> Box<dyn WireStream> {
        let ctx = self.context();
        let keep = self.keeper.is_some() && lock(&self.turn).as_ref().is_some_and(|t| t.translated.store);
        Box::new(ResponsesSse { events: Events::new(ctx.clone()), ctx, keep: keep.then(|| self.snapshot()) })
    }
}

impl ResponsesCodec {
    /// What a stream needs to store its response at its end (the codec itself stays with the
    /// handler).
    fn snapshot(&self) -> ResponsesCodec {
        let turn = lock(&self.turn).as_ref().map(|t| Turn { translated: t.translated.clone(), history: t.history.clone() });
        ResponsesCodec {
            id: self.id.clone(),
            created_at: self.created_at,
            turn: Arc::new(Mutex::new(turn)),
            keeper: self.keeper.clone(),
            pending: Arc::default(),
        }
    }
}

/// The Responses API's named SSE events; a failure after the 200 is `response.failed`.
struct ResponsesSse {
    events: Events,
    ctx: ResponseContext,
    /// Set when the response is to be stored at the stream's proper end.
    keep: Option<ResponsesCodec>,
}

fn frames(events: Vec<switchyard_protocol::responses::Event>, out: &mut Vec<Bytes>) {
    for (name, data) in events {
        out.push(named_frame(name, &serde_json::to_vec(&data).expect("a JSON value serialises")));
    }
}

impl WireStream for ResponsesSse {
    fn chunk(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        let mut events = Vec::new();
        self.events.chunk(data, &mut events);
        frames(events, out);
    }

    fn done(&mut self, out: &mut Vec<Bytes>) {
        let mut events = Vec::new();
        self.events.done(&mut events);
        frames(events, out);
        let (Some(codec), Some((response, assistant))) = (self.keep.take(), self.events.finished()) else { return };
        if let Some((keeper, stored)) = codec.to_store(&self.ctx, response, assistant) {
            switchyard_core::tasks::spawn_background("store-response", async move { save(keeper.store.as_ref(), stored).await });
        }
    }

    fn failed(&mut self, error: &ApiError, out: &mut Vec<Bytes>) {
        let body = error.body().error;
        let code = body.code.unwrap_or(body.kind);
        let mut events = Vec::new();
        self.events.failed(&code, &body.message, &mut events);
        frames(events, out);
    }
}
