//! The first-party transaction cookie.

use clickscript_core::decimal;
use clickscript_core::text;

use crate::globals::{Document, Location};

/// The value of cookie `name`; `None` when absent or when cookies are blocked.
pub fn get(name: &str) -> Option<String> {
    let all = Document::cookie().ok()?;
    let value = text::split(&all, b';').find_map(|pair| {
        let (k, v) = text::split_once(pair.trim_ascii_start(), b'=')?;
        (k == name).then(|| v.to_owned())
    });
    value
}

/// Sets cookie `name` for `max_age_s` seconds (host-only unless `domain` is given). `SameSite=Lax`
/// keeps it on top-level navigations from ads; `Secure` on https pages.
pub fn set(name: &str, value: &str, max_age_s: u64, domain: Option<&str>) {
    let mut c = String::with_capacity(128);
    for part in [
        name,
        "=",
        value,
        "; Max-Age=",
        &decimal::string(max_age_s),
        "; Path=/; SameSite=Lax",
    ] {
        c.push_str(part);
    }
    if let Some(d) = domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    if Location::protocol() == "https:" {
        c.push_str("; Secure");
    }
    // A sandboxed iframe throws on cookie access; the localStorage mirror then carries the lead.
    let _ = Document::set_cookie(&c);
}

/// The registrable domain of this page (`shop.example.co.uk` gives `example.co.uk`), found the
/// way the browser knows it: a probe cookie is set on each parent domain, shortest first, and the
/// first one the browser keeps is it (browsers refuse cookies for public suffixes such as
/// `co.uk`, so no suffix list ships in the wasm). `None` for an IP address, a one-label host
/// such as `localhost`, or when cookies are blocked.
pub fn registrable_domain() -> Option<String> {
    let host = Location::hostname();
    let is_ip =
        host.bytes().any(|b| b == b':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if is_ip || !host.bytes().any(|b| b == b'.') {
        return None;
    }
    const PROBE: &str = "pt_domain_probe";
    // A random value: a probe cookie another page left cannot pass for this one's.
    let mark = crate::random16()
        .iter()
        .take(4)
        .map(|b| decimal::string((*b).into()))
        .collect::<Vec<_>>()
        .concat();
    // The parent domains, shortest first (what follows each dot but the last), then the host.
    let parents = host
        .bytes()
        .enumerate()
        .rev()
        .filter(|&(_, b)| b == b'.')
        .skip(1)
        .map(|(i, _)| i + 1);
    for start in parents.chain([0]) {
        let candidate = host.get(start..)?;
        set(PROBE, &mark, 10, Some(candidate));
        if get(PROBE).as_deref() == Some(mark.as_str()) {
            set(PROBE, "", 0, Some(candidate));
            return Some(candidate.to_owned());
        }
    }
    None
}
