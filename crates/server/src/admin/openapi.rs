//! `GET /admin/openapi.json`: the hand-written OpenAPI 3.1 description of the admin API, served
//! as it is. A test checks that it lists exactly the routes of `endpoints()`.

use axum::response::IntoResponse;
use http::header;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
