//! Debug-mode console output. Silent unless the page asked for debug mode (`?pt_debug=1` or
//! `data-debug` on the tag), so a production page's console stays clean.

use core::cell::Cell;

use wasm_bindgen::JsValue;

use crate::globals::Console;

thread_local! {
    static DEBUG: Cell<bool> = const { Cell::new(false) };
}

const PREFIX: &str = "[clickscript]";

/// Turns debug logging on or off.
pub fn set_debug(on: bool) {
    DEBUG.with(|d| d.set(on));
}

/// Whether debug mode is on.
pub fn debug() -> bool {
    DEBUG.with(|d| d.get())
}

/// Logs `what` and a detail in debug mode.
pub fn info(what: &str, detail: &JsValue) {
    if debug() {
        let _ = Console::log(PREFIX, what, detail);
    }
}

/// Logs a problem in debug mode.
pub fn error(what: &str, detail: &JsValue) {
    if debug() {
        let _ = Console::error(PREFIX, what, detail);
    }
}
