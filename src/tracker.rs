//! The tracker: one per page. It owns the lead's identity and this page's delivery state (the
//! core's [`Delivery`]), records fired events, and carries out what delivery decides: fetches,
//! beacons, the timer, writes of the outbox. The decisions themselves are the core's, tested
//! natively; what is here is the I/O.
//!
//! Cross-tab safety: each page writes only its own outbox key (`pt_ob_{campaign}_{tab}`), so two
//! tabs never overwrite each other's events, and drains only its own outbox. A page that goes
//! away marks its heartbeat `0`; the next page of the campaign on this origin adopts what it left
//! (events a beacon may or may not have delivered) and sends it again under the same uids, which
//! the collector answers as duplicates. So one outbox entry is drained by one tab at a time.

use std::cell::RefCell;

use wasm_bindgen::JsValue;

use clickscript_core::attribution::{parse_query, query_param};
use clickscript_core::config::{Config, EventDef, Gpc};
use clickscript_core::consent::Consent;
use clickscript_core::decimal;
use clickscript_core::delivery::{Action, Delivery, Outgoing, REQUEST_TIMEOUT_MS};
use clickscript_core::event::{Attribution, Event, Fields, Scalar};
use clickscript_core::identity::{Identity, Sources};
use clickscript_core::ids::{is_uuid, uuid_v4, uuid_v7};
use clickscript_core::limits::{truncate, MAX_FIELDS, MAX_KEY_LEN, MAX_TEXT_LEN};
use clickscript_core::outbox::{Entry, Outbox};
use clickscript_core::props::{event_data, ClickOptions, Prop, Props};
use clickscript_core::text;
use clickscript_core::wire::EVENTS_PATH;
use clickscript_web::callbacks::{at_task_end, Timeout};
use clickscript_web::console::{error, info};
use clickscript_web::{cookie, now, page, random16, storage::Store, transport};

/// An orphaned outbox whose page has not written its heartbeat for this long is adopted.
const STALE_TAB_MS: u64 = 3 * 60 * 1000;

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
    delivery: Delivery,
    /// The ingest URL.
    url: String,
    /// Delivery's timer, when one is set (dropping it cancels it).
    timer: Option<Timeout>,
    /// The request on the wire and its timeout (dropping it cancels the timeout).
    request: Option<(u64, Timeout)>,
    /// `PT.flush()` promises waiting for the outbox to drain.
    waiters: Vec<js_sys::Function>,
    /// The page has gone (pagehide): its heartbeat stays `0` so the next page adopts its outbox.
    gone: bool,
    /// A write of the identity and the outbox is queued for the end of the task.
    save_queued: bool,
    /// Whether the Base Event fires on page load (not when a binding fires it).
    base_on_load: bool,
    /// The transaction cookie's domain (`auto` resolved); host-only when `None`.
    cookie_domain: Option<String>,
    /// In a frame, until the parent answers or the wait ends: when it ends, and the timer that
    /// asks again (dropping it stops it). See [`frames`].
    asking_parent: Option<(u64, Option<Timeout>)>,
}

pub mod frames;

fn key(parts: &[&str]) -> String {
    text::concat(parts)
}

