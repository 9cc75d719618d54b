//! Lead data is private: reading stored events takes the admin token, an organization's API key
//! (its own campaigns only) or a dashboard session; refusals are JSON and never say whether the
//! campaign or transaction exists.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::json;

mod common;

use common::{app, batch, chunk_body, event, get, post, send, send_raw, uid, ORIGIN, TXN};

fn with(path: &str, credential: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {credential}"))
        .body(Body::empty())
        .unwrap()
}

async fn new_key(app: &Router, org: &str) -> (String, String) {
    let req = Request::post(format!("/admin/orgs/{org}/keys"))
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::from(r#"{"name":"reports"}"#))
        .unwrap();
    let (s, v, _) = send(app, req).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["key"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    )
}

async fn ingest_lead(app: &Router) {
    let body = batch("c1", vec![event(&uid(1), "base", "lead")]);
    let (s, v, _) = send(app, post(body, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn reading_stored_data_takes_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    ingest_lead(&app).await;
    for path in [
        "/v1/campaigns",
        "/v1/campaigns/c1/events",
        &format!("/v1/leads/{TXN}"),
    ] {
        let (s, v, h) = get(&app, path).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        assert!(v["error"].as_str().unwrap().contains("credential"), "{v}");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        let (s, _, _) = send(&app, with(path, "not-a-credential")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        let (s, v, _) = send(&app, with(path, "secret")).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    // What stays public: the page's configuration and ingest.
    assert_eq!(get(&app, "/v1/campaigns/c1/config").await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_api_key_reads_its_organization_only_and_refusals_reveal_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    ingest_lead(&app).await;
    let (o_key, o_id) = new_key(&app, "o").await;
    let (p_key, _) = new_key(&app, "p").await;
    assert!(o_key.starts_with("ck_") && o_key.contains(&o_id));

    let (s, v, _) = send(&app, with("/v1/campaigns/c1/events", &o_key)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    let (_, v, _) = send(&app, with("/v1/campaigns", &o_key)).await;
    let ids: Vec<&str> = v["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    assert_eq!(v["signed_in_as"], "organization o");

    // Another organization's campaign and a campaign nobody has: the same 403, word for word.
    let (s1, other, _) = send(&app, with("/v1/campaigns/c1/events", &p_key)).await;
    let (s2, missing, _) = send(&app, with("/v1/campaigns/nope/events", &p_key)).await;
    assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(
        other["error"].as_str().unwrap().replace("c1", "X"),
        missing["error"].as_str().unwrap().replace("nope", "X")
    );
    // A lead of another organization and a lead that does not exist: the same 403 too.
    let (s1, other, _) = send(&app, with(&format!("/v1/leads/{TXN}"), &p_key)).await;
    let absent = "00000000-0000-4000-8000-000000000000";
    let (s2, missing, _) = send(&app, with(&format!("/v1/leads/{absent}"), &p_key)).await;
    assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(
        other["error"].as_str().unwrap().replace(TXN, "X"),
        missing["error"].as_str().unwrap().replace(absent, "X")
    );
    let (s, v, _) = send(&app, with(&format!("/v1/leads/{TXN}"), &o_key)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["events"][0]["event_id"], "base");

    // A key is no admin.
    let (s, _, _) = send(&app, with("/admin/catalog", &o_key)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Listed without its secret; stored only as a digest.
    let (_, v, _) = send(&app, with("/admin/orgs/o/keys", "secret")).await;
    assert_eq!(v["keys"][0]["id"], o_id.as_str());
    assert!(v["keys"][0].get("key").is_none() && !v.to_string().contains(&o_key));
    let secret = o_key.rsplit('_').next().unwrap().as_bytes();
    if common::on_postgres() {
        let rows = common::query(dir.path(), "SELECT * FROM api_keys");
        assert_eq!(rows.len(), 2);
        assert!(!format!("{rows:?}").contains(std::str::from_utf8(secret).unwrap()));
    } else {
        let db = std::fs::read(dir.path().join("t.db")).unwrap();
        let wal = std::fs::read(dir.path().join("t.db-wal")).unwrap_or_default();
        for file in [&db, &wal] {
            assert!(!file.windows(secret.len()).any(|w| w == secret));
        }
    }

    // Revoked: refused at once.
    let revoke = Request::delete(format!("/admin/keys/{o_id}"))
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, revoke).await.0, StatusCode::OK);
    let (s, _, _) = send(&app, with("/v1/campaigns/c1/events", &o_key)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Unknown organization: no key.
    let req = Request::post("/admin/orgs/nobody/keys")
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_admin_api_refuses_before_reading_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let polled = Arc::new(AtomicBool::new(false));
    let seen = polled.clone();
    let body = chunk_body(br#"{"id":"x","category":"lead"}"#, seen, false);
    let req = Request::post("/admin/orgs/o/events")
        .header(header::AUTHORIZATION, "Bearer wrong")
        .body(body)
        .unwrap();
    let (s, v, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(!polled.load(Ordering::SeqCst), "the body was read");
}

fn form(credential: &str, next: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::post(format!("/dashboard/sign-in?next={next}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(format!("credential={credential}")))
        .unwrap()
}

/// The collector, serving a sign-in page (its error paragraph) from `dir`.
fn with_sign_in_page(dir: &tempfile::TempDir) -> Router {
    std::fs::write(
        dir.path().join("sign-in.html"),
        "<form></form><p id=\"error\" hidden></p>",
    )
    .unwrap();
    app(dir)
}

fn cookie_of(h: &HeaderMap) -> String {
    h[header::SET_COOKIE].to_str().unwrap().to_owned()
}

fn as_cookie(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_dashboard_signs_in_with_a_session_cookie_and_out_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.html"), "<h1>dashboard</h1>").unwrap();
    let app = with_sign_in_page(&dir);
    ingest_lead(&app).await;

    // Not signed in: sent to the sign-in, with the way back.
    let (s, _, h) = get(&app, "/dashboard?lead=abc").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        h[header::LOCATION],
        "/dashboard/sign-in?next=%2Fdashboard%3Flead%3Dabc"
    );

    let res = send_raw(&app, form("wrong", "%2Fdashboard", &[])).await;
    assert_eq!(res.0, StatusCode::UNAUTHORIZED);
    assert!(res.1.contains("neither the admin token nor a live API key"));
    assert!(!res.2.contains_key(header::SET_COOKIE));

    let (s, _, h) = send(&app, form("secret", "%2Fdashboard%3Flead%3Dabc", &[])).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/dashboard?lead=abc");
    let set = cookie_of(&h);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = as_cookie(&set);

    let signed_in = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, cookie.clone())
            .body(Body::empty())
            .unwrap()
    };
    let res = send_raw(&app, signed_in("/dashboard")).await;
    assert_eq!(res.0, StatusCode::OK);
    assert!(res.1.contains("<h1>dashboard</h1>"));
    assert_eq!(res.2[header::CACHE_CONTROL], "no-store");
    let (s, v, _) = send(&app, signed_in("/v1/campaigns/c1/events")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["events"].as_array().unwrap().len(), 1);

    // Sign-out ends the session server-side: the old cookie reads nothing.
    let out = Request::post("/dashboard/sign-out")
        .header(header::COOKIE, cookie.clone())
        .body(Body::empty())
        .unwrap();
    let (s, _, h) = send(&app, out).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(cookie_of(&h).contains("Max-Age=0"));
    let (s, _, _) = send(&app, signed_in("/v1/campaigns/c1/events")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Behind an HTTPS proxy the cookie is Secure; a `next` to another site goes to the dashboard.
    let (_, _, h) = send(
        &app,
        form(
            "secret",
            "%2F%2Fevil.example%2Fdashboard",
            &[("x-forwarded-proto", "https")],
        ),
    )
    .await;
    assert!(cookie_of(&h).contains("Secure"));
    assert_eq!(h[header::LOCATION], "/dashboard");
}

#[tokio::test]
async fn a_key_session_ends_when_its_key_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let (key, id) = new_key(&app, "p").await;
    let (s, _, h) = send(&app, form(&key, "%2Fdashboard", &[])).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = as_cookie(&cookie_of(&h));
    let campaigns = || {
        Request::get("/v1/campaigns")
            .header(header::COOKIE, cookie.clone())
            .body(Body::empty())
            .unwrap()
    };
    let (_, v, _) = send(&app, campaigns()).await;
    assert_eq!(v["campaigns"], json!([{"id":"p1","name":"","org":"p"}]));
    let revoke = Request::delete(format!("/admin/keys/{id}"))
        .header(header::AUTHORIZATION, "Bearer secret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, revoke).await.0, StatusCode::OK);
    assert_eq!(send(&app, campaigns()).await.0, StatusCode::UNAUTHORIZED);
}

/// `request` as if it came from `ip`.
fn from_ip(mut request: Request<Body>, ip: &str) -> Request<Body> {
    let peer = collector::server::Peer(format!("{ip}:1000").parse().unwrap());
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    request
}

#[tokio::test]
async fn credential_guesses_from_one_address_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let app = with_sign_in_page(&dir);
    let sign_in = |ip: &str, credential: &str| from_ip(form(credential, "%2Fdashboard", &[]), ip);
    // Wrong sign-ins, wrong API keys and wrong admin tokens count together.
    for n in 0..10 {
        let wrong = format!("ck_guess_{n}");
        let res = match n % 3 {
            0 => send_raw(&app, sign_in("203.0.113.9", &wrong)).await.0,
            1 => {
                send(&app, from_ip(with("/v1/campaigns", &wrong), "203.0.113.9"))
                    .await
                    .0
            }
            _ => {
                let req = Request::get("/admin/catalog")
                    .header(header::AUTHORIZATION, format!("Bearer {wrong}"))
                    .body(Body::empty())
                    .unwrap();
                send(&app, from_ip(req, "203.0.113.9")).await.0
            }
        };
        assert_eq!(res, StatusCode::UNAUTHORIZED, "{n}");
    }
    // Then, within the minute, no credential from there is checked, not even the right one.
    let res = send_raw(&app, sign_in("203.0.113.9", "secret")).await;
    assert_eq!(res.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.1.contains("Too many wrong sign-ins"), "{}", res.1);
    let wait: u64 = res.2[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let (s, v, h) = send(
        &app,
        from_ip(with("/v1/campaigns", "secret"), "203.0.113.9"),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(h.contains_key(header::RETRY_AFTER));
    // Another address is not held up.
    let res = send_raw(&app, sign_in("198.51.100.4", "secret")).await;
    assert_eq!(res.0, StatusCode::SEE_OTHER);
    let cookie = as_cookie(&cookie_of(&res.2));
    let (s, _, _) = send(
        &app,
        from_ip(with("/v1/campaigns", "secret"), "198.51.100.4"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A signed-in dashboard at the held-up address guesses nothing: its session still reads.
    let session = Request::get("/v1/campaigns")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let (s, _, _) = send(&app, from_ip(session, "203.0.113.9")).await;
    assert_eq!(s, StatusCode::OK);
    // Right credentials do not use up the attempts.
    for _ in 0..20 {
        let (s, _, _) = send(
            &app,
            from_ip(with("/v1/campaigns", "secret"), "198.51.100.4"),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_right_credentials_at_once_are_never_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                send(
                    &app,
                    from_ip(with("/v1/campaigns", "secret"), "203.0.113.10"),
                )
                .await
                .0
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_sign_in_posted_from_another_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = with_sign_in_page(&dir);
    // Signing the visitor into the sender's organization (login CSRF): refused whether the
    // browser says so in Sec-Fetch-Site (another site, or a sibling subdomain) or, without it,
    // in an Origin that is not the collector's.
    let refused: [&[(&str, &str)]; 3] = [
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[
            ("host", "collector.example"),
            ("origin", "https://evil.example"),
        ],
    ];
    for headers in refused {
        let res = send_raw(&app, form("secret", "%2Fdashboard", headers)).await;
        assert_eq!(res.0, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(!res.2.contains_key(header::SET_COOKIE));
    }
    let accepted: [&[(&str, &str)]; 5] = [
        &[("sec-fetch-site", "same-origin")],
        &[
            ("host", "collector.example"),
            ("origin", "https://collector.example"),
        ],
        // A proxy rewrote Host: the Origin still names the collector's public URL or an
        // allowed host.
        &[
            ("host", "backend:8080"),
            ("origin", "http://collector.test"),
        ],
        &[
            ("host", "backend:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ],
        &[],
    ];
    for headers in accepted {
        let res = send_raw(&app, form("secret", "%2Fdashboard", headers)).await;
        assert_eq!(res.0, StatusCode::SEE_OTHER, "{headers:?}");
    }
}

#[tokio::test]
async fn a_dashboard_session_reads_but_cannot_report_a_server_event() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    ingest_lead(&app).await;
    let (s, _, h) = send(&app, form("secret", "%2Fdashboard", &[])).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = as_cookie(&cookie_of(&h));
    // Another site's page can make the browser send the cookie with a POST (a form or a
    // fetch): the session alone must not report a sale.
    let forged = Request::post("/v1/server-events")
        .header(header::COOKIE, cookie.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"transaction_id": TXN, "event_id": "form_sold", "revenue": 1000}).to_string(),
        ))
        .unwrap();
    let (s, v, _) = send(&app, forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let reads = Request::get(format!("/v1/leads/{TXN}"))
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let (s, v, _) = send(&app, reads).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "no sale was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reads_its_leads_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::catalog_json();
    let args = ["--admin-token", "secret"];
    let first = common::Running::start(dir.path(), &config, &args);
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("http://{}/admin/orgs/o/keys", first.addr))
        .bearer_auth("secret")
        .json(&json!({"name": "reporting"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let status = common::post_tcp(
        &first.addr,
        ORIGIN,
        &batch("c1", vec![event(&uid(1), "base", "lead")]),
    );
    assert!(status.contains(" 200 "), "{status}");
    drop(first);
    // Started again on the same database, with the same catalog: the key still reads the
    // lead of its organization's campaign.
    let second = common::Running::start(dir.path(), &config, &args);
    let r = client
        .get(format!("http://{}/v1/leads/{TXN}", second.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1, "{v}");
}
