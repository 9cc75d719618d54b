//! Wire format v1: `POST {collector}/v1/events`, `Content-Type: text/plain;charset=UTF-8` (a
//! CORS-simple request, so `sendBeacon` works cross-origin), body a JSON batch.

use serde::{Deserialize, Serialize};

use super::event::Event;

/// The wire format's version.
pub const VERSION: u8 = 1;
/// The ingest path, relative to the collector's base URL.
pub const EVENTS_PATH: &str = "/v1/events";
/// Upper bound of the envelope around the events (`{"v":1,"cid":…,"sent_at":…,"events":[]}`).
pub const ENVELOPE_BYTES: usize = 128;

/// A batch of events of one campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Wire format version (1).
    pub v: u8,
    /// Campaign ID.
    pub cid: String,
    /// When the batch was sent (Unix ms): lets the collector correct the clock skew of `ts`.
    pub sent_at: u64,
    /// The events.
    pub events: Vec<Event>,
}

/// The collector's answer to a batch it read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReply {
    /// uids stored now.
    pub accepted: Vec<String>,
    /// uids stored before (a retry), or once-per-lead events the transaction already had.
    pub duplicates: Vec<String>,
    /// uids refused, each with the reason; not to be sent again.
    pub rejected: Vec<Rejection>,
}

/// One refused event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The event's uid (empty when the event had none).
    pub uid: String,
    /// Why, naming the field.
    pub error: String,
}

/// Builds a batch body from events that are already serialized.
pub fn batch_body(cid: &str, sent_at: u64, events: &[&str]) -> String {
    let len: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut s = String::with_capacity(ENVELOPE_BYTES + len);
    s.push_str("{\"v\":1,\"cid\":\"");
    // Campaign IDs are validated to a JSON-safe alphabet (`ids::is_valid_id`).
    s.push_str(cid);
    s.push_str("\",\"sent_at\":");
    s.push_str(&sent_at.to_string());
    s.push_str(",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(e);
    }
    s.push_str("]}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Scope;
    use crate::core::event::{Attribution, Category, Page, Scalar};

    fn event() -> Event {
        let mut attribution = Attribution::default();
        attribution
            .params
            .insert("utm_source".into(), "g\"oo\ngle".into());
        attribution.click_ids.insert("gclid".into(), "abc".into());
        Event {
            uid: "0193b8a2-f00c-7c1e-8e4a-1c2b3d4e5f60".into(),
            event_id: "base".into(),
            category: Category::Lead,
            scope: Scope::System,
            txn: "5f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11".into(),
            visitor: "v".into(),
            session: "s".into(),
            ts: 1_764_190_000_100,
            seq: 1,
            page: Page {
                url: "https://lp.example/?utm_source=g".into(),
                title: "Quotes ✓".into(),
                ..Default::default()
            },
            attribution,
            data: [
                ("amount".to_string(), Scalar::Number(12.5)),
                ("plan".to_string(), Scalar::Text("gold".into())),
                ("ok".to_string(), Scalar::Bool(true)),
            ]
            .into(),
            revenue: Some(12.5),
            payout: Some(3.0),
            consent: None,
            bot: false,
        }
    }

    #[test]
    fn batch_round_trips_through_the_wire() {
        let e = event();
        let one = serde_json::to_string(&e).unwrap();
        let body = batch_body("demo", 1_764_190_000_123, &[&one, &one]);
        assert!(body.len() <= ENVELOPE_BYTES + 2 * (one.len() + 1));
        let batch: Batch = serde_json::from_str(&body).unwrap();
        assert_eq!(batch.v, VERSION);
        assert_eq!(batch.cid, "demo");
        assert_eq!(batch.sent_at, 1_764_190_000_123);
        assert_eq!(batch.events, vec![e.clone(), e]);
        let empty: Batch = serde_json::from_str(&batch_body("demo", 1, &[])).unwrap();
        assert!(empty.events.is_empty());
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused() {
        let one = serde_json::to_string(&event()).unwrap();
        let extra = one.replacen('{', "{\"colour\":1,", 1);
        let err = serde_json::from_str::<Event>(&extra)
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        let wrong = one.replace("\"seq\":1", "\"seq\":\"1\"");
        assert!(serde_json::from_str::<Event>(&wrong).is_err());
        let nested = one.replace("\"ok\":true", "\"ok\":{\"a\":1}");
        assert!(serde_json::from_str::<Event>(&nested).is_err());
    }
}
