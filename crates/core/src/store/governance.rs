//! The governance store: keys, policies and spend that must last. Gateway instances keep keys and
//! policies in memory and follow changes with `changes_since`, a cheap indexed query on a change
//! sequence, so that the request path never waits on the database and a database outage leaves
//! known keys working.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{KeyRecord, Policy, Scope, StoreError};

/// Everything that changed after a sequence number, and the newest sequence seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub keys: Vec<KeyRecord>,
    pub policies: Vec<Policy>,
    /// The highest `seq` in this answer, or the `since` asked for when nothing changed.
    pub seq: i64,
}

/// One dimension of a spend report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Key,
    Team,
    Customer,
    Feature,
    Model,
    Provider,
    /// UTC calendar day, `YYYY-MM-DD`.
    Day,
    /// UTC hour, `YYYY-MM-DDTHH:00Z`.
    Hour,
    /// One request-metadata key's value (`metadata.<key>`).
    Metadata(String),
}

impl GroupBy {
    /// The names `group_by` accepts, for error messages.
    pub const NAMES: &'static str = "key, team, customer, feature, model, provider, day, hour or metadata.<key>";

    /// `model`, `day`, `metadata.tier`, …; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "key" => GroupBy::Key,
            "team" => GroupBy::Team,
            "customer" => GroupBy::Customer,
            "feature" => GroupBy::Feature,
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            "day" => GroupBy::Day,
            "hour" => GroupBy::Hour,
            other => match other.strip_prefix("metadata.") {
                Some(key) if !key.is_empty() => GroupBy::Metadata(key.to_string()),
                _ => return None,
            },
        })
    }

    /// The name of this dimension in a row's `group` object (what `parse` reads).
    pub fn name(&self) -> String {
        match self {
            GroupBy::Key => "key".into(),
            GroupBy::Team => "team".into(),
            GroupBy::Customer => "customer".into(),
            GroupBy::Feature => "feature".into(),
            GroupBy::Model => "model".into(),
            GroupBy::Provider => "provider".into(),
            GroupBy::Day => "day".into(),
            GroupBy::Hour => "hour".into(),
            GroupBy::Metadata(key) => format!("metadata.{key}"),
        }
    }
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
    /// The dimensions to group by, in order; empty: one row over everything.
    pub group_by: Vec<GroupBy>,
    /// Compute the latency and ttft percentiles (a sort per group); `false` leaves them `None`
    /// and keeps the statement a plain aggregate, which is what budget bookkeeping asks.
    pub percentiles: bool,
    /// Only requests that were admitted (what a request cap counts): those sent upstream, and
    /// cache hits when `Admitted::WithHits`. `None`: every request logged, refusals included.
    pub admitted: Option<Admitted>,
}

/// Which logged requests passed admission (see `SpendQuery::admitted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Sent upstream (cache hits skip admission).
    Served,
    /// Sent upstream or answered from the cache (`cache.count_hits`: hits are admitted too).
    WithHits,
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
/// Percentiles are nearest-rank (the smallest value with at least p% of the group at or below it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// Each grouped dimension's value by name (`{"model": "gpt-4o", "metadata.tier": null}`);
    /// empty without `group_by`. `null` for records without that field.
    pub group: BTreeMap<String, Option<String>>,
    pub requests: u64,
    /// Requests that failed (`outcome` `error`, or a stream cut after it started).
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
    /// Requests answered from the response cache (exact or semantic).
    pub cache_hits: u64,
    /// `cache_hits / requests`; 0 without requests.
    pub cache_hit_rate: f64,
    /// What cache hits would have cost upstream.
    pub cache_saved_usd: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Over the requests that have a time to first token (streams).
    pub ttft_p50_ms: Option<f64>,
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
