//! The campaign configuration the collector serves and the clickscript runs: which events exist,
//! which are the system events, and how the lead's cookie lives.

use super::decimal;
use super::text;

use serde::{Deserialize, Serialize};

use super::event::Category;
use super::ids::is_valid_id;

/// Cookie life when the configuration does not say.
pub const DEFAULT_COOKIE_DAYS: u32 = 30;
/// Longest cookie life browsers keep (Chromium caps cookies at 400 days).
pub const MAX_COOKIE_DAYS: u32 = 400;

fn default_cookie_days() -> u32 {
    DEFAULT_COOKIE_DAYS
}

fn yes() -> bool {
    true
}

/// The organization-wide IDs of the four system events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemEvents {
    /// Base Event: a lead was created.
    pub base: String,
    /// Base Click Sold Event.
    pub click_sold: String,
    /// Base Form Sold Event.
    pub form_sold: String,
    /// Base Call Sold Event.
    pub call_sold: String,
}

/// Who defined an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A system event, present in every organization.
    System,
    /// A custom event of the organization, usable by all its campaigns.
    #[default]
    Org,
    /// A custom event of one campaign.
    Campaign,
}

impl Scope {
    /// The scope with wire name `s`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "system" => Some(Scope::System),
            "org" => Some(Scope::Org),
            "campaign" => Some(Scope::Campaign),
            _ => None,
        }
    }
}

/// Where an event's revenue or payout comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Amount {
    /// A fixed amount: `25`.
    Fixed(f64),
    /// A form field's value, for events a form submit fires: `{"field": "amount"}`.
    Field {
        /// The field's name.
        field: String,
    },
    /// A property of the `PT.event` call's props: `{"prop": "value"}`.
    Prop {
        /// The property's name.
        prop: String,
    },
}

impl Amount {
    /// The amount for one firing: `prop` and `field` look a name up among the call's props and
    /// the form's fields (`None` where there are none, or no number under that name).
    pub fn resolve(
        &self,
        prop: impl Fn(&str) -> Option<f64>,
        field: impl Fn(&str) -> Option<f64>,
    ) -> Option<f64> {
        let amount = match self {
            Amount::Fixed(v) => Some(*v),
            Amount::Field { field: name } => field(name),
            Amount::Prop { prop: name } => prop(name),
        };
        amount.filter(|v| v.is_finite() && *v >= 0.0)
    }

    /// The fixed amount, if it is one.
    pub fn fixed(&self) -> Option<f64> {
        match self {
            Amount::Fixed(v) => Some(*v),
            _ => None,
        }
    }

    /// Whether it can ever give an amount: a non-negative fixed one, or a non-empty name.
    pub fn is_valid(&self) -> bool {
        match self {
            Amount::Fixed(v) => v.is_finite() && *v >= 0.0,
            Amount::Field { field: n } | Amount::Prop { prop: n } => !n.trim().is_empty(),
        }
    }
}

/// One event the campaign may fire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    /// Stable ID, the same in every campaign of the organization.
    pub id: String,
    /// Name shown in reports.
    #[serde(default)]
    pub name: String,
    /// Category of the step it records.
    pub category: Category,
    /// Who defined it.
    #[serde(default)]
    pub scope: Scope,
    /// Whether it may fire more than once per lead (default: once).
    #[serde(default)]
    pub multi: bool,
    /// Revenue, used when the call names none: fixed, or from a form field or the call's props.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Amount>,
    /// Payout to the traffic source, the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<Amount>,
}

/// A campaign's configuration as served to the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Campaign ID.
    pub campaign: String,
    /// Base URL of the collector, e.g. `https://t.example.com`.
    pub collector: String,
    /// Days the transaction cookie lives.
    #[serde(default = "default_cookie_days")]
    pub cookie_days: u32,
    /// Cookie domain: a domain, or `auto` for the page's registrable domain (so that the lead
    /// is shared by `www.` and `shop.` of one site); host-only when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<String>,
    /// Whether Base Click Sold fires together with the Base Event (default: yes).
    #[serde(default = "yes")]
    pub click_with_base: bool,
    /// What a visitor's Global Privacy Control signal means for this campaign.
    #[serde(default)]
    pub gpc: Gpc,
    /// The origins the campaign's pages share a lead with across frames (its allowed origins,
    /// served so that a frame and its parent can check each other).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// The system events' IDs.
    pub system: SystemEvents,
    /// Every event the campaign may fire, system ones included.
    #[serde(default)]
    pub events: Vec<EventDef>,
}

