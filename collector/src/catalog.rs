//! The catalog: organizations, their event definitions and their campaigns, as loaded from the
//! configuration file. It answers what a campaign may fire and which origins may send for it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use clickscript_core::capture::CaptureRules;
use clickscript_core::config::{
    Amount, Config, EventDef, Scope, SystemEvents, DEFAULT_COOKIE_DAYS,
};
use clickscript_core::event::Category;
use clickscript_core::ids::is_valid_id;
use clickscript_core::offer::OfferRules;
use clickscript_core::trigger::Binding;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::postback::Postback;
use serde_json::Value;

use crate::json::{self, Member};
use crate::selector;

/// The fixed, organization-wide IDs of the system events: the same in every organization and
/// every campaign, so reports and postbacks can name them without a lookup.
pub const SYSTEM_EVENTS: [(&str, &str, Category); 4] = [
    ("base", "Base Event", Category::Lead),
    ("click_sold", "Base Click Sold Event", Category::Click),
    ("form_sold", "Base Form Sold Event", Category::Conversion),
    ("call_sold", "Base Call Sold Event", Category::Conversion),
];

/// The configuration file.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Every organization.
    pub organizations: Vec<OrgFile>,
}

/// One organization in the file.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgFile {
    /// Organization ID.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Custom events of the organization, usable by all its campaigns.
    #[serde(default)]
    pub events: Vec<CustomEvent>,
    /// The organization's campaigns.
    #[serde(default)]
    pub campaigns: Vec<CampaignFile>,
}

/// A custom event definition.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomEvent {
    /// Unique ID.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Category.
    pub category: Category,
    /// May fire more than once per lead.
    #[serde(default)]
    pub multi: bool,
    /// Revenue: fixed, or from a form field or the `PT.event` call's props.
    #[serde(default)]
    pub revenue: Option<Amount>,
    /// Payout to the traffic source, the same way.
    #[serde(default)]
    pub payout: Option<Amount>,
    /// Whether it is the campaign's conversion event (at most one per campaign).
    #[serde(default)]
    pub conversion: bool,
    /// Inactive events are neither served nor accepted.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// One campaign in the file. The admin API edits it whole (`PUT`) or by a merge patch (`PATCH`)
/// without knowing its fields, and describes it in `/openapi.json`: a field's type must derive
/// `utoipa::ToSchema` too (the core's behind its `openapi` feature).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// Campaign ID.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Origins whose pages may send events (`scheme://host[:port]`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Transaction cookie life in days.
    #[serde(default)]
    pub cookie_days: Option<u32>,
    /// Cookie domain (host-only when absent).
    #[serde(default)]
    pub cookie_domain: Option<String>,
    /// Whether Base Click Sold fires with the Base Event (default yes).
    #[serde(default)]
    pub click_with_base: Option<bool>,
    /// What a visitor's Global Privacy Control signal means: `record` (capture as usual, the
    /// signal recorded) or `base_only` (only the Base Event, without data).
    #[serde(default)]
    pub gpc: clickscript_core::config::Gpc,
    /// Custom events of this campaign only.
    #[serde(default)]
    pub events: Vec<CustomEvent>,
    /// Which event fires on which trigger.
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// What its forms' lead capture holds back or hashes besides the secrets.
    #[serde(default)]
    pub capture: CaptureRules,
    /// Its offer domains, whose links carry the lead.
    #[serde(default)]
    pub offers: OfferRules,
    /// Server-to-server calls made when one of its events is stored for the first time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postbacks: Vec<Postback>,
    /// The secret its postbacks are signed with (HMAC-SHA256); required with postbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_secret: Option<String>,
}

/// The shortest postback secret taken: 16 bytes, as random as the operator can make them.
pub const MIN_SECRET_LEN: usize = 16;

