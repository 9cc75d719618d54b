//! The collector: serves the clickscript with its campaign's configuration, ingests event
//! batches (validated, idempotent, CORS per campaign) into SQLite, and shows them.

/// Writes a line to the log (stdout), like `println!`, but never panics: a log pipe that closed
/// (a crashed log shipper, `| head`) must not turn requests into 500s, nor stop the collector.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::logging::line(false, format_args!($($arg)*))
    };
}

/// The same, for problems (stderr).
#[macro_export]
macro_rules! warn_line {
    ($($arg:tt)*) => {
        $crate::logging::line(true, format_args!($($arg)*))
    };
}

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod catalog_source;
pub mod dashboard;
pub mod deliver;
pub mod ingest;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod postback;
pub mod queue;
pub mod refused_origins;
pub mod rejections;
pub mod reports;
pub mod selector;
pub mod server;
pub mod server_events;
pub mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clickscript_core::ids::{is_uuid, is_valid_id};
use clickscript_core::limits::MAX_BODY_BYTES;
use clickscript_core::wire::IngestReply;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use catalog::Catalog;
use rejections::{Path, Query};
use store::{Inserted, Store};

/// The clickscript's wasm package, under the collector's URL, as the loader completes it
/// (`_bg.wasm`, `.js`), when the build wrote no `packages.json`.
pub const PACKAGE: &str = "/pkg/clickscript";
/// The triggers extension (crate `clickscript-triggers`), which the loader starts after the
/// clickscript for campaigns that bind triggers, when the build wrote no `packages.json`.
pub const TRIGGERS_PACKAGE: &str = "/pkg/triggers/clickscript";

/// The packages the build wrote, by their content-hashed names (`pkg/packages.json`): the served
/// configuration names them, so a page loads a glue and a wasm of one build, and the collector
/// serves them `immutable`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Packages {
    /// The clickscript.
    pub pkg: String,
    /// The triggers extension.
    pub ext: String,
}

impl Packages {
    /// Reads `packages.json` in the package directory; the unhashed names without it.
    pub fn read(pkg_dir: &std::path::Path) -> Packages {
        std::fs::read(pkg_dir.join("packages.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| Packages {
                pkg: PACKAGE.into(),
                ext: TRIGGERS_PACKAGE.into(),
            })
    }
}

/// Whether `path` names a content-hashed package file (`clickscript-0123456789ab.js`, `…_bg.wasm`).
fn hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let stem = name
        .strip_suffix("_bg.wasm")
        .or_else(|| name.strip_suffix(".js"))
        .unwrap_or("");
    stem.strip_prefix("clickscript-")
        .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Where the loader's inlined configuration goes in `pkg/loader.js` (built from `www/clickscript.js`).
pub const CONFIG_PLACEHOLDER: &str = "/*PT_CONFIG*/null";

/// Shared state of the request handlers.
#[derive(Clone)]
pub struct App {
    /// Campaigns and their events.
    pub catalog: Arc<RwLock<Catalog>>,
    /// The stored catalog's version this collector serves (see [`refresh_catalog`]).
    pub catalog_version: Arc<std::sync::atomic::AtomicI64>,
    /// The database.
    pub store: Store,
    /// Counted as the collector works, served at `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The ingest log, when events go through NATS JetStream to the sinks rather than
    /// straight to the store.
    pub queue: Option<queue::Queue>,
    /// The minified loader, with `CONFIG_PLACEHOLDER` in it.
    pub loader: Arc<String>,
    /// The demo pages and the loader.
    pub www: PathBuf,
    /// The built wasm package.
    pub pkg: PathBuf,
    /// The packages' current names.
    pub packages: Packages,
    /// Base URL pages reach the collector at; from the request's Host when unset.
    pub public_url: Option<String>,
    /// Without `public_url`, the `Host`s the served configuration may name the collector by
    /// (`host[:port]`); a request with another Host gets the first of them, never its own.
    pub allowed_hosts: Vec<String>,
    /// Token of the admin API; the admin API is off without one.
    pub admin_token: Option<String>,
    /// Wakes the postback worker when ingest queued calls.
    pub postbacks: Arc<tokio::sync::Notify>,
    /// Ingest's rate limits per client address and per campaign.
    pub rates: Arc<server::RateLimits>,
    /// Proxies (load balancers) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// While non-zero, ingest answers 503 (maintenance) with this `Retry-After` in seconds, and
    /// clients retry later.
    pub paused: Arc<AtomicU32>,
}

