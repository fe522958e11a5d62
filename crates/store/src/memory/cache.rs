//! `CacheStore` in this process's memory, bounded by the bytes of its keys and values and evicting
//! the least recently used entry first.
//!
//! One `Mutex` over a hash map from key to slot and a doubly linked LRU list threaded through a
//! slab of slots by index: every operation is a hash lookup and a few index writes, so the lock is
//! held for well under a microsecond. At thousands of requests a second that lock is idle almost
//! all the time; sharding it would split the byte budget and make eviction only roughly LRU, for
//! no measurable gain. Values are `Bytes`, so a hit hands out a reference count, not a copy.
//!
//! Expired entries are never returned: a read that finds one removes it, and every put also
//! checks a couple of slots in turn (`SWEEP_PER_PUT`), so entries nobody reads again are
//! reclaimed without a background task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use switchyard_core::store::{CacheStore, StoreError};
use tokio::time::Instant;

/// An entry may take at most this share of the bound, so one large answer cannot flush the cache.
const MAX_ENTRY_SHARE: usize = 8;
/// Slots checked for expiry on each put.
const SWEEP_PER_PUT: usize = 2;
/// Longer TTLs are cut to this, so that adding one to now cannot overflow.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);
const NIL: u32 = u32::MAX;

pub struct MemoryCache {
    max_bytes: usize,
    lru: Mutex<Lru>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of keys and values; an entry larger than an eighth of
    /// that is not stored.
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, lru: Mutex::new(Lru::default()) }
    }

    /// The bytes of keys and values stored now (expired entries not yet reclaimed included).
    pub fn used_bytes(&self) -> usize {
        self.lock().used
    }

    /// The number of entries stored now (expired entries not yet reclaimed included).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // Nothing under the lock panics; if something ever did, the list is still consistent
        // between operations, so carry on rather than fail every later request.
        self.lru.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl CacheStore for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get(key, now))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let size = key.len() + value.len();
        let old = {
            let mut lru = self.lock();
            // Whatever was stored before is stale now, even when the new value is not kept.
            let old = lru.remove_key(key);
            if !ttl.is_zero() && size <= self.max_bytes / MAX_ENTRY_SHARE {
                lru.insert(key, value, now + ttl.min(MAX_TTL), self.max_bytes);
                lru.sweep(now);
            }
            old
        };
        // Freed after the lock is released.
        drop(old);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let old = self.lock().remove_key(key);
        drop(old);
        Ok(())
    }
}

struct Node {
    key: Arc<str>,
    value: Bytes,
    expires_at: Instant,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

impl Node {
    fn size(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

/// The map, the slab the list lives in, and the list's two ends.
struct Lru {
    map: HashMap<Arc<str>, u32>,
    slots: Vec<Option<Node>>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used: evicted first.
    tail: u32,
    used: usize,
    sweep_cursor: usize,
}

impl Default for Lru {
    fn default() -> Self {
        Self { map: HashMap::new(), slots: Vec::new(), free: Vec::new(), head: NIL, tail: NIL, used: 0, sweep_cursor: 0 }
    }
}

impl Lru {
    fn node(&mut self, i: u32) -> &mut Node {
        // Indices come from the map or the list, which only ever name occupied slots.
        self.slots[i as usize].as_mut().expect("linked slot is occupied")
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<Bytes> {
        let i = *self.map.get(key)?;
        if self.node(i).expires_at <= now {
            self.remove(i);
            return None;
        }
        self.unlink(i);
        self.push_front(i);
        Some(self.node(i).value.clone())
    }

    /// Stores a key that is not present, evicting from the cold end until it fits.
    fn insert(&mut self, key: &str, value: Bytes, expires_at: Instant, max_bytes: usize) {
        let size = key.len() + value.len();
        while self.used + size > max_bytes && self.tail != NIL {
            self.remove(self.tail);
        }
        let key: Arc<str> = Arc::from(key);
        let node = Node { key: key.clone(), value, expires_at, prev: NIL, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(node);
                i
            }
            None => {
                self.slots.push(Some(node));
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, i);
        self.used += size;
        self.push_front(i);
    }

    fn remove_key(&mut self, key: &str) -> Option<Node> {
        let i = *self.map.get(key)?;
        Some(self.remove(i))
    }

    fn remove(&mut self, i: u32) -> Node {
        self.unlink(i);
        let node = self.slots[i as usize].take().expect("linked slot is occupied");
        self.map.remove(&node.key);
        self.free.push(i);
        self.used -= node.size();
        node
    }

    /// Reclaims expired entries among the next `SWEEP_PER_PUT` slots.
    fn sweep(&mut self, now: Instant) {
        for _ in 0..SWEEP_PER_PUT.min(self.slots.len()) {
            self.sweep_cursor = (self.sweep_cursor + 1) % self.slots.len();
            let i = self.sweep_cursor as u32;
            if self.slots[i as usize].as_ref().is_some_and(|n| n.expires_at <= now) {
                self.remove(i);
            }
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = self.node(i);
            (std::mem::replace(&mut n.prev, NIL), std::mem::replace(&mut n.next, NIL))
        };
        match prev {
            NIL => self.head = next,
            p => self.node(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.node(n).prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        {
            let n = self.node(i);
            n.prev = NIL;
            n.next = old_head;
        }
        match old_head {
            NIL => self.tail = i,
            h => self.node(h).prev = i,
        }
        self.head = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_expires_after_its_ttl_and_is_reclaimed() {
        let cache = MemoryCache::new(10_000);
        cache.put("k", value(10), Duration::from_secs(60)).await.unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(cache.get("k").await.unwrap(), Some(value(10)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get("k").await.unwrap(), None);
        assert_eq!((cache.len(), cache.used_bytes()), (0, 0), "the expired entry was removed on read");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_nobody_reads_are_swept_by_later_puts() {
        let cache = MemoryCache::new(1_000_000);
        for i in 0..10 {
            cache.put(&format!("old{i}"), value(100), Duration::from_secs(1)).await.unwrap();
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        for i in 0..10 {
            cache.put(&format!("new{i}"), value(100), Duration::from_secs(60)).await.unwrap();
        }
        assert_eq!(cache.len(), 10, "only the live entries are left");
        assert_eq!(cache.used_bytes(), 10 * (4 + 100));
    }

    #[tokio::test]
    async fn the_list_stays_consistent_through_mixed_operations() {
        let cache = MemoryCache::new(8 * 1000);
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let key = format!("k{}", rng.usize(0..200));
            match rng.u8(0..4) {
                0 => cache.delete(&key).await.unwrap(),
                1 => drop(cache.get(&key).await.unwrap()),
                _ => cache.put(&key, value(rng.usize(0..900)), Duration::from_secs(60)).await.unwrap(),
            }
            assert!(cache.used_bytes() <= 8000);
        }
        let lru = cache.lock();
        let mut walked = 0;
        let mut bytes = 0;
        let (mut i, mut prev) = (lru.head, NIL);
        while i != NIL {
            let n = lru.slots[i as usize].as_ref().unwrap();
            assert_eq!(n.prev, prev);
            assert_eq!(lru.map[&n.key], i);
            bytes += n.size();
            walked += 1;
            (prev, i) = (i, n.next);
        }
        assert_eq!(lru.tail, prev);
        assert_eq!((walked, bytes), (lru.map.len(), lru.used));
    }
}
