//! Delivery: the policy that gets every recorded event to the collector once, as a state machine
//! with no I/O (the way quinn-proto, str0m and h11 keep their protocols). It is told what
//! happened (an event recorded, the collector's answer, a request timed out, a timer fired, the
//! page hidden or shown, the browser back online, another tab's outbox adopted) and answers with
//! [`Action`]s (send this batch by fetch or by beacon, set the timer, write the outbox, settle the
//! flush waiters), which the browser layer carries out and nothing else. So every rule below has
//! a native test.
//!
//! The rules: events wait in the [`Outbox`] (write-ahead) and leave it only when the collector
//! answered for them. One batch is on the wire at a time. 2xx delivers; 408, 429, 5xx, a network
//! error or a timeout retries the same uids after a jittered, doubling pause (1 s to 60 s, never
//! sooner than `Retry-After`), and nothing else goes before the failed batch may go again; any
//! other 4xx drops the batch (retrying cannot help). A successful answer, the browser coming back
//! online or the page becoming visible again releases what waits out a pause at once. When the
//! page is hidden or goes away, what is left is handed to the beacon.

use std::collections::VecDeque;

use super::decimal;
use super::limits::MAX_KEEPALIVE_BYTES;
use super::outbox::{DropReason, Entry, Outbox};
use super::wire::{Batch, IngestReply, VERSION};

/// First retry delay.
pub const RETRY_BASE_MS: u64 = 1_000;
/// Longest retry delay.
pub const RETRY_MAX_MS: u64 = 60_000;
/// Longest `Retry-After` honoured, so that a wrong header cannot park events for days.
pub const RETRY_AFTER_MAX_MS: u64 = 60 * 60 * 1000;
/// A request that has not answered after this long is aborted and counts as a network error, so
/// that one hung request never stalls the outbox.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// After a beacon, the same events are not fetched again for this long (a tab hidden and shown
/// again would otherwise send them twice at once; the collector would answer duplicates).
pub const AFTER_BEACON_MS: u64 = 10_000;

/// What the collector's answer means for a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or already stored): remove the events.
    Delivered,
    /// Bad batch or event: remove the events, never retry.
    Refused,
    /// Try again later, not before `after_ms` when the collector said so.
    Retry {
        /// The collector's `Retry-After`, in ms.
        after_ms: Option<u64>,
    },
}

/// Reads a response: `status` is `None` for a network error; `retry_after` is the header.
pub fn outcome(status: Option<u16>, retry_after: Option<&str>) -> Outcome {
    match status {
        Some(200..=299) => Outcome::Delivered,
        Some(408 | 429) | Some(500..=599) | None => Outcome::Retry {
            after_ms: retry_after
                .and_then(|s| decimal::parse(s.trim_ascii()))
                .map(|s| s.saturating_mul(1000).min(RETRY_AFTER_MAX_MS)),
        },
        Some(400..=499) => Outcome::Refused,
        // 1xx/3xx never come back from fetch for a POST; treat anything odd as transient.
        Some(_) => Outcome::Retry { after_ms: None },
    }
}

/// Delay before retry number `attempt` (1 for the first retry): exponential from 1 s, capped at
/// 60 s, with equal jitter (`jitter` in `[0, 1)`) so that many pages recovering from one outage
/// do not all come back at the same instant; never sooner than the collector's `Retry-After`.
pub fn retry_delay(attempt: u32, jitter: f64, after_ms: Option<u64>) -> u64 {
    let exp = RETRY_BASE_MS
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(RETRY_MAX_MS);
    let half = exp / 2;
    let delay = half + (half as f64 * jitter.clamp(0.0, 1.0)) as u64;
    delay.max(after_ms.unwrap_or(0))
}

/// The collector's answer to a batch, as the browser layer read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// HTTP status; `None` for a network error or a request aborted after its timeout.
    pub status: Option<u16>,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The JSON answer of a 2xx: which uids were stored, duplicates or rejected.
    pub reply: Option<IngestReply>,
    /// The collector's own reason for a refusal or a failure (its JSON `error`), when it gave one.
    pub error: Option<String>,
}

/// A batch to send: the wire envelope with each event already serialized.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// Names the request, for [`Delivery::answered`] and [`Delivery::timed_out`].
    pub request: u64,
    /// The envelope; each event is its JSON text, as the outbox keeps it.
    pub batch: Batch<String>,
    /// The events' uids, in order.
    pub uids: Vec<String>,
    /// The envelope's size in bytes, events included.
    pub bytes: usize,
    /// Whether to send it with `keepalive` (so that it outlives the page): only small batches,
    /// since keepalive requests share 64 KiB in flight per page.
    pub keepalive: bool,
}

