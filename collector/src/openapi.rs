//! The collector's OpenAPI description, served at `GET /openapi.json`: generated from the
//! handlers' `#[utoipa::path]` attributes and the body types' `ToSchema` (the core's behind its
//! `openapi` feature), so it describes what the handlers read. It reveals no data, and is public.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

/// What the generated description starts from.
#[derive(OpenApi)]
#[openapi(info(
    title = "Clickscript collector",
    description = "The collector's admin API: the catalog of organizations, campaigns and events; \
        API keys; the maintenance switch. Every error answer is JSON `{\"error\": \"…\"}` naming \
        the field by its path."
))]
struct Description;

/// The description the routes' own descriptions are merged into.
pub fn base() -> utoipa::openapi::OpenApi {
    Description::openapi()
}

/// The description as served: `generated` with its credentials and the merge-patch bodies
/// (`CampaignPatch`, `OrgPatch`), which are derived from the documents' schemas, so that a
/// setting added to a document is patchable in the description too.
pub fn document(generated: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(generated).unwrap_or(Value::Null);
    // The collector's crate names no license: no empty one either.
    if let Some(Value::Object(info)) = doc.get_mut("info") {
        info.remove("license");
    }
    let Some(components) = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return doc;
    };
    components.insert(
        "securitySchemes".into(),
        json!({
            "admin_token": {"type": "http", "scheme": "bearer",
                "description": "The admin token the collector was started with (--admin-token)."},
        }),
    );
    if let Some(Value::Object(schemas)) = components.get_mut("schemas") {
        patch_schema(
            schemas,
            "CampaignFile",
            "CampaignPatch",
            &[],
            "A JSON merge patch (RFC 7396) of a campaign's document: any of its members; `null` removes one (its default applies); `capture` and `offers` merge member by member; a list replaces the whole list.",
        );
        patch_schema(
            schemas,
            "OrgFile",
            "OrgPatch",
            &["campaigns"],
            "A JSON merge patch (RFC 7396) of an organization's document, without its campaigns (they have routes of their own): `null` removes a member (its default applies); a list replaces the whole list.",
        );
    }
    doc
}

/// Adds `name`, the schema of a merge patch of a `from`: its members, each optional and
/// nullable, less `leave_out`.
fn patch_schema(
    schemas: &mut Map<String, Value>,
    from: &str,
    name: &str,
    leave_out: &[&str],
    description: &str,
) {
    let Some(Value::Object(mut schema)) = schemas.get(from).cloned() else {
        return;
    };
    schema.remove("required");
    if let Some(Value::Object(members)) = schema.get_mut("properties") {
        for member in leave_out {
            members.remove(*member);
        }
        for member in members.values_mut() {
            *member = json!({"anyOf": [member.take(), {"type": "null"}]});
        }
    }
    schema.insert("description".into(), Value::from(description));
    schemas.insert(name.into(), Value::Object(schema));
}
