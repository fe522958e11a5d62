//! One contract suite for the storage backends: every scenario runs against SQLite (temp dir) and
//! the real PostgreSQL at `SWITCHYARD_TEST_POSTGRES_URL` (a fresh schema per test); the stored
//! responses' scenarios also against `MemoryResponses`. Governance
//! spend is checked over records written through the same backend's `LogSink`.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod backend;
mod governance;
mod log;
mod migrations;
mod postgres_only;
mod report;
mod responses;
#[path = "../support/services.rs"]
mod services;

/// Runs each listed scenario once per backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    crate::$module::$test(crate::backend::Storage::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    if let Some(storage) = crate::backend::Storage::postgres().await {
                        crate::$module::$test(storage).await
                    }
                }
            )*
        }
    };
}

contract!(
    governance::keys_round_trip_every_field,
    governance::duplicate_id_or_prefix_is_a_conflict,
    governance::revoke_keeps_the_first_time_and_is_a_change,
    governance::policies_upsert_get_and_list,
    governance::changes_since_spans_keys_and_policies,
    governance::spend_sums_with_filters_and_every_group_by,
    report::report_groups_errors_cache_and_percentiles,
    log::inserts_are_idempotent_and_every_field_round_trips,
    log::query_filters_by_model_and_customer,
    migrations::reopening_migrates_nothing_twice,
    responses::round_trip_every_field,
    responses::scoped_by_tenant,
    responses::put_replaces_and_delete_removes,
    responses::kept_across_reopening,
);
