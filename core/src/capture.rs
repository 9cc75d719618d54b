//! Lead capture: which of a submitted form's fields leave the page, and under what name. The
//! rules are here, pure and tested natively; the browser layer (the triggers extension) only
//! reads each control of the form into a [`Control`].
//!
//! What never leaves the page, whatever the campaign binds: passwords; fields whose
//! `autocomplete` is a card's (`cc-*`), `one-time-code`, `new-password` or `current-password`;
//! fields named or labelled like card numbers, card security codes, social security or other tax
//! numbers, passports, bank account or routing numbers and PINs; any value that looks like a card
//! number (13-19 digits passing the Luhn check) or a US social security number, whatever its field
//! is called; anything inside `data-pt-ignore`; hidden inputs except the certificate fields the
//! buyers check (TrustedForm, Jornaya LeadiD); and the fields the campaign excludes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;
use crate::event::{Fields, Scalar};
use crate::limits::{truncate, MAX_FIELDS, MAX_KEY_LEN, MAX_TEXT_LEN};
use crate::{decimal, text};

/// What a campaign says of its forms' capture: served as `capture` beside its configuration, read
/// by the extension that reads the forms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaptureRules {
    /// Field names held back besides the secrets (compared without case).
    #[serde(default)]
    pub exclude_fields: Vec<String>,
    /// Email and phone fields travel as the SHA-256 (lower-case hex) of their normalised form
    /// instead of as given: the email trimmed and lower-cased, the phone as its E.164 digits.
    #[serde(default)]
    pub hash_contacts: bool,
}

impl CaptureRules {
    /// Every problem of these rules, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        if self.exclude_fields.len() > MAX_FIELDS {
            errors.push(ConfigError {
                path: text::concat(&[at, ".exclude_fields"]),
                reason: "has more than 50 names",
            });
        }
        for (i, name) in self.exclude_fields.iter().enumerate() {
            if name.trim().is_empty() || name.len() > MAX_KEY_LEN {
                errors.push(ConfigError {
                    path: text::concat(&[at, ".exclude_fields[", &decimal::string(i as u64), "]"]),
                    reason: "must be a field name of 1 to 64 bytes",
                });
            }
        }
    }
}

/// One form control, as the browser layer read it.
#[derive(Clone, Debug, Default)]
pub struct Control<'a> {
    /// The `name` attribute.
    pub name: &'a str,
    /// The `id` attribute.
    pub id: &'a str,
    /// The `data-pt-name` attribute (a name for a control that has neither).
    pub data_name: &'a str,
    /// The control's `type` property (`text`, `password`, `hidden`, `checkbox`, `select-one`,
    /// `textarea`, ...).
    pub kind: &'a str,
    /// The `autocomplete` attribute.
    pub autocomplete: &'a str,
    /// The text of its labels and its `aria-label`.
    pub label: &'a str,
    /// Whether a checkbox or radio button is checked.
    pub checked: bool,
    /// Whether the control is disabled (the browser does not submit it either).
    pub disabled: bool,
    /// Whether the control is inside an element marked `data-pt-ignore`.
    pub ignored: bool,
    /// The value.
    pub value: &'a str,
}

/// Why a field was held back. Debug mode names the field and the reason, never the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withheld {
    /// A password field.
    Password,
    /// Its `autocomplete` says card data, a one-time code or a password.
    Autocomplete,
    /// Its name or label says it holds a secret (card number, SSN, PIN, ...).
    SecretName,
    /// Its value looks like a payment card number.
    CardNumber,
    /// Its value looks like a US social security number.
    SocialSecurityNumber,
    /// It is inside `data-pt-ignore`.
    Ignored,
    /// A hidden input (only the certificate fields travel).
    Hidden,
    /// The campaign excludes it.
    Excluded,
}

impl Withheld {
    /// What debug mode says.
    pub fn describe(self) -> &'static str {
        match self {
            Withheld::Password => "field held back (password)",
            Withheld::Autocomplete => "field held back (autocomplete says card data or a code)",
            Withheld::SecretName => "field held back (named like a secret)",
            Withheld::CardNumber => "field held back (value looks like a card number)",
            Withheld::SocialSecurityNumber => "field held back (value looks like an SSN)",
            Withheld::Ignored => "field held back (data-pt-ignore)",
            Withheld::Hidden => "field held back (hidden input)",
            Withheld::Excluded => "field held back (excluded by the campaign)",
        }
    }
}

