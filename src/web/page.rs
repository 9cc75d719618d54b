//! The page context an event carries.

use crate::core::decimal;
use crate::prelude::*;

use crate::core::event::Page;
use crate::core::limits::{truncate, MAX_TEXT_LEN, MAX_URL_LEN};

fn size(w: i32, h: i32) -> String {
    let mut s = decimal::string(w.max(0) as u64);
    s.push('x');
    decimal::push(&mut s, h.max(0) as u64);
    s
}

static TIME_ZONE: super::PageLocal<core::cell::OnceCell<String>> =
    super::PageLocal::new(core::cell::OnceCell::new());

/// Sets the page's time zone, as the loader looked it up while the wasm downloaded (Chromium's
/// first `Intl` call on a page takes some 20 ms, which would otherwise delay the first event).
pub fn set_time_zone(tz: String) {
    TIME_ZONE.with(|cell| {
        let _ = cell.set(tz);
    });
}

/// The IANA time zone, looked up once per page (unless the loader did): building an
/// `Intl.DateTimeFormat` takes a millisecond at best, which every event would otherwise pay.
fn time_zone() -> String {
    TIME_ZONE.with(|tz| {
        tz.get_or_init(|| {
            let options =
                js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
                    .resolved_options();
            js_sys::Reflect::get(&options, &"timeZone".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        })
        .clone()
    })
}

/// The current page; `url` overrides the location (a call queued before load keeps the URL it
/// was made on).
pub fn current(url: Option<String>) -> Page {
    let Some(w) = web_sys::window() else {
        return Page::default();
    };
    let doc = w.document();
    let text = |s: String, max| truncate(&s, max).to_owned();
    let url = url.or_else(|| w.location().href().ok()).unwrap_or_default();
    let num =
        |v: Result<wasm_bindgen::JsValue, _>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as i32;
    let screen = w
        .screen()
        .ok()
        .map(|s| size(s.width().unwrap_or(0), s.height().unwrap_or(0)))
        .unwrap_or_default();
    let time_zone = time_zone();
    Page {
        url: text(url, MAX_URL_LEN),
        referrer: text(
            doc.as_ref().map(|d| d.referrer()).unwrap_or_default(),
            MAX_URL_LEN,
        ),
        title: text(
            doc.as_ref().map(|d| d.title()).unwrap_or_default(),
            MAX_TEXT_LEN,
        ),
        language: text(w.navigator().language().unwrap_or_default(), 35),
        time_zone: text(time_zone, 64),
        screen,
        viewport: size(num(w.inner_width()), num(w.inner_height())),
    }
}

/// `location.href` of the page.
pub fn href() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// `location.search` of the page.
pub fn query() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// Whether the browser says it is automated.
pub fn webdriver() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"webdriver".into()).ok())
        .is_some_and(|v| v.is_truthy())
}
