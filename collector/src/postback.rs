//! Postbacks: the server-to-server calls that pay a traffic source or bill a buyer when an event
//! is stored for the first time. This module is the part without I/O: the definitions as the
//! catalog holds them, their templates and macros, the signature, and the retry policy. The
//! calls themselves are made by [`crate::deliver`] from the durable `postbacks` table.

use std::time::Duration;

use clickscript_core::attribution::CLICK_IDS;
use clickscript_core::event::Event;

use crate::store::REPORT_SOURCES;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One postback of a campaign: which event fires it, and the call to make.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Postback {
    /// The event (system or custom) whose first storage fires it.
    pub event: String,
    /// `GET` (the default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// The URL template: `https://source.example/pb?click={sub1}&payout={payout}`.
    pub url: String,
    /// The body template of a `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// How a `POST` body is encoded: `application/json` (the default) or
    /// `application/x-www-form-urlencoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<BodyType>,
}

/// The HTTP method of a postback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Method {
    /// A GET: the macros in the URL carry everything.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// A POST with a body.
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How a POST body is encoded, and so how its macros' values are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum BodyType {
    /// JSON: values are JSON-string-escaped, so none can break out of its string.
    #[serde(rename = "application/json")]
    Json,
    /// A form: values are URL-encoded, like in the URL.
    #[serde(rename = "application/x-www-form-urlencoded")]
    Form,
}

impl BodyType {
    /// Its `Content-Type`.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyType::Json => "application/json",
            BodyType::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// The macros a template may use, besides the traffic-source parameters the reports group by
/// ([`REPORT_SOURCES`]: `{sub1}`…`{sub5}`, `{source_id}`, `{pid}`, `{utm_source}`) and the
/// click IDs (`{gclid}`, `{fbclid}`, …).
pub const MACROS: [&str; 11] = [
    "transaction_id",
    "event_id",
    "uid",
    "campaign_id",
    "revenue",
    "payout",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "ts",
];

fn known(name: &str) -> bool {
    MACROS.contains(&name) || REPORT_SOURCES.contains(&name) || CLICK_IDS.contains(&name)
}

/// A piece of a parsed template.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text, as is.
    Text(&'a str),
    /// A macro, by name.
    Macro(&'a str),
}

/// Parses a template: text with `{macro}`s, where a macro is `{` + lowercase letters, digits
/// or `_` + `}`; any other brace is text (a JSON body's own braces). Every macro must be known.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut text_from = 0;
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let name_len = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || **b == b'_')
                .count();
            let close = i + 1 + name_len;
            if name_len > 0 && bytes.get(close) == Some(&b'}') {
                let name = &template[i + 1..close];
                if !known(name) {
                    return Err(format!(
                        "unknown macro {{{name}}} (known: {}, {} and the click IDs {})",
                        MACROS.join(", "),
                        REPORT_SOURCES.join(", "),
                        CLICK_IDS.join(", ")
                    ));
                }
                if text_from < i {
                    pieces.push(Piece::Text(&template[text_from..i]));
                }
                pieces.push(Piece::Macro(name));
                i = close + 1;
                text_from = i;
                continue;
            }
        }
        i += 1;
    }
    if text_from < template.len() {
        pieces.push(Piece::Text(&template[text_from..]));
    }
    Ok(pieces)
}

/// A macro's value for an event: empty when the event does not have it.
pub fn value(event: &Event, campaign: &str, name: &str) -> String {
    let amount = |a: Option<f64>| a.map(|v| v.to_string()).unwrap_or_default();
    match name {
        "transaction_id" => event.txn.clone(),
        "event_id" => event.event_id.clone(),
        "uid" => event.uid.clone(),
        "campaign_id" => campaign.to_owned(),
        "revenue" => amount(event.revenue),
        "payout" => amount(event.payout),
        "ts" => event.ts.to_string(),
        other => event
            .attribution
            .click_ids
            .get(other)
            .or_else(|| event.attribution.params.get(other))
            .cloned()
            .unwrap_or_default(),
    }
}

/// How a macro's value is escaped where it lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// In a URL or a form body: percent-encoded.
    Url,
    /// In a JSON body: JSON-string-escaped (without the quotes).
    Json,
}

