//! Forms: a submitted form's fields, read from the page for the core's capture rules
//! ([`clickscript_core::capture`]), which decide what leaves the page. One reader for both ways a
//! form fires an event (a marketer's `data-pt-event` and a campaign's `submit` binding), and one
//! event per submission.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::capture::{
    add_certificates, capture, certificates_pending, Capture, CaptureRules, Control, Submissions,
    CERTIFICATE_WAIT_MS,
};
use clickscript_core::consent::Consent;
use clickscript_core::event::{Fields, Scalar};

use clickscript_core::limits::truncate;
use clickscript_web::callbacks::{listen, Interval, On};
use clickscript_web::console::info;
use clickscript_web::globals::get;
use clickscript_web::globals::{Document, Window};

use crate::triggers::fire_form;

thread_local! {
    static SUBMISSIONS: RefCell<Submissions> = RefCell::new(Submissions::default());
    /// The campaign's capture rules; `None` when they could not be read (forms then send no
    /// fields: an exclusion the campaign asked for cannot be honoured).
    static RULES: RefCell<Option<CaptureRules>> = RefCell::new(Some(CaptureRules::default()));
    /// Submitted forms' events waiting for the certificate fields, with the time they give up.
    static WAITING: RefCell<Waiting> = RefCell::new(Waiting::default());
}

#[derive(Default)]
struct Waiting {
    events: Vec<(String, Fields<Scalar>, Option<Consent>)>,
    /// `PT.ready()` calls waiting for the certificates.
    ready: Vec<js_sys::Function>,
    until: u64,
    /// The check, every 100 ms while something waits (dropping it stops it).
    tick: Option<Interval>,
}

/// The certificate fields on the page (TrustedForm's, Jornaya LeadiD's), inside a form or not,
/// by name (or id), with their values; none inside `data-pt-ignore` or excluded by the campaign,
/// and none at all when the campaign's rules could not be read.
fn certificates() -> Vec<(String, String)> {
    let Some(rules) = RULES.with(|r| r.borrow().clone()) else {
        return Vec::new();
    };
    let Ok(found) = Document::query_selector_all(
        r#"input[name="xxTrustedFormCertUrl" i],input[name="universal_leadid" i],input[name="leadid_token" i],input#leadid_token"#,
    ) else {
        return Vec::new();
    };
    (0..found.length())
        .filter_map(|i| found.item(i))
        .filter_map(|node| {
            let el: web_sys::Element = node.dyn_into().ok()?;
            if el.closest("[data-pt-ignore]").ok().flatten().is_some() {
                return None;
            }
            let name = el
                .get_attribute("name")
                .filter(|n| !n.is_empty())
                .or_else(|| el.get_attribute("id"))
                .unwrap_or_default();
            let excluded = rules
                .exclude_fields
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&name));
            (!excluded).then(|| (name, text(&el, "value")))
        })
        .collect()
}

/// Whether a form's event (and `PT.ready()`) waits: a certificate field on the page is still
/// empty, or, in a frame, the clickscript still asks its parent for the lead (`PT.asking`), so
/// that the event goes with the lead the frame ends up with.
fn held(found: &[(String, String)]) -> bool {
    certificates_pending(found) || get(&Window::pt(), "asking").is_truthy()
}

/// Hands a submitted form's event over, with the certificates on the page. While a certificate
/// field is still empty it waits, for at most [`CERTIFICATE_WAIT_MS`] (or until the page goes).
pub fn send(event: String, fields: Fields<Scalar>, consent: Option<Consent>) {
    let found = certificates();
    if !held(&found) {
        let mut fields = fields;
        add_certificates(&mut fields, &found);
        fire_form(&event, fields, consent.as_ref());
        return;
    }
    info("waiting for the certificate fields", &event.as_str().into());
    wait(|w| w.events.push((event, fields, consent)));
}

/// `PT.ready()`'s wait: calls `done` once the certificate fields on the page are filled, or
/// after [`CERTIFICATE_WAIT_MS`].
pub fn when_certified(done: js_sys::Function) {
    if held(&certificates()) {
        wait(|w| w.ready.push(done));
    } else {
        let _ = done.call0(&JsValue::NULL);
    }
}

/// Adds to what waits for the certificates, and starts the check if it is not running.
fn wait(add: impl FnOnce(&mut Waiting)) {
    let start = WAITING.with(|w| {
        let Ok(mut w) = w.try_borrow_mut() else {
            return false;
        };
        add(&mut w);
        if w.tick.is_some() {
            return false;
        }
        w.until = clickscript_web::now() + CERTIFICATE_WAIT_MS;
        true
    });
    if start {
        let tick = Interval::new(100, || {
            let due = WAITING.with(|w| {
                w.try_borrow()
                    .map_or(true, |w| clickscript_web::now() >= w.until)
            });
            if due || !held(&certificates()) {
                release();
            }
        });
        WAITING.with(|w| {
            if let Ok(mut w) = w.try_borrow_mut() {
                w.tick = Some(tick);
            }
        });
    }
}

