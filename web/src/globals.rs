//! The page's Web APIs that every package calls, declared by hand for wasm-bindgen.
//!
//! web-sys reaches each API through `window()` (a search for the global object) and wraps every
//! call in the `Result` and `Option` checks of its WebIDL. Declared here as a page spells them
//! (`location.href`, `document.cookie`, `window.fetch(...)`), the same calls cost about 2 KB gzip
//! less of what a page downloads before its first event. `catch` marks the calls that do throw on
//! real pages (storage and cookies in sandboxed frames or private modes, a full quota, a crypto
//! object missing); the others throw only on a page that breaks its own platform objects.
//! The triggers extension keeps web-sys for its element and observer types.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `window`: unforgeable, so a page cannot shadow it.
    #[wasm_bindgen(js_name = window)]
    pub type Window;
    /// `window.innerWidth`.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = innerWidth)]
    pub fn inner_width() -> f64;
    /// `window.innerHeight`.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = innerHeight)]
    pub fn inner_height() -> f64;
    /// `window.localStorage`: throws where the page may not use storage, `null` in some.
    #[wasm_bindgen(catch, static_method_of = Window, getter, js_name = localStorage)]
    pub fn local_storage() -> Result<Option<Storage>, JsValue>;
    /// `window.scrollY`.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = scrollY)]
    pub fn scroll_y() -> f64;
    /// `window.history`.
    #[wasm_bindgen(static_method_of = Window, getter)]
    pub fn history() -> JsValue;
    /// `document`, as the target of the clickscript's listeners.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = document)]
    fn document_target() -> web_sys::EventTarget;
    /// `window.parent`: the window itself when the page is not in a frame.
    #[wasm_bindgen(static_method_of = Window, getter)]
    pub fn parent() -> JsValue;
    /// `window.self`.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = self)]
    pub fn this() -> JsValue;
    /// A window to post a message to (a frame's parent, a frame).
    pub type MessageTarget;
    /// `target.postMessage(message, targetOrigin)`: throws for a malformed origin.
    #[wasm_bindgen(catch, method, js_name = postMessage)]
    pub fn post_message(
        this: &MessageTarget,
        message: &JsValue,
        target_origin: &str,
    ) -> Result<(), JsValue>;
    /// `window.PT`.
    #[wasm_bindgen(static_method_of = Window, getter, js_name = PT)]
    pub fn pt() -> JsValue;
    /// `location`: unforgeable.
    #[wasm_bindgen(js_name = location)]
    pub type Location;
    /// `location.href`.
    #[wasm_bindgen(static_method_of = Location, getter)]
    pub fn href() -> String;
    /// `location.search`.
    #[wasm_bindgen(static_method_of = Location, getter)]
    pub fn search() -> String;
    /// `location.hostname`.
    #[wasm_bindgen(static_method_of = Location, getter)]
    pub fn hostname() -> String;
    /// `location.protocol`.
    #[wasm_bindgen(static_method_of = Location, getter)]
    pub fn protocol() -> String;

    /// `document`: unforgeable.
    #[wasm_bindgen(js_name = document)]
    pub type Document;
    /// `document.referrer`.
    #[wasm_bindgen(static_method_of = Document, getter)]
    pub fn referrer() -> String;
    /// `document.title`.
    #[wasm_bindgen(static_method_of = Document, getter)]
    pub fn title() -> String;
    /// `document.visibilityState`.
    #[wasm_bindgen(static_method_of = Document, getter, js_name = visibilityState)]
    pub fn visibility_state() -> String;
    /// `document.documentElement` (the triggers read its `scrollHeight`).
    #[wasm_bindgen(static_method_of = Document, getter, js_name = documentElement)]
    pub fn root() -> JsValue;
    /// `document.querySelectorAll(selector)`: throws for a selector the browser cannot parse.
    #[wasm_bindgen(catch, static_method_of = Document, js_name = querySelectorAll)]
    pub fn query_selector_all(selector: &str) -> Result<web_sys::NodeList, JsValue>;
    /// `document.createElement(tag)`.
    #[wasm_bindgen(catch, static_method_of = Document, js_name = createElement)]
    pub fn create_element(tag: &str) -> Result<web_sys::Element, JsValue>;
    /// `document.hasFocus()`.
    #[wasm_bindgen(static_method_of = Document, js_name = hasFocus)]
    pub fn has_focus() -> bool;
    /// `document.cookie`: throws in a sandboxed frame.
    #[wasm_bindgen(catch, static_method_of = Document, getter)]
    pub fn cookie() -> Result<String, JsValue>;
    /// `document.cookie = c`: throws in a sandboxed frame.
    #[wasm_bindgen(catch, static_method_of = Document, setter, js_name = cookie)]
    pub fn set_cookie(c: &str) -> Result<(), JsValue>;
    /// `navigator`.
    #[wasm_bindgen(js_name = navigator)]
    pub type Navigator;
    /// `navigator.language`.
    #[wasm_bindgen(static_method_of = Navigator, getter)]
    pub fn language() -> String;
    /// `navigator.webdriver`: true in automated browsers (`undefined`, read as false, in old ones).
    #[wasm_bindgen(static_method_of = Navigator, getter)]
    pub fn webdriver() -> bool;
    /// `navigator.globalPrivacyControl`: `true` when the visitor asks not to be sold or shared
    /// (`undefined` in browsers without it).
    #[wasm_bindgen(static_method_of = Navigator, getter, js_name = globalPrivacyControl)]
    pub fn global_privacy_control() -> JsValue;
    /// `navigator.doNotTrack`: `"1"` when the visitor asks not to be tracked.
    #[wasm_bindgen(static_method_of = Navigator, getter, js_name = doNotTrack)]
    pub fn do_not_track() -> JsValue;
    /// `navigator.sendBeacon(url, body)`: throws for some URLs and bodies, `false` over quota.
    #[wasm_bindgen(catch, static_method_of = Navigator, js_name = sendBeacon)]
    pub fn send_beacon(url: &str, body: &JsValue) -> Result<bool, JsValue>;

    /// `screen`.
    #[wasm_bindgen(js_name = screen)]
    pub type Screen;
    /// `screen.width`.
    #[wasm_bindgen(static_method_of = Screen, getter)]
    pub fn width() -> f64;
    /// `screen.height`.
    #[wasm_bindgen(static_method_of = Screen, getter)]
    pub fn height() -> f64;

    /// `crypto`: missing on old browsers and on `http:` pages of some.
    #[wasm_bindgen(js_name = crypto)]
    pub type Crypto;
    /// `crypto.getRandomValues(bytes)`.
    #[wasm_bindgen(catch, static_method_of = Crypto, js_name = getRandomValues)]
    pub fn get_random_values(bytes: &mut [u8]) -> Result<JsValue, JsValue>;

    /// `console`.
    #[wasm_bindgen(js_name = console)]
    pub type Console;
    /// `console.log(a, b, c)`: a page may have replaced it with one that throws (caught, so that
    /// nothing throws through the wasm while the tracker is borrowed).
    #[wasm_bindgen(catch, static_method_of = Console)]
    pub fn log(a: &str, b: &str, c: &JsValue) -> Result<(), JsValue>;
    /// `console.error(a, b, c)`: caught, as `log`.
    #[wasm_bindgen(catch, static_method_of = Console)]
    pub fn error(a: &str, b: &str, c: &JsValue) -> Result<(), JsValue>;

    /// `Number(text)`: JavaScript's strict conversion of text to a number (caught: a page may
    /// have replaced `Number`).
    #[wasm_bindgen(catch, js_name = Number)]
    fn to_number(text: &str) -> Result<f64, JsValue>;

    /// `Object.entries(obj)`: throws for a throwing getter or a hostile Proxy of the page's.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    pub fn object_entries(obj: &JsValue) -> Result<js_sys::Array, JsValue>;

    /// `Reflect`.
    #[wasm_bindgen(js_name = Reflect)]
    pub type Reflect;
    /// `Reflect.get(obj, key)`: throws when `obj` is not an object.
    #[wasm_bindgen(catch, static_method_of = Reflect, js_name = get)]
    fn reflect_get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue>;
    /// `Reflect.set(obj, key, value)`: throws when `obj` is not an object.
    #[wasm_bindgen(catch, static_method_of = Reflect, js_name = set)]
    fn reflect_set(obj: &JsValue, key: &str, value: &JsValue) -> Result<bool, JsValue>;
    /// `Reflect.getOwnPropertyDescriptor(obj, key)`: `undefined` when `obj` has no own `key`.
    #[wasm_bindgen(catch, static_method_of = Reflect, js_name = getOwnPropertyDescriptor)]
    pub fn own_property(obj: &JsValue, key: &str) -> Result<JsValue, JsValue>;
    /// `Reflect.defineProperty(obj, key, descriptor)`.
    #[wasm_bindgen(catch, static_method_of = Reflect, js_name = defineProperty)]
    pub fn define_property(obj: &JsValue, key: &str, descriptor: &JsValue)
        -> Result<bool, JsValue>;
    /// `Reflect.deleteProperty(obj, key)`.
    #[wasm_bindgen(catch, static_method_of = Reflect, js_name = deleteProperty)]
    pub fn delete_property(obj: &JsValue, key: &str) -> Result<bool, JsValue>;
    /// `Object.getPrototypeOf(v)` (a primitive's is its wrapper's prototype).
    #[wasm_bindgen(catch, js_namespace = Object, js_name = getPrototypeOf)]
    pub fn prototype_of(v: &JsValue) -> Result<JsValue, JsValue>;

    /// `localStorage`.
    pub type Storage;
    /// `storage.getItem(key)`.
    #[wasm_bindgen(catch, method, js_name = getItem)]
    pub fn get_item(this: &Storage, key: &str) -> Result<Option<String>, JsValue>;
    /// `storage.setItem(key, value)`: throws when the quota is full.
    #[wasm_bindgen(catch, method, js_name = setItem)]
    pub fn set_item(this: &Storage, key: &str, value: &str) -> Result<(), JsValue>;
    /// `storage.removeItem(key)`.
    #[wasm_bindgen(catch, method, js_name = removeItem)]
    pub fn remove_item(this: &Storage, key: &str) -> Result<(), JsValue>;
    /// `storage.key(i)`.
    #[wasm_bindgen(catch, method)]
    pub fn key(this: &Storage, i: u32) -> Result<Option<String>, JsValue>;
    /// `storage.length`.
    #[wasm_bindgen(catch, method, getter)]
    pub fn length(this: &Storage) -> Result<u32, JsValue>;
}

/// `window`, as the target of the clickscript's listeners.
pub fn window() -> web_sys::EventTarget {
    js_sys::global().unchecked_into()
}

/// `document`, as the target of the clickscript's listeners.
pub fn document() -> web_sys::EventTarget {
    Window::document_target()
}

/// `Number(text)`, NaN when the page's `Number` throws or gives no number.
pub fn number(text: &str) -> f64 {
    to_number(text).unwrap_or(f64::NAN)
}

/// `obj[key]`, or `undefined` when `obj` is not an object (js-sys's `Reflect::get` takes the key
/// as a `JsValue`: one more call and one more value to drop at every use).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::reflect_get(obj, key).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key] = value`; nothing when `obj` is not an object.
pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::reflect_set(obj, key, value);
}
