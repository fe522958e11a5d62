//! `POST /v1/responses`: the OpenAI Responses API, routed to any provider through the one
//! pipeline. The caller is authenticated first, because the request can only be built once its
//! tenant is known: the body future reads the body, translates it
//! (`switchyard_protocol::responses`) and prepends the conversation of `previous_response_id`,
//! loaded from the caller's tenant only; the pipeline then runs on the canonical request, logging
//! every refusal (an unknown previous response included) once. `GET`/`DELETE
//! /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read the stored responses
//! (`stored.rs`).

mod codec;
mod stored;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use switchyard_core::pipeline::{BodyError, Inbound};
use switchyard_core::store::ResponseStore;
use switchyard_core::InboundBody;
use switchyard_protocol::responses::{native, to_chat};

use super::endpoint::{gateway_headers, presented_key, read_body, run, start};
use super::App;
use codec::{save, Keeper, ResponsesCodec, Turn, TurnSlot};
pub use stored::{delete, input_items, retrieve};

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let (snap, recorder) = start(&app, &headers);
    let key = presented_key(&headers).map(str::to_string);
    let body = read_body(body, snap.max_body_bytes, snap.config.server.body_timeout);
    fn inbound<B>(body: B, key: &Option<String>, headers: &HeaderMap) -> Inbound<B> {
        Inbound { body, decode: switchyard_core::decode_chat, key: key.clone(), headers: gateway_headers(headers), on_stream: None }
    }
    let caller = match app.pipeline(&snap).caller(key.as_deref()).await {
        Ok(caller) => caller,
        // The pipeline's own authentication refuses the request again, and logs it.
        Err(_) => return run(app.clone(), snap, recorder, inbound(body, &key, &headers), ResponsesCodec::new(None)).await,
    };
    let keeper = Keeper { store: app.responses.clone(), tenant: caller.tenant };
    let codec = ResponsesCodec::new(Some(keeper.clone()));
    let (turn, pending) = (codec.turn.clone(), codec.pending.clone());
    let response = run(app.clone(), snap, recorder, inbound(translate(body, keeper.clone(), turn), &key, &headers), codec).await;
    // A complete answer's response is stored before the client can ask for it.
    let stored = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(stored) = stored {
        save(keeper.store.as_ref(), stored).await;
    }
    response
}

/// The body future: the Responses request read, translated and continued from its previous
/// response, as the canonical request's body — with the client's own request, expanded the same
/// way, for a target that speaks the Responses API.
async fn translate(
    body: impl std::future::Future<Output = Result<Bytes, BodyError>>,
    keeper: Keeper,
    turn: TurnSlot,
) -> Result<InboundBody, BodyError> {
    let body = body.await?;
    let translated = to_chat(&body).map_err(BodyError::Invalid)?;
    let history = match &translated.previous_response_id {
        Some(id) => previous(keeper.store.as_ref(), &keeper.tenant, id).await?,
        None => Vec::new(),
    };
    let chat = translated.chat_body(&history);
    let native = native(&body, &translated, &history).map_err(BodyError::Invalid)?;
    *turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Turn { translated, history });
    Ok(InboundBody { bytes: Bytes::from(chat), native: Some(native) })
}

/// The stored conversation `id` continues, from the caller's tenant only.
/// A database that does not answer within `LOOKUP_TIMEOUT` is a 503, not a request held forever.
async fn previous(store: &dyn ResponseStore, tenant: &str, id: &str) -> Result<Vec<Value>, BodyError> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, store.get_response(tenant, id)).await {
        Ok(Ok(Some(stored))) => Ok(stored.conversation),
        Ok(Ok(None)) => Err(BodyError::UnknownResponse { id: id.to_string() }),
        Ok(Err(e)) => Err(BodyError::StoreUnavailable(e.to_string())),
        Err(_) => Err(BodyError::StoreUnavailable(format!("the database did not answer within {LOOKUP_TIMEOUT:?}"))),
    }
}

const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
