//! Step `admit`: who is calling (`auth`) and whether they may — rate limits (RPM and TPM as token
//! buckets, optionally queued for), concurrency and budgets, per key, team, customer, feature and
//! model. Budgets are enforced by reserve-then-settle: the worst case of a request is reserved
//! atomically before it is sent and replaced by its real cost when it ends, so that any number of
//! instances sharing the counters overshoot a budget by at most one request's worst case.

pub mod alert;
pub mod auth;
mod escrow;
mod governor;
mod items;
pub mod names;
mod queue;
mod shared;
#[cfg(test)]
mod slow_tests;
mod ticket;

pub use alert::{Alert, AlertKind, AlertSink, MonitorFacts};
pub use auth::{AuthError, Caller, KeyCache, Lookup};
pub use governor::{Admission, Ask, BudgetsOutage, Governor, GovernorConfig, LimitsOutage, Refusal, SpendSource};
pub use items::{Scoped, WorstCase};
pub use names::Unit;
pub use ticket::Ticket;
