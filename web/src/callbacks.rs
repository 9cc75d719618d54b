//! Event listeners and timers. The clickscript's listeners live as long as the page, so each
//! closure is handed to the browser and forgotten. Written here rather than with gloo-events and
//! gloo-timers: those need std, and the browser build is `no_std` for size (see `lib.rs`).

use wasm_bindgen::prelude::*;

use crate::globals::{Document, Event, Window};

/// Where a listener listens.
#[derive(Clone, Copy)]
pub enum On {
    /// `window`.
    Window,
    /// `document`.
    Document,
}

/// Listens to `kind` on `target` for the page's lifetime; `capture` listeners run before the
/// page's own. (None of the clickscript's event types can be cancelled by a listener in a way
/// `passive` would change, so the options object is not needed.)
pub fn listen(target: On, kind: &str, capture: bool, f: impl FnMut(Event) + 'static) {
    let f = Closure::<dyn FnMut(Event)>::new(f);
    match target {
        On::Window => Window::window_listen(kind, f.as_ref(), capture),
        On::Document => Document::document_listen(kind, f.as_ref(), capture),
    }
    f.forget();
}

/// Runs `f` once after `ms`; returns the timer's handle for [`cancel`].
pub fn after(ms: u32, f: impl FnOnce() + 'static) -> i32 {
    Window::set_timeout(&Closure::once_into_js(f), ms)
}

/// Runs `f` at the end of the current task (a microtask).
pub fn at_task_end(f: impl FnOnce() + 'static) {
    Window::queue_microtask(&Closure::once_into_js(f));
}

/// Cancels a timer set by [`after`].
pub fn cancel(handle: i32) {
    Window::clear_timeout(handle);
}

/// Runs `f` every `ms` for the page's lifetime.
pub fn every(ms: u32, f: impl FnMut() + 'static) {
    let f = Closure::<dyn FnMut()>::new(f);
    Window::set_interval(f.as_ref(), ms);
    f.forget();
}
