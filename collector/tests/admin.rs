//! The admin API: organizations, campaigns and every campaign setting, event definitions and
//! bindings, validated, stored, and served to pages.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use clickscript_core::config::Amount;
use common::{app, app_with, get, send};
use serde_json::{json, Value};

fn admin(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, "Bearer secret")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn served_ids(app: &Router, campaign: &str) -> Vec<String> {
    let (_, v, _) = get(app, &format!("/v1/campaigns/{campaign}/config")).await;
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_is_off_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let off = app_with(&dir, None);
    let (s, v, _) = send(&off, admin("GET", "/admin/catalog", Value::Null)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("off"));
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    assert_eq!(
        get(&app, "/admin/catalog").await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong = Request::post("/admin/orgs/o/events")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::from(r#"{"id":"x","category":"lead"}"#))
        .unwrap();
    assert_eq!(send(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let (s, v, h) = send(&app, admin("GET", "/admin/catalog", Value::Null)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["organizations"][0]["id"], "o");
    assert!(
        !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "no page may read the admin API"
    );
}

#[tokio::test]
async fn events_are_created_updated_and_deactivated_and_pages_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let created = admin(
        "POST",
        "/admin/orgs/o/events",
        json!({"id":"signup","name":"Signup","category":"lead"}),
    );
    let (s, v, _) = send(&app, created).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(served_ids(&app, "c1").await.contains(&"signup".to_owned()));
    assert!(
        served_ids(&app, "c2").await.contains(&"signup".to_owned()),
        "org-level: every campaign"
    );
    let again = admin(
        "POST",
        "/admin/orgs/o/events",
        json!({"id":"signup","category":"lead"}),
    );
    assert_eq!(send(&app, again).await.0, StatusCode::CONFLICT);

    let only_c2 = admin(
        "POST",
        "/admin/campaigns/c2/events",
        json!({"id":"c2_only","category":"engagement","multi":true}),
    );
    assert_eq!(send(&app, only_c2).await.0, StatusCode::CREATED);
    assert!(served_ids(&app, "c2").await.contains(&"c2_only".to_owned()));
    assert!(
        !served_ids(&app, "c1").await.contains(&"c2_only".to_owned()),
        "campaign-level: that campaign only"
    );

    let update = admin(
        "PUT",
        "/admin/orgs/o/events/signup",
        json!({"id":"signup","category":"conversion","revenue":4}),
    );
    let (s, v, _) = send(&app, update).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revenue"], 4.0);
    let renamed = admin(
        "PUT",
        "/admin/orgs/o/events/signup",
        json!({"id":"other","category":"lead"}),
    );
    let (s, v, _) = send(&app, renamed).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"].as_str().unwrap().starts_with("id:"), "{v}");

    let (s, v, _) = send(
        &app,
        admin("DELETE", "/admin/orgs/o/events/signup", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["active"], false);
    assert!(
        !served_ids(&app, "c1").await.contains(&"signup".to_owned()),
        "inactive events are not served"
    );
    assert_eq!(
        send(
            &app,
            admin("DELETE", "/admin/orgs/o/events/nope", Value::Null)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(
            &app,
            admin(
                "POST",
                "/admin/orgs/nope/events",
                json!({"id":"x","category":"lead"})
            )
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Stored: a collector started from this database has the changes.
    let stored = common::store(&dir).load_document().await.unwrap().unwrap();
    let signup = stored.organizations[0]
        .events
        .iter()
        .find(|e| e.id == "signup")
        .unwrap();
    assert!(!signup.active);
    assert_eq!(signup.revenue, Some(Amount::Fixed(4.0)));
}

#[tokio::test]
async fn invalid_changes_are_refused_naming_the_field_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let cases = [
        (admin("POST", "/admin/orgs/o/events", json!({"id":"bad id","category":"lead"})), StatusCode::UNPROCESSABLE_ENTITY, "organizations[0].events[1].id: \"bad id\" must be"),
        (admin("POST", "/admin/orgs/o/events", json!({"id":"base","category":"lead"})), StatusCode::UNPROCESSABLE_ENTITY, "is a system event ID"),
        (admin("POST", "/admin/orgs/o/events", json!({"id":"x","category":"sale"})), StatusCode::BAD_REQUEST, "category: unknown variant \"sale\", expected one of \"lead\", \"engagement\", \"click\", \"conversion\""),
        (admin("POST", "/admin/orgs/o/events", json!({"id":"x","category":"lead","colour":1})), StatusCode::BAD_REQUEST, "colour: unknown field, expected one of \"id\", \"name\", \"category\""),
        (admin("POST", "/admin/orgs/o/events", json!({"id":"x","category":"lead","revenue":-1})), StatusCode::UNPROCESSABLE_ENTITY, "revenue: must be a non-negative number"),
        (admin("POST", "/admin/campaigns/c1/events", json!({"id":"sale2","category":"conversion","conversion":true})), StatusCode::CREATED, ""),
        (admin("POST", "/admin/campaigns/c1/events", json!({"id":"sale3","category":"conversion","conversion":true})), StatusCode::UNPROCESSABLE_ENTITY, "at most one"),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"only_c1","trigger":{"on":"click","selector":"a[href"}}])), StatusCode::UNPROCESSABLE_ENTITY, "organizations[0].campaigns[0].bindings[0].trigger.selector: \"a[href\" is not a valid CSS selector: a bracket, parenthesis, quote or escape is left open at its end"),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"only_c1","trigger":{"on":"click","selector":"#buy:hovr"}}])), StatusCode::UNPROCESSABLE_ENTITY, "organizations[0].campaigns[0].bindings[0].trigger.selector: \"#buy:hovr\" is not a valid CSS selector: unknown pseudo-class \":hovr\""),
        (admin("PUT", "/admin/campaigns/c2/bindings", json!([{"event":"only_c1","trigger":{"on":"api"}}])), StatusCode::UNPROCESSABLE_ENTITY, "bindings[0].event: \"only_c1\" is not an event of this campaign"),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"form_sold","trigger":{"on":"submit","selector":"#q","conditions":[{"field":"age","test":"between","min":9,"max":1}]}}])), StatusCode::UNPROCESSABLE_ENTITY, "conditions[0].max: is below min"),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"form_sold","trigger":{"on":"hover"}}])), StatusCode::BAD_REQUEST, "[0].trigger.on: unknown variant \"hover\", expected one of \"page_load\", \"click\""),
        (admin("PUT", "/admin/campaigns/nope/bindings", json!([])), StatusCode::NOT_FOUND, "unknown campaign"),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!({"event":"only_c1","trigger":{"on":"api"}})), StatusCode::BAD_REQUEST, "body: expected a list of bindings, got an object"),
        // serde reads a trigger (a tagged enum) from a copy: a wrong value in it is named at the trigger.
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"only_c1","trigger":{"on":"api"}},{"event":"only_c1","trigger":{"on":"scroll","percent":"half"}}])), StatusCode::BAD_REQUEST, "[1].trigger: expected a whole number of 0 or more, got the string \"half\""),
        (admin("PUT", "/admin/campaigns/c1/bindings", json!([{"event":"only_c1"}])), StatusCode::BAD_REQUEST, "[0]: missing field \"trigger\""),
        (admin("POST", "/admin/orgs/o/events", json!({"category":"lead"})), StatusCode::BAD_REQUEST, "body: missing field \"id\""),
        (admin("PUT", "/admin/ingest", json!({"paused":"yes"})), StatusCode::BAD_REQUEST, "paused: expected true or false, got the string \"yes\""),
    ];
    for (req, status, needle) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (s, v, _) = send(&app, req).await;
        assert_eq!(s, status, "{what}: {v}");
        if !needle.is_empty() {
            assert!(
                v["error"].as_str().is_some_and(|e| e.contains(needle)),
                "{what}: expected {needle:?} in {v}"
            );
        }
    }
    // Binding an event to a trigger: served with the configuration.
    let bind = admin(
        "PUT",
        "/admin/campaigns/c1/bindings",
        json!([{"event":"form_sold","trigger":{"on":"submit","selector":"#quote","conditions":[{"field":"zip","test":"present"}]}}]),
    );
    assert_eq!(send(&app, bind).await.0, StatusCode::OK);
    let (_, v, _) = get(&app, "/v1/campaigns/c1/config").await;
    assert_eq!(v["bindings"][0]["trigger"]["on"], "submit");
    // Deactivating a bound event would leave a binding to nothing: refused.
    let (s, v, _) = send(
        &app,
        admin("DELETE", "/admin/campaigns/c1/events/sale2", Value::Null),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let bound = admin(
        "PUT",
        "/admin/campaigns/c1/bindings",
        json!([{"event":"sale2","trigger":{"on":"api"}}]),
    );
    let (s, v, _) = send(&app, bound).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("\"sale2\" is inactive"),
        "{v}"
    );
}