fn escape(value: &str, how: Escape) -> String {
    match how {
        Escape::Url => {
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        }
        Escape::Json => {
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
    }
}

/// The macros whose values are always numbers (or empty): the only ones a JSON body may hold
/// outside a string, where an empty value is written `null`.
pub const NUMERIC_MACROS: [&str; 3] = ["revenue", "payout", "ts"];

/// A piece of a template, and whether it lies inside a JSON string (for a JSON body).
fn placed<'a>(pieces: &'a [Piece<'a>]) -> Vec<(&'a Piece<'a>, bool)> {
    let mut in_string = false;
    let mut escaped = false;
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        out.push((piece, in_string));
        if let Piece::Text(t) = piece {
            for b in t.bytes() {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') if in_string => escaped = true,
                    (false, b'"') => in_string = !in_string,
                    _ => {}
                }
            }
        }
    }
    out
}

/// Renders a (valid) template with the event's values, each escaped for where it lands.
pub fn render(template: &str, how: Escape, value_of: impl Fn(&str) -> String) -> String {
    let Ok(pieces) = parse(template) else {
        // Templates are checked when the campaign is saved; a bad one renders as written.
        return template.to_owned();
    };
    placed(&pieces)
        .into_iter()
        .map(|(p, in_string)| match p {
            Piece::Text(t) => (*t).to_owned(),
            Piece::Macro(m) => {
                let v = value_of(m);
                match how {
                    // A path segment of dots would climb the receiver's path: it is left empty.
                    Escape::Url if v.bytes().all(|b| b == b'.') => String::new(),
                    // Outside a string (a number, checked when saved): a number or null.
                    Escape::Json if !in_string => {
                        if v.parse::<f64>().is_ok_and(f64::is_finite) {
                            v
                        } else {
                            "null".into()
                        }
                    }
                    _ => escape(&v, how),
                }
            }
        })
        .collect()
}

/// Whether the URL template names its scheme and host before any macro, so that no value can
/// choose where a call goes: the text before the first macro holds the whole authority, in
/// plain characters (the URL parser skips backslashes after the scheme and drops tabs and line
/// breaks), and the call's origin is the same whatever the values.
fn host_is_fixed(url: &str) -> bool {
    let fixed = url.split('{').next().unwrap_or("");
    if fixed.contains(['\\', '\t', '\n', '\r']) {
        return false;
    }
    let Some((_, rest)) = fixed.split_once("://") else {
        return false;
    };
    let closed = match rest.find(['/', '?', '#']) {
        Some(end) => end > 0,
        // No macro at all: the whole URL is fixed.
        None => fixed.len() == url.len() && !rest.is_empty(),
    };
    let origin = |v: &str| {
        let u = reqwest::Url::parse(&render(url, Escape::Url, |_| v.into())).ok()?;
        Some((
            u.scheme().to_owned(),
            u.host_str()?.to_owned(),
            u.port_or_known_default(),
        ))
    };
    let first = origin("a");
    closed && first.is_some() && first == origin("b.example") && first == origin("")
}

/// Checks a campaign's postback: its templates, and that what it renders is a usable call.
/// Returns each problem as (field, reason).
pub fn check(p: &Postback) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match parse(&p.url) {
        Err(e) => problems.push(("url", e)),
        Ok(pieces)
            if pieces
                .iter()
                .any(|p| matches!(p, Piece::Text(t) if t.contains(['{', '}']))) =>
        {
            problems.push((
                "url",
                "has a brace that is not a {macro} (a macro is {name} in lowercase)".into(),
            ))
        }
        Ok(_) if !host_is_fixed(&p.url) => problems.push((
            "url",
            "names its host after a macro: write the scheme and host (https://host/) first, so \
             that no value chooses where the call goes"
                .into(),
        )),
        Ok(_) => {
            let sample = render(&p.url, Escape::Url, |_| "1".into());
            match reqwest::Url::parse(&sample) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => problems.push((
                    "url",
                    format!("{:?} is not an http:// or https:// URL", p.url),
                )),
            }
        }
    }
    match (&p.method, &p.body) {
        (Method::Get, Some(_)) => problems.push(("body", "a GET has no body; use POST".into())),
        (Method::Get, None) if p.content_type.is_some() => {
            problems.push(("content_type", "a GET has no body; use POST".into()))
        }
        (_, Some(body)) => match parse(body) {
            Err(e) => problems.push(("body", e)),
            Ok(pieces) if p.content_type.unwrap_or(BodyType::Json) == BodyType::Json => {
                let bare = placed(&pieces)
                    .into_iter()
                    .find_map(|(piece, in_string)| match piece {
                        Piece::Macro(m) if !in_string && !NUMERIC_MACROS.contains(m) => Some(*m),
                        _ => None,
                    });
                if let Some(m) = bare {
                    problems.push((
                        "body",
                        format!(
                            "{{{m}}} stands outside a JSON string: write \"{{{m}}}\" (only {} \
                             may stand bare, as numbers)",
                            NUMERIC_MACROS.map(|n| format!("{{{n}}}")).join(", ")
                        ),
                    ));
                } else {
                    // With values, and with every value missing (a bare number is then null).
                    for value in ["1", ""] {
                        let sample = render(body, Escape::Json, |_| value.into());
                        if let Err(e) = serde_json::from_str::<serde_json::Value>(&sample) {
                            let when = if value.is_empty() {
                                " (values missing)"
                            } else {
                                ""
                            };
                            problems
                                .push(("body", format!("is not JSON once filled in{when}: {e}")));
                            break;
                        }
                    }
                }
            }
            Ok(_) => {}
        },
        _ => {}
    }
    problems
}

