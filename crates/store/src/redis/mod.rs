//! Redis, what N instances share and must be fast: counters for limits and budgets (one Lua script
//! per call) and response-cache entries.

mod cache;
mod counters;

pub use cache::RedisCache;
pub use counters::RedisCounters;
