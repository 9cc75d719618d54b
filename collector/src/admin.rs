//! The admin API: event definitions and campaign bindings, edited over HTTP. Every change is
//! validated on the whole catalog (errors name the field and the reason), stored in SQLite, and
//! reaches pages through the served configuration (cached for at most a minute).
//!
//! Only requests with `Authorization: Bearer TOKEN` (the token the collector was started with)
//! get through, checked before any body is read; without a token the API is off. Its routes carry no CORS headers, so no page
//! can call them from a browser.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use clickscript_core::trigger::Binding;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::auth::{self, Admin};
use crate::catalog::{CampaignFile, Catalog, CatalogFile, CustomEvent};
use crate::json::{self, Member};
use crate::rejections::Path;
use crate::{error, unavailable, App};

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 256 * 1024;

/// The admin routes (under `/admin`).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/catalog", get(catalog))
        .route("/admin/ingest", put(switch_ingest))
        .route(
            "/admin/orgs/{org}/events",
            get(list_org_events).merge(create_route(Owner::Org)),
        )
        .route("/admin/orgs/{org}/events/{id}", item_route(Owner::Org))
        .route("/admin/campaigns/{campaign}", get(show_campaign))
        .route(
            "/admin/campaigns/{campaign}/events",
            create_route(Owner::Campaign),
        )
        .route(
            "/admin/campaigns/{campaign}/events/{id}",
            item_route(Owner::Campaign),
        )
        .route(
            "/admin/campaigns/{campaign}/bindings",
            put(replace_bindings),
        )
        .route("/admin/orgs/{org}/keys", get(list_keys).post(create_key))
        .route("/admin/keys/{id}", axum::routing::delete(revoke_key))
}

/// `POST …/events` of an organization or a campaign: creates a custom event.
fn create_route(owner: Owner) -> MethodRouter<App> {
    post(
        move |State(app): State<App>, _: Admin, Path(id): Path<String>, b: Body| {
            create_event(app, owner, id, b)
        },
    )
}

/// `PUT` / `DELETE …/events/{id}`: updates or deactivates one.
fn item_route(owner: Owner) -> MethodRouter<App> {
    put(
        move |State(app): State<App>, _: Admin, Path(p): Path<(String, String)>, b: Body| {
            update_event(app, owner, p, b)
        },
    )
    .delete(
        move |State(app): State<App>, _: Admin, Path(p): Path<(String, String)>| {
            deactivate_event(app, owner, p)
        },
    )
}

/// An admin request refused: the status and what was wrong.
pub struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// Reads a JSON body; a malformed one is a 400 naming the problem and its path
/// (`[1].trigger.on: unknown variant "hover", expected one of ...`).
pub async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, Refusal> {
    read_json_as(body, None).await
}

/// [`read_json`] of a body that must be `what` (`a list of bindings`): one of another kind is
/// told so (`body: expected a list of bindings, got an object`).
pub async fn read_json_as<T: DeserializeOwned>(
    body: Body,
    what: Option<&str>,
) -> Result<T, Refusal> {
    let bytes = to_bytes(body, MAX_ADMIN_BODY).await.map_err(|_| {
        Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {MAX_ADMIN_BODY} bytes"),
        )
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("malformed body: {e}")))?;
    json::read(&value, "").map_err(|p| {
        let message = match (p.path.as_str(), what) {
            ("", Some(what)) if p.member == Member::None => {
                format!("body: expected {what}, got {}", json::kind(&value))
            }
            ("", _) => format!("body: {}", p.reason),
            _ => p.to_string(),
        };
        Refusal(StatusCode::BAD_REQUEST, message)
    })
}

/// A change to the catalog document: `Err` is the refusal, `Ok` what to answer.
type Change = Result<(StatusCode, Value), Refusal>;

