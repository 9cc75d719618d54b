//! Reads the served configuration from the plain object the loader hands over.
//!
//! Hand-written over `Reflect` rather than serde's `Deserialize`: the derive pulls serde's error
//! formatting (floats included) into the wasm, about 25 KB gzip of a 30 KB budget. The collector
//! has already validated the configuration with the derive; here a wrong field is still named.

use clickscript_core::decimal;
use clickscript_core::text;

use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::capture::CaptureRules;
use clickscript_core::config::{
    Amount, Config, EventDef, Gpc, Scope, SystemEvents, DEFAULT_COOKIE_DAYS,
};
use clickscript_core::event::Category;
use clickscript_core::offer::OfferRules;
use clickscript_core::trigger::{Binding, Condition, Test, Trigger};

/// A field of the configuration that is missing or of the wrong type.
pub struct FieldError(pub String);

use crate::globals::get as field;

/// An optional field left out: undefined or null (serde's `Option` reads null as `None`; a field
/// with a default only takes it when undefined, as the serde types do).
fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

fn path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        text::concat(&[parent, ".", name])
    }
}

fn indexed(parent: &str, i: usize) -> String {
    text::concat(&[parent, "[", &decimal::string(i as u64), "]"])
}

/// The elements of the array `v` (none when it is absent); `None` when it is not an array.
fn list(v: &JsValue) -> Option<Vec<JsValue>> {
    if v.is_undefined() {
        return Some(Vec::new());
    }
    Some(v.dyn_ref::<js_sys::Array>()?.iter().collect())
}

/// Reads fields and keeps the first problem rather than returning at it: a `?` at every field
/// made the compiler write the clean-up of each partly read struct, 2 KB gzip of the wasm. Each
/// read gives a default after a problem; the caller throws the result away if there was one.
#[derive(Default)]
struct Reader {
    problem: Option<String>,
}

impl Reader {
    fn fail(&mut self, at: impl FnOnce() -> String, why: &str) {
        if self.problem.is_none() {
            self.problem = Some(at() + why);
        }
    }

    fn done<T>(self, value: T) -> Result<T, FieldError> {
        match self.problem {
            Some(p) => Err(FieldError(p)),
            None => Ok(value),
        }
    }

    fn text(&mut self, obj: &JsValue, parent: &str, name: &str) -> String {
        field(obj, name).as_string().unwrap_or_else(|| {
            self.fail(|| path(parent, name), ": must be a string");
            String::new()
        })
    }

    /// A list of strings (serde's `Vec<String>` with a default: empty when undefined).
    fn texts(&mut self, obj: &JsValue, parent: &str, name: &str) -> Vec<String> {
        let Some(items) = list(&field(obj, name)) else {
            self.fail(|| path(parent, name), ": must be a list");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(item.as_string().unwrap_or_else(|| {
                self.fail(|| indexed(&path(parent, name), i), ": must be a string");
                String::new()
            }));
        }
        out
    }

    /// The object at `name`, `None` when undefined (the field's default); refused when it is not
    /// a plain object.
    fn object(&mut self, obj: &JsValue, name: &str) -> Option<JsValue> {
        let v = field(obj, name);
        if v.is_undefined() {
            return None;
        }
        if !v.is_object() || v.dyn_ref::<js_sys::Array>().is_some() {
            self.fail(|| name.to_owned(), ": must be an object");
            return None;
        }
        Some(v)
    }

    fn optional_text(&mut self, obj: &JsValue, parent: &str, name: &str) -> Option<String> {
        let present = !absent(&field(obj, name));
        present.then(|| self.text(obj, parent, name))
    }

    fn flag(&mut self, obj: &JsValue, parent: &str, name: &str, default: bool) -> bool {
        let v = field(obj, name);
        if v.is_undefined() {
            return default;
        }
        v.as_bool().unwrap_or_else(|| {
            self.fail(|| path(parent, name), ": must be true or false");
            default
        })
    }

    /// A whole number from 0 to `u32::MAX` (serde's `u32`), `default` when undefined.
    fn whole(&mut self, obj: &JsValue, parent: &str, name: &str, default: u32) -> u32 {
        let v = field(obj, name);
        if v.is_undefined() {
            return default;
        }
        match v.as_f64() {
            Some(n) if n >= 0.0 && n <= u32::MAX as f64 && n.fract() == 0.0 => n as u32,
            _ => {
                self.fail(|| path(parent, name), ": must be a whole number");
                default
            }
        }
    }