impl Tracker {
    /// Resumes the lead and installs the tracker for this page.
    pub fn start(cfg: Config, base_on_load: bool) {
        let store = Store::open();
        if store.get(OPT_OUT).as_deref() == Some("1") {
            OPTED_OUT.with(|o| o.set(true));
        }
        let query = page::query();
        let ident = resume_identity(&cfg, &store, query_param(&query, "transaction_id"));
        let seed = random16();
        let seed = u64::from_le_bytes([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
        ]);
        let mut tracker = Tracker {
            attribution: parse_query(&query),
            tab: uuid_v4(random16()),
            delivery: Delivery::new(&cfg.campaign, seed),
            url: key(&[&cfg.collector, EVENTS_PATH]),
            timer: None,
            request: None,
            waiters: Vec::new(),
            gone: false,
            save_queued: false,
            base_on_load,
            cookie_domain: match cfg.cookie_domain.as_deref() {
                Some("auto") => cookie::registrable_domain(),
                other => other.map(str::to_owned),
            },
            asking_parent: None,
            cfg,
            store,
            ident,
        };
        // A visitor who opted out on this site: nothing is written or sent until PT.optIn().
        if opted_out() {
            info(
                "the visitor opted out: nothing is captured",
                &JsValue::UNDEFINED,
            );
        } else {
            tracker.save_identity();
            info("lead", &tracker.ident.txn.as_str().into());
        }
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

    /// `PT.optOut()`: nothing more is captured for the visitor on this site (a cookie on the
    /// lead's cookie domain, for 400 days: the most a browser keeps one), and nothing queued goes.
    pub fn opt_out(&mut self) {
        OPTED_OUT.with(|o| o.set(true));
        let domain = self.cookie_domain.as_deref();
        cookie::set(OPT_OUT, "1", OPT_OUT_S, domain);
        self.store.set(OPT_OUT, "1");
        // The lead's cookie and record go (nothing is sent with them any more).
        cookie::set(&key(&["pt_txn_", &self.cfg.campaign]), "", 0, domain);
        self.store.remove(&key(&["pt_id_", &self.cfg.campaign]));
        info("opted out", &JsValue::UNDEFINED);
        self.delivery.discard_all();
        self.run();
    }

    /// `PT.optIn()`: capture resumes (from the next event; the lead is written again).
    pub fn opt_in(&mut self) {
        OPTED_OUT.with(|o| o.set(false));
        cookie::set(OPT_OUT, "", 0, self.cookie_domain.as_deref());
        self.store.remove(OPT_OUT);
        self.save_identity();
        info("opted in", &JsValue::UNDEFINED);
    }

    /// The transaction ID to hand out (`PT.transactionId()`, offer links): none once the
    /// visitor opted out.
    pub fn shared_transaction_id(&self) -> Option<&str> {
        (!opted_out()).then_some(self.ident.txn.as_str())
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

    /// Writes the identity: the stored record merged with what this tab changed (another tab
    /// may have written since), then the cookie.
    fn save_identity(&mut self) {
        // An opted-out visitor's lead is written nowhere.
        if opted_out() {
            return;
        }
        if let Some(stored) = self.stored_identity() {
            self.ident.merge(&stored);
        }
        let cfg = &self.cfg;
        let max_age = self.ident.txn_expires.saturating_sub(now()) / 1000;
        cookie::set(
            &key(&["pt_txn_", &cfg.campaign]),
            &self.ident.txn,
            max_age,
            self.cookie_domain.as_deref(),
        );
        if self
            .store
            .set(&key(&["pt_id_", &cfg.campaign]), &self.ident.encode())
        {
            self.ident.written();
        }
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
            with(|t| t.end_of_task());
        });
    }

    /// Writes a queued save at once (the page may not see the end of its task).
    fn save_now(&mut self) {
        if std::mem::take(&mut self.save_queued) {
            self.save_identity();
            self.save_outbox();
        }
    }

    /// The end of a task that recorded events: they are stored, then sent as one batch.
    fn end_of_task(&mut self) {
        self.save_now();
        self.delivery.drive(now());
        self.run();
    }

    fn save_outbox(&mut self) {
        let k = self.outbox_key(&self.tab);
        let outbox = self.delivery.outbox();
        if outbox.is_empty() {
            self.store.remove(&k);
        } else if !self.store.set(&k, &outbox.encode()) {
            error(
                "storage full or blocked: outbox kept in memory",
                &JsValue::from(outbox.len() as u32),
            );
        }
        self.heartbeat();
    }

    /// Another tab of this origin wrote `key`: a tab going away marks its heartbeat `0`; a tab
    /// already gone may still write its outbox once more (what it recorded while it went), maybe
    /// after this tab adopted the first one. Either way, what a gone tab left is adopted.
    pub fn on_storage(&mut self, written_key: &str, written: Option<&str>) {
        let gone = match (
            written_key.strip_prefix("pt_hb_"),
            written_key.strip_prefix("pt_ob_"),
        ) {
            (Some(_), _) => written == Some("0"),
            (_, Some(rest)) => {
                written.is_some()
                    && self
                        .store
                        .get(&key(&["pt_hb_", rest]))
                        .is_none_or(|beat| beat == "0")
            }
            _ => false,
        };
        if gone {
            self.adopt_orphans();
        }
    }

