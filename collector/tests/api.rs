//! The collector's HTTP contract: hostile and malformed input gets a 4xx with a JSON error
//! naming the problem, origins are enforced per campaign, and re-delivery is idempotent.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;

use common::{app, batch, event, get, post, read, send, uid, ORIGIN, TXN};

#[tokio::test]
async fn stores_each_uid_once_and_each_once_event_once_per_lead() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let body = batch(
        "c1",
        vec![
            event(&uid(1), "base", "lead"),
            event(&uid(2), "quote", "engagement"),
        ],
    );
    let (s, v, h) = send(&app, post(body.clone(), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!([uid(1), uid(2)]));
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    // The same batch again (a retry): all duplicates, nothing stored twice.
    let (s, v, _) = send(&app, post(body, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["duplicates"], json!([uid(1), uid(2)]));
    // Another Base Event for the same lead (new uid): a duplicate; another multi event: stored.
    let body = batch(
        "c1",
        vec![
            event(&uid(3), "base", "lead"),
            event(&uid(4), "quote", "engagement"),
        ],
    );
    let (_, v, _) = send(&app, post(body, Some(ORIGIN))).await;
    assert_eq!(v["duplicates"], json!([uid(3)]));
    assert_eq!(v["accepted"], json!([uid(4)]));
    let (s, v, _) = read(&app, &format!("/v1/leads/{TXN}")).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["base", "quote", "quote"]);
    let (_, v, _) = read(&app, "/v1/campaigns/c1/events").await;
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn malformed_hostile_and_oversized_bodies_get_a_named_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut unknown_field = event(&uid(1), "base", "lead");
    unknown_field["colour"] = json!(1);
    let mut wrong_type = event(&uid(2), "base", "lead");
    wrong_type["seq"] = json!("one");
    let mut nested_data = event(&uid(3), "quote", "engagement");
    nested_data["data"] = json!({"a":{"b":1}});
    let mut wrong_scope = event(&uid(8), "base", "lead");
    wrong_scope["scope"] = json!("campaign");
    let mut long_title = event(&uid(4), "quote", "engagement");
    long_title["page"]["title"] = json!("t".repeat(600));
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "malformed batch",
        ),
        (deep, StatusCode::PAYLOAD_TOO_LARGE, "larger than"),
        (
            "[".repeat(10_000),
            StatusCode::BAD_REQUEST,
            "malformed batch",
        ),
        (
            "x".repeat(70 * 1024),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            json!({"v":1,"cid":"c1","sent_at":1,"events":[],"extra":1}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown field `extra`",
        ),
        (
            json!({"v":2,"cid":"c1","sent_at":1,"events":[]}).to_string(),
            StatusCode::BAD_REQUEST,
            "unsupported wire version",
        ),
        (
            json!({"v":1,"cid":"c1","sent_at":"soon","events":[]}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            batch("nope", vec![]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown campaign",
        ),
        (batch("bad id!", vec![]), StatusCode::BAD_REQUEST, "cid"),
        (
            batch("c1", vec![unknown_field]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (
            batch("c1", vec![wrong_type]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (
            batch("c1", vec![nested_data]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed event",
        ),
        (
            batch("c1", vec![long_title]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "page.title",
        ),
        (
            batch("c1", vec![wrong_scope]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scope",
        ),
        (
            batch("c1", vec![event(&uid(5), "nope", "lead")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not an event of campaign",
        ),
        (
            batch("c1", vec![event(&uid(6), "base", "click")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "category",
        ),
        (
            batch("c1", vec![event("not-a-uuid", "base", "lead")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uid",
        ),
        (
            batch("c2", vec![event(&uid(7), "only_c1", "conversion")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not an event of campaign",
        ),
    ];
    for (body, status, needle) in cases {
        let (s, v, _) = send(&app, post(body.clone(), Some(ORIGIN))).await;
        let short: String = body.chars().take(60).collect();
        assert_eq!(s, status, "{short}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{short}: expected {needle:?} in {v}"
        );
    }
    // Nothing of that was stored.
    let (_, v, _) = read(&app, "/v1/campaigns/c1/events").await;
    assert_eq!(v["events"], json!([]));
}

#[tokio::test]
async fn one_bad_event_does_not_sink_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let body = batch(
        "c1",
        vec![
            event(&uid(1), "base", "lead"),
            event(&uid(2), "nope", "lead"),
        ],
    );
    let (s, v, _) = send(&app, post(body, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"], json!([uid(1)]));
    assert_eq!(v["rejected"][0]["uid"], json!(uid(2)));
    assert!(v["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("event_id"));
}

#[tokio::test]
async fn consent_evidence_is_validated_stored_and_on_the_leads_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let consent = json!({"text":"I agree to be called.","checkbox":true,"checked":true,
        "checked_at":1_764_190_000_000u64,"visible":true,"hidden_by":"","font_size":14.0,
        "contrast":15.91,"seen_at":1_764_189_999_000u64,"submitted_at":1_764_190_000_050u64,
        "url":"https://lp.example/?a=1"});
    let with = |n: u32, consent: Value| {
        let mut e = event(&uid(n), "quote", "engagement");
        e["consent"] = consent;
        e
    };
    let mut hidden_but_visible = consent.clone();
    hidden_but_visible["hidden_by"] = json!("display:none");
    let mut unknown_field = consent.clone();
    unknown_field["colour"] = json!("red");
    let mut a_string = consent.clone();
    a_string["checked"] = json!("yes");
    let body = batch(
        "c1",
        vec![
            with(1, consent.clone()),
            with(2, hidden_but_visible),
            with(3, unknown_field),
            with(4, a_string),
        ],
    );
    let (s, v, _) = send(&app, post(body, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!([uid(1)]));
    let errors: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{v}");
    assert!(errors[0].contains("consent: visible"), "{}", errors[0]);
    assert!(errors[1].contains("colour"), "{}", errors[1]);
    assert!(
        errors[2].contains("checked") || errors[2].contains("bool"),
        "{}",
        errors[2]
    );
    let (s, lead, _) = read(&app, &format!("/v1/leads/{TXN}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lead["events"][0]["consent"], consent);
}

#[tokio::test]
async fn a_campaign_that_sends_only_the_base_event_under_gpc_takes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let with = |n: u32, id: &str, category: &str, gpc: bool, data: Value| {
        let mut e = event(&uid(n), id, category);
        e["gpc"] = json!(gpc);
        e["data"] = data;
        e
    };
    let body = batch(
        "c3",
        vec![
            with(1, "base", "lead", true, json!({})),
            with(2, "quote", "engagement", true, json!({})),
            with(3, "base", "lead", true, json!({"email":"a@b.c"})),
            with(4, "quote", "engagement", false, json!({"k":"v"})),
        ],
    );
    let (s, v, _) = send(&app, post(body, Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], json!([uid(1), uid(4)]));
    let rejected: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().all(|e| e.starts_with("gpc: ")), "{v}");
    let (_, lead, _) = read(&app, &format!("/v1/leads/{TXN}")).await;
    assert_eq!(lead["events"][0]["gpc"], json!(true));
}

#[tokio::test]
async fn a_disallowed_origin_is_refused_readably() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let body = batch("c1", vec![event(&uid(1), "base", "lead")]);
    let (s, v, h) = send(&app, post(body.clone(), Some("https://evil.example"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(v["error"].as_str().unwrap().contains("evil.example"));
    // Readable by the page, so its clickscript drops the batch instead of retrying.
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://evil.example"
    );
    let pre = Request::options("/v1/events")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, pre).await.0, StatusCode::FORBIDDEN);
    let pre = Request::options("/v1/events")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::empty())
        .unwrap();
    let (s, _, h) = send(&app, pre).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    // The collector's own pages are first-party.
    let (s, _, _) = send(&app, post(body, Some("http://collector.test"))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn maintenance_answers_503_with_retry_after_and_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let pause = |token: Option<&str>, body: &str| {
        let mut b = Request::put("/admin/ingest");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Body::from(body.to_owned())).unwrap()
    };
    assert_eq!(
        send(&app, pause(None, r#"{"paused":true}"#)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, pause(Some("wrong"), r#"{"paused":true}"#))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, pause(Some("secret"), r#"{"paused":"yes"}"#))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&app, pause(Some("secret"), r#"{"paused":true}"#))
            .await
            .0,
        StatusCode::OK
    );
    let body = batch("c1", vec![event(&uid(1), "base", "lead")]);
    let (s, _, h) = send(&app, post(body.clone(), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h[header::RETRY_AFTER], "1");
    send(
        &app,
        pause(Some("secret"), r#"{"paused":true,"retry_after":7}"#),
    )
    .await;
    let (s, _, h) = send(&app, post(body.clone(), Some(ORIGIN))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h[header::RETRY_AFTER], "7");
    // Readable by the page on another origin.
    assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Retry-After");
    send(&app, pause(Some("secret"), r#"{"paused":false}"#)).await;
    assert_eq!(send(&app, post(body, Some(ORIGIN))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn serves_the_loader_and_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let res = app
        .clone()
        .oneshot(
            Request::get("/sdk/c1/clickscript.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("max-age=60"));
    let js =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(js.starts_with("var cfg = {"), "{js}");
    assert!(js.contains("\"collector\":\"http://collector.test\""));
    let (s, v, _) = get(&app, "/v1/campaigns/c1/config").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["system"]["base"], "base");
    assert_eq!(
        v["pkg"], "/pkg/clickscript",
        "every campaign: the clickscript"
    );
    assert_eq!(
        v["ext"], "/pkg/triggers/clickscript",
        "a campaign with bindings: the extension"
    );
    assert!(v["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "only_c1"));
    let (s, v, _) = get(&app, "/v1/campaigns/c2/config").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["pkg"], "/pkg/clickscript");
    assert_eq!(
        v["ext"], "/pkg/triggers/clickscript",
        "no bindings: the extension all the same (tagged forms' lead capture)"
    );
    assert!(!v["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "only_c1"));
    let (s, v, _) = get(&app, "/sdk/none/clickscript.js").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("unknown campaign"));
    let (s, _, _) = read(&app, "/v1/leads/garbage").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn content_hashed_packages_are_named_by_the_configuration_and_served_immutable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("packages.json"),
        r#"{"pkg":"/pkg/clickscript-0123456789ab","ext":"/pkg/triggers/clickscript-ba9876543210"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("clickscript-0123456789ab_bg.wasm"),
        b"\0asm",
    )
    .unwrap();
    std::fs::write(dir.path().join("pt.d.ts"), b"types").unwrap();
    let app = app(&dir);
    let (s, v, _) = get(&app, "/v1/campaigns/c1/config").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["pkg"], "/pkg/clickscript-0123456789ab");
    let cache = |path: &'static str| {
        let app = app.clone();
        async move {
            let (s, _, h) = get(&app, path).await;
            (s, h[header::CACHE_CONTROL].to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        cache("/pkg/clickscript-0123456789ab_bg.wasm").await,
        (
            StatusCode::OK,
            "public, max-age=31536000, immutable".to_owned()
        )
    );
    // Unhashed files, and a hashed name not (yet) here, keep the short cache.
    assert_eq!(cache("/pkg/pt.d.ts").await.1, "public, max-age=60");
    assert_eq!(
        cache("/pkg/clickscript-ffffffffffff_bg.wasm").await,
        (StatusCode::NOT_FOUND, "public, max-age=60".to_owned())
    );
}

#[tokio::test]
async fn the_package_and_the_loader_are_served_compressed() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    // As tools/precompress.mjs leaves them beside each file.
    let wasm = b"\0asm-the-package".repeat(100);
    std::fs::write(dir.path().join("clickscript_bg.wasm"), &wasm).unwrap();
    std::fs::write(dir.path().join("clickscript_bg.wasm.br"), b"brotli bytes").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &wasm).unwrap();
    std::fs::write(
        dir.path().join("clickscript_bg.wasm.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    let get_encoded = |path: &str, encoding: &str| {
        Request::get(path)
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap()
    };
    let body = |res: axum::response::Response| async {
        res.into_body().collect().await.unwrap().to_bytes().to_vec()
    };
    let res = app
        .clone()
        .oneshot(get_encoded("/pkg/clickscript_bg.wasm", "gzip, br"))
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(body(res).await, b"brotli bytes");
    let res = app
        .clone()
        .oneshot(get_encoded("/pkg/clickscript_bg.wasm", "gzip"))
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body(res).await[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, wasm);
    let res = app
        .clone()
        .oneshot(get_encoded("/pkg/clickscript_bg.wasm", "identity"))
        .await
        .unwrap();
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body(res).await, wasm);
    // The served loader carries its configuration: compressed per request.
    let res = app
        .clone()
        .oneshot(get_encoded("/sdk/c1/clickscript.js", "gzip"))
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    let mut js = String::new();
    flate2::read::GzDecoder::new(&body(res).await[..])
        .read_to_string(&mut js)
        .unwrap();
    assert!(js.starts_with("var cfg = {"), "{js}");
}

#[tokio::test]
async fn every_error_answer_of_the_api_is_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.html"), "<p>a page</p>").unwrap();
    let app = app(&dir);
    // (With a credential: without one, the answer is the 401, whatever else is wrong.)
    let (s, v, h) = read(&app, "/v1/campaigns/c1/events?after=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "query: after: invalid digit found in string");
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    let (s, v, _) = read(&app, "/v1/campaigns/c1/events?after=0&limit=5").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"], json!([]));

    for (method, path) in [
        ("GET", "/v1/nope"),
        ("POST", "/v1/campaigns/c1/nope"),
        ("GET", "/admin/nope"),
        ("DELETE", "/admin/orgs/o/nope"),
        ("GET", "/v1"),
        ("GET", "/admin/"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (s, v, _) = send(&app, req).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            v["error"],
            format!("no route for {method} {path}"),
            "{method} {path}"
        );
    }

    for path in ["/v1/leads/%FF", "/admin/campaigns/%FF"] {
        let (s, v, _) = read(&app, path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}");
        let e = v["error"].as_str().unwrap_or_default();
        assert!(
            e.starts_with("path: ") && e.contains("UTF-8"),
            "{path}: {v}"
        );
    }

    let (s, v, h) = get(&app, "/v1/events").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"], "/v1/events does not take GET");
    let allow = h[header::ALLOW].to_str().unwrap();
    assert!(
        allow.contains("POST") && allow.contains("OPTIONS"),
        "{allow}"
    );
    let req = Request::post("/admin/catalog").body(Body::empty()).unwrap();
    let (s, v, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"], "/admin/catalog does not take POST");

    // Elsewhere the static files answer, as before.
    let res = app
        .clone()
        .oneshot(Request::get("/page.html").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&page[..], b"<p>a page</p>");
    assert_eq!(get(&app, "/nope.html").await.0, StatusCode::NOT_FOUND);
}
