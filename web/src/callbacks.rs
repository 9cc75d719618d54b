//! Event listeners and timers as owned values, from gloo-events and gloo-timers: dropping one
//! removes the listener or cancels the timer. Handlers that live as long as the page are
//! `forget()`-ed where they are installed, with a comment saying so.

use gloo_events::{EventListener, EventListenerOptions};
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, EventTarget};

pub use gloo_timers::callback::{Interval, Timeout};

/// Where a listener listens.
#[derive(Clone, Copy)]
pub enum On {
    /// `window`.
    Window,
    /// `document`.
    Document,
}

/// Listens to `kind` on `target` until the returned listener is dropped. `capture` listeners
/// run before the page's own (the clickscript's are passive: none calls `preventDefault`).
#[must_use = "dropping the listener removes it; forget() it for the page's lifetime"]
pub fn listen(
    target: On,
    kind: &'static str,
    capture: bool,
    f: impl FnMut(&Event) + 'static,
) -> EventListener {
    let target: EventTarget = match target {
        On::Window => crate::globals::window(),
        On::Document => crate::globals::document(),
    };
    let options = if capture {
        EventListenerOptions::run_in_capture_phase()
    } else {
        EventListenerOptions::default()
    };
    EventListener::new_with_options(&target, kind, options, f)
}

/// The element an event happened on, if it happened on one.
pub fn target_element(e: &Event) -> Option<Element> {
    e.target()?.dyn_into::<Element>().ok()
}

/// Runs `f` at the end of the current task (a microtask, after the calling code has returned).
pub fn at_task_end(f: impl FnOnce() + 'static) {
    wasm_bindgen_futures::spawn_local(async move { f() });
}
