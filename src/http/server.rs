//! The HTTP/1.1 server under the API: our own accept loop on hyper's connection builder, so that
//! every connection is bounded in time and in number.
//!
//! - **Connection cap**: at most `max_connections` connections are served at once. One beyond it is
//!   accepted and closed at once (counted in `hotdeal_http_connections_refused_total`), so the
//!   process never runs out of file descriptors and a flood of idle sockets cannot starve the
//!   clients already connected.
//! - **Idle timeout**: a connection with no request in progress (before its first request, or
//!   between keep-alive requests) is closed after `idle_timeout`.
//! - **Header timeout**: once the first byte of a request arrives, its headers must be complete
//!   within `header_timeout`, or the connection is closed (slow-header clients).
//! - **Body timeout**: a request body the handler reads must arrive completely within
//!   `body_timeout` of the first read that had to wait for it; past it the read fails with
//!   [`BodyTimeout`], the handler answers `408 REQUEST_TIMEOUT` in the envelope, and the connection
//!   is closed (slow-body clients, 1 byte/s trickles).
//! - **Refused before the body was read** (401, 415, 414, ... while the body is still in flight):
//!   the body is drained in the background, up to `drain_body_bytes` and within the body timeout,
//!   so the next request on the keep-alive connection is served. A body whose `Content-Length`
//!   is too large to drain gets `Connection: close` on the answer instead of a silent close (a
//!   chunked one is drained up to the limit, then the connection is closed).
//! - **Graceful shutdown**: when the shutdown future resolves the listener is closed, idle
//!   connections are closed, in-flight requests finish, and [`serve`] returns when the last
//!   connection is gone.
//!
//! Handlers still get `ConnectInfo<SocketAddr>` (the rate limiter keys on the peer address).
//!
//! Cost per request: no allocation beyond what axum's own `serve` did (the request body was boxed
//! there too), a few atomic operations, and one reset of the connection's timer (the idle and
//! header timeouts share one timer per connection; pushing a deadline later is a compare-and-swap
//! in tokio). A body that has to be waited for arms a timer of its own, and a refused body is
//! drained by a task. Only HTTP/1.1 is served, as before (axum's `http2` feature was off).
//!
//! What cannot be shaped: errors hyper answers before a request reaches the router (a malformed
//! request line or header, more than 100 headers, headers beyond hyper's buffer, an invalid
//! `Content-Length`) are hyper's own bare `400`/`431` with no body, and the connection is closed;
//! the API's lower limits on target and header size ([`super::error::EnvelopeLayer`]) answer in
//! the envelope first in the common cases.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::Service as _;

use crate::config::Config;

/// How long a refused body may take to drain when no body timeout is configured.
const FALLBACK_DRAIN_TIME: Duration = Duration::from_secs(30);

/// The limits a connection is served under (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From a request's first byte to its complete headers; `None` = unbounded.
    pub header_timeout: Option<Duration>,
    /// For a request body, from the first read that waits for it; `None` = unbounded.
    pub body_timeout: Option<Duration>,
    /// Without a request in progress; `None` = unbounded.
    pub idle_timeout: Option<Duration>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest unread body drained (instead of closing the connection) after a refusal.
    pub drain_body_bytes: u64,
}

fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl HttpLimits {
    /// The limits from the configuration (`HOTDEAL_HTTP_*`, the body limit for draining).
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: millis(config.http_header_timeout_ms),
            body_timeout: millis(config.http_body_timeout_ms),
            idle_timeout: millis(config.http_idle_timeout_ms),
            max_connections: config.http_max_connections.max(1),
            drain_body_bytes: config.request_body_limit_bytes as u64,
        }
    }
}

/// A request body stalled past the body timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within the body timeout")
    }
}

impl std::error::Error for BodyTimeout {}

/// Serve `router` on `listener` under `limits` until `shutdown` resolves, then drain: stop
/// accepting, close idle connections, let in-flight requests finish, and return when the last
/// connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_on(listener, router, limits, None, shutdown).await
}

