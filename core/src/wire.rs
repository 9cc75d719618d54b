//! Wire format v1: `POST {collector}/v1/events`, `Content-Type: text/plain;charset=UTF-8` (a
//! CORS-simple request, so `sendBeacon` works cross-origin), body a JSON batch.

use serde::{Deserialize, Serialize};

use super::config::Scope;
use super::decimal;
use super::event::{Event, Fields, Scalar};

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
    decimal::push(&mut s, sent_at);
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

/// Writes `event` as JSON, the same document serde writes (the tests hold the two together).
/// Written by hand for the browser build: serde-wasm-bindgen with `JSON.stringify` cost 5 KB
/// gzip of wasm for this one struct, this about 1.5 KB (3.4 KB less, measured). `number`
/// writes a float: the browser passes JavaScript's own formatting, since Rust's adds ~10 KB.
pub fn event_json(e: &Event, number: &dyn Fn(f64, &mut String)) -> String {
    let mut s = String::with_capacity(1024);
    let mut w = Writer {
        s: &mut s,
        number,
        first: true,
    };
    w.open('{');
    w.text("uid", &e.uid);
    w.text("event_id", &e.event_id);
    w.text("category", e.category.as_str());
    w.text(
        "scope",
        match e.scope {
            Scope::System => "system",
            Scope::Org => "org",
            Scope::Campaign => "campaign",
        },
    );
    w.text("txn", &e.txn);
    w.text("visitor", &e.visitor);
    w.text("session", &e.session);
    w.key("ts");
    decimal::push(w.s, e.ts);
    w.key("seq");
    decimal::push(w.s, e.seq.into());
    w.key("page");
    w.open('{');
    let p = &e.page;
    for (k, v) in [
        ("url", &p.url),
        ("referrer", &p.referrer),
        ("title", &p.title),
        ("language", &p.language),
        ("time_zone", &p.time_zone),
        ("screen", &p.screen),
        ("viewport", &p.viewport),
    ] {
        w.text(k, v);
    }
    w.close('}');
    w.key("attribution");
    w.open('{');
    w.key("params");
    w.texts(&e.attribution.params);
    w.key("click_ids");
    w.texts(&e.attribution.click_ids);
    w.close('}');
    w.key("data");
    w.open('{');
    for (k, v) in e.data.iter() {
        w.key(k);
        match v {
            Scalar::Bool(b) => w.s.push_str(if *b { "true" } else { "false" }),
            Scalar::Number(n) => w.number(*n),
            Scalar::Text(t) => push_string(w.s, t),
        }
    }
    w.close('}');
    for (k, amount) in [("revenue", e.revenue), ("payout", e.payout)] {
        if let Some(n) = amount {
            w.key(k);
            w.number(n);
        }
    }
    w.key("consent");
    match &e.consent {
        Some(c) => push_string(w.s, c),
        None => w.s.push_str("null"),
    }
    w.key("bot");
    w.s.push_str(if e.bot { "true" } else { "false" });
    w.close('}');
    s
}

struct Writer<'a> {
    s: &'a mut String,
    number: &'a dyn Fn(f64, &mut String),
    /// No member written yet in the innermost object.
    first: bool,
}

impl Writer<'_> {
    fn open(&mut self, c: char) {
        self.s.push(c);
        self.first = true;
    }

    fn close(&mut self, c: char) {
        self.s.push(c);
        self.first = false;
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.s.push(',');
        }
        self.first = false;
        push_string(self.s, k);
        self.s.push(':');
    }

    fn text(&mut self, k: &str, v: &str) {
        self.key(k);
        push_string(self.s, v);
    }

    fn texts(&mut self, fields: &Fields<String>) {
        self.open('{');
        for (k, v) in fields.iter() {
            self.text(k, v);
        }
        self.close('}');
    }

    /// JSON has no NaN or infinity: those are written as `null` (the collector refuses them).
    fn number(&mut self, n: f64) {
        if n.is_finite() {
            (self.number)(n, self.s);
        } else {
            self.s.push_str("null");
        }
    }
}

/// Appends `v` as a JSON string.
fn push_string(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                s.push_str("\\u00");
                s.push(HEX[(c as usize) >> 4] as char);
                s.push(HEX[(c as usize) & 15] as char);
            }
            c => s.push(c),
        }
    }
    s.push('"');
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

    /// Writes `3.0` as `3`, as JavaScript does.
    fn rust_number(n: f64, s: &mut String) {
        s.push_str(&n.to_string());
    }

    fn serde_number(n: f64, s: &mut String) {
        s.push_str(&serde_json::to_string(&n).unwrap());
    }

    #[test]
    fn the_hand_written_json_is_what_serde_reads_and_writes() {
        let mut tricky = event();
        tricky.page.title = "a\"b\\c\nd\re\tf\u{1}g\u{1f}h\u{7f}i ✓ 😀 \u{2028}".into();
        tricky.data.insert("x\"y".into(), Scalar::Number(-0.000123));
        tricky.data.insert("big".into(), Scalar::Number(1e21));
        tricky.consent = Some("granted".into());
        tricky.bot = true;
        tricky.scope = Scope::Campaign;
        tricky.category = Category::Conversion;
        tricky.ts = u64::MAX;
        tricky.seq = 0;
        let mut bare = event();
        bare.revenue = None;
        bare.payout = None;
        bare.data = Fields::default();
        bare.attribution = Attribution::default();
        for e in [event(), tricky, bare] {
            let hand = event_json(&e, &rust_number);
            let read: Event =
                serde_json::from_str(&hand).unwrap_or_else(|err| panic!("{err}: {hand}"));
            assert_eq!(read, e);
            let hand = event_json(&e, &serde_number);
            let ours: serde_json::Value = serde_json::from_str(&hand).unwrap();
            let serde: serde_json::Value = serde_json::to_value(&e).unwrap();
            assert_eq!(ours, serde);
        }
    }

    #[test]
    fn numbers_that_json_cannot_hold_are_null() {
        let mut e = event();
        e.revenue = Some(f64::NAN);
        e.data.insert("inf".into(), Scalar::Number(f64::INFINITY));
        let hand = event_json(&e, &rust_number);
        assert!(
            hand.contains("\"revenue\":null") && hand.contains("\"inf\":null"),
            "{hand}"
        );
        assert!(serde_json::from_str::<Event>(&hand).is_err());
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
