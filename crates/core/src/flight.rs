//! Single flight: identical concurrent cache misses make one upstream call. The first request
//! for a key leads; the others wait for the leader's result. A leader that ends without a result
//! (an error, a cut stream, a client gone) releases the waiters empty-handed, and they go
//! upstream themselves — a failure is never shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Clones share the requests in flight (a reloaded cache keeps waiting on the same leaders).
#[derive(Clone)]
pub struct Flights<T: Clone + Send + Sync + 'static> {
    inflight: Arc<Mutex<HashMap<String, watch::Receiver<Option<T>>>>>,
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self { inflight: Arc::default() }
    }
}

/// What a request for a key is: the one that calls upstream, or one that waits.
pub enum Role<T: Clone + Send + Sync + 'static> {
    Leader(Leader<T>),
    Follower(watch::Receiver<Option<T>>),
}

/// Held by the request that calls upstream; `finish` hands the result to the waiters. Dropping
/// it without finishing releases them with nothing.
pub struct Leader<T: Clone + Send + Sync + 'static> {
    key: String,
    tx: Option<watch::Sender<Option<T>>>,
    inflight: Arc<Mutex<HashMap<String, watch::Receiver<Option<T>>>>>,
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub fn join(&self, key: &str) -> Role<T> {
        let mut map = self.inflight.lock().expect("flights lock");
        if let Some(rx) = map.get(key) {
            // A leader that already finished or gave up leaves a closed channel behind only
            // until it removes its entry; then the next request leads.
            if rx.has_changed().is_ok() {
                return Role::Follower(rx.clone());
            }
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.to_string(), rx);
        Role::Leader(Leader { key: key.to_string(), tx: Some(tx), inflight: self.inflight.clone() })
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.lock().expect("flights lock").len()
    }
}

impl<T: Clone + Send + Sync + 'static> Leader<T> {
    pub fn finish(mut self, value: T) {
        self.release(Some(value));
    }

    fn release(&mut self, value: Option<T>) {
        let Some(tx) = self.tx.take() else { return };
        self.inflight.lock().expect("flights lock").remove(&self.key);
        if let Some(v) = value {
            let _ = tx.send(Some(v));
        }
        // Dropping the sender closes the channel: waiters without a value stop waiting.
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for Leader<T> {
    fn drop(&mut self) {
        self.release(None);
    }
}

/// Waits for the leader's result, at most `limit`. `None`: go upstream yourself.
pub async fn wait<T: Clone + Send + Sync + 'static>(mut rx: watch::Receiver<Option<T>>, limit: Duration) -> Option<T> {
    let waited = tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(value)) => value.clone(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_many_followers_get_its_value() {
        let flights: Flights<u32> = Flights::default();
        let Role::Leader(leader) = flights.join("k") else { panic!("first leads") };
        let waiters: Vec<_> = (0..10)
            .map(|_| match flights.join("k") {
                Role::Follower(rx) => tokio::spawn(wait(rx, Duration::from_secs(5))),
                Role::Leader(_) => panic!("only one leader"),
            })
            .collect();
        assert!(matches!(flights.join("other"), Role::Leader(_)), "other keys lead on their own");
        leader.finish(7);
        for w in waiters {
            assert_eq!(w.await.unwrap(), Some(7));
        }
        assert_eq!(flights.in_flight(), 0);
        assert!(matches!(flights.join("k"), Role::Leader(_)), "after the flight the next request leads");
    }

    #[tokio::test]
    async fn a_leader_that_fails_releases_the_waiters_empty_handed() {
        let flights: Flights<u32> = Flights::default();
        let Role::Leader(leader) = flights.join("k") else { panic!() };
        let Role::Follower(rx) = flights.join("k") else { panic!() };
        let waiter = tokio::spawn(wait(rx, Duration::from_secs(5)));
        drop(leader);
        assert_eq!(waiter.await.unwrap(), None);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }
}
