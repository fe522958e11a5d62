//! The domain types that are stored and the storage traits (ports) the pipeline calls: the request
//! log (`LogSink`, `LogHandle` for the request path, and `LogSearch` to find records), keys, policies and spend
//! (`GovernanceStore`), shared counters for limits and budgets (`CounterStore`), response-cache
//! entries (`CacheStore`), the semantic cache's vectors (`VectorIndex`) and the Responses API's
//! stored responses (`ResponseStore`). `switchyard-store`
//! implements them per backend (memory, SQLite, PostgreSQL, Redis); nothing here names an engine.

mod cache;
mod counters;
mod error;
mod governance;
mod log;
mod log_search;
mod policy;
mod responses;
mod vectors;

pub use cache::CacheStore;
pub use counters::{
    check_ttl, Admit, BudgetItem, BudgetSettle, CounterStore, EscrowAsk, RateAdjust, RateItem, RateState, Settle, SlotItem, Verdict,
    SETTLE_MEMORY_MS,
};
pub use error::StoreError;
pub use governance::{Admitted, Changes, GovernanceStore, GroupBy, SpendQuery, SpendRow};
pub use log::{AttemptDetail, AttemptError, LogHandle, LogQuery, LogRecord, LogSink, LogStatus, LogSubmit};
pub use log_search::{LogCursor, LogFilter, LogPage, LogSearch, StatusFilter};
pub use policy::{AlertTargets, Budget, KeyRecord, Limits, Policy, Scope, Window};
pub use responses::{ResponseStore, StoredResponse};
pub use vectors::VectorIndex;