/// A JSON error answer.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl App {
    /// The refusal of `reader` asking for campaign `id`, if it may not read it: 403 for another
    /// organization's campaign and for one nobody has alike; 404 only for the admin.
    pub fn refuse_campaign(&self, reader: &auth::Reader, id: &str) -> Option<Response> {
        let org = self.campaign(id).map(|c| c.org);
        if !reader.may_read(org.as_deref()) {
            return Some(auth::forbidden(&format!("campaign {id:?}")));
        }
        org.is_none()
            .then(|| error(StatusCode::NOT_FOUND, format!("unknown campaign {id:?}")))
    }

    fn campaign(&self, id: &str) -> Option<catalog::Campaign> {
        let catalog = self.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog.campaigns.get(id).cloned()
    }

    fn public_url(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let asked = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let host = asked
            .and_then(|h| {
                self.allowed_hosts
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(h))
            })
            .or(self.allowed_hosts.first())
            .map(String::as_str)
            .unwrap_or("127.0.0.1:8080");
        format!("http://{host}")
    }

    fn served_config(&self, id: &str, headers: &HeaderMap) -> Option<Value> {
        let campaign = self.campaign(id)?;
        let mut config = campaign.config;
        config.collector = self.public_url(headers);
        // A system event a binding fires does not fire on page load: said here so that the
        // clickscript need not read the bindings (the triggers extension runs them).
        let bound = |id: &str| campaign.bindings.iter().any(|b| b.event == id);
        let base_on_load = !bound(&config.system.base);
        if bound(&config.system.click_sold) {
            config.click_with_base = false;
        }
        let mut value = serde_json::to_value(config).ok()?;
        if let Value::Object(m) = &mut value {
            // Where the loader finds the clickscript, and the extension it starts after the
            // first event: the campaign's triggers and the forms' lead capture (every campaign:
            // a marketer may tag a form with `data-pt-event` without any binding).
            m.insert("pkg".into(), Value::from(self.packages.pkg.as_str()));
            m.insert("ext".into(), Value::from(self.packages.ext.as_str()));
            if !base_on_load {
                m.insert("base_on_load".into(), Value::Bool(false));
            }
            m.insert(
                "bindings".into(),
                serde_json::to_value(campaign.bindings).ok()?,
            );
            m.insert(
                "capture".into(),
                serde_json::to_value(campaign.capture).ok()?,
            );
            m.insert("offers".into(), serde_json::to_value(campaign.offers).ok()?);
        }
        Some(value)
    }
}

