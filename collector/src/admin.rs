//! The admin API: the catalog (organizations, their campaigns with every setting, event
//! definitions, bindings) and organizations' API keys, edited over HTTP. Every change is
//! validated on the whole catalog (errors name the field and the reason), stored in SQLite, and
//! reaches pages through the served configuration (cached for at most a minute).
//!
//! A campaign is replaced whole (`PUT`, its document as `GET` shows it) or changed by a JSON
//! merge patch (`PATCH`, RFC 7396): the patch is applied to the document, so a setting added to
//! [`CampaignFile`] is editable here without code. An event, once defined, is never removed, only
//! deactivated, so that the events stored of it keep their definition; a campaign with stored
//! events is never deleted (its ID would be free for another campaign, which would show them).
//!
//! Only requests with `Authorization: Bearer TOKEN` (the token the collector was started with)
//! get through, checked before any body is read: every handler takes [`Admin`] before its body.
//! Without a token the API is off. Its routes carry no CORS headers, so no page can call them
//! from a browser. Each handler's `#[utoipa::path]` describes it in `/openapi.json`, and the
//! routes are registered from those descriptions, so the two cannot differ.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clickscript_core::trigger::Binding;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, Admin};
use crate::catalog::{CampaignFile, Catalog, CatalogFile, CustomEvent, OrgFile};
use crate::json::{self, Member};
use crate::rejections::Path;
use crate::store::StoreError;
use crate::{error, unavailable, App};

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 256 * 1024;

/// The admin routes (under `/admin`), each with its OpenAPI description.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(switch_ingest))
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(show_org, patch_org, delete_org))
        .routes(routes!(list_org_events, create_org_event))
        .routes(routes!(update_org_event, deactivate_org_event))
        .routes(routes!(create_campaign))
        .routes(routes!(
            show_campaign,
            replace_campaign,
            patch_campaign,
            delete_campaign
        ))
        .routes(routes!(create_campaign_event))
        .routes(routes!(update_campaign_event, deactivate_campaign_event))
        .routes(routes!(replace_bindings))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// An error answer: what was wrong, by the field's path; a refused change lists every problem.
#[derive(Serialize, ToSchema)]
pub struct ErrorAnswer {
    /// The problem (the first, when there are several), by its path:
    /// `cookie_days: expected a whole number of 0 or more, got the string "many"`.
    pub error: String,
    /// Every problem of a change the catalog's checks refused (422), each by its path in the
    /// catalog document (`organizations[0].campaigns[1].cookie_days: must be between 1 and 400`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}

/// The `{org}` of a route.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgId {
    /// The organization's ID.
    pub org: String,
}

/// The `{campaign}` of a route.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CampaignId {
    /// The campaign's ID.
    pub campaign: String,
}

/// The `{org}` and `{id}` of an organization's event.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgEventId {
    /// The organization's ID.
    pub org: String,
    /// The event's ID.
    pub id: String,
}

/// The `{campaign}` and `{id}` of a campaign's event.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CampaignEventId {
    /// The campaign's ID.
    pub campaign: String,
    /// The event's ID.
    pub id: String,
}

/// The `{id}` of an API key.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyId {
    /// The key's public ID (the part after `ck_`, before the second `_`).
    pub id: String,
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
    typed(&read_value(body).await?, what)
}

/// Reads a body as JSON, of any shape.
async fn read_value(body: Body) -> Result<Value, Refusal> {
    let bytes = to_bytes(body, MAX_ADMIN_BODY).await.map_err(|e| {
        if crate::too_large(&e) {
            Refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_ADMIN_BODY} bytes"),
            )
        } else {
            // Slow or cut off: not the sender's fault, so it may send it again.
            Refusal(
                StatusCode::REQUEST_TIMEOUT,
                "body not received in time (or cut off); retry".into(),
            )
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("malformed body: {e}")))
}

/// Reads a body's JSON `value` as a `T`, as [`read_json_as`] does.
fn typed<T: DeserializeOwned>(value: &Value, what: Option<&str>) -> Result<T, Refusal> {
    json::read(value, "").map_err(|p| {
        let message = match (p.path.as_str(), what) {
            ("", Some(what)) if p.member == Member::None => {
                format!("body: expected {what}, got {}", json::kind(value))
            }
            ("", _) => format!("body: {}", p.reason),
            _ => p.to_string(),
        };
        Refusal(StatusCode::BAD_REQUEST, message)
    })
}