/// A campaign ready to serve and to validate events against.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The owning organization.
    pub org: String,
    /// Display name.
    pub name: String,
    /// Origins allowed to send events.
    pub allowed_origins: Vec<String>,
    /// The configuration served to pages (its `collector` is filled in per request).
    pub config: Config,
    /// The campaign's triggers, served beside the configuration.
    pub bindings: Vec<Binding>,
    /// Its forms' lead capture rules, served beside the configuration.
    pub capture: CaptureRules,
    /// Its offer link rules, served beside the configuration.
    pub offers: OfferRules,
    /// Its postbacks (never served to pages).
    pub postbacks: Vec<Postback>,
    /// Their signing secret (never served to pages).
    pub postback_secret: Option<String>,
}

impl Campaign {
    /// Whether a browser page of `origin` may send events for this campaign.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin || o == "*")
    }
}

/// Every campaign by ID.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Campaigns by ID.
    pub campaigns: BTreeMap<String, Campaign>,
    /// The document it was built from: what the admin API edits and SQLite keeps.
    pub file: CatalogFile,
}

/// Reads and checks a configuration file: every problem, each with its path (malformed JSON:
/// its line and column).
pub fn load(path: &Path) -> Result<Catalog, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let document =
        serde_json::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    read(document)
}

/// Reads and checks a configuration document: every problem, each with its path. Each
/// organization, event, campaign, binding and origin is read on its own, so that one that does
/// not read hides nothing else, and the catalog's checks run on what did read.
pub fn read(document: Value) -> Result<Catalog, Vec<String>> {
    let mut reader = Reader::default();
    let file = reader.file(document);
    let built = file.map(|f| Catalog::build_skipping(f, &reader.skipped));
    match (reader.errors, built) {
        (errors, Some(Ok(catalog))) if errors.is_empty() => Ok(catalog),
        (mut errors, Some(Err(more))) => {
            errors.extend(more);
            Err(errors)
        }
        (errors, _) => Err(errors),
    }
}

/// What reading a document element by element left out, so that the checks of the rest name the
/// document's paths and do not blame what referred to an element left out.
#[derive(Debug, Default)]
struct Skipped {
    /// By the path of a list some of whose elements were left out: the document's index of each
    /// element kept.
    kept: HashMap<String, Vec<usize>>,
    /// The IDs of the events left out.
    events: Vec<String>,
}

impl Skipped {
    /// The document's path of the `i`th element kept of `list`.
    fn at(&self, list: &str, i: usize) -> String {
        let index = self.kept.get(list).and_then(|k| k.get(i)).unwrap_or(&i);
        format!("{list}[{index}]")
    }
}

/// Reads a document into a [`CatalogFile`] one element at a time.
#[derive(Default)]
struct Reader {
    errors: Vec<String>,
    skipped: Skipped,
}

/// Takes the list `key` out of the object `value`, leaving an empty one in its place (so that the
/// rest reads without it).
fn take_list(value: &mut Value, key: &str) -> Option<Value> {
    let slot = value.as_object_mut()?.get_mut(key)?;
    Some(std::mem::replace(slot, Value::Array(Vec::new())))
}

impl Reader {
    fn file(&mut self, mut value: Value) -> Option<CatalogFile> {
        let organizations = take_list(&mut value, "organizations");
        let file = self.object::<CatalogFile>(value, "");
        let organizations = self.list(organizations, "organizations", Self::org);
        file.map(|mut f| {
            f.organizations = organizations;
            f
        })
    }

    fn org(&mut self, mut value: Value, at: &str) -> Option<OrgFile> {
        let events = take_list(&mut value, "events");
        let campaigns = take_list(&mut value, "campaigns");
        let org = self.object::<OrgFile>(value, at);
        let events = self.list(events, &format!("{at}.events"), Self::event);
        let campaigns = self.list(campaigns, &format!("{at}.campaigns"), Self::campaign);
        org.map(|mut o| {
            o.events = events;
            o.campaigns = campaigns;
            o
        })
    }

