//! Admin API errors and their HTTP form: OpenAI's error shape, like the gateway's. Store failures
//! are logged here with their detail and answered with a generic message.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use switchyard_core::store::StoreError;
use switchyard_protocol::openai::ErrorBody;

#[derive(Debug)]
pub enum AdminError {
    Unauthorized,
    /// A bad field or query parameter; `param` names it (`budget.usd`, `from`).
    Invalid {
        param: Option<String>,
        message: String,
    },
    NotFound(String),
    Conflict(String),
    Store(StoreError),
    /// Something on this server failed (already logged); the message says what to do.
    Unavailable(&'static str),
    NoSuchEndpoint {
        method: String,
        path: String,
    },
    MethodNotAllowed,
}

impl AdminError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        AdminError::Invalid { param: Some(param.into()), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) | AdminError::NoSuchEndpoint { .. } => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            // A database server error is mostly an unreachable server: worth a retry.
            AdminError::Store(StoreError::Server(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let invalid = "invalid_request_error";
        let code = |c: &str| Some(c.to_string());
        match self {
            AdminError::Unauthorized => ErrorBody::new(
                "missing or wrong admin key; send Authorization: Bearer <admin key>",
                "authentication_error",
                None,
                code("invalid_admin_key"),
            ),
            AdminError::Invalid { param, message } => ErrorBody::new(message.clone(), invalid, param.clone(), None),
            AdminError::NotFound(message) => ErrorBody::new(message.clone(), invalid, None, code("not_found")),
            AdminError::Conflict(message) => ErrorBody::new(message.clone(), invalid, None, code("conflict")),
            AdminError::Store(_) => {
                ErrorBody::new("the governance store failed; the server log has the details", "server_error", None, code("store_error"))
            }
            AdminError::Unavailable(message) => ErrorBody::new(*message, "server_error", None, code("unavailable")),
            AdminError::NoSuchEndpoint { method, path } => ErrorBody::new(
                format!("no admin endpoint {method} {path}; see GET /admin/openapi.json"),
                invalid,
                None,
                code("unknown_url"),
            ),
            AdminError::MethodNotAllowed => {
                ErrorBody::new("method not allowed on this endpoint", invalid, None, code("method_not_allowed"))
            }
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => AdminError::Conflict(message),
            e => AdminError::Store(e),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if let AdminError::Store(e) = &self {
            tracing::error!(error = %e, "admin API: governance store call failed");
        }
        let mut response = (self.status(), [(header::CONTENT_TYPE, "application/json")], self.body().to_json()).into_response();
        if matches!(self, AdminError::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
