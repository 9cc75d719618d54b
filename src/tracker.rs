//! The tracker: one per page. It owns the lead's identity and this page's outbox, fires events
//! into the outbox (write-ahead) and drains it to the collector.
//!
//! Cross-tab safety: each page writes only its own outbox key (`pt_ob_{campaign}_{tab}`), so two
//! tabs never overwrite each other's events, and drains only its own outbox. A page that goes
//! away marks its heartbeat `0`; the next page of the campaign on this origin adopts what it left
//! (events a beacon may or may not have delivered) and sends it again under the same uids, which
//! the collector answers as duplicates. So one outbox entry is drained by one tab at a time.

use clickscript_core::decimal;
use clickscript_core::text;

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::attribution::{parse_query, query_param};
use clickscript_core::config::{Config, EventDef};
use clickscript_core::event::{Attribution, Event, Fields, Scalar};
use clickscript_core::identity::{Identity, Sources};
use clickscript_core::ids::{is_uuid, uuid_v4, uuid_v7};
use clickscript_core::limits::{
    truncate, MAX_FIELDS, MAX_KEEPALIVE_BYTES, MAX_KEY_LEN, MAX_TEXT_LEN,
};
use clickscript_core::outbox::{outcome, retry_delay, DropReason, Entry, Outbox, Outcome};
use clickscript_core::wire::{batch_body, event_json, EVENTS_PATH};
use clickscript_web::callbacks::{after, at_task_end, cancel};
use clickscript_web::console::{error, info};
use clickscript_web::globals::{get, Resolve};
use clickscript_web::{cookie, now, page, random16, storage::Store, transport};

/// An orphaned outbox whose page has not written its heartbeat for this long is adopted.
const STALE_TAB_MS: u64 = 3 * 60 * 1000;
/// After a beacon, wait this long before fetching the same events again (a tab hidden and shown
/// again would otherwise send them twice at once).
const AFTER_BEACON_MS: u64 = 10_000;