    fn event(&mut self, value: Value, at: &str) -> Option<CustomEvent> {
        let id = value.get("id").and_then(Value::as_str).map(str::to_owned);
        let event = self.object::<CustomEvent>(value, at);
        if let (None, Some(id)) = (&event, id) {
            self.skipped.events.push(id);
        }
        event
    }

    fn campaign(&mut self, mut value: Value, at: &str) -> Option<CampaignFile> {
        let origins = take_list(&mut value, "allowed_origins");
        let events = take_list(&mut value, "events");
        let bindings = take_list(&mut value, "bindings");
        let campaign = self.object::<CampaignFile>(value, at);
        let allowed_origins = self.list(origins, &format!("{at}.allowed_origins"), |r, v, at| {
            r.value::<String>(&v, at)
        });
        let events = self.list(events, &format!("{at}.events"), Self::event);
        let bindings = self.list(bindings, &format!("{at}.bindings"), Self::object::<Binding>);
        campaign.map(|mut c| {
            c.allowed_origins = allowed_origins;
            c.events = events;
            c.bindings = bindings;
            c
        })
    }

    /// Reads each element of `list` with `read`; keeps those that read, and notes which.
    fn list<T>(
        &mut self,
        list: Option<Value>,
        at: &str,
        mut read: impl FnMut(&mut Self, Value, &str) -> Option<T>,
    ) -> Vec<T> {
        let items = match list {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.errors
                    .push(format!("{at}: expected a list, got {}", json::kind(&other)));
                return Vec::new();
            }
        };
        let count = items.len();
        let mut kept = Vec::new();
        let mut read_items = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            if let Some(t) = read(self, item, &format!("{at}[{i}]")) {
                kept.push(i);
                read_items.push(t);
            }
        }
        if kept.len() < count {
            self.skipped.kept.insert(at.to_owned(), kept);
        }
        read_items
    }

    /// Reads `value`, an object, as a `T`, naming every member that does not read: each such
    /// member is noted and taken out, and the rest read again (a member the type needs and
    /// that did not read leaves the element out).
    fn object<T: DeserializeOwned>(&mut self, mut value: Value, at: &str) -> Option<T> {
        let named = |path: &str, reason: &str| match path {
            "" => format!("the document: {reason}"),
            path => format!("{path}: {reason}"),
        };
        if !value.is_object() {
            let reason = format!("expected an object, got {}", json::kind(&value));
            self.errors.push(named(at, &reason));
            return None;
        }
        let mut taken_out = Vec::new();
        loop {
            let problem = match json::read::<T>(&value, at) {
                Ok(t) => return Some(t),
                Err(p) => p,
            };
            let member = match &problem.member {
                Member::Missing(m) if taken_out.contains(m) => return None,
                Member::Unknown(m) | Member::Wrong(m) => Some(m.clone()),
                Member::Missing(_) | Member::None => None,
            };
            self.errors.push(named(&problem.path, &problem.reason));
            let member = member?;
            value.as_object_mut()?.remove(&member)?;
            taken_out.push(member);
        }
    }

    /// Reads `value` as a `T`.
    fn value<T: DeserializeOwned>(&mut self, value: &Value, at: &str) -> Option<T> {
        json::read(value, at)
            .map_err(|p| self.errors.push(p.to_string()))
            .ok()
    }
}

/// Checks a custom event; then, if its ID is usable, whether `known` already has it.
fn check_event(path: &str, e: &CustomEvent, known: &[EventDef], errors: &mut Vec<String>) {
    if !is_valid_id(&e.id) {
        errors.push(format!(
            "{path}.id: {:?} must be 1-64 characters of A-Z a-z 0-9 _ - . :",
            e.id
        ));
    } else if SYSTEM_EVENTS.iter().any(|(id, _, _)| *id == e.id) {
        errors.push(format!("{path}.id: {:?} is a system event ID", e.id));
    } else if known.iter().any(|d| d.id == e.id) {
        errors.push(format!("{path}.id: {:?} is defined twice", e.id));
    }
    for (field, amount) in [("revenue", &e.revenue), ("payout", &e.payout)] {
        if amount.as_ref().is_some_and(|a| !a.is_valid()) {
            errors.push(format!(
                "{path}.{field}: must be a non-negative number, {{\"field\": NAME}} or {{\"prop\": NAME}}"
            ));
        }
    }
}