/// The hidden fields that carry lead certificates (TrustedForm's, Jornaya LeadiD's): they travel
/// although hidden. Compared without case.
pub const CERTIFICATE_FIELDS: [&str; 3] =
    ["xxTrustedFormCertUrl", "leadid_token", "universal_leadid"];

/// How long a submitted form's event waits for the certificate fields on the page to be filled
/// (their scripts fill them asynchronously) before it goes without them. A page that goes away
/// sends it at once, with what is there.
pub const CERTIFICATE_WAIT_MS: u64 = 3_000;

/// Whether one of the certificate fields found on the page (name, value) is still empty.
pub fn certificates_pending(found: &[(String, String)]) -> bool {
    found.iter().any(|(_, v)| v.trim_ascii().is_empty())
}

/// Adds the filled certificate fields found on the page (inside the form or not) to a form's
/// fields, where the form did not carry them itself.
pub fn add_certificates(fields: &mut Fields<Scalar>, found: &[(String, String)]) {
    for (name, value) in found {
        let value = value.trim_ascii();
        // `capture` keeps room for them under the collector's limit on data fields.
        let room = fields.len() < MAX_FIELDS;
        if room && !name.is_empty() && !value.is_empty() && !fields.contains_key(name) {
            fields.insert(
                truncate(name, MAX_KEY_LEN).to_owned(),
                Scalar::Text(truncate(value, MAX_TEXT_LEN).to_owned()),
            );
        }
    }
}

/// What a form gives an event.
#[derive(Debug, Default, PartialEq)]
pub struct Capture {
    /// The fields that leave the page, by name.
    pub fields: Fields<Scalar>,
    /// The fields held back, with why.
    pub withheld: Vec<(String, Withheld)>,
}

/// The fields of a submitted form that may leave the page, under the campaign's `rules`. A control without a name, a button, an unchecked box,
/// a disabled or an empty control gives nothing; values are trimmed and bounded; several checked
/// boxes of one name give their values joined by commas.
pub fn capture<'a>(
    controls: impl IntoIterator<Item = Control<'a>>,
    rules: &CaptureRules,
) -> Capture {
    let mut out = Capture::default();
    for c in controls {
        let Some(name) = field_name(&c) else { continue };
        let value = c.value.trim_ascii();
        let button = matches!(c.kind, "submit" | "button" | "reset" | "file" | "image");
        let unchecked = matches!(c.kind, "checkbox" | "radio") && !c.checked;
        if button || unchecked || c.disabled || value.is_empty() {
            continue;
        }
        if let Some(why) = withheld(&c, name, value, &rules.exclude_fields) {
            out.withheld.push((name.to_owned(), why));
            continue;
        }
        let hashed = match contact(&c, name) {
            Some(kind) if rules.hash_contacts => Some(hash_contact(kind, value)),
            _ => None,
        };
        let value = hashed.as_deref().unwrap_or(value);
        let name = truncate(name, MAX_KEY_LEN);
        // Room is kept for the certificate fields, which may come from elsewhere on the page.
        let limit = if is_certificate(&c) {
            MAX_FIELDS
        } else {
            MAX_FIELDS - CERTIFICATE_FIELDS.len()
        };
        let room = out.fields.len() < limit;
        match out.fields.get_mut(name) {
            Some(Scalar::Text(kept)) if kept.len() + 1 + value.len() <= MAX_TEXT_LEN => {
                kept.push(',');
                kept.push_str(value);
            }
            Some(_) => {}
            None if room => out.fields.insert(
                name.to_owned(),
                Scalar::Text(truncate(value, MAX_TEXT_LEN).to_owned()),
            ),
            None => {}
        }
    }
    out
}

/// The field's name: `name`, else `id`, else `data-pt-name`.
fn field_name<'a>(c: &Control<'a>) -> Option<&'a str> {
    [c.name, c.id, c.data_name]
        .into_iter()
        .map(str::trim_ascii)
        .find(|n| !n.is_empty())
}

/// Whether the control is one of the certificate fields.
fn is_certificate(c: &Control) -> bool {
    CERTIFICATE_FIELDS
        .iter()
        .any(|f| [c.name, c.id].iter().any(|n| n.eq_ignore_ascii_case(f)))
}

