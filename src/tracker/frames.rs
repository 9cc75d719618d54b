//! The lead across frames ([`clickscript_core::frame`]): in an iframe the clickscript asks its
//! parent for the lead before its page-load events; a parent running the same campaign answers
//! the frames of its allowed origins with the transaction, the once-per-lead events it fired and
//! its attribution.

use wasm_bindgen::{JsCast, JsValue};

use clickscript_core::event::{Attribution, Fields};
use clickscript_core::frame::{self, ASK_EVERY_MS, HELLO, LEAD, WAIT_MS};
use clickscript_core::ids::is_uuid;
use clickscript_core::props::Prop;
use clickscript_web::callbacks::Timeout;
use clickscript_web::console::info;
use clickscript_web::globals::{get, set, MessageTarget, Window};
use clickscript_web::{now, props};

use super::{opted_out, resume_identity, with, Tracker};

/// Whether this page runs in a frame.
pub fn in_frame() -> bool {
    Window::parent() != Window::this()
}

fn object(entries: &[(&str, &JsValue)]) -> JsValue {
    let o: JsValue = js_sys::Object::new().into();
    for (k, v) in entries {
        set(&o, k, v);
    }
    o
}

fn strings(fields: &Fields<String>) -> JsValue {
    let o: JsValue = js_sys::Object::new().into();
    for (k, v) in fields.iter() {
        set(&o, k, &JsValue::from_str(v));
    }
    o
}

/// The string values of an object (or an array, by index) a message carries.
fn read_strings(v: &JsValue) -> Fields<String> {
    let mut out = Fields::default();
    for (k, p) in props::props(v).fields.iter() {
        if let Prop::Text(t) = p {
            out.insert(k.clone(), t.clone());
        }
    }
    out
}

fn post(to: &JsValue, message: &JsValue, origin: &str) {
    if to.is_object() {
        let _ = to
            .unchecked_ref::<MessageTarget>()
            .post_message(message, origin);
    }
}

impl Tracker {
    /// In a frame: asks the parent for the lead now and every [`ASK_EVERY_MS`], for at most
    /// [`WAIT_MS`]; the page-load events fire once it answers or the wait ends.
    pub fn ask_parent(&mut self) {
        self.asking_parent = Some((now() + WAIT_MS, None));
        // The extension holds the forms' events and PT.ready() while this is set, so that they
        // go with the lead the frame ends up with.
        set(&Window::pt(), "asking", &JsValue::TRUE);
        self.say_hello();
    }

    /// Asks the parent, and again in [`ASK_EVERY_MS`] while the wait lasts (a timer set anew
    /// each time: the clickscript's timers are timeouts, an interval would be more code).
    fn say_hello(&mut self) {
        let Some((until, next)) = &mut self.asking_parent else {
            return;
        };
        if now() >= *until {
            self.stop_asking();
            return;
        }
        *next = Some(Timeout::new(ASK_EVERY_MS, || {
            with(|t| t.say_hello());
        }));
        // Only the campaign's ID goes, to whatever page is the parent.
        let hello = object(&[
            ("pt", &HELLO.into()),
            ("campaign", &self.cfg.campaign.as_str().into()),
        ]);
        post(&Window::parent(), &hello, "*");
    }

    /// The wait for the parent ends (answered, timed out, or the page hidden or left): the
    /// page-load events fire, with the lead the frame has then.
    pub fn stop_asking(&mut self) {
        if self.asking_parent.take().is_some() {
            set(&Window::pt(), "asking", &JsValue::FALSE);
            self.fire_page_load();
        }
    }

    /// A `message` event: a frame's question, or the parent's answer.
    pub fn on_message(&mut self, e: &web_sys::Event) {
        let data = get(e, "data");
        let kind = get(&data, "pt").as_string();
        let origin = get(e, "origin").as_string().unwrap_or_default();
        let ours = get(&data, "campaign").as_string().as_deref()
            == Some(self.cfg.campaign.as_str())
            && frame::shares_with(&origin, &self.cfg.allowed_origins);
        if !ours {
            return;
        }
        let source = get(e, "source");
        match kind.as_deref() {
            Some(HELLO) if !opted_out() => self.answer_frame(&source, &origin),
            Some(LEAD) if self.asking_parent.is_some() && source == Window::parent() => {
                self.take_parents_lead(&data)
            }
            _ => {}
        }
    }

    /// Hands this page's lead to a frame of an allowed origin (and to it alone).
    fn answer_frame(&self, frame: &JsValue, origin: &str) {
        let fired: js_sys::Array = self.ident.fired.iter().map(JsValue::from).collect();
        let lead = object(&[
            ("pt", &LEAD.into()),
            ("campaign", &self.cfg.campaign.as_str().into()),
            ("txn", &self.ident.txn.as_str().into()),
            ("fired", &fired),
            ("params", &strings(&self.attribution.params)),
            ("click_ids", &strings(&self.attribution.click_ids)),
        ]);
        post(frame, &lead, origin);
    }

    /// The parent's lead: the frame takes its transaction, what it fired and its attribution.
    fn take_parents_lead(&mut self, data: &JsValue) {
        let Some(txn) = get(data, "txn").as_string().filter(|t| is_uuid(t)) else {
            return;
        };
        let fired: Vec<String> = read_strings(&get(data, "fired"))
            .iter()
            .map(|(_, id)| id.clone())
            .collect();
        let parent = Attribution {
            params: read_strings(&get(data, "params")),
            click_ids: read_strings(&get(data, "click_ids")),
        };
        if txn != self.ident.txn {
            self.ident = resume_identity(&self.cfg, &self.store, Some(txn));
        }
        self.ident.adopt_fired(&fired);
        self.attribution = frame::attribution(&parent, &self.attribution);
        if !opted_out() {
            self.save_identity();
        }
        info("the parent's lead", &self.ident.txn.as_str().into());
        self.stop_asking();
    }
}
