//! The admin key check in front of every protected route.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use switchyard_core::keys::secrets_equal;

use super::{AdminError, AdminState};

pub async fn require_admin_key(State(state): State<Arc<AdminState>>, request: Request, next: Next) -> Response {
    let presented = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    match presented {
        Some(token) if secrets_equal(&state.admin_key, token) => next.run(request).await,
        _ => AdminError::Unauthorized.into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
