//! Wire format v1: `POST {collector}/v1/events`, `Content-Type: text/plain;charset=UTF-8` (a
//! CORS-simple request, so `sendBeacon` works cross-origin), body a JSON batch.

use serde::{Deserialize, Serialize};

use super::decimal;
use super::event::Event;

/// The wire format's version.
pub const VERSION: u8 = 1;
/// The ingest path, relative to the collector's base URL.
pub const EVENTS_PATH: &str = "/v1/events";

/// A batch of events of one campaign: what the clickscript and the fallback send and the
/// collector reads (`Batch<Event>`). The clickscript's outbox keeps each event as its JSON text
/// (`Batch<String>` is a batch of those, about to be sent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch<E = Event> {
    /// Wire format version (1).
    pub v: u8,
    /// Campaign ID.
    pub cid: String,
    /// When the batch was sent (Unix ms): lets the collector correct the clock skew of `ts`.
    pub sent_at: u64,
    /// The events.
    pub events: Vec<E>,
}

impl Batch<String> {
    /// The length of the batch's JSON, its events being the JSON texts it holds: what
    /// `JSON.stringify` writes for it (the campaign ID is validated to a JSON-safe alphabet).
    pub fn json_len(&self) -> usize {
        r#"{"v":,"cid":"","sent_at":,"events":[]}"#.len()
            + decimal::string(self.v.into()).len()
            + self.cid.len()
            + decimal::string(self.sent_at).len()
            + self.events.iter().map(|e| e.len()).sum::<usize>()
            + self.events.len().saturating_sub(1)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scope;
    use crate::event::{Attribution, Category, Page, Scalar};

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
            gpc: false,
            dnt: false,
            bot: false,
        }
    }

    #[test]
    fn a_batch_of_event_texts_is_what_the_collector_reads_and_its_length_is_exact() {
        let e = event();
        let one = serde_json::to_string(&e).unwrap();
        for events in [vec![], vec![one.clone()], vec![one.clone(), one.clone()]] {
            let batch = Batch {
                v: VERSION,
                cid: "demo".into(),
                sent_at: 1_764_190_000_123,
                events,
            };
            // What the browser writes: the envelope with each event's JSON in place.
            let parsed: Batch<serde_json::Value> = Batch {
                v: batch.v,
                cid: batch.cid.clone(),
                sent_at: batch.sent_at,
                events: batch
                    .events
                    .iter()
                    .map(|t| serde_json::from_str(t).unwrap())
                    .collect(),
            };
            let body = serde_json::to_string(&parsed).unwrap();
            assert_eq!(batch.json_len(), body.len(), "{body}");
            let read: Batch = serde_json::from_str(&body).unwrap();
            assert_eq!(read.cid, "demo");
            assert_eq!(read.sent_at, 1_764_190_000_123);
            // (Key order aside: the JSON written here may sort keys, JSON.stringify does not.)
            for r in &read.events {
                assert_eq!(
                    serde_json::to_value(r).unwrap(),
                    serde_json::to_value(&e).unwrap()
                );
            }
        }
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
