//! Shared by the store's contract suites: each scenario runs once per backend, in memory and
//! on the real Redis, from a `Fixture` with `memory()` and `redis()` constructors.

/// Runs each scenario against every store.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(f) = super::Fixture::memory() { super::$name(f).await }
            })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(f) = super::Fixture::redis().await { super::$name(f).await }
            })*
        }
    };
}
