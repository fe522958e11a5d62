//! The append-only spool: records that could not reach the database, one JSON line each, replayed
//! later. A crash mid-write leaves at most a torn last line, which replay skips.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use switchyard_core::store::{LogRecord, StoreError};

pub struct Spool {
    dir: PathBuf,
}

const ACTIVE: &str = "requests.jsonl";

impl Spool {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn append(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        crate::private_fs::create_dir(&self.dir)?;
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| StoreError::Other(e.to_string()))?;
            buf.push(b'\n');
        }
        let mut file = crate::private_fs::append(&self.dir.join(ACTIVE))?;
        // One write per batch so concurrent appends never interleave inside a line.
        file.write_all(&buf)?;
        file.sync_data()?;
        Ok(())
    }

    /// Moves the active spool aside so that appends go to a fresh file while it is replayed, and
    /// returns every file waiting for replay (earlier ones whose replay failed included).
    pub fn take_pending(&self) -> Result<Vec<PathBuf>, StoreError> {
        let active = self.dir.join(ACTIVE);
        if active.exists() {
            let name = format!("replay-{}-{}.jsonl", switchyard_core::time::now_ms(), std::process::id());
            fs::rename(&active, self.dir.join(name))?;
        }
        let mut pending: Vec<PathBuf> = match fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("replay-") && n.ends_with(".jsonl")))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        pending.sort();
        Ok(pending)
    }

    /// Bytes waiting for replay (the active file and any left from a failed replay).
    pub fn size(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }

    /// Whether anything waits for replay.
    pub fn has_pending(&self) -> bool {
        fs::read_dir(&self.dir).map(|mut d| d.any(|e| e.is_ok())).unwrap_or(false)
    }

    /// Reads a spool file; torn or unreadable lines are skipped and counted.
    pub fn read(path: &Path) -> Result<(Vec<LogRecord>, usize), StoreError> {
        let reader = BufReader::new(File::open(path)?);
        let mut records = Vec::new();
        let mut skipped = 0;
        for line in reader.split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice(&line) {
                Ok(r) => records.push(r),
                Err(_) => skipped += 1,
            }
        }
        Ok((records, skipped))
    }
}