#[tokio::test]
async fn a_system_event_bound_to_a_trigger_is_served_as_not_fired_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let served = |app: Router| async move { get(&app, "/v1/campaigns/c1/config").await.1 };
    let v = served(app.clone()).await;
    assert_eq!(v["click_with_base"], true);
    assert!(
        v.get("base_on_load").is_none(),
        "the Base Event fires on load"
    );
    let bind = admin(
        "PUT",
        "/admin/campaigns/c1/bindings",
        json!([
            {"event":"click_sold","trigger":{"on":"click","selector":"a.offer"}},
            {"event":"base","trigger":{"on":"seen","selector":"#form"}}
        ]),
    );
    assert_eq!(send(&app, bind).await.0, StatusCode::OK);
    let v = served(app.clone()).await;
    assert_eq!(
        v["click_with_base"], false,
        "Base Click Sold waits for its click"
    );
    assert_eq!(
        v["base_on_load"], false,
        "the Base Event waits for its trigger"
    );
    assert_eq!(v["ext"], "/pkg/triggers/clickscript");
}

/// Sends `req`; asserts its status, naming the request and the answer.
async fn expect(app: &Router, req: Request<Body>, status: StatusCode) -> Value {
    let what = format!("{} {}", req.method(), req.uri());
    let (s, v, _) = send(app, req).await;
    assert_eq!(s, status, "{what}: {v}");
    v
}

