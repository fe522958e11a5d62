//! The log writer, behind core's `LogHandle`. Requests hand records to `LogHandle::submit`, which
//! never blocks: a bounded queue feeds a writer thread that inserts batches; when the queue is
//! full the record goes to an overflow list that a spooler thread appends to the spool file. When
//! the database fails, batches go to the spool too, and the writer replays the spool once the
//! database answers again. Inserts are idempotent by request id, so a replay that is interrupted
//! and repeated duplicates nothing. Not a storage engine: it writes to any `LogSink`.

mod spool;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchyard_core::store::{LogHandle, LogRecord, LogSink, LogStatus, LogSubmit};

pub use spool::Spool;

#[derive(Debug, Clone)]
pub struct LogWriterConfig {
    pub queue: usize,
    pub max_batch: usize,
    pub spool_dir: PathBuf,
    /// How long after a database failure the writer spools without trying, and how often it
    /// checks the spool for replay.
    pub retry_every: Duration,
    /// The writer sleeps this long between batches instead of waking for every record: senders
    /// never have to wake it, and one transaction carries everything that arrived meanwhile.
    /// Short enough that one batch's commit is a small bite of CPU (p99), long enough that
    /// commits stay few.
    pub flush_every: Duration,
}

impl LogWriterConfig {
    pub fn new(spool_dir: PathBuf) -> Self {
        Self { queue: 16_384, max_batch: 1024, spool_dir, retry_every: Duration::from_secs(2), flush_every: Duration::from_millis(10) }
    }
}

struct Shared {
    closing: AtomicBool,
    overflow: Mutex<Vec<LogRecord>>,
    overflow_ready: Condvar,
    /// Held for every spool append and for moving the active spool aside, so that no append can
    /// land in a file that is being replayed.
    spool_lock: Mutex<Spool>,
    database_ok: AtomicBool,
    written: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    /// Records sent to the queue and not yet taken by the writer.
    queued: AtomicU64,
    /// The spool's size, measured after each append and each replay (not per request).
    spool_bytes: AtomicU64,
}

impl Shared {
    fn status(&self) -> LogStatus {
        LogStatus {
            database_ok: self.database_ok.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            spool_bytes: self.spool_bytes.load(Ordering::Relaxed),
        }
    }

    fn measure_spool(&self, spool: &Spool) {
        self.spool_bytes.store(spool.size(), Ordering::Relaxed);
    }

    /// Appends to the spool; on failure the records are returned so the caller keeps them.
    fn spool(&self, records: Vec<LogRecord>) -> Result<(), Vec<LogRecord>> {
        let spool = self.spool_lock.lock().unwrap_or_else(|p| p.into_inner());
        match spool.append(&records) {
            Ok(()) => {
                self.spooled.fetch_add(records.len() as u64, Ordering::Relaxed);
                self.measure_spool(&spool);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "request log: spool append failed; keeping records in memory");
                Err(records)
            }
        }
    }
}

/// The writer's end of core's `LogHandle`: one per writer, shared by every request.
struct Submitter {
    tx: SyncSender<LogRecord>,
    shared: Arc<Shared>,
}

impl LogSubmit for Submitter {
    /// Hands a record over without waiting: to the queue, or when it is full to the overflow list
    /// the spooler writes to disk.
    fn submit(&self, record: LogRecord) {
        // Counted before sending, so that the writer's decrement never comes first.
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) = self.tx.try_send(record) {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            self.shared.overflow.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            self.shared.overflow_ready.notify_one();
        }
    }

    fn status(&self) -> LogStatus {
        self.shared.status()
    }
}

pub struct LogWriter {
    handle: LogHandle,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogWriter {
    pub fn start<S: LogSink>(sink: S, config: LogWriterConfig) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(config.queue);
        let shared = Arc::new(Shared {
            closing: AtomicBool::new(false),
            overflow: Mutex::new(Vec::new()),
            overflow_ready: Condvar::new(),
            spool_lock: Mutex::new(Spool::new(&config.spool_dir)),
            database_ok: AtomicBool::new(true),
            written: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new().name("log-writer".into()).spawn(move || {
                lower_priority();
                Writer::new(sink, rx, shared, config).run()
            })?
        };
        let spooler = {
            let shared = shared.clone();
            std::thread::Builder::new().name("log-spooler".into()).spawn(move || run_spooler(&shared))?
        };
        let handle = LogHandle::new(Arc::new(Submitter { tx, shared: shared.clone() }));
        Ok(Self { handle, shared, threads: vec![writer, spooler] })
    }

    pub fn handle(&self) -> LogHandle {
        self.handle.clone()
    }

    /// Stops after writing (or spooling) everything submitted so far. Call once the server has
    /// stopped taking requests.
    pub fn shutdown(self) -> LogStatus {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.overflow_ready.notify_all();
        for t in &self.threads {
            t.thread().unpark();
        }
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!("request log thread panicked during shutdown");
            }
        }
        self.shared.status()
    }
}

