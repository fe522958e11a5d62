//! The settings of keys, limits, budgets and pricing: `database:`, `keys:`, `governance:` and
//! `pricing:`, read and validated on their own.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Mapping;
use switchyard_core::billing::Unpriced;
use switchyard_core::govern::alert::is_email_address;
use switchyard_core::govern::{BudgetsOutage, LimitsOutage};
use switchyard_core::pricing::Price;
use switchyard_core::store::{AlertTargets, Scope};

use super::{redact_url, section, ConfigError, HumanDuration};

/// Where keys, policies and the request log are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` URL (it may hold a password: show it with `Database::describe`).
    Postgres(String),
}

impl Database {
    pub fn parse(url: &str, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        if let Some(p) = url.strip_prefix("sqlite://").filter(|p| !p.is_empty()) {
            return Some(Database::Sqlite(PathBuf::from(p)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(Database::Postgres(url.to_string()));
        }
        errors.push(ConfigError::new(
            path,
            format!("`{}` is not supported; expected sqlite://PATH or postgres://USER@HOST/DB", redact_url(url)),
        ));
        None
    }

    /// For banners and messages: never the password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    /// The HMAC secret keys are hashed under (32+ characters). Instances sharing a database
    /// must share it; without it a single instance keeps one in its data dir.
    secret: Option<String>,
    /// Refuse requests without a valid virtual key.
    require: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LimitsOutageSetting {
    Local,
    Closed,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BudgetsOutageSetting {
    Lease,
    Open,
    Closed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageSection {
    limits: Option<LimitsOutageSetting>,
    budgets: Option<BudgetsOutageSetting>,
    /// With `budgets: lease`: the most of each budget an instance holds in escrow (reserved in
    /// Redis beforehand) to spend alone during an outage, in percent.
    lease_pct: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GovernanceSection {
    #[serde(default)]
    on_redis_outage: OutageSection,
    /// How long Redis may answer nothing at all (to any request or probe) before it counts as
    /// hung and the outage rules apply (default 5s). A slower Redis is waited for (up to this
    /// plus a second, then 503); it no longer decides whether budgets hold (escrows do).
    redis_timeout: Option<HumanDuration>,
    /// Slack-compatible webhook for alerts (`{"text": …}`); the older spelling of `alerts.slack`.
    alert_webhook: Option<String>,
    /// Where alerts go when their budget names no destinations of its own.
    #[serde(default)]
    alerts: AlertsSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsSection {
    /// A generic JSON webhook.
    webhook: Option<String>,
    /// A Slack incoming webhook.
    slack: Option<String>,
    email: Option<EmailSection>,
    /// Destinations per kind of scope (`team: { slack: … }`), between a budget's own and the
    /// default.
    #[serde(default)]
    scopes: std::collections::BTreeMap<String, AlertTargets>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailSection {
    /// `HOST:PORT` of an SMTP server that relays for us (plain SMTP, no login).
    smtp: String,
    from: String,
    /// Default recipients (a budget may name its own).
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum UnpricedSetting {
    Block,
    Estimate,
    Zero,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricingSection {
    unpriced: Option<UnpricedSetting>,
    /// The price charged for unpriced models with `unpriced: estimate`.
    estimate: Option<Price>,
    default_max_output_tokens: Option<u64>,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Governance {
    pub key_secret: Option<String>,
    pub require_keys: bool,
    pub limits_outage: LimitsOutage,
    pub budgets_outage: BudgetsOutage,
    pub redis_timeout: Duration,
    pub alerts: Alerts,
    pub unpriced: Unpriced,
    pub estimate_price: Option<Price>,
    pub default_max_output: Option<u64>,
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            key_secret: None,
            require_keys: false,
            limits_outage: LimitsOutage::default(),
            budgets_outage: BudgetsOutage::default(),
            redis_timeout: DEFAULT_REDIS_TIMEOUT,
            alerts: Alerts::default(),
            unpriced: Unpriced::default(),
            estimate_price: None,
            default_max_output: None,
        }
    }
}

pub const MIN_SECRET_LEN: usize = 32;
/// Silence far past any stall a busy host causes (debug builds on two shared cores went silent
/// for up to 250 ms): only then is Redis taken for hung.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(5);

pub fn read(map: &Mapping, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) -> Governance {
    let keys = section::<KeysSection>(map, "keys", errors).unwrap_or_default();
    let gov = section::<GovernanceSection>(map, "governance", errors).unwrap_or_default();
    let pricing = section::<PricingSection>(map, "pricing", errors).unwrap_or_default();
    let key_secret = keys.secret.or_else(|| env("SWITCHYARD_KEY_SECRET")).filter(|s| !s.is_empty());
    if key_secret.as_ref().is_some_and(|s| s.len() < MIN_SECRET_LEN) {
        errors.push(ConfigError::new(
            "keys.secret",
            format!("must be at least {MIN_SECRET_LEN} characters of random text (e.g. `openssl rand -hex 32`)"),
        ));
    }
    let outage = gov.on_redis_outage;
    let lease_pct = outage.lease_pct.unwrap_or(5.0);
    if !(lease_pct > 0.0 && lease_pct <= 100.0) {
        errors.push(ConfigError::new("governance.on_redis_outage.lease_pct", "must be a percentage above 0 and at most 100"));
    }
    if let Some(t) = gov.redis_timeout {
        if t.0.is_zero() || t.0 > Duration::from_secs(60) {
            errors.push(ConfigError::new("governance.redis_timeout", "must be above 0 and at most 60s"));
        }
    }
    let alerts = read_alerts(gov.alert_webhook, gov.alerts, errors);
    if let Some(p) = &pricing.estimate {
        if let Err(e) = p.check() {
            errors.push(ConfigError::new("pricing.estimate", e.to_string()));
        }
    }
    if pricing.default_max_output_tokens == Some(0) {
        errors.push(ConfigError::new("pricing.default_max_output_tokens", "must be more than 0"));
    }
    Governance {
        key_secret,
        require_keys: keys.require.unwrap_or(false),
        limits_outage: match outage.limits {
            Some(LimitsOutageSetting::Closed) => LimitsOutage::Closed,
            _ => LimitsOutage::Local,
        },
        budgets_outage: match outage.budgets {
            Some(BudgetsOutageSetting::Open) => BudgetsOutage::Open,
            Some(BudgetsOutageSetting::Closed) => BudgetsOutage::Closed,
            _ => BudgetsOutage::Lease { pct: lease_pct },
        },
        redis_timeout: gov.redis_timeout.map_or(DEFAULT_REDIS_TIMEOUT, |t| t.0),
        alerts,
        unpriced: match pricing.unpriced {
            Some(UnpricedSetting::Block) => Unpriced::Block,
            Some(UnpricedSetting::Zero) => Unpriced::Zero,
            _ => Unpriced::Estimate,
        },
        estimate_price: pricing.estimate,
        default_max_output: pricing.default_max_output_tokens,
    }
}

/// Alert destinations: the default ones, and the SMTP server every email alert goes through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    pub targets: AlertTargets,
    /// Replace `targets` for the alerts of one kind of scope.
    pub per_scope: std::collections::BTreeMap<Scope, AlertTargets>,
    pub smtp: Option<Smtp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// `HOST:PORT`.
    pub server: String,
    pub from: String,
}

fn read_alerts(legacy: Option<String>, section: AlertsSection, errors: &mut Vec<ConfigError>) -> Alerts {
    let is_url = |url: &str| url.starts_with("http://") || url.starts_with("https://");
    for (path, url) in [
        ("governance.alert_webhook", &legacy),
        ("governance.alerts.webhook", &section.webhook),
        ("governance.alerts.slack", &section.slack),
    ] {
        if url.as_deref().is_some_and(|u| !is_url(u)) {
            errors.push(ConfigError::new(path, "must be an http:// or https:// URL"));
        }
    }
    if legacy.is_some() && section.slack.is_some() {
        errors.push(ConfigError::new("governance.alert_webhook", "is the older spelling of governance.alerts.slack: set one of them"));
    }
    let mut targets = AlertTargets { webhook: section.webhook, slack: section.slack.or(legacy), email: Vec::new() };
    let smtp = section.email.map(|email| {
        if email.smtp.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
            errors.push(ConfigError::new("governance.alerts.email.smtp", "must be HOST:PORT of an SMTP server"));
        }
        if !is_email_address(&email.from) {
            errors.push(ConfigError::new("governance.alerts.email.from", "must be an email address (name@host)"));
        }
        if !email.to.iter().all(|to| is_email_address(to)) {
            errors.push(ConfigError::new("governance.alerts.email.to", "must be a list of email addresses (name@host)"));
        }
        targets.email = email.to;
        Smtp { server: email.smtp, from: email.from }
    });
    let mut per_scope = std::collections::BTreeMap::new();
    for (name, scoped) in section.scopes {
        let path = format!("governance.alerts.scopes.{name}");
        let Some(scope) = Scope::parse(&name) else {
            errors.push(ConfigError::new(&path, "must be key, team, customer, feature or model"));
            continue;
        };
        if [&scoped.webhook, &scoped.slack].into_iter().flatten().any(|u| !is_url(u)) {
            errors.push(ConfigError::new(&path, "webhook and slack must be http:// or https:// URLs"));
        }
        if !scoped.email.iter().all(|to| is_email_address(to)) {
            errors.push(ConfigError::new(&path, "email must be a list of email addresses (name@host)"));
        }
        per_scope.insert(scope, scoped);
    }
    Alerts { targets, per_scope, smtp }
}
