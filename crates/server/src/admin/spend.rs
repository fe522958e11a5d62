//! `GET /admin/spend`: the usage and cost report from the request log, filtered, grouped by any
//! number of dimensions, with a totals row over everything the filters matched.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use switchyard_core::store::{GroupBy, SpendQuery, SpendRow};
use switchyard_core::time::now_ms;

use super::input::instant;
use super::{AdminError, AdminState};

const PARAMETERS: &str = "key, team, customer, feature, model, from, to, last or group_by";

#[derive(Debug, Serialize)]
pub struct SpendAnswer {
    /// The grouped dimensions in the order asked (the keys of each row's `group`).
    group_by: Vec<String>,
    /// One row per group, most expensive first (one row without `group_by`).
    rows: Vec<SpendRow>,
    /// Everything the filters matched, as one row with an empty `group`.
    total: SpendRow,
}

pub async fn query(
    State(state): State<Arc<AdminState>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Json<SpendAnswer>, AdminError> {
    let query = spend_query(&params, now_ms())?;
    let rows = state.store.spend(&query).await?;
    let total = match (query.group_by.is_empty(), rows.first()) {
        (true, Some(only)) => only.clone(),
        _ => {
            let all = SpendQuery { group_by: Vec::new(), ..query.clone() };
            state.store.spend(&all).await?.into_iter().next().unwrap_or_default()
        }
    };
    let group_by = query.group_by.iter().map(GroupBy::name).collect();
    Ok(Json(SpendAnswer { group_by, rows, total }))
}

/// The query parameters as a `SpendQuery` (`last` counts back from `now_ms`); an unknown
/// parameter or group, or a bad value, is refused naming it.
pub fn spend_query(params: &BTreeMap<String, String>, now_ms: i64) -> Result<SpendQuery, AdminError> {
    let mut query = SpendQuery { percentiles: true, ..SpendQuery::default() };
    let mut last = None;
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
            "last" => last = value.map(window_ms).transpose()?,
            "group_by" => query.group_by = value.map(group_by).transpose()?.unwrap_or_default(),
            other => return Err(AdminError::invalid(other, format!("unknown parameter `{other}`; expected {PARAMETERS}"))),
        }
    }
    if let Some(window) = last {
        if query.from_ms.is_some() {
            return Err(AdminError::invalid("last", "give either last or from, not both"));
        }
        query.from_ms = Some(query.to_ms.unwrap_or(now_ms) - window);
    }
    if let (Some(from), Some(to)) = (query.from_ms, query.to_ms) {
        if from >= to {
            return Err(AdminError::invalid("to", "must be later than from"));
        }
    }
    Ok(query)
}

/// `model,feature` → the groups in order; each named at most once.
fn group_by(text: &str) -> Result<Vec<GroupBy>, AdminError> {
    let mut groups: Vec<GroupBy> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let group = match (name, GroupBy::parse(name)) {
            (_, Some(group)) => group,
            ("prompt", None) => {
                return Err(AdminError::invalid(
                    "group_by",
                    "group `prompt` is not available: the request log does not record prompt ids yet",
                ))
            }
            (_, None) => return Err(AdminError::invalid("group_by", format!("unknown group `{name}`; expected {}", GroupBy::NAMES))),
        };
        if groups.contains(&group) {
            return Err(AdminError::invalid("group_by", format!("group `{name}` is named twice")));
        }
        groups.push(group);
    }
    Ok(groups)
}

/// `15m`, `24h`, `7d` (also `30s`) in milliseconds.
fn window_ms(text: &str) -> Result<i64, AdminError> {
    let refuse =
        || AdminError::invalid("last", format!("`{text}` is not a window; expected a number and s, m, h or d, like 15m, 24h or 7d"));
    let unit_ms = match text.chars().last() {
        Some('s') => 1_000,
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        _ => return Err(refuse()),
    };
    let count: i64 = text[..text.len() - 1].parse().map_err(|_| refuse())?;
    if count <= 0 || count > 3650 * 86_400_000 / unit_ms {
        return Err(refuse());
    }
    Ok(count * unit_ms)
}