/// Reads a body that must be a JSON object (a document, or a merge patch of one).
async fn read_object(body: Body, what: &str) -> Result<Value, Refusal> {
    let value = read_value(body).await?;
    match value.is_object() {
        true => Ok(value),
        false => Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("body: expected {what}, got {}", json::kind(&value)),
        )),
    }
}

/// A change to the catalog document: `Err` is the refusal, `Ok` what to answer.
type Change = Result<(StatusCode, Value), Refusal>;

/// One change of the catalog at a time: each applies to what the one before it left (two
/// requests at once would otherwise each start from the same document, and one be lost).
static EDITS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Applies `change` to a copy of the catalog, validates the whole, then stores and serves it.
async fn edit(app: &App, change: impl FnOnce(&mut CatalogFile) -> Change) -> Response {
    let _one_at_a_time = EDITS.lock().await;
    // Another collector on the same database may have changed the catalog: the change applies
    // to the stored one, and is stored only if no other came first.
    if let Err(e) = crate::refresh_catalog(app).await {
        return unavailable(&e);
    }
    let expected = app
        .catalog_version
        .load(std::sync::atomic::Ordering::SeqCst);
    let before = document(app);
    let mut document = before.clone();
    let (status, answer) = match change(&mut document) {
        Ok(ok) => ok,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(refusal) = removed_event(&before, &document) {
        return refusal.into_response();
    }
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
    let version = match app.store.save_catalog(&catalog, Some(expected)).await {
        Ok(v) => v,
        Err(StoreError::Conflict(now)) => {
            let _ = crate::refresh_catalog(app).await;
            return conflict(format!(
                "the catalog changed meanwhile (version {expected} is now {now}, changed through another collector); read it again and retry"
            ))
            .into_response();
        }
        Err(e) => return unavailable(&e),
    };
    {
        let mut served = app.catalog.write().unwrap_or_else(|e| e.into_inner());
        *served = catalog;
        app.catalog_version
            .store(version, std::sync::atomic::Ordering::SeqCst);
    }
    log_line!("admin: catalog changed (version {version})");
    (status, Json(answer)).into_response()
}

/// The refusal of a change that removes an event definition: an event is deactivated, never
/// removed, so that the events stored of it keep their definition (and its ID its meaning).
fn removed_event(before: &CatalogFile, after: &CatalogFile) -> Option<Refusal> {
    let gone = |was: &[CustomEvent], is: &[CustomEvent]| {
        was.iter()
            .find(|e| !is.iter().any(|n| n.id == e.id))
            .map(|e| {
                Refusal(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "events: {:?} is missing; an event is deactivated (\"active\": false), never removed",
                        e.id
                    ),
                )
            })
    };
    for was in &before.organizations {
        let Some(is) = after.organizations.iter().find(|o| o.id == was.id) else {
            continue;
        };
        if let Some(r) = gone(&was.events, &is.events) {
            return Some(r);
        }
        for c in &was.campaigns {
            if let Some(now) = is.campaigns.iter().find(|n| n.id == c.id) {
                if let Some(r) = gone(&c.events, &now.events) {
                    return Some(r);
                }
            }
        }
    }
    None
}

fn not_found(what: &str, id: &str) -> Refusal {
    Refusal(StatusCode::NOT_FOUND, format!("unknown {what} {id:?}"))
}

fn conflict(message: String) -> Refusal {
    Refusal(StatusCode::CONFLICT, message)
}

/// A copy of the catalog's document (what the admin API reads and edits).
fn document(app: &App) -> CatalogFile {
    app.catalog
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .file
        .clone()
}

fn org<'a>(doc: &'a mut CatalogFile, id: &str) -> Result<&'a mut OrgFile, Refusal> {
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

