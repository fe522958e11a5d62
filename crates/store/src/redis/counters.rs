//! `CounterStore` on Redis, shared by every gateway instance. `admit`, `settle` and
//! `budget_used` are each one Lua script (EVALSHA, falling back to EVAL once per connection
//! after a Redis restart), so each is one round trip and atomic across instances.
//!
//! Time is Redis server time (`TIME` inside the scripts), not the caller's `now_ms`, so instances
//! whose clocks disagree still agree on rate windows and lease expiry.
//!
//! Key layout, for a key `K` chosen by the caller (values are integers, never floats):
//! - rate `K`: string `"<tat_ms>:<frac>"`, the GCRA theoretical arrival time in ms plus a fraction
//!   in ticks of `1/limit` ms (see `gcra.rs`); expires when the TAT is reached.
//! - slot `K`: ZSET lease id → expiry ms; its TTL is kept at least as long as its longest lease.
//! - budget `K`: the settled total; `K:r` ZSET lease id → reservation expiry ms; `K:ra` HASH
//!   lease id → reserved amount; all three refreshed to `ttl_ms` on every admission.
//!   `K:s:<lease id>`: marks a settled lease, until its reservation would have expired plus
//!   `SETTLE_MEMORY_MS`, so a repeated settle adds nothing.
//!   `K:e`: HASH holder -> amount of the outage escrows held among those reservations (lease id
//!   = the holder, one per instance); `K:sq`: set for two seconds when an admission found the
//!   budget held by escrows, so that every holder drops its escrow (see `escrow.lua`).
//! - once `K`: `"1"` for `ttl_ms`.
//!
//! Each call passes all its keys in `KEYS[]`. Redis Cluster would also need the keys of one call
//! in one hash slot (callers would wrap a shared part in `{…}`); that is not done here.
//! Lua counts in doubles: exact while budgets stay below 2^53 units (about $9M in nano-dollars)
//! and `burst × period_ms` below 2^53.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{from_redis_value, RedisError, Script, Value};
use switchyard_core::store::{check_ttl, Admit, CounterStore, EscrowAsk, RateState, Settle, StoreError, Verdict, SETTLE_MEMORY_MS};

const COMMON: &str = include_str!("lua/common.lua");

struct Scripts {
    admit: Script,
    settle: Script,
    budget_used: Script,
    escrow: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
    Scripts {
        admit: script(include_str!("lua/admit.lua")),
        settle: script(include_str!("lua/settle.lua")),
        budget_used: script(include_str!("lua/budget_used.lua")),
        escrow: script(include_str!("lua/escrow.lua")),
    }
});

#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
}

impl RedisCounters {
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Connects to `url` (`redis://…`), giving up after `timeout`; every later command also
    /// fails after `timeout` instead of waiting on a Redis that stopped answering.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url).map_err(redis_error)?;
        // Named by host:port only: the URL may hold a password.
        let server = client.get_connection_info().addr.to_string();
        let config = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout).set_number_of_retries(1);
        let conn = tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreError::Other(format!("redis counters: no connection to {server} within {timeout:?}")))?
            .map_err(redis_error)?;
        Ok(Self::new(conn))
    }
}

/// A Redis that did not answer in time may only be slow: `TimedOut`, which the governor waits
/// for instead of taking it for an outage (a refused, reset or closed connection).
fn redis_error(e: RedisError) -> StoreError {
    if e.is_timeout() {
        return StoreError::TimedOut(format!("redis counters: {e}"));
    }
    StoreError::Other(format!("redis counters: {e}"))
}

impl RedisCounters {
    async fn escrow_call(&self, ask: &EscrowAsk, mode: &str) -> Result<(i64, i64), StoreError> {
        check_ttl(&ask.key, ask.ttl_ms)?;
        let mut call = SCRIPTS.escrow.prepare_invoke();
        call.key(&budget_keys(&ask.key)[..]).key(format!("{}:e", ask.key)).key(format!("{}:sq", ask.key));
        call.arg(&ask.holder).arg(mode).arg(ask.limit).arg(ask.want).arg(ask.unit).arg(ask.hold_ms).arg(ask.ttl_ms);
        call.invoke_async(&mut self.conn.clone()).await.map_err(redis_error)
    }
}

fn budget_keys(key: &str) -> [String; 3] {
    [key.to_string(), format!("{key}:r"), format!("{key}:ra")]
}