    /// Takes over the outboxes of pages that have gone (closed, navigated away, crashed).
    pub fn adopt_orphans(&mut self) {
        let now = now();
        let prefix = self.outbox_key("");
        let mut adopted = Vec::new();
        for k in self.store.keys(&prefix) {
            let Some(tab) = k.strip_prefix(prefix.as_str()) else {
                continue;
            };
            // A tab is a UUID: `pt_ob_a_` also begins campaign `a_b`'s keys.
            if tab == self.tab || !is_uuid(tab) {
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
            adopted.extend(theirs.entries().iter().cloned());
        }
        if !adopted.is_empty() {
            self.delivery.adopt(now, adopted);
            self.run();
        }
    }

    /// Registers a click (`PT.click`): switches to a handed-over transaction, adds the click's
    /// attribution, and fires the Base Event and Base Click Sold if this lead lacks them.
    pub fn click(&mut self, opts: ClickOptions, url: Option<String>, ts: Option<f64>) {
        if let Some(v) = &opts.transaction_id {
            match v {
                Prop::Text(txn) if is_uuid(txn) => {
                    if *txn != self.ident.txn {
                        self.ident = resume_identity(&self.cfg, &self.store, Some(txn.clone()));
                        self.save_identity();
                    }
                }
                Prop::Nothing => {}
                _ => error(
                    "PT.click: transaction_id is not a UUID, ignored",
                    &JsValue::UNDEFINED,
                ),
            }
        }
        for (name, v) in [("pid", &opts.pid), ("source_id", &opts.source_id)] {
            if let Some(v) = v {
                self.add_param(name, v);
            }
        }
        // `subids` as a list gives sub1, sub2, ...; as an object, its own names.
        for (i, (name, v)) in opts.subids.fields.iter().enumerate() {
            if opts.subids.list {
                self.add_param(&key(&["sub", &decimal::string(i as u64 + 1)]), v);
            } else {
                self.add_param(name, v);
            }
        }
        for (name, v) in opts.parameters.fields.iter() {
            self.add_param(name, v);
        }
        let system = self.cfg.system.clone();
        self.fire(&system.base, &Props::default(), url.clone(), ts);
        self.fire(&system.click_sold, &Props::default(), url, ts);
    }

    /// Adds a click's parameter (a string or a number) to the lead's attribution.
    fn add_param(&mut self, k: &str, v: &Prop) {
        let text = match v {
            Prop::Text(t) => t.clone(),
            // JSON.stringify of a number: Rust's float formatting would add ~10 KB to the wasm.
            Prop::Number(n) => match transport::to_json(n) {
                Some(t) => t.into(),
                None => return,
            },
            _ => return,
        };
        let k = truncate(k, MAX_KEY_LEN).to_owned();
        let params = &mut self.attribution.params;
        if params.len() < MAX_FIELDS || params.contains_key(&k) {
            params.insert(k, truncate(&text, MAX_TEXT_LEN).to_owned());
        }
    }

    /// Fires event `id` with a call's `props` (`revenue` and free data). `url` and `ts` are
    /// those of a call queued before the tracker started. Returns whether it was recorded.
    pub fn fire(&mut self, id: &str, props: &Props, url: Option<String>, ts: Option<f64>) -> bool {
        let Some(def) = self.may_fire(id) else {
            return false;
        };
        let (data, revenue, refused) = event_data(props, &def);
        for r in refused {
            let (what, name) = r.describe();
            error(what, &name.into());
        }
        let payout = def
            .payout
            .as_ref()
            .and_then(|a| a.resolve(|n| props.number(n), |_| None));
        let fired = Fired {
            data,
            revenue,
            payout,
            consent: None,
        };
        self.record(def, fired, url, ts)
    }

    /// Fires event `id` for a trigger, with the data the trigger provides (and a form's consent
    /// evidence).
    pub fn fire_with(&mut self, id: &str, data: Fields<Scalar>, consent: Option<Consent>) -> bool {
        let Some(def) = self.may_fire(id) else {
            return false;
        };
        // A form's field gives an amount as text: JavaScript's strict Number reads it.
        let field = |name: &str| match data.get(name) {
            Some(Scalar::Text(t)) if !t.trim_ascii().is_empty() => {
                Some(clickscript_web::globals::number(t))
            }
            Some(Scalar::Number(n)) => Some(*n),
            _ => None,
        };
        let revenue = def
            .revenue
            .as_ref()
            .and_then(|a| a.resolve(|_| None, field));
        let payout = def.payout.as_ref().and_then(|a| a.resolve(|_| None, field));
        let fired = Fired {
            data,
            revenue,
            payout,
            consent,
        };
        self.record(def, fired, None, None)
    }

    /// The definition of `id` if it may fire now: configured, and not a once-per-lead event
    /// this lead already has (delivered, or still on its way).
    fn may_fire(&mut self, id: &str) -> Option<EventDef> {
        if opted_out() {
            info("the visitor opted out, not sent", &id.into());
            return None;
        }
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
        fired: Fired,
        url: Option<String>,
        ts: Option<f64>,
    ) -> bool {
        let (gpc, dnt) = page::privacy();
        let mut fired = fired;
        if gpc && self.cfg.gpc == Gpc::BaseOnly {
            // The campaign sends only the Base Event, bare, for visitors with GPC.
            if def.id != self.cfg.system.base {
                info(
                    "Global Privacy Control: this campaign sends only the Base Event",
                    &def.id.as_str().into(),
                );
                return false;
            }
            fired.data = Fields::default();
            fired.consent = None;
        }
        let now = now();
        let ts = ts
            .filter(|t| *t > 0.0 && *t <= now as f64)
            .map(|t| t as u64)
            .unwrap_or(now);
        let once = (!def.multi).then(|| def.id.clone());
        let seq = self.ident.note_event(&def.id, once.is_some(), now);
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
            data: fired.data,
            revenue: fired.revenue,
            payout: fired.payout,
            consent: fired.consent,
            gpc,
            dnt,
            bot: page::webdriver(),
        };
        let Some(body) = transport::to_json(&event) else {
            error(
                "event could not be serialized, not sent",
                &event.event_id.as_str().into(),
            );
            return false;
        };
        info("event", &body);
        self.delivery.record(Entry {
            uid: event.uid,
            body: body.into(),
            attempts: 0,
            next_at: 0,
            created: now,
            once,
        });
        self.run();
        true
    }

