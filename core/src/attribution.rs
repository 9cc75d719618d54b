//! Attribution: every query-string parameter of the landing URL, with the ad networks' click IDs
//! kept apart so that reports and postbacks find them by name.

use super::event::Attribution;
use super::limits::{truncate, MAX_FIELDS, MAX_KEY_LEN, MAX_TEXT_LEN};
use super::text;

/// Click IDs of the ad networks, captured into `click_ids`.
pub const CLICK_IDS: [&str; 8] = [
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "twclid",
];

/// Parameters that belong to the clickscript itself and are not attribution.
const OWN_PARAMS: [&str; 2] = ["pt_debug", "transaction_id"];

/// Parses a query string (with or without its leading `?`).
///
/// Values are percent- and `+`-decoded. For a repeated parameter the first non-empty value wins
/// (trackers append rather than replace); an empty parameter is kept as `""` unless it is a
/// click ID, which is only worth anything with a value. Keys and values are cut to the collector's
/// limits, and at most `MAX_FIELDS` parameters are kept, so an event is never refused for them.
pub fn parse_query(query: &str) -> Attribution {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Attribution::default();
    for (key, value) in pairs(query) {
        let key = truncate(&key, MAX_KEY_LEN);
        if key.is_empty() || OWN_PARAMS.contains(&key) {
            continue;
        }
        let value = truncate(&value, MAX_TEXT_LEN);
        let map = if CLICK_IDS.contains(&key) {
            if value.is_empty() {
                continue;
            }
            &mut out.click_ids
        } else {
            &mut out.params
        };
        let room = map.len() < MAX_FIELDS;
        match map.get_mut(key) {
            Some(old) if old.is_empty() => *old = value.to_owned(),
            Some(_) => {}
            None if room => map.insert(key.to_owned(), value.to_owned()),
            None => {}
        }
    }
    out
}

/// The value of query parameter `name`, decoded, as the captured attribution has it: for a
/// repeated parameter the first non-empty value, else `""`; `None` when absent.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut found = None;
    for (_, v) in pairs(query).filter(|(k, _)| k == name) {
        if !v.is_empty() {
            return Some(v);
        }
        found = Some(v);
    }
    found
}

/// The `key=value` pairs of a query string, decoded as `application/x-www-form-urlencoded`
/// (`+` is a space, `%XX` a byte). Hand-written rather than form_urlencoded: that crate's
/// lossy UTF-8 decoding cost 1.6 KB gzip of wasm, this a fraction of it (the tests hold the two
/// to the same results). A value whose bytes are not UTF-8 once decoded is kept as sent.
fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text::split(query, b'&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = text::split_once(p, b'=').unwrap_or((p, ""));
        (decode(k), decode(v))
    })
}

fn decode(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |i: usize| match b.get(i) {
        Some(c @ b'0'..=b'9') => Some(c - b'0'),
        Some(c @ b'a'..=b'f') => Some(c - b'a' + 10),
        Some(c @ b'A'..=b'F') => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_parameter_is_what_the_attribution_captured() {
        for q in [
            "?gclid=&gclid=G2",
            "?utm_source=&utm_source=a&utm_source=b",
            "?empty=&empty=",
            "?sub1=x%20y&sub1=z",
            "?plain=1",
        ] {
            let a = parse_query(q);
            for (k, v) in a.params.iter().chain(a.click_ids.iter()) {
                assert_eq!(query_param(q, k).as_deref(), Some(v.as_str()), "{q} {k}");
            }
        }
        assert_eq!(
            query_param("?gclid=&gclid=G2", "gclid").as_deref(),
            Some("G2")
        );
        assert_eq!(query_param("?empty=", "empty").as_deref(), Some(""));
        assert_eq!(query_param("?a=1", "b"), None);
    }

    #[test]
    fn captures_every_named_parameter() {
        let q = "?utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=loans&utm_content=ad1\
                 &gclid=G1&gbraid=GB&wbraid=WB&fbclid=F1&msclkid=M1&ttclid=T1&li_fat_id=L1&twclid=TW\
                 &sub1=a&sub2=b&sub3=c&sub4=d&sub5=e&subid=s&pid=42&source_id=src&custom=x";
        let a = parse_query(q);
        for k in CLICK_IDS {
            assert!(a.click_ids.contains_key(k), "{k}");
            assert!(!a.params.contains_key(k), "{k}");
        }
        for k in [
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "sub1",
            "sub2",
            "sub3",
            "sub4",
            "sub5",
            "subid",
            "pid",
            "source_id",
            "custom",
        ] {
            assert!(a.params.contains_key(k), "{k}");
        }
        assert_eq!(a.click_ids["gclid"], "G1");
        assert_eq!(a.params["pid"], "42");
    }

    #[test]
    fn repeated_and_empty_parameters() {
        let a = parse_query("sub1=&sub1=second&sub1=third&utm_source=&gclid=&gclid=G");
        assert_eq!(a.params["sub1"], "second");
        assert_eq!(a.params["utm_source"], "");
        assert_eq!(a.click_ids["gclid"], "G");
        let a = parse_query("fbclid=");
        assert!(a.click_ids.is_empty());
    }

    #[test]
    fn percent_and_plus_decoding() {
        let a =
            parse_query("utm_campaign=spring%20sale+2026&sub2=caf%C3%A9&sub3=a%26b%3Dc&bad=%ZZ");
        assert_eq!(a.params["utm_campaign"], "spring sale 2026");
        assert_eq!(a.params["sub2"], "café");
        assert_eq!(a.params["sub3"], "a&b=c");
        assert_eq!(a.params["bad"], "%ZZ");
    }

    #[test]
    fn own_parameters_and_limits() {
        let a = parse_query("pt_debug=1&transaction_id=x&=novalue&k=v");
        assert_eq!(a.params.len(), 1);
        let long = "v".repeat(2000);
        let a = parse_query(&format!("sub1={long}"));
        assert_eq!(a.params["sub1"].len(), MAX_TEXT_LEN);
        let many: Vec<String> = (0..80).map(|i| format!("p{i}=1")).collect();
        assert_eq!(parse_query(&many.join("&")).params.len(), MAX_FIELDS);
    }

    #[test]
    fn decoding_matches_form_urlencoded() {
        let cases = [
            "a=1&b=2",
            "a=%41%42%43&b=%e2%9c%93+ok",
            "sp+ace=x+y&plus=%2B&pct=%25&amp=%26",
            "bad=%ZZ&short=%4&end=%&ab=%4G",
            "noval&=empty&k=&&k2=v2&",
            "emoji=%F0%9F%98%80&dup=1&dup=2",
            "raw=café&mixed=caf%C3%A9",
            "eq=a=b=c",
        ];
        for q in cases {
            let ours: Vec<(String, String)> = pairs(q).collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(ours, theirs, "{q}");
        }
        // Not UTF-8 once decoded: kept as sent (form_urlencoded would put U+FFFD in its place).
        assert_eq!(decode("%FF%FEx"), "%FF%FEx");
    }

    #[test]
    fn single_parameter_lookup() {
        assert_eq!(query_param("?a=1&b=x%20y", "b").as_deref(), Some("x y"));
        assert_eq!(query_param("a=1", "c"), None);
        assert_eq!(query_param("", "c"), None);
    }
}
