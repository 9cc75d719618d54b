//! What keeps the collector up under what the internet sends it: a panic in a handler answers
//! 500 and the server lives on; slow clients time out; connections in flight are bounded; ingest
//! is rate-limited per client address and per campaign (429 with `Retry-After`, which the
//! clickscript honours); and a stop lets what is in flight finish.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error;

/// The server's bounds, from the command line.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest a request may take, body read and answer included.
    pub request_timeout: Duration,
    /// Longest the body of a request may take to arrive.
    pub body_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub connections: usize,
    /// Ingest batches per second from one client address (bursts of 5×).
    pub per_client: u32,
    /// Ingest batches per second for one campaign (bursts of 5×).
    pub per_campaign: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            connections: 4096,
            per_client: 50,
            per_campaign: 5000,
        }
    }
}

/// Wraps the collector's routes in its defences: a panic becomes a JSON 500, a request over its
/// time a 408, a body slower than its time a 408, and every error answer JSON.
pub fn harden(router: Router, limits: &Limits) -> Router {
    router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

/// Largest error body (plain text from a library's rejection) carried into the JSON error.
const MAX_ERROR_TEXT: usize = 4096;

/// Every error answer is JSON, whoever made it (an extractor's plain-text rejection, a timeout's
/// empty 408, a 405): the text, if any, becomes its `error`; HTML pages (the sign-in) stay.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if status.as_u16() < 400
        || kind.starts_with("application/json")
        || kind.starts_with("text/html")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut fresh = error(status, message);
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in parts.headers.iter() {
        fresh.headers_mut().insert(name.clone(), value.clone());
    }
    fresh
}

/// The answer to a request whose handler panicked; the panic is logged on one line.
fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    warn_line!("panic in a request handler (answered 500, server continues): {what}");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Ingest's rate limits: one per client address, one per campaign.
pub struct RateLimits {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    campaigns: DefaultKeyedRateLimiter<String>,
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.max(1).saturating_mul(5)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl RateLimits {
    /// Limits at the given rates.
    pub fn new(limits: &Limits) -> Arc<RateLimits> {
        Arc::new(RateLimits {
            clients: DefaultKeyedRateLimiter::keyed(quota(limits.per_client)),
            campaigns: DefaultKeyedRateLimiter::keyed(quota(limits.per_campaign)),
        })
    }

    /// The 429 of a client address that has sent too much, if it has.
    pub fn over_client(&self, ip: Option<IpAddr>) -> Option<Response> {
        let n = self.clients.check_key(&ip?).err()?;
        Some(too_many(
            "from this address",
            n.wait_time_from(DefaultClock::default().now()),
        ))
    }

    /// The 429 of a campaign that takes more than its rate, if it does.
    pub fn over_campaign(&self, id: &str) -> Option<Response> {
        let n = self.campaigns.check_key(&id.to_owned()).err()?;
        Some(too_many(
            "for this campaign",
            n.wait_time_from(DefaultClock::default().now()),
        ))
    }

    /// Forgets keys whose limits are back to full, so that many addresses seen once do not
    /// hold memory (run every minute).
    pub fn forget_idle(&self) {
        self.clients.retain_recent();
        self.campaigns.retain_recent();
        self.clients.shrink_to_fit();
        self.campaigns.shrink_to_fit();
    }
}

fn too_many(what: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests {what}: retry after {seconds} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    r
}

/// The peer address of a connection of the [`BoundedListener`], as connection info.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, BoundedListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, BoundedListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// The client's address, when the server was started with connection info (tests are not):
/// the peer, or, when the peer is one of the operator's trusted proxies (a load balancer), the
/// nearest address in `X-Forwarded-For` that is not one, since that is the one the proxy saw.
pub struct ClientAddr(pub Option<IpAddr>);

/// The client of a request that came from `peer` with the `forwarded` header, given the proxies
/// trusted to say who their client was.
pub fn client_of(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.unwrap_or("").rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            // Garbage in the header: the last trusted hop is the best we know.
            Err(_) => break,
        }
    }
    client
}

impl FromRequestParts<crate::App> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &crate::App,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|c| c.0 .0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientAddr(
            peer.map(|p| client_of(p, forwarded, &app.trusted_proxies)),
        ))
    }
}

/// A listener that holds at most `permits` connections open: the next is accepted only when
/// one closes, so a flood of connections waits in the kernel's backlog instead of in memory.
pub struct BoundedListener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
}

impl BoundedListener {
    /// Bounds `listener` to `connections` at once.
    pub fn new(listener: TcpListener, connections: usize) -> BoundedListener {
        BoundedListener {
            listener,
            permits: Arc::new(Semaphore::new(connections.max(1))),
        }
    }
}

/// A connection holding its place among the bounded ones until it is dropped.
pub struct Bounded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl axum::serve::Listener for BoundedListener {
    type Io = Bounded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Bounded, SocketAddr) {
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed; should it be, wait forever rather than spin.
            Err(_) => std::future::pending().await,
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        Bounded {
                            stream,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: wait a little and accept again.
                Err(e) => {
                    warn_line!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Resolves on Ctrl-C or SIGTERM (what an orchestrator sends): the server then stops accepting
/// and lets requests in flight finish.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    log_line!("stopping: no new connections; finishing requests in flight");
}
