//! Triggers: when a campaign's event fires in the page. A campaign binds each event it uses to one
//! trigger; the collector validates bindings (naming each bad field) and serves them, and the
//! clickscript evaluates them.

use super::decimal;
use super::text;

use serde::{Deserialize, Serialize};

use super::config::ConfigError;

/// Longest CSS selector, URL pattern or condition value.
pub const MAX_PATTERN_LEN: usize = 512;

/// When an event fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The page loads; only where the URL matches `url` (a pattern, `*` for any run of
    /// characters) when one is given.
    PageLoad {
        /// URL or path pattern.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// A click on an element matching `selector` (or inside one).
    Click {
        /// CSS selector.
        selector: String,
    },
    /// A form matching `selector` is submitted and every condition holds.
    Submit {
        /// CSS selector of the form(s).
        selector: String,
        /// Conditions on field values, all of which must hold.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conditions: Vec<Condition>,
    },
    /// A field matching `selector` is left (blur) with a valid, non-empty value.
    FieldCompleted {
        /// CSS selector of the field(s).
        selector: String,
    },
    /// The visitor's first interaction (a field focused or typed in) with a form matching
    /// `selector`, once per form on the page; data: the form's `form` name.
    FormStarted {
        /// CSS selector of the form(s).
        selector: String,
    },
    /// A started form matching `selector` is submitted; data: the form's `form` name and
    /// `time_to_complete_ms`, from the first interaction to the submit.
    FormCompleted {
        /// CSS selector of the form(s).
        selector: String,
    },
    /// The page is hidden or left after a form matching `selector` was started and not
    /// submitted, once per form; data: the form's `form` name and `fields_completed`, the names
    /// (never the values) of the fields left filled, comma-separated.
    FormAbandoned {
        /// CSS selector of the form(s).
        selector: String,
    },
    /// The visitor scrolled to `percent` of the page.
    Scroll {
        /// 1 to 100.
        percent: u32,
    },
    /// The page has been visible and focused for `seconds`.
    Engaged {
        /// 1 to 86400.
        seconds: u32,
    },
    /// At least half of an element matching `selector` was in the viewport (once per element).
    Seen {
        /// CSS selector.
        selector: String,
    },
    /// The URL (or a single-page app's route) changed to one matching `url`.
    Route {
        /// URL or path pattern.
        url: String,
    },
    /// Only from `PT.event`.
    Api,
}

/// What a condition tests of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The field has a non-empty value.
    Present,
    /// The value is exactly `value`.
    Equals,
    /// The value is one of `values`.
    OneOf,
    /// The value matches the pattern `value` (`*` for any run of characters).
    Matches,
    /// The value is a number within `min..=max` (either bound may be absent).
    Between,
}

/// A condition on one form field's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The field's `name`.
    pub field: String,
    /// What is tested.
    pub test: Test,
    /// For `equals` and `matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For `one_of`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// For `between`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// For `between`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// An event bound to its trigger in a campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The event's ID.
    pub event: String,
    /// When it fires.
    pub trigger: Trigger,
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (none included)
/// and everything else for itself. Case-sensitive, like URLs' paths and form values.
pub fn glob(pattern: &str, text: &str) -> bool {
    glob_bytes(pattern.as_bytes(), text.as_bytes())
}

fn glob_bytes(p: &[u8], t: &[u8]) -> bool {
    // `get`, not indexing: an index that can fail brings its panic message's formatting along.
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and how much of the text it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = t.get(ti) {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&x) if x == c => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&b| b == b'*')
}

