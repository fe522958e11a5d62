//! Log search (`LogSearch`) on every backend: records written through the backend's `LogSink`,
//! found again by each filter, combined metadata filters, hostile values, and keyset paging that
//! neither skips nor repeats while new records arrive between pages.

use std::sync::Arc;

use switchyard_core::store::{LogCursor, LogFilter, LogRecord, LogSearch, LogSink, StatusFilter};
use switchyard_store::MemoryLog;

use crate::backend::Storage;
use crate::log::full_record;

/// A backend's writer and its search, on the same storage.
pub struct Searchable {
    pub sink: Box<dyn LogSink>,
    pub search: Arc<dyn LogSearch>,
    _storage: Option<Storage>,
}

impl Searchable {
    pub fn memory() -> Self {
        let log = MemoryLog::default();
        Self { sink: Box::new(log.clone()), search: Arc::new(log), _storage: None }
    }

    pub async fn on(storage: Storage) -> Self {
        let b = storage.open().await;
        let sink: Box<dyn LogSink> = match b.log {
            crate::backend::Log::Sqlite(l) => Box::new(l),
            crate::backend::Log::Postgres(l) => l,
        };
        Self { sink, search: b.search, _storage: Some(storage) }
    }

    async fn ids(&self, filter: LogFilter) -> Vec<String> {
        let page = self.search.search_logs(&LogFilter { limit: 100, ..filter }).await.unwrap();
        page.records.into_iter().map(|r| r.request_id).collect()
    }
}

fn record(id: &str, ms: i64, edit: impl FnOnce(&mut LogRecord)) -> LogRecord {
    let mut r = full_record(id, ms);
    edit(&mut r);
    r
}

