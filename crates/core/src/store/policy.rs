//! What governance stores: virtual keys, the budgets and limits set per key, team, customer,
//! feature or model (`Policy`), and the scopes and windows they apply to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// Rate limits of one scope; `None` is unlimited. `rpm` and `tpm` are token buckets: a fresh
/// scope may use a whole minute's worth at once, refilled continuously at the limit / 60 per second.
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
    /// Requests that may be made at once (the `rpm` bucket's capacity, default `rpm`); 1 is a
    /// smooth rate of one request every 60 / rpm seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// Tokens that may be used at once (the `tpm` bucket's capacity, default `tpm`); a request
    /// needing more is refused as too large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_burst: Option<u64>,
    /// How long a request over `rpm` or `tpm` may wait for the bucket to refill instead of being
    /// refused at once (`10s`, `500ms`); never past the request's own deadline.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub queue: Option<std::time::Duration>,
}

/// The largest `rpm` or `tpm`: the shared counters count a minute of it in ticks of 1/limit ms,
/// exactly only below 2^53 (Lua's doubles).
pub const MAX_RATE: u64 = 100_000_000_000;
/// The longest `queue`: no request may take longer than this anyway.
pub const MAX_QUEUE: std::time::Duration = std::time::Duration::from_secs(600);

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.concurrency.is_none()
    }

    /// The first setting that makes no sense, as (field, why): the admin API and the config
    /// file refuse the same limits.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in [("rpm", self.rpm), ("tpm", self.tpm), ("concurrency", self.concurrency)] {
            if value == Some(0) {
                return Err((field, "must be at least 1 (leave it out for no limit)".into()));
            }
        }
        for (field, value) in [("rpm", self.rpm), ("tpm", self.tpm)] {
            if value.is_some_and(|v| v > MAX_RATE) {
                return Err((field, format!("must be at most {MAX_RATE}")));
            }
        }
        for (field, burst, of, limit) in [("burst", self.burst, "rpm", self.rpm), ("tpm_burst", self.tpm_burst, "tpm", self.tpm)] {
            match (burst, limit) {
                (None, _) => {}
                (Some(_), None) => return Err((field, format!("needs {of}, the limit whose bucket it sizes"))),
                (Some(b), Some(l)) if b == 0 || b > l => return Err((field, format!("must be from 1 to {of} ({l})"))),
                (Some(_), Some(_)) => {}
            }
        }
        match self.queue {
            Some(_) if self.rpm.is_none() && self.tpm.is_none() => {
                Err(("queue", "needs rpm or tpm, the limits a request waits for".into()))
            }
            Some(q) if q.is_zero() || q > MAX_QUEUE => Err(("queue", format!("must be above 0 and at most {}s", MAX_QUEUE.as_secs()))),
            _ => Ok(()),
        }
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

/// A cap over a window: spending in US dollars or tokens, and/or a number of requests (each
/// admitted request counts once, whatever its retries and fallbacks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    pub window: Window,
    /// Percent of the budget at which the soft-cap alert fires (once per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_pct: Option<f64>,
    /// Above `downgrade_pct` percent of the budget, requests go to this (cheaper) model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_pct: Option<f64>,
    /// Where this budget's alerts go instead of `governance.alerts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertTargets>,
}

/// Destinations of alerts (soft cap reached, hard cap refusing, rate limit saturated). Email
/// goes through the SMTP server of the config (`governance.alerts.email`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTargets {
    /// A generic JSON webhook: the alert as an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// A Slack incoming webhook: `{"text": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<String>,
    /// Email recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
}

impl AlertTargets {
    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && self.slack.is_none() && self.email.is_empty()
    }
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
