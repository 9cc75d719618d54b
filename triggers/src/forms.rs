//! Forms: a submitted form's fields, read from the page for the core's capture rules
//! ([`clickscript_core::capture`]), which decide what leaves the page. One reader for both ways a
//! form fires an event (a marketer's `data-pt-event` and a campaign's `submit` binding), and one
//! event per submission.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::capture::{capture, Capture, CaptureRules, Control, Submissions};
use clickscript_core::limits::truncate;
use clickscript_web::console::info;
use clickscript_web::globals::get;

thread_local! {
    static SUBMISSIONS: RefCell<Submissions> = RefCell::new(Submissions::default());
    /// The campaign's capture rules; `None` when they could not be read (forms then send no
    /// fields: an exclusion the campaign asked for cannot be honoured).
    static RULES: RefCell<Option<CaptureRules>> = RefCell::new(Some(CaptureRules::default()));
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
