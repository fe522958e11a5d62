//! Work that outlives the request that started it — budget settlements, alerts, replays — is
//! spawned through one tracker, so that graceful shutdown can wait for it (bounded) before the
//! request log is flushed and the process exits: a settlement cut off by the exit is spend that
//! the shared budget counters never hear of.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// A set of tracked background tasks. The process has one (`spawn_background`, `drain`); tests
/// make their own.
#[derive(Default)]
pub struct Background {
    tracker: TaskTracker,
}

impl Background {
    /// Spawns `work` on the current runtime, tracked. Outside a runtime there is nowhere to run
    /// it: it is dropped, logged, and `false` is returned.
    pub fn spawn<F>(&self, name: &'static str, work: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.tracker.spawn_on(work.instrument(tracing::debug_span!("background", task = name)), &runtime);
                true
            }
            Err(_) => {
                tracing::error!(task = name, "background work dropped: no async runtime to run it on");
                false
            }
        }
    }

    /// Background tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits until every task has ended, at most `bound`, and returns how many are left. Tasks
    /// spawned while it waits (a request ended by the shutdown settles its ticket) are waited
    /// for too.
    pub async fn drain(&self, bound: Duration) -> usize {
        self.tracker.close();
        let _ = tokio::time::timeout(bound, self.tracker.wait()).await;
        self.tracker.len()
    }
}

static PROCESS: LazyLock<Background> = LazyLock::new(Background::default);

/// Spawns `work` as the process's tracked background work (see [`Background::spawn`]).
pub fn spawn_background<F>(name: &'static str, work: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    PROCESS.spawn(name, work)
}

/// Graceful shutdown: waits at most `bound` for the process's background work to end; returns
/// how many tasks are left.
pub async fn drain(bound: Duration) -> usize {
    PROCESS.drain(bound).await
}

/// The process's background tasks still running.
pub fn running() -> usize {
    PROCESS.running()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_running_work_and_for_work_spawned_while_draining() {
        let tasks = Arc::new(Background::default());
        let done = Arc::new(AtomicUsize::new(0));
        let spawn_later = {
            let (tasks, done) = (tasks.clone(), done.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                done.fetch_add(1, Ordering::SeqCst);
                // A request ended by the shutdown settles its ticket after the drain began.
                let done = done.clone();
                tasks.spawn("settle", async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        };
        assert!(tasks.spawn("first", spawn_later));
        let started = tokio::time::Instant::now();
        assert_eq!(tasks.drain(Duration::from_secs(5)).await, 0);
        assert_eq!(done.load(Ordering::SeqCst), 2, "both ran to the end");
        assert_eq!(started.elapsed(), Duration::from_millis(400), "and no longer than they took");
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_at_its_bound() {
        let tasks = Background::default();
        tasks.spawn("stuck", std::future::pending());
        let started = tokio::time::Instant::now();
        assert_eq!(tasks.drain(Duration::from_secs(2)).await, 1, "the stuck task is reported");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn outside_a_runtime_work_is_refused_and_said_so() {
        assert!(!Background::default().spawn("nowhere", async {}));
    }
}