/// The writer is background work: under load it must yield the core to request handling (a
/// batch commit on the request threads' core showed up as p99 latency in the benchmark).
#[allow(unsafe_code, reason = "libc's setpriority has no safe wrapper in our dependencies")]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes this
    // thread's nice value, and a failure is harmless (the thread keeps the default priority).
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

fn run_spooler(shared: &Shared) {
    loop {
        let batch = {
            let mut overflow = shared.overflow.lock().unwrap_or_else(|p| p.into_inner());
            while overflow.is_empty() && !shared.closing.load(Ordering::SeqCst) {
                overflow = shared.overflow_ready.wait_timeout(overflow, Duration::from_millis(250)).unwrap_or_else(|p| p.into_inner()).0;
            }
            std::mem::take(&mut *overflow)
        };
        if batch.is_empty() {
            return; // closing and nothing left
        }
        if let Err(kept) = shared.spool(batch) {
            // The disk refused too: put them back and try again shortly.
            shared.overflow.lock().unwrap_or_else(|p| p.into_inner()).extend(kept);
            std::thread::sleep(Duration::from_millis(500));
            if shared.closing.load(Ordering::SeqCst) {
                return;
            }
        }
    }
}

struct Writer<S> {
    sink: S,
    rx: Receiver<LogRecord>,
    shared: Arc<Shared>,
    config: LogWriterConfig,
    /// While set and in the future, batches go straight to the spool.
    database_down_until: Option<Instant>,
    next_replay: Instant,
}

impl<S: LogSink> Writer<S> {
    fn new(sink: S, rx: Receiver<LogRecord>, shared: Arc<Shared>, config: LogWriterConfig) -> Self {
        Self { sink, rx, shared, config, database_down_until: None, next_replay: Instant::now() }
    }

    fn run(mut self) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        loop {
            let closing = self.shared.closing.load(Ordering::SeqCst);
            // Drain what is queued; a sender never blocks, and only overflows to the spool when
            // the queue is full.
            let mut disconnected = false;
            loop {
                match self.rx.try_recv() {
                    Ok(r) => {
                        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                        batch.push(r);
                        if batch.len() == self.config.max_batch {
                            self.write(std::mem::take(&mut batch));
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.write(std::mem::take(&mut batch));
            }
            if closing || disconnected {
                break;
            }
            if Instant::now() >= self.next_replay {
                self.replay();
                if self.shared.spool_bytes.load(Ordering::Relaxed) > 0 {
                    let spool = self.shared.spool_lock.lock().unwrap_or_else(|p| p.into_inner());
                    self.shared.measure_spool(&spool);
                }
            }
            std::thread::park_timeout(self.config.flush_every);
        }
        // Closing: everything queued was written or spooled above; one last replay attempt.
        self.database_down_until = None;
        self.replay();
    }

    fn database_usable(&self) -> bool {
        self.database_down_until.is_none_or(|t| Instant::now() >= t)
    }

    fn insert(&mut self, records: &[LogRecord]) -> bool {
        match self.sink.insert(records) {
            Ok(()) => {
                if !self.shared.database_ok.swap(true, Ordering::Relaxed) {
                    tracing::info!("request log: database writable again");
                }
                self.database_down_until = None;
                true
            }
            Err(e) => {
                if self.shared.database_ok.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "request log: database write failed; spooling records to disk");
                }
                self.database_down_until = Some(Instant::now() + self.config.retry_every);
                false
            }
        }
    }