/// What a campaign does for a visitor whose browser sends Global Privacy Control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gpc {
    /// Capture as usual; every event records the signal.
    #[default]
    Record,
    /// Send only the Base Event, without free data or form fields (and no consent evidence).
    BaseOnly,
}

impl Gpc {
    /// Whether an event may go for a visitor with GPC on: under `base_only`, only the Base Event
    /// (`base`), and only without data.
    pub fn allows(self, gpc: bool, event_id: &str, base: &str, has_data: bool) -> bool {
        !(gpc && self == Gpc::BaseOnly && (event_id != base || has_data))
    }
}

/// One problem in a configuration, with the path of the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where, e.g. `events[2].id`.
    pub path: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Config {
    /// The definition of event `id`, if the campaign has it.
    pub fn event(&self, id: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.id == id)
    }

    /// Every problem in the configuration; empty when it is valid.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut fail = |path: String, reason| errors.push(ConfigError { path, reason });
        if !is_valid_id(&self.campaign) {
            fail(
                "campaign".into(),
                "must be 1-64 characters of A-Z a-z 0-9 _ - . :",
            );
        }
        if !(self.collector.starts_with("https://") || self.collector.starts_with("http://")) {
            fail("collector".into(), "must be an http(s) URL");
        }
        if self.cookie_days == 0 || self.cookie_days > MAX_COOKIE_DAYS {
            fail("cookie_days".into(), "must be between 1 and 400");
        }
        let domain_ok = |d: &str| {
            let d = d.strip_prefix('.').unwrap_or(d);
            d.contains('.')
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        if matches!(self.cookie_domain.as_deref(), Some(d) if d != "auto" && !domain_ok(d)) {
            fail(
                "cookie_domain".into(),
                "must be auto or a domain such as example.com",
            );
        }
        for (i, e) in self.events.iter().enumerate() {
            // Concatenation, not format!: this runs in the browser too.
            let at = |field| text::concat(&["events[", &decimal::string(i as u64), "].", field]);
            if !is_valid_id(&e.id) {
                fail(at("id"), "must be 1-64 characters of A-Z a-z 0-9 _ - . :");
            } else if self.events[..i].iter().any(|o| o.id == e.id) {
                fail(at("id"), "is defined twice");
            }
            for (field, amount) in [("revenue", &e.revenue), ("payout", &e.payout)] {
                if amount.as_ref().is_some_and(|a| !a.is_valid()) {
                    fail(
                        at(field),
                        "must be a non-negative number, {\"field\": NAME} or {\"prop\": NAME}",
                    );
                }
            }
        }
        let system = [
            ("system.base", &self.system.base),
            ("system.click_sold", &self.system.click_sold),
            ("system.form_sold", &self.system.form_sold),
            ("system.call_sold", &self.system.call_sold),
        ];
        for (path, id) in system {
            match self.event(id) {
                None => fail(path.into(), "names no event in events"),
                Some(e) if e.scope != Scope::System => {
                    fail(path.into(), "names an event whose scope is not system")
                }
                Some(_) => {}
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Config {
        serde_json::from_str(
            r#"{"campaign":"demo","collector":"http://127.0.0.1:8080",
            "system":{"base":"base","click_sold":"click_sold","form_sold":"form_sold","call_sold":"call_sold"},
            "events":[
              {"id":"base","name":"Base Event","category":"lead","scope":"system"},
              {"id":"click_sold","category":"click","scope":"system"},
              {"id":"form_sold","category":"conversion","scope":"system"},
              {"id":"call_sold","category":"conversion","scope":"system"},
              {"id":"quote","category":"engagement","multi":true,"revenue":2.5}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn gpc_base_only_lets_only_a_bare_base_event_through() {
        assert_eq!(sample().gpc, Gpc::Record);
        let only: Gpc = serde_json::from_str("\"base_only\"").unwrap();
        assert_eq!(only, Gpc::BaseOnly);
        assert!(serde_json::from_str::<Gpc>("\"always\"").is_err());
        for (policy, gpc, event, data, allowed) in [
            (Gpc::Record, true, "quote", true, true),
            (Gpc::BaseOnly, false, "quote", true, true),
            (Gpc::BaseOnly, true, "base", false, true),
            (Gpc::BaseOnly, true, "base", true, false),
            (Gpc::BaseOnly, true, "form_sold", false, false),
        ] {
            assert_eq!(
                policy.allows(gpc, event, "base", data),
                allowed,
                "{policy:?} {event}"
            );
        }
    }

    #[test]
    fn parses_with_defaults() {
        let c = sample();
        assert_eq!(c.cookie_days, DEFAULT_COOKIE_DAYS);
        assert!(c.click_with_base);
        assert_eq!(c.event("quote").unwrap().scope, Scope::Org);
        assert!(c.event("quote").unwrap().multi);
        assert!(!c.event("base").unwrap().multi);
        assert!(c.event("nope").is_none());
        assert_eq!(c.validate(), vec![]);
    }

    #[test]
    fn scope_names_match_serde() {
        for s in [Scope::System, Scope::Org, Scope::Campaign] {
            let name = serde_json::to_string(&s).unwrap();
            assert_eq!(Scope::parse(name.trim_matches('"')), Some(s));
        }
        assert_eq!(Scope::parse("global"), None);
    }

    #[test]
    fn amounts_are_fixed_or_come_from_a_field_or_a_prop() {
        let parse = |s: &str| serde_json::from_str::<Amount>(s).unwrap();
        assert_eq!(parse("25"), Amount::Fixed(25.0));
        assert_eq!(
            parse(r#"{"field":"amount"}"#),
            Amount::Field {
                field: "amount".into()
            }
        );
        assert_eq!(
            parse(r#"{"prop":"value"}"#),
            Amount::Prop {
                prop: "value".into()
            }
        );
        assert!(serde_json::from_str::<Amount>(r#""25""#).is_err());
        let props = |n: &str| (n == "value").then_some(12.5);
        let fields = |n: &str| (n == "amount").then_some(40.0);
        assert_eq!(parse("25").resolve(props, fields), Some(25.0));
        assert_eq!(
            parse(r#"{"field":"amount"}"#).resolve(props, fields),
            Some(40.0)
        );
        assert_eq!(
            parse(r#"{"prop":"value"}"#).resolve(props, fields),
            Some(12.5)
        );
        assert_eq!(parse(r#"{"prop":"other"}"#).resolve(props, fields), None);
        assert_eq!(
            parse(r#"{"prop":"value"}"#).resolve(|_| Some(-3.0), fields),
            None,
            "never negative"
        );
        assert!(!parse(r#"{"field":" "}"#).is_valid());
        assert!(!Amount::Fixed(f64::NAN).is_valid());
        assert_eq!(parse("25").fixed(), Some(25.0));
        assert_eq!(parse(r#"{"prop":"v"}"#).fixed(), None);
    }

    #[test]
    fn round_trips() {
        let c = sample();
        let again: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn rejects_unknown_fields_and_categories() {
        let bad = r#"{"campaign":"c","collector":"http://x","system":{"base":"a","click_sold":"b","form_sold":"c","call_sold":"d"},"colour":1}"#;
        let err = serde_json::from_str::<Config>(bad).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let bad = r#"{"id":"x","category":"sale"}"#;
        assert!(serde_json::from_str::<EventDef>(bad).is_err());
    }

    #[test]
    fn names_every_problem_with_its_path() {
        let mut c = sample();
        c.campaign = "bad id".into();
        c.collector = "ftp://x".into();
        c.cookie_days = 0;
        c.cookie_domain = Some("not a domain".into());
        c.events[4].id = "base".into();
        c.events[4].revenue = Some(Amount::Fixed(-1.0));
        c.events[1].scope = Scope::Org;
        c.system.call_sold = "missing".into();
        let paths: Vec<_> = c.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "campaign",
                "collector",
                "cookie_days",
                "cookie_domain",
                "events[4].id",
                "events[4].revenue",
                "system.click_sold",
                "system.call_sold"
            ]
        );
    }
}
