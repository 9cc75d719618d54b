//! Identity rules: which transaction (lead), visitor and session a page load belongs to, and which
//! once-per-lead events that lead has already fired.
//!
//! The record is kept in localStorage as one short line (no JSON parser needed in the browser);
//! the transaction ID is mirrored in a first-party cookie that bounds its life.

use super::decimal;
use super::text;

use super::ids::is_uuid;

/// A session ends after this long without an event.
pub const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;
const RECORD_VERSION: &str = "1";

/// The identity of the current lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Transaction (lead) ID.
    pub txn: String,
    /// When the transaction expires (Unix ms): its cookie's end of life.
    pub txn_expires: u64,
    /// Long-lived visitor ID.
    pub visitor: String,
    /// Session ID.
    pub session: String,
    /// When the last event was fired (Unix ms), for the session's idle timeout.
    pub last_seen: u64,
    /// Sequence number of the last event in this transaction.
    pub seq: u32,
    /// Once-per-lead events this transaction has fired.
    pub fired: Vec<String>,
    /// What this tab changed in `fired` since it last wrote the record (not stored): the stored
    /// record is the truth that tabs share, and these are laid over it at each merge, so that a
    /// tab's forget is not undone by another tab that merely read the event earlier.
    changes: FiredChanges,
}

/// Once-per-lead events fired (`added`) and forgotten (`removed`) by this tab, not yet written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FiredChanges {
    added: Vec<String>,
    removed: Vec<String>,
}

/// What the page offers to resume an identity from.
#[derive(Default)]
pub struct Sources<'a> {
    /// `transaction_id` URL parameter (cross-domain hand-off).
    pub url_txn: Option<&'a str>,
    /// The transaction cookie's value.
    pub cookie_txn: Option<&'a str>,
    /// The stored record, decoded.
    pub stored: Option<Identity>,
}

impl Identity {
    /// Resumes or creates the identity for a page load at `now`.
    ///
    /// The transaction comes from, in order: a valid `transaction_id` URL parameter, a valid
    /// cookie, the stored record while it has not expired (cookies blocked or cleared), or a new
    /// UUID. Fired once-per-lead events carry over only when the transaction does.
    pub fn resume(
        src: Sources<'_>,
        now: u64,
        cookie_days: u32,
        mut new_id: impl FnMut() -> String,
    ) -> Identity {
        let stored = src.stored;
        let from_page = src
            .url_txn
            .filter(|t| is_uuid(t))
            .or(src.cookie_txn.filter(|t| is_uuid(t)));
        let stored_alive = stored.as_ref().filter(|s| s.txn_expires > now);
        let (txn, same) = match (from_page, stored_alive) {
            (Some(t), Some(s)) => (t.to_owned(), s.txn == t),
            (Some(t), None) => (t.to_owned(), stored.as_ref().is_some_and(|s| s.txn == t)),
            (None, Some(s)) => (s.txn.clone(), true),
            (None, None) => (new_id(), false),
        };
        let visitor = stored
            .as_ref()
            .map(|s| s.visitor.clone())
            .unwrap_or_else(&mut new_id);
        let session = stored
            .as_ref()
            .filter(|s| now.saturating_sub(s.last_seen) < SESSION_IDLE_MS)
            .map(|s| s.session.clone())
            .unwrap_or_else(&mut new_id);
        let (txn_expires, seq, fired) = match stored.filter(|_| same) {
            Some(s) => (s.txn_expires.max(now + DAY_MS), s.seq, s.fired),
            None => (now + cookie_days as u64 * DAY_MS, 0, Vec::new()),
        };
        Identity {
            txn,
            txn_expires,
            visitor,
            session,
            last_seen: now,
            seq,
            fired,
            changes: FiredChanges::default(),
        }
    }

    /// Whether once-per-lead event `id` has fired for this transaction.
    pub fn has_fired(&self, id: &str) -> bool {
        self.fired.iter().any(|f| f == id)
    }

    /// Takes in what the tabs of the same lead recorded (`stored`, read back from storage): its
    /// fired once-per-lead events, with what this tab fired or forgot since it last wrote laid
    /// over them, and its sequence number; so that a once event fired in one tab is not fired
    /// again in another, and one a tab forgot is not brought back by another. A record of
    /// another transaction changes nothing.
    pub fn merge(&mut self, stored: &Identity) {
        if stored.txn != self.txn {
            return;
        }
        let mut fired = Vec::new();
        for f in stored.fired.iter().chain(&self.changes.added) {
            if !self.changes.removed.contains(f) && !fired.contains(f) {
                fired.push(f.clone());
            }
        }
        self.fired = fired;
        self.seq = self.seq.max(stored.seq);
    }

    /// The record was written: what this tab changed is now in it.
    pub fn written(&mut self) {
        self.changes = FiredChanges::default();
    }