/// Where accepted connections are served: each is handed, round robin, to one of these
/// executors (the actor threads), which registers it with its own I/O driver so the connection's
/// reads, writes and handlers all run on that thread.
#[derive(Clone)]
pub struct ConnectionExecutors {
    count: usize,
    next: Arc<std::sync::atomic::AtomicUsize>,
    spawn: Arc<dyn Fn(usize, ConnectionTask) -> bool + Send + Sync>,
}

/// A connection's whole life, ready to run on an executor.
pub type ConnectionTask = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl ConnectionExecutors {
    /// `count` executors; `spawn(i, task)` runs `task` on executor `i` and says whether it could.
    pub fn new(
        count: usize,
        spawn: impl Fn(usize, ConnectionTask) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            count: count.max(1),
            next: Arc::default(),
            spawn: Arc::new(spawn),
        }
    }

    fn spawn(&self, task: ConnectionTask) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.count;
        (self.spawn)(i, task)
    }
}

/// [`serve`], with connections run on `executors` when given (else on the calling runtime).
pub async fn serve_on(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    executors: Option<ConnectionExecutors>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    warn_if_fd_limit_below(limits.max_connections);
    let permits = limits.max_connections.min(Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(Semaphore::new(permits as usize));
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    on_accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, remote);
            continue;
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        match &executors {
            None => {
                tokio::spawn(async move {
                    let _slot = slot;
                    serve_connection(stream, remote, router, limits, stop).await;
                });
            }
            Some(executors) => {
                // Deregister from this runtime's driver; the executor registers it with its own.
                let std_stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(err) => {
                        tracing::debug!(%remote, error = %err, "could not hand the connection over");
                        continue;
                    }
                };
                let task: ConnectionTask = Box::pin(async move {
                    let _slot = slot;
                    match TcpStream::from_std(std_stream) {
                        Ok(stream) => serve_connection(stream, remote, router, limits, stop).await,
                        Err(err) => {
                            tracing::warn!(%remote, error = %err, "could not register the connection")
                        }
                    }
                });
                if !executors.spawn(task) {
                    tracing::debug!(%remote, "executor stopped; connection dropped");
                }
            }
        }
    }
    drop(listener);
    tracing::info!("HTTP listener closed, draining connections");
    let _ = stop_tx.send(());
    // Every connection holds a slot until it is closed: all slots back = all connections gone.
    let _all = slots.acquire_many(permits).await;
    Ok(())
}

/// A connection beyond the cap: close it now (before reading anything), count it, warn at most
/// once a second.
fn refuse(stream: TcpStream, remote: SocketAddr) {
    static LAST_WARN_S: AtomicU64 = AtomicU64::new(0);
    drop(stream);
    metrics::counter!("hotdeal_http_connections_refused_total").increment(1);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if LAST_WARN_S.swap(now_s, Ordering::Relaxed) != now_s {
        tracing::warn!(%remote, "connection refused: HOTDEAL_HTTP_MAX_CONNECTIONS reached");
    }
}

