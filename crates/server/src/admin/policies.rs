//! `/admin/budgets` and `/admin/limits`: the budget and limits of a team, customer, feature or
//! model. Both live in one policy; writing one keeps the other.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;
use switchyard_core::store::{Budget, Limits, Policy, Scope};
use switchyard_core::time::{now_ms, rfc3339};

use super::input::{check_budget, check_limits, parse_json, policy_scope};
use super::{AdminError, AdminState, Spent};

/// A policy as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    scope: Scope,
    name: String,
    budget: Option<Budget>,
    limits: Limits,
    updated_at: String,
}

impl From<Policy> for PolicyView {
    fn from(p: Policy) -> Self {
        Self { scope: p.scope, name: p.name, budget: p.budget, limits: p.limits, updated_at: rfc3339(p.updated_at_ms) }
    }
}

#[derive(Debug, Serialize)]
pub struct PolicyList {
    policies: Vec<PolicyView>,
}

pub async fn list(State(state): State<Arc<AdminState>>) -> Result<Json<PolicyList>, AdminError> {
    let policies = state.store.list_policies().await?;
    Ok(Json(PolicyList { policies: policies.into_iter().map(PolicyView::from).collect() }))
}

/// A budget with what its scope has spent in the current window.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    scope: Scope,
    name: String,
    budget: Budget,
    spent: Spent,
    /// Start of the current window; `null` for `total`.
    window_start: Option<String>,
    updated_at: String,
}

pub async fn put_budget(
    State(state): State<Arc<AdminState>>,
    Path((scope, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<PolicyView>, AdminError> {
    let scope = policy_scope(&scope)?;
    let budget: Budget = parse_json(&body)?;
    check_budget(&budget, "")?;
    update(&state, scope, name, |p| p.budget = Some(budget)).await
}

pub async fn put_limits(
    State(state): State<Arc<AdminState>>,
    Path((scope, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<PolicyView>, AdminError> {
    let scope = policy_scope(&scope)?;
    let limits: Limits = parse_json(&body)?;
    check_limits(&limits, "")?;
    update(&state, scope, name, |p| p.limits = limits).await
}

/// Reads the policy (or starts an empty one), changes one part, stores it.
async fn update(state: &AdminState, scope: Scope, name: String, change: impl FnOnce(&mut Policy)) -> Result<Json<PolicyView>, AdminError> {
    if name.trim().is_empty() {
        return Err(AdminError::invalid("name", "must not be empty"));
    }
    let now = now_ms();
    let mut policy = state.store.get_policy(scope, &name).await?.unwrap_or(Policy {
        scope,
        name,
        budget: None,
        limits: Limits::default(),
        updated_at_ms: now,
        seq: 0,
    });
    change(&mut policy);
    policy.updated_at_ms = now;
    let stored = state.store.put_policy(policy).await?;
    state.changed();
    Ok(Json(stored.into()))
}

pub async fn get_budget(
    State(state): State<Arc<AdminState>>,
    Path((scope, name)): Path<(String, String)>,
) -> Result<Json<BudgetView>, AdminError> {
    let scope = policy_scope(&scope)?;
    let policy = state.store.get_policy(scope, &name).await?;
    let Some((policy, budget)) = policy.and_then(|p| p.budget.clone().map(|b| (p, b))) else {
        return Err(AdminError::NotFound(format!("no budget set for {} `{name}`", scope.as_str())));
    };
    let spent = state.spent.spent(scope, &name, budget.window, now_ms()).await?;
    Ok(Json(BudgetView {
        scope,
        name,
        window_start: spent.since_ms.map(rfc3339),
        budget,
        spent,
        updated_at: rfc3339(policy.updated_at_ms),
    }))
}

#[derive(Debug, Serialize)]
pub struct LimitsView {
    scope: Scope,
    name: String,
    limits: Limits,
}

pub async fn get_limits(
    State(state): State<Arc<AdminState>>,
    Path((scope, name)): Path<(String, String)>,
) -> Result<Json<LimitsView>, AdminError> {
    let scope = policy_scope(&scope)?;
    match state.store.get_policy(scope, &name).await? {
        Some(policy) if !policy.limits.is_empty() => Ok(Json(LimitsView { scope, name, limits: policy.limits })),
        _ => Err(AdminError::NotFound(format!("no limits set for {} `{name}`", scope.as_str()))),
    }
}
