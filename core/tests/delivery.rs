//! The delivery state machine, one test per rule the README promises. Time is a number here: each
//! test drives the machine through the inputs a page would give it and reads the actions.

use clickscript_core::delivery::*;
use clickscript_core::limits::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_KEEPALIVE_BYTES};
use clickscript_core::outbox::{DropReason, Entry, MAX_AGE_MS, MAX_ENTRIES};
use clickscript_core::wire::{IngestReply, Rejection};

const T0: u64 = 1_764_190_000_000;

fn entry(n: usize, body_len: usize) -> Entry {
    let head = format!("{{\"uid\":\"u{n}\",\"pad\":\"");
    let pad = body_len.saturating_sub(head.len() + 2);
    Entry {
        uid: format!("u{n}"),
        body: format!("{head}{}\"}}", "x".repeat(pad)),
        attempts: 0,
        next_at: 0,
        created: T0,
        once: None,
    }
}

fn once(n: usize, id: &str) -> Entry {
    Entry {
        once: Some(id.into()),
        ..entry(n, 100)
    }
}

/// Every action until there is none (beacons included, each reported as taken).
fn actions(d: &mut Delivery, now: u64) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(a) = d.poll(now) {
        if let Action::Beacon(b) = &a {
            d.beaconed(now, &b.uids, true);
        }
        out.push(a);
    }
    out
}

fn sends(actions: &[Action]) -> Vec<Outgoing> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn one_send(actions: &[Action]) -> Outgoing {
    let s = sends(actions);
    assert_eq!(s.len(), 1, "{actions:?}");
    s.into_iter().next().unwrap()
}

fn status(s: u16) -> Answer {
    Answer {
        status: Some(s),
        ..Answer::default()
    }
}

fn retry_at(actions: &[Action]) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Retrying { at, .. } => Some(*at),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no retry in {actions:?}"))
}

