//! The gateway's own accept loop, for the API and the admin listener alike (axum::serve has no
//! header or idle timeout and no connection cap, and sleeps a whole second whenever accept fails
//! for lack of file descriptors — which is exactly when held connections starve everyone).
//!
//! - Every connection has a deadline unless a request is in flight on it: `header_timeout` from
//!   the first byte of a request head, `idle_timeout` otherwise.
//! - At most `max_connections` are open; past it the quietest one makes room (table.rs), and
//!   when all are busy the newcomer gets a 503 and is closed.
//! - At most `max_in_flight` API requests run at once; past it, 503 with `Retry-After` at once.
//! - On stop, connections with nothing in flight close at once; busy ones finish their request.

mod conn;
mod service;
mod table;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::error::ApiError;
use conn::{Conn, Socket};
use service::{Gate, Service};
use table::Table;

/// What one listener allows its connections.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// `None`: requests are not capped here (the admin API).
    pub max_in_flight: Option<usize>,
}

/// File descriptors kept for what is not an inbound connection: the admin listener's
/// connections, the database, the spool, Redis, and the upstream connections (one per request
/// in flight, more with hedging, which `max_in_flight` is added for).
const RESERVED_DESCRIPTORS: usize = 512;

/// The admin API's connection cap: operators, the CLI and the dashboard, not traffic.
pub const ADMIN_MAX_CONNECTIONS: usize = 256;

/// The default connection cap: what the open-file limit leaves after the reserve. The soft
/// limit is first raised to the hard one, as servers do.
pub fn default_max_connections(max_in_flight: usize) -> usize {
    let limit = raise_open_file_limit();
    limit.saturating_sub(RESERVED_DESCRIPTORS + ADMIN_MAX_CONNECTIONS + max_in_flight).max(64)
}

fn raise_open_file_limit() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit.current = limit.maximum,
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
        }
    }
    // No limit at all: count as the common 1M.
    limit.current.map_or(1 << 20, |n| n.min(1 << 20) as usize)
}

struct Shared {
    router: Router,
    limits: Limits,
    table: Table,
    gate: Option<Arc<Gate>>,
    builder: auto::Builder<TokioExecutor>,
}

/// Serves `router` on `listener` until `stop`, then until its last connection has closed.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, stop: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Deadlines are kept per connection here (conn.rs), over both protocols and idle spells.
    builder.http1().header_read_timeout(None);
    let shared = Arc::new(Shared {
        table: Table::new(limits.max_connections),
        gate: limits.max_in_flight.map(|max| Arc::new(Gate::new(max))),
        router,
        limits,
        builder,
    });
    let tasks = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _)) => {
                // Without TCP_NODELAY the small last write of a stream (the chunked-encoding
                // end) waits for the client's delayed ACK, ~40 ms.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
                }
                match shared.table.admit() {
                    Some(conn) => tasks.spawn(connection(tcp, conn, shared.clone(), stop.clone())),
                    None => tasks.spawn(refuse(tcp)),
                };
            }
            Err(e) if out_of_descriptors(&e) => {
                // Free one by closing the quietest connection, and wait for it to go (briefly:
                // if none can go, the pending connection waits in the backlog meanwhile).
                let ended = shared.table.ended.notified();
                if shared.table.evict_one() {
                    let _ = tokio::time::timeout(Duration::from_millis(50), ended).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            // The peer went away between SYN and accept: nothing to do.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    drop(listener);
    shared.table.close_quiet();
    tasks.close();
    tasks.wait().await;
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    let errno = rustix::io::Errno::from_io_error(e);
    errno == Some(rustix::io::Errno::MFILE) || errno == Some(rustix::io::Errno::NFILE)
}

async fn connection(tcp: TcpStream, conn: Arc<Conn>, shared: Arc<Shared>, stop: CancellationToken) {
    let service = Service { router: shared.router.clone(), conn: conn.clone(), gate: shared.gate.clone() };
    let io = TokioIo::new(Socket { tcp, conn: conn.clone() });
    let served = shared.builder.serve_connection(io, service);
    tokio::pin!(served);
    let limits = &shared.limits;
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => break,
            () = conn.close.cancelled() => break,
            () = conn.expired(limits.header_timeout, limits.idle_timeout) => {
                switchyard_core::metrics::TIMED_OUT_CONNECTIONS.inc();
                break;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                // A busy connection finishes its request, then closes; a quiet one closes now
                // (close_quiet cancels it).
                served.as_mut().graceful_shutdown();
            }
        }
    }
    shared.table.remove(conn.id);
}

/// Every open connection has a request in flight: answer 503 and close, without reading the
/// request (it is drained briefly so that closing does not reset the connection under the
/// response).
async fn refuse(mut tcp: TcpStream) {
    switchyard_core::metrics::REFUSED_CONNECTIONS.inc();
    let error = ApiError::Overloaded;
    let body = error.body().to_json();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tcp.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}