/// What the browser layer is to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// POST this batch with fetch; abort it after [`REQUEST_TIMEOUT_MS`] and report
    /// [`Delivery::timed_out`]; report the answer with [`Delivery::answered`].
    Send(Outgoing),
    /// Hand this batch to `navigator.sendBeacon` and report whether it took it with
    /// [`Delivery::beaconed`] before polling again.
    Beacon(Outgoing),
    /// Call [`Delivery::timer_fired`] at this time (Unix ms), replacing the timer set before.
    SetTimer(u64),
    /// Write the outbox's stored form ([`Delivery::outbox`]).
    Persist,
    /// Settle the `PT.flush()` waiters: `true` when the outbox is empty, `false` when an attempt
    /// failed or events wait out a pause.
    Flushed(bool),
    /// The collector stored these (or had them already): they count for sure.
    Delivered {
        /// The events, out of the outbox.
        entries: Vec<Entry>,
        /// How many of them the collector already had (a retry, or a once-per-lead event the
        /// transaction already had).
        duplicates: usize,
    },
    /// These left without being delivered: a once-per-lead event among them no longer counts.
    Dropped {
        /// The events.
        entries: Vec<Entry>,
        /// Why.
        reason: DropReason,
        /// The collector's reason, or the HTTP status, when it refused them.
        detail: String,
    },
    /// An attempt failed and will be repeated at `at`.
    Retrying {
        /// HTTP status, `None` for a network error or a timeout.
        status: Option<u16>,
        /// The collector's reason, or what went wrong on the way.
        detail: String,
        /// When the batch may go again.
        at: u64,
    },
    /// Events another tab could not deliver were taken over (how many).
    Adopted(usize),
    /// The browser refused a beacon (its quota): the rest waits for the next page.
    BeaconRefused(usize),
}

/// The batch on the wire.
#[derive(Debug)]
struct InFlight {
    request: u64,
    uids: Vec<String>,
    keepalive: bool,
}

/// The delivery state of one page's outbox.
#[derive(Debug)]
pub struct Delivery {
    campaign: String,
    outbox: Outbox,
    in_flight: Option<InFlight>,
    requests: u64,
    /// After a failed attempt nothing goes before this (Unix ms).
    paused_until: u64,
    /// When the timer is set for.
    timer: Option<u64>,
    /// The page is hidden (or going away): what is recorded now goes by beacon at once.
    hidden: bool,
    /// uids handed to a beacon since the page was last shown: the `visibilitychange` and
    /// `pagehide` of one unload beacon each event once.
    beaconed: Vec<String>,
    /// uids still to hand to the beacon, in order.
    to_beacon: Vec<String>,
    /// Someone waits on `PT.flush()`.
    flush_waiting: bool,
    /// The outbox changed since it was last written.
    dirty: bool,
    /// xorshift64 state for the retry jitter.
    rng: u64,
    actions: VecDeque<Action>,
}

impl Delivery {
    /// A page's delivery for `campaign`; `seed` (random, non-zero) drives the retry jitter.
    pub fn new(campaign: &str, seed: u64) -> Delivery {
        Delivery {
            campaign: campaign.to_owned(),
            outbox: Outbox::default(),
            in_flight: None,
            requests: 0,
            paused_until: 0,
            timer: None,
            hidden: false,
            beaconed: Vec::new(),
            to_beacon: Vec::new(),
            flush_waiting: false,
            dirty: false,
            rng: seed | 1,
            actions: VecDeque::new(),
        }
    }

    /// The outbox, for its stored form.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The next thing to do, until there is none.
    pub fn poll(&mut self, now: u64) -> Option<Action> {
        if let Some(a) = self.actions.pop_front() {
            return Some(a);
        }
        if self.to_beacon.is_empty() {
            return None;
        }
        let pending = std::mem::take(&mut self.to_beacon);
        let mut rest = Outbox::default();
        for e in self.outbox.entries() {
            if pending.contains(&e.uid) {
                rest.push(e.clone());
            }
        }
        let batch: Vec<&Entry> = rest.next_batch(u64::MAX);
        if batch.is_empty() {
            return None;
        }
        let out = self.outgoing(&batch, now);
        self.to_beacon = pending
            .into_iter()
            .filter(|u| !out.uids.contains(u))
            .collect();
        Some(Action::Beacon(out))
    }

    /// An event was recorded: it goes into the outbox (write-ahead). It is sent at the next
    /// [`Delivery::drive`], which the browser layer calls at the end of the calling task, so
    /// that the events one task records (a burst, the lead's first events) go as one batch.
    /// Its uid is new (a UUIDv7 just made): the outbox does not search for it.
    pub fn record(&mut self, entry: Entry) {
        // Recorded while the page is going away (the page's own unload handler): the beacon is
        // the only way out left.
        if self.hidden {
            self.to_beacon.push(entry.uid.clone());
        }
        let dropped = self.outbox.push_new(entry);
        self.dropped(dropped, DropReason::Full, String::new());
        self.dirty = true;
        self.persist();
    }