/// Whether a page's URL matches a trigger's pattern: a pattern starting with `/` is matched
/// against the path (with the query string), any other against the whole URL.
pub fn url_matches(pattern: &str, href: &str) -> bool {
    if !pattern.starts_with('/') {
        return glob(pattern, href);
    }
    // On bytes: slicing a str at a found index still carries the char-boundary panic (and its
    // formatting) into the wasm.
    let h = href.as_bytes();
    let after_scheme = h
        .windows(3)
        .position(|w| w == b"://")
        .map_or(h, |i| h.get(i + 3..).unwrap_or_default());
    let path = match after_scheme.iter().position(|&b| b == b'/') {
        Some(i) => after_scheme.get(i..).unwrap_or_default(),
        None => b"/",
    };
    let path = path.split(|&b| b == b'#').next().unwrap_or(path);
    glob_bytes(pattern.as_bytes(), path)
}

/// A cheap plausibility check of a CSS selector: non-empty, not too long, brackets, parentheses
/// and quotes balanced. The browser is the final judge; a selector it refuses disables only its
/// own binding.
pub fn plausible_selector(s: &str) -> bool {
    if s.trim().is_empty() || s.len() > MAX_PATTERN_LEN {
        return false;
    }
    let mut depth: Vec<u8> = Vec::new();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for b in s.bytes() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, b) {
            (_, b'\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[' | b'(') => depth.push(b),
            (None, b']') if depth.pop() != Some(b'[') => return false,
            (None, b')') if depth.pop() != Some(b'(') => return false,
            _ => {}
        }
    }
    quote.is_none() && depth.is_empty() && !escaped
}

impl Condition {
    /// Whether the condition holds for a field's value (`None` when the form has no such field).
    pub fn holds(&self, value: Option<&str>) -> bool {
        self.holds_with(value, |s| s.parse().ok())
    }

    /// `holds`, with the caller's number parser: the browser passes JavaScript's `Number`, as
    /// Rust's float parser would add ~20 KB to the wasm.
    pub fn holds_with(&self, value: Option<&str>, number: impl Fn(&str) -> Option<f64>) -> bool {
        let value = value.map(str::trim).unwrap_or("");
        match self.test {
            Test::Present => !value.is_empty(),
            Test::Equals => self.value.as_deref() == Some(value),
            Test::OneOf => self.values.iter().any(|v| v == value),
            Test::Matches => self.value.as_deref().is_some_and(|p| glob(p, value)),
            Test::Between => match number(value).filter(|n| !value.is_empty() && n.is_finite()) {
                Some(n) => {
                    self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
                }
                None => false,
            },
        }
    }

    fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut fail = |field: &str, reason| {
            errors.push(ConfigError {
                path: text::concat(&[at, ".", field]),
                reason,
            })
        };
        if self.field.trim().is_empty() || self.field.len() > MAX_PATTERN_LEN {
            fail("field", "must name a form field");
        }
        let has_value = self
            .value
            .as_deref()
            .is_some_and(|v| v.len() <= MAX_PATTERN_LEN);
        match self.test {
            Test::Present => {}
            Test::Equals | Test::Matches if !has_value => {
                fail("value", "is required for this test")
            }
            Test::Equals | Test::Matches => {}
            Test::OneOf if self.values.is_empty() => fail("values", "must list at least one value"),
            Test::OneOf => {}
            Test::Between => match (self.min, self.max) {
                (None, None) => fail("min", "between needs min, max or both"),
                (Some(a), _) | (_, Some(a)) if !a.is_finite() => {
                    fail("min", "bounds must be finite numbers")
                }
                (Some(min), Some(max)) if min > max => {
                    fail("max", "is below min: the condition can never hold")
                }
                _ => {}
            },
        }
    }
}

