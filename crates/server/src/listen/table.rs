//! The open connections, capped. A new connection past the cap takes the place of the one that
//! has been quiet the longest (idle, or dribbling a request head): held and slowloris
//! connections cannot lock real clients out, since a real client's connection is busy with its
//! request from its first moments. Only when every connection has a request in flight is the
//! newcomer refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::conn::Conn;

pub struct Table {
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    cap: usize,
    start: Instant,
    /// Notified whenever a connection's task ends (its descriptor is then closed).
    pub ended: Notify,
}

impl Table {
    pub fn new(cap: usize) -> Self {
        Self { open: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1), cap: cap.max(1), start: Instant::now(), ended: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic while holding this lock leaves the map consistent: use it anyway.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection, making room when the cap is reached; `None` when every open
    /// connection has a request in flight.
    pub fn admit(&self) -> Option<Arc<Conn>> {
        let mut open = self.lock();
        if open.len() >= self.cap && !Self::evict_quietest(&mut open) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(id, self.start));
        open.insert(id, conn.clone());
        Some(conn)
    }

    /// Closes the quietest connection (out of file descriptors); false when none can go.
    pub fn evict_one(&self) -> bool {
        Self::evict_quietest(&mut self.lock())
    }

    fn evict_quietest(open: &mut HashMap<u64, Arc<Conn>>) -> bool {
        // A scan, only when full: ~20k atomic loads, tens of microseconds.
        let victim = open.values().filter_map(|c| Some((c.quiet_since()?, c.id))).min().map(|(_, id)| id);
        let Some(conn) = victim.and_then(|id| open.remove(&id)) else { return false };
        conn.close.cancel();
        switchyard_core::metrics::EVICTED_CONNECTIONS.inc();
        true
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.ended.notify_waiters();
    }

    /// At shutdown: every connection without a request in flight closes now, including those
    /// still sending a head; the others finish their request first.
    pub fn close_quiet(&self) {
        for conn in self.lock().values() {
            if conn.quiet_since().is_some() {
                conn.close.cancel();
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn past_the_cap_the_quietest_connection_makes_room_and_busy_ones_are_never_chosen() {
        let table = Table::new(3);
        let oldest = table.admit().unwrap();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let busy_older = table.admit().unwrap();
        let _request = busy_older.begin();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let newer = table.admit().unwrap();

        let fourth = table.admit().expect("room is made");
        assert!(oldest.close.is_cancelled(), "the connection quiet the longest is closed");
        assert!(!busy_older.close.is_cancelled() && !newer.close.is_cancelled());
        assert_eq!(table.len(), 3);

        let _r1 = newer.begin();
        let _r2 = fourth.begin();
        assert!(table.admit().is_none(), "every connection is busy: the newcomer is refused");
    }
}