    /// Once-per-lead event `id` was not delivered (the collector refused it, or it was dropped
    /// undelivered): it no longer counts as fired, so that the lead can fire it again, say once
    /// the operator has allowed the page's origin. What makes it count for sure is the
    /// collector's answer: stored, or a duplicate of one stored before.
    pub fn forget(&mut self, id: &str) {
        self.fired.retain(|f| f != id);
        self.changes.added.retain(|f| f != id);
        self.changes.removed.push(id.to_owned());
    }

    /// Once-per-lead events another page of this lead fired (a parent frame's, handed over):
    /// they count as fired here too.
    pub fn adopt_fired(&mut self, fired: &[String]) {
        for id in fired {
            if !self.has_fired(id) {
                self.fired.push(id.clone());
                self.changes.removed.retain(|f| f != id);
                self.changes.added.push(id.clone());
            }
        }
    }

    /// Records an event fired at `now` and returns its sequence number.
    pub fn note_event(&mut self, id: &str, once: bool, now: u64) -> u32 {
        if once && !self.has_fired(id) {
            self.fired.push(id.to_owned());
            self.changes.removed.retain(|f| f != id);
            self.changes.added.push(id.to_owned());
        }
        self.last_seen = now;
        self.seq += 1;
        self.seq
    }

    /// The storage record: `1|txn|expires|visitor|session|last_seen|seq|fired,ids`.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(160);
        for part in [
            RECORD_VERSION,
            &self.txn,
            &decimal::string(self.txn_expires),
            &self.visitor,
            &self.session,
            &decimal::string(self.last_seen),
            &decimal::string(self.seq.into()),
        ] {
            s.push_str(part);
            s.push('|');
        }
        for (i, id) in self.fired.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(id);
        }
        s
    }

    /// Reads a storage record; `None` for anything that is not a well-formed current record.
    pub fn decode(s: &str) -> Option<Identity> {
        let mut it = text::split(s, b'|');
        if it.next()? != RECORD_VERSION {
            return None;
        }
        let txn = it.next().filter(|t| is_uuid(t))?.to_owned();
        let txn_expires = decimal::parse(it.next()?)?;
        let visitor = it.next().filter(|t| is_uuid(t))?.to_owned();
        let session = it.next().filter(|t| is_uuid(t))?.to_owned();
        let last_seen = decimal::parse(it.next()?)?;
        let seq = decimal::parse_u32(it.next()?)?;
        let fired = text::split(it.next()?, b',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if it.next().is_some() {
            return None;
        }
        Some(Identity {
            txn,
            txn_expires,
            visitor,
            session,
            last_seen,
            seq,
            fired,
            changes: FiredChanges::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::uuid_v4;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0u8;
        move || {
            n += 1;
            uuid_v4([n; 16])
        }
    }

    const NOW: u64 = 1_764_190_000_000;

    #[test]
    fn a_new_visitor_gets_a_new_transaction() {
        let id = Identity::resume(Sources::default(), NOW, 30, ids());
        assert!(is_uuid(&id.txn));
        assert_ne!(id.txn, id.visitor);
        assert_ne!(id.visitor, id.session);
        assert_eq!(id.txn_expires, NOW + 30 * DAY_MS);
        assert!(id.fired.is_empty());
    }

    #[test]
    fn events_a_parent_frame_fired_count_here_and_survive_a_merge() {
        let mut id = Identity::resume(Sources::default(), NOW, 30, ids());
        id.note_event("quote", true, NOW);
        id.adopt_fired(&[
            "base".to_string(),
            "quote".to_string(),
            "click_sold".to_string(),
        ]);
        assert_eq!(id.fired, ["quote", "base", "click_sold"]);
        assert_eq!(id.seq, 1, "adopting fires nothing");
        // A stored record of the same lead that lacks them does not take them away.
        let mut stored = id.clone();
        stored.fired.clear();
        id.merge(&stored);
        assert!(id.has_fired("base") && id.has_fired("click_sold"));
    }

    #[test]
    fn a_reload_resumes_everything() {
        let mut first = Identity::resume(Sources::default(), NOW, 30, ids());
        first.note_event("base", true, NOW);
        let src = Sources {
            cookie_txn: Some(&first.txn),
            stored: Some(first.clone()),
            ..Default::default()
        };
        let again = Identity::resume(src, NOW + 60_000, 30, || unreachable!());
        assert_eq!(again.txn, first.txn);
        assert_eq!(again.session, first.session);
        assert!(again.has_fired("base"));
        assert_eq!(again.seq, 1);
    }

    #[test]
    fn url_transaction_wins_and_resets_fired_events() {
        let mut first = Identity::resume(Sources::default(), NOW, 30, ids());
        first.note_event("base", true, NOW);
        let handed = uuid_v4([99; 16]);
        let src = Sources {
            url_txn: Some(&handed),
            cookie_txn: Some(&first.txn),
            stored: Some(first.clone()),
        };
        let id = Identity::resume(src, NOW, 30, ids());
        assert_eq!(id.txn, handed);
        assert_eq!(id.visitor, first.visitor);
        assert!(id.fired.is_empty());
        // A malformed URL value is ignored.
        let src = Sources {
            url_txn: Some("<script>"),
            cookie_txn: Some(&first.txn),
            stored: Some(first.clone()),
        };
        assert_eq!(Identity::resume(src, NOW, 30, ids()).txn, first.txn);
    }

    #[test]
    fn storage_mirror_covers_a_lost_cookie_until_expiry() {
        let first = Identity::resume(Sources::default(), NOW, 1, ids());
        let src = |s: &Identity| Sources {
            stored: Some(s.clone()),
            ..Default::default()
        };
        assert_eq!(
            Identity::resume(src(&first), NOW + 1000, 1, ids()).txn,
            first.txn
        );
        let later = Identity::resume(src(&first), NOW + 2 * DAY_MS, 1, || uuid_v4([200; 16]));
        assert_ne!(later.txn, first.txn);
        assert_eq!(later.visitor, first.visitor);
        assert_ne!(later.session, first.session, "idle for two days");
    }

    #[test]
    fn session_ends_after_thirty_idle_minutes() {
        let first = Identity::resume(Sources::default(), NOW, 30, ids());
        let src = |s: &Identity| Sources {
            cookie_txn: None,
            stored: Some(s.clone()),
            url_txn: None,
        };
        let soon = Identity::resume(src(&first), NOW + SESSION_IDLE_MS - 1, 30, ids());
        assert_eq!(soon.session, first.session);
        let late = Identity::resume(src(&first), NOW + SESSION_IDLE_MS, 30, || {
            uuid_v4([200; 16])
        });
        assert_ne!(late.session, first.session);
        assert_eq!(late.txn, first.txn);
    }

    #[test]
    fn another_tabs_record_is_merged_only_for_the_same_lead() {
        let mut a = Identity::resume(Sources::default(), NOW, 30, ids());
        let mut b = a.clone();
        a.note_event("base", true, NOW);
        b.note_event("quote", false, NOW);
        b.note_event("purchase", true, NOW);
        b.note_event("quote", false, NOW);
        a.merge(&b);
        assert!(a.has_fired("base") && a.has_fired("purchase"));
        assert_eq!(a.seq, 3);
        let mut other = Identity::resume(Sources::default(), NOW, 30, || uuid_v4([77; 16]));
        other.note_event("signup", true, NOW);
        a.merge(&other);
        assert!(!a.has_fired("signup"));
    }

    #[test]
    fn a_refused_once_per_lead_event_can_fire_again() {
        let mut id = Identity::resume(Sources::default(), NOW, 30, ids());
        id.note_event("base", true, NOW);
        id.note_event("purchase", true, NOW);
        assert!(id.has_fired("base"));
        id.forget("base");
        assert!(!id.has_fired("base"));
        assert!(id.has_fired("purchase"));
        let back = Identity::decode(&id.encode()).unwrap();
        assert_eq!(back.fired, ["purchase"]);
    }

    #[test]
    fn a_once_event_one_tab_forgot_is_not_brought_back_by_another() {
        let mut a = Identity::resume(Sources::default(), NOW, 30, ids());
        a.note_event("base", true, NOW);
        let mut stored = Identity::decode(&a.encode()).unwrap();
        a.written();
        // Tab b of the same lead reads the record (base fired) and fires an event of its own.
        let mut b = Identity::decode(&stored.encode()).unwrap();
        b.merge(&stored);
        assert!(b.has_fired("base"));
        b.note_event("purchase", true, NOW);
        // Tab a's base is refused: forgotten, merged with the record and written.
        a.forget("base");
        a.merge(&stored);
        stored = Identity::decode(&a.encode()).unwrap();
        a.written();
        assert!(!stored.has_fired("base"));
        // Tab b writes: it keeps its own purchase and does not bring base back.
        b.merge(&stored);
        assert!(!b.has_fired("base") && b.has_fired("purchase"));
        stored = Identity::decode(&b.encode()).unwrap();
        b.written();
        assert_eq!(stored.fired, ["purchase"]);
        // Once written, the record is the truth: a later forget elsewhere reaches b too.
        let mut c = stored.clone();
        c.forget("purchase");
        b.merge(&Identity::decode(&c.encode()).unwrap());
        assert!(!b.has_fired("purchase"));
        // What b fires and has not written yet survives a merge with an older record.
        b.note_event("signup", true, NOW);
        b.merge(&stored);
        assert!(b.has_fired("signup") && b.has_fired("purchase"));
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let mut id = Identity::resume(Sources::default(), NOW, 30, ids());
        id.note_event("base", true, NOW);
        id.note_event("click_sold", true, NOW);
        id.note_event("quote", false, NOW);
        assert_eq!(id.seq, 3);
        // The record holds everything but this tab's unwritten changes.
        id.written();
        assert_eq!(Identity::decode(&id.encode()), Some(id.clone()));
        for bad in [
            "",
            "2|x",
            "1|not-uuid|1|a|b|1|1|",
            &id.encode().replace("|3|", "|x|"),
            &format!("{}|extra", id.encode()),
        ] {
            assert_eq!(Identity::decode(bad), None, "{bad}");
        }
    }
}