/// Serialized for an answer (the catalog's types always serialize).
fn answer<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// `value`, a document of a `what` (`campaign`) at a URL naming `id`, with that ID: its own
/// `id`, if it has one, must be the URL's (IDs never change).
fn with_id(mut value: Value, id: &str, what: &str) -> Result<Value, Refusal> {
    if let Value::Object(members) = &mut value {
        match members.get("id") {
            None | Some(Value::Null) => {
                members.insert("id".into(), Value::from(id));
            }
            Some(Value::String(s)) if s != id => {
                return Err(Refusal(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("id: {s:?} differs from the URL's {id:?}; {what} IDs never change"),
                ))
            }
            // The URL's, or not a string (which reading the document names).
            Some(_) => {}
        }
    }
    Ok(value)
}

/// `current` changed by the JSON merge patch `patch`, read back as a `T` whose `id` is `id`.
fn patched<T: Serialize + DeserializeOwned>(
    current: &T,
    patch: &Value,
    id: &str,
    what: &str,
) -> Result<T, Refusal> {
    let mut value = answer(current);
    json::merge_patch(&mut value, patch);
    typed(&with_id(value, id, what)?, None)
}

fn create(events: &mut Vec<CustomEvent>, event: CustomEvent) -> Change {
    if events.iter().any(|e| e.id == event.id) {
        return Err(conflict(format!(
            "event {:?} exists; PUT to change it",
            event.id
        )));
    }
    let answer = answer(&event);
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
    Ok((StatusCode::OK, answer(slot)))
}

fn deactivate(events: &mut [CustomEvent], id: &str) -> Change {
    let slot = events
        .iter_mut()
        .find(|e| e.id == id)
        .ok_or_else(|| not_found("event", id))?;
    slot.active = false;
    Ok((StatusCode::OK, answer(slot)))
}

