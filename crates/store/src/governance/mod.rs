//! Governance data that must last: virtual keys, the budgets and limits set per team, customer or
//! feature (`Policy`), and spend read back from the request log. One trait, `GovernanceStore`,
//! with SQLite and PostgreSQL implementations that pass one contract suite.
//!
//! Gateway instances keep keys and policies in memory and follow changes with `changes_since`,
//! a cheap indexed query on a change sequence, so that the request path never waits on the
//! database and a database outage leaves known keys working.

mod postgres;
mod sqlite;

pub use postgres::PostgresGovernance;
pub use sqlite::SqliteGovernance;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A virtual key as stored: never the key itself, only its keyed hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// `key_` + UUIDv7, assigned by the caller.
    pub id: String,
    /// The key's public prefix (`sy-` + 8 characters), unique: how a presented key is found.
    pub prefix: String,
    /// HMAC-SHA256 of the whole key under the server's key secret (32 bytes).
    pub hash: Vec<u8>,
    pub name: String,
    pub team: Option<String>,
    pub customer: Option<String>,
    /// Models (aliases or `provider/model`) the key may call; empty means all.
    #[serde(default)]
    pub models: Vec<String>,
    pub expires_at_ms: Option<i64>,
    #[serde(default)]
    pub limits: Limits,
    pub budget: Option<Budget>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    /// Change sequence, assigned by the store on every insert and update; increases across the
    /// whole store (keys and policies share one sequence).
    #[serde(default)]
    pub seq: i64,
}

/// Rate limits of one scope; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.concurrency.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The UTC calendar day.
    Daily,
    /// The UTC calendar month.
    Monthly,
    /// Since the budget was set; never resets.
    Total,
}

/// A spending cap in US dollars or tokens over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    pub window: Window,
    /// Percent of the budget at which the soft-cap alert fires (once per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_pct: Option<f64>,
    /// Above `downgrade_pct` percent of the budget, requests go to this (cheaper) model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_pct: Option<f64>,
}

/// What a budget or limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Key,
    Team,
    Customer,
    Feature,
    Model,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::Key, Scope::Team, Scope::Customer, Scope::Feature, Scope::Model];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Team => "team",
            Scope::Customer => "customer",
            Scope::Feature => "feature",
            Scope::Model => "model",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The budget and limits of one team, customer, feature or model, set through the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub scope: Scope,
    pub name: String,
    pub budget: Option<Budget>,
    #[serde(default)]
    pub limits: Limits,
    pub updated_at_ms: i64,
    /// Assigned by the store (shared sequence with keys).
    #[serde(default)]
    pub seq: i64,
}

/// Everything that changed after a sequence number, and the newest sequence seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub keys: Vec<KeyRecord>,
    pub policies: Vec<Policy>,
    /// The highest `seq` in this answer, or the `since` asked for when nothing changed.
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Key,
    Team,
    Customer,
    Feature,
    Model,
    Provider,
    /// UTC calendar day, `YYYY-MM-DD`.
    Day,
}

/// Filters over the request log; every `Some` must match. Times are Unix ms, `from` inclusive,
/// `to` exclusive. `model` matches the requested or the served model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendQuery {
    pub key: Option<String>,
    pub team: Option<String>,
    pub customer: Option<String>,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub group_by: Option<GroupBy>,
}

impl SpendQuery {
    /// Everything one key, team, customer, feature or model spent since `from_ms`.
    pub fn for_scope(scope: Scope, name: &str, from_ms: Option<i64>) -> Self {
        let mut query = SpendQuery { from_ms, ..SpendQuery::default() };
        let field = match scope {
            Scope::Key => &mut query.key,
            Scope::Team => &mut query.team,
            Scope::Customer => &mut query.customer,
            Scope::Feature => &mut query.feature,
            Scope::Model => &mut query.model,
        };
        *field = Some(name.to_string());
        query
    }
}

/// One row of a spend answer: the totals of one group (or of everything without `group_by`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// The group's value; `None` without `group_by` and for records without that field.
    pub group: Option<String>,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// What cache hits would have cost upstream.
    pub cache_saved_usd: f64,
}

/// Keys, policies and spend. Implementations are cheap to share (`Arc` inside) and safe to call
/// from many tasks; none of these calls is made on the request path.
#[async_trait::async_trait]
pub trait GovernanceStore: Send + Sync + 'static {
    /// Stores a new key; a duplicate id or prefix is an error. Returns it with its `seq`.
    async fn create_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError>;
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// All keys, revoked ones included, oldest first.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Marks a key revoked (keeps the first revocation time). `None` when there is no such key.
    async fn revoke_key(&self, id: &str, at_ms: i64) -> Result<Option<KeyRecord>, StoreError>;
    /// Inserts or replaces the policy of (scope, name). Returns it with its new `seq`.
    async fn put_policy(&self, policy: Policy) -> Result<Policy, StoreError>;
    async fn get_policy(&self, scope: Scope, name: &str) -> Result<Option<Policy>, StoreError>;
    async fn list_policies(&self) -> Result<Vec<Policy>, StoreError>;
    /// Keys and policies whose `seq` is greater than `since`.
    async fn changes_since(&self, since: i64) -> Result<Changes, StoreError>;
    /// Totals from the request log.
    async fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError>;
}