/// The collector's routes.
pub fn router(app: App) -> Router {
    let anyone = SetResponseHeaderLayer::overriding(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let short_cache = SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    // The package is served compressed as the build wrote it (.br, .gz beside each file): what a
    // page downloads is the gzip or brotli size the size test holds, not the raw one.
    let pkg = ServeDir::new(&app.pkg)
        .precompressed_br()
        .precompressed_gzip();
    let www = ServeDir::new(&app.www);
    // The static tag and the fallback are the minified builds in pkg/, like the served loader.
    let static_loader = ServeFile::new(app.pkg.join("loader.js"))
        .precompressed_br()
        .precompressed_gzip();
    let fallback = ServeFile::new(app.pkg.join("fallback.js"))
        .precompressed_br()
        .precompressed_gzip();
    let (admin_routes, description) =
        utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base())
            .merge(admin::routes())
            .split_for_parts();
    let description = Arc::new(openapi::document(description).to_string());
    Router::new()
        // The served loader carries its configuration, so it is compressed per request (gzip).
        .route(
            "/sdk/{campaign}/clickscript.js",
            get(loader).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route("/v1/campaigns/{campaign}/config", get(config))
        .route("/v1/events", axum::routing::post(ingest).options(preflight))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/campaigns", get(campaigns))
        .route("/v1/campaigns/{campaign}/events", get(campaign_events))
        .route("/v1/leads/{txn}", get(lead))
        .route(
            "/v1/campaigns/{campaign}/postbacks",
            get(campaign_postbacks),
        )
        .route(
            "/v1/server-events",
            axum::routing::post(server_events::report),
        )
        .merge(admin_routes)
        .route(
            "/openapi.json",
            get(move || {
                let description = description.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        description.as_str().to_owned(),
                    )
                }
            }),
        )
        .merge(dashboard::routes())
        .merge(reports::routes())
        .merge(rejections::unknown_routes())
        .route_service("/clickscript.js", static_loader)
        .route_service("/fallback.js", fallback)
        .nest_service(
            "/pkg",
            tower::ServiceBuilder::new()
                .layer(anyone.clone())
                .layer(axum::middleware::map_response(package_cache))
                .layer(short_cache)
                .service(pkg),
        )
        .method_not_allowed_fallback(rejections::method_not_allowed)
        .fallback_service(tower::ServiceBuilder::new().layer(anyone).service(www))
        .layer(axum::middleware::from_fn_with_state(
            app.metrics.clone(),
            metrics::count_requests,
        ))
        .with_state(app)
}

/// A content-hashed package file never changes: cached for a year. (The layer runs after the
/// 60 s default and overrides it; a 404 keeps the short cache, since a deploy may be under way.)
async fn package_cache<B>(
    uri: axum::http::Uri,
    mut response: axum::http::Response<B>,
) -> axum::http::Response<B> {
    if response.status() == StatusCode::OK && hashed(uri.path()) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

async fn loader(
    State(app): State<App>,
    Path(campaign): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(config) = app.served_config(&campaign, &headers) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown campaign {campaign:?}"),
        );
    };
    let js = app
        .loader
        .replacen(CONFIG_PLACEHOLDER, &config.to_string(), 1);
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // A configuration change reaches pages within a minute.
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        js,
    )
        .into_response()
}

async fn config(
    State(app): State<App>,
    Path(campaign): Path<String>,
    headers: HeaderMap,
) -> Response {
    match app.served_config(&campaign, &headers) {
        Some(c) => (
            [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::CACHE_CONTROL, "public, max-age=60"),
            ],
            Json(c),
        )
            .into_response(),
        // Readable by the page too, so that its loader can tell a campaign that will never be
        // served from a network error.
        None => (
            [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
            error(
                StatusCode::NOT_FOUND,
                format!("unknown campaign {campaign:?}"),
            ),
        )
            .into_response(),
    }
}

/// Preflight for clients that send `application/json`: allowed for origins some campaign allows.
async fn preflight(State(app): State<App>, headers: HeaderMap) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .unwrap_or("");
    let allowed = {
        let catalog = app.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog.campaigns.values().any(|c| c.allows(origin))
    };
    if !allowed {
        return error(
            StatusCode::FORBIDDEN,
            format!("origin {origin:?} is not allowed"),
        );
    }
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.to_owned()),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST".into()),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type".into()),
            (header::ACCESS_CONTROL_MAX_AGE, "86400".into()),
            (header::VARY, "Origin".into()),
        ],
    )
        .into_response()
}