/// What a postback is known by among its campaign's: a digest of its definition, the same
/// whatever its place in the list, so that reordering the list fires nothing twice.
pub fn key(p: &Postback) -> String {
    let text = serde_json::to_string(p).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// One call to make for a stored event: the postback rendered with the event's values (it
/// travels with the event through the ingest log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The postback's key ([`key`]).
    pub postback: String,
    /// Method.
    pub method: Method,
    /// URL, macros filled in.
    pub url: String,
    /// Body, macros filled in.
    pub body: Option<String>,
    /// Its content type.
    pub content_type: Option<BodyType>,
}

/// The calls `event` makes on its campaign's postbacks.
pub fn calls(postbacks: &[Postback], event: &Event, campaign: &str) -> Vec<Call> {
    postbacks
        .iter()
        .filter(|p| p.event == event.event_id)
        .map(|p| {
            let value_of = |m: &str| value(event, campaign, m);
            let content_type = p
                .body
                .as_ref()
                .map(|_| p.content_type.unwrap_or(BodyType::Json));
            let how = match content_type {
                Some(BodyType::Json) => Escape::Json,
                _ => Escape::Url,
            };
            Call {
                postback: key(p),
                method: p.method,
                url: render(&p.url, Escape::Url, value_of),
                body: p.body.as_ref().map(|b| render(b, how, value_of)),
                content_type,
            }
        })
        .collect()
}

/// The signature header's value: `t=UNIX_SECONDS,v1=HEX`, where HEX is the HMAC-SHA256, with
/// the campaign's secret, of `UNIX_SECONDS.METHOD.TARGET.BODY`: TARGET is the path and query as
/// sent on the request line, BODY empty for a GET. A GET carries everything in its query, so
/// the query is signed too. A receiver recomputes it, compares in constant time, and refuses an
/// old `t` (a replay).
pub fn signature(
    secret: &str,
    unix_seconds: u64,
    method: &str,
    target: &str,
    body: &str,
) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    for part in [&unix_seconds.to_string(), method, target] {
        mac.update(part.as_bytes());
        mac.update(b".");
    }
    mac.update(body.as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// What a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status, with the `Retry-After` it carried.
    Status(u16, Option<Duration>),
    /// No answer: refused, reset, timed out.
    NoAnswer,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Delivered: done.
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// Given up: a refusal that will not change, or out of attempts.
    Failed,
}

/// The retry policy's settings.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub base: Duration,
    /// The longest wait between attempts (a `Retry-After` too).
    pub cap: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            attempts: 10,
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
        }
    }
}

impl Policy {
    /// After attempt number `made` (1 for the first) got `answer`: what next. `jitter` in
    /// [0, 1) spreads retries so that a receiver back from an outage is not hit all at once.
    pub fn next(&self, made: u32, answer: Answer, jitter: f64) -> Next {
        let retry_after = match answer {
            Answer::Status(200..=299, _) => return Next::Delivered,
            Answer::Status(408 | 429 | 500..=599, after) => after,
            Answer::NoAnswer => None,
            Answer::Status(..) => return Next::Failed,
        };
        if made >= self.attempts {
            return Next::Failed;
        }
        let doubled = self
            .base
            .saturating_mul(1u32 << made.saturating_sub(1).min(20))
            .min(self.cap);
        // Half fixed, half random ("equal jitter"): never sooner than half the backoff.
        let wait = doubled / 2 + doubled.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let wait = match retry_after {
            Some(after) => wait.max(after.min(self.cap)),
            None => wait,
        };
        Next::Retry(wait)
    }
}