    fn number(&mut self, obj: &JsValue, parent: &str, name: &str) -> Option<f64> {
        let v = field(obj, name);
        if absent(&v) {
            return None;
        }
        let n = v.as_f64();
        if n.is_none() {
            self.fail(|| path(parent, name), ": must be a number");
        }
        n
    }

    fn amount(&mut self, obj: &JsValue, parent: &str, name: &str) -> Option<Amount> {
        let v = field(obj, name);
        if absent(&v) {
            return None;
        }
        if let Some(n) = v.as_f64() {
            return Some(Amount::Fixed(n));
        }
        if let Some(f) = field(&v, "field").as_string() {
            return Some(Amount::Field { field: f });
        }
        if let Some(p) = field(&v, "prop").as_string() {
            return Some(Amount::Prop { prop: p });
        }
        self.fail(
            || path(parent, name),
            ": must be a number, {field} or {prop}",
        );
        None
    }

    fn event(&mut self, v: &JsValue, at: &str) -> EventDef {
        let category = self.text(v, at, "category");
        // Fields with a default take it when undefined; null is refused, as serde refuses it.
        let text_or = |r: &mut Self, name: &str, default: &str| match field(v, name).is_undefined()
        {
            true => default.to_owned(),
            false => r.text(v, at, name),
        };
        let scope = text_or(self, "scope", "org");
        let id = self.text(v, at, "id");
        let name = text_or(self, "name", "");
        let category = Category::parse(&category).unwrap_or_else(|| {
            self.fail(
                || path(at, "category"),
                ": must be lead, engagement, click or conversion",
            );
            Category::Lead
        });
        let scope = Scope::parse(&scope).unwrap_or_else(|| {
            self.fail(|| path(at, "scope"), ": must be system, org or campaign");
            Scope::Org
        });
        EventDef {
            id,
            name,
            category,
            scope,
            multi: self.flag(v, at, "multi", false),
            revenue: self.amount(v, at, "revenue"),
            payout: self.amount(v, at, "payout"),
        }
    }
}

/// Reads the configuration; the error names the first bad field.
pub fn read(v: &JsValue) -> Result<Config, FieldError> {
    if !v.is_object() {
        return Err(FieldError("configuration: must be an object".into()));
    }
    let mut r = Reader::default();
    let events = match list(&field(v, "events")) {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, e)| r.event(e, &indexed("events", i)))
            .collect(),
        None => {
            r.fail(|| "events".into(), ": must be an array");
            Vec::new()
        }
    };
    let cookie_days = r.whole(v, "", "cookie_days", DEFAULT_COOKIE_DAYS);
    let campaign = r.text(v, "", "campaign");
    let collector = r.text(v, "", "collector");
    let cookie_domain = r.optional_text(v, "", "cookie_domain");
    let click_with_base = r.flag(v, "", "click_with_base", true);
    // Absent is `record`; present, it must be one of the two (serde takes no null here).
    let gpc = if field(v, "gpc").is_undefined() {
        Gpc::Record
    } else {
        match r.text(v, "", "gpc").as_str() {
            "record" => Gpc::Record,
            "base_only" => Gpc::BaseOnly,
            _ => {
                r.fail(|| "gpc".into(), ": must be \"record\" or \"base_only\"");
                Gpc::Record
            }
        }
    };
    let allowed_origins = if field(v, "allowed_origins").is_undefined() {
        Vec::new()
    } else {
        r.texts(v, "", "allowed_origins")
    };
    let system = field(v, "system");
    let system = SystemEvents {
        base: r.text(&system, "system", "base"),
        click_sold: r.text(&system, "system", "click_sold"),
        form_sold: r.text(&system, "system", "form_sold"),
        call_sold: r.text(&system, "system", "call_sold"),
    };
    r.done(Config {
        campaign,
        collector,
        cookie_days,
        cookie_domain,
        click_with_base,
        gpc,
        allowed_origins,
        system,
        events,
    })
}

