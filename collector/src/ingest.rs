//! Validation of incoming batches: every field of every event, against the limits the
//! clickscript respects (`clickscript_core::limits`) and the campaign's catalog.

use clickscript_core::event::Event;
use clickscript_core::ids::{is_uuid, is_valid_id};
use clickscript_core::limits::*;
use clickscript_core::wire::{Batch, Rejection, VERSION};
use serde_json::value::RawValue;

use crate::catalog::Campaign;
use crate::store::NewEvent;

/// The batch as read: the wire's own type (`clickscript_core::wire::Batch`), its events left
/// unparsed and checked one by one, so that one bad event does not sink the rest of the batch.
pub type Envelope<'a> = Batch<&'a RawValue>;

/// A batch-level problem: the HTTP status and the message.
pub struct BatchError(pub u16, pub String);

/// Reads the envelope.
pub fn envelope(body: &[u8]) -> Result<Envelope<'_>, BatchError> {
    let env: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|e| BatchError(400, format!("malformed batch: {e}")))?;
    if env.v != VERSION {
        return Err(BatchError(
            400,
            format!("unsupported wire version {}", env.v),
        ));
    }
    if env.events.len() > MAX_BATCH_EVENTS {
        return Err(BatchError(
            413,
            format!(
                "too many events: {} (at most {MAX_BATCH_EVENTS})",
                env.events.len()
            ),
        ));
    }
    Ok(env)
}

const MIN_TS: u64 = 1_577_836_800_000; // 2020-01-01
const MAX_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

fn check_len(field: &str, s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        Err(format!("{field}: longer than {max} bytes"))
    } else {
        Ok(())
    }
}

/// Checks one event; on success returns it ready to store.
pub fn event(raw: &RawValue, campaign: &Campaign, now_ms: u64) -> Result<NewEvent, Rejection> {
    // The uid, if readable, names the rejection so that the clickscript can log it.
    let uid_of = || {
        serde_json::from_str::<serde_json::Value>(raw.get())
            .ok()
            .and_then(|v| v.get("uid").and_then(|u| u.as_str()).map(str::to_owned))
            .unwrap_or_default()
    };
    let reject = |error: String| Rejection {
        uid: uid_of(),
        error,
    };
    let e: Event =
        serde_json::from_str(raw.get()).map_err(|e| reject(format!("malformed event: {e}")))?;
    let checks = || -> Result<(), String> {
        if !is_uuid(&e.uid) {
            return Err("uid: not a UUID".into());
        }
        for (field, v) in [
            ("txn", &e.txn),
            ("visitor", &e.visitor),
            ("session", &e.session),
        ] {
            if !is_uuid(v) {
                return Err(format!("{field}: not a UUID"));
            }
        }
        if !is_valid_id(&e.event_id) {
            return Err("event_id: not a valid ID".into());
        }
        let Some(def) = campaign.config.event(&e.event_id) else {
            return Err(format!(
                "event_id: {:?} is not an event of campaign {:?}",
                e.event_id, campaign.config.campaign
            ));
        };
        if def.scope != e.scope {
            return Err(format!(
                "scope: {:?} is {:?}, not {:?}",
                e.event_id, def.scope, e.scope
            ));
        }
        if def.category != e.category {
            return Err(format!(
                "category: {:?} is {}, not {}",
                e.event_id,
                def.category.as_str(),
                e.category.as_str()
            ));
        }
        if e.ts < MIN_TS || e.ts > now_ms + MAX_SKEW_MS {
            return Err("ts: not a plausible Unix time in ms".into());
        }
        check_len("page.url", &e.page.url, MAX_URL_LEN)?;
        check_len("page.referrer", &e.page.referrer, MAX_URL_LEN)?;
        check_len("page.title", &e.page.title, MAX_TEXT_LEN)?;
        for (field, v) in [
            ("page.language", &e.page.language),
            ("page.time_zone", &e.page.time_zone),
            ("page.screen", &e.page.screen),
            ("page.viewport", &e.page.viewport),
        ] {
            check_len(field, v, 64)?;
        }
        for (field, map) in [
            ("attribution.params", &e.attribution.params),
            ("attribution.click_ids", &e.attribution.click_ids),
        ] {
            if map.len() > MAX_FIELDS {
                return Err(format!("{field}: more than {MAX_FIELDS} entries"));
            }
            for (k, v) in map.iter() {
                check_len(field, k, MAX_KEY_LEN)?;
                check_len(field, v, MAX_TEXT_LEN)?;
            }
        }
        if e.data.len() > MAX_FIELDS {
            return Err(format!("data: more than {MAX_FIELDS} fields"));
        }
        for (k, v) in e.data.iter() {
            check_len("data key", k, MAX_KEY_LEN)?;
            match v {
                clickscript_core::event::Scalar::Text(s) => {
                    check_len("data value", s, MAX_TEXT_LEN)?
                }
                clickscript_core::event::Scalar::Number(n) if !n.is_finite() => {
                    return Err("data: numbers must be finite".into())
                }
                _ => {}
            }
        }
        for (field, amount) in [("revenue", e.revenue), ("payout", e.payout)] {
            if matches!(amount, Some(r) if !r.is_finite() || r < 0.0) {
                return Err(format!("{field}: must be a non-negative number"));
            }
        }
        if let Some(c) = &e.consent {
            c.validate()?;
        }
        // A campaign that sends only the Base Event for visitors with GPC takes nothing else.
        let cfg = &campaign.config;
        let has_data = !e.data.is_empty() || e.consent.is_some();
        if !cfg
            .gpc
            .allows(e.gpc, &e.event_id, &cfg.system.base, has_data)
        {
            return Err(
                "gpc: this campaign takes only the Base Event, without data, from visitors with Global Privacy Control"
                    .into(),
            );
        }
        Ok(())
    };
    checks().map_err(|error| Rejection {
        uid: e.uid.clone(),
        error,
    })?;
    let once = campaign.config.event(&e.event_id).is_some_and(|d| !d.multi);
    let body = serde_json::to_string(&e).map_err(|err| Rejection {
        uid: e.uid.clone(),
        error: err.to_string(),
    })?;
    let postbacks = crate::postback::calls(&campaign.postbacks, &e, &campaign.config.campaign);
    Ok(NewEvent {
        postbacks,
        category: e.category.as_str(),
        campaign: campaign.config.campaign.clone(),
        once,
        ts: e.ts,
        body,
        uid: e.uid,
        event_id: e.event_id,
        txn: e.txn,
    })
}
