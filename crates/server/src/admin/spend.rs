//! `GET /admin/spend`: totals from the request log, filtered and optionally grouped.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use switchyard_core::store::{GroupBy, SpendQuery, SpendRow};

use super::input::instant;
use super::{AdminError, AdminState};

const GROUPS: &str = "key, team, customer, feature, model, provider or day";

#[derive(Debug, Serialize)]
pub struct SpendAnswer {
    rows: Vec<SpendRow>,
}

pub async fn query(
    State(state): State<Arc<AdminState>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Json<SpendAnswer>, AdminError> {
    let query = spend_query(&params)?;
    Ok(Json(SpendAnswer { rows: state.store.spend(&query).await? }))
}

/// The query parameters as a `SpendQuery`; an unknown parameter or a bad value is refused.
pub fn spend_query(params: &BTreeMap<String, String>) -> Result<SpendQuery, AdminError> {
    let mut query = SpendQuery::default();
    for (name, value) in params {
        // Empty values (`?team=`) are what a form sends for "no filter".
        let value = Some(value.trim()).filter(|v| !v.is_empty());
        match name.as_str() {
            "key" => query.key = value.map(str::to_string),
            "team" => query.team = value.map(str::to_string),
            "customer" => query.customer = value.map(str::to_string),
            "feature" => query.feature = value.map(str::to_string),
            "model" => query.model = value.map(str::to_string),
            "from" => query.from_ms = value.map(|v| instant(v, "from")).transpose()?,
            "to" => query.to_ms = value.map(|v| instant(v, "to")).transpose()?,
            "group_by" => query.group_by = value.map(group_by).transpose()?,
            other => {
                return Err(AdminError::invalid(
                    other,
                    format!("unknown parameter `{other}`; expected key, team, customer, feature, model, from, to or group_by"),
                ))
            }
        }
    }
    if let (Some(from), Some(to)) = (query.from_ms, query.to_ms) {
        if from >= to {
            return Err(AdminError::invalid("to", "must be later than from"));
        }
    }
    Ok(query)
}

fn group_by(text: &str) -> Result<GroupBy, AdminError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| AdminError::invalid("group_by", format!("unknown group `{text}`; expected {GROUPS}")))
}