fn withheld(c: &Control, name: &str, value: &str, exclude: &[String]) -> Option<Withheld> {
    let certificate = is_certificate(c);
    if c.ignored {
        Some(Withheld::Ignored)
    } else if exclude.iter().any(|e| e.eq_ignore_ascii_case(name)) {
        Some(Withheld::Excluded)
    } else if c.kind.eq_ignore_ascii_case("password") {
        Some(Withheld::Password)
    } else if secret_autocomplete(c.autocomplete) {
        Some(Withheld::Autocomplete)
    } else if [c.name, c.id, c.data_name, c.label]
        .iter()
        .any(|t| secret_name(t))
    {
        Some(Withheld::SecretName)
    } else if looks_like_card_number(value) {
        Some(Withheld::CardNumber)
    } else if looks_like_ssn(value) {
        Some(Withheld::SocialSecurityNumber)
    } else if c.kind.eq_ignore_ascii_case("hidden") && !certificate {
        Some(Withheld::Hidden)
    } else {
        None
    }
}

/// `autocomplete` tokens that mark card data, one-time codes and passwords.
fn secret_autocomplete(autocomplete: &str) -> bool {
    autocomplete.split_ascii_whitespace().any(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("cc-")
            || matches!(
                t.as_str(),
                "one-time-code" | "new-password" | "current-password"
            )
    })
}

/// Words that name a secret on their own.
const SECRET_WORDS: [&str; 17] = [
    "ssn", "sin", "itin", "ein", "tin", "pin", "cvv", "cvc", "csc", "cvn", "iban", "passport",
    "password", "passwd", "pwd", "passcode", "pass",
];

/// Runs of words that name a secret, matched on the name's words written together.
const SECRET_PHRASES: [&str; 19] = [
    // A password field a "show password" toggle made a text field is still one.
    "password",
    "socialsecurity",
    "cardnumber",
    "cardnum",
    "cardno",
    "ccnumber",
    "ccnum",
    "creditcard",
    "debitcard",
    "cardverification",
    "securitycode",
    "taxid",
    "taxpayer",
    "passportnumber",
    "bankaccount",
    "accountnumber",
    "routingnumber",
    "routingno",
    "sortcode",
];

/// Whether a name or label names a secret. It is split into lower-case words (at anything not an
/// ASCII letter or digit, between letters and digits (`cvv2`, `phone1`), and where a lower-case letter meets an upper-case one: `cardNumber`), so that
/// a short word matches only whole (`ssn`, not the `ssn` inside `classname`).
pub fn secret_name(text: &str) -> bool {
    let (words, joined) = words(text);
    if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) {
        return true;
    }
    // A window compare, not `str::contains`: its two-way searcher is 1 KB of wasm.
    SECRET_PHRASES.iter().any(|p| {
        joined
            .as_bytes()
            .windows(p.len())
            .any(|w| w == p.as_bytes())
    })
}

/// The lower-case words of a name or label, and the words written together.
fn words(text: &str) -> (Vec<String>, String) {
    let mut words: Vec<String> = Vec::new();
    let mut joined = String::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    // ASCII only: Unicode's letter tables would add 10 KB gzip to the wasm. Other characters
    // separate words, and so do a lower-case letter followed by an upper-case one (`cardNumber`)
    // and a change between letters and digits (`phone1`, `cvv2`).
    for ch in text.chars().chain([' ']) {
        let boundary = !ch.is_ascii_alphanumeric()
            || prev.is_some_and(|p| {
                (ch.is_ascii_uppercase() && p.is_ascii_lowercase())
                    || (ch.is_ascii_digit() != p.is_ascii_digit())
            });
        if boundary && !word.is_empty() {
            words.push(core::mem::take(&mut word));
        }
        if ch.is_ascii_alphanumeric() {
            word.push(ch.to_ascii_lowercase());
            joined.push(ch.to_ascii_lowercase());
            prev = Some(ch);
        } else {
            prev = None;
        }
    }
    (words, joined)
}

/// A contact field that a campaign may ask to travel hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}

/// Whether a control holds an email address or a phone number: by its type (`email`, `tel`), its
/// `autocomplete` (`email`, `tel*`) or a word of its name (email, phone, tel, mobile, cell).
pub fn contact(c: &Control, name: &str) -> Option<Contact> {
    let tokens = || c.autocomplete.split_ascii_whitespace();
    let (words, _) = words(name);
    let named = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    if c.kind == "email" || tokens().any(|t| t.eq_ignore_ascii_case("email")) || named(&["email"]) {
        Some(Contact::Email)
    } else if c.kind == "tel"
        || tokens().any(|t| {
            t.as_bytes()
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"tel"))
        })
        || named(&["phone", "tel", "telephone", "mobile", "cell"])
    {
        Some(Contact::Phone)
    } else {
        None
    }
}