impl Trigger {
    /// Every problem of this trigger, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut fail = |field: &str, reason| {
            errors.push(ConfigError {
                path: text::concat(&[at, ".", field]),
                reason,
            })
        };
        let selector_reason = "is not a plausible CSS selector";
        match self {
            Trigger::PageLoad { url } => {
                if url
                    .as_deref()
                    .is_some_and(|u| u.is_empty() || u.len() > MAX_PATTERN_LEN)
                {
                    fail("url", "must be a non-empty pattern");
                }
            }
            Trigger::Click { selector }
            | Trigger::FieldCompleted { selector }
            | Trigger::FormStarted { selector }
            | Trigger::FormCompleted { selector }
            | Trigger::FormAbandoned { selector }
            | Trigger::Seen { selector } => {
                if !plausible_selector(selector) {
                    fail("selector", selector_reason);
                }
            }
            Trigger::Submit {
                selector,
                conditions,
            } => {
                if !plausible_selector(selector) {
                    fail("selector", selector_reason);
                }
                for (i, c) in conditions.iter().enumerate() {
                    c.validate(
                        &text::concat(&[at, ".conditions[", &decimal::string(i as u64), "]"]),
                        errors,
                    );
                }
            }
            Trigger::Scroll { percent } => {
                if !(1..=100).contains(percent) {
                    fail("percent", "must be between 1 and 100");
                }
            }
            Trigger::Engaged { seconds } => {
                if !(1..=86_400).contains(seconds) {
                    fail("seconds", "must be between 1 and 86400");
                }
            }
            Trigger::Route { url } => {
                if url.is_empty() || url.len() > MAX_PATTERN_LEN {
                    fail("url", "must be a non-empty pattern");
                }
            }
            Trigger::Api => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(t: &Trigger) -> Vec<String> {
        let mut e = Vec::new();
        t.validate("bindings[0].trigger", &mut e);
        e.into_iter()
            .map(|e| [e.path, ": ".into(), e.reason.into()].concat())
            .collect()
    }

    #[test]
    fn every_trigger_kind_round_trips() {
        let json = r##"[{"on":"page_load"},{"on":"page_load","url":"*/thanks*"},
            {"on":"click","selector":"a.offer"},
            {"on":"submit","selector":"#quote","conditions":[{"field":"zip","test":"matches","value":"9*"},
              {"field":"age","test":"between","min":18,"max":99},{"field":"state","test":"one_of","values":["CA","NY"]},
              {"field":"email","test":"present"},{"field":"plan","test":"equals","value":"gold"}]},
            {"on":"field_completed","selector":"input[name=email]"},{"on":"scroll","percent":75},
            {"on":"engaged","seconds":30},{"on":"seen","selector":"#pricing"},{"on":"route","url":"/step/*"},
            {"on":"form_started","selector":"#quote"},{"on":"form_completed","selector":"#quote"},
            {"on":"form_abandoned","selector":"form"},{"on":"api"}]"##;
        let triggers: Vec<Trigger> = serde_json::from_str(json).unwrap();
        assert_eq!(triggers.len(), 13);
        for t in &triggers {
            assert_eq!(errors(t), Vec::<String>::new(), "{t:?}");
        }
        let again: Vec<Trigger> =
            serde_json::from_str(&serde_json::to_string(&triggers).unwrap()).unwrap();
        assert_eq!(again, triggers);
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        for bad in [
            r#"{"on":"hover","selector":"a"}"#,
            r#"{"on":"click"}"#,
            r#"{"on":"click","selector":"a","colour":1}"#,
            r#"{"on":"scroll","percent":"half"}"#,
            r#"{"selector":"a"}"#,
        ] {
            assert!(serde_json::from_str::<Trigger>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_options_are_named_with_their_path() {
        let cases = [
            (
                Trigger::Click {
                    selector: "a[href".into(),
                },
                "bindings[0].trigger.selector: is not a plausible CSS selector",
            ),
            (
                Trigger::Seen {
                    selector: " ".into(),
                },
                "bindings[0].trigger.selector: is not a plausible CSS selector",
            ),
            (
                Trigger::Scroll { percent: 0 },
                "bindings[0].trigger.percent: must be between 1 and 100",
            ),
            (
                Trigger::Engaged { seconds: 100_000 },
                "bindings[0].trigger.seconds: must be between 1 and 86400",
            ),
            (
                Trigger::Route { url: String::new() },
                "bindings[0].trigger.url: must be a non-empty pattern",
            ),
            (
                Trigger::PageLoad {
                    url: Some(String::new()),
                },
                "bindings[0].trigger.url: must be a non-empty pattern",
            ),
        ];
        for (t, expected) in cases {
            assert_eq!(errors(&t), [expected]);
        }
        let impossible: Trigger = serde_json::from_str(
            r#"{"on":"submit","selector":"form","conditions":[{"field":"age","test":"between","min":50,"max":18},
            {"field":"","test":"present"},{"field":"s","test":"one_of"},{"field":"p","test":"equals"},{"field":"q","test":"between"}]}"#,
        )
        .unwrap();
        assert_eq!(
            errors(&impossible),
            [
                "bindings[0].trigger.conditions[0].max: is below min: the condition can never hold",
                "bindings[0].trigger.conditions[1].field: must name a form field",
                "bindings[0].trigger.conditions[2].values: must list at least one value",
                "bindings[0].trigger.conditions[3].value: is required for this test",
                "bindings[0].trigger.conditions[4].min: between needs min, max or both",
            ]
        );
    }

    #[test]
    fn conditions_hold_or_not() {
        let c = |json: &str| serde_json::from_str::<Condition>(json).unwrap();
        let present = c(r#"{"field":"f","test":"present"}"#);
        assert!(present.holds(Some("x")));
        assert!(!present.holds(Some("  ")));
        assert!(!present.holds(None));
        let equals = c(r#"{"field":"f","test":"equals","value":"gold"}"#);
        assert!(equals.holds(Some(" gold ")));
        assert!(!equals.holds(Some("Gold")));
        let one_of = c(r#"{"field":"f","test":"one_of","values":["CA","NY"]}"#);
        assert!(one_of.holds(Some("NY")));
        assert!(!one_of.holds(Some("TX")));
        let matches = c(r#"{"field":"f","test":"matches","value":"9*7"}"#);
        assert!(matches.holds(Some("94107")));
        assert!(!matches.holds(Some("10001")));
        let between = c(r#"{"field":"f","test":"between","min":18,"max":65}"#);
        assert!(between.holds(Some("18")));
        assert!(between.holds(Some("65.0")));
        assert!(!between.holds(Some("17.9")));
        assert!(!between.holds(Some("abc")));
        assert!(!between.holds(Some("NaN")));
        let open = c(r#"{"field":"f","test":"between","min":1000}"#);
        assert!(open.holds(Some("1e6")));
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("*", ""));
        assert!(glob("/thanks", "/thanks"));
        assert!(!glob("/thanks", "/thanks/"));
        assert!(glob("*/thanks*", "https://lp.example/thanks?x=1"));
        assert!(glob("/step/*/done", "/step/2/done"));
        assert!(!glob("/step/*/done", "/step/2/undone/x"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXcYYb"));
        assert!(glob("**", "anything"));
        assert!(!glob("", "x"));
    }

    #[test]
    fn url_patterns_match_paths_or_whole_urls() {
        let href = "https://lp.example/quote/thanks?utm_source=g#top";
        assert!(url_matches("/quote/*", href));
        assert!(url_matches("/quote/thanks*", href));
        assert!(!url_matches("/thanks", href));
        assert!(url_matches("*utm_source=g*", href));
        assert!(url_matches("https://lp.example/*", href));
        assert!(!url_matches("https://other.example/*", href));
        assert!(url_matches("/", "https://lp.example"));
        assert!(url_matches("/", "https://lp.example/#x"));
    }

    #[test]
    fn selectors_are_checked_for_plausibility() {
        for ok in [
            "a",
            "#quote",
            "form.lead input[name='zip']",
            "a[href^=\"tel:\"]",
            ":is(a, button)",
            "a\\[b",
        ] {
            assert!(plausible_selector(ok), "{ok}");
        }
        for bad in ["", "   ", "a[href", "a)", ":is(a", "a[x='y]", "a\\"] {
            assert!(!plausible_selector(bad), "{bad}");
        }
    }
}