    fn write(&mut self, batch: Vec<LogRecord>) {
        if self.database_usable() && self.insert(&batch) {
            self.shared.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            return;
        }
        if let Err(kept) = self.shared.spool(batch) {
            self.shared.overflow.lock().unwrap_or_else(|p| p.into_inner()).extend(kept);
        }
    }

    fn replay(&mut self) {
        self.next_replay = Instant::now() + self.config.retry_every;
        if !self.database_usable() {
            return;
        }
        let pending = {
            let spool = self.shared.spool_lock.lock().unwrap_or_else(|p| p.into_inner());
            if !spool.has_pending() {
                return;
            }
            match spool.take_pending() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "request log: cannot move the spool aside for replay");
                    return;
                }
            }
        };
        for path in pending {
            let (records, torn) = match Spool::read(&path) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, file = %path.display(), "request log: cannot read spool file");
                    continue;
                }
            };
            if torn > 0 {
                tracing::warn!(lines = torn, file = %path.display(), "request log: skipped torn spool lines");
            }
            for chunk in records.chunks(self.config.max_batch) {
                if !self.insert(chunk) {
                    return; // the file stays; the next replay starts it again, idempotently
                }
            }
            self.shared.replayed.fetch_add(records.len() as u64, Ordering::Relaxed);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::error!(error = %e, file = %path.display(), "request log: cannot remove replayed spool file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLog;

    fn record(i: usize) -> LogRecord {
        LogRecord { request_id: format!("req-{i}"), status: 200, outcome: "ok".into(), ..LogRecord::default() }
    }

    fn config(dir: &std::path::Path, queue: usize) -> LogWriterConfig {
        LogWriterConfig {
            queue,
            max_batch: 64,
            spool_dir: dir.to_path_buf(),
            retry_every: Duration::from_millis(100),
            flush_every: Duration::from_millis(10),
        }
    }

    fn ids(log: &MemoryLog) -> Vec<String> {
        let mut ids: Vec<String> = log.records().into_iter().map(|r| r.request_id).collect();
        ids.sort();
        ids
    }

    fn expected(n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|i| record(i).request_id).collect();
        v.sort();
        v
    }

    #[test]
    fn database_outage_loses_and_duplicates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::default();
        let writer = LogWriter::start(log.clone(), config(dir.path(), 16)).unwrap();
        let h = writer.handle();
        for i in 0..100 {
            h.submit(record(i));
        }
        log.set_failing(true);
        for i in 100..600 {
            h.submit(record(i));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(h.status().spooled > 0, "{:?}", h.status());
        assert!(h.status().spool_bytes > 0, "the spool's size is a metric: {:?}", h.status());
        log.set_failing(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (ids(&log).len() < 600 || h.status().spool_bytes > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(ids(&log), expected(600));
        assert_eq!((h.status().queued, h.status().spool_bytes), (0, 0), "nothing waits once replayed");
        assert_eq!(log.records().len(), 600, "no duplicates");
        let status = writer.shutdown();
        assert!(status.database_ok);
        assert!(!Spool::new(dir.path()).has_pending(), "spool drained");
    }

    #[test]
    fn shutdown_during_outage_spools_everything_and_a_restart_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::default();
        log.set_failing(true);
        let writer = LogWriter::start(log.clone(), config(dir.path(), 4)).unwrap();
        let h = writer.handle();
        for i in 0..200 {
            h.submit(record(i));
        }
        writer.shutdown();
        assert!(log.records().is_empty());
        let (spooled, _) = Spool::new(dir.path())
            .take_pending()
            .unwrap()
            .iter()
            .map(|p| Spool::read(p).unwrap())
            .fold((0, 0), |a, (r, t)| (a.0 + r.len(), a.1 + t));
        assert_eq!(spooled, 200);

        log.set_failing(false);
        let writer = LogWriter::start(log.clone(), config(dir.path(), 4)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ids(&log).len() < 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.shutdown();
        assert_eq!(ids(&log), expected(200));
    }

    #[test]
    fn replay_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.append(&[record(1), record(2)]).unwrap();
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("requests.jsonl")).unwrap();
        f.write_all(b"{\"request_id\":\"req-3\",\"sta").unwrap();
        let log = MemoryLog::default();
        let writer = LogWriter::start(log.clone(), config(dir.path(), 4)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        writer.shutdown();
        assert_eq!(ids(&log), vec!["req-1", "req-2"]);
    }
}