/// The error of an answer.
fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_campaign_setting_is_changed_by_a_merge_patch_or_a_whole_document() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let changes = json!({"name":"Two","cookie_days":7,"cookie_domain":"auto","click_with_base":false,
        "gpc":"base_only","allowed_origins":["https://two.example"],
        "capture":{"hash_contacts":true},"offers":{"domains":["offers.example"]}});
    let v = expect(
        &app,
        admin("PATCH", "/admin/campaigns/c2", changes),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["id"], "c2");
    assert_eq!(v["cookie_days"], 7);
    let (_, served, _) = get(&app, "/v1/campaigns/c2/config").await;
    assert_eq!(served["cookie_days"], 7);
    assert_eq!(served["cookie_domain"], "auto");
    assert_eq!(served["click_with_base"], false);
    assert_eq!(served["gpc"], "base_only");
    assert_eq!(served["allowed_origins"], json!(["https://two.example"]));
    assert_eq!(served["capture"]["hash_contacts"], true);
    assert_eq!(served["offers"]["domains"], json!(["offers.example"]));

    // null removes a member (its default applies); objects merge member by member.
    let patch = json!({"cookie_domain":null,"cookie_days":null,"capture":{"exclude_fields":["x"]}});
    expect(
        &app,
        admin("PATCH", "/admin/campaigns/c2", patch),
        StatusCode::OK,
    )
    .await;
    let (_, served, _) = get(&app, "/v1/campaigns/c2/config").await;
    assert!(served.get("cookie_domain").is_none(), "{served}");
    assert_eq!(served["cookie_days"], 30);
    assert_eq!(
        served["capture"],
        json!({"exclude_fields":["x"],"hash_contacts":true})
    );

    let refused = [
        (
            json!({"cookie_days":"many"}),
            StatusCode::BAD_REQUEST,
            "cookie_days: expected a whole number of 0 or more, got the string \"many\"",
        ),
        (
            json!({"capture":{"hash_contacts":"yes"}}),
            StatusCode::BAD_REQUEST,
            "capture.hash_contacts: expected true or false, got the string \"yes\"",
        ),
        (
            json!({"bindings":[{"event":"base","trigger":{"on":"hover"}}]}),
            StatusCode::BAD_REQUEST,
            "bindings[0].trigger.on: unknown variant \"hover\"",
        ),
        (
            json!({"colour":1}),
            StatusCode::BAD_REQUEST,
            "colour: unknown field, expected one of \"id\", \"name\"",
        ),
        (
            json!({"cookie_days":0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "organizations[0].campaigns[1].cookie_days: must be between 1 and 400",
        ),
        (
            json!({"allowed_origins":["https://x.example/path"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "organizations[0].campaigns[1].allowed_origins[0]",
        ),
        (
            json!({"id":"c9"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "id: \"c9\" differs from the URL's \"c2\"; campaign IDs never change",
        ),
        (
            json!({"id":9}),
            StatusCode::BAD_REQUEST,
            "id: expected a string, got the number 9",
        ),
        (
            json!([{"name":"x"}]),
            StatusCode::BAD_REQUEST,
            "body: expected an object (a JSON merge patch), got a list",
        ),
    ];
    for (patch, status, needle) in refused {
        let v = expect(&app, admin("PATCH", "/admin/campaigns/c2", patch), status).await;
        assert!(error_of(&v).contains(needle), "{needle:?} in {v}");
    }
    expect(
        &app,
        admin("PATCH", "/admin/campaigns/nope", json!({})),
        StatusCode::NOT_FOUND,
    )
    .await;
    // An event is deactivated, never removed: not by a patch of the list either.
    let v = expect(
        &app,
        admin("PATCH", "/admin/campaigns/c1", json!({"events":[]})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).starts_with("events: \"only_c1\" is missing"),
        "{v}"
    );

    // PUT: the whole document, as GET gives it; what it leaves out takes its default.
    let (_, mut doc, _) = send(&app, admin("GET", "/admin/campaigns/c1", Value::Null)).await;
    doc["name"] = json!("One");
    doc["allowed_origins"] = json!(["https://lp.example", "https://one.example"]);
    doc.as_object_mut().unwrap().remove("id");
    doc.as_object_mut().unwrap().remove("capture");
    let v = expect(
        &app,
        admin("PUT", "/admin/campaigns/c1", doc),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["id"], "c1");
    assert_eq!(v["name"], "One");
    assert_eq!(
        v["bindings"][0]["event"], "only_c1",
        "kept: it was in the document"
    );
    let (_, served, _) = get(&app, "/v1/campaigns/c1/config").await;
    assert_eq!(served["allowed_origins"][1], "https://one.example");
    let v = expect(
        &app,
        admin("PUT", "/admin/campaigns/c1", json!({"name":"x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).starts_with("events: \"only_c1\" is missing"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("PUT", "/admin/campaigns/c2", json!({"id":"c1"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(error_of(&v).starts_with("id: \"c1\" differs"), "{v}");

    // Stored: a collector started from this database has the changes.
    let stored = common::store(&dir).load_document().await.unwrap().unwrap();
    let c2 = &stored.organizations[0].campaigns[1];
    assert_eq!((c2.name.as_str(), c2.cookie_days), ("Two", None));
}

#[tokio::test]
async fn organizations_and_campaigns_are_created_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let v = expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"acme","name":"Acme"})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(v["campaigns"], json!([]));
    let v = expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"acme"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        error_of(&v).starts_with("id: organization \"acme\" exists"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("POST", "/admin/orgs", json!({"name":"x"})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error_of(&v), "body: missing field \"id\"");
    let v = expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"bad id"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).contains("organizations[3].id: \"bad id\" is not a valid ID"),
        "{v}"
    );

    let campaign = json!({"id":"a1","allowed_origins":[common::ORIGIN],"cookie_days":14});
    expect(
        &app,
        admin("POST", "/admin/orgs/acme/campaigns", campaign),
        StatusCode::CREATED,
    )
    .await;
    let (s, served, _) = get(&app, "/v1/campaigns/a1/config").await;
    assert_eq!(
        (s, served["cookie_days"].clone()),
        (StatusCode::OK, json!(14))
    );
    let v = expect(
        &app,
        admin("POST", "/admin/orgs/acme/campaigns", json!({"id":"c1"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(error_of(&v).contains("organization \"o\""), "{v}");
    expect(
        &app,
        admin("POST", "/admin/orgs/nope/campaigns", json!({"id":"zz"})),
        StatusCode::NOT_FOUND,
    )
    .await;
    let v = expect(
        &app,
        admin("GET", "/admin/orgs", Value::Null),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v[2], json!({"id":"acme","name":"Acme","campaigns":["a1"]}));

    // An organization's settings and events by a merge patch; its campaigns have their routes.
    let patch = json!({"name":"Acme Inc","events":[{"id":"sale","category":"conversion"}]});
    let v = expect(
        &app,
        admin("PATCH", "/admin/orgs/acme", patch),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["name"], "Acme Inc");
    assert_eq!(v["campaigns"][0]["id"], "a1", "its campaigns stay");
    assert!(served_ids(&app, "a1").await.contains(&"sale".to_owned()));
    let v = expect(
        &app,
        admin("PATCH", "/admin/orgs/acme", json!({"campaigns":[]})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).starts_with("campaigns: not patched here"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("PATCH", "/admin/orgs/acme", json!({"events":null})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).starts_with("events: \"sale\" is missing"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("PATCH", "/admin/orgs/acme", json!({"id":"other"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        error_of(&v).contains("organization IDs never change"),
        "{v}"
    );

    // A campaign with stored events is kept; one without is deleted.
    let batch = common::batch("a1", vec![common::event(&common::uid(1), "base", "lead")]);
    let (s, v, _) = send(&app, common::post(batch, Some(common::ORIGIN))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = expect(
        &app,
        admin("DELETE", "/admin/campaigns/a1", Value::Null),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        error_of(&v).contains("has stored events, so it is kept"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("DELETE", "/admin/orgs/acme", Value::Null),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        error_of(&v).contains("has campaigns (\"a1\"); delete them first"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("DELETE", "/admin/campaigns/c2", Value::Null),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v, json!({"id":"c2","deleted":true}));
    assert_eq!(
        get(&app, "/v1/campaigns/c2/config").await.0,
        StatusCode::NOT_FOUND
    );
    expect(
        &app,
        admin("DELETE", "/admin/campaigns/c2", Value::Null),
        StatusCode::NOT_FOUND,
    )
    .await;

    // An organization is deleted with its keys, so that one created later with its ID has none.
    expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"beta"})),
        StatusCode::CREATED,
    )
    .await;
    let v = expect(
        &app,
        admin("POST", "/admin/orgs/beta/keys", json!({"name":"r"})),
        StatusCode::CREATED,
    )
    .await;
    let key = v["key"].as_str().unwrap().to_owned();
    let with_key = |key: &str| {
        Request::get("/v1/campaigns")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, with_key(&key)).await.0, StatusCode::OK);
    let v = expect(
        &app,
        admin("DELETE", "/admin/orgs/beta", Value::Null),
        StatusCode::OK,
    )
    .await;
    assert_eq!(v, json!({"id":"beta","deleted":true,"keys_revoked":1}));
    assert_eq!(send(&app, with_key(&key)).await.0, StatusCode::UNAUTHORIZED);
    expect(
        &app,
        admin("GET", "/admin/orgs/beta", Value::Null),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"beta"})),
        StatusCode::CREATED,
    )
    .await;

    // IDs that stored data still names are not handed out again: a former campaign's events,
    // a former organization's live keys (left by a configuration file that dropped them).
    let store = common::store(&dir);
    let gone = collector::store::NewEvent {
        uid: "u-gone".into(),
        campaign: "gone".into(),
        event_id: "base".into(),
        category: "lead",
        txn: "t".into(),
        once: true,
        ts: 1,
        body: "{}".into(),
        postbacks: Vec::new(),
    };
    store.insert_batch(vec![gone]).await.unwrap();
    let (listed, _) = collector::auth::create_key(&store, "ghost", "left over")
        .await
        .unwrap();
    let v = expect(
        &app,
        admin("POST", "/admin/orgs/beta/campaigns", json!({"id":"gone"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        error_of(&v).contains("events of a former campaign \"gone\" are stored"),
        "{v}"
    );
    let v = expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"ghost"})),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(error_of(&v).contains(&listed.id), "{v}");
    expect(
        &app,
        admin("DELETE", &format!("/admin/keys/{}", listed.id), Value::Null),
        StatusCode::OK,
    )
    .await;
    expect(
        &app,
        admin("POST", "/admin/orgs", json!({"id":"ghost"})),
        StatusCode::CREATED,
    )
    .await;
}
