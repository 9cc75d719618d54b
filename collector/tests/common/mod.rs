//! Shared by the collector's HTTP tests: a collector on a temporary database, and a request
//! helper that returns status, JSON body and headers.
#![allow(dead_code)]

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use collector::{catalog, router, store::Store, App};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ORIGIN: &str = "https://lp.example";

/// A collector with three campaigns (c3 sends only the Base Event under GPC) of one organization and admin token `secret`.
pub fn app(dir: &tempfile::TempDir) -> Router {
    app_with(dir, Some("secret"))
}

/// The same collector with the given admin token (`None`: the admin API is off).
pub fn app_with(dir: &tempfile::TempDir, admin_token: Option<&str>) -> Router {
    let file = serde_json::from_value(json!({"organizations":[{"id":"o",
        "events":[{"id":"quote","category":"engagement","multi":true}],
        "campaigns":[{"id":"c1","allowed_origins":[ORIGIN],"events":[{"id":"only_c1","category":"conversion"}],
                      "bindings":[{"event":"only_c1","trigger":{"on":"click","selector":"#buy"}}]},
                     {"id":"c2","allowed_origins":[ORIGIN]},
                     {"id":"c3","allowed_origins":[ORIGIN],"gpc":"base_only"}]}]}))
    .unwrap();
    let catalog = catalog::Catalog::build(file).unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    store.save_catalog(&catalog).unwrap();
    router(App {
        catalog: Arc::new(RwLock::new(catalog)),
        store,
        loader: Arc::new("var cfg = /*PT_CONFIG*/null;".into()),
        www: dir.path().into(),
        packages: collector::Packages::read(dir.path()),
        pkg: dir.path().into(),
        public_url: Some("http://collector.test".into()),
        admin_token: admin_token.map(str::to_owned),
        paused: Arc::new(AtomicU32::new(0)),
    })
}

/// GETs `path`; returns what [`send`] returns.
pub async fn get(app: &Router, path: &str) -> (StatusCode, Value, HeaderMap) {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// Sends `req`; returns status, JSON body (`null` if none) and headers.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value, HeaderMap) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}
