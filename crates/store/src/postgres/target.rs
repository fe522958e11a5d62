//! A PostgreSQL database to connect to, parsed once from a `postgres://` URL, named in errors
//! without its password. Tests isolate themselves with the standard `options` parameter:
//! `postgres://…/db?options=-c%20search_path%3Dmy_schema`.

use std::time::Duration;

use switchyard_core::store::StoreError;
use tokio_postgres::config::Host;
use tokio_postgres::NoTls;

/// How long connecting may take before it counts as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection whose sent data stays unacknowledged this long is dead (a vanished server would
/// otherwise hold a write for the kernel's retransmission timeout, many minutes).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct PgTarget {
    config: tokio_postgres::Config,
    /// `user@host:port/db`, never the password.
    label: String,
}

impl PgTarget {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            // The parser's messages name the option, never its value, so no password leaks.
            .map_err(|e: tokio_postgres::Error| StoreError::Server(format!("invalid PostgreSQL URL: {}", chain(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("switchyard");
        }
        let label = label(&config);
        Ok(Self { config, label })
    }

    /// Wraps a driver error with the database it came from.
    pub fn error(&self, e: &tokio_postgres::Error) -> StoreError {
        StoreError::Server(format!("{}: {}", self.label, chain(e)))
    }

    /// Prefixes a driver error with the database it came from.
    pub fn name_in(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Server(m) if !m.starts_with(&self.label) => StoreError::Server(format!("{}: {m}", self.label)),
            other => other,
        }
    }

    pub fn timed_out(&self, limit: Duration) -> StoreError {
        StoreError::Server(format!("{}: no answer within {limit:?}", self.label))
    }

    /// A blocking client; see `off_runtime` for calling it from async code.
    pub fn connect_sync(&self) -> Result<postgres::Client, StoreError> {
        let config = postgres::Config::from(self.config.clone());
        off_runtime(|| config.connect(NoTls)).map_err(|e| self.error(&e))
    }

    /// An async client whose connection runs as a task until the client is dropped or the
    /// server goes away (then `Client::is_closed` turns true).
    pub async fn connect_async(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| self.error(&e))?;
        let label = self.label.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(database = %label, error = %chain(&e), "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }
}

fn label(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// The error with its causes: `tokio_postgres::Error` displays only its kind ("db error").
fn chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A PostgreSQL driver error as core's `StoreError`, with its causes.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Server(chain(&e))
}

/// Runs blocking `postgres` client code. That client drives its own runtime, which tokio forbids
/// inside another runtime's worker, so from async code the call moves to a scoped thread.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