fn dropped(actions: &[Action]) -> Vec<(String, DropReason, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dropped {
                entries,
                reason,
                detail,
            } => Some(
                entries
                    .iter()
                    .map(|e| (e.uid.clone(), *reason, detail.clone()))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// An event recorded, and the end of the task that recorded it.
fn record(d: &mut Delivery, now: u64, e: Entry) {
    d.record(e);
    d.drive(now);
}

/// A delivery with one event on the wire, and that request.
fn one_on_the_wire() -> (Delivery, Outgoing) {
    let mut d = delivery();
    record(&mut d, T0, entry(0, 100));
    let s = one_send(&actions(&mut d, T0));
    (d, s)
}

fn delivery() -> Delivery {
    Delivery::new("demo", 0x9e37_79b9_7f4a_7c15)
}

#[test]
fn the_first_event_goes_at_once_and_the_rest_wait_for_its_answer_as_one_batch() {
    let (mut d, first) = one_on_the_wire();
    assert_eq!(first.uids, ["u0"]);
    assert_eq!(first.batch.cid, "demo");
    for n in 1..4 {
        record(&mut d, T0, entry(n, 100));
    }
    assert!(
        sends(&actions(&mut d, T0)).is_empty(),
        "one batch on the wire at a time"
    );
    d.answered(T0 + 20, first.request, status(200));
    let second = one_send(&actions(&mut d, T0 + 20));
    assert_eq!(second.uids, ["u1", "u2", "u3"]);
}

#[test]
fn the_events_of_one_task_go_as_one_batch() {
    let mut d = delivery();
    for n in 0..3 {
        d.record(entry(n, 100));
    }
    let a = actions(&mut d, T0);
    assert!(
        !a.is_empty() && a.iter().all(|a| *a == Action::Persist),
        "recorded and written, not sent before the task ends: {a:?}"
    );
    d.drive(T0);
    assert_eq!(one_send(&actions(&mut d, T0)).uids, ["u0", "u1", "u2"]);
}

#[test]
fn batches_hold_at_most_100_events_and_30_kib_and_only_small_ones_go_with_keepalive() {
    let mut d = delivery();
    for n in 0..250 {
        record(&mut d, T0, entry(n, 100));
    }
    let mut sizes = Vec::new();
    let mut now = T0;
    let mut a = actions(&mut d, now);
    while let Some(s) = sends(&a).pop() {
        assert!(s.batch.events.len() <= MAX_BATCH_EVENTS);
        assert_eq!(s.keepalive, s.bytes <= MAX_KEEPALIVE_BYTES);
        sizes.push(s.uids.len());
        now += 10;
        d.answered(now, s.request, status(200));
        a = actions(&mut d, now);
    }
    assert_eq!(sizes, [1, 100, 100, 49]);

    let mut d = delivery();
    for n in 0..6 {
        record(&mut d, T0, entry(n, 12 * 1024));
    }
    let mut now = T0;
    let mut a = actions(&mut d, now);
    let mut seen = Vec::new();
    while let Some(s) = sends(&a).pop() {
        assert!(s.bytes <= MAX_BATCH_BYTES, "{} bytes", s.bytes);
        seen.push((s.uids.len(), s.keepalive));
        now += 10;
        d.answered(now, s.request, status(200));
        a = actions(&mut d, now);
    }
    assert_eq!(seen, [(1, true), (2, false), (2, false), (1, true)]);
}

#[test]
fn failed_attempts_back_off_doubling_with_jitter_up_to_a_minute_and_resend_the_same_uids() {
    let mut d = delivery();
    record(&mut d, T0, entry(0, 100));
    let mut s = one_send(&actions(&mut d, T0));
    let mut now = T0;
    let mut delays = Vec::new();
    for attempt in 1..=9u32 {
        d.answered(now, s.request, status(503));
        let a = actions(&mut d, now);
        let at = retry_at(&a);
        assert!(a.contains(&Action::SetTimer(at)));
        let delay = at - now;
        let full = (RETRY_BASE_MS << (attempt - 1)).min(RETRY_MAX_MS);
        assert!(
            delay >= full / 2 && delay <= full,
            "attempt {attempt}: {delay} ms"
        );
        delays.push(delay);
        // Nothing goes before the pause ends.
        d.timer_fired(at - 1);
        assert!(sends(&actions(&mut d, at - 1)).is_empty());
        now = at;
        d.timer_fired(now);
        s = one_send(&actions(&mut d, now));
        assert_eq!(s.uids, ["u0"], "the same uid on every retry");
    }
    assert!(delays.windows(2).take(5).all(|w| w[1] > w[0]), "{delays:?}");
    assert!(delays[7] <= RETRY_MAX_MS && delays[8] <= RETRY_MAX_MS);
    let distinct: std::collections::BTreeSet<u64> = delays.iter().map(|d| d % 1000).collect();
    assert!(distinct.len() > 3, "jittered: {delays:?}");
}

#[test]
fn retry_after_is_honoured() {
    let (mut d, s) = one_on_the_wire();
    d.answered(
        T0,
        s.request,
        Answer {
            status: Some(503),
            retry_after: Some("7".into()),
            ..Answer::default()
        },
    );
    let a = actions(&mut d, T0);
    assert_eq!(retry_at(&a), T0 + 7_000);
    record(&mut d, T0 + 6_000, entry(1, 100));
    assert!(
        sends(&actions(&mut d, T0 + 6_000)).is_empty(),
        "nothing else goes before the failed batch may go again"
    );
    d.timer_fired(T0 + 7_000);
    assert_eq!(one_send(&actions(&mut d, T0 + 7_000)).uids, ["u0", "u1"]);
}

#[test]
fn timeouts_408_429_5xx_and_network_errors_retry_other_4xx_drop_naming_the_collectors_reason() {
    for answer in [
        status(408),
        status(429),
        status(500),
        status(502),
        status(503),
        status(504),
        Answer::default(),
    ] {
        let (mut d, s) = one_on_the_wire();
        d.answered(T0, s.request, answer.clone());
        let a = actions(&mut d, T0);
        assert!(retry_at(&a) > T0, "{answer:?}");
        assert!(dropped(&a).is_empty());
        assert_eq!(d.outbox().len(), 1, "{answer:?}: kept");
    }
    for code in [400, 401, 403, 404, 413, 422] {
        let (mut d, s) = one_on_the_wire();
        d.answered(
            T0,
            s.request,
            Answer {
                status: Some(code),
                error: Some("origin http://x is not allowed for campaign demo".into()),
                ..Answer::default()
            },
        );
        let a = actions(&mut d, T0);
        assert_eq!(
            dropped(&a),
            [(
                "u0".to_string(),
                DropReason::Refused,
                format!("HTTP {code}: origin http://x is not allowed for campaign demo")
            )],
            "{code}"
        );
        assert!(d.outbox().is_empty());
        assert!(a.contains(&Action::Persist));
    }
    // Without the collector's JSON, the status names the refusal.
    let (mut d, s) = one_on_the_wire();
    d.answered(T0, s.request, status(413));
    assert_eq!(dropped(&actions(&mut d, T0))[0].2, "HTTP 413");
}

#[test]
fn a_timed_out_request_is_retried_with_the_same_uids_and_its_late_answer_changes_nothing() {
    let mut d = delivery();
    record(&mut d, T0, entry(0, 100));
    record(&mut d, T0, entry(1, 100));
    let s = one_send(&actions(&mut d, T0));
    let later = T0 + REQUEST_TIMEOUT_MS;
    d.timed_out(later, s.request);
    let a = actions(&mut d, later);
    assert!(a.iter().any(
        |a| matches!(a, Action::Retrying { status: None, detail, .. } if detail == "timed out")
    ));
    // The hung request's answer arrives after all: it is not this request's any more.
    d.answered(later + 1, s.request, status(200));
    assert!(actions(&mut d, later + 1)
        .iter()
        .all(|a| !matches!(a, Action::Delivered { .. })));
    assert_eq!(d.outbox().len(), 2);
    let at = retry_at(&a);
    d.timer_fired(at);
    let again = one_send(&actions(&mut d, at));
    assert_eq!(again.uids, ["u0", "u1"]);
    assert_ne!(again.request, s.request);
    // A timeout reported for a request that already answered changes nothing either.
    d.answered(at + 5, again.request, status(200));
    d.timed_out(at + REQUEST_TIMEOUT_MS, again.request);
    assert!(actions(&mut d, at + REQUEST_TIMEOUT_MS)
        .iter()
        .all(|a| !matches!(a, Action::Retrying { .. })));
}

#[test]
fn a_success_the_browser_coming_online_or_the_page_shown_again_releases_what_waits_at_once() {
    // Offline: the backlog backs off for up to a minute...
    let mut d = delivery();
    record(&mut d, T0, entry(0, 100));
    let mut s = one_send(&actions(&mut d, T0));
    let mut now = T0;
    for _ in 0..6 {
        d.answered(now, s.request, Answer::default());
        now = retry_at(&actions(&mut d, now));
        d.timer_fired(now);
        s = one_send(&actions(&mut d, now));
    }
    d.answered(now, s.request, Answer::default());
    let wait = retry_at(&actions(&mut d, now)) - now;
    assert!(wait >= 16_000, "{wait}");
    // ...and `online` sends it at once.
    d.released(now + 100);
    assert_eq!(one_send(&actions(&mut d, now + 100)).uids, ["u0"]);

    // A batch that failed waits; another batch's success releases it.
    let (mut d, s) = one_on_the_wire();
    d.answered(T0, s.request, status(503));
    let at = retry_at(&actions(&mut d, T0));
    d.adopt(at, vec![entry(9, 100)]);
    let both = one_send(&actions(&mut d, at));
    d.answered(at + 10, both.request, status(200));
    assert!(d.outbox().is_empty());
}

#[test]
fn at_hide_what_is_left_goes_by_beacon_once_except_a_keepalive_batch_on_the_wire() {
    let (mut d, on_wire) = one_on_the_wire();
    assert!(on_wire.keepalive);
    for n in 1..4 {
        record(&mut d, T0, entry(n, 100));
    }
    actions(&mut d, T0);
    d.hidden();
    let a = actions(&mut d, T0 + 50);
    let beacons: Vec<Vec<String>> = a
        .iter()
        .filter_map(|a| match a {
            Action::Beacon(b) => Some(b.uids.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(beacons, [["u1", "u2", "u3"]]);
    // pagehide right after visibilitychange: the same unload, no second beacon of them...
    d.hidden();
    assert!(actions(&mut d, T0 + 60).is_empty());
    // ...but what the page's own unload handler records now goes by beacon at once.
    d.record(entry(7, 100));
    let late: Vec<Vec<String>> = actions(&mut d, T0 + 61)
        .iter()
        .filter_map(|a| match a {
            Action::Beacon(b) => Some(b.uids.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(late, [["u7"]]);
    // The beaconed events stay in the outbox (a silent beacon failure loses nothing) but are not
    // fetched again at once when the page comes back.
    assert_eq!(d.outbox().len(), 5);
    d.answered(T0 + 70, on_wire.request, status(200));
    let a = actions(&mut d, T0 + 70);
    assert!(sends(&a).is_empty(), "{a:?}");
    assert!(a.contains(&Action::SetTimer(T0 + 50 + AFTER_BEACON_MS)));

    // A backlog on the wire without keepalive is cancelled with the page: it is beaconed too.
    let mut d = delivery();
    for n in 0..60 {
        record(&mut d, T0, entry(n, 700));
    }
    let first = one_send(&actions(&mut d, T0));
    d.answered(T0 + 5, first.request, status(200));
    let backlog = one_send(&actions(&mut d, T0 + 5));
    assert!(!backlog.keepalive);
    d.hidden();
    let beaconed: usize = actions(&mut d, T0 + 10)
        .iter()
        .filter_map(|a| match a {
            Action::Beacon(b) => Some(b.uids.len()),
            _ => None,
        })
        .sum();
    assert_eq!(beaconed, 59);
}

#[test]
fn a_refused_beacon_stops_the_rest_which_waits_for_the_next_page() {
    let mut d = delivery();
    for n in 0..150 {
        record(&mut d, T0, entry(n, 100));
    }
    actions(&mut d, T0);
    d.hidden();
    let Some(Action::Beacon(b)) = d.poll(T0 + 1) else {
        panic!("a beacon first");
    };
    d.beaconed(T0 + 1, &b.uids, false);
    let rest = actions(&mut d, T0 + 1);
    assert_eq!(rest, [Action::BeaconRefused(b.uids.len())]);
    assert_eq!(d.outbox().len(), 150);
}

#[test]
fn an_orphaned_outbox_is_adopted_and_its_events_go_at_once() {
    let mut d = delivery();
    let mut theirs = vec![entry(7, 100), entry(8, 100)];
    theirs[0].attempts = 4;
    theirs[0].next_at = T0 + 50_000;
    d.adopt(T0, theirs);
    let a = actions(&mut d, T0);
    assert!(a.contains(&Action::Adopted(2)));
    assert!(a.contains(&Action::Persist));
    assert_eq!(one_send(&a).uids, ["u7", "u8"]);
}

#[test]
fn once_per_lead_events_count_only_what_the_collector_stored() {
    let mut d = delivery();
    record(&mut d, T0, once(0, "base"));
    record(&mut d, T0, once(1, "click_sold"));
    let s = one_send(&actions(&mut d, T0));
    d.answered(T0, s.request, status(403));
    let a = actions(&mut d, T0);
    let gone: Vec<Option<String>> = a
        .iter()
        .filter_map(|a| match a {
            Action::Dropped { entries, .. } => Some(entries.iter().map(|e| e.once.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        gone,
        [Some("base".to_string())],
        "the refused Base Event no longer counts"
    );

    // In a 2xx, an event the collector rejected is dropped; its duplicates are delivered.
    let s = one_send(&a);
    d.answered(
        T0 + 1,
        s.request,
        Answer {
            status: Some(200),
            reply: Some(IngestReply {
                accepted: vec![],
                duplicates: vec![],
                rejected: vec![Rejection {
                    uid: "u1".into(),
                    error: "event_id: unknown".into(),
                }],
            }),
            ..Answer::default()
        },
    );
    let a = actions(&mut d, T0 + 1);
    assert_eq!(
        dropped(&a),
        [(
            "u1".to_string(),
            DropReason::Refused,
            "event_id: unknown".to_string()
        )]
    );
    record(&mut d, T0 + 2, once(2, "purchase"));
    let s = one_send(&actions(&mut d, T0 + 2));
    d.answered(
        T0 + 3,
        s.request,
        Answer {
            status: Some(200),
            reply: Some(IngestReply {
                accepted: vec![],
                duplicates: vec!["u2".into()],
                rejected: vec![],
            }),
            ..Answer::default()
        },
    );
    let a = actions(&mut d, T0 + 3);
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Delivered { entries, duplicates: 1 }
        if entries[0].once.as_deref() == Some("purchase"))));
}

#[test]
fn the_outbox_is_bounded_dropping_the_oldest() {
    let mut d = delivery();
    for n in 0..MAX_ENTRIES + 3 {
        record(&mut d, T0, entry(n, 50));
    }
    let a = actions(&mut d, T0);
    let full: Vec<String> = dropped(&a)
        .into_iter()
        .filter(|(_, r, _)| *r == DropReason::Full)
        .map(|(u, _, _)| u)
        .collect();
    // u0 is on the wire; the oldest waiting ones go.
    assert_eq!(full.len(), 3);
    assert_eq!(d.outbox().len(), MAX_ENTRIES);
}

#[test]
fn an_event_undelivered_for_seven_days_is_dropped() {
    let (mut d, s) = one_on_the_wire();
    d.answered(T0, s.request, Answer::default());
    actions(&mut d, T0);
    let late = T0 + MAX_AGE_MS + 1_000;
    d.timer_fired(late);
    let a = actions(&mut d, late);
    assert_eq!(
        dropped(&a),
        [("u0".to_string(), DropReason::Expired, String::new())]
    );
    assert!(sends(&a).is_empty());
}

#[test]
fn flush_settles_true_when_empty_false_when_an_attempt_failed() {
    let mut d = delivery();
    d.flush(T0);
    assert_eq!(actions(&mut d, T0), [Action::Flushed(true)]);
    record(&mut d, T0, entry(0, 100));
    let s = one_send(&actions(&mut d, T0));
    d.flush(T0);
    assert!(actions(&mut d, T0).is_empty(), "waits for the answer");
    d.answered(T0 + 5, s.request, status(503));
    assert!(actions(&mut d, T0 + 5).contains(&Action::Flushed(false)));
}

#[test]
fn delays_grow_with_jitter_cap_and_retry_after() {
    assert_eq!(retry_delay(1, 0.0, None), 500);
    assert_eq!(retry_delay(1, 0.999, None), 999);
    assert_eq!(retry_delay(2, 0.0, None), 1_000);
    assert_eq!(retry_delay(3, 1.0, None), 4_000);
    assert_eq!(retry_delay(30, 1.0, None), RETRY_MAX_MS);
    assert_eq!(retry_delay(1, 0.0, Some(7_000)), 7_000);
    assert_eq!(retry_delay(5, 0.0, Some(10)), 8_000);
}

#[test]
fn what_is_retried_and_what_is_dropped() {
    assert_eq!(outcome(Some(200), None), Outcome::Delivered);
    assert_eq!(outcome(Some(202), None), Outcome::Delivered);
    for s in [400, 401, 403, 404, 413, 422] {
        assert_eq!(outcome(Some(s), None), Outcome::Refused, "{s}");
    }
    for s in [Some(408), Some(429), Some(500), Some(502), Some(503), None] {
        assert!(matches!(outcome(s, None), Outcome::Retry { .. }), "{s:?}");
    }
    assert_eq!(
        outcome(Some(503), Some(" 3 ")),
        Outcome::Retry {
            after_ms: Some(3_000)
        }
    );
    assert_eq!(
        outcome(Some(429), Some("99999999")),
        Outcome::Retry {
            after_ms: Some(RETRY_AFTER_MAX_MS)
        }
    );
    // An HTTP-date Retry-After is not understood: the backoff alone decides.
    assert_eq!(
        outcome(Some(503), Some("Wed, 21 Oct 2026 07:28:00 GMT")),
        Outcome::Retry { after_ms: None }
    );
}

#[test]
fn a_batch_that_got_no_answer_also_goes_once_by_beacon() {
    let (mut d, s) = one_on_the_wire();
    record(&mut d, T0, entry(1, 100));
    d.answered(T0 + 5, s.request, Answer::default());
    let beacons = |a: &[Action]| -> Vec<Vec<String>> {
        a.iter()
            .filter_map(|a| match a {
                Action::Beacon(b) => Some(b.uids.clone()),
                _ => None,
            })
            .collect()
    };
    let a = actions(&mut d, T0 + 5);
    assert_eq!(
        beacons(&a),
        [["u0"]],
        "the failed batch, not what waits behind it"
    );
    assert_eq!(d.outbox().len(), 2, "still kept for fetch's retries");
    // The retry keeps its schedule; a second failure does not beacon again; nor does an HTTP error.
    let at = retry_at(&a);
    d.timer_fired(at);
    let s = one_send(&actions(&mut d, at));
    assert_eq!(s.uids, ["u0", "u1"]);
    d.answered(at + 5, s.request, Answer::default());
    let a = actions(&mut d, at + 5);
    assert_eq!(beacons(&a), [["u1"]], "only u1 failed for the first time");
    let (mut d, s) = one_on_the_wire();
    d.answered(T0, s.request, status(503));
    assert!(beacons(&actions(&mut d, T0)).is_empty());
}

#[test]
fn opting_out_drops_everything_queued_and_leaves_nothing_to_wait_for() {
    let (mut d, s) = one_on_the_wire();
    d.answered(T0, s.request, status(503));
    let at = retry_at(&actions(&mut d, T0));
    record(&mut d, T0 + 1, entry(1, 100));
    let _ = actions(&mut d, T0 + 1);
    d.flush(T0 + 2);
    let _ = actions(&mut d, T0 + 2);
    d.discard_all();
    let a = actions(&mut d, T0 + 3);
    assert_eq!(
        dropped(&a),
        [
            ("u0".to_string(), DropReason::OptedOut, String::new()),
            ("u1".to_string(), DropReason::OptedOut, String::new())
        ]
    );
    assert!(a.contains(&Action::Persist));
    assert!(d.outbox().is_empty());
    // The pause ends with them: a flush now settles true, and the timer sends nothing.
    d.flush(T0 + 4);
    assert!(actions(&mut d, T0 + 4).contains(&Action::Flushed(true)));
    d.timer_fired(at);
    assert!(sends(&actions(&mut d, at)).is_empty());
}

#[test]
fn opting_out_settles_a_flush_that_waits_for_the_batch_on_the_wire() {
    let (mut d, _) = one_on_the_wire();
    d.flush(T0 + 1);
    assert!(!actions(&mut d, T0 + 1)
        .iter()
        .any(|a| matches!(a, Action::Flushed(_))));
    d.discard_all();
    assert!(actions(&mut d, T0 + 2).contains(&Action::Flushed(true)));
}