/// The whole catalog document: every organization with its events and campaigns.
#[utoipa::path(get, path = "/admin/catalog", tag = "admin: catalog",
    responses((status = 200, body = CatalogFile), (status = 401, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn catalog(State(app): State<App>, _: Admin) -> Response {
    Json(document(&app)).into_response()
}

/// An organization as listed: its ID, name and campaigns' IDs.
#[derive(Serialize, ToSchema)]
pub struct OrgListed {
    /// The organization's ID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its campaigns' IDs.
    pub campaigns: Vec<String>,
}

/// The organizations.
#[utoipa::path(get, path = "/admin/orgs", tag = "admin: organizations",
    responses((status = 200, body = [OrgListed]), (status = 401, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn list_orgs(State(app): State<App>, _: Admin) -> Response {
    let listed: Vec<OrgListed> = document(&app)
        .organizations
        .into_iter()
        .map(|o| OrgListed {
            campaigns: o.campaigns.into_iter().map(|c| c.id).collect(),
            id: o.id,
            name: o.name,
        })
        .collect();
    Json(listed).into_response()
}

/// Creates an organization, with its events and campaigns if the body has them. Its ID must be
/// new, and so must its campaigns' (no stored events of a campaign of that ID); an ID whose
/// former organization left live API keys is refused until they are revoked.
#[utoipa::path(post, path = "/admin/orgs", tag = "admin: organizations",
    request_body = OrgFile,
    responses((status = 201, body = OrgFile), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 409, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn create_org(State(app): State<App>, _: Admin, body: Body) -> Response {
    let new = match read_object(body, "an organization").await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let new: OrgFile = match typed(&new, None) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let id = new.id.clone();
    let campaigns: Vec<String> = new.campaigns.iter().map(|c| c.id.clone()).collect();
    let left = match app.store.live_key_ids(&id).await {
        Ok(keys) => app
            .store
            .campaign_with_events(campaigns)
            .await
            .map(|used| (keys, used)),
        Err(e) => Err(e),
    };
    match left {
        Err(e) => return unavailable(&e),
        Ok((keys, _)) if !keys.is_empty() => {
            return conflict(format!(
                "id: organization {:?} had live API keys ({}); revoke them (DELETE /admin/keys/ID) or choose another ID",
                new.id,
                keys.join(", ")
            ))
            .into_response()
        }
        Ok((_, Some(used))) => return reused_campaign_id(&used).into_response(),
        Ok(_) => {}
    }
    edit(&app, |doc| {
        if doc.organizations.iter().any(|o| o.id == new.id) {
            return Err(conflict(format!(
                "id: organization {:?} exists; PATCH /admin/orgs/{} to change it",
                new.id, new.id
            )));
        }
        let answer = answer(&new);
        doc.organizations.push(new);
        Ok((StatusCode::CREATED, answer))
    })
    .await
}

/// The refusal of a new campaign whose ID has stored events (of a campaign removed before).
fn reused_campaign_id(id: &str) -> Refusal {
    conflict(format!(
        "id: events of a former campaign {id:?} are stored; choose another campaign ID"
    ))
}

/// An organization's document: its settings, events and campaigns.
#[utoipa::path(get, path = "/admin/orgs/{org}", tag = "admin: organizations", params(OrgId),
    responses((status = 200, body = OrgFile), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn show_org(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let mut doc = document(&app);
    match org(&mut doc, &id) {
        Ok(o) => Json(answer(o)).into_response(),
        Err(r) => r.into_response(),
    }
}

/// Changes an organization by a JSON merge patch (RFC 7396) of its document: each member given
/// replaces its own (a list whole), `null` removes one (its default applies), objects merge
/// member by member. Its campaigns have routes of their own and are not patched here; its
/// events may be (none removed: deactivate one with `"active": false`).
#[utoipa::path(patch, path = "/admin/orgs/{org}", tag = "admin: organizations", params(OrgId),
    request_body(content = ref("#/components/schemas/OrgPatch"),
        content_type = "application/merge-patch+json"),
    responses((status = 200, body = OrgFile), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn patch_org(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let patch = match read_object(body, "an object (a JSON merge patch)").await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    if patch.get("campaigns").is_some() {
        return Refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "campaigns: not patched here: POST /admin/orgs/{id}/campaigns creates one, /admin/campaigns/ID changes or deletes one"
            ),
        )
        .into_response();
    }
    edit(&app, |doc| {
        let slot = org(doc, &id)?;
        *slot = patched(&*slot, &patch, &id, "organization")?;
        Ok((StatusCode::OK, answer(slot)))
    })
    .await
}

/// A deletion done.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// What was deleted.
    pub id: String,
    /// Always true.
    pub deleted: bool,
    /// An organization's API keys revoked with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_revoked: Option<usize>,
}

/// Deletes an organization that has no campaigns left (delete them first), and revokes its API
/// keys, so that an organization created later with its ID does not inherit them.
#[utoipa::path(delete, path = "/admin/orgs/{org}", tag = "admin: organizations", params(OrgId),
    responses((status = 200, body = Deleted), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn delete_org(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let mut doc = document(&app);
    match org(&mut doc, &id) {
        Err(r) => return r.into_response(),
        Ok(o) if !o.campaigns.is_empty() => {
            let ids: Vec<String> = o.campaigns.iter().map(|c| format!("{:?}", c.id)).collect();
            return conflict(format!(
                "campaigns: organization {id:?} has campaigns ({}); delete them first",
                ids.join(", ")
            ))
            .into_response();
        }
        Ok(_) => {}
    }
    // Revoked first: should the deletion then fail, the organization is there without its keys,
    // never gone with them live.
    let org_id = id.clone();
    let revoked = match auth::revoke_org_keys(&app.store, &org_id).await {
        Ok(n) => n,
        Err(e) => return unavailable(&e),
    };
    edit(&app, |doc| {
        let before = doc.organizations.len();
        doc.organizations
            .retain(|o| o.id != id || !o.campaigns.is_empty());
        if doc.organizations.len() == before {
            return Err(conflict(format!(
                "organization {id:?} changed meanwhile; try again"
            )));
        }
        log_line!("admin: organization {id} deleted, {revoked} API keys revoked");
        let deleted = Deleted {
            id: id.clone(),
            deleted: true,
            keys_revoked: Some(revoked),
        };
        Ok((StatusCode::OK, answer(&deleted)))
    })
    .await
}

/// An organization's events.
#[derive(Serialize, ToSchema)]
pub struct OrgEvents {
    /// The organization's ID.
    pub organization: String,
    /// Its custom events (inactive ones too).
    pub events: Vec<CustomEvent>,
}

/// An organization's custom events, usable by all its campaigns.
#[utoipa::path(get, path = "/admin/orgs/{org}/events", tag = "admin: events", params(OrgId),
    responses((status = 200, body = OrgEvents), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn list_org_events(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let doc = document(&app);
    match doc.organizations.into_iter().find(|o| o.id == id) {
        Some(o) => Json(OrgEvents {
            organization: o.id,
            events: o.events,
        })
        .into_response(),
        None => not_found("organization", &id).into_response(),
    }
}

/// Creates an organization-level custom event.
#[utoipa::path(post, path = "/admin/orgs/{org}/events", tag = "admin: events", params(OrgId),
    request_body = CustomEvent,
    responses((status = 201, body = CustomEvent), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn create_org_event(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    create_event(app, Owner::Org, id, body).await
}

/// Replaces an organization-level custom event (its ID stays).
#[utoipa::path(put, path = "/admin/orgs/{org}/events/{id}", tag = "admin: events",
    params(OrgEventId), request_body = CustomEvent,
    responses((status = 200, body = CustomEvent), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn update_org_event(
    State(app): State<App>,
    _: Admin,
    Path(p): Path<(String, String)>,
    body: Body,
) -> Response {
    update_event(app, Owner::Org, p, body).await
}

/// Deactivates an organization-level custom event: no longer served nor accepted, still defined.
#[utoipa::path(delete, path = "/admin/orgs/{org}/events/{id}", tag = "admin: events",
    params(OrgEventId),
    responses((status = 200, body = CustomEvent), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn deactivate_org_event(
    State(app): State<App>,
    _: Admin,
    Path(p): Path<(String, String)>,
) -> Response {
    deactivate_event(app, Owner::Org, p).await
}

/// Creates a campaign in an organization. Its ID must be new (no campaign has it, and no events
/// of a campaign of that ID are stored).
#[utoipa::path(post, path = "/admin/orgs/{org}/campaigns", tag = "admin: campaigns",
    params(OrgId), request_body = CampaignFile,
    responses((status = 201, body = CampaignFile), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn create_campaign(
    State(app): State<App>,
    _: Admin,
    Path(org_id): Path<String>,
    body: Body,
) -> Response {
    let new = match read_object(body, "a campaign").await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let new: CampaignFile = match typed(&new, None) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let id = new.id.clone();
    match app.store.campaign_with_events(vec![id]).await {
        Err(e) => return unavailable(&e),
        Ok(Some(_)) => return reused_campaign_id(&new.id).into_response(),
        Ok(None) => {}
    }
    edit(&app, |doc| {
        if let Some(o) = doc
            .organizations
            .iter()
            .find(|o| o.campaigns.iter().any(|c| c.id == new.id))
        {
            return Err(conflict(format!(
                "id: campaign {:?} exists (organization {:?}); PUT or PATCH /admin/campaigns/{} to change it",
                new.id, o.id, new.id
            )));
        }
        let answer = answer(&new);
        org(doc, &org_id)?.campaigns.push(new);
        Ok((StatusCode::CREATED, answer))
    })
    .await
}

/// A campaign's document: every setting, its events and bindings.
#[utoipa::path(get, path = "/admin/campaigns/{campaign}", tag = "admin: campaigns",
    params(CampaignId),
    responses((status = 200, body = CampaignFile), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn show_campaign(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let mut doc = document(&app);
    match campaign(&mut doc, &id) {
        Ok(c) => Json(answer(c)).into_response(),
        Err(r) => r.into_response(),
    }
}

/// Replaces a campaign's whole document (what `GET` gives): every setting, its events and its
/// bindings. A member left out takes its default; `id`, if given, must be the URL's; no event
/// may be left out (deactivate one with `"active": false`).
#[utoipa::path(put, path = "/admin/campaigns/{campaign}", tag = "admin: campaigns",
    params(CampaignId), request_body = CampaignFile,
    responses((status = 200, body = CampaignFile), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn replace_campaign(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let value = match read_object(body, "a campaign").await {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    edit(&app, |doc| {
        let slot = campaign(doc, &id)?;
        *slot = typed(&with_id(value, &id, "campaign")?, None)?;
        Ok((StatusCode::OK, answer(slot)))
    })
    .await
}

/// Changes a campaign by a JSON merge patch (RFC 7396) of its document: each member given
/// replaces its own (a list whole), `null` removes one (its default applies), objects
/// (`capture`, `offers`) merge member by member. Every setting is patchable this way, those
/// added later too.
#[utoipa::path(patch, path = "/admin/campaigns/{campaign}", tag = "admin: campaigns",
    params(CampaignId),
    request_body(content = ref("#/components/schemas/CampaignPatch"),
        content_type = "application/merge-patch+json"),
    responses((status = 200, body = CampaignFile), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn patch_campaign(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let patch = match read_object(body, "an object (a JSON merge patch)").await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    edit(&app, |doc| {
        let slot = campaign(doc, &id)?;
        *slot = patched(&*slot, &patch, &id, "campaign")?;
        Ok((StatusCode::OK, answer(slot)))
    })
    .await
}

/// Deletes a campaign that has no stored events: pages are no longer served its configuration
/// and its events are refused. A campaign with stored events is kept (409): deleting it would
/// free its ID, and a campaign created later with that ID would show them.
#[utoipa::path(delete, path = "/admin/campaigns/{campaign}", tag = "admin: campaigns",
    params(CampaignId),
    responses((status = 200, body = Deleted), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn delete_campaign(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    if let Err(r) = campaign(&mut document(&app), &id) {
        return r.into_response();
    }
    let key = id.clone();
    match app.store.campaign_with_events(vec![key]).await {
        Err(e) => return unavailable(&e),
        Ok(Some(_)) => {
            return conflict(format!(
                "campaign {id:?} has stored events, so it is kept: deleting it would free its ID, and a campaign created with it later would show them"
            ))
            .into_response()
        }
        Ok(None) => {}
    }
    edit(&app, |doc| {
        for o in &mut doc.organizations {
            if let Some(i) = o.campaigns.iter().position(|c| c.id == id) {
                o.campaigns.remove(i);
                log_line!("admin: campaign {id} deleted");
                let deleted = Deleted {
                    id: id.clone(),
                    deleted: true,
                    keys_revoked: None,
                };
                return Ok((StatusCode::OK, answer(&deleted)));
            }
        }
        Err(not_found("campaign", &id))
    })
    .await
}

/// Creates a campaign-level custom event (that campaign's only).
#[utoipa::path(post, path = "/admin/campaigns/{campaign}/events", tag = "admin: events",
    params(CampaignId), request_body = CustomEvent,
    responses((status = 201, body = CustomEvent), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn create_campaign_event(
    State(app): State<App>,
    _: Admin,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    create_event(app, Owner::Campaign, id, body).await
}

/// Replaces a campaign-level custom event (its ID stays).
#[utoipa::path(put, path = "/admin/campaigns/{campaign}/events/{id}", tag = "admin: events",
    params(CampaignEventId), request_body = CustomEvent,
    responses((status = 200, body = CustomEvent), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn update_campaign_event(
    State(app): State<App>,
    _: Admin,
    Path(p): Path<(String, String)>,
    body: Body,
) -> Response {
    update_event(app, Owner::Campaign, p, body).await
}

/// Deactivates a campaign-level custom event: no longer served nor accepted, still defined.
#[utoipa::path(delete, path = "/admin/campaigns/{campaign}/events/{id}", tag = "admin: events",
    params(CampaignEventId),
    responses((status = 200, body = CustomEvent), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn deactivate_campaign_event(
    State(app): State<App>,
    _: Admin,
    Path(p): Path<(String, String)>,
) -> Response {
    deactivate_event(app, Owner::Campaign, p).await
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

/// Replaces a campaign's bindings (which event fires on which trigger).
#[utoipa::path(put, path = "/admin/campaigns/{campaign}/bindings", tag = "admin: campaigns",
    params(CampaignId), request_body = Vec<Binding>,
    responses((status = 200, body = Vec<Binding>), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
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
        Ok((StatusCode::OK, answer(&c.bindings)))
    })
    .await
}

/// The maintenance switch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestSwitch {
    /// Whether ingest answers 503 (the clickscripts keep their events and retry).
    pub paused: bool,
    /// The `Retry-After` of those answers, in seconds (1 to 3600; 1 unless given).
    #[serde(default)]
    pub retry_after: Option<u32>,
}

/// Whether ingest is paused.
#[derive(Serialize, ToSchema)]
pub struct IngestState {
    /// Whether ingest answers 503.
    pub paused: bool,
}

/// The maintenance switch: while paused, ingest answers 503 with `Retry-After`, and the
/// clickscripts keep their events until it is lifted.
#[utoipa::path(put, path = "/admin/ingest", tag = "admin: ingest", request_body = IngestSwitch,
    responses((status = 200, body = IngestState), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn switch_ingest(State(app): State<App>, _: Admin, body: Body) -> Response {
    match read_json::<IngestSwitch>(body).await {
        Ok(s) => {
            let seconds = match s.paused {
                true => s.retry_after.unwrap_or(1).clamp(1, 3600),
                false => 0,
            };
            app.paused
                .store(seconds, std::sync::atomic::Ordering::Relaxed);
            log_line!("admin: ingest paused={}", s.paused);
            Json(IngestState { paused: s.paused }).into_response()
        }
        Err(r) => r.into_response(),
    }
}

fn org_exists(app: &App, org: &str) -> bool {
    document(app).organizations.iter().any(|o| o.id == org)
}

/// A new API key's name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the admin calls it (at most 200 bytes).
    #[serde(default)]
    pub name: String,
}

/// A key just created: the only answer that holds the key itself.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key (`ck_ID_SECRET`): store it now, it is never shown again.
    pub key: String,
    /// Its public ID.
    pub id: String,
    /// The organization it reads.
    pub org: String,
    /// Its name.
    pub name: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// `shown once: store it now`.
    pub note: String,
}

/// Creates a read-only API key for the organization's campaigns. The answer holds the key; it is
/// stored only as a digest and never shown again.
#[utoipa::path(post, path = "/admin/orgs/{org}/keys", tag = "admin: API keys", params(OrgId),
    request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorAnswer),
        (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 422, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn create_key(
    State(app): State<App>,
    _: Admin,
    Path(org): Path<String>,
    body: Body,
) -> Response {
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
    match auth::create_key(&app.store, &org, &new.name).await {
        Ok((listed, key)) => {
            log_line!(
                "admin: API key {} created for organization {}",
                listed.id,
                listed.org
            );
            let created = CreatedKey {
                key,
                id: listed.id,
                org: listed.org,
                name: listed.name,
                created_at: listed.created_at,
                note: "shown once: store it now".into(),
            };
            (StatusCode::CREATED, Json(created)).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// An organization's keys.
#[derive(Serialize, ToSchema)]
pub struct Keys {
    /// Every key, revoked ones too, without secrets.
    pub keys: Vec<auth::ApiKey>,
}

/// The organization's keys, without their secrets.
#[utoipa::path(get, path = "/admin/orgs/{org}/keys", tag = "admin: API keys", params(OrgId),
    responses((status = 200, body = Keys), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn list_keys(State(app): State<App>, _: Admin, Path(org): Path<String>) -> Response {
    if !org_exists(&app, &org) {
        return not_found("organization", &org).into_response();
    }
    match app.store.keys(&org).await {
        Ok(keys) => Json(Keys { keys }).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// A key revoked.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// The key's ID.
    pub id: String,
    /// Always true.
    pub revoked: bool,
}

/// Revokes a key and ends the sessions signed in with it.
#[utoipa::path(delete, path = "/admin/keys/{id}", tag = "admin: API keys", params(KeyId),
    responses((status = 200, body = Revoked), (status = 401, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)),
    security(("admin_token" = [])))]
async fn revoke_key(State(app): State<App>, _: Admin, Path(id): Path<String>) -> Response {
    let key = id.clone();
    match app.store.revoke_key(&key, crate::store::now_ms()).await {
        Ok(true) => {
            log_line!("admin: API key {id} revoked");
            Json(Revoked { id, revoked: true }).into_response()
        }
        Ok(false) => not_found("API key", &id).into_response(),
        Err(e) => unavailable(&e),
    }
}