fn def(e: &CustomEvent, scope: Scope) -> EventDef {
    EventDef {
        id: e.id.clone(),
        name: e.name.clone(),
        category: e.category,
        scope,
        multi: e.multi,
        revenue: e.revenue.clone(),
        payout: e.payout.clone(),
    }
}

impl Catalog {
    /// Builds the catalog, or returns every problem found.
    pub fn build(file: CatalogFile) -> Result<Catalog, Vec<String>> {
        Catalog::build_skipping(file, &Skipped::default())
    }

    /// [`Catalog::build`] of what was read of a document, with the document's paths.
    fn build_skipping(file: CatalogFile, skipped: &Skipped) -> Result<Catalog, Vec<String>> {
        let mut errors = Vec::new();
        let mut campaigns = BTreeMap::new();
        let mut org_ids = Vec::new();
        for (oi, org) in file.organizations.iter().enumerate() {
            let op = skipped.at("organizations", oi);
            if !is_valid_id(&org.id) {
                errors.push(format!("{op}.id: {:?} is not a valid ID", org.id));
            }
            if org_ids.contains(&&org.id) {
                errors.push(format!("{op}.id: {:?} is defined twice", org.id));
            }
            org_ids.push(&org.id);
            let mut org_conversions: Vec<String> = Vec::new();
            let mut campaign_ids: Vec<(String, String)> = Vec::new();
            let mut inactive: Vec<String> = Vec::new();
            let mut org_events: Vec<EventDef> = SYSTEM_EVENTS
                .iter()
                .map(|(id, name, category)| EventDef {
                    id: (*id).into(),
                    name: (*name).into(),
                    category: *category,
                    scope: Scope::System,
                    multi: false,
                    revenue: None,
                    payout: None,
                })
                .collect();
            let list = format!("{op}.events");
            for (ei, e) in org.events.iter().enumerate() {
                let path = skipped.at(&list, ei);
                check_event(&path, e, &org_events, &mut errors);
                org_events.push(def(e, Scope::Org));
                if e.conversion {
                    org_conversions.push(format!("{path} ({:?})", e.id));
                }
                if !e.active {
                    inactive.push(e.id.clone());
                }
            }
            let list = format!("{op}.campaigns");
            for (ci, c) in org.campaigns.iter().enumerate() {
                let cp = skipped.at(&list, ci);
                if !is_valid_id(&c.id) {
                    errors.push(format!("{cp}.id: {:?} is not a valid ID", c.id));
                }
                if campaigns.contains_key(&c.id) {
                    errors.push(format!("{cp}.id: {:?} is defined twice", c.id));
                }
                let list = format!("{cp}.allowed_origins");
                for (i, o) in c.allowed_origins.iter().enumerate() {
                    let ok = o == "*"
                        || ((o.starts_with("http://") || o.starts_with("https://"))
                            && !o.ends_with('/')
                            && o.splitn(4, '/').count() == 3);
                    if !ok {
                        errors.push(format!(
                            "{}: {o:?} must be scheme://host[:port] with no path, or *",
                            skipped.at(&list, i)
                        ));
                    }
                }
                let mut events = org_events.clone();
                let mut conversions = org_conversions.clone();
                let mut inactive = inactive.clone();
                let list = format!("{cp}.events");
                for (ei, e) in c.events.iter().enumerate() {
                    let path = skipped.at(&list, ei);
                    check_event(&path, e, &events, &mut errors);
                    // Event IDs are unique in the organization: a campaign-level event may not
                    // take the ID of another campaign's.
                    if let Some(other) = campaign_ids
                        .iter()
                        .find(|(id, cid)| *id == e.id && *cid != c.id)
                    {
                        errors.push(format!(
                            "{path}.id: {:?} is already an event of campaign {:?}",
                            e.id, other.1
                        ));
                    }
                    campaign_ids.push((e.id.clone(), c.id.clone()));
                    events.push(def(e, Scope::Campaign));
                    if e.conversion {
                        conversions.push(format!("{path} ({:?})", e.id));
                    }
                    if !e.active {
                        inactive.push(e.id.clone());
                    }
                }
                if conversions.len() > 1 {
                    errors.push(format!(
                        "{cp}: has {} conversion events ({}); a campaign has at most one",
                        conversions.len(),
                        conversions.join(", ")
                    ));
                }
                events.retain(|e| !inactive.contains(&e.id));
                // The checks of each part (the core's, and the selectors' parsing), by path.
                let mut parts = Vec::new();
                let list = format!("{cp}.bindings");
                for (bi, b) in c.bindings.iter().enumerate() {
                    let at = skipped.at(&list, bi);
                    // An event left out for not reading is not this binding's fault.
                    let unread = skipped.events.contains(&b.event);
                    if !unread && !events.iter().any(|e| e.id == b.event) {
                        let why = if inactive.contains(&b.event) {
                            "is inactive"
                        } else {
                            "is not an event of this campaign"
                        };
                        errors.push(format!("{at}.event: {:?} {why}", b.event));
                    }
                    let mut checks = Vec::new();
                    b.trigger.validate(&format!("{at}.trigger"), &mut checks);
                    if let Some(s) = selector::of_trigger(&b.trigger) {
                        if let Err(why) = selector::check(s) {
                            // One message a selector: the parser's, in place of the core's.
                            let path = format!("{at}.trigger.selector");
                            checks.retain(|e| e.path != path);
                            parts.push(format!("{path}: {s:?} is not a valid CSS selector: {why}"));
                        }
                    }
                    parts.extend(
                        checks
                            .into_iter()
                            .map(|e| format!("{}: {}", e.path, e.reason)),
                    );
                }
                let list = format!("{cp}.postbacks");
                for (pi, pb) in c.postbacks.iter().enumerate() {
                    let at = format!("{list}[{pi}]");
                    if !skipped.events.contains(&pb.event)
                        && !events.iter().any(|e| e.id == pb.event)
                    {
                        let why = if inactive.contains(&pb.event) {
                            "is inactive"
                        } else {
                            "is not an event of this campaign"
                        };
                        errors.push(format!("{at}.event: {:?} {why}", pb.event));
                    }
                    for (field, why) in crate::postback::check(pb) {
                        errors.push(format!("{at}.{field}: {why}"));
                    }
                }
                match &c.postback_secret {
                    Some(secret) if secret.len() < MIN_SECRET_LEN => errors.push(format!(
                        "{cp}.postback_secret: at least {MIN_SECRET_LEN} characters (e.g. openssl rand -hex 32)"
                    )),
                    None if !c.postbacks.is_empty() => errors.push(format!(
                        "{cp}.postback_secret: required with postbacks, to sign them (e.g. openssl rand -hex 32)"
                    )),
                    _ => {}
                }
                let config = Config {
                    campaign: c.id.clone(),
                    collector: String::new(),
                    cookie_days: c.cookie_days.unwrap_or(DEFAULT_COOKIE_DAYS),
                    cookie_domain: c.cookie_domain.clone(),
                    click_with_base: c.click_with_base.unwrap_or(true),
                    gpc: c.gpc,
                    allowed_origins: c.allowed_origins.clone(),
                    system: SystemEvents {
                        base: "base".into(),
                        click_sold: "click_sold".into(),
                        form_sold: "form_sold".into(),
                        call_sold: "call_sold".into(),
                    },
                    events,
                };
                let mut checks = Vec::new();
                c.capture.validate(&format!("{cp}.capture"), &mut checks);
                c.offers.validate(&format!("{cp}.offers"), &mut checks);
                parts.extend(
                    checks
                        .into_iter()
                        .map(|e| format!("{}: {}", e.path, e.reason)),
                );
                errors.extend(parts);
                // The core's own checks (cookie days, ...) with the campaign's path in front.
                let mut probe = config.clone();
                probe.collector = "http://collector".into();
                for e in probe.validate() {
                    if !e.path.starts_with("events[") && e.path != "campaign" {
                        errors.push(format!("{cp}.{}: {}", e.path, e.reason));
                    }
                }
                campaigns.insert(
                    c.id.clone(),
                    Campaign {
                        org: org.id.clone(),
                        name: c.name.clone(),
                        allowed_origins: c.allowed_origins.clone(),
                        config,
                        bindings: c.bindings.clone(),
                        capture: c.capture.clone(),
                        offers: c.offers.clone(),
                        postbacks: c.postbacks.clone(),
                        postback_secret: c.postback_secret.clone(),
                    },
                );
            }
        }
        if errors.is_empty() {
            Ok(Catalog { campaigns, file })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Catalog, Vec<String>> {
        Catalog::build(serde_json::from_str(json).unwrap())
    }

    /// What `collector check` does: reads the document element by element, then builds.
    fn read_text(json: &str) -> Result<Catalog, Vec<String>> {
        read(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn demo_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.json");
        let catalog = load(&path).unwrap();
        let demo = &catalog.campaigns["demo"];
        assert!(demo.config.event("base").is_some());
        assert!(demo.config.event("purchase").is_some());
        assert!(demo.config.event("call_clicked").is_some());
    }

    #[test]
    fn campaign_events_stay_in_their_campaign() {
        let c = parse(
            r#"{"organizations":[{"id":"o","events":[{"id":"shared","category":"engagement"}],
            "campaigns":[{"id":"a","events":[{"id":"only_a","category":"conversion"}]},{"id":"b"}]}]}"#,
        )
        .unwrap();
        assert!(c.campaigns["a"].config.event("only_a").is_some());
        assert!(c.campaigns["b"].config.event("only_a").is_none());
        assert!(c.campaigns["b"].config.event("shared").is_some());
        assert_eq!(
            c.campaigns["b"].config.event("base").unwrap().scope,
            Scope::System
        );
    }