/// The normalised form a contact is hashed in: an email trimmed and lower-cased; a phone as its
/// E.164 digits (no `+`): as written after a `+` or `00`, else a 10-digit number is taken as a
/// North American one (country code 1).
pub fn normalised(kind: Contact, value: &str) -> String {
    let value = value.trim_ascii();
    match kind {
        Contact::Email => value.to_ascii_lowercase(),
        Contact::Phone => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            if value.starts_with('+') {
                digits
            } else if let Some(rest) = digits.strip_prefix("00") {
                rest.to_owned()
            } else if digits.len() == 10 {
                text::concat(&["1", &digits])
            } else {
                digits
            }
        }
    }
}

/// SHA-256 of the normalised contact, lower-case hex.
pub fn hash_contact(kind: Contact, value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(normalised(kind, value).as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}
/// 13 to 19 digits (spaces and dashes between them allowed) that pass the Luhn check.
pub fn looks_like_card_number(value: &str) -> bool {
    let mut digits = Vec::with_capacity(19);
    for b in value.bytes() {
        match b {
            b'0'..=b'9' => digits.push(b - b'0'),
            b' ' | b'-' => {}
            _ => return false,
        }
        if digits.len() > 19 {
            return false;
        }
    }
    (13..=19).contains(&digits.len()) && luhn(&digits)
}

/// The Luhn checksum of `digits` (most significant first) is valid.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` (dashes, spaces or nothing between the groups) with an area, group and serial
/// the Social Security Administration issues (area not 000, 666 or 9xx; group not 00; serial
/// not 0000). Nine bare digits count too: a ZIP+4 written without its dash is held back with them.
pub fn looks_like_ssn(value: &str) -> bool {
    let b = value.as_bytes();
    let (area, group, serial) = match b.len() {
        9 => (&b[..3], &b[3..5], &b[5..]),
        11 if (b[3] == b'-' && b[6] == b'-') || (b[3] == b' ' && b[6] == b' ') => {
            (&b[..3], &b[4..6], &b[7..])
        }
        _ => return false,
    };
    [area, group, serial]
        .iter()
        .all(|part| part.iter().all(u8::is_ascii_digit))
        && area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
}

/// Tells the copies of one submission apart from a new one: a double click, a framework that
/// submits twice, or a handler that dispatches the submit again within [`SUBMIT_WINDOW_MS`]
/// with the same event and the same fields gives one event.
#[derive(Debug, Default)]
pub struct Submissions {
    recent: Vec<(String, u64, u64)>,
}

/// How long an identical submission counts as a copy of the first.
pub const SUBMIT_WINDOW_MS: u64 = 30_000;

impl Submissions {
    /// Whether `event` with `fields` at `now` is a new submission (and notes it).
    pub fn first(&mut self, event: &str, fields: &Fields<Scalar>, now: u64) -> bool {
        let print = fingerprint(fields);
        self.recent
            .retain(|(_, _, at)| now.saturating_sub(*at) < SUBMIT_WINDOW_MS);
        if self
            .recent
            .iter()
            .any(|(e, p, _)| e == event && *p == print)
        {
            return false;
        }
        self.recent.push((event.to_owned(), print, now));
        true
    }
}

/// FNV-1a over the fields' names and values, in order.
fn fingerprint(fields: &Fields<Scalar>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (k, v) in fields.iter() {
        eat(k.as_bytes());
        match v {
            Scalar::Text(t) => eat(t.as_bytes()),
            Scalar::Number(n) => eat(&n.to_le_bytes()),
            Scalar::Bool(b) => eat(&[u8::from(*b)]),
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(name: &'a str, value: &'a str) -> Control<'a> {
        Control {
            name,
            kind: "text",
            value,
            ..Default::default()
        }
    }

    fn kept(c: &Capture) -> Vec<(&str, &str)> {
        c.fields
            .iter()
            .map(|(k, v)| match v {
                Scalar::Text(t) => (k.as_str(), t.as_str()),
                _ => (k.as_str(), "?"),
            })
            .collect()
    }

    fn held(c: &Capture) -> Vec<(&str, Withheld)> {
        c.withheld.iter().map(|(n, w)| (n.as_str(), *w)).collect()
    }

    #[test]
    fn lead_fields_travel_trimmed_under_their_names() {
        let c = capture(
            [
                text("first_name", "  Ada "),
                Control {
                    id: "email",
                    kind: "email",
                    value: "ada@example.com",
                    ..Default::default()
                },
                Control {
                    data_name: "zip",
                    kind: "text",
                    value: "94107",
                    ..Default::default()
                },
                Control {
                    name: "state",
                    kind: "select-one",
                    value: "CA",
                    ..Default::default()
                },
            ],
            &CaptureRules::default(),
        );
        assert_eq!(
            kept(&c),
            [
                ("first_name", "Ada"),
                ("email", "ada@example.com"),
                ("zip", "94107"),
                ("state", "CA")
            ]
        );
        assert!(c.withheld.is_empty());
    }

    #[test]
    fn buttons_unchecked_boxes_disabled_empty_and_unnamed_controls_give_nothing() {
        let c = capture(
            [
                Control {
                    name: "go",
                    kind: "submit",
                    value: "Send",
                    ..Default::default()
                },
                Control {
                    name: "news",
                    kind: "checkbox",
                    value: "on",
                    ..Default::default()
                },
                Control {
                    name: "old",
                    kind: "text",
                    value: "x",
                    disabled: true,
                    ..Default::default()
                },
                text("blank", "   "),
                text("", "no name"),
            ],
            &CaptureRules::default(),
        );
        assert!(c.fields.is_empty());
        assert!(c.withheld.is_empty());
    }

    #[test]
    fn checked_boxes_of_one_name_are_joined() {
        let bx = |value| Control {
            name: "coverage",
            kind: "checkbox",
            checked: true,
            value,
            ..Default::default()
        };
        let c = capture([bx("home"), bx("auto")], &CaptureRules::default());
        assert_eq!(kept(&c), [("coverage", "home,auto")]);
    }

    #[test]
    fn every_kind_of_secret_is_held_back_with_its_reason() {
        let c = capture(
            [
                Control {
                    name: "pw",
                    kind: "password",
                    value: "hunter2",
                    ..Default::default()
                },
                Control {
                    name: "x1",
                    kind: "text",
                    autocomplete: "billing cc-number",
                    value: "abc",
                    ..Default::default()
                },
                Control {
                    name: "code",
                    kind: "text",
                    autocomplete: "one-time-code",
                    value: "123456",
                    ..Default::default()
                },
                text("cardNumber", "abc"),
                text("card_cvv", "123"),
                text("ssn", "abc"),
                Control {
                    name: "f7",
                    kind: "text",
                    label: "Social Security #",
                    value: "abc",
                    ..Default::default()
                },
                text("routing-number", "abc"),
                text("passport", "abc"),
                text("tax_id", "abc"),
                text("pin", "1234"),
                text("comment", "4111 1111 1111 1111"),
                text("notes", "123-45-6789"),
                Control {
                    name: "secret",
                    kind: "text",
                    ignored: true,
                    value: "abc",
                    ..Default::default()
                },
                Control {
                    name: "csrf",
                    kind: "hidden",
                    value: "t0k3n",
                    ..Default::default()
                },
                text("Mothers_Maiden", "Smith"),
            ],
            &CaptureRules {
                exclude_fields: vec!["mothers_maiden".to_owned()],
                hash_contacts: false,
            },
        );
        assert!(c.fields.is_empty(), "{:?}", c.fields);
        use Withheld::*;
        assert_eq!(
            held(&c),
            [
                ("pw", Password),
                ("x1", Autocomplete),
                ("code", Autocomplete),
                ("cardNumber", SecretName),
                ("card_cvv", SecretName),
                ("ssn", SecretName),
                ("f7", SecretName),
                ("routing-number", SecretName),
                ("passport", SecretName),
                ("tax_id", SecretName),
                ("pin", SecretName),
                ("comment", CardNumber),
                ("notes", SocialSecurityNumber),
                ("secret", Ignored),
                ("csrf", Hidden),
                ("Mothers_Maiden", Excluded),
            ]
        );
    }

    #[test]
    fn certificate_fields_travel_although_hidden() {
        let hidden = |name, id, value| Control {
            name,
            id,
            kind: "hidden",
            value,
            ..Default::default()
        };
        let c = capture(
            [
                hidden(
                    "xxTrustedFormCertUrl",
                    "",
                    "https://cert.trustedform.com/2d6f0c1e",
                ),
                hidden("universal_leadid", "leadid_token", "A1B2C3D4-0000-1111"),
            ],
            &CaptureRules::default(),
        );
        assert_eq!(
            kept(&c),
            [
                (
                    "xxTrustedFormCertUrl",
                    "https://cert.trustedform.com/2d6f0c1e"
                ),
                ("universal_leadid", "A1B2C3D4-0000-1111")
            ]
        );
    }

    #[test]
    fn certificates_found_on_the_page_join_the_fields_once_filled() {
        let mut fields = Fields::from([("email".to_owned(), Scalar::Text("a@b.c".into()))]);
        let found = vec![
            (
                "xxTrustedFormCertUrl".to_owned(),
                "https://cert.trustedform.com/1".to_owned(),
            ),
            ("universal_leadid".to_owned(), " ".to_owned()),
        ];
        assert!(certificates_pending(&found));
        add_certificates(&mut fields, &found);
        assert_eq!(
            kept(&Capture {
                fields,
                withheld: vec![]
            }),
            [
                ("email", "a@b.c"),
                ("xxTrustedFormCertUrl", "https://cert.trustedform.com/1")
            ]
        );
        assert!(!certificates_pending(&found[..1]));
        assert!(!certificates_pending(&[]));
    }

    #[test]
    fn names_match_whole_words_so_ordinary_fields_travel() {
        for name in [
            "classname",
            "business_name",
            "spinach",
            "shipping_address",
            "opinion",
            "einstein",
            "card_holder_name",
            "phone",
            "zip",
        ] {
            assert!(!secret_name(name), "{name}");
        }
        for name in [
            "SSN",
            "user-ssn",
            "ccNumber",
            "cc_num",
            "CVC2",
            "bank account",
            "SocialSecurityNumber",
            "Tax ID",
            "PIN code",
            "IBAN",
            "password",
            "confirm_password",
            "userPassword",
            "newpassword",
            "pwd",
            "ssn4",
            "last4ssn",
            "card_cvv2",
        ] {
            assert!(secret_name(name), "{name}");
        }
    }

    #[test]
    fn card_numbers_are_told_by_length_and_luhn() {
        assert!(looks_like_card_number("4111111111111111"));
        assert!(looks_like_card_number("4111-1111-1111-1111"));
        assert!(looks_like_card_number("378282246310005")); // Amex, 15 digits
        assert!(!looks_like_card_number("4111111111111112")); // Luhn fails
        assert!(!looks_like_card_number("5551234567")); // a phone
        assert!(!looks_like_card_number("+1 4111 1111 1111 1111"));
        assert!(!looks_like_card_number("41111111111111111111")); // 20 digits
    }

    #[test]
    fn luhn_agrees_with_its_definition_on_every_check_digit() {
        // For any prefix exactly one check digit makes a valid number.
        for prefix in ["411111111111111", "37828224631000", "601100099990139"] {
            let digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
            let valid: Vec<u8> = (0..10)
                .filter(|d| luhn(&[digits.as_slice(), &[*d]].concat()))
                .collect();
            assert_eq!(valid.len(), 1, "{prefix}");
        }
    }

    #[test]
    fn ssns_follow_the_issued_ranges() {
        for v in ["123-45-6789", "123 45 6789", "123456789"] {
            assert!(looks_like_ssn(v), "{v}");
        }
        for v in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "12345-6789",
            "123-456-789",
            "(555) 123-4567",
        ] {
            assert!(!looks_like_ssn(v), "{v}");
        }
    }

    #[test]
    fn values_and_counts_are_bounded() {
        let long = "x".repeat(MAX_TEXT_LEN + 10);
        let names: Vec<String> = (0..MAX_FIELDS + 5).map(|i| format!("f{i}")).collect();
        let mut controls = vec![text("long", &long)];
        controls.extend(names.iter().map(|n| text(n, "v")));
        let c = capture(controls, &CaptureRules::default());
        assert_eq!(
            c.fields.len(),
            MAX_FIELDS - CERTIFICATE_FIELDS.len(),
            "room for certificates"
        );
        let mut fields = c.fields.clone();
        let found: Vec<(String, String)> = CERTIFICATE_FIELDS
            .iter()
            .map(|n| (n.to_string(), "cert".to_owned()))
            .collect();
        add_certificates(&mut fields, &found);
        assert_eq!(fields.len(), MAX_FIELDS);
        add_certificates(&mut fields, &[("another".to_owned(), "x".to_owned())]);
        assert_eq!(fields.len(), MAX_FIELDS, "never over the collector's limit");
        assert_eq!(kept(&c)[0].1.len(), MAX_TEXT_LEN);
    }

    #[test]
    fn contacts_travel_hashed_when_the_campaign_asks() {
        let rules = CaptureRules {
            exclude_fields: vec![],
            hash_contacts: true,
        };
        let c = capture(
            [
                Control {
                    name: "email",
                    kind: "email",
                    value: "  Ada@Example.COM ",
                    ..Default::default()
                },
                text("mobile_phone", "(415) 555-0100"),
                text("first_name", "Ada"),
            ],
            &rules,
        );
        // sha256("ada@example.com") and sha256("14155550100"), from coreutils' sha256sum.
        assert_eq!(
            kept(&c),
            [
                (
                    "email",
                    "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"
                ),
                (
                    "mobile_phone",
                    "5e7ec4c79ccac6e420876e65ad0e6b4b2ccf73ec3dccb50297bf2890a1ec73b9"
                ),
                ("first_name", "Ada"),
            ]
        );
    }

    #[test]
    fn contacts_are_told_and_normalised() {
        let c = |kind, autocomplete| Control {
            kind,
            autocomplete,
            ..Default::default()
        };
        assert_eq!(contact(&c("email", ""), "x"), Some(Contact::Email));
        assert_eq!(contact(&c("text", "work email"), "x"), Some(Contact::Email));
        assert_eq!(
            contact(&c("text", ""), "contactEmail"),
            Some(Contact::Email)
        );
        assert_eq!(contact(&c("tel", ""), "x"), Some(Contact::Phone));
        assert_eq!(
            contact(&c("text", "tel-national"), "x"),
            Some(Contact::Phone)
        );
        assert_eq!(contact(&c("text", ""), "cell_number"), Some(Contact::Phone));
        assert_eq!(contact(&c("text", ""), "telemetry"), None);
        assert_eq!(contact(&c("text", ""), "phone2"), Some(Contact::Phone));
        assert_eq!(contact(&c("text", ""), "email1"), Some(Contact::Email));
        assert_eq!(
            contact(&c("text", "aaé x"), "zip"),
            None,
            "no panic on non-ASCII"
        );
        assert_eq!(contact(&c("text", ""), "zip"), None);
        assert_eq!(normalised(Contact::Email, " A.B@X.ORG "), "a.b@x.org");
        assert_eq!(normalised(Contact::Phone, "(415) 555-0100"), "14155550100");
        assert_eq!(
            normalised(Contact::Phone, "+44 20 7946 0958"),
            "442079460958"
        );
        assert_eq!(
            normalised(Contact::Phone, "0044 20 7946 0958"),
            "442079460958"
        );
        assert_eq!(normalised(Contact::Phone, "1-415-555-0100"), "14155550100");
    }

    #[test]
    fn rules_with_bad_names_are_refused_with_their_paths() {
        let rules: CaptureRules =
            serde_json::from_str(r#"{"exclude_fields":["ok"," ",""],"hash_contacts":true}"#)
                .unwrap();
        let mut errors = Vec::new();
        rules.validate("capture", &mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["capture.exclude_fields[1]", "capture.exclude_fields[2]"]
        );
        assert!(serde_json::from_str::<CaptureRules>(r#"{"hash":true}"#).is_err());
    }

    #[test]
    fn a_submission_repeated_within_the_window_counts_once() {
        let mut s = Submissions::default();
        let a = Fields::from([("email".to_owned(), Scalar::Text("a@b.c".into()))]);
        let b = Fields::from([("email".to_owned(), Scalar::Text("x@y.z".into()))]);
        assert!(s.first("form_sold", &a, 1_000));
        assert!(!s.first("form_sold", &a, 1_200)); // a double click
        assert!(s.first("quote", &a, 1_300)); // another event
        assert!(s.first("form_sold", &b, 1_400)); // changed fields: a new submission
        assert!(s.first("form_sold", &a, 1_000 + SUBMIT_WINDOW_MS)); // after the window
    }
}
