//! Offer links and calls. A link to one of the campaign's offer domains gets the transaction ID
//! and the page's sub parameters when it is pressed (mouse down, click, middle click,
//! the context menu's "open in new tab", a key), so the browser follows the decorated link with
//! no delay; `PT.decorate(url)` does the same for pages that navigate in code. A click on a
//! `tel:` link fires the Base Call Sold Event, unless the campaign binds that event itself.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use clickscript_core::attribution::parse_query;
use clickscript_core::event::{Fields, Scalar};
use clickscript_core::limits::{truncate, MAX_TEXT_LEN};
use clickscript_core::offer::OfferRules;
use clickscript_web::callbacks::{listen, target_element, On};
use clickscript_web::globals::{get, set, Window};
use clickscript_web::page;

thread_local! {
    static RULES: RefCell<OfferRules> = RefCell::new(OfferRules::default());
}

/// The lead's transaction ID, from the clickscript (`PT.transactionId`).
fn transaction_id() -> Option<String> {
    let f: js_sys::Function = get(&Window::pt(), "transactionId").dyn_into().ok()?;
    f.call0(&JsValue::NULL).ok()?.as_string()
}

/// `href` decorated for its offer, or `None` when it is not an offer link (or there is no lead
/// yet). The browser's URL parser reads and writes it; a relative `href` is read against the
/// page's URL.
pub fn decorate(href: &str) -> Option<String> {
    let url = web_sys::Url::new_with_base(href, &page::href()).ok()?;
    let params = RULES.with(|r| {
        let r = r.try_borrow().ok()?;
        if !r.is_offer_host(&url.hostname()) {
            return None;
        }
        let landing = parse_query(&page::query());
        let mut found = landing.params;
        found.extend(landing.click_ids);
        Some(r.params(&transaction_id()?, &found))
    })?;
    let search = url.search_params();
    for (k, v) in params {
        search.set(&k, &v);
    }
    Some(url.href())
}

/// Installs the offer links' decoration and `PT.decorate`, and the default Call Sold on `tel:`
/// links (`call_sold`: the event, `None` when a binding fires it instead). Page-lifetime.
pub fn install(rules: OfferRules, call_sold: Option<String>) {
    let has_offers = !rules.domains.is_empty();
    RULES.with(|r| r.replace(rules));
    // PT.decorate(url): the loader's stand-in returns the URL as given until this runs.
    let api = Closure::<dyn Fn(JsValue) -> JsValue>::new(|url: JsValue| {
        url.as_string()
            .and_then(|u| decorate(&u))
            .map_or(url, JsValue::from)
    });
    set(&Window::pt(), "decorate", api.as_ref());
    api.forget();
    if has_offers {
        for kind in ["mousedown", "click", "auxclick", "contextmenu", "keydown"] {
            listen(On::Document, kind, true, |e| {
                let link = target_element(e).and_then(|t| t.closest("a[href]").ok().flatten());
                if let Some(link) = link {
                    let href = get(&link, "href").as_string().unwrap_or_default();
                    if let Some(decorated) = decorate(&href).filter(|d| *d != href) {
                        let _ = link.set_attribute("href", &decorated);
                    }
                }
            })
            .forget();
        }
    }
    if let Some(event) = call_sold {
        listen(On::Document, "click", true, move |e| {
            let link = target_element(e).and_then(|t| t.closest("a[href]").ok().flatten());
            let Some(href) = link.and_then(|l| l.get_attribute("href")) else {
                return;
            };
            let Some(number) = href
                .get(..4)
                .filter(|s| s.eq_ignore_ascii_case("tel:"))
                .map(|_| href.get(4..).unwrap_or(""))
            else {
                return;
            };
            let mut data = Fields::default();
            data.insert(
                "number".to_owned(),
                Scalar::Text(truncate(number, MAX_TEXT_LEN).to_owned()),
            );
            crate::triggers::fire(&event, data);
        })
        .forget();
    }
}
