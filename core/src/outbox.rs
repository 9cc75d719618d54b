//! The outbox: every event is written here before it is sent and leaves only when the collector
//! has answered for it. It is bounded (count and bytes), ordered, and knows when each entry may
//! be tried again. Its stored copy is bounded more tightly than the memory one: a burst larger
//! than the stored bound is still delivered while the page is open, without crowding out the
//! host page's own storage.
//!
//! Entries hold their event already serialized (by the browser's `JSON.stringify`), so the size
//! of a batch is known exactly. The stored form is one entry per line (`uid TAB attempts TAB
//! next_at TAB created TAB once TAB body`, `once` empty for a multi-trigger event; lines without
//! it, as written before it existed, are still read): JSON.stringify never leaves a raw tab or
//! newline in its output, and a line format needs no JSON parser in the browser build.

use super::decimal;
use super::text;

use super::limits::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

/// Upper bound of a batch's envelope around its events (`{"v":1,"cid":…,"sent_at":…,"events":[]}`).
pub const ENVELOPE_BYTES: usize = 128;
/// Most entries kept in memory; beyond it the oldest is dropped.
pub const MAX_ENTRIES: usize = 2000;
/// Most bytes of event bodies kept in memory; beyond it the oldest are dropped.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes of the stored form (the oldest entries that fit; the rest wait in memory). Well
/// below the 5 MB a site's localStorage gets, so the outbox never crowds out the host page's
/// own data.
pub const MAX_STORED_BYTES: usize = 256 * 1024;
/// An event still undelivered after a week is dropped.
pub const MAX_AGE_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// One event waiting for the collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The event's uid.
    pub uid: String,
    /// The event, serialized as on the wire.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be sent before this time (Unix ms).
    pub next_at: u64,
    /// When it was fired (Unix ms).
    pub created: u64,
    /// The event's ID when it is a once-per-lead event: the lead counts it as fired only while
    /// it may still be delivered, so a refused or dropped one can fire again.
    pub once: Option<String>,
}

/// The ordered, bounded queue of undelivered events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: Vec<Entry>,
    /// The sum of the entries' body lengths, kept rather than summed at each push: a burst
    /// pushes thousands of events, and summing made it quadratic.
    bytes: usize,
}

/// Why an entry left the outbox without being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The outbox was full.
    Full,
    /// It was older than `MAX_AGE_MS`.
    Expired,
    /// The collector refused it (a 4xx other than 408/429).
    Refused,
    /// The visitor opted out (`PT.optOut()`): nothing queued is sent.
    OptedOut,
}

impl DropReason {
    /// For debug logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Full => "outbox full, dropped",
            DropReason::Expired => "undelivered for 7 days, dropped",
            DropReason::Refused => "collector refused the batch, dropped",
            DropReason::OptedOut => "the visitor opted out, dropped",
        }
    }
}

