//! One contract suite for the storage backends: every scenario runs against SQLite (temp dir) and
//! the real PostgreSQL at `SWITCHYARD_TEST_POSTGRES_URL` (a fresh schema per test); the stored
//! responses' scenarios also against `MemoryResponses`. Governance
//! spend is checked over records written through the same backend's `LogSink`.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod backend;
mod governance;
mod log;
mod log_search;
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

/// Runs each log search scenario in memory, on SQLite and on PostgreSQL.
macro_rules! search_contract {
    ($($test:ident),* $(,)?) => {
        mod search {
            mod memory {
                $(
                    #[tokio::test(flavor = "multi_thread")]
                    async fn $test() {
                        crate::log_search::$test(crate::log_search::Searchable::memory()).await
                    }
                )*
            }
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread")]
                    async fn $test() {
                        crate::log_search::$test(crate::log_search::Searchable::on(crate::backend::Storage::sqlite()).await).await
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread")]
                    async fn $test() {
                        if let Some(storage) = crate::backend::Storage::postgres().await {
                            crate::log_search::$test(crate::log_search::Searchable::on(storage).await).await
                        }
                    }
                )*
            }
        }
    };
}

search_contract!(
    each_filter_finds_its_records,
    metadata_filters_combine_and_are_values_not_sql,
    cursor_pages_have_no_gaps_or_repeats_while_records_arrive,
);

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
