//! The catalog: organizations, their event definitions and their campaigns, as loaded from the
//! configuration file. It answers what a campaign may fire and which origins may send for it.

use std::collections::BTreeMap;
use std::path::Path;

use clickscript_core::capture::CaptureRules;
use clickscript_core::config::{
    Amount, Config, EventDef, Scope, SystemEvents, DEFAULT_COOKIE_DAYS,
};
use clickscript_core::event::Category;
use clickscript_core::ids::is_valid_id;
use clickscript_core::offer::OfferRules;
use clickscript_core::trigger::Binding;
use serde::{Deserialize, Serialize};

/// The fixed, organization-wide IDs of the system events: the same in every organization and
/// every campaign, so reports and postbacks can name them without a lookup.
pub const SYSTEM_EVENTS: [(&str, &str, Category); 4] = [
    ("base", "Base Event", Category::Lead),
    ("click_sold", "Base Click Sold Event", Category::Click),
    ("form_sold", "Base Form Sold Event", Category::Conversion),
    ("call_sold", "Base Call Sold Event", Category::Conversion),
];

/// The configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Every organization.
    pub organizations: Vec<OrgFile>,
}

/// One organization in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// One campaign in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

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

/// Reads and checks a configuration file: every problem, each with its path.
pub fn load(path: &Path) -> Result<Catalog, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let file: CatalogFile =
        serde_json::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    Catalog::build(file)
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
        let mut errors = Vec::new();
        let mut campaigns = BTreeMap::new();
        let mut org_ids = Vec::new();
        for (oi, org) in file.organizations.iter().enumerate() {
            let op = format!("organizations[{oi}]");
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
            for (ei, e) in org.events.iter().enumerate() {
                let path = format!("{op}.events[{ei}]");
                check_event(&path, e, &org_events, &mut errors);
                org_events.push(def(e, Scope::Org));
                if e.conversion {
                    org_conversions.push(format!("{path} ({:?})", e.id));
                }
                if !e.active {
                    inactive.push(e.id.clone());
                }
            }
            for (ci, c) in org.campaigns.iter().enumerate() {
                let cp = format!("{op}.campaigns[{ci}]");
                if !is_valid_id(&c.id) {
                    errors.push(format!("{cp}.id: {:?} is not a valid ID", c.id));
                }
                if campaigns.contains_key(&c.id) {
                    errors.push(format!("{cp}.id: {:?} is defined twice", c.id));
                }
                for (i, o) in c.allowed_origins.iter().enumerate() {
                    let ok = o == "*"
                        || ((o.starts_with("http://") || o.starts_with("https://"))
                            && !o.ends_with('/')
                            && o.splitn(4, '/').count() == 3);
                    if !ok {
                        errors.push(format!(
                            "{cp}.allowed_origins[{i}]: {o:?} must be scheme://host[:port] with no path, or *"
                        ));
                    }
                }
                let mut events = org_events.clone();
                let mut conversions = org_conversions.clone();
                let mut inactive = inactive.clone();
                for (ei, e) in c.events.iter().enumerate() {
                    let path = format!("{cp}.events[{ei}]");
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
                // The core's checks of each part, by path.
                let mut checks = Vec::new();
                for (bi, b) in c.bindings.iter().enumerate() {
                    let at = format!("{cp}.bindings[{bi}]");
                    if !events.iter().any(|e| e.id == b.event) {
                        let why = if inactive.contains(&b.event) {
                            "is inactive"
                        } else {
                            "is not an event of this campaign"
                        };
                        errors.push(format!("{at}.event: {:?} {why}", b.event));
                    }
                    b.trigger.validate(&format!("{at}.trigger"), &mut checks);
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
                c.capture.validate(&format!("{cp}.capture"), &mut checks);
                c.offers.validate(&format!("{cp}.offers"), &mut checks);
                errors.extend(
                    checks
                        .into_iter()
                        .map(|e| format!("{}: {}", e.path, e.reason)),
                );
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