#[async_trait::async_trait]
impl CounterStore for RedisCounters {
    async fn admit(&self, admit: &Admit) -> Result<Verdict, StoreError> {
        admit.validate()?;
        let mut call = SCRIPTS.admit.prepare_invoke();
        call.arg(&admit.lease_id).arg(admit.lease_ms).arg(admit.rates.len()).arg(admit.slots.len()).arg(admit.budgets.len());
        for r in &admit.rates {
            call.key(&r.key).arg(r.limit).arg(r.period_ms).arg(r.burst).arg(r.cost);
        }
        for s in &admit.slots {
            call.key(&s.key).arg(s.max);
        }
        for b in &admit.budgets {
            call.key(&budget_keys(&b.key)[..]).arg(b.limit).arg(b.amount).arg(b.ttl_ms);
        }
        let reply: Vec<Value> = call.invoke_async(&mut self.conn.clone()).await.map_err(redis_error)?;
        verdict(&reply).map_err(redis_error)
    }

    async fn settle(&self, settle: &Settle) -> Result<(), StoreError> {
        settle.validate()?;
        let mut call = SCRIPTS.settle.prepare_invoke();
        call.arg(&settle.lease_id).arg(SETTLE_MEMORY_MS).arg(settle.rates.len()).arg(settle.slots.len()).arg(settle.budgets.len());
        for r in &settle.rates {
            call.key(&r.key).arg(r.limit).arg(r.period_ms).arg(r.burst).arg(r.delta);
        }
        for key in &settle.slots {
            call.key(key);
        }
        for b in &settle.budgets {
            call.key(&budget_keys(&b.key)[..])
                .key(format!("{}:s:{}", b.key, settle.lease_id))
                .arg(b.actual)
                .arg(b.ttl_ms)
                .arg(u8::from(b.reserved));
        }
        call.invoke_async::<()>(&mut self.conn.clone()).await.map_err(redis_error)
    }

    async fn seed(&self, key: &str, value: i64, ttl_ms: u64) -> Result<i64, StoreError> {
        check_ttl(key, ttl_ms)?;
        let (total,): (i64,) = ::redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .ignore()
            .cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(total)
    }

    async fn budget_used(&self, key: &str, _now_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut call = SCRIPTS.budget_used.prepare_invoke();
        call.key(&budget_keys(key)[..]);
        call.invoke_async(&mut self.conn.clone()).await.map_err(redis_error)
    }

    async fn once(&self, key: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        check_ttl(key, ttl_ms)?;
        let set: Option<String> = ::redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(set.is_some())
    }

    async fn escrow(&self, ask: &EscrowAsk) -> Result<Option<i64>, StoreError> {
        let (granted, _) = self.escrow_call(ask, "grant").await?;
        Ok((granted >= 0).then_some(granted))
    }

    async fn squeeze(&self, ask: &EscrowAsk) -> Result<bool, StoreError> {
        Ok(self.escrow_call(ask, "squeeze").await?.0 == 1)
    }
}

/// Decodes the reply of `admit.lua` (its header comment gives the shapes).
fn verdict(reply: &[Value]) -> Result<Verdict, RedisError> {
    let int = |i: usize| -> Result<i64, RedisError> { from_redis_value(reply.get(i).unwrap_or(&Value::Nil)) };
    let index = || int(1).map(|i| i as usize);
    Ok(match int(0)? {
        0 => {
            let flat: Vec<u64> = from_redis_value(reply.get(1).unwrap_or(&Value::Nil))?;
            let rates = flat.chunks_exact(2).map(|s| RateState { remaining: s[0], reset_ms: s[1] }).collect();
            Verdict::Admitted { rates, budgets: from_redis_value(reply.get(2).unwrap_or(&Value::Nil))? }
        }
        1 => Verdict::RateLimited {
            index: index()?,
            retry_after_ms: int(2)? as u64,
            state: RateState { remaining: int(3)? as u64, reset_ms: int(4)? as u64 },
        },
        2 => Verdict::Busy { index: index()? },
        3 => Verdict::OverBudget { index: index()?, used: int(2)? },
        4 => Verdict::Unseeded { index: index()? },
        code => return Err(RedisError::from((::redis::ErrorKind::TypeError, "unexpected admit reply", format!("code {code}")))),
    })
}