impl Outbox {
    /// Entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn take_where(&mut self, gone: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let (gone, kept): (Vec<Entry>, _) = core::mem::take(&mut self.entries)
            .into_iter()
            .partition(gone);
        self.entries = kept;
        self.bytes -= gone.iter().map(|e| e.body.len()).sum::<usize>();
        gone
    }

    /// Adds an entry (unless its uid is already here) and returns what had to be dropped, the
    /// oldest first, to stay within the bounds.
    pub fn push(&mut self, entry: Entry) -> Vec<Entry> {
        if self.entries.iter().any(|e| e.uid == entry.uid) {
            return Vec::new();
        }
        self.push_new(entry)
    }

    /// [`Outbox::push`] of an entry whose uid was just made (a UUIDv7 cannot be here already):
    /// no search of the outbox, so that a burst of recorded events stays linear.
    pub fn push_new(&mut self, entry: Entry) -> Vec<Entry> {
        self.bytes += entry.body.len();
        self.entries.push(entry);
        // The oldest go until the rest fits (taken by iterator: `Vec::remove` carries a
        // formatted panic message into the wasm).
        let (mut count, mut bytes) = (self.entries.len(), self.bytes);
        let mut excess = 0;
        for e in &self.entries {
            if count <= MAX_ENTRIES && bytes <= MAX_BYTES {
                break;
            }
            count -= 1;
            bytes -= e.body.len();
            excess += 1;
        }
        if excess == 0 {
            return Vec::new();
        }
        self.bytes = bytes;
        let mut all = core::mem::take(&mut self.entries).into_iter();
        let dropped = all.by_ref().take(excess).collect();
        self.entries = all.collect();
        dropped
    }

    /// The uids of the next batch due at `now`: due entries in order, as many as fit the batch
    /// limits. An entry too large for any batch goes alone (the collector answers 413 and it is
    /// dropped rather than blocking the queue).
    pub fn next_batch(&self, now: u64) -> Vec<&Entry> {
        let mut size = ENVELOPE_BYTES;
        let mut batch = Vec::new();
        for e in self.entries.iter().filter(|e| e.next_at <= now) {
            if !batch.is_empty()
                && (size + e.body.len() + 1 > MAX_BATCH_BYTES || batch.len() == MAX_BATCH_EVENTS)
            {
                break;
            }
            size += e.body.len() + 1;
            batch.push(e);
        }
        batch
    }

    /// Removes the entries with these uids and returns them.
    pub fn remove(&mut self, uids: &[String]) -> Vec<Entry> {
        self.take_where(|e| uids.contains(&e.uid))
    }

    /// Counts a failed attempt for these uids and sets when each may go again. Returns the
    /// earliest of those times (`now` when none of them is here): until then nothing else is
    /// sent either, since what failed one batch (a dropped network, a collector answering 503)
    /// would fail the next.
    pub fn retry_later(&mut self, uids: &[String], now: u64, delay_ms: impl Fn(u32) -> u64) -> u64 {
        let mut until = None;
        for e in self.entries.iter_mut().filter(|e| uids.contains(&e.uid)) {
            e.attempts += 1;
            e.next_at = now + delay_ms(e.attempts);
            until = Some(until.map_or(e.next_at, |u: u64| u.min(e.next_at)));
        }
        until.unwrap_or(now)
    }

    /// Holds these uids back until `next_at` without counting a failed attempt (they were handed
    /// to a beacon, which may or may not deliver them).
    pub fn defer(&mut self, uids: &[String], next_at: u64) {
        for e in self.entries.iter_mut().filter(|e| uids.contains(&e.uid)) {
            e.next_at = e.next_at.max(next_at);
        }
    }

    /// The collector answered again: entries waiting out a backoff may go now (they keep their
    /// attempt counts, so a relapse backs off from where it was).
    pub fn release(&mut self, now: u64) {
        for e in self.entries.iter_mut().filter(|e| e.attempts > 0) {
            e.next_at = e.next_at.min(now);
        }
    }

    /// When the earliest entry is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.entries.iter().map(|e| e.next_at).min()
    }

    /// Drops entries older than `MAX_AGE_MS` and returns them.
    pub fn expire(&mut self, now: u64) -> Vec<Entry> {
        let old = |e: &Entry| now.saturating_sub(e.created) > MAX_AGE_MS;
        if !self.entries.iter().any(old) {
            return Vec::new();
        }
        self.take_where(old)
    }

    /// The stored form: the oldest entries that fit `MAX_STORED_BYTES`.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(self.bytes().min(MAX_STORED_BYTES));
        for e in &self.entries {
            let once = e.once.as_deref().unwrap_or("");
            // uid, three numbers, tabs and newline: at most 36 + 10 + 20 + 20 + 6 bytes.
            if s.len() + e.body.len() + once.len() + 92 > MAX_STORED_BYTES {
                break;
            }
            for part in [
                e.uid.as_str(),
                &decimal::string(e.attempts.into()),
                &decimal::string(e.next_at),
                &decimal::string(e.created),
                once,
            ] {
                s.push_str(part);
                s.push('\t');
            }
            s.push_str(&e.body);
            s.push('\n');
        }
        s
    }

    /// Reads the stored form, skipping lines that are not well formed (a truncated write or a
    /// foreign value under our key must not stop the rest from being delivered).
    pub fn decode(s: &str) -> Outbox {
        let mut outbox = Outbox::default();
        for line in text::split(s, b'\n') {
            let parsed = (|| {
                let (uid, rest) = text::split_once(line, b'\t')?;
                let (attempts, rest) = text::split_once(rest, b'\t')?;
                let (next_at, rest) = text::split_once(rest, b'\t')?;
                let (created, rest) = text::split_once(rest, b'\t')?;
                let (once, body) = match rest.starts_with('{') {
                    true => ("", rest),
                    false => text::split_once(rest, b'\t')?,
                };
                Some(Entry {
                    once: Some(once).filter(|o| !o.is_empty()).map(str::to_owned),
                    uid: Some(uid).filter(|u| !u.is_empty())?.to_owned(),
                    attempts: decimal::parse_u32(attempts)?,
                    next_at: decimal::parse(next_at)?,
                    created: decimal::parse(created)?,
                    body: Some(body).filter(|b| b.starts_with('{'))?.to_owned(),
                })
            })();
            if let Some(e) = parsed {
                outbox.push(e);
            }
        }
        outbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, body_len: usize) -> Entry {
        Entry {
            uid: format!("u{n}"),
            body: format!("{{{}}}", "x".repeat(body_len.saturating_sub(2))),
            attempts: 0,
            next_at: 0,
            created: 1_000,
            once: None,
        }
    }

    fn uids(v: &[&Entry]) -> Vec<String> {
        v.iter().map(|e| e.uid.clone()).collect()
    }

    #[test]
    fn keeps_order_and_ignores_a_repeated_uid() {
        let mut o = Outbox::default();
        for n in 0..3 {
            assert!(o.push(entry(n, 10)).is_empty());
        }
        o.push(entry(1, 10));
        assert_eq!(uids(&o.next_batch(0)), ["u0", "u1", "u2"]);
    }

    #[test]
    fn bounded_in_count_and_bytes_dropping_the_oldest() {
        let mut o = Outbox::default();
        let mut dropped = Vec::new();
        for n in 0..MAX_ENTRIES + 5 {
            dropped.extend(o.push(entry(n, 10)));
        }
        assert_eq!(o.len(), MAX_ENTRIES);
        assert_eq!(
            dropped.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>(),
            ["u0", "u1", "u2", "u3", "u4"]
        );
        let mut o = Outbox::default();
        for n in 0..60 {
            o.push(entry(n, 40 * 1024));
        }
        assert!(o.bytes() <= MAX_BYTES);
        assert_eq!(o.entries()[0].uid, "u9");
    }

    #[test]
    fn the_byte_count_follows_every_change() {
        let sum = |o: &Outbox| o.entries().iter().map(|e| e.body.len()).sum::<usize>();
        let mut o = Outbox::default();
        for n in 0..60 {
            o.push_new(entry(n, 40 * 1024 + n));
            assert_eq!(o.bytes(), sum(&o));
        }
        o.push(entry(59, 5));
        o.remove(&["u20".into(), "u21".into(), "nobody".into()]);
        assert_eq!(o.bytes(), sum(&o));
        o.push(Entry {
            created: 0,
            ..entry(100, 300)
        });
        assert_eq!(o.expire(MAX_AGE_MS + 500).len(), 1);
        assert_eq!(o.bytes(), sum(&o));
        let stored = Outbox::decode(&o.encode());
        assert_eq!(stored.bytes(), sum(&stored));
    }

    #[test]
    fn the_stored_form_keeps_the_oldest_that_fit_its_bound() {
        let mut o = Outbox::default();
        for n in 0..20 {
            o.push(entry(n, 30 * 1024));
        }
        assert_eq!(o.len(), 20);
        let text = o.encode();
        assert!(text.len() <= MAX_STORED_BYTES);
        let stored = Outbox::decode(&text);
        assert_eq!(stored.len(), 8);
        assert_eq!(stored.entries(), &o.entries()[..8]);
    }

    #[test]
    fn batches_stay_under_the_keepalive_budget() {
        let mut o = Outbox::default();
        for n in 0..5 {
            o.push(entry(n, 12 * 1024));
        }
        let b = o.next_batch(0);
        assert_eq!(uids(&b), ["u0", "u1"]);
        let size: usize = ENVELOPE_BYTES + b.iter().map(|e| e.body.len() + 1).sum::<usize>();
        assert!(size <= MAX_BATCH_BYTES);
        let mut o = Outbox::default();
        for n in 0..150 {
            o.push(entry(n, 10));
        }
        assert_eq!(o.next_batch(0).len(), MAX_BATCH_EVENTS);
        // One event over the limit still goes, alone, so that it cannot block the queue.
        let mut o = Outbox::default();
        o.push(entry(0, 60 * 1024));
        o.push(entry(1, 10));
        assert_eq!(uids(&o.next_batch(0)), ["u0"]);
    }

    #[test]
    fn retry_schedule_and_due_times() {
        let mut o = Outbox::default();
        o.push(entry(0, 10));
        o.push(entry(1, 10));
        // The failed batch's earliest retry: until then nothing else goes either.
        assert_eq!(
            o.retry_later(&["u0".into()], 5_000, |a| a as u64 * 1000),
            6_000
        );
        assert_eq!(o.entries()[0].attempts, 1);
        assert_eq!(o.next_due(), Some(0));
        assert_eq!(uids(&o.next_batch(5_000)), ["u1"]);
        assert_eq!(uids(&o.next_batch(6_000)), ["u0", "u1"]);
        assert_eq!(o.remove(&["u1".into()]).len(), 1);
        assert_eq!(o.next_due(), Some(6_000));
        assert!(o.next_batch(5_999).is_empty());
        o.release(7_000);
        assert_eq!(
            o.next_due(),
            Some(6_000),
            "released entries are due at once"
        );
        assert_eq!(o.retry_later(&["u0".into()], 6_000, |_| 20_000), 26_000);
        assert_eq!(o.retry_later(&["gone".into()], 6_500, |_| 1), 6_500);
        o.release(7_000);
        assert_eq!(o.next_due(), Some(7_000));
        assert_eq!(
            o.entries()[0].attempts,
            2,
            "a release keeps the attempt count"
        );
        o.defer(&["u0".into()], 9_000);
        assert_eq!(
            o.entries()[0].attempts,
            2,
            "a deferral is not a failed attempt"
        );
        assert_eq!(o.next_due(), Some(9_000));
    }

    #[test]
    fn old_entries_expire() {
        let mut o = Outbox::default();
        o.push(entry(0, 10));
        let mut young = entry(1, 10);
        young.created = MAX_AGE_MS;
        o.push(young);
        assert!(o.expire(MAX_AGE_MS).is_empty());
        assert_eq!(o.expire(MAX_AGE_MS + 1_001)[0].uid, "u0");
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn stored_form_round_trips_and_skips_damage() {
        let mut o = Outbox::default();
        o.push(entry(0, 10));
        let mut e = entry(1, 30);
        e.attempts = 3;
        e.next_at = 77;
        e.once = Some("purchase".into());
        o.push(e);
        let text = o.encode();
        assert_eq!(Outbox::decode(&text), o);
        // A line written before `once` existed is still read.
        let old = "u7\t0\t0\t5\t{\"a\":1}\n";
        assert_eq!(Outbox::decode(old).entries()[0].body, "{\"a\":1}");
        let damaged = format!("garbage\nu9\tx\t1\t1\t{{}}\n{text}u8\t1\t1\t1");
        assert_eq!(Outbox::decode(&damaged), o);
    }
}