/// Applies `change` to a copy of the catalog, validates the whole, then stores and serves it.
async fn edit(app: &App, change: impl FnOnce(&mut CatalogFile) -> Change) -> Response {
    let mut document = document(app);
    let (status, answer) = match change(&mut document) {
        Ok(ok) => ok,
        Err(refusal) => return refusal.into_response(),
    };
    let catalog =
        match Catalog::build(document) {
            Ok(c) => c,
            Err(errors) => return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(
                    json!({ "error": format!("invalid change: {}", errors[0]), "errors": errors }),
                ),
            )
                .into_response(),
        };
    let store = app.store.clone();
    let saved = catalog.clone();
    let result = tokio::task::spawn_blocking(move || store.save_catalog(&saved)).await;
    if let Err(e) = result
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    *app.catalog.write().unwrap_or_else(|e| e.into_inner()) = catalog;
    println!("admin: catalog changed");
    (status, Json(answer)).into_response()
}

fn not_found(what: &str, id: &str) -> Refusal {
    Refusal(StatusCode::NOT_FOUND, format!("unknown {what} {id:?}"))
}

/// A copy of the catalog's document (what the admin API reads and edits).
fn document(app: &App) -> CatalogFile {
    app.catalog
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .file
        .clone()
}

fn org<'a>(doc: &'a mut CatalogFile, id: &str) -> Result<&'a mut crate::catalog::OrgFile, Refusal> {
    doc.organizations
        .iter_mut()
        .find(|o| o.id == id)
        .ok_or_else(|| not_found("organization", id))
}

fn campaign<'a>(doc: &'a mut CatalogFile, id: &str) -> Result<&'a mut CampaignFile, Refusal> {
    doc.organizations
        .iter_mut()
        .flat_map(|o| o.campaigns.iter_mut())
        .find(|c| c.id == id)
        .ok_or_else(|| not_found("campaign", id))
}

fn create(events: &mut Vec<CustomEvent>, event: CustomEvent) -> Change {
    if events.iter().any(|e| e.id == event.id) {
        return Err(Refusal(
            StatusCode::CONFLICT,
            format!("event {:?} exists; PUT to change it", event.id),
        ));
    }
    let answer = json!(event);
    events.push(event);
    Ok((StatusCode::CREATED, answer))
}

fn update(events: &mut [CustomEvent], id: &str, event: CustomEvent) -> Change {
    if event.id != id {
        return Err(Refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "id: {:?} differs from the URL's {id:?}; event IDs never change",
                event.id
            ),
        ));
    }
    let slot = events
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or_else(|| not_found("event", id))?;
    *slot = event;
    Ok((StatusCode::OK, json!(slot)))
}

fn deactivate(events: &mut [CustomEvent], id: &str) -> Change {
    let slot = events
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or_else(|| not_found("event", id))?;
    slot.active = false;
    Ok((StatusCode::OK, json!(slot)))
}

async fn catalog(State(app): State<App>, _: Admin) -> Response {
    let doc = document(&app);
    Json(doc).into_response()
}

async fn list_org_events(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let doc = document(&app);
    match doc.organizations.iter().find(|o| o.id == id) {
        Some(o) => Json(json!({ "organization": o.id, "events": o.events })).into_response(),
        None => not_found("organization", &id).into_response(),
    }
}

async fn show_campaign(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let mut doc = document(&app);
    match campaign(&mut doc, &id) {
        Ok(c) => Json(json!(c)).into_response(),
        Err(r) => r.into_response(),
    }
}

/// Whose custom events a request is about.
#[derive(Clone, Copy)]
enum Owner {
    Org,
    Campaign,
}

fn events_of<'a>(
    doc: &'a mut CatalogFile,
    owner: Owner,
    id: &str,
) -> Result<&'a mut Vec<CustomEvent>, Refusal> {
    Ok(match owner {
        Owner::Org => &mut org(doc, id)?.events,
        Owner::Campaign => &mut campaign(doc, id)?.events,
    })
}

async fn create_event(app: App, owner: Owner, owner_id: String, body: Body) -> Response {
    let event = match read_json::<CustomEvent>(body).await {
        Ok(e) => e,
        Err(r) => return r.into_response(),
    };
    edit(&app, |doc| create(events_of(doc, owner, &owner_id)?, event)).await
}