    #[test]
    fn bindings_conversions_and_inactive_events() {
        let ok = parse(
            r##"{"organizations":[{"id":"o","events":[{"id":"old","category":"click","active":false},
              {"id":"buy","category":"conversion","conversion":true,"payout":3}],
            "campaigns":[{"id":"a","bindings":[{"event":"form_sold","trigger":{"on":"submit","selector":"#quote",
              "conditions":[{"field":"zip","test":"present"}]}},{"event":"buy","trigger":{"on":"api"}}]}]}]}"##,
        )
        .unwrap();
        let a = &ok.campaigns["a"];
        assert_eq!(a.bindings.len(), 2);
        assert!(
            a.config.event("old").is_none(),
            "inactive events are not served"
        );
        let errors = parse(
            r##"{"organizations":[{"id":"o","events":[{"id":"old","category":"click","active":false},
              {"id":"buy","category":"conversion","conversion":true,"payout":-1}],
            "campaigns":[{"id":"a","events":[{"id":"sale","category":"conversion","conversion":true}],
              "bindings":[{"event":"old","trigger":{"on":"click","selector":"a"}},{"event":"nope","trigger":{"on":"api"}},
              {"event":"base","trigger":{"on":"scroll","percent":150}}]}]}]}"##,
        )
        .unwrap_err();
        let expected = [
            "organizations[0].events[1].payout: must be a non-negative number, {\"field\": NAME} or {\"prop\": NAME}",
            "organizations[0].campaigns[0]: has 2 conversion events (organizations[0].events[1] (\"buy\"), organizations[0].campaigns[0].events[0] (\"sale\")); a campaign has at most one",
            "organizations[0].campaigns[0].bindings[0].event: \"old\" is inactive",
            "organizations[0].campaigns[0].bindings[1].event: \"nope\" is not an event of this campaign",
            "organizations[0].campaigns[0].bindings[2].trigger.percent: must be between 1 and 100",
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn selectors_are_parsed_and_each_bad_one_named_once() {
        let errors = parse(
            r##"{"organizations":[{"id":"o","campaigns":[{"id":"a","bindings":[
              {"event":"base","trigger":{"on":"click","selector":"form:has(input:checked) > button:not(:disabled)"}},
              {"event":"base","trigger":{"on":"seen","selector":"a[x"}},
              {"event":"base","trigger":{"on":"submit","selector":"#quote:hovr","conditions":[{"field":"","test":"present"}]}},
              {"event":"base","trigger":{"on":"form_abandoned","selector":"form::after"}},
              {"event":"base","trigger":{"on":"field_completed","selector":"input[name=1]"}}]}]}]}"##,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "organizations[0].campaigns[0].bindings[1].trigger.selector: \"a[x\" is not a valid CSS selector: a bracket, parenthesis, quote or escape is left open at its end",
                "organizations[0].campaigns[0].bindings[2].trigger.selector: \"#quote:hovr\" is not a valid CSS selector: unknown pseudo-class \":hovr\"",
                "organizations[0].campaigns[0].bindings[2].trigger.conditions[0].field: must name a form field",
                "organizations[0].campaigns[0].bindings[3].trigger.selector: \"form::after\" is not a valid CSS selector: \"::after\" is a pseudo-element, which no element matches",
                "organizations[0].campaigns[0].bindings[4].trigger.selector: \"input[name=1]\" is not a valid CSS selector: an attribute's value must be a name or a quoted string",
            ]
        );
    }

    #[test]
    fn capture_rules_are_read_checked_and_kept() {
        let ok = parse(
            r#"{"organizations":[{"id":"o","campaigns":[{"id":"a",
              "capture":{"exclude_fields":["mothers_maiden"],"hash_contacts":true}}]}]}"#,
        )
        .unwrap();
        let rules = &ok.campaigns["a"].capture;
        assert_eq!(rules.exclude_fields, ["mothers_maiden"]);
        assert!(rules.hash_contacts);
        let errors = parse(
            r#"{"organizations":[{"id":"o","campaigns":[{"id":"a","capture":{"exclude_fields":["ok",""]}}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            ["organizations[0].campaigns[0].capture.exclude_fields[1]: must be a field name of 1 to 64 bytes"]
        );
    }

    #[test]
    fn offer_rules_are_read_checked_and_kept() {
        let ok = parse(
            r#"{"organizations":[{"id":"o","campaigns":[{"id":"a",
              "offers":{"domains":["offers.example"],"subs":["sub1"]}}]}]}"#,
        )
        .unwrap();
        let offers = &ok.campaigns["a"].offers;
        assert_eq!(offers.domains, ["offers.example"]);
        assert_eq!(offers.param, "transaction_id");
        let errors = parse(
            r#"{"organizations":[{"id":"o","campaigns":[{"id":"a","offers":{"domains":["https://x.example/"]}}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            ["organizations[0].campaigns[0].offers.domains[0]: must be a domain name, like offers.example.com"]
        );
    }

    #[test]
    fn event_ids_are_unique_in_the_organization() {
        let errors = parse(
            r#"{"organizations":[{"id":"o","campaigns":[{"id":"a","events":[{"id":"sale","category":"conversion"}]},
            {"id":"b","events":[{"id":"sale","category":"click"}]}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(errors, ["organizations[0].campaigns[1].events[0].id: \"sale\" is already an event of campaign \"a\""]);
    }

    #[test]
    fn every_problem_of_a_document_is_named_in_one_reading() {
        let errors = read_text(
            r##"{"organizations":[{"id":"o","colour":"red","shade":1,
              "events":[{"id":"ok","category":"lead"},{"id":"signup","category":"leed"},
                {"id":"x y","category":"click"},"nope"],
              "campaigns":[{"id":"c","cookie_days":"many","allowed_origins":["ftp://x",5,"https://ok.example"],
                "bindings":[{"event":"signup","trigger":{"on":"api"}},{"event":"ok","trigger":{"on":"hover"}},
                  {"event":"missing","trigger":{"on":"click","selector":"a","colour":2}},
                  {"event":"ghost","trigger":{"on":"api"}}]}]}]}"##,
        )
        .unwrap_err();
        let expected = [
            "organizations[0].colour: unknown field, expected one of \"id\", \"name\", \"events\", \"campaigns\"",
            "organizations[0].shade: unknown field, expected one of \"id\", \"name\", \"events\", \"campaigns\"",
            "organizations[0].events[1].category: unknown variant \"leed\", expected one of \"lead\", \"engagement\", \"click\", \"conversion\"",
            "organizations[0].events[3]: expected an object, got a string",
            "organizations[0].campaigns[0].cookie_days: expected a whole number of 0 or more, got the string \"many\"",
            "organizations[0].campaigns[0].allowed_origins[1]: expected a string, got the number 5",
            "organizations[0].campaigns[0].bindings[1].trigger.on: unknown variant \"hover\", expected one of",
            "organizations[0].campaigns[0].bindings[2].trigger.colour: unknown field",
            // The checks of what did read, with the document's indices.
            "organizations[0].events[2].id: \"x y\" must be",
            "organizations[0].campaigns[0].allowed_origins[0]: \"ftp://x\" must be scheme://host[:port]",
            "organizations[0].campaigns[0].bindings[3].event: \"ghost\" is not an event of this campaign",
        ];
        for (got, want) in errors.iter().zip(expected) {
            assert!(
                got.starts_with(want),
                "{got:?} is not {want:?} in {errors:#?}"
            );
        }
        // The binding to "signup", which did not read, is not blamed for it.
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        assert_eq!(
            read_text("[1]").unwrap_err(),
            ["the document: expected an object, got a list"]
        );
        assert_eq!(
            read_text(r#"{"organisations":[]}"#).unwrap_err(),
            [
                "organisations: unknown field, expected \"organizations\"",
                "the document: missing field \"organizations\""
            ]
        );
        assert!(read_text(r#"{"organizations":[{"id":"o"}]}"#).is_ok());
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let errors = parse(
            r#"{"organizations":[{"id":"o","events":[{"id":"base","category":"lead"},{"id":"x y","category":"lead"}],
            "campaigns":[{"id":"a","cookie_days":0,"allowed_origins":["http://ok.example","ftp://x","http://x/path"],
            "events":[{"id":"dup","category":"lead"},{"id":"dup","category":"lead","revenue":-2}]},{"id":"a"}]}]}"#,
        )
        .unwrap_err();
        let expected = [
            "organizations[0].events[0].id: \"base\" is a system event ID",
            "organizations[0].events[1].id: \"x y\" must be",
            "organizations[0].campaigns[0].allowed_origins[1]",
            "organizations[0].campaigns[0].allowed_origins[2]",
            "organizations[0].campaigns[0].events[1].id: \"dup\" is defined twice",
            "organizations[0].campaigns[0].events[1].revenue",
            "organizations[0].campaigns[0].cookie_days",
            "organizations[0].campaigns[1].id: \"a\" is defined twice",
        ];
        for e in expected {
            assert!(
                errors.iter().any(|got| got.starts_with(e)),
                "missing {e} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    }
}