    /// The Base Event (and Base Click Sold when the campaign says so) on page load, unless a
    /// binding fires them on another trigger (the collector says so in the configuration it
    /// serves; the triggers extension fires the bindings).
    pub fn fire_page_load(&mut self) {
        let system = self.cfg.system.clone();
        if self.base_on_load {
            self.fire_with(&system.base, Fields::default(), None);
        }
        if self.cfg.click_with_base {
            self.fire_with(&system.click_sold, Fields::default(), None);
        }
    }

    /// `PT.flush()`: `resolve` learns whether the outbox emptied (`true`) or an attempt failed.
    pub fn flush(&mut self, resolve: js_sys::Function) {
        self.waiters.push(resolve);
        self.delivery.flush(now());
        self.run();
    }

    /// The page is hidden or going away (`page_gone`): what is left goes by beacon, and the
    /// outbox and identity are written at once.
    pub fn on_hide(&mut self, page_gone: bool) {
        self.gone |= page_gone;
        self.delivery.hidden();
        self.run();
        self.save_queued = true;
        self.save_now();
    }

    /// The page is visible again, or back from the back/forward cache (`revived`): its outbox is
    /// its own again, and what waits out a pause goes at once.
    pub fn on_show(&mut self, revived: bool) {
        if revived {
            self.gone = false;
            self.heartbeat();
        }
        self.delivery.shown(now());
        self.run();
    }

    /// The browser is back online: what waits goes at once.
    pub fn on_online(&mut self) {
        self.delivery.released(now());
        self.run();
    }

