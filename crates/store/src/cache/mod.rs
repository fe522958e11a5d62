//! Response-cache storage: opaque bytes under keys the caller has already hashed and scoped to
//! one tenant. `MemoryCache` (one process, bounded by bytes) by default; `RedisCache` (shared by
//! every instance, values compressed, expiry kept by Redis) when configured.

mod memory;
mod redis;

pub use memory::MemoryCache;
pub use redis::RedisCache;
