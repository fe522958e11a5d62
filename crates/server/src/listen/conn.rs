//! One connection's state as its deadlines see it — busy (a request in flight), sending a request
//! head, or idle — kept by its socket's reads and by its requests' start and end, and the
//! watchdog that closes it when a head or an idle spell lasts too long.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Times are milliseconds since the listener started, plus one: 0 means "not set".
pub struct Conn {
    pub id: u64,
    start: Instant,
    in_flight: AtomicU32,
    /// When the first byte of a request head arrived while nothing was in flight.
    head_since: AtomicU64,
    /// When the connection last became idle (accepted, or its last request ended).
    idle_since: AtomicU64,
    /// Wakes the watchdog when the phase changes.
    changed: Notify,
    /// Closes the connection at once: evicted, or the listener is stopping and it is idle.
    pub close: CancellationToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Busy,
    Head(Instant),
    Idle(Instant),
}

impl Conn {
    pub fn new(id: u64, start: Instant) -> Self {
        let conn = Self {
            id,
            start,
            in_flight: AtomicU32::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            changed: Notify::new(),
            close: CancellationToken::new(),
        };
        conn.idle_since.store(conn.now(), Ordering::Relaxed);
        conn
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    fn instant(&self, stamp: u64) -> Instant {
        self.start + Duration::from_millis(stamp.saturating_sub(1))
    }

    pub fn phase(&self) -> Phase {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Phase::Busy;
        }
        match self.head_since.load(Ordering::Acquire) {
            0 => Phase::Idle(self.instant(self.idle_since.load(Ordering::Acquire))),
            since => Phase::Head(self.instant(since)),
        }
    }

    /// Since when the connection has done nothing useful; `None` while a request is in flight
    /// (it may not be closed to make room).
    pub fn quiet_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::Busy => None,
            Phase::Head(t) | Phase::Idle(t) => Some(t),
        }
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0 {
            self.head_since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// A request head was read: the connection is busy until the returned guard drops with
    /// the response body.
    pub fn begin(self: &std::sync::Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        self.changed.notify_one();
        Busy(self.clone())
    }

    /// Resolves when a request head or an idle spell has outlasted its timeout.
    pub async fn expired(&self, header_timeout: Duration, idle_timeout: Duration) {
        loop {
            let deadline = match self.phase() {
                Phase::Busy => None,
                Phase::Head(since) => Some(since + header_timeout),
                Phase::Idle(since) => Some(since + idle_timeout),
            };
            match deadline {
                Some(d) if d <= Instant::now() => return,
                Some(d) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(d) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// A request in flight on its connection.
pub struct Busy(std::sync::Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The socket, telling its connection when the bytes of a new request head start to arrive.
pub struct Socket {
    pub tcp: TcpStream,
    pub conn: std::sync::Arc<Conn>,
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(75);

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let conn = Conn::new(1, Instant::now());
        let started = Instant::now();
        conn.expired(HEAD, IDLE).await;
        assert_eq!(started.elapsed().as_secs(), 75);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_head_that_started_gets_the_header_timeout_not_the_idle_one() {
        let conn = Arc::new(Conn::new(1, Instant::now()));
        let started = Instant::now();
        let watch = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.expired(HEAD, IDLE).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        conn.bytes_arrived();
        watch.await.unwrap();
        assert_eq!(started.elapsed().as_secs(), 15);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_expires_and_its_idle_clock_restarts_when_the_request_ends() {
        let conn = Arc::new(Conn::new(1, Instant::now()));
        let started = Instant::now();
        conn.bytes_arrived();
        let busy = conn.begin();
        assert_eq!(conn.quiet_since(), None, "a connection with a request in flight is not evictable");
        let watch = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.expired(HEAD, IDLE).await })
        };
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!watch.is_finished());
        drop(busy);
        watch.await.unwrap();
        assert_eq!(started.elapsed().as_secs(), 375);
    }
}