    /// Events another tab left behind (its page went away): taken over, due at once.
    pub fn adopt(&mut self, now: u64, entries: Vec<Entry>) {
        let n = entries.len();
        for mut e in entries {
            e.next_at = 0;
            let dropped = self.outbox.push(e);
            self.dropped(dropped, DropReason::Full, String::new());
        }
        if n > 0 {
            self.actions.push_back(Action::Adopted(n));
            self.dirty = true;
        }
        self.drive(now);
    }

    /// The visitor opted out: everything queued leaves unsent (a batch already on the wire
    /// cannot be called back), and nothing is due any more.
    pub fn discard_all(&mut self) {
        let uids: Vec<String> = self
            .outbox
            .entries()
            .iter()
            .map(|e| e.uid.clone())
            .collect();
        let entries = self.outbox.remove(&uids);
        self.to_beacon.clear();
        // Nothing waits out a pause any more.
        self.paused_until = 0;
        self.dropped(entries, DropReason::OptedOut, String::new());
        self.dirty = true;
        self.persist();
        self.settle_flush(true);
    }

    /// `PT.flush()`: settle once the outbox is empty or an attempt failed.
    pub fn flush(&mut self, now: u64) {
        self.flush_waiting = true;
        self.drive(now);
    }

    /// The collector answered request `request`. An answer to a request no longer on the wire (it
    /// timed out before) changes nothing: its events are still in the outbox and go again.
    pub fn answered(&mut self, now: u64, request: u64, answer: Answer) {
        let Some(flight) = self.take_flight(request) else {
            return;
        };
        // The collector's own reason with the status, for debug mode.
        let detail = || {
            let status = answer
                .status
                .map(|s| ["HTTP ", &decimal::string(s.into())].concat());
            match (status, &answer.error) {
                (Some(s), Some(e)) => [&s, ": ", e].concat(),
                (Some(s), None) => s,
                (None, Some(e)) => e.clone(),
                (None, None) => "network error".to_owned(),
            }
        };
        match outcome(answer.status, answer.retry_after.as_deref()) {
            Outcome::Delivered => {
                let mut entries = self.outbox.remove(&flight.uids);
                let reply = answer.reply.unwrap_or_default();
                for r in &reply.rejected {
                    let (refused, kept) = entries.into_iter().partition(|e| e.uid == r.uid);
                    entries = kept;
                    self.dropped(refused, DropReason::Refused, r.error.clone());
                }
                let duplicates = entries
                    .iter()
                    .filter(|e| reply.duplicates.contains(&e.uid))
                    .count();
                self.actions.push_back(Action::Delivered {
                    entries,
                    duplicates,
                });
                // The collector is back: what waits out a pause goes now, not up to 60 s later.
                self.release(now);
            }
            Outcome::Refused => {
                let gone = self.outbox.remove(&flight.uids);
                self.dropped(gone, DropReason::Refused, detail());
            }
            Outcome::Retry { after_ms } => {
                let jitter = self.jitter();
                self.paused_until = self.outbox.retry_later(&flight.uids, now, |attempt| {
                    retry_delay(attempt, jitter, after_ms)
                });
                self.actions.push_back(Action::Retrying {
                    status: answer.status,
                    detail: detail(),
                    at: self.paused_until,
                });
                // No answer at all (the network, or a page that broke `fetch`): the batch's first
                // failure also goes by the other way out, the beacon. It stays in the outbox for
                // fetch's retries; the collector answers whatever arrives twice as a duplicate.
                if answer.status.is_none() {
                    let first: Vec<String> = self
                        .outbox
                        .entries()
                        .iter()
                        .filter(|e| e.attempts == 1 && flight.uids.contains(&e.uid))
                        .map(|e| e.uid.clone())
                        .collect();
                    self.to_beacon.extend(first);
                }
            }
        }
        self.dirty = true;
        self.drive(now);
    }