/// Reads a `Retry-After` header: seconds, or an HTTP date.
pub fn retry_after(header: &str, now: std::time::SystemTime) -> Option<Duration> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(header).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickscript_core::event::Fields;

    fn event() -> Event {
        let mut e: Event = serde_json::from_value(serde_json::json!({
            "uid":"0193b8a2-f00c-7c1e-8e4a-000000000001","event_id":"form_sold","category":"conversion",
            "scope":"system","txn":"5f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11",
            "visitor":"6f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11","session":"7f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11",
            "ts":1_764_190_000_100u64,"seq":1,"page":{"url":"https://lp.example/"},
            "attribution":{"params":{},"click_ids":{}},"data":{},"consent":null,"bot":false}))
        .unwrap();
        let mut params = Fields::default();
        params.insert("sub1".into(), "a&b=c d".into());
        params.insert("utm_source".into(), "say \"hi\"\n".into());
        e.attribution.params = params;
        let mut ids = Fields::default();
        ids.insert("gclid".into(), "G-1".into());
        e.attribution.click_ids = ids;
        e.revenue = Some(12.5);
        e
    }

    #[test]
    fn templates_name_known_macros_only_and_close_them() {
        assert_eq!(
            parse("x{sub1}y{ts}").unwrap(),
            [
                Piece::Text("x"),
                Piece::Macro("sub1"),
                Piece::Text("y"),
                Piece::Macro("ts")
            ]
        );
        assert!(parse("{gclid}{utm_content}").is_ok());
        assert!(parse("{payot}")
            .unwrap_err()
            .contains("unknown macro {payot}"));
        // A JSON body's own braces are text.
        assert_eq!(
            parse(r#"{"a":{uid}}"#).unwrap(),
            [
                Piece::Text(r#"{"a":"#),
                Piece::Macro("uid"),
                Piece::Text("}")
            ]
        );
        assert_eq!(parse("a{sub1").unwrap(), [Piece::Text("a{sub1")]);
    }

    #[test]
    fn values_are_escaped_for_where_they_land() {
        let e = event();
        let p = Postback {
            event: "form_sold".into(),
            method: Method::Post,
            url:
                "https://s.example/pb?c={sub1}&t={transaction_id}&r={revenue}&p={payout}&g={gclid}"
                    .into(),
            body: Some(r#"{"source":"{utm_source}","ts":{ts}}"#.into()),
            content_type: None,
        };
        let [call] = &calls(std::slice::from_ref(&p), &e, "c1")[..] else {
            panic!("one call")
        };
        assert_eq!(
            call.url,
            "https://s.example/pb?c=a%26b%3Dc%20d&t=5f0c1f0e%2D8a51%2D4c1b%2D9a63%2D2d0c7f9a1e11&r=12%2E5&p=&g=G%2D1"
        );
        let body: serde_json::Value = serde_json::from_str(call.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body["source"], "say \"hi\"\n",
            "a value cannot break out of its string"
        );
        assert_eq!(body["ts"], 1_764_190_000_100u64);
        assert_eq!(call.content_type, Some(BodyType::Json));
        let form = Postback {
            body: Some("s={utm_source}".into()),
            content_type: Some(BodyType::Form),
            ..p.clone()
        };
        assert_eq!(
            calls(&[form], &e, "c1")[0].body.as_deref(),
            Some("s=say%20%22hi%22%0A")
        );
        let other = Postback {
            event: "base".into(),
            ..p
        };
        assert!(calls(&[other], &e, "c1").is_empty());
        // A value of dots cannot climb the receiver's path; a bare number that is missing is
        // null, so the body stays JSON.
        let dots = |m: &str| {
            if m == "sub1" {
                "..".into()
            } else {
                String::new()
            }
        };
        assert_eq!(
            render("https://s.example/a/{sub1}/pb", Escape::Url, dots),
            "https://s.example/a//pb"
        );
        let body = render(r#"{"p":{payout},"s":"{sub1}"}"#, Escape::Json, dots);
        assert_eq!(body, r#"{"p":null,"s":".."}"#);
        let forged = render(r#"{"p":{payout}}"#, Escape::Json, |_| "1,\"x\":2".into());
        assert_eq!(forged, r#"{"p":null}"#, "a bare place takes a number only");
    }

    #[test]
    fn a_postback_is_checked_whole() {
        let get = |url: &str| Postback {
            event: "base".into(),
            method: Method::Get,
            url: url.into(),
            body: None,
            content_type: None,
        };
        assert!(check(&get("https://s.example/pb?t={transaction_id}")).is_empty());
        assert_eq!(check(&get("ftp://s.example/{uid}"))[0].0, "url");
        assert_eq!(check(&get("{sub1}/pb"))[0].0, "url");
        assert!(check(&get("https://s.example/{nope}"))[0]
            .1
            .contains("unknown macro"));
        assert!(check(&get("https://s.example/?c={sub1"))[0]
            .1
            .contains("brace"));
        let mut with_body = get("https://s.example/");
        with_body.body = Some("x".into());
        assert_eq!(check(&with_body)[0].0, "body");
        with_body.method = Method::Post;
        assert!(check(&with_body)[0].1.contains("not JSON"), "a JSON body");
        with_body.body = Some(r#"{"t":"{transaction_id}","p":{payout}}"#.into());
        assert!(check(&with_body).is_empty());
        // A bare number must be a whole value: with it missing, `-null` is not JSON.
        with_body.body = Some(r#"{"p":-{payout}}"#.into());
        assert!(check(&with_body)[0].1.contains("values missing"));
        with_body.body = Some(r#"{"p":{payout}{revenue}}"#.into());
        assert!(check(&with_body)[0].1.contains("not JSON"));
        with_body.body = Some(r#"{"s":{sub1}}"#.into());
        assert!(check(&with_body)[0].1.contains("outside a JSON string"));
        with_body.body = Some(r#"{"s":"a\"{sub1}"}"#.into());
        assert!(
            check(&with_body).is_empty(),
            "an escaped quote stays in the string"
        );
        with_body.body = Some("x".into());
        with_body.content_type = Some(BodyType::Form);
        assert!(check(&with_body).is_empty());
        with_body.body = Some("{nope}".into());
        assert_eq!(check(&with_body)[0].0, "body");
        // No value may choose the host: a macro before the path is refused.
        for url in [
            "https://{sub1}/pb",
            "https://{sub1}.example/pb",
            "https://s.example:{pid}/pb",
            "https://user:{sub1}@s.example/",
            "https://s.example{sub1}",
            "https://\\/{sub1}/pb",
            "https:/\\{sub1}/pb",
            "https://\t/{sub1}/pb",
            "https://[::1{sub1}]/",
        ] {
            assert!(check(&get(url))[0].1.contains("host"), "{url}");
        }
        assert!(check(&get("https://s.example/{sub1}")).is_empty());
        assert!(check(&get("https://s.example?c={sub1}")).is_empty());
    }

    #[test]
    fn the_key_ignores_the_place_in_the_list_but_not_the_definition() {
        let a = Postback {
            event: "base".into(),
            method: Method::Get,
            url: "https://a.example/".into(),
            body: None,
            content_type: None,
        };
        let mut b = a.clone();
        assert_eq!(key(&a), key(&b));
        b.url.push('x');
        assert_ne!(key(&a), key(&b));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_method_target_and_body() {
        // Checked against the hmac crate used the plain way.
        let sig = signature("key", 1_700_000_000, "POST", "/pb?c=1", "{\"a\":1}");
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.POST./pb?c=1.{\"a\":1}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sig, format!("t=1700000000,v1={expected}"));
        assert_ne!(
            signature("other", 1_700_000_000, "POST", "/pb?c=1", "{\"a\":1}"),
            sig
        );
        // A GET's query is what it carries: another query is another signature.
        assert_ne!(
            signature("key", 1, "GET", "/pb?payout=1", ""),
            signature("key", 1, "GET", "/pb?payout=9", "")
        );
    }

    #[test]
    fn retries_back_off_with_jitter_honour_retry_after_and_stop() {
        let policy = Policy {
            attempts: 4,
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
        };
        let s = |code| Answer::Status(code, None);
        assert_eq!(policy.next(1, s(200), 0.5), Next::Delivered);
        assert_eq!(policy.next(1, s(204), 0.5), Next::Delivered);
        for code in [400, 401, 403, 404, 410, 422] {
            assert_eq!(policy.next(1, s(code), 0.5), Next::Failed, "{code}");
        }
        assert_eq!(
            policy.next(1, s(500), 0.0),
            Next::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            policy.next(1, s(503), 1.0),
            Next::Retry(Duration::from_secs(10))
        );
        assert_eq!(
            policy.next(2, Answer::NoAnswer, 0.0),
            Next::Retry(Duration::from_secs(10))
        );
        assert_eq!(
            policy.next(3, s(408), 1.0),
            Next::Retry(Duration::from_secs(40))
        );
        assert_eq!(policy.next(4, s(500), 0.0), Next::Failed, "out of attempts");
        // Retry-After: at least that long, at most the cap.
        let after = |secs| Answer::Status(429, Some(Duration::from_secs(secs)));
        assert_eq!(
            policy.next(1, after(30), 0.0),
            Next::Retry(Duration::from_secs(30))
        );
        assert_eq!(
            policy.next(1, after(9999), 0.0),
            Next::Retry(Duration::from_secs(60))
        );
        assert_eq!(
            policy.next(1, after(1), 0.0),
            Next::Retry(Duration::from_secs(5))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("soon", now), None);
    }
}