thread_local! {
    static TRACKER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// Runs `f` on the page's tracker, if it has started.
pub fn with<R>(f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
    TRACKER.with(|t| t.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Whether the tracker has started.
pub fn started() -> bool {
    TRACKER.with(|t| t.try_borrow().map(|t| t.is_some()).unwrap_or(true))
}

/// The page's tracker.
pub struct Tracker {
    cfg: Config,
    store: Store,
    ident: Identity,
    attribution: Attribution,
    tab: String,
    outbox: Outbox,
    /// uids of the batch on the wire.
    in_flight: Vec<String>,
    /// Whether that batch went with keepalive (and so outlives the page).
    in_flight_keepalive: bool,
    /// The retry timer, when one is set.
    timer: Option<i32>,
    /// After a failed attempt nothing goes before the failed batch may go again, so that a
    /// dropped network or a collector answering 503 is not tried once per batch in a row.
    paused_until: u64,
    /// `PT.flush()` promises waiting for the outbox to drain.
    waiters: Vec<Resolve>,
    /// The page has gone (pagehide): its heartbeat stays `0` so the next page adopts its outbox.
    gone: bool,
    /// A write of the identity and the outbox is queued for the end of the task.
    save_queued: bool,
    /// When the last beacon went, so that the hidden + pagehide pair of one unload beacons once.
    last_beacon: u64,
    /// Whether the Base Event fires on page load (not when a binding fires it).
    base_on_load: bool,
    /// The transaction cookie's domain (`auto` resolved); host-only when `None`.
    cookie_domain: Option<String>,
}

fn key(parts: &[&str]) -> String {
    text::concat(parts)
}

impl Tracker {
    /// Resumes the lead and installs the tracker for this page.
    pub fn start(cfg: Config, base_on_load: bool) {
        let store = Store::open();
        let query = page::query();
        let ident = resume_identity(&cfg, &store, query_param(&query, "transaction_id"));
        let tracker = Tracker {
            attribution: parse_query(&query),
            tab: uuid_v4(random16()),
            outbox: Outbox::default(),
            in_flight: Vec::new(),
            in_flight_keepalive: false,
            timer: None,
            paused_until: 0,
            waiters: Vec::new(),
            gone: false,
            save_queued: false,
            last_beacon: 0,
            base_on_load,
            cookie_domain: match cfg.cookie_domain.as_deref() {
                Some("auto") => cookie::registrable_domain(),
                other => other.map(str::to_owned),
            },
            cfg,
            store,
            ident,
        };
        tracker.save_identity();
        info("lead", &tracker.ident.txn.as_str().into());
        TRACKER.with(|t| {
            if let Ok(mut t) = t.try_borrow_mut() {
                *t = Some(tracker);
            }
        });
        with(|t| {
            t.heartbeat();
            t.adopt_orphans();
        });
    }

    /// The transaction ID.
    pub fn transaction_id(&self) -> &str {
        &self.ident.txn
    }

    fn outbox_key(&self, tab: &str) -> String {
        key(&["pt_ob_", &self.cfg.campaign, "_", tab])
    }

    fn heartbeat_key(&self, tab: &str) -> String {
        key(&["pt_hb_", &self.cfg.campaign, "_", tab])
    }

    fn save_identity(&self) {
        let cfg = &self.cfg;
        let max_age = self.ident.txn_expires.saturating_sub(now()) / 1000;
        cookie::set(
            &key(&["pt_txn_", &cfg.campaign]),
            &self.ident.txn,
            max_age,
            self.cookie_domain.as_deref(),
        );
        self.store
            .set(&key(&["pt_id_", &cfg.campaign]), &self.ident.encode());
    }

    fn stored_identity(&self) -> Option<Identity> {
        let record = self.store.get(&key(&["pt_id_", &self.cfg.campaign]))?;
        Identity::decode(&record)
    }

    fn heartbeat(&self) {
        let beat = if self.gone { 0 } else { now() };
        self.store
            .set(&self.heartbeat_key(&self.tab), &decimal::string(beat));
    }

    /// The page is back from the back/forward cache: its outbox is its own again.
    pub fn revive(&mut self) {
        self.gone = false;
        self.heartbeat();
    }

    /// Writes the identity and the outbox at the end of the current task, so that a burst of
    /// calls in one task writes them once rather than once per event (each outbox write is the
    /// whole outbox, each identity write a cookie too). Nothing ends a page between a call and
    /// the end of its task, and no other tab runs in between, so every event is still stored
    /// before the page can go away or another tab can look.
    fn save_soon(&mut self) {
        if self.save_queued {
            return;
        }
        self.save_queued = true;
        at_task_end(|| {
            with(|t| {
                if t.save_queued {
                    t.save_queued = false;
                    t.save_identity();
                    t.save_outbox();
                }
            });
        });
    }

    fn save_outbox(&mut self) {
        let k = self.outbox_key(&self.tab);
        if self.outbox.is_empty() {
            self.store.remove(&k);
        } else if !self.store.set(&k, &self.outbox.encode()) {
            error(
                "storage full or blocked: outbox kept in memory",
                &JsValue::from(self.outbox.len() as u32),
            );
        }
        self.heartbeat();
    }

    /// Takes over the outboxes of pages that have gone (closed, navigated away, crashed).
    pub fn adopt_orphans(&mut self) {
        let now = now();
        let prefix = self.outbox_key("");
        let mut adopted = false;
        for k in self.store.keys(&prefix) {
            let Some(tab) = k.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if tab == self.tab {
                continue;
            }
            let hb_key = self.heartbeat_key(tab);
            let beat: u64 = self
                .store
                .get(&hb_key)
                .and_then(|v| decimal::parse(&v))
                .unwrap_or(0);
            if beat != 0 && now.saturating_sub(beat) < STALE_TAB_MS {
                continue;
            }
            let theirs = Outbox::decode(&self.store.get(&k).unwrap_or_default());
            self.store.remove(&k);
            self.store.remove(&hb_key);
            for mut e in theirs.entries().iter().cloned() {
                e.next_at = 0;
                log_dropped(self.outbox.push(e), DropReason::Full);
            }
            adopted = true;
        }
        if adopted {
            info(
                "adopted undelivered events",
                &JsValue::from(self.outbox.len() as u32),
            );
            self.save_outbox();
        }
    }

    /// Registers a click (`PT.click`): switches to a handed-over transaction, adds the click's
    /// attribution, and fires the Base Event and Base Click Sold if this lead lacks them.
    pub fn click(&mut self, opts: &JsValue, url: Option<String>, ts: Option<f64>) {
        // One walk over the options, in the page's order (each option is independent).
        for (k, v) in entries(opts) {
            if v.is_undefined() || v.is_null() {
                continue;
            }
            match k.as_str() {
                "transaction_id" => {
                    let txn = v.as_string().unwrap_or_default();
                    if !is_uuid(&txn) {
                        error("PT.click: transaction_id is not a UUID, ignored", &v);
                    } else if txn != self.ident.txn {
                        self.ident = resume_identity(&self.cfg, &self.store, Some(txn));
                        self.save_identity();
                    }
                }
                "pid" | "source_id" => self.add_param(&k, &v),
                // `subids` as a list gives sub1, sub2, ...; as an object, its own names.
                "subids" | "parameters" => {
                    let list = k == "subids" && js_sys::Array::is_array(&v);
                    for (name, value) in entries(&v) {
                        if list {
                            let n = decimal::parse(&name).unwrap_or(0) + 1;
                            self.add_param(&key(&["sub", &decimal::string(n)]), &value);
                        } else {
                            self.add_param(&name, &value);
                        }
                    }
                }
                _ => {}
            }
        }
        let system = self.cfg.system.clone();
        self.fire(&system.base, &JsValue::UNDEFINED, url.clone(), ts);
        self.fire(&system.click_sold, &JsValue::UNDEFINED, url, ts);
    }

    /// Adds a click's parameter (a string or a number) to the lead's attribution.
    fn add_param(&mut self, k: &str, v: &JsValue) {
        // JSON.stringify of a number: Rust's float formatting would add ~10 KB to the wasm.
        let text = v
            .as_string()
            .or_else(|| v.as_f64().and_then(|_| clickscript_web::globals::json(v)));
        let Some(text) = text else { return };
        let k = truncate(k, MAX_KEY_LEN).to_owned();
        let params = &mut self.attribution.params;
        if params.len() < MAX_FIELDS || params.contains_key(&k) {
            params.insert(k, truncate(&text, MAX_TEXT_LEN).to_owned());
        }
    }

    /// Fires event `id` with `props` (`revenue` and free data). `url` and `ts` are those of a
    /// call queued before the tracker started. Returns whether an event went into the outbox.
    pub fn fire(
        &mut self,
        id: &str,
        props: &JsValue,
        url: Option<String>,
        ts: Option<f64>,
    ) -> bool {
        let Some(def) = self.may_fire(id) else {
            return false;
        };
        let (data, revenue) = read_props(props, &def);
        let prop = |name: &str| get(props, name).as_f64();
        let payout = def.payout.as_ref().and_then(|a| a.resolve(prop, |_| None));
        self.record(def, data, revenue, payout, url, ts)
    }

    /// Fires event `id` for a trigger, with the data the trigger provides.
    pub fn fire_with(&mut self, id: &str, data: Fields<Scalar>) -> bool {
        let Some(def) = self.may_fire(id) else {
            return false;
        };
        // A form's field gives an amount as text: JavaScript's strict Number reads it.
        let field = |name: &str| match data.get(name) {
            Some(Scalar::Text(t)) if !t.trim_ascii().is_empty() => Some(js_number(t)),
            Some(Scalar::Number(n)) => Some(*n),
            _ => None,
        };
        let revenue = def
            .revenue
            .as_ref()
            .and_then(|a| a.resolve(|_| None, field));
        let payout = def.payout.as_ref().and_then(|a| a.resolve(|_| None, field));
        self.record(def, data, revenue, payout, None, None)
    }

    /// The definition of `id` if it may fire now: configured, and not a once-per-lead event
    /// this lead already has.
    fn may_fire(&mut self, id: &str) -> Option<EventDef> {
        let Some(def) = self.cfg.event(id).cloned() else {
            error("unknown event ID, not sent", &id.into());
            return None;
        };
        // Another tab of this lead may have fired it meanwhile (not within this task: while a
        // write is queued, the stored record is this page's own, older state).
        if !self.save_queued {
            if let Some(stored) = self.stored_identity() {
                self.ident.merge(&stored);
            }
        }
        if !def.multi && self.ident.has_fired(id) {
            info(
                "once-per-lead event already fired for this lead, not sent",
                &id.into(),
            );
            return None;
        }
        Some(def)
    }

    /// Writes the event to the outbox (write-ahead: before any attempt to send it).
    fn record(
        &mut self,
        def: EventDef,
        data: Fields<Scalar>,
        revenue: Option<f64>,
        payout: Option<f64>,
        url: Option<String>,
        ts: Option<f64>,
    ) -> bool {
        let now = now();
        let ts = ts
            .filter(|t| *t > 0.0 && *t <= now as f64)
            .map(|t| t as u64)
            .unwrap_or(now);
        let seq = self.ident.note_event(&def.id, !def.multi, now);
        let event = Event {
            uid: uuid_v7(now, random16()),
            event_id: def.id,
            category: def.category,
            scope: def.scope,
            txn: self.ident.txn.clone(),
            visitor: self.ident.visitor.clone(),
            session: self.ident.session.clone(),
            ts,
            seq,
            attribution: match &url {
                Some(u) => merged(&self.attribution, u),
                None => self.attribution.clone(),
            },
            page: page::current(url),
            data,
            revenue,
            payout,
            consent: None,
            bot: page::webdriver(),
        };
        let body = event_json(&event, &js_float);
        info("event", &JsValue::from_str(&body));
        let dropped = self.outbox.push(Entry {
            uid: event.uid,
            body,
            attempts: 0,
            next_at: 0,
            created: now,
        });
        log_dropped(dropped, DropReason::Full);
        self.save_soon();
        true
    }

    /// The Base Event (and Base Click Sold when the campaign says so) on page load, unless a
    /// binding fires them on another trigger (the collector says so in the configuration it
    /// serves; the triggers extension fires the bindings).
    pub fn fire_page_load(&mut self) {
        let system = self.cfg.system.clone();
        if self.base_on_load {
            self.fire_with(&system.base, Fields::default());
        }
        if self.cfg.click_with_base {
            self.fire_with(&system.click_sold, Fields::default());
        }
    }

    /// Adds a `PT.flush()` waiter.
    pub fn wait_for_flush(&mut self, resolve: Resolve) {
        self.waiters.push(resolve);
    }

    fn settle_waiters(&mut self, delivered: bool) {
        for w in self.waiters.drain(..) {
            w.call(&JsValue::NULL, delivered);
        }
    }

    /// The next batch to send (URL, body, whether with keepalive), or `None` when one is on the
    /// wire or nothing is due (then a timer is set for the next due entry).
    fn take_batch(&mut self) -> Option<(String, String, bool)> {
        if !self.in_flight.is_empty() {
            return None;
        }
        let now = now();
        if now < self.paused_until {
            self.settle_waiters(false);
            self.arm(self.paused_until - now);
            return None;
        }
        let expired = self.outbox.expire(now);
        if !expired.is_empty() {
            log_dropped(expired, DropReason::Expired);
            self.save_outbox();
        }
        let batch = self.outbox.next_batch(now);
        if batch.is_empty() {
            match self.outbox.next_due() {
                None => self.settle_waiters(true),
                Some(due) => {
                    self.settle_waiters(false);
                    self.arm(due.saturating_sub(now));
                }
            }
            return None;
        }
        let bodies: Vec<&str> = batch.iter().map(|e| e.body.as_str()).collect();
        let body = batch_body(&self.cfg.campaign, now, &bodies);
        self.in_flight = batch.iter().map(|e| e.uid.clone()).collect();
        self.in_flight_keepalive = body.len() <= MAX_KEEPALIVE_BYTES;
        if let Some(t) = self.timer.take() {
            cancel(t);
        }
        self.heartbeat();
        let url = key(&[&self.cfg.collector, EVENTS_PATH]);
        Some((url, body, self.in_flight_keepalive))
    }

    /// Applies the collector's answer to the batch on the wire.
    fn settle(&mut self, answer: transport::Answer) {
        let uids = std::mem::take(&mut self.in_flight);
        match outcome(answer.status, answer.retry_after.as_deref()) {
            Outcome::Delivered => {
                info("delivered", &JsValue::from(uids.len() as u32));
                self.paused_until = 0;
                self.outbox.remove(&uids);
                // The collector is back: what waits out a backoff goes now, not up to 60 s later.
                self.outbox.release(now());
            }
            Outcome::Refused => {
                let status = JsValue::from(answer.status.unwrap_or(0));
                error(
                    "collector refused the batch (HTTP status), dropped",
                    &status,
                );
                let gone = self.outbox.remove(&uids);
                log_dropped(gone, DropReason::Refused);
            }
            Outcome::Retry { after_ms } => {
                let now = now();
                let jitter = js_sys::Math::random();
                self.paused_until = self
                    .outbox
                    .retry_later(&uids, now, |attempt| retry_delay(attempt, jitter, after_ms));
                let status = JsValue::from(answer.status.unwrap_or(0));
                error(
                    "delivery failed (HTTP status, 0 = network), will retry",
                    &status,
                );
                self.settle_waiters(false);
                self.arm(self.paused_until.saturating_sub(now));
            }
        }
        self.save_outbox();
    }

    fn arm(&mut self, delay_ms: u64) {
        if let Some(t) = self.timer.take() {
            cancel(t);
        }
        let delay = delay_ms.min(i32::MAX as u64) as u32;
        self.timer = Some(after(delay, drain));
    }

    /// Hands what is left to `sendBeacon` when the page is hidden or goes away. Events stay in
    /// the outbox: a later page or this one, if it comes back, sends them again under the same
    /// uids (the collector answers duplicates), so a beacon that silently failed loses nothing.
    pub fn on_hide(&mut self, page_gone: bool) {
        self.gone |= page_gone;
        let now = now();
        // Chromium fires visibilitychange (hidden) and pagehide for one unload: beacon once.
        if now.saturating_sub(self.last_beacon) > 1_000 {
            self.last_beacon = now;
            self.beacon_pending(now);
        }
        // A write queued for the end of the task goes now: the page may not see that end.
        if self.save_queued {
            self.save_queued = false;
            self.save_identity();
        }
        self.save_outbox();
    }

    fn beacon_pending(&mut self, now: u64) {
        let url = key(&[&self.cfg.collector, EVENTS_PATH]);
        // A batch on the wire with keepalive outlives the page; one without (a large backlog)
        // is cancelled with it, so its events go by beacon too (the collector answers the
        // duplicate if both arrive).
        let mut rest = Outbox::default();
        for e in self.outbox.entries() {
            if !(self.in_flight_keepalive && self.in_flight.contains(&e.uid)) {
                rest.push(e.clone());
            }
        }
        let mut beaconed = Vec::new();
        loop {
            let batch = rest.next_batch(u64::MAX);
            if batch.is_empty() {
                break;
            }
            let uids: Vec<String> = batch.iter().map(|e| e.uid.clone()).collect();
            let bodies: Vec<&str> = batch.iter().map(|e| e.body.as_str()).collect();
            if !transport::beacon(&url, &batch_body(&self.cfg.campaign, now, &bodies)) {
                error("beacon refused", &JsValue::from(uids.len() as u32));
                break;
            }
            info("beacon", &JsValue::from(uids.len() as u32));
            rest.remove(&uids);
            beaconed.extend(uids);
        }
        self.outbox.defer(&beaconed, now + AFTER_BEACON_MS);
    }
}

fn log_dropped(dropped: Vec<Entry>, why: DropReason) {
    for e in dropped {
        error(why.as_str(), &JsValue::from(e.body));
    }
}

fn resume_identity(cfg: &Config, store: &Store, url_txn: Option<String>) -> Identity {
    let cookie_txn = cookie::get(&key(&["pt_txn_", &cfg.campaign]));
    let stored = store
        .get(&key(&["pt_id_", &cfg.campaign]))
        .and_then(|s| Identity::decode(&s));
    Identity::resume(
        Sources {
            url_txn: url_txn.as_deref(),
            cookie_txn: cookie_txn.as_deref(),
            stored,
        },
        now(),
        cfg.cookie_days,
        || uuid_v4(random16()),
    )
}

/// Attribution of a queued call's page: its own query parameters over the landing ones.
fn merged(landing: &Attribution, url: &str) -> Attribution {
    let query = text::split_once(url, b'?').map(|(_, q)| q).unwrap_or("");
    let query = text::split_once(query, b'#')
        .map(|(q, _)| q)
        .unwrap_or(query);
    let mut a = landing.clone();
    let own = parse_query(query);
    a.params.extend(own.params);
    a.click_ids.extend(own.click_ids);
    a
}

fn entries(obj: &JsValue) -> Vec<(String, JsValue)> {
    if !obj.is_object() {
        return Vec::new();
    }
    js_sys::Object::entries(obj.unchecked_ref())
        .iter()
        .filter_map(|pair| {
            // Object.entries gives [key, value] arrays, keys as strings.
            let pair: &js_sys::Array = pair.unchecked_ref();
            Some((pair.get(0).as_string()?, pair.get(1)))
        })
        .collect()
}

/// JavaScript's strict conversion of text to a number (`"30abc"` is NaN, not 30); Rust's float
/// parser would add ~20 KB to the wasm.
fn js_number(text: &str) -> f64 {
    clickscript_web::globals::number(text)
}

/// A trigger's data as the triggers extension hands it over: an object of strings, already held
/// to the collector's limits (the extension is the only caller: the loader keeps the
/// clickscript's exports from the page).
pub fn trigger_data(obj: &JsValue) -> Fields<Scalar> {
    let mut data = Fields::default();
    for (k, v) in entries(obj) {
        if let Some(text) = v.as_string() {
            data.insert(k, Scalar::Text(text));
        }
    }
    data
}

/// Free data and revenue from a call's props: scalars only, within the collector's limits.
fn read_props(props: &JsValue, def: &EventDef) -> (Fields<Scalar>, Option<f64>) {
    let mut data = Fields::default();
    let prop = |name: &str| get(props, name).as_f64();
    let mut revenue = def.revenue.as_ref().and_then(|a| a.resolve(prop, |_| None));
    for (k, v) in entries(props) {
        if k == "revenue" {
            match v.as_f64().filter(|r| r.is_finite() && *r >= 0.0) {
                Some(r) => revenue = Some(r),
                None => error("revenue must be a non-negative number, ignored", &v),
            }
            continue;
        }
        if k.is_empty() || k.len() > MAX_KEY_LEN || data.len() >= MAX_FIELDS {
            error(
                "data field dropped (empty or long key, or too many fields)",
                &k.into(),
            );
            continue;
        }
        let value = if let Some(b) = v.as_bool() {
            Scalar::Bool(b)
        } else if let Some(n) = v.as_f64().filter(|n| n.is_finite()) {
            Scalar::Number(n)
        } else if let Some(s) = v.as_string() {
            Scalar::Text(truncate(&s, MAX_TEXT_LEN).to_owned())
        } else {
            error(
                "data field dropped: not a string, number or boolean",
                &k.into(),
            );
            continue;
        };
        data.insert(k, value);
    }
    (data, revenue)
}

/// Writes a finite float as JavaScript does (`n.toString()` is its JSON).
fn js_float(n: f64, out: &mut String) {
    if let Some(text) = clickscript_web::globals::json(&JsValue::from_f64(n)) {
        out.push_str(&text);
    }
}

/// Sends due batches until the outbox is empty or an attempt fails. Safe to call at any time:
/// only one batch is on the wire at once.
pub fn drain() {
    let Some(Some((url, body, keepalive))) = with(|t| t.take_batch()) else {
        return;
    };
    transport::post(&url, &body, keepalive, |answer| {
        let retry = answer
            .status
            .is_none_or(|s| matches!(outcome(Some(s), None), Outcome::Retry { .. }));
        with(|t| t.settle(answer));
        if !retry {
            drain();
        }
    });
}
