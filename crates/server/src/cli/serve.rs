//! `switchyard serve`: builds the gateway from its config, listens, and on SIGTERM or Ctrl-C shuts
//! down gracefully — stop accepting, let requests and streams finish within the grace period, end
//! what is left with an explicit error, flush the request log, exit 0.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use switchyard_core::{Router, Timeouts};
use switchyard_providers::registry;
use switchyard_store::{LogWriter, LogWriterConfig, SqliteLog};
use tokio_util::sync::CancellationToken;

use super::load_or_report;
use crate::config::{Config, Overrides, Source};
use crate::http::{router, App};

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
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let mut providers = Vec::new();
    for (name, settings) in &config.providers {
        providers.push((name.clone(), registry::build(name, settings)?));
    }
    let router_ = Router::new(providers, config.models.clone(), Timeouts::default());

    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let db = SqliteLog::open(&config.database, std::time::Duration::from_millis(500))
        .with_context(|| format!("cannot open the request log database {}", config.database.display()))?;
    let mut log_config = LogWriterConfig::new(config.data_dir.join("spool"));
    if let Some(q) = config.log.queue {
        log_config.queue = q.max(1);
    }
    let writer = LogWriter::start(db, log_config).context("cannot start the request log writer")?;

    let app = Arc::new(App {
        router: router_,
        health: Default::default(),
        retry_policy: Default::default(),
        retry_budget: Default::default(),
        log: writer.handle(),
        max_body_bytes: config.max_body_bytes,
        log_bodies: config.log.bodies,
        draining: AtomicBool::new(false),
        force_stop: CancellationToken::new(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    banner(&config, &app, addr);

    let stop = CancellationToken::new();
    tokio::spawn(wait_for_signal(stop.clone()));
    let shared = config.redis.clone().map(|url| crate::shared_state::spawn(url, app.clone(), stop.clone()));
    // Without TCP_NODELAY the small last write of a stream (the chunked-encoding end) waits for
    // the client's delayed ACK, ~40 ms: found by the benchmark on streamed answers.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    let server = axum::serve(listener, router(app.clone())).with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = tokio::spawn(async move { server.await });

    tokio::select! {
        result = &mut server => { result??; }
        () = stop.cancelled() => {
            app.draining.store(true, Ordering::Relaxed);
            tracing::info!(grace = ?config.shutdown_grace, "shutting down: finishing in-flight requests");
            if tokio::time::timeout(config.shutdown_grace, &mut server).await.is_err() {
                tracing::warn!("grace period over: ending the requests still running with an error");
                app.force_stop.cancel();
                // Handlers and streams now end promptly; their connections then close.
                if tokio::time::timeout(std::time::Duration::from_secs(5), &mut server).await.is_err() {
                    server.abort();
                }
            }
        }
    }
    if let Some(task) = shared {
        let _ = task.await;
    }
    drop(app);
    let status = tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    tracing::info!(written = status.written, spooled = status.spooled, "request log flushed; bye");
    Ok(())
}

fn banner(config: &Config, app: &App, addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "switchyard {}", env!("CARGO_PKG_VERSION"));
    // Tests and scripts read this exact line (docs/CONTRACT.md).
    let _ = writeln!(out, "switchyard listening on http://{addr}");
    let _ = writeln!(out, "providers: {}", app.router.provider_names().join(", "));
    let _ = writeln!(out, "data: {}", config.database.display());
    if config.redis.is_some() {
        let _ = writeln!(out, "shared state: redis");
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
