//! Hot reload: SIGHUP or `POST /admin/config/reload` re-reads the file given to
//! `serve --config`, validates it as `switchyard check` does, builds the next snapshot while the
//! running one keeps serving, and swaps it in. A file with any problem replaces nothing: the
//! answer lists every problem with its path, one WARN line says so, and a counter counts it.
//! Restart-only settings keep their running value and are named in the answer.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use switchyard_core::metrics::{CONFIG_RELOADS, CONFIG_RELOAD_FAILURES};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError, Overrides};
use crate::http::App;
use crate::snapshot::{ProviderChanges, Snapshot};

/// Re-reads the config into the running gateway.
pub struct Reloader {
    app: Arc<App>,
    /// `None`: started without `--config`; the embedded default is evaluated again.
    path: Option<PathBuf>,
    /// The command line's `--listen` and `--data-dir`, which win over the file as at startup.
    overrides: Overrides,
    /// One reload at a time: a SIGHUP and an admin call may arrive together.
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// What asked for the reload, for the log.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    Signal,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Admin => "POST /admin/config/reload",
        }
    }
}

/// The answer of a reload (the admin endpoint's JSON body).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Report {
    Reloaded {
        /// The running snapshot's generation: 1 at startup, one more per reload.
        generation: u64,
        /// The model aliases now configured.
        models: Vec<String>,
        providers: ProviderChanges,
        /// Changed settings that only a restart applies; they keep their running value.
        needs_restart: Vec<ConfigError>,
    },
    /// Nothing was replaced: the running config keeps serving.
    Rejected { problems: Vec<ConfigError> },
}

impl Reloader {
    pub fn new(app: Arc<App>, path: Option<PathBuf>, overrides: Overrides) -> Self {
        Self { app, path, overrides, one_at_a_time: tokio::sync::Mutex::new(()) }
    }

    pub async fn reload(&self, trigger: Trigger) -> Report {
        let _one = self.one_at_a_time.lock().await;
        let (path, overrides) = (self.path.clone(), self.overrides.clone());
        let loaded = tokio::task::spawn_blocking(move || config::load(path.as_deref(), &overrides, &|k| std::env::var(k).ok()))
            .await
            .unwrap_or_else(|e| Err(vec![ConfigError::new("", format!("the config could not be read: {e}"))]));
        let report = self.apply(loaded);
        log(&report, trigger);
        report
    }

    /// Swaps in the snapshot of `loaded`, or keeps the running one when there is any problem.
    fn apply(&self, loaded: Result<Config, Vec<ConfigError>>) -> Report {
        let running = self.app.snapshot();
        let mut next = match loaded {
            Ok(config) => config,
            Err(problems) => return rejected(problems),
        };
        let needs_restart = config::keep_running(&running.config, &mut next);
        let model_limits = crate::governance::model_limits(&next);
        let (snapshot, providers) = match Snapshot::next(next, &running) {
            Ok(built) => built,
            Err(problems) => return rejected(problems),
        };
        let (generation, models) = (snapshot.generation, snapshot.config.models.keys().cloned().collect());
        // Limits first: a request admitted between the two lines sees the new limits with the
        // old routes, never an alias of the new file without its limits.
        self.app.governor.set_model_limits(model_limits);
        self.app.running.replace(snapshot);
        crate::monitors::install(&self.app.snapshot().config);
        CONFIG_RELOADS.inc();
        Report::Reloaded { generation, models, providers, needs_restart }
    }
}

fn rejected(problems: Vec<ConfigError>) -> Report {
    CONFIG_RELOAD_FAILURES.inc();
    Report::Rejected { problems }
}

fn log(report: &Report, trigger: Trigger) {
    let joined = |errors: &[ConfigError]| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    let paths = |errors: &[ConfigError]| errors.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
    match report {
        Report::Rejected { problems } => tracing::warn!(
            trigger = trigger.as_str(),
            "config reload rejected, the running config is kept ({} problem(s)): {}",
            problems.len(),
            joined(problems)
        ),
        Report::Reloaded { generation, providers, needs_restart, .. } => tracing::info!(
            trigger = trigger.as_str(),
            generation,
            built = ?providers.built,
            reused = ?providers.reused,
            removed = ?providers.removed,
            needs_restart = ?paths(needs_restart),
            "config reloaded"
        ),
    }
}

/// Reloads on every SIGHUP until `stop`. Listening starts before this returns, so a SIGHUP sent
/// once the gateway is up never kills it (the default action of SIGHUP).
#[cfg(unix)]
pub fn on_hangup(reloader: Arc<Reloader>, stop: CancellationToken) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                got = hangups.recv() => {
                    if got.is_none() {
                        return;
                    }
                    reloader.reload(Trigger::Signal).await;
                }
            }
        }
    }))
}