/// Accept errors: a peer that went away is nothing; anything else (out of file descriptors) is
/// logged and waited out briefly instead of spinning.
async fn on_accept_error(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Warn when the process may open fewer files than the connection cap needs (Linux only).
fn warn_if_fd_limit_below(max_connections: usize) {
    /// Files the process needs besides connections: database, journal, snapshots, Redis, ...
    const RESERVED_FDS: u64 = 256;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft {
        let needed = max_connections as u64 + RESERVED_FDS;
        if soft < needed {
            tracing::warn!(
                open_files_limit = soft,
                max_connections,
                "the open files limit (ulimit -n) is below HOTDEAL_HTTP_MAX_CONNECTIONS + {RESERVED_FDS}: \
                 raise it or lower the connection cap"
            );
        }
    }
}

/// Serve one accepted connection under `limits` until it closes; `stop` changing (or its sender
/// going away) starts a graceful close. Runs on whichever runtime polls it.
pub async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let _open = OpenConnection::count();
    let shared = Arc::new(ConnShared::default());
    let io = TokioIo::new(WatchedStream::new(stream, shared.clone(), &limits));
    let service = ConnService {
        router,
        shared,
        remote,
        limits,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header timeout is ours (hyper's would also cut idle keep-alive connections short).
    builder.header_read_timeout(None);
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%remote, error = %err, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Counts a connection in `hotdeal_http_connections_open` while it lives (even if its future is
/// dropped unfinished).
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!("hotdeal_http_connections_open").increment(1.0);
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("hotdeal_http_connections_open").decrement(1.0);
    }
}

/// What a connection's service, bodies and socket share.
#[derive(Debug, Default)]
struct ConnShared {
    /// Even: no request in progress; odd: a request is being served (from its parsed head until
    /// its response body is done). Bumped at both edges, so the socket sees every change.
    generation: AtomicU32,
    /// The current request's body will not be read to its end: answer with `Connection: close`.
    close: AtomicBool,
}

/// Where a connection is, as its socket sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in progress and no byte of the next one yet: the idle timeout applies.
    Idle,
    /// Bytes of a request head arrived, the head is not complete: the header timeout applies.
    Head,
    /// A request is being served: bodies have their own timeout, handlers take what they take.
    Busy,
}

/// The TCP stream with the idle and header timeouts: a read that has to wait past the current
/// phase's deadline fails with `TimedOut`, which ends the connection.
struct WatchedStream {
    inner: TcpStream,
    shared: Arc<ConnShared>,
    seen_generation: u32,
    phase: Phase,
    /// Whether `timer` holds the deadline of the current phase.
    armed: bool,
    timer: Option<Pin<Box<Sleep>>>,
    header_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl WatchedStream {
    fn new(inner: TcpStream, shared: Arc<ConnShared>, limits: &HttpLimits) -> Self {
        Self {
            inner,
            shared,
            seen_generation: 0,
            phase: Phase::Idle,
            armed: false,
            timer: None,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Follow the service: a request began (odd generation) or its response ended (even).
    fn sync_phase(&mut self) {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation != self.seen_generation {
            self.seen_generation = generation;
            self.phase = if generation.is_multiple_of(2) {
                Phase::Idle
            } else {
                Phase::Busy
            };
            self.armed = false;
        }
    }

    /// Waiting for bytes: arm the phase's deadline if not yet, and fail once it passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = match self.phase {
            Phase::Idle => self.idle_timeout,
            Phase::Head => self.header_timeout,
            Phase::Busy => None,
        };
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        if !self.armed {
            let deadline = Instant::now() + timeout;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        let Some(timer) = self.timer.as_mut() else {
            return Poll::Pending;
        };
        ready!(timer.as_mut().poll(cx));
        let phase = if self.phase == Phase::Idle {
            "idle"
        } else {
            "header"
        };
        metrics::counter!("hotdeal_http_connections_timed_out_total", "phase" => phase)
            .increment(1);
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{phase} timeout"),
        ))
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync_phase();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.phase = Phase::Head;
                    this.armed = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_deadline(cx).map(Err),
            other => other,
        }
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // hyper flushes after each response, but it reads again only when the socket wakes it:
        // arm the idle deadline here, so its expiry wakes the connection and the next read
        // fails with it.
        this.sync_phase();
        if this.phase == Phase::Idle && !this.armed {
            let _ = this.poll_deadline(cx);
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The per-connection service hyper calls with each parsed request.
struct ConnService {
    router: Router,
    shared: Arc<ConnShared>,
    remote: SocketAddr,
    limits: HttpLimits,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ObservedBody>;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        // Odd: a request is in progress (its head is parsed).
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.close.store(false, Ordering::Relaxed);
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(self.remote));
        let body = TimedBody::new(body, &parts.headers, &self.limits, &self.shared);
        let req = Request::from_parts(parts, axum::body::Body::new(body));
        ConnFuture {
            inner: self.router.clone().call(req),
            shared: Some(self.shared.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The router's future; on completion the response body is wrapped in [`ObservedBody`] and
    /// `Connection: close` is added when the request body will not be read to its end.
    struct ConnFuture {
        #[pin]
        inner: axum::routing::future::RouteFuture<Infallible>,
        shared: Option<Arc<ConnShared>>,
    }
}

impl Future for ConnFuture {
    type Output = Result<Response<ObservedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        let shared = this
            .shared
            .take()
            .expect("ConnFuture polled after completion");
        if shared.close.load(Ordering::Relaxed) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response.map(|inner| ObservedBody { inner, shared })))
    }
}

/// A response body that marks the end of its request when hyper is done with it.
pub struct ObservedBody {
    inner: axum::body::Body,
    shared: Arc<ConnShared>,
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // Even: no request in progress; the idle timeout starts.
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A request body with the body timeout, drained in the background when dropped unread.
    struct TimedBody {
        inner: Option<Incoming>,
        #[pin]
        timer: Option<Sleep>,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
        drain_limit: u64,
        // The client waits for `100 Continue` before sending the body: a refusal means no body
        // will come, so there is nothing to drain and the connection closes (as hyper does).
        expects_continue: bool,
        // Set for bodies that have bytes to come; `None` for empty ones.
        shared: Option<Arc<ConnShared>>,
        // The end was reached or the body failed: nothing to drain.
        finished: bool,
    }

    impl PinnedDrop for TimedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.finished {
                return;
            }
            let (Some(body), Some(shared)) = (this.inner.take(), this.shared.take()) else {
                return;
            };
            if body.is_end_stream() {
                return;
            }
            let fits = !*this.expects_continue && body.size_hint().lower() <= *this.drain_limit;
            let runtime = tokio::runtime::Handle::try_current();
            match runtime {
                Ok(runtime) if fits => {
                    let deadline = this.deadline.unwrap_or_else(|| {
                        Instant::now() + this.timeout.unwrap_or(FALLBACK_DRAIN_TIME)
                    });
                    runtime.spawn(drain(body, *this.drain_limit, deadline));
                }
                _ => shared.close.store(true, Ordering::Relaxed),
            }
        }
    }
}

