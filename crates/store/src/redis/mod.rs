//! Redis, what N instances share and must be fast: counters for limits and budgets (one Lua script
//! per call), response-cache entries, and open circuit breakers. `LazyRedis` wraps the counters
//! and the cache so that a gateway starts while Redis is down and connects when it appears.

mod cache;
mod circuits;
mod counters;
mod lazy;

pub use cache::RedisCache;
pub use circuits::RedisCircuits;
pub use counters::RedisCounters;
pub use lazy::LazyRedis;
