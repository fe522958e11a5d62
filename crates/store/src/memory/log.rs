//! An in-memory log sink for tests: shared, idempotent by request id, and able to fail on demand.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use switchyard_core::store::{LogFilter, LogPage, LogRecord, LogSearch, LogSink, StoreError};

#[derive(Clone, Default)]
pub struct MemoryLog {
    inner: Arc<Mutex<(Vec<LogRecord>, HashSet<String>)>>,
    failing: Arc<AtomicBool>,
}

impl MemoryLog {
    pub fn records(&self) -> Vec<LogRecord> {
        self.inner.lock().expect("memory log lock").0.clone()
    }
    /// While set, every insert fails, as a database outage would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl LogSink for MemoryLog {
    fn insert(&mut self, records: &[LogRecord]) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Other("memory log set to fail".into()));
        }
        let mut inner = self.inner.lock().expect("memory log lock");
        for r in records {
            if inner.1.insert(r.request_id.clone()) {
                inner.0.push(r.clone());
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl LogSearch for MemoryLog {
    async fn search_logs(&self, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let mut found: Vec<LogRecord> = self
            .inner
            .lock()
            .expect("memory log lock")
            .0
            .iter()
            .filter(|r| filter.matches(r) && filter.after.as_ref().is_none_or(|c| c.is_before(r)))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.started_at_ms, &b.request_id).cmp(&(a.started_at_ms, &a.request_id)));
        found.truncate(filter.limit.saturating_add(1));
        Ok(LogPage::from_overfetch(found, filter.limit))
    }
}
