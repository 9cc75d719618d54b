//! The collector survives what the internet sends it: panics, slow clients, floods.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::routing::get as route_get;
use collector::router;
use collector::server::{client_of, harden, rate_key, serve, Limits, Peer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::{batch, chunk_body, event, get, hardened, post, send, state, uid, ORIGIN};

async fn boom() -> StatusCode {
    panic!("a bug in a handler")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_json_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let app = harden(
        router(state(&dir, Some("secret"), &limits)).route("/boom", route_get(boom)),
        &limits,
    );
    let (s, v, _) = get(&app, "/boom").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        v["error"], "internal error",
        "the panic's text stays in the log"
    );
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_error_is_json_whoever_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = hardened(&dir, Some("secret"), &Limits::default());
    // A method the route does not take, a path nothing serves, a query string that does not parse.
    let (s, v, h) = get(&app, "/v1/events").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["error"].is_string(), "{v}");
    assert!(h.contains_key(header::ALLOW));
    let (s, v, _) = get(&app, "/no/such/page").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].is_string(), "{v}");
    let req = Request::get("/v1/campaigns/c1/events?after=abc")
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::empty())
        .unwrap();
    let (s, v, h) = send(&app, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("after"), "{v}");
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn slow_requests_and_bodies_time_out_with_408_and_ingest_says_retry() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let app = harden(
        router(state(&dir, Some("secret"), &limits)).route(
            "/slow",
            route_get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
        ),
        &limits,
    );
    let (s, v, _) = get(&app, "/slow").await;
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT);
    assert!(v["error"].is_string());
    // A body that never finishes: 408 (the clickscript retries), not 413 (which it drops).
    let stalled = chunk_body(b"{\"v\":1,", Default::default(), true);
    let req = Request::post("/v1/events").body(stalled).unwrap();
    let (s, v, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("retry"), "{v}");
    // The same for an admin body and a server event's: 408, so the sender sends it again.
    for (method, path) in [
        ("PUT", "/admin/campaigns/c1"),
        ("POST", "/v1/server-events"),
    ] {
        let stalled = chunk_body(b"{\"id\":", Default::default(), true);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer secret")
            .body(stalled)
            .unwrap();
        let (s, v, _) = send(&app, req).await;
        assert_eq!(s, StatusCode::REQUEST_TIMEOUT, "{path}: {v}");
    }
}

fn trusted() -> Vec<std::net::IpAddr> {
    vec!["10.0.0.1".parse().unwrap()]
}

fn from(addr: &str, body: String) -> Request<Body> {
    let mut req = post(body, Some(ORIGIN));
    let peer: SocketAddr = addr.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(Peer(peer)));
    req
}

#[tokio::test]
async fn ingest_is_rate_limited_per_client_address_and_per_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        per_client: 1,
        per_campaign: 2,
        ..Limits::default()
    };
    let app = hardened(&dir, Some("secret"), &limits);
    let body = |n: u32| batch("c1", vec![event(&uid(n), "quote", "engagement")]);
    // A burst of 5 from one address passes; the sixth is told when to come back.
    for n in 0..5 {
        let (s, v, _) = send(&app, from("203.0.113.7:5000", body(n))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v, h) = send(&app, from("203.0.113.7:5001", body(5))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(v["error"].as_str().unwrap().contains("from this address"));
    let after: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&after), "{after}");
    assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Retry-After");
    // Other addresses share the campaign's budget (10 in a burst): 5 more pass, then 429.
    for n in 10..15 {
        let (s, v, _) = send(&app, from(&format!("198.51.100.{n}:1"), body(n))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v, h) = send(&app, from("198.51.100.99:1", body(99))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(v["error"].as_str().unwrap().contains("for this campaign"));
    assert!(h.contains_key(header::RETRY_AFTER));
    // Behind the trusted load balancer (10.0.0.1), the client is the one it names; a client
    // cannot pass itself off as another by sending the header itself.
    assert_eq!(
        client_of(
            "10.0.0.1".parse().unwrap(),
            &["6.6.6.6, 192.0.2.5"],
            &trusted()
        ),
        "192.0.2.5".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        client_of("192.0.2.9".parse().unwrap(), &["192.0.2.5"], &trusted()),
        "192.0.2.9".parse::<std::net::IpAddr>().unwrap()
    );
    let mut req = from(
        "10.0.0.1:1",
        batch("c2", vec![event(&uid(200), "quote", "engagement")]),
    );
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    let (s, _, _) = send(&app, req).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "203.0.113.7 is still over its rate"
    );
    // Another campaign has its own.
    let other = batch("c2", vec![event(&uid(100), "quote", "engagement")]);
    let (s, v, _) = send(&app, from("198.51.100.100:1", other)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// A collector served by [`serve`] with `limits` on a free loopback port, stopped when the
/// returned sender is dropped or sent to; its task ends once every connection has closed.
async fn serving(
    dir: &tempfile::TempDir,
    limits: Limits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let app = hardened(dir, Some("secret"), &limits);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(tcp, app, &limits, &[], async {
            let _ = stopped.await;
        })
        .await
    });
    (addr, stop, task)
}

