//! What keeps the collector up under what the internet sends it: a panic in a handler answers
//! 500 and the server lives on; slow clients time out; connections in flight are bounded; ingest
//! is rate-limited per client address and per campaign (429 with `Retry-After`, which the
//! clickscript honours); and a stop lets what is in flight finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

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
    /// Connections open at once from one client address (trusted proxies are not counted).
    pub connections_per_client: usize,
    /// Longest a connection may take to send a request head, or stay idle between requests.
    pub header_timeout: Duration,
    /// The same for a trusted proxy's connections, which a load balancer keeps open idle.
    pub proxy_idle_timeout: Duration,
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
            connections_per_client: 256,
            header_timeout: Duration::from_secs(10),
            proxy_idle_timeout: Duration::from_secs(75),
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
    failures: Mutex<HashMap<IpAddr, (u32, std::time::Instant)>>,
}

/// Wrong credentials a client address may present in a minute (a dashboard sign-in, a bearer
/// token or API key): plenty for a person's typo, too few to guess a key. Over it, the address
/// is refused without its credential being checked until the minute is over.
pub const FAILURES_PER_MINUTE: u32 = 10;

const FAILURE_WINDOW: Duration = Duration::from_secs(60);

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
            failures: Mutex::default(),
        })
    }

    /// The 429 of a client address that has sent too much, if it has.
    pub fn over_client(&self, ip: Option<IpAddr>) -> Option<Response> {
        let n = self.clients.check_key(&rate_key(ip?)).err()?;
        Some(too_many(
            "from this address",
            n.wait_time_from(DefaultClock::default().now()),
        ))
    }

    /// How long a client address that has presented too many wrong credentials must wait
    /// before one is checked again, if it must. Only wrong credentials count, once checked: a
    /// client's right ones, however many at once, never hold it up. (Guesses sent at once all
    /// pass this before the first is counted: a burst is bounded by the connections one
    /// address may hold, not by the minute's 10.)
    pub fn credential_wait(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = rate_key(ip?);
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, since) = failures.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*n >= FAILURES_PER_MINUTE).then_some(left.max(Duration::from_secs(1)))
    }

    /// Counts a wrong credential from a client address.
    pub fn credential_failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip.map(rate_key) else { return };
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
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
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        failures.shrink_to_fit();
    }
}

/// The 429 of a client address refused for its wrong credentials.
pub fn too_many_failures(wait: Duration) -> Response {
    too_many("with a wrong credential from this address", wait)
}

/// `wait` in whole seconds for `Retry-After`: rounded up, at least 1.
pub fn retry_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn too_many(what: &str, wait: Duration) -> Response {
    let seconds = retry_seconds(wait);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests {what}: retry after {seconds} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    r
}

/// The peer address of a connection, put in each of its requests as connection info.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// The client's address, when the server was started with connection info (tests are not):
/// the peer, or, when the peer is one of the operator's trusted proxies (a load balancer), the
/// nearest address in `X-Forwarded-For` that is not one, since that is the one the proxy saw.
pub struct ClientAddr(pub Option<IpAddr>);

/// The client of a request that came from `peer` with the `forwarded` headers (every
/// `X-Forwarded-For` line, in order), given the proxies trusted to say who their client was.
/// Addresses are compared in their canonical form, so an IPv4-mapped IPv6 peer is its IPv4.
pub fn client_of(peer: IpAddr, forwarded: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Hops are appended by each proxy, a line or a comma at a time: read them from the last.
    let hops = forwarded.iter().rev().flat_map(|line| line.rsplit(','));
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    break;
                }
            }
            // Garbage in the header: the last trusted hop is the best we know.
            Err(_) => break,
        }
    }
    client
}

/// The key a client address is rate-limited under: an IPv4 address, or an IPv6 address's /64
/// (one subscriber's usual allocation, so rotating through it gains no budget).
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from_bits(
            v6.to_bits() & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
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
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientAddr(
            peer.map(|p| client_of(p, &forwarded, &app.trusted_proxies)),
        ))
    }
}

/// Serves `app` on `listener` until `stop` resolves, then lets the requests in flight finish.
///
/// HTTP/1.1 only (browsers and load balancers speak it to an origin; cleartext HTTP/2 would need
/// its own idle bounds). At most `limits.connections` are open at once: the next is accepted only
/// when one closes, so a flood waits in the kernel's backlog instead of in memory. One address
/// holds at most `limits.connections_per_client` of them (a trusted proxy is not counted, since
/// it carries everyone's), and a connection that sends no complete request head within
/// `limits.header_timeout`, a first one or the next on a kept-alive connection, is closed: idle
/// or slow connections cannot hold every place.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    trusted: &[IpAddr],
    stop: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(limits.connections.max(1)));
    let clients = Clients::new(limits.connections_per_client.max(1), trusted);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // A load balancer keeps its connections to the collector open between requests (60 s is
    // common): the collector must not close them first, or the balancer answers 502.
    let mut from_proxy = http.clone();
    from_proxy.header_read_timeout(limits.proxy_idle_timeout.max(limits.header_timeout));
    tokio::pin!(stop);
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => match place {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut stop => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a little and accept again.
                Err(e) => {
                    warn_line!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Some(client) = clients.admit(addr.ip()) else {
            continue; // dropped: closed at once
        };
        let _ = stream.set_nodelay(true);
        let peer = ConnectInfo(Peer(addr));
        let app = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(peer);
            request
        });
        let builder = if client.ip.is_none() {
            &from_proxy
        } else {
            &http
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop((place, client));
        });
    }
    drop(listener);
    // Requests in flight end within their own timeout; a connection left idle is closed at once.
    let bound = limits.request_timeout + Duration::from_secs(5);
    if tokio::time::timeout(bound, graceful.shutdown())
        .await
        .is_err()
    {
        warn_line!(
            "stopping: connections still open after {} s; closing them",
            bound.as_secs()
        );
    }
}

/// How many connections each client address holds.
#[derive(Clone)]
struct Clients {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    most: usize,
    trusted: Arc<[IpAddr]>,
}

/// A client's place among its connections, given back when the connection ends.
struct ClientPlace {
    clients: Clients,
    /// The address counted, `None` for a trusted proxy (not counted).
    ip: Option<IpAddr>,
}

impl Clients {
    fn new(most: usize, trusted: &[IpAddr]) -> Clients {
        Clients {
            open: Arc::default(),
            most,
            trusted: trusted.iter().map(IpAddr::to_canonical).collect(),
        }
    }

    /// A place for one more connection from `ip` (an IPv6 address counted with its /64),
    /// unless it holds its most already.
    fn admit(&self, ip: IpAddr) -> Option<ClientPlace> {
        let ip = ip.to_canonical();
        if self.trusted.contains(&ip) {
            return Some(ClientPlace {
                clients: self.clone(),
                ip: None,
            });
        }
        let ip = rate_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.most {
            return None;
        }
        *n += 1;
        Some(ClientPlace {
            clients: self.clone(),
            ip: Some(ip),
        })
    }
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.clients.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
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