    /// Carries out what delivery decided, until it has nothing more to do.
    fn run(&mut self) {
        let now = now();
        // Opted out in this tab or another of the site: nothing queued goes.
        if opted_out() && !self.delivery.outbox().is_empty() {
            self.delivery.discard_all();
        }
        while let Some(action) = self.delivery.poll(now) {
            match action {
                Action::Send(out) => self.send(out),
                Action::Beacon(out) => {
                    let sent = transport::batch_body(&out.batch)
                        .is_some_and(|body| transport::beacon(&self.url, &body));
                    if sent {
                        info("beacon", &JsValue::from(out.uids.len() as u32));
                    }
                    self.delivery.beaconed(now, &out.uids, sent);
                }
                Action::SetTimer(at) => {
                    let delay = at.saturating_sub(now).min(i32::MAX as u64) as u32;
                    self.timer = Some(Timeout::new(delay, || {
                        with(|t| {
                            t.timer = None;
                            t.delivery.timer_fired(clickscript_web::now());
                            t.run();
                        });
                    }));
                }
                Action::Persist => self.save_soon(),
                Action::Flushed(empty) => {
                    for w in self.waiters.drain(..) {
                        let _ = w.call1(&JsValue::NULL, &JsValue::from_bool(empty));
                    }
                }
                Action::Delivered { entries, .. } => {
                    info("delivered", &JsValue::from(entries.len() as u32));
                }
                Action::Dropped {
                    entries,
                    reason,
                    detail,
                } => {
                    error(reason.as_str(), &detail.into());
                    for e in &entries {
                        info("dropped", &e.body.as_str().into());
                        // A once-per-lead event that never arrived does not count: the lead
                        // may fire it again.
                        if let Some(id) = &e.once {
                            self.ident.forget(id);
                            self.save_soon();
                        }
                    }
                }
                Action::Retrying { detail, .. } => {
                    error("delivery failed, will retry", &detail.into());
                }
                Action::Adopted(n) => info("adopted undelivered events", &JsValue::from(n as u32)),
                Action::BeaconRefused(n) => error("beacon refused", &JsValue::from(n as u32)),
            }
        }
    }

    /// POSTs a batch; its answer, or its timeout, goes back to delivery.
    fn send(&mut self, out: Outgoing) {
        self.heartbeat();
        let request = out.request;
        let Some(body) = transport::batch_body(&out.batch) else {
            self.delivery.answered(now(), request, Default::default());
            return;
        };
        let controller = transport::abort_controller();
        let signal = controller.as_ref().map(|c| c.signal());
        // One hung request must not stall the outbox: abort it after a bounded time.
        let timeout = Timeout::new(REQUEST_TIMEOUT_MS as u32, move || {
            if let Some(c) = controller {
                c.abort();
            }
            with(|t| {
                t.delivery.timed_out(now(), request);
                t.run();
            });
        });
        self.request = Some((request, timeout));
        let url = self.url.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let answer = transport::post(&url, &body, out.keepalive, signal.as_ref()).await;
            with(|t| {
                if t.request.as_ref().is_some_and(|(r, _)| *r == request) {
                    t.request = None;
                }
                t.delivery.answered(now(), request, answer);
                t.run();
            });
        });
    }
}

/// The cookie (and storage key) that says the visitor opted out of capture on this site.
const OPT_OUT: &str = "pt_optout";
/// How long the opt-out is kept: 400 days, the longest a browser keeps a cookie.
const OPT_OUT_S: u64 = 400 * 24 * 3600;

thread_local! {
    /// The visitor opted out in this tab, or this page found it in storage: the cookie cannot
    /// be set or read in a cross-site frame, where storage (partitioned) still says it.
    static OPTED_OUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the visitor opted out on this site (in this tab or another).
fn opted_out() -> bool {
    OPTED_OUT.with(|o| o.get()) || cookie::get(OPT_OUT).as_deref() == Some("1")
}

/// What a fired event carries besides its definition.
struct Fired {
    data: Fields<Scalar>,
    revenue: Option<f64>,
    payout: Option<f64>,
    consent: Option<Consent>,
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