async fn update_event(
    app: App,
    owner: Owner,
    (owner_id, id): (String, String),
    body: Body,
) -> Response {
    let event = match read_json::<CustomEvent>(body).await {
        Ok(e) => e,
        Err(r) => return r.into_response(),
    };
    edit(&app, |doc| {
        update(events_of(doc, owner, &owner_id)?, &id, event)
    })
    .await
}

async fn deactivate_event(app: App, owner: Owner, (owner_id, id): (String, String)) -> Response {
    edit(&app, |doc| {
        deactivate(events_of(doc, owner, &owner_id)?, &id)
    })
    .await
}

async fn replace_bindings(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let bindings = match read_json_as::<Vec<Binding>>(body, Some("a list of bindings")).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    edit(&app, |doc| {
        let c = campaign(doc, &id)?;
        c.bindings = bindings;
        Ok((StatusCode::OK, json!(c.bindings)))
    })
    .await
}

/// `PUT /admin/ingest {"paused": true, "retry_after": 30}`: maintenance switch. Ingest then
/// answers 503 with `Retry-After` (seconds, 1 unless given), and the clickscripts keep their
/// events until it is lifted.
async fn switch_ingest(State(app): State<App>, _: Admin, body: Body) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Switch {
        paused: bool,
        #[serde(default)]
        retry_after: Option<u32>,
    }
    match read_json::<Switch>(body).await {
        Ok(s) => {
            let seconds = match s.paused {
                true => s.retry_after.unwrap_or(1).clamp(1, 3600),
                false => 0,
            };
            app.paused
                .store(seconds, std::sync::atomic::Ordering::Relaxed);
            println!("admin: ingest paused={}", s.paused);
            Json(json!({ "paused": s.paused })).into_response()
        }
        Err(r) => r.into_response(),
    }
}

fn org_exists(app: &App, org: &str) -> bool {
    document(app).organizations.iter().any(|o| o.id == org)
}

/// `POST /admin/orgs/{org}/keys {"name": "…"}`: a read-only API key for the organization's
/// campaigns. The answer holds the key; it is stored only as a digest and never shown again.
async fn create_key(
    State(app): State<App>,
    _: Admin,
    Path(org): Path<String>,
    body: Body,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewKey {
        #[serde(default)]
        name: String,
    }
    let new = match read_json::<NewKey>(body).await {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    if new.name.len() > 200 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name: longer than 200 bytes",
        );
    }
    if !org_exists(&app, &org) {
        return not_found("organization", &org).into_response();
    }
    match app
        .store
        .run(move |c| auth::create_key(c, &org, &new.name))
        .await
    {
        Ok((listed, key)) => {
            println!(
                "admin: API key {} created for organization {}",
                listed.id, listed.org
            );
            (
                StatusCode::CREATED,
                Json(
                    json!({ "key": key, "id": listed.id, "org": listed.org, "name": listed.name,
                    "created_at": listed.created_at, "note": "shown once: store it now" }),
                ),
            )
                .into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// `GET /admin/orgs/{org}/keys`: the organization's keys, without their secrets.
async fn list_keys(State(app): State<App>, _: Admin, Path(org): Path<String>) -> Response {
    if !org_exists(&app, &org) {
        return not_found("organization", &org).into_response();
    }
    match app.store.read(move |c| auth::keys(c, &org)).await {
        Ok(keys) => Json(json!({ "keys": keys })).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `DELETE /admin/keys/{id}`: revokes a key and ends the sessions signed in with it.
async fn revoke_key(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let key = id.clone();
    match app.store.run(move |c| auth::revoke_key(c, &key)).await {
        Ok(true) => {
            println!("admin: API key {id} revoked");
            Json(json!({ "id": id, "revoked": true })).into_response()
        }
        Ok(false) => not_found("API key", &id).into_response(),
        Err(e) => unavailable(&e),
    }
}
