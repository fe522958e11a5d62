//! Stores in this process's memory: the default for one instance (`MemoryCache`,
//! `MemoryCounters`) and the request log's test sink (`MemoryLog`).

mod cache;
mod counters;
mod gcra;
mod log;
mod responses;

pub use cache::MemoryCache;
pub use counters::MemoryCounters;
pub use log::MemoryLog;
pub use responses::MemoryResponses;
