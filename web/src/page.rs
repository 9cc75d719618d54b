//! The page context an event carries.

use clickscript_core::decimal;

use clickscript_core::event::Page;
use clickscript_core::limits::{truncate, MAX_TEXT_LEN, MAX_URL_LEN};

use crate::globals::{Document, Location, Navigator, Screen, Window};

fn size(w: f64, h: f64) -> String {
    // `as` saturates: a negative or NaN size is 0.
    let mut s = decimal::string(w as u64);
    s.push('x');
    decimal::push(&mut s, h as u64);
    s
}

thread_local! {
    static TIME_ZONE: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
}

/// Sets the page's IANA time zone, as the loader looked it up while the wasm downloaded
/// (Chromium's first `Intl` call on a page takes some 20 ms, which would otherwise delay the
/// first event, and each later one a millisecond).
pub fn set_time_zone(tz: String) {
    TIME_ZONE.with(|cell| {
        let _ = cell.set(tz);
    });
}

/// The current page; `url` overrides the location (a call queued before load keeps the URL it
/// was made on).
pub fn current(url: Option<String>) -> Page {
    let text = |s: String, max| truncate(&s, max).to_owned();
    Page {
        url: text(url.unwrap_or_else(Location::href), MAX_URL_LEN),
        referrer: text(Document::referrer(), MAX_URL_LEN),
        title: text(Document::title(), MAX_TEXT_LEN),
        language: text(Navigator::language(), 35),
        time_zone: TIME_ZONE.with(|tz| text(tz.get().cloned().unwrap_or_default(), 64)),
        screen: size(Screen::width(), Screen::height()),
        viewport: size(Window::inner_width(), Window::inner_height()),
    }
}

/// `location.href` of the page.
pub fn href() -> String {
    Location::href()
}

/// `location.search` of the page.
pub fn query() -> String {
    Location::search()
}

/// Whether the browser says it is automated.
pub fn webdriver() -> bool {
    Navigator::webdriver()
}

/// The visitor's privacy signals: Global Privacy Control, and Do Not Track.
pub fn privacy() -> (bool, bool) {
    let gpc = Navigator::global_privacy_control().as_bool() == Some(true);
    let dnt = Navigator::do_not_track().as_string().as_deref() == Some("1");
    (gpc, dnt)
}
