//! `switchyard serve`: builds the gateway from its config, listens, and on SIGTERM or Ctrl-C shuts
//! down gracefully — stop accepting, let requests and streams finish within the grace period, end
//! what is left with an explicit error, wait for the background work they started (budget
//! settlements, alerts), flush the request log, exit 0.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use switchyard_core::store::LogSink;
use switchyard_store::{LogWriter, LogWriterConfig, PostgresLog, SqliteLog};
use tokio_util::sync::CancellationToken;

use super::load_or_report;
use crate::config::{Config, Database, Overrides, Source};
use crate::http::{router, App};
use crate::reload::Reloader;
use crate::snapshot::{Running, Snapshot};

/// How long shutdown waits at least for the last budget settlements: one settlement's timeout.
const LAST_SETTLEMENT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long shutdown waits for the last trace spans to be posted.
const EXPORT_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(6);

pub fn run(path: Option<&Path>, overrides: Overrides) -> ExitCode {
    init_tracing();
    let config = match load_or_report(path, &overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, overrides)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// `overrides` are kept for reloads, which apply them to the file again.
pub async fn serve(config: Config, overrides: Overrides) -> anyhow::Result<()> {
    switchyard_store::private_fs::create_dir(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let mut log_config = LogWriterConfig::new(config.data_dir.join("spool"));
    if let Some(q) = config.log.queue {
        log_config.queue = q.max(1);
    }
    let writer = match &config.database {
        Database::Sqlite(path) => start_writer(SqliteLog::open(path, std::time::Duration::from_millis(500)), &config, log_config)?,
        Database::Postgres(url) => {
            let url = url.clone();
            let sink = tokio::task::spawn_blocking(move || PostgresLog::connect(&url)).await?;
            start_writer(sink, &config, log_config)?
        }
    };
    let parts = crate::governance::build(&config).await?;
    let (tracer, exporter) = config.telemetry.as_ref().map(crate::telemetry::start).unzip();

    let app = Arc::new(App {
        running: Running::new(Snapshot::first(config.clone()).await?),
        health: Default::default(),
        retry_budget: Default::default(),
        log: writer.handle(),
        draining: AtomicBool::new(false),
        force_stop: CancellationToken::new(),
        keys: parts.keys,
        misses: Default::default(),
        store: parts.store,
        responses: parts.responses,
        governor: parts.governor,
        tracer,
    });
    let path = match &config.source {
        Source::File(p) => Some(p.clone()),
        Source::Embedded => None,
    };
    let reloader = Arc::new(Reloader::new(app.clone(), path, overrides));
    let seq = crate::governance::initial_load(&app).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let changed = Arc::new(tokio::sync::Notify::new());
    // The admin API is listening before the ready line, so whoever waits for it can use both.
    let admin = match &config.admin.key {
        Some(key) => {
            Some(start_admin(&config, &app, &reloader, (parts.logs, parts.secret), key.clone(), changed.clone(), stop.clone()).await?)
        }
        None => None,
    };
    #[cfg(unix)]
    let hangup = Some(crate::reload::on_hangup(reloader, stop.clone()).context("cannot listen for SIGHUP")?);
    #[cfg(not(unix))]
    let hangup: Option<tokio::task::JoinHandle<()>> = None;
    banner(&config, &app, addr);
    tokio::spawn(wait_for_signal(stop.clone()));
    let shared = config.redis.clone().map(|url| crate::shared_state::spawn(url, app.clone(), stop.clone()));
    crate::monitors::install(&config);
    let monitor_ticker = crate::monitors::spawn_ticker(stop.clone());
    let sync = crate::governance::spawn_sync(app.clone(), seq, changed, stop.clone());
    let monitor = app.governor.is_shared().then(|| tokio::spawn(app.governor.clone().monitor()));
    let server = crate::listen::serve(listener, router(app.clone()), api_limits(&config), stop.clone());
    let mut server = tokio::spawn(server);

    let mut stopping = tokio::time::Instant::now();
    tokio::select! {
        result = &mut server => { result?; }
        () = stop.cancelled() => {
            stopping = tokio::time::Instant::now();
            app.draining.store(true, Ordering::Relaxed);
            // The grace period may have been changed by a reload.
            let grace = app.snapshot().config.shutdown_grace;
            tracing::info!(?grace, "shutting down: finishing in-flight requests");
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!("grace period over: ending the requests still running with an error");
                app.force_stop.cancel();
                // Handlers and streams now end promptly; their connections then close.
                if tokio::time::timeout(std::time::Duration::from_secs(5), &mut server).await.is_err() {
                    server.abort();
                }
            }
        }
    }
    for task in [shared, Some(sync), Some(monitor_ticker), admin, hangup].into_iter().flatten() {
        let _ = task.await;
    }
    // Settlements and alerts of the last requests: waited for within what is left of the grace
    // period, and at least one settlement's time (a request that ended at the last moment still
    // has spend to report). The Redis monitor keeps running meanwhile: it replays what a
    // settlement had to queue.
    let bound =
        (stopping + app.snapshot().config.shutdown_grace).saturating_duration_since(tokio::time::Instant::now()).max(LAST_SETTLEMENT);
    let left = switchyard_core::tasks::drain(bound).await;
    if left > 0 {
        tracing::warn!(left, ?bound, "background work (budget settlements, alerts) still running at exit is abandoned");
    }
    if let Some(m) = monitor {
        m.abort();
    }
    drop(app);
    if let Some(exporter) = exporter {
        exporter.shutdown(EXPORT_AT_EXIT).await;
    }
    let status = tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    tracing::info!(written = status.written, spooled = status.spooled, "request log flushed; bye");
    Ok(())
}

fn start_writer<S: LogSink>(
    sink: Result<S, switchyard_core::store::StoreError>,
    config: &Config,
    log_config: LogWriterConfig,
) -> anyhow::Result<LogWriter> {
    let sink = sink.with_context(|| format!("cannot open the request log database {}", config.database.describe()))?;
    LogWriter::start(sink, log_config).context("cannot start the request log writer")
}

/// The admin API on its own listener, stopped with the gateway.
async fn start_admin(
    config: &Config,
    app: &Arc<App>,
    reloader: &Arc<Reloader>,
    (logs, secret): (Arc<dyn switchyard_core::store::LogSearch>, Arc<switchyard_core::keys::KeySecret>),
    key: String,
    changed: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let on_change: Arc<dyn Fn() + Send + Sync> = Arc::new(move || changed.notify_one());
    let state = Arc::new(crate::admin::AdminState::new(app.store.clone(), logs, secret, key, on_change).with_reloader(reloader.clone()));
    let listener = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("cannot listen for the admin API on {}", config.admin.listen))?;
    let addr = listener.local_addr()?;
    println!("admin API on http://{addr} (GET /admin/openapi.json)");
    let limits = crate::listen::Limits { max_connections: crate::listen::ADMIN_MAX_CONNECTIONS, max_in_flight: None, ..api_limits(config) };
    let router = crate::http::origin::guard(crate::admin::router(state), app.clone(), crate::http::origin::Listener::Admin);
    Ok(tokio::spawn(crate::listen::serve(listener, router, limits, stop)))
}

