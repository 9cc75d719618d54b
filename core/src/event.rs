//! The event model: what one fired event carries on the wire. The collector deserializes these
//! same types, so the clickscript and the collector cannot disagree on a field.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::config::Scope;

/// What kind of step in the lead's life an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// The lead was created (Base Event) or captured.
    Lead,
    /// The visitor engaged with the page.
    Engagement,
    /// A click was generated or sold.
    Click,
    /// The lead converted (form sold, call sold, purchase).
    Conversion,
}

impl Category {
    /// Every category, in wire order.
    pub const ALL: [Category; 4] = [
        Category::Lead,
        Category::Engagement,
        Category::Click,
        Category::Conversion,
    ];

    /// The category with wire name `s`.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Lead => "lead",
            Category::Engagement => "engagement",
            Category::Click => "click",
            Category::Conversion => "conversion",
        }
    }
}

/// A scalar free-data value: events carry flat data only, so that every value fits a report cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// Any JSON number.
    Number(f64),
    /// A string of at most `MAX_TEXT_LEN` bytes.
    Text(String),
}

/// Named values in the order they were added, serialized as a JSON object. A vector rather than
/// a `BTreeMap`: these hold a handful of entries, and the map's code costs ~8 KB of wasm.
#[derive(Clone, Debug, PartialEq)]
pub struct Fields<V>(Vec<(String, V)>);

impl<V> Default for Fields<V> {
    fn default() -> Self {
        Fields(Vec::new())
    }
}

impl<V> Fields<V> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (replacing its value, keeping its place).
    pub fn insert(&mut self, key: String, value: V) {
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Sets every entry of `other` over these.
    pub fn extend(&mut self, other: Fields<V>) {
        for (k, v) in other.0 {
            self.insert(k, v);
        }
    }
}

impl<V> core::ops::Index<&str> for Fields<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no field {key:?}"),
        }
    }
}

impl<V, const N: usize> From<[(String, V); N]> for Fields<V> {
    fn from(entries: [(String, V); N]) -> Self {
        let mut f = Fields::default();
        for (k, v) in entries {
            f.insert(k, v);
        }
        f
    }
}

impl<V: Serialize> Serialize for Fields<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Fields<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for FieldsVisitor<V> {
            type Value = Fields<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<V>, A::Error> {
                let mut fields = Fields::default();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    fields.insert(k, v);
                }
                Ok(fields)
            }
        }
        d.deserialize_map(FieldsVisitor(PhantomData))
    }
}

/// The page an event was fired on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Full URL at the moment of the call.
    pub url: String,
    /// `document.referrer`.
    #[serde(default)]
    pub referrer: String,
    /// `document.title`.
    #[serde(default)]
    pub title: String,
    /// `navigator.language`.
    #[serde(default)]
    pub language: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default)]
    pub time_zone: String,
    /// Screen size, `WIDTHxHEIGHT`.
    #[serde(default)]
    pub screen: String,
    /// Viewport size, `WIDTHxHEIGHT`.
    #[serde(default)]
    pub viewport: String,
}

/// Where the traffic came from: every query parameter, with the known click IDs apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribution {
    /// Every query-string parameter except the click IDs (utm_*, sub1..sub5, pid, ...).
    #[serde(default)]
    pub params: Fields<String>,
    /// Ad-network click IDs (gclid, fbclid, ...).
    #[serde(default)]
    pub click_ids: Fields<String>,
}

/// One fired event, as sent to and stored by the collector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Idempotency key (UUIDv7), the same on every retry.
    pub uid: String,
    /// The configured event's ID (system or custom).
    pub event_id: String,
    /// The configured event's category.
    pub category: Category,
    /// Who defined the event (system, organization or campaign).
    #[serde(default)]
    pub scope: Scope,
    /// The transaction (lead) ID.
    pub txn: String,
    /// The long-lived visitor ID.
    pub visitor: String,
    /// The session ID (30 minutes idle).
    pub session: String,
    /// When the event happened (Unix ms), which for a queued call is when it was made.
    pub ts: u64,
    /// Order of the event within its transaction.
    pub seq: u32,
    /// The page it happened on.
    pub page: Page,
    /// Where the traffic came from.
    pub attribution: Attribution,
    /// Free data from the call or the trigger.
    #[serde(default)]
    pub data: Fields<Scalar>,
    /// Revenue attached to the event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    /// Payout to the traffic source, when the event defines one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<f64>,
    /// The consent evidence of the form that fired the event, when it had consent text.
    #[serde(default)]
    pub consent: Option<super::consent::Consent>,
    /// The visitor's Global Privacy Control signal (`navigator.globalPrivacyControl`).
    #[serde(default)]
    pub gpc: bool,
    /// The visitor's Do Not Track signal (`navigator.doNotTrack` is `"1"`).
    #[serde(default)]
    pub dnt: bool,
    /// Whether the browser looked automated (`navigator.webdriver`).
    #[serde(default)]
    pub bot: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_match_serde() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert_eq!(Category::parse("sale"), None);
    }

    #[test]
    fn fields_keep_order_replace_in_place_and_read_as_objects() {
        let mut f: Fields<String> = Fields::default();
        f.insert("b".into(), "1".into());
        f.insert("a".into(), "2".into());
        f.insert("b".into(), "3".into());
        assert_eq!(f.len(), 2);
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"b":"3","a":"2"}"#);
        let back: Fields<String> = serde_json::from_str(r#"{"x":"1","y":"2","x":"9"}"#).unwrap();
        assert_eq!(back["x"], "9");
        assert_eq!(
            back.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert!(serde_json::from_str::<Fields<String>>("[1]").is_err());
    }
}
