//! `POST /admin/config/reload`: re-reads the config file like SIGHUP does and answers what
//! happened — 200 with what changed and what needs a restart, or 422 with every problem and its
//! path (the running config then keeps serving).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use http::StatusCode;
use switchyard_protocol::openai::ErrorBody;

use super::{AdminError, AdminState};
use crate::reload::{Report, Trigger};

pub async fn reload(State(state): State<Arc<AdminState>>) -> Result<Response, AdminError> {
    let reloader = state.reloader.as_ref().ok_or(AdminError::Unavailable("this process has no config to reload"))?;
    let report = reloader.reload(Trigger::Admin).await;
    let mut body = serde_json::to_value(&report).map_err(|_| AdminError::Unavailable("cannot encode the reload report"))?;
    let status = match &report {
        Report::Reloaded { .. } => StatusCode::OK,
        Report::Rejected { problems } => {
            // Also the `error` object every admin error has, for clients that only read that.
            let message = format!("the config has {} problem(s); the running config is kept (see `problems`)", problems.len());
            let error = ErrorBody::new(message, "invalid_request_error", None, Some("invalid_config".into()));
            body["error"] = serde_json::to_value(error.error).unwrap_or_default();
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    Ok((status, Json(body)).into_response())
}