/// Six records that differ in one field each from the full record `a`.
fn corpus() -> Vec<LogRecord> {
    vec![
        record("a", 1_000, |_| {}),
        record("b", 2_000, |r| {
            r.customer_identifier = Some("globex".into());
            r.team = Some("ads".into());
            r.key_id = Some("key_b".into());
            r.feature = Some("summarize".into());
        }),
        record("c", 3_000, |r| {
            r.requested_model = "gpt-4o".into();
            r.provider = Some("openai".into());
            r.model = Some("gpt-4o-2024-08-06".into());
            r.cache_status = Some("MISS".into());
        }),
        record("d", 4_000, |r| {
            r.status = 429;
            r.outcome = "error".into();
            r.cost_usd = None;
            r.latency_ms = 5.0;
            r.request_body = None;
            r.response_body = None;
        }),
        record("e", 5_000, |r| {
            r.metadata = [("session".to_string(), "s-2".to_string()), ("env".to_string(), "prod".to_string())].into();
            r.cost_usd = Some(0.5);
            r.latency_ms = 3_000.0;
            r.request_body = Some(r#"{"messages":[{"content":"find the needle"}]}"#.into());
        }),
        record("f", 6_000, |r| {
            r.metadata = [("session".to_string(), "s-2".to_string()), ("env".to_string(), "dev".to_string())].into();
            r.response_body = Some(r#"{"answer":"Needle, capitalised"}"#.into());
        }),
    ]
}

pub async fn each_filter_finds_its_records(s: Searchable) {
    let mut s = s;
    s.sink.insert(&corpus()).unwrap();
    let f = LogFilter::default;
    assert_eq!(s.ids(f()).await, ["f", "e", "d", "c", "b", "a"], "newest first");
    assert_eq!(s.ids(LogFilter { request_id: Some("c".into()), ..f() }).await, ["c"]);
    assert_eq!(s.ids(LogFilter { customer: Some("globex".into()), ..f() }).await, ["b"]);
    assert_eq!(s.ids(LogFilter { team: Some("ads".into()), ..f() }).await, ["b"]);
    assert_eq!(s.ids(LogFilter { key: Some("key_b".into()), ..f() }).await, ["b"]);
    assert_eq!(s.ids(LogFilter { feature: Some("summarize".into()), ..f() }).await, ["b"]);
    assert_eq!(s.ids(LogFilter { model: Some("gpt-4o".into()), ..f() }).await, ["c"], "asked model");
    assert!(s.ids(LogFilter { model: Some("gpt-4o-2024-08-06".into()), ..f() }).await.is_empty(), "model is the asked one");
    assert_eq!(s.ids(LogFilter { served_model: Some("gpt-4o-2024-08-06".into()), ..f() }).await, ["c"]);
    assert_eq!(s.ids(LogFilter { served_model: Some("openai/gpt-4o-2024-08-06".into()), ..f() }).await, ["c"]);
    assert_eq!(s.ids(LogFilter { provider: Some("openai".into()), ..f() }).await, ["c"]);
    assert_eq!(s.ids(LogFilter { cache: Some("MISS".into()), ..f() }).await, ["c"]);
    assert_eq!(s.ids(LogFilter { status: Some(StatusFilter::Error), ..f() }).await, ["d"]);
    assert_eq!(s.ids(LogFilter { status: Some(StatusFilter::Code(429)), ..f() }).await, ["d"]);
    assert_eq!(s.ids(LogFilter { status: Some(StatusFilter::Ok), ..f() }).await, ["f", "e", "c", "b", "a"]);
    assert_eq!(s.ids(LogFilter { from_ms: Some(2_000), to_ms: Some(4_000), ..f() }).await, ["c", "b"], "from inclusive, to exclusive");
    assert_eq!(s.ids(LogFilter { min_latency_ms: Some(1_000.0), ..f() }).await, ["e"]);
    assert_eq!(s.ids(LogFilter { min_cost_usd: Some(0.1), ..f() }).await, ["e"]);
    assert_eq!(s.ids(LogFilter { text: Some("needle".into()), ..f() }).await, ["e"], "request body, case-sensitive");
    assert_eq!(s.ids(LogFilter { text: Some("Needle".into()), ..f() }).await, ["f"], "response body");
    assert_eq!(s.ids(LogFilter { text: Some("%".into()), ..f() }).await, Vec::<String>::new(), "no wildcards");
    assert_eq!(s.ids(LogFilter { customer: Some("acme".into()), min_latency_ms: Some(100.0), ..f() }).await, ["f", "e", "c", "a"]);
    // Everything comes back whole.
    let page = s.search.search_logs(&LogFilter { request_id: Some("a".into()), limit: 1, ..f() }).await.unwrap();
    assert_eq!(page.records, [full_record("a", 1_000)]);
    assert_eq!(page.next, None);
}

pub async fn metadata_filters_combine_and_are_values_not_sql(s: Searchable) {
    let mut s = s;
    let hostile = "x' OR 1=1 --";
    let mut records = corpus();
    records.push(record("g", 7_000, |r| r.metadata = [(hostile.to_string(), hostile.to_string())].into()));
    // JSON escapes in the stored text (quotes, backslash, control characters) still match exactly.
    let escaped = "say \"hi\" \\ now\n\tend";
    records.push(record("h", 7_500, |r| r.metadata = [("q\"k".to_string(), escaped.to_string())].into()));
    s.sink.insert(&records).unwrap();
    let meta = |pairs: &[(&str, &str)]| LogFilter {
        metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..LogFilter::default()
    };
    assert_eq!(s.ids(meta(&[("session", "s-2")])).await, ["f", "e"]);
    assert_eq!(s.ids(meta(&[("session", "s-2"), ("env", "prod")])).await, ["e"], "all must match");
    assert!(s.ids(meta(&[("session", "s-1"), ("env", "prod")])).await.is_empty());
    assert_eq!(s.ids(meta(&[("ünïcode", "✓")])).await, ["d", "c", "b", "a"]);
    assert!(s.ids(meta(&[("session", hostile)])).await.is_empty(), "a hostile value matches nothing");
    assert!(s.ids(meta(&[(hostile, "s-1")])).await.is_empty(), "a hostile key matches nothing");
    assert_eq!(s.ids(meta(&[(hostile, hostile)])).await, ["g"], "and is found as the text it is");
    assert_eq!(s.ids(meta(&[("q\"k", escaped)])).await, ["h"], "escaped JSON text is matched as its value");
    assert!(s.ids(meta(&[("q\"k", "say")])).await.is_empty(), "a prefix of a value is not the value");
    for hostile_filter in [
        LogFilter { customer: Some(hostile.into()), ..LogFilter::default() },
        LogFilter { text: Some(hostile.into()), ..LogFilter::default() },
        LogFilter { served_model: Some(hostile.into()), ..LogFilter::default() },
    ] {
        assert!(s.ids(hostile_filter).await.is_empty());
    }
}

/// Pages of 3 over 10 records while records arrive between pages: newer ones (behind the reader),
/// and ones in the millisecond of the page's last record on either side of it. Every record that is
/// ahead of the reader when its page is read is seen exactly once, in order.
pub async fn cursor_pages_have_no_gaps_or_repeats_while_records_arrive(s: Searchable) {
    let mut s = s;
    // Pairs share a millisecond: the request id orders them.
    let mut expected: Vec<LogRecord> = (0..10).map(|i| record(&format!("r{i:02}"), 10_000 + (i / 2) * 1_000, |_| {})).collect();
    s.sink.insert(&expected).unwrap();
    let (mut seen, mut after, mut pages) = (Vec::new(), None::<LogCursor>, 0);
    loop {
        let page = s.search.search_logs(&LogFilter { limit: 3, after: after.clone(), ..LogFilter::default() }).await.unwrap();
        seen.extend(page.records.iter().map(|r| r.request_id.clone()));
        pages += 1;
        let Some(next) = page.next else { break };
        let last = page.records.last().unwrap();
        let stem = &last.request_id[..last.request_id.len() - 1];
        let newer = record(&format!("new{pages}"), 100_000 + pages, |_| {});
        // `~` sorts after digits: behind the cursor. `-` sorts before them: ahead of it.
        let behind = record(&format!("{}~", last.request_id), last.started_at_ms, |_| {});
        let ahead = record(&format!("{stem}-{pages}"), last.started_at_ms, |_| {});
        s.sink.insert(&[newer, behind, ahead.clone()]).unwrap();
        expected.push(ahead);
        after = Some(next);
        assert!(pages < 20, "paging does not end");
    }
    expected.sort_by(|a, b| (b.started_at_ms, &b.request_id).cmp(&(a.started_at_ms, &a.request_id)));
    let expected: Vec<String> = expected.into_iter().map(|r| r.request_id).collect();
    assert_eq!(seen, expected, "each record ahead of the reader once, newest first, none skipped");
    assert_eq!(seen.len(), 14, "10 at the start and 4 that arrived ahead of the reader");
}