async fn ingest(
    State(app): State<App>,
    server::ClientAddr(client): server::ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    // Pages the collector serves itself (the demo) are first-party and always allowed.
    let own = origin.as_deref() == Some(app.public_url(&headers).as_str());
    let checked = origin.as_deref().filter(|_| !own);
    let (status, reply, line) = match app.rates.over_client(client) {
        None => ingest_batch(&app, checked, body).await,
        Some(r) => (r.status(), r, "error=\"rate limit per client\"".into()),
    };
    log_line!("POST /v1/events {line} status={}", status.as_u16());
    let mut response = reply;
    *response.status_mut() = status;
    // Every answer is readable by the page, a refusal too: a clickscript that cannot read its 403
    // would take it for a network error and retry forever. The refusal itself leaks nothing.
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        // Retry-After is not a CORS-safelisted header: without this, a page on another origin
        // never sees it and retries on its own schedule.
        response.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    response
}

async fn ingest_batch(
    app: &App,
    origin: Option<&str>,
    body: Body,
) -> (StatusCode, Response, String) {
    let started = std::time::Instant::now();
    let fail = |status: StatusCode, msg: String| {
        let line = format!("error={msg:?}");
        (status, error(status, msg), line)
    };
    let pause = app.paused.load(Ordering::Relaxed);
    if pause > 0 {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest paused for maintenance, retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(pause));
        return (StatusCode::SERVICE_UNAVAILABLE, r, "paused".into());
    }
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) if too_large(&e) => {
            return fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        // Slower than the body timeout, or cut off: the client may try again.
        Err(_) => {
            return fail(
                StatusCode::REQUEST_TIMEOUT,
                "body not received in time (or cut off); retry".into(),
            )
        }
    };
    let env = match ingest::envelope(&bytes) {
        Ok(e) => e,
        Err(ingest::BatchError(s, msg)) => {
            return fail(
                StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST),
                msg,
            )
        }
    };
    if !is_valid_id(&env.cid) {
        return fail(
            StatusCode::BAD_REQUEST,
            "cid: not a valid campaign ID".into(),
        );
    }
    let Some(campaign) = app.campaign(&env.cid) else {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("cid: unknown campaign {:?}", env.cid),
        );
    };
    if let Some(r) = app.rates.over_campaign(&env.cid) {
        return (r.status(), r, "error=\"rate limit per campaign\"".into());
    }
    if let Some(o) = origin {
        if !campaign.allows(o) {
            refused_origins::log(&env.cid, o);
            return fail(
                StatusCode::FORBIDDEN,
                format!(
                    "origin {o:?} may not send events for campaign {:?}",
                    env.cid
                ),
            );
        }
    }
    let now = now_ms();
    let mut reply = IngestReply::default();
    let mut valid = Vec::new();
    for raw in &env.events {
        match ingest::event(raw, &campaign, now) {
            Ok(e) => valid.push(e),
            Err(r) => reply.rejected.push(r),
        }
    }
    let uids: Vec<String> = valid.iter().map(|e| e.uid.clone()).collect();
    let calls = valid.iter().any(|e| !e.postbacks.is_empty());
    let inserted = match &app.queue {
        // Answered once the stream holds the batch: the sinks store it.
        Some(queue) => match queue.publish(&valid).await {
            Ok(i) => i,
            Err(e) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    queue_unavailable(&e),
                    format!("error={e}"),
                )
            }
        },
        None => match app.store.insert_batch(valid).await {
            Ok(i) => i,
            Err(e) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    unavailable(&e),
                    format!("error={e}"),
                )
            }
        },
    };
    if calls && inserted.contains(&Inserted::New) {
        app.postbacks.notify_one();
    }
    for (uid, result) in uids.into_iter().zip(inserted) {
        match result {
            Inserted::New => reply.accepted.push(uid),
            Inserted::Duplicate => reply.duplicates.push(uid),
        }
    }
    let status =
        if !reply.rejected.is_empty() && reply.accepted.is_empty() && reply.duplicates.is_empty() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
    app.metrics.ingested(
        reply.accepted.len(),
        reply.duplicates.len(),
        reply.rejected.len(),
        started.elapsed(),
    );
    let line = format!(
        "cid={} events={} accepted={} duplicates={} rejected={}",
        env.cid,
        env.events.len(),
        reply.accepted.len(),
        reply.duplicates.len(),
        reply.rejected.len()
    );
    let mut body = serde_json::to_value(&reply).unwrap_or(Value::Null);
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        if let (Value::Object(m), Some(first)) = (&mut body, reply.rejected.first()) {
            m.insert(
                "error".into(),
                Value::String(format!("every event was rejected; first: {}", first.error)),
            );
        }
    }
    (status, Json(body).into_response(), line)
}

