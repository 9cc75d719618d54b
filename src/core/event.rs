//! The event model: what one fired event carries on the wire. The collector deserializes these
//! same types, so the clickscript and the collector cannot disagree on a field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of step in the lead's life an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub params: BTreeMap<String, String>,
    /// Ad-network click IDs (gclid, fbclid, ...).
    #[serde(default)]
    pub click_ids: BTreeMap<String, String>,
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
    pub data: BTreeMap<String, Scalar>,
    /// Revenue attached to the event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    /// Consent text or token, when the page recorded one.
    #[serde(default)]
    pub consent: Option<String>,
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
}
