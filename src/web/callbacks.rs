//! Event listeners and timers, straight on web-sys. The clickscript's listeners live as long as
//! the page, so each closure is handed to the browser and forgotten. Written here rather than
//! with gloo-events and gloo-timers: those need std, and the browser build is `no_std` for size
//! (see `lib.rs`).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Listens to `kind` on `target` for the page's lifetime; `capture` listeners run before the
/// page's own. Every listener is passive: the clickscript never cancels an event.
pub fn listen(
    target: &web_sys::EventTarget,
    kind: &str,
    capture: bool,
    f: impl FnMut(web_sys::Event) + 'static,
) {
    let f = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    let options = web_sys::AddEventListenerOptions::new();
    options.set_capture(capture);
    options.set_passive(true);
    let _ = target.add_event_listener_with_callback_and_add_event_listener_options(
        kind,
        f.as_ref().unchecked_ref(),
        &options,
    );
    f.forget();
}

/// Runs `f` once after `ms`; returns the timer's handle for [`cancel`].
pub fn after(ms: u32, f: impl FnOnce() + 'static) -> Option<i32> {
    let f = Closure::once_into_js(f);
    web_sys::window()?
        .set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms as i32)
        .ok()
}

/// Runs `f` at the end of the current task (a microtask); `false` when there is no window.
pub fn at_task_end(f: impl FnOnce() + 'static) -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    w.queue_microtask(Closure::once_into_js(f).unchecked_ref());
    true
}

/// Cancels a timer set by [`after`].
pub fn cancel(handle: i32) {
    if let Some(w) = web_sys::window() {
        w.clear_timeout_with_handle(handle);
    }
}

/// Runs `f` every `ms` for the page's lifetime.
pub fn every(ms: u32, f: impl FnMut() + 'static) {
    let f = Closure::<dyn FnMut()>::new(f);
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            f.as_ref().unchecked_ref(),
            ms as i32,
        );
    }
    f.forget();
}
