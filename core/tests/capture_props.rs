//! Properties of the lead capture rules over generated forms: whatever a field is called and
//! whatever else the form holds, a payment card number or an SSN never leaves the page, nor any
//! value of a field named like a secret; and an ordinary field's value travels as given, trimmed.

use clickscript_core::capture::{capture, CaptureRules, Control};
use clickscript_core::event::Scalar;
use proptest::prelude::*;

/// A Luhn-valid number of `len` digits starting with `prefix` digits.
fn card(prefix: Vec<u8>, len: usize) -> String {
    let mut digits = prefix;
    digits.truncate(len - 1);
    while digits.len() < len - 1 {
        digits.push(7);
    }
    // The check digit: the one that makes the Luhn sum a multiple of 10. Written apart from the
    // rules' own check (a table of doubled digits), so that it is an independent oracle.
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let from_right = digits.iter().rev().map(|&d| usize::from(d));
    let sum: u32 = from_right
        .zip([true, false].into_iter().cycle())
        .map(|(d, double)| if double { DOUBLED[d] } else { d as u32 })
        .sum();
    digits.push(((10 - sum % 10) % 10) as u8);
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A card number written as people type it: plain, in groups of four, or with dashes.
fn written(number: &str, style: u8) -> String {
    let sep = match style % 3 {
        0 => return number.to_owned(),
        1 => ' ',
        _ => '-',
    };
    let mut out = String::new();
    for (i, c) in number.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn ssn() -> impl Strategy<Value = String> {
    (1u16..900, 1u8..100, 1u16..10000, 0u8..3)
        .prop_filter("not an issued area", |(a, _, _, _)| *a != 666)
        .prop_map(|(a, g, s, style)| match style {
            0 => format!("{a:03}-{g:02}-{s:04}"),
            1 => format!("{a:03} {g:02} {s:04}"),
            _ => format!("{a:03}{g:02}{s:04}"),
        })
}

fn secret_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "ssn",
        "SSN",
        "user_ssn",
        "ssn4",
        "cardNumber",
        "cc-number",
        "card_num",
        "cvv",
        "CVC2",
        "pin",
        "Password",
        "confirm_password",
        "pwd",
        "routing_number",
        "bankAccount",
        "taxId",
        "passport",
        "socialSecurityNumber",
        "iban",
    ])
    .prop_map(str::to_owned)
}

/// Field names and values that say nothing of secrets.
fn ordinary() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec![
            "first_name",
            "email",
            "zip",
            "state",
            "vehicles",
            "comments",
        ]),
        "[A-Za-z][A-Za-z .@'-]{0,40}",
    )
        .prop_map(|(n, v)| (n.to_owned(), v))
}

fn text<'a>(name: &'a str, value: &'a str) -> Control<'a> {
    Control {
        name,
        kind: "text",
        value,
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn card_numbers_and_ssns_never_leave_the_page(
        prefix in prop::collection::vec(0u8..10, 0..19),
        len in 13usize..=19,
        style in 0u8..3,
        ssn in ssn(),
        others in prop::collection::vec(ordinary(), 0..10),
        names in prop::collection::vec("[a-z_]{1,12}", 2),
    ) {
        let number = written(&card(prefix, len), style);
        let mut controls: Vec<Control> = others.iter().map(|(n, v)| text(n, v)).collect();
        controls.push(text(&names[0], &number));
        controls.push(text(&names[1], &ssn));
        let out = capture(controls, &CaptureRules::default());
        for (_, v) in out.fields.iter() {
            let Scalar::Text(v) = v else { continue };
            prop_assert_ne!(v.as_str(), number.as_str());
            prop_assert_ne!(v.as_str(), ssn.as_str());
        }
    }

    #[test]
    fn a_field_named_like_a_secret_never_leaves_the_page(
        name in secret_name(),
        value in "[ -~]{1,30}",
        as_label in any::<bool>(),
    ) {
        let control = if as_label {
            Control { name: "f1", label: &name, kind: "text", value: &value, ..Default::default() }
        } else {
            text(&name, &value)
        };
        let out = capture([control], &CaptureRules::default());
        prop_assert!(out.fields.is_empty(), "{name}: {:?}", out.fields);
    }

    #[test]
    fn ordinary_fields_travel_trimmed(fields in prop::collection::vec(ordinary(), 1..10)) {
        let padded: Vec<(String, String)> =
            fields.iter().map(|(n, v)| (n.clone(), format!("  {v} "))).collect();
        let out = capture(padded.iter().map(|(n, v)| text(n, v)), &CaptureRules::default());
        for (name, _) in &fields {
            let kept = out.fields.get(name);
            prop_assert!(kept.is_some(), "{name} kept");
            // A repeated name joins its values; the first is always there, trimmed.
            let Some(Scalar::Text(kept)) = kept else { unreachable!() };
            let first = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).unwrap();
            prop_assert!(kept.starts_with(first), "{kept:?} starts with {first:?}");
        }
    }
}
