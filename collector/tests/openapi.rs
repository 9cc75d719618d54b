//! `GET /openapi.json`: a valid OpenAPI description of every admin route, that the router
//! answers at each of them (and asks for the token first), that the README's admin route table
//! lists the same routes, and that the README's admin examples (curl commands) go to described
//! routes with bodies of the described types, and work against the demo's catalog.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use clickscript_core::trigger::Binding;
use collector::admin::{IngestSwitch, NewKey};
use collector::catalog::{CampaignFile, CatalogFile, CustomEvent, OrgFile};
use common::{app, app_of, get, send};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

const README: &str = include_str!("../../README.md");

async fn description() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (s, doc, h) = get(&app(&dir), "/openapi.json").await;
    assert_eq!(s, StatusCode::OK, "public: it holds no data");
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    doc
}

/// Every (METHOD, path) of the description under `/admin`.
fn admin_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if path.starts_with("/admin") {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_description_is_valid_openapi_of_every_admin_route() {
    let doc = description().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    // It reads as OpenAPI (utoipa's own model of it, which follows the specification).
    let _: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(schemas.contains_key(name), "{r} names no schema");
    }
    for (method, path) in admin_operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        // Each path parameter is described.
        let named: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        let wanted: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(named, wanted, "{method} {path}");
        assert_eq!(
            op["security"],
            json!([{"admin_token": []}]),
            "{method} {path}"
        );
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
        if ["POST", "PUT", "PATCH"].contains(&method.as_str()) {
            assert!(
                op["requestBody"]["content"].is_object(),
                "{method} {path} has no body"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn every_described_route_is_routed_and_asks_for_the_token_first() {
    let doc = description().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    for (method, path) in admin_operations(&doc) {
        let uri = path
            .replace("{org}", "o")
            .replace("{campaign}", "c1")
            .replace("{id}", "x");
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .body(Body::from("{not json"))
            .unwrap();
        let (s, v, _) = send(&app, req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {uri}: {v}");
    }
}

#[tokio::test]
async fn the_readme_lists_the_described_admin_routes() {
    let doc = description().await;
    let table = README
        .split("| admin route (admin token) | |")
        .nth(1)
        .expect("the README's admin route table");
    let mut listed = BTreeSet::new();
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cell = row.split('|').nth(1).unwrap();
        let spans: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
        let path = spans.iter().find(|s| s.starts_with('/')).unwrap();
        for method in spans.iter().filter(|s| !s.starts_with('/')) {
            listed.insert((method.to_string(), path.to_string()));
        }
    }
    assert_eq!(listed, admin_operations(&doc));
}

#[tokio::test]
async fn the_documents_members_are_all_in_their_schemas() {
    let doc = description().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let admin = |path: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, "Bearer secret")
            .body(Body::empty())
            .unwrap()
    };
    let (_, org, _) = send(&app, admin("/admin/orgs/o")).await;
    let documents = [
        ("CatalogFile", send(&app, admin("/admin/catalog")).await.1),
        ("CampaignFile", org["campaigns"][0].clone()),
        ("CustomEvent", org["events"][0].clone()),
        ("OrgFile", org),
    ];
    for (schema, document) in documents {
        let properties = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap();
        for member in document.as_object().unwrap().keys() {
            assert!(
                properties.contains_key(member),
                "{schema} does not describe {member:?}"
            );
        }
    }
    let patch = &doc["components"]["schemas"]["CampaignPatch"];
    assert!(patch.get("required").is_none(), "{patch}");
    assert!(patch["properties"]["cookie_days"]["anyOf"].is_array());
    assert!(doc["components"]["schemas"]["OrgPatch"]["properties"]
        .get("campaigns")
        .is_none());
}

/// A curl command of the README: method, URL, body.
#[derive(Debug)]
struct Example {
    method: String,
    url: String,
    body: Option<String>,
}

/// The curl commands of `text` (a command continued with `\` read whole), as a shell splits
/// them into words (quotes as sh reads them: nothing escaped inside single quotes).
fn curl_commands(text: &str) -> Vec<Example> {
    let mut commands = Vec::new();
    let mut command = String::new();
    let mut quoted = false;
    for line in text.lines() {
        if command.is_empty() && !line.trim_start().starts_with("curl ") {
            continue;
        }
        command.push_str(line);
        command.push('\n');
        quoted ^= line.matches('\'').count() % 2 == 1;
        if quoted || line.ends_with('\\') {
            continue;
        }
        commands.push(std::mem::take(&mut command));
    }
    commands
        .iter()
        .map(|c| {
            let words = words(c);
            let after = |flag: &str| {
                words
                    .iter()
                    .position(|w| w == flag)
                    .map(|i| words[i + 1].clone())
            };
            let body = after("-d");
            Example {
                method: after("-X").unwrap_or_else(|| {
                    match body.is_some() {
                        true => "POST",
                        false => "GET",
                    }
                    .into()
                }),
                url: words
                    .iter()
                    .find(|w| w.starts_with("http"))
                    .unwrap()
                    .clone(),
                body,
            }
        })
        .collect()
}

fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                // A line continued.
                chars.next();
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The described path that `path` is an instance of.
fn described<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .find(|template| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .map(String::as_str)
}

/// Reads `body` as a `T`, as the handlers do; the problem by its path.
fn reads_as<T: DeserializeOwned>(body: &Value) -> Result<(), String> {
    collector::json::read::<T>(body, "")
        .map(|_| ())
        .map_err(|p| p.to_string())
}

/// A merge patch of `document` read back as a `T`, as the PATCH handlers do.
fn patches<T: DeserializeOwned>(document: &Value, patch: &Value) -> Result<(), String> {
    if !patch.is_object() {
        return Err("a merge patch is an object".into());
    }
    let mut document = document.clone();
    collector::json::merge_patch(&mut document, patch);
    reads_as::<T>(&document)
}

/// The demo's catalog document.
fn demo() -> CatalogFile {
    let text = include_str!("../demo.json");
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn the_readmes_admin_examples_are_described_and_work() {
    let doc = description().await;
    let demo = demo();
    let campaign = serde_json::to_value(&demo.organizations[0].campaigns[0]).unwrap();
    let mut org = serde_json::to_value(&demo.organizations[0]).unwrap();
    org.as_object_mut().unwrap().remove("campaigns");
    let examples: Vec<Example> = curl_commands(README)
        .into_iter()
        .filter(|e| e.url.contains("/admin/") || e.url.ends_with("/openapi.json"))
        .collect();
    assert!(examples.len() >= 15, "{examples:#?}");
    let mut methods = BTreeSet::new();

    let dir = tempfile::tempdir().unwrap();
    let app = app_of(&dir, demo.clone());
    for example in &examples {
        let path = example.url.split_once("://").unwrap().1;
        let path = &path[path.find('/').unwrap()..];
        let what = format!("{} {path}", example.method);
        if path == "/openapi.json" {
            assert!(get(&app, path).await.0.is_success());
            continue;
        }
        let template = described(&doc, path).unwrap_or_else(|| panic!("{what} is not described"));
        let op = &doc["paths"][template][example.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{what}: {template} takes no {}",
            example.method
        );
        methods.insert((example.method.clone(), template.to_owned()));
        if let Some(body) = &example.body {
            let body: Value =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
            let content = op["requestBody"]["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{what}: described without a body"));
            let schema = &content.values().next().unwrap()["schema"];
            let name = match (schema["$ref"].as_str(), schema["items"]["$ref"].as_str()) {
                (Some(r), _) => r.rsplit('/').next().unwrap().to_owned(),
                (None, Some(r)) => format!("[{}]", r.rsplit('/').next().unwrap()),
                _ => panic!("{what}: {schema}"),
            };
            let read = match name.as_str() {
                "CampaignFile" => reads_as::<CampaignFile>(&body),
                "OrgFile" => reads_as::<OrgFile>(&body),
                "CustomEvent" => reads_as::<CustomEvent>(&body),
                "[Binding]" => reads_as::<Vec<Binding>>(&body),
                "IngestSwitch" => reads_as::<IngestSwitch>(&body),
                "NewKey" => reads_as::<NewKey>(&body),
                "CampaignPatch" => patches::<CampaignFile>(&campaign, &body),
                "OrgPatch" => patches::<OrgFile>(&org, &body),
                other => panic!("{what}: no check for a body of {other}: add one here"),
            };
            if let Err(problem) = read {
                panic!("{what}: the body does not read as {name}: {problem}");
            }
        }
        // Each works, in the README's order, against the demo's catalog (a placeholder ID, …,
        // names nothing).
        if path.contains('…') {
            continue;
        }
        let mut req = Request::builder()
            .method(example.method.as_str())
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer secret");
        if example.method == "PATCH" {
            req = req.header(header::CONTENT_TYPE, "application/merge-patch+json");
        }
        let body = example.body.clone().unwrap_or_default();
        let (s, v, _) = send(&app, req.body(Body::from(body)).unwrap()).await;
        assert!(s.is_success(), "{what}: {s} {v}");
    }
    // The examples show every kind of change.
    for kind in ["PATCH", "PUT", "POST", "DELETE"] {
        assert!(
            methods.iter().any(|(m, _)| m == kind),
            "no {kind} example: {methods:?}"
        );
    }
}