const ASK: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Sends [`ASK`] on `c` and says whether a 200 came back within 5 s.
async fn asked(c: &mut tokio::net::TcpStream) -> bool {
    if c.write_all(ASK).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        _ => false,
    }
}

/// `n` connections, each served a request and kept alive, holding its place.
async fn served_and_kept(addr: SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(asked(&mut c).await);
        held.push(c);
    }
    held
}

/// Whether the collector closed `c` within `within` (a read answers end of file or an error).
async fn closed(c: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(within, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 or the like before the close
        }
    }
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        connections: 2,
        ..Limits::default()
    };
    let (addr, _stop, _) = serving(&dir, limits).await;
    let mut held = served_and_kept(addr, 2).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(ASK).await.unwrap();
    let mut buf = [0u8; 512];
    let early = tokio::time::timeout(Duration::from_millis(400), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the bound"
    );
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a place was free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_so_they_cannot_hold_every_place() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        connections: 2,
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (addr, _stop, _) = serving(&dir, limits).await;
    // One connection that says nothing, one that sends its head a byte at a time and never ends
    // it, and one kept alive after a request: all three are closed after the header timeout.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let dribble = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
            .iter()
            .cycle()
            .take(40)
        {
            if slow.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closed(&mut slow, Duration::from_secs(1)).await
    });
    assert!(
        closed(&mut silent, Duration::from_secs(3)).await,
        "a silent connection stayed open"
    );
    assert!(
        dribble.await.unwrap(),
        "a head sent a byte at a time kept its place"
    );
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(asked(&mut kept).await, "a place was free again");
    assert!(
        closed(&mut kept, Duration::from_secs(3)).await,
        "an idle kept-alive connection stayed open"
    );
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        connections: 10,
        connections_per_client: 2,
        ..Limits::default()
    };
    let (addr, _stop, _) = serving(&dir, limits).await;
    let mut held = served_and_kept(addr, 2).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        !asked(&mut third).await,
        "a third connection from one address was served"
    );
    drop(held.pop());
    // Its place is given back once the collector sees the close.
    let mut served = false;
    for _ in 0..50 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        if asked(&mut c).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the address's place was not given back");
}

#[tokio::test]
async fn a_stop_finishes_the_request_in_flight_and_closes_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) = serving(&dir, Limits::default()).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(asked(&mut idle).await);
    // A request whose body is still on its way when the stop comes.
    let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = batch("c1", vec![event(&uid(1), "quote", "engagement")]).into_bytes();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {ORIGIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    busy.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    assert!(
        closed(&mut idle, Duration::from_secs(3)).await,
        "the idle connection stayed open"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "a new connection was accepted after the stop"
    );
    busy.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut answer))
        .await
        .expect("the request in flight was answered and its connection closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returned once every connection closed")
        .unwrap();
}

#[tokio::test]
async fn the_served_configuration_never_names_a_host_a_request_made_up() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let mut app = state(&dir, Some("secret"), &limits);
    app.public_url = None;
    app.allowed_hosts = vec!["collect.example:8080".into(), "localhost:8080".into()];
    let app = harden(router(app), &limits);
    let with_host = |host: &str| {
        Request::get("/v1/campaigns/c1/config")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    let (_, v, _) = send(&app, with_host("localhost:8080")).await;
    assert_eq!(v["collector"], "http://localhost:8080");
    let (_, v, _) = send(&app, with_host("evil.example")).await;
    assert_eq!(v["collector"], "http://collect.example:8080");
}

#[test]
fn the_client_behind_proxies_is_read_from_every_forwarded_line_in_canonical_form() {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
    // Two proxies, each adding a line: the client is the last untrusted hop of the last line.
    assert_eq!(
        client_of(
            ip("10.0.0.1"),
            &["6.6.6.6", "192.0.2.5, 10.0.0.2"],
            &trusted
        ),
        ip("192.0.2.5")
    );
    // A proxy seen over IPv6 as an IPv4-mapped address is still the trusted proxy.
    assert_eq!(
        client_of(ip("::ffff:10.0.0.1"), &["::ffff:192.0.2.5"], &trusted),
        ip("192.0.2.5")
    );
    assert_eq!(
        client_of(ip("::ffff:192.0.2.9"), &[], &trusted),
        ip("192.0.2.9")
    );
    // An IPv6 client is limited by its /64, so rotating through it gains nothing.
    assert_eq!(
        rate_key(ip("2001:db8:1:2:aaaa::1")),
        rate_key(ip("2001:db8:1:2:ffff::9"))
    );
    assert_ne!(
        rate_key(ip("2001:db8:1:2::1")),
        rate_key(ip("2001:db8:1:3::1"))
    );
    assert_eq!(rate_key(ip("192.0.2.5")), ip("192.0.2.5"));
}
