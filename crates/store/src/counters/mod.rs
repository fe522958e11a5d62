//! Counters that must be shared and fast: rate limits (GCRA), concurrency slots (leases) and
//! budget reservations. One atomic `admit` call checks and takes everything a request needs,
//! all or nothing, and one `settle` call gives back or tops up what was taken. In memory for one
//! instance; on Redis (one Lua script per call, so one round trip) for many.
//!
//! Budget accounting per window key `K`: a settled total (integer units: nano-dollars or tokens)
//! plus live reservations, each with an expiry. Admission requires
//! `settled + live reservations + amount <= limit`. A reservation that is never settled (its
//! instance died) expires, so it cannot become phantom spend. A settled total that does not exist
//! (new window, or a Redis that restarted empty) is reported as `Unseeded` rather than taken as 0:
//! the caller seeds it from the durable request log with `seed` and asks again.
//!
//! Items are checked in order (rates, then slots, then budgets) and the first that fails is the
//! verdict. A key may appear twice in one call; the second item sees what the first would take.
//! A `lease_id` names one admission: reuse across admissions is not supported.

mod gcra;
mod memory;
mod redis;

pub use self::memory::MemoryCounters;
pub use self::redis::RedisCounters;
