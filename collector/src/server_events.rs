//! Server-side events: sales confirmed away from the page (a buyer accepts the lead, a call
//! platform reports a sold call), reported by the organization's systems with its API key.
//! They follow the page's rules (the event must be configured for the lead's campaign; a
//! once-per-lead event reported twice is a duplicate) and fire the same postbacks.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clickscript_core::event::{Event, Fields, Scalar};
use clickscript_core::ids::{is_uuid, is_valid_id};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::read_json;
use crate::auth::{self, Reader};
use crate::store::Inserted;
use crate::{error, unavailable, App};

/// What a server reports.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reported {
    /// The lead.
    transaction_id: String,
    /// The event (Base Form Sold, Base Call Sold, a custom conversion, …).
    event_id: String,
    /// The reporter's own ID for this report, a UUID: a retry with the same one is a duplicate.
    #[serde(default)]
    uid: Option<String>,
    /// What the buyer pays.
    #[serde(default)]
    revenue: Option<f64>,
    /// What the traffic source is paid.
    #[serde(default)]
    payout: Option<f64>,
    /// When it happened (Unix ms; now when absent).
    #[serde(default)]
    ts: Option<u64>,
    /// Details (buyer, call duration, …), as the page's `data`.
    #[serde(default)]
    data: Fields<Scalar>,
}

/// `POST /v1/server-events`: one event for a lead; 201 stored, 200 duplicate.
pub async fn report(State(app): State<App>, reader: Reader, body: Body) -> Response {
    let reported: Reported = match read_json(body).await {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    if !is_uuid(&reported.transaction_id) {
        return error(StatusCode::BAD_REQUEST, "transaction_id: not a UUID");
    }
    if !is_valid_id(&reported.event_id) {
        return error(StatusCode::BAD_REQUEST, "event_id: not a valid ID");
    }
    let uid = match reported.uid.clone() {
        Some(u) if is_uuid(&u) => u,
        Some(_) => return error(StatusCode::BAD_REQUEST, "uid: not a UUID"),
        None => uuid::Uuid::new_v4().to_string(),
    };
    // The lead as its page created it: its campaign, visitor and attribution carry over.
    let txn = reported.transaction_id.clone();
    let first = match app.store.first_event(&txn).await {
        Ok(f) => f,
        Err(e) => return unavailable(&e),
    };
    let refused = || auth::forbidden(&format!("transaction {:?}", reported.transaction_id));
    let Some((campaign_id, lead)) = first else {
        return refused();
    };
    let Some(campaign) = app.campaign(&campaign_id) else {
        return refused();
    };
    if !reader.may_read(Some(&campaign.org)) {
        return refused();
    }
    let Ok(mut event) = serde_json::from_str::<Event>(&lead) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the lead's first event is unreadable",
        );
    };
    let now = crate::store::now_ms() as u64;
    let def = campaign.config.event(&reported.event_id);
    event.uid = uid.clone();
    event.event_id = reported.event_id.clone();
    if let Some(d) = def {
        event.category = d.category;
        event.scope = d.scope;
    }
    event.ts = reported.ts.unwrap_or(now);
    event.seq = 0;
    event.data = reported.data;
    event.revenue = reported
        .revenue
        .or_else(|| def.and_then(|d| d.revenue.as_ref()?.fixed()));
    event.payout = reported
        .payout
        .or_else(|| def.and_then(|d| d.payout.as_ref()?.fixed()));
    event.consent = None;
    event.bot = false;
    // The page's own checks, the same for every event (configured, limits, amounts, GPC).
    let raw = match serde_json::value::to_raw_value(&event) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut new = match crate::ingest::event(&raw, &campaign, now) {
        Ok(n) => n,
        Err(rejection) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, rejection.error);
        }
    };
    // Where it came from, for the lead's timeline.
    if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&new.body) {
        m.insert("source".into(), "server".into());
        new.body = Value::Object(m).to_string();
    }
    let calls = !new.postbacks.is_empty();
    let once_key = new.once_key();
    match app.store.insert_batch(vec![new]).await {
        Ok(result) if result.first() == Some(&Inserted::New) => {
            if calls {
                app.postbacks.notify_one();
            }
            log_line!(
                "server event {} for {} ({campaign_id}): stored",
                reported.event_id,
                reported.transaction_id
            );
            (
                StatusCode::CREATED,
                Json(json!({ "status": "accepted", "uid": uid })),
            )
                .into_response()
        }
        // Once per lead means once whoever reported it first: a sale the page reported already is
        // not paid or billed again. The answer shows the copy kept, so the reporter can
        // reconcile its own figures with it.
        Ok(_) => {
            let (uid_kept, kept_in) = (uid.clone(), campaign_id.clone());
            let kept = match app
                .store
                .kept_copy(&kept_in, &uid_kept, once_key.as_deref())
                .await
            {
                Ok(k) => k.map(|k| {
                    json!({
                        "uid": k["uid"],
                        "source": k.get("source").cloned().unwrap_or_else(|| "page".into()),
                        "revenue": k["revenue"],
                        "payout": k["payout"],
                        "received_at": k["received_at"],
                    })
                }),
                Err(e) => return unavailable(&e),
            };
            Json(json!({ "status": "duplicate", "uid": uid, "kept": kept })).into_response()
        }
        Err(e) => unavailable(&e),
    }
}