#[derive(Deserialize)]
struct Page {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET /readyz`: whether the collector can take events (a load balancer sends no traffic to
/// one that cannot): it reaches its store or, with an ingest log, its stream (then the store
/// may be down: the stream holds the events meanwhile, and the answer says so).
async fn readyz(State(app): State<App>) -> Response {
    let store = match app.store.probe().await {
        Ok(()) => Ok("ok"),
        Err(e) => Err(e),
    };
    let store_state = match &store {
        Ok(s) => Value::from(*s),
        Err(e) => Value::from(format!("unreachable: {e}")),
    };
    match &app.queue {
        None => match store {
            Ok(_) => Json(json!({ "status": "ready", "store": store_state })).into_response(),
            Err(e) => unavailable(&e),
        },
        Some(q) if q.connected() => {
            Json(json!({ "status": "ready", "store": store_state, "queue": "ok" })).into_response()
        }
        Some(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "store": store_state, "queue": "unreachable",
                "error": "the ingest log (NATS) is unreachable" }),
            ),
        )
            .into_response(),
    }
}

/// `GET /v1/campaigns`: the campaigns the credential may read.
async fn campaigns(State(app): State<App>, reader: auth::Reader) -> Response {
    let catalog = app.catalog.read().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Value> = catalog
        .campaigns
        .iter()
        .filter(|(_, c)| reader.may_read(Some(&c.org)))
        .map(|(id, c)| json!({ "id": id, "name": c.name, "org": c.org }))
        .collect();
    Json(json!({ "signed_in_as": dashboard::describe(&reader), "campaigns": list })).into_response()
}

async fn campaign_events(
    State(app): State<App>,
    reader: auth::Reader,
    Path(campaign): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    if let Some(refusal) = app.refuse_campaign(&reader, &campaign) {
        return refusal;
    }
    let after = page.after.unwrap_or(0);
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    match app.store.campaign_events(&campaign, after, limit).await {
        Ok(events) => Json(json!({ "events": events })).into_response(),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct PostbackQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/campaigns/{campaign}/postbacks?status=&limit=`: the campaign's postback calls,
/// newest first, each with every attempt (time, status, latency, error).
async fn campaign_postbacks(
    State(app): State<App>,
    reader: auth::Reader,
    Path(campaign): Path<String>,
    Query(q): Query<PostbackQuery>,
) -> Response {
    if let Some(refusal) = app.refuse_campaign(&reader, &campaign) {
        return refusal;
    }
    if let Some(s) = q.status.as_deref() {
        if !["pending", "delivered", "failed"].contains(&s) {
            return error(
                StatusCode::BAD_REQUEST,
                "status: one of pending, delivered, failed",
            );
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    match app
        .store
        .campaign_postbacks(campaign, q.status, limit)
        .await
    {
        Ok(calls) => Json(json!({ "postbacks": calls })).into_response(),
        Err(e) => unavailable(&e),
    }
}

async fn lead(State(app): State<App>, reader: auth::Reader, Path(txn): Path<String>) -> Response {
    if !is_uuid(&txn) {
        return error(StatusCode::BAD_REQUEST, "transaction: not a UUID");
    }
    let key = txn.clone();
    let org = match &reader {
        auth::Reader::Admin => None,
        auth::Reader::Org(o) => Some(o.clone()),
    };
    let scoped = org.is_some();
    match app.store.lead(&key, org.as_deref()).await {
        // A key sees only its organization's events of the lead; none at all is the same
        // refusal as a transaction that does not exist.
        Ok(events) if scoped && events.is_empty() => {
            auth::forbidden(&format!("transaction {txn:?}"))
        }
        Ok(events) => Json(json!({ "transaction": txn, "events": events })).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// Whether reading a body failed on its size limit (rather than on time or a cut connection).
pub(crate) fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The 503 of a batch the ingest log did not take (NATS unreachable, or the stream full): the
/// page keeps it and sends it again.
pub fn queue_unavailable(e: &queue::QueueError) -> Response {
    use std::sync::atomic::AtomicU64;
    static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
    let now = now_ms();
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 10_000
        && LAST_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn_line!("ingest log: {e}");
    }
    let (message, retry_after) = match e {
        queue::QueueError::Full(_) => ("ingest log full, retry later", "30"),
        queue::QueueError::Nats(_) => ("ingest log unavailable, retry later", "5"),
    };
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

/// The answer when storage fails: 503 with `Retry-After` (clients retry, nothing is lost), and
/// one clear line in the log saying what the operator should do, at most every ten seconds
/// per kind of trouble however many requests fail.
pub fn unavailable(e: &store::StoreError) -> Response {
    use std::sync::atomic::AtomicU64;
    static LAST_LOGGED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let trouble = e.trouble();
    let (slot, retry_after, message, advice) = match trouble {
        store::Trouble::Full => (
            0,
            "30",
            "storage full, retry later",
            "the disk (or the database's size limit) is full: free space; ingest answers 503 until then",
        ),
        store::Trouble::Locked => (
            1,
            "2",
            "storage busy, retry later",
            "the database is locked by another process (a backup or a second collector on the same file?)",
        ),
        store::Trouble::Other => (2, "5", "storage unavailable, retry later", "storage failed"),
    };
    let now = now_ms();
    let last = LAST_LOGGED[slot].load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 10_000
        && LAST_LOGGED[slot]
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn_line!("storage: {advice} ({e})");
    }
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

/// Takes the stored catalog when its version is not the one served: what another collector's
/// admin change (or this one's) wrote. Returns whether the catalog changed.
pub async fn refresh_catalog(app: &App) -> Result<bool, store::StoreError> {
    take_stored_catalog(&app.store, &app.catalog, &app.catalog_version).await
}

/// [`refresh_catalog`] for whatever serves a catalog (a collector, a sink).
pub async fn take_stored_catalog(
    store: &Store,
    served: &RwLock<Catalog>,
    served_version: &std::sync::atomic::AtomicI64,
) -> Result<bool, store::StoreError> {
    use std::sync::atomic::Ordering::SeqCst;
    let seen = served_version.load(SeqCst);
    let version = store.catalog_version().await?;
    if version == seen {
        return Ok(false);
    }
    let Some(stored) = store.stored_catalog().await? else {
        return Ok(false);
    };
    match catalog::read(stored.document) {
        Ok(catalog) => {
            let mut served = served.write().unwrap_or_else(|e| e.into_inner());
            // An admin change of this collector served a newer one meanwhile: that one stays.
            // (A version lower than the served one is taken: a database restored from a
            // backup is the truth.)
            if served_version.load(SeqCst) != seen {
                return Ok(false);
            }
            *served = catalog;
            served_version.store(stored.version, SeqCst);
            drop(served);
            log_line!("catalog: version {} taken from the store", stored.version);
            Ok(true)
        }
        Err(errors) => {
            // Every writer validates first; a document that does not read is kept out, once.
            served_version.store(stored.version, SeqCst);
            warn_line!(
                "catalog: version {} in the store is invalid, still serving the previous one: {}",
                stored.version,
                errors.join("; ")
            );
            Ok(false)
        }
    }
}

/// Takes every catalog change from the store within `every`, until `stop`: collectors on one
/// database serve the same catalog whichever of them an admin change went through.
pub async fn watch_catalog(
    store: Store,
    served: Arc<RwLock<Catalog>>,
    served_version: Arc<std::sync::atomic::AtomicI64>,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = take_stored_catalog(&store, &served, &served_version).await {
            warn_line!("catalog: cannot read the store's version: {e}");
        }
    }
}