impl TimedBody {
    fn new(
        inner: Incoming,
        headers: &axum::http::HeaderMap,
        limits: &HttpLimits,
        shared: &Arc<ConnShared>,
    ) -> Self {
        let has_body = !inner.is_end_stream();
        let shared = has_body.then(|| shared.clone());
        let expects_continue = has_body && headers.contains_key(header::EXPECT);
        Self {
            inner: Some(inner),
            timer: None,
            deadline: None,
            timeout: limits.body_timeout,
            drain_limit: limits.drain_body_bytes,
            expects_continue,
            shared,
            finished: false,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(None) => {
                *this.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(err))) => {
                *this.finished = true;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Pending => {
                let Some(timeout) = *this.timeout else {
                    return Poll::Pending;
                };
                if this.timer.is_none() {
                    let deadline = Instant::now() + timeout;
                    *this.deadline = Some(deadline);
                    this.timer.set(Some(tokio::time::sleep_until(deadline)));
                }
                if let Some(timer) = this.timer.as_pin_mut() {
                    ready!(timer.poll(cx));
                }
                // Stalled past the deadline: fail the read and close after the answer.
                *this.finished = true;
                if let Some(shared) = this.shared.as_ref() {
                    shared.close.store(true, Ordering::Relaxed);
                }
                metrics::counter!("hotdeal_http_connections_timed_out_total", "phase" => "body")
                    .increment(1);
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(body) if !self.finished => body.size_hint(),
            _ => SizeHint::with_exact(0),
        }
    }
}

/// Read and discard what is left of a refused request body (at most `limit` bytes, until
/// `deadline`), so hyper can go on to the next request on the connection. Giving up drops the
/// body, and hyper closes the connection.
async fn drain(mut body: Incoming, limit: u64, deadline: Instant) {
    let mut seen: u64 = 0;
    let read_all = async {
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let Ok(frame) = frame else { return };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > limit {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, read_all).await;
}