    /// Request `request` did not answer in [`REQUEST_TIMEOUT_MS`] (the browser layer aborts it):
    /// a network error, retried later under the same uids.
    pub fn timed_out(&mut self, now: u64, request: u64) {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| f.request == request)
        {
            let answer = Answer {
                error: Some("timed out".to_owned()),
                ..Answer::default()
            };
            self.answered(now, request, answer);
        }
    }

    /// The timer set by [`Action::SetTimer`] fired.
    pub fn timer_fired(&mut self, now: u64) {
        self.timer = None;
        self.drive(now);
    }

    /// The browser is back online (`online`): what waits out a pause goes at once rather than
    /// when its backoff ends.
    pub fn released(&mut self, now: u64) {
        self.release(now);
        self.drive(now);
    }

    /// The page is visible again (or back from the back/forward cache): what waits goes at once,
    /// and the next hide beacons anew.
    pub fn shown(&mut self, now: u64) {
        self.hidden = false;
        self.beaconed.clear();
        self.released(now);
    }

    /// The page was hidden (`visibilitychange`) or is going away (`pagehide`): what is left goes
    /// by beacon ([`Action::Beacon`]), except a batch on the wire with keepalive, which outlives
    /// the page, and what an earlier beacon of this hide took. A batch without keepalive (a
    /// backlog) is cancelled with the page, so its events go by beacon too. Events stay in the
    /// outbox: a later page (or this one, shown again) sends them again under the same uids, so
    /// a beacon that silently failed loses nothing.
    pub fn hidden(&mut self) {
        self.hidden = true;
        let keepalive: &[String] = match &self.in_flight {
            Some(f) if f.keepalive => &f.uids,
            _ => &[],
        };
        let beaconed = &self.beaconed;
        self.to_beacon = self
            .outbox
            .entries()
            .iter()
            .filter(|e| !keepalive.contains(&e.uid) && !beaconed.contains(&e.uid))
            .map(|e| e.uid.clone())
            .collect();
    }

    /// The browser layer handed beacon `uids` over (`accepted`) or was refused (its quota).
    pub fn beaconed(&mut self, now: u64, uids: &[String], accepted: bool) {
        if accepted {
            // At hide the same events are not fetched again at once; after a failed fetch the
            // retry keeps its own schedule.
            if self.hidden {
                self.outbox.defer(uids, now + AFTER_BEACON_MS);
                self.beaconed.extend(uids.iter().cloned());
                self.dirty = true;
            }
        } else {
            self.to_beacon.clear();
            self.actions.push_back(Action::BeaconRefused(uids.len()));
        }
        self.persist();
    }

    fn take_flight(&mut self, request: u64) -> Option<InFlight> {
        match &self.in_flight {
            Some(f) if f.request == request => self.in_flight.take(),
            _ => None,
        }
    }

    fn release(&mut self, now: u64) {
        self.paused_until = 0;
        self.outbox.release(now);
    }

    fn dropped(&mut self, entries: Vec<Entry>, reason: DropReason, detail: String) {
        if !entries.is_empty() {
            self.actions.push_back(Action::Dropped {
                entries,
                reason,
                detail,
            });
        }
    }

    fn settle_flush(&mut self, empty: bool) {
        if std::mem::take(&mut self.flush_waiting) {
            self.actions.push_back(Action::Flushed(empty));
        }
    }

    fn arm(&mut self, at: u64) {
        if self.timer != Some(at) {
            self.timer = Some(at);
            self.actions.push_back(Action::SetTimer(at));
        }
    }

    fn persist(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.actions.push_back(Action::Persist);
        }
    }

    /// A number in `[0, 1)`.
    fn jitter(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn outgoing(&mut self, entries: &[&Entry], now: u64) -> Outgoing {
        self.requests += 1;
        let events: Vec<String> = entries.iter().map(|e| e.body.clone()).collect();
        let batch = Batch {
            v: VERSION,
            cid: self.campaign.clone(),
            sent_at: now,
            events,
        };
        let bytes = batch.json_len();
        Outgoing {
            request: self.requests,
            uids: entries.iter().map(|e| e.uid.clone()).collect(),
            batch,
            bytes,
            keepalive: bytes <= MAX_KEEPALIVE_BYTES,
        }
    }

    fn expire(&mut self, now: u64) {
        let expired = self.outbox.expire(now);
        if !expired.is_empty() {
            self.dirty = true;
            self.dropped(expired, DropReason::Expired, String::new());
        }
    }

    /// Sends the next batch if nothing is on the wire and one is due; otherwise sets the timer
    /// for when one will be. Every input but [`Delivery::record`] drives by itself.
    pub fn drive(&mut self, now: u64) {
        self.expire(now);
        if self.in_flight.is_none() {
            if now < self.paused_until {
                self.settle_flush(false);
                self.arm(self.paused_until);
            } else {
                let batch: Vec<Entry> = self.outbox.next_batch(now).into_iter().cloned().collect();
                if batch.is_empty() {
                    match self.outbox.next_due() {
                        None => self.settle_flush(true),
                        Some(due) => {
                            self.settle_flush(false);
                            self.arm(due);
                        }
                    }
                } else {
                    let refs: Vec<&Entry> = batch.iter().collect();
                    let out = self.outgoing(&refs, now);
                    self.in_flight = Some(InFlight {
                        request: out.request,
                        uids: out.uids.clone(),
                        keepalive: out.keepalive,
                    });
                    self.actions.push_back(Action::Send(out));
                }
            }
        }
        self.persist();
    }
}