impl Reader {
    fn condition(&mut self, v: &JsValue, at: &str) -> Condition {
        let test = match self.text(v, at, "test").as_str() {
            "present" => Test::Present,
            "equals" => Test::Equals,
            "one_of" => Test::OneOf,
            "matches" => Test::Matches,
            "between" => Test::Between,
            _ => {
                self.fail(|| path(at, "test"), ": unknown test");
                Test::Present
            }
        };
        let values = match list(&field(v, "values")) {
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, x)| {
                    let text = x.as_string();
                    if text.is_none() {
                        self.fail(|| indexed(&path(at, "values"), i), ": must be a string");
                    }
                    text
                })
                .collect(),
            None => {
                self.fail(|| path(at, "values"), ": must be an array");
                Vec::new()
            }
        };
        Condition {
            field: self.text(v, at, "field"),
            test,
            value: self.optional_text(v, at, "value"),
            values,
            min: self.number(v, at, "min"),
            max: self.number(v, at, "max"),
        }
    }

    fn trigger(&mut self, v: &JsValue, at: &str) -> Trigger {
        let on = self.text(v, at, "on");
        let whole = |r: &mut Self, name| r.whole(v, at, name, 0);
        match on.as_str() {
            "page_load" => Trigger::PageLoad {
                url: self.optional_text(v, at, "url"),
            },
            "click" => Trigger::Click {
                selector: self.text(v, at, "selector"),
            },
            "submit" => {
                let conditions = list(&field(v, "conditions")).unwrap_or_default();
                let conditions = conditions
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.condition(c, &indexed(&path(at, "conditions"), i)))
                    .collect();
                Trigger::Submit {
                    selector: self.text(v, at, "selector"),
                    conditions,
                }
            }
            "field_completed" => Trigger::FieldCompleted {
                selector: self.text(v, at, "selector"),
            },
            "form_started" => Trigger::FormStarted {
                selector: self.text(v, at, "selector"),
            },
            "form_completed" => Trigger::FormCompleted {
                selector: self.text(v, at, "selector"),
            },
            "form_abandoned" => Trigger::FormAbandoned {
                selector: self.text(v, at, "selector"),
            },
            "scroll" => Trigger::Scroll {
                percent: whole(self, "percent"),
            },
            "engaged" => Trigger::Engaged {
                seconds: whole(self, "seconds"),
            },
            "seen" => Trigger::Seen {
                selector: self.text(v, at, "selector"),
            },
            "route" => Trigger::Route {
                url: self.text(v, at, "url"),
            },
            "api" => Trigger::Api,
            _ => {
                self.fail(|| path(at, "on"), ": unknown trigger");
                Trigger::Api
            }
        }
    }
}

/// Reads the campaign's lead capture rules (`capture`, served beside the configuration, as serde
/// wrote them); the defaults when it is absent, as serde reads them.
pub fn read_capture(v: &JsValue) -> Result<CaptureRules, FieldError> {
    let mut r = Reader::default();
    let Some(rules) = r.object(v, "capture") else {
        return r.done(CaptureRules::default());
    };
    let exclude_fields = r.texts(&rules, "capture", "exclude_fields");
    // Unknown fields are not looked for: the collector serves the rules as serde wrote them.
    let hash_contacts = r.flag(&rules, "capture", "hash_contacts", false);
    r.done(CaptureRules {
        exclude_fields,
        hash_contacts,
    })
}

/// Reads the campaign's offer link rules (`offers`, served beside the configuration as serde
/// wrote them); the defaults (no offer domains) when absent.
pub fn read_offers(v: &JsValue) -> Result<OfferRules, FieldError> {
    let mut r = Reader::default();
    let Some(rules) = r.object(v, "offers") else {
        return r.done(OfferRules::default());
    };
    let domains = r.texts(&rules, "offers", "domains");
    let param = match field(&rules, "param").is_undefined() {
        true => OfferRules::default().param,
        false => r.text(&rules, "offers", "param"),
    };
    let subs = r.texts(&rules, "offers", "subs");
    r.done(OfferRules {
        domains,
        param,
        subs,
    })
}

/// Reads the campaign's bindings. A bad binding is left out and named (the rest still run): an
/// invalid part of a configuration never stops the valid parts.
pub fn read_bindings(v: &JsValue, cfg: &Config) -> (Vec<Binding>, Vec<FieldError>) {
    let mut bindings = Vec::new();
    let mut errors = Vec::new();
    for (i, b) in list(&field(v, "bindings"))
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = indexed("bindings", i);
        let mut r = Reader::default();
        let event = r.text(b, &at, "event");
        let trigger = r.trigger(&field(b, "trigger"), &path(&at, "trigger"));
        if cfg.event(&event).is_none() {
            r.fail(|| path(&at, "event"), ": not an event of this campaign");
        }
        let mut problems = Vec::new();
        trigger.validate(&path(&at, "trigger"), &mut problems);
        if let Some(p) = problems.first() {
            r.fail(|| p.path.clone(), &text::concat(&[": ", p.reason]));
        }
        match r.done(Binding { event, trigger }) {
            Ok(b) => bindings.push(b),
            Err(e) => errors.push(e),
        }
    }
    (bindings, errors)
}