/// Sends what waits for certificates now, with the certificates there are, and answers the
/// `PT.ready()` calls.
fn release() {
    let (events, ready) = WAITING
        .with(|w| {
            w.try_borrow_mut().ok().map(|mut w| {
                w.tick = None;
                (std::mem::take(&mut w.events), std::mem::take(&mut w.ready))
            })
        })
        .unwrap_or_default();
    let found = certificates();
    for (event, mut fields, consent) in events {
        add_certificates(&mut fields, &found);
        fire_form(&event, fields, consent.as_ref());
    }
    for done in ready {
        let _ = done.call0(&JsValue::NULL);
    }
}

/// A page that goes away sends what waits for certificates at once (page-lifetime listeners).
pub fn release_when_the_page_goes() {
    listen(On::Window, "pagehide", false, |_| release()).forget();
    listen(On::Document, "visibilitychange", false, |_| {
        if Document::visibility_state() == "hidden" {
            release();
        }
    })
    .forget();
}

/// Sets the campaign's capture rules (at start).
pub fn set_rules(rules: CaptureRules) {
    RULES.with(|r| r.replace(Some(rules)));
}

/// The campaign's capture rules could not be read: forms send their events without fields.
pub fn set_rules_unreadable() {
    RULES.with(|r| r.replace(None));
}

/// One control as read from the page (owned: the core's [`Control`] borrows from it).
#[derive(Default)]
struct Read {
    name: String,
    id: String,
    data_name: String,
    kind: String,
    autocomplete: String,
    label: String,
    checked: bool,
    disabled: bool,
    ignored: bool,
    value: String,
}

impl Read {
    fn control(&self) -> Control<'_> {
        Control {
            name: &self.name,
            id: &self.id,
            data_name: &self.data_name,
            kind: &self.kind,
            autocomplete: &self.autocomplete,
            label: &self.label,
            checked: self.checked,
            disabled: self.disabled,
            ignored: self.ignored,
            value: &self.value,
        }
    }
}

fn text(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_default()
}

/// A control's labels (`<label for>` or around it) and `aria-label`, bounded: what a visitor
/// reads as its name, which can say "Social Security Number" of a field called `f7`.
fn label_text(el: &web_sys::Element) -> String {
    let mut label = el.get_attribute("aria-label").unwrap_or_default();
    let labels = get(el, "labels");
    let n = get(&labels, "length").as_f64().unwrap_or(0.0) as u32;
    for i in 0..n.min(4) {
        let l = js_sys::Reflect::get_u32(&labels, i).unwrap_or(JsValue::UNDEFINED);
        label.push(' ');
        label.push_str(&text(&l, "textContent"));
    }
    truncate(&label, 256).to_owned()
}

fn read(el: &JsValue) -> Option<Read> {
    let element = el.dyn_ref::<web_sys::Element>()?;
    let attr = |name: &str| element.get_attribute(name).unwrap_or_default();
    Some(Read {
        name: attr("name"),
        id: attr("id"),
        data_name: attr("data-pt-name"),
        kind: text(el, "type").to_ascii_lowercase(),
        autocomplete: attr("autocomplete"),
        label: label_text(element),
        checked: get(el, "checked").is_truthy(),
        disabled: get(el, "disabled").is_truthy(),
        ignored: element.closest("[data-pt-ignore]").ok().flatten().is_some(),
        value: text(el, "value"),
    })
}

/// What `form` gives an event: its fields that may leave the page. Debug mode names each field
/// held back and why (never its value).
pub fn fields(form: &web_sys::Element) -> Capture {
    let elements = get(form, "elements");
    let n = get(&elements, "length").as_f64().unwrap_or(0.0) as u32;
    fields_of((0..n).filter_map(|i| read(&js_sys::Reflect::get_u32(&elements, i).ok()?)))
}

fn fields_of(controls: impl IntoIterator<Item = Read>) -> Capture {
    let controls: Vec<Read> = controls.into_iter().collect();
    let Some(rules) = RULES.with(|r| r.borrow().clone()) else {
        return Capture::default();
    };
    let captured = capture(controls.iter().map(Read::control), &rules);
    for (name, why) in &captured.withheld {
        info(why.describe(), &name.as_str().into());
    }
    captured
}

/// A single field's value as the capture rules let it leave the page (trimmed and bounded), or
/// `None` when they hold it back (named in debug mode) or it gives nothing.
pub fn field_value(el: &web_sys::Element) -> Option<String> {
    let control = read(el.as_ref())?;
    let captured = fields_of([control]);
    let (_, v) = captured.fields.iter().next()?;
    match v {
        clickscript_core::event::Scalar::Text(t) => Some(t.clone()),
        _ => None,
    }
}

/// Whether this is the first time `event` fires with these fields within the submit window (a
/// double click, a framework that submits twice, a re-dispatched submit give one event).
pub fn first_submission(event: &str, captured: &Capture) -> bool {
    SUBMISSIONS
        .with(|s| {
            s.try_borrow_mut()
                .ok()
                .map(|mut s| s.first(event, &captured.fields, clickscript_web::now()))
        })
        .unwrap_or(true)
}