fn api_limits(config: &Config) -> crate::listen::Limits {
    let server = &config.server;
    crate::listen::Limits {
        header_timeout: server.header_timeout,
        idle_timeout: server.idle_timeout,
        max_connections: server.max_connections.unwrap_or_else(|| crate::listen::default_max_connections(server.max_in_flight)),
        max_in_flight: Some(server.max_in_flight),
    }
}

fn banner(config: &Config, app: &App, addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "switchyard {}", env!("CARGO_PKG_VERSION"));
    // Tests and scripts read this exact line (docs/CONTRACT.md).
    let _ = writeln!(out, "switchyard listening on http://{addr}");
    let _ = writeln!(out, "providers: {}", app.snapshot().router.provider_names().join(", "));
    let _ = writeln!(out, "data: {}", config.database.describe());
    if app.keys.required() {
        let _ = writeln!(out, "keys: required ({} known)", app.keys.len());
    } else {
        let _ = writeln!(out, "WARNING: virtual keys are not required: anyone who can reach this port can use every provider; set `keys: {{ require: true }}`");
    }
    if config.admin.key.is_none() {
        let _ = writeln!(out, "admin API: off (set SWITCHYARD_ADMIN_KEY or admin.key to manage keys and budgets)");
    }
    if config.redis.is_some() {
        let _ = writeln!(out, "shared state: redis");
    }
    if let Some(t) = &config.telemetry {
        let protocol = match t.protocol {
            crate::config::Protocol::HttpProtobuf => "http/protobuf",
            crate::config::Protocol::Grpc => "grpc",
        };
        let endpoint = crate::config::redact_url(&t.otlp_endpoint);
        let _ = writeln!(out, "traces: OTLP {protocol} to {endpoint} (sample_ratio {})", t.sample_ratio);
    }
    match &config.source {
        Source::Embedded => {
            let _ = writeln!(out, "config: embedded default (no --config); try model \"mock/echo\"");
        }
        Source::File(p) => {
            let _ = writeln!(out, "config: {}", p.display());
        }
    }
    let _ = out.flush();
}

async fn wait_for_signal(stop: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                stop.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    stop.cancel();
}
