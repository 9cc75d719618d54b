//! Consent (TCPA) as evidence: what a buyer needs to prove that the visitor saw and accepted the
//! consent language of a form. The triggers extension reads the page (the text marked
//! `data-pt-consent`, its checkbox, its computed style and when it was on screen); the rules
//! here judge whether the text was visible and readable, and the collector validates the result.
//! The figures behind the judgement travel too, so a buyer can apply stricter rules of its own.

use serde::{Deserialize, Serialize};

use super::event::{Fields, Scalar};
use super::limits::{truncate, MAX_URL_LEN};
use super::props::Prop;

/// Longest consent text kept (bytes): disclosures with a partner list run long.
pub const MAX_CONSENT_TEXT: usize = 4096;
/// Smallest font size (CSS px) counted as readable.
pub const MIN_FONT_PX: f64 = 10.0;
/// Lowest contrast ratio counted as readable: WCAG 2's AA level for body text.
pub const MIN_CONTRAST: f64 = 4.5;
/// Lowest contrast ratio for large text (at least [`LARGE_TEXT_PX`]): WCAG 2's AA level.
pub const MIN_CONTRAST_LARGE: f64 = 3.0;
/// Text this large (CSS px, 18 pt) is large text for the contrast rule.
pub const LARGE_TEXT_PX: f64 = 24.0;
/// Smallest width and height (CSS px) of a text that counts as shown.
pub const MIN_SIZE_PX: f64 = 2.0;
/// Longest `hidden_by` explanation kept (bytes).
const MAX_REASONS: usize = 256;

/// The consent evidence a form's event carries in the wire format's `consent` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The consent text as rendered (`innerText`), at most [`MAX_CONSENT_TEXT`] bytes.
    pub text: String,
    /// Whether a checkbox belongs to the text (inside it, or labelled or described by it).
    pub checkbox: bool,
    /// Whether that checkbox was checked at the submit (`false` without a checkbox).
    pub checked: bool,
    /// When the box was last checked (Unix ms), if it was checked at the submit.
    #[serde(default)]
    pub checked_at: Option<u64>,
    /// Whether the text counts as visible: rendered, non-zero size, on screen before the submit,
    /// readable font size and contrast.
    pub visible: bool,
    /// Why it does not count as visible (empty when it does), e.g. `display:none`.
    #[serde(default)]
    pub hidden_by: String,
    /// The text's computed font size (CSS px).
    pub font_size: f64,
    /// The contrast ratio (1 to 21) of the text's colour, with its opacity, against the
    /// background behind it; 0 when the page's colours could not be read.
    pub contrast: f64,
    /// When the text was first on screen (Unix ms), if it was.
    #[serde(default)]
    pub seen_at: Option<u64>,
    /// When the form was submitted (Unix ms).
    pub submitted_at: u64,
    /// The page's URL at the submit.
    pub url: String,
}

/// An sRGB colour with alpha, as CSS computes it (`rgb()` / `rgba()`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rgba {
    /// Red, 0 to 255.
    pub r: f64,
    /// Green, 0 to 255.
    pub g: f64,
    /// Blue, 0 to 255.
    pub b: f64,
    /// Alpha, 0 to 1.
    pub a: f64,
}

impl Rgba {
    /// Opaque white: what a page is drawn on when nothing paints its background.
    pub const WHITE: Rgba = Rgba {
        r: 255.0,
        g: 255.0,
        b: 255.0,
        a: 1.0,
    };

    /// Reads a computed CSS colour: `rgb(r, g, b)`, `rgba(r, g, b, a)` or the space-separated
    /// `rgb(r g b / a)`; `None` for anything else (a `color()` space, a keyword). Its numbers
    /// are read by `number`: in the browser JavaScript's own `Number` (`str::parse::<f64>`
    /// brings its float parser, measured 10 KB gzip, into the wasm).
    pub fn parse_with(css: &str, number: impl Fn(&str) -> Option<f64>) -> Option<Rgba> {
        let css = css.trim();
        let inner = css
            .strip_prefix("rgba(")
            .or_else(|| css.strip_prefix("rgb("))?
            .strip_suffix(')')?;
        let mut parts = inner
            .split([',', '/', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let mut channel = || -> Option<f64> {
            let p = parts.next()?;
            let v = match p.strip_suffix('%') {
                Some(pc) => number(pc)? * 2.55,
                None => number(p)?,
            };
            v.is_finite().then_some(v.clamp(0.0, 255.0))
        };
        let (r, g, b) = (channel()?, channel()?, channel()?);
        let a = match parts.next() {
            None => 1.0,
            Some(p) => match p.strip_suffix('%') {
                Some(pc) => number(pc)? / 100.0,
                None => number(p)?,
            },
        };
        if parts.next().is_some() || !a.is_finite() {
            return None;
        }
        Some(Rgba {
            r,
            g,
            b,
            a: a.clamp(0.0, 1.0),
        })
    }

    /// [`Rgba::parse_with`] Rust's own float parser (the collector's and the tests').
    pub fn parse(css: &str) -> Option<Rgba> {
        Rgba::parse_with(css, |n| n.parse().ok())
    }

    /// This colour painted over the opaque `below`.
    pub fn over(self, below: Rgba) -> Rgba {
        let mix = |top: f64, under: f64| top * self.a + under * (1.0 - self.a);
        Rgba {
            r: mix(self.r, below.r),
            g: mix(self.g, below.g),
            b: mix(self.b, below.b),
            a: 1.0,
        }
    }

    /// WCAG 2's relative luminance of the colour (its alpha ignored).
    pub fn luminance(self) -> f64 {
        let linear = |c: f64| {
            let c = c / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.r) + 0.7152 * linear(self.g) + 0.0722 * linear(self.b)
    }
}

/// The opaque background behind an element: its own and its ancestors' background colours
/// (`layers`, from the element outwards), painted on white from the outermost in.
pub fn background(layers: &[Rgba]) -> Rgba {
    layers
        .iter()
        .rev()
        .fold(Rgba::WHITE, |below, layer| layer.over(below))
}

/// WCAG 2's contrast ratio (1 to 21) of text in `color` whose opacity (its own and its
/// ancestors', multiplied) is `opacity`, over the opaque `background`.
pub fn contrast(color: Rgba, opacity: f64, background: Rgba) -> f64 {
    let text = Rgba {
        a: color.a * opacity.clamp(0.0, 1.0),
        ..color
    }
    .over(background);
    let (a, b) = (text.luminance(), background.luminance());
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    (hi + 0.05) / (lo + 0.05)
}

/// What the page showed of the consent text, as read at the submit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sighting {
    /// Whether it is rendered at all (it has layout boxes: not `display:none`, nor inside it).
    pub rendered: bool,
    /// Its computed `visibility` is `hidden` or `collapse`.
    pub visibility_hidden: bool,
    /// Its opacity times its ancestors'.
    pub opacity: f64,
    /// Its rendered width (CSS px).
    pub width: f64,
    /// Its rendered height (CSS px).
    pub height: f64,
    /// When it was first on screen (Unix ms), if it was.
    pub seen_at: Option<u64>,
    /// Its computed font size (CSS px).
    pub font_size: f64,
    /// Its computed text colour, if it could be read.
    pub color: Option<Rgba>,
    /// The opaque background behind it, if it could be read.
    pub background: Option<Rgba>,
}

impl Sighting {
    /// The text's contrast ratio, 0 when a colour could not be read.
    pub fn contrast(&self) -> f64 {
        match (self.color, self.background) {
            (Some(c), Some(b)) => contrast(c, self.opacity, b),
            _ => 0.0,
        }
    }

    /// Why the text does not count as visible, each reason (none when it does). A colour that
    /// could not be read is not held against the page: the figures travel as 0 for the buyer.
    pub fn hidden_by(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.rendered {
            why.push("display:none".to_owned());
        }
        if self.visibility_hidden {
            why.push("visibility:hidden".to_owned());
        }
        if self.opacity <= 0.0 {
            why.push("opacity:0".to_owned());
        }
        // Under 2 px either way: the 1 px box of text hidden "for screen readers only" too.
        if self.rendered && (self.width < MIN_SIZE_PX || self.height < MIN_SIZE_PX) {
            why.push("zero size".to_owned());
        }
        if self.seen_at.is_none() {
            why.push("never on screen".to_owned());
        }
        // The figures themselves travel in `font_size` and `contrast` (formatting a float here
        // would bring core's float printing into the wasm).
        if self.font_size < MIN_FONT_PX {
            why.push("font size under 10px".to_owned());
        }
        let contrast = self.contrast();
        let least = if self.font_size >= LARGE_TEXT_PX {
            MIN_CONTRAST_LARGE
        } else {
            MIN_CONTRAST
        };
        if contrast > 0.0 && contrast < least && self.opacity > 0.0 {
            why.push(
                if least == MIN_CONTRAST {
                    "contrast under 4.5:1"
                } else {
                    "contrast under 3:1 (large text)"
                }
                .to_owned(),
            );
        }
        why
    }
}

/// Rounds to two decimals (what the figures are reported with).
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Whether an element of which `ratio` is in view, `visible_height` CSS px of it, in a viewport
/// `viewport` px high, counts as on screen: half of it in view, or, for a block taller than the
/// screen, half the screen filled by it.
pub fn on_screen(ratio: f64, visible_height: f64, viewport: f64) -> bool {
    ratio >= 0.5 || (viewport > 0.0 && visible_height >= viewport / 2.0)
}

impl Consent {
    /// The evidence of a submit at `submitted_at` on `url`, from the rendered `text`, its
    /// checkbox (`None` without one; with one, whether it was checked and when) and what the
    /// page showed of it.
    pub fn new(
        text: &str,
        checkbox: Option<(bool, Option<u64>)>,
        sighting: &Sighting,
        submitted_at: u64,
        url: &str,
    ) -> Consent {
        let hidden_by = sighting.hidden_by();
        let checked = checkbox.is_some_and(|(checked, _)| checked);
        // Held to what the collector takes, so that a page's own evidence is never refused
        // (which would lose the lead's event): a clock set back between the check and the
        // submit, an absurd font size.
        let before_submit = |at: Option<u64>| at.map(|t| t.min(submitted_at));
        Consent {
            text: truncate(text.trim(), MAX_CONSENT_TEXT).to_owned(),
            checkbox: checkbox.is_some(),
            checked,
            checked_at: before_submit(checkbox.and_then(|(_, at)| at).filter(|_| checked)),
            visible: hidden_by.is_empty(),
            hidden_by: truncate(&hidden_by.join(", "), MAX_REASONS).to_owned(),
            font_size: round2(sighting.font_size.clamp(0.0, 1000.0)),
            contrast: round2(sighting.contrast()),
            seen_at: before_submit(sighting.seen_at),
            submitted_at,
            url: truncate(url, MAX_URL_LEN).to_owned(),
        }
    }

    /// The evidence as the flat object the triggers extension hands to the clickscript, written
    /// by hand as the extension writes a firing's data: serde-wasm-bindgen's serializer cost the
    /// extension 4 KB gzip (measured) for this one object. Held to serde's own writing in a test.
    pub fn to_fields(&self) -> Fields<Scalar> {
        let mut f = Fields::default();
        let mut put = |k: &str, v: Scalar| f.insert(k.to_owned(), v);
        put("text", Scalar::Text(self.text.clone()));
        put("checkbox", Scalar::Bool(self.checkbox));
        put("checked", Scalar::Bool(self.checked));
        if let Some(at) = self.checked_at {
            put("checked_at", Scalar::Number(at as f64));
        }
        put("visible", Scalar::Bool(self.visible));
        put("hidden_by", Scalar::Text(self.hidden_by.clone()));
        put("font_size", Scalar::Number(self.font_size));
        put("contrast", Scalar::Number(self.contrast));
        if let Some(at) = self.seen_at {
            put("seen_at", Scalar::Number(at as f64));
        }
        put("submitted_at", Scalar::Number(self.submitted_at as f64));
        put("url", Scalar::Text(self.url.clone()));
        f
    }

    /// Reads the evidence the triggers extension hands to the clickscript (a flat object, read
    /// with the clickscript's props reader); `None` when it is not consent evidence.
    pub fn from_props(fields: &Fields<Prop>) -> Option<Consent> {
        let text = |k: &str| match fields.get(k) {
            Some(Prop::Text(t)) => Some(t.clone()),
            _ => None,
        };
        let flag = |k: &str| match fields.get(k) {
            Some(Prop::Bool(b)) => Some(*b),
            _ => None,
        };
        let number = |k: &str| match fields.get(k) {
            Some(Prop::Number(n)) if n.is_finite() => Some(*n),
            _ => None,
        };
        let time = |k: &str| number(k).filter(|n| *n >= 0.0).map(|n| n as u64);
        Some(Consent {
            text: text("text")?,
            checkbox: flag("checkbox")?,
            checked: flag("checked")?,
            checked_at: time("checked_at"),
            visible: flag("visible")?,
            hidden_by: text("hidden_by").unwrap_or_default(),
            font_size: number("font_size")?,
            contrast: number("contrast")?,
            seen_at: time("seen_at"),
            submitted_at: time("submitted_at")?,
            url: text("url")?,
        })
    }

    /// The collector's check: bounded texts, plausible figures and times that agree.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |what: &str| Err(format!("consent: {what}"));
        if self.text.len() > MAX_CONSENT_TEXT {
            return fail("text longer than 4096 bytes");
        }
        if self.url.len() > MAX_URL_LEN {
            return fail("url longer than 2048 bytes");
        }
        if self.hidden_by.len() > MAX_REASONS {
            return fail("hidden_by longer than 256 bytes");
        }
        if self.visible != self.hidden_by.is_empty() {
            return fail("visible must be true exactly when hidden_by is empty");
        }
        if self.checked && !self.checkbox {
            return fail("checked without a checkbox");
        }
        if self.checked_at.is_some() && !self.checked {
            return fail("checked_at on a box that is not checked");
        }
        if !(self.font_size.is_finite() && (0.0..=1000.0).contains(&self.font_size)) {
            return fail("font_size must be between 0 and 1000");
        }
        if !(self.contrast == 0.0 || (1.0..=21.0).contains(&self.contrast)) {
            return fail("contrast must be 0 or between 1 and 21");
        }
        for (what, at) in [("checked_at", self.checked_at), ("seen_at", self.seen_at)] {
            if at.is_some_and(|t| t > self.submitted_at) {
                return Err(format!("consent: {what} after submitted_at"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown() -> Sighting {
        Sighting {
            rendered: true,
            visibility_hidden: false,
            opacity: 1.0,
            width: 400.0,
            height: 36.0,
            seen_at: Some(1_000),
            font_size: 13.0,
            color: Rgba::parse("rgb(34, 34, 34)"),
            background: Some(Rgba::WHITE),
        }
    }

    #[test]
    fn computed_colours_are_read_in_the_forms_chromium_writes() {
        let c = Rgba::parse("rgba(10, 20, 30, 0.5)").unwrap();
        assert_eq!((c.r, c.g, c.b, c.a), (10.0, 20.0, 30.0, 0.5));
        assert_eq!(Rgba::parse("rgb(0 128 255 / 25%)").unwrap().a, 0.25);
        assert_eq!(Rgba::parse(" rgb(255, 255, 255) "), Some(Rgba::WHITE));
        for bad in [
            "",
            "red",
            "color(srgb 1 0 0)",
            "rgb(1, 2)",
            "rgb(1, 2, 3, 4, 5)",
            "rgb(a, b, c)",
        ] {
            assert_eq!(Rgba::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        let black = Rgba::parse("rgb(0, 0, 0)").unwrap();
        assert_eq!(round2(contrast(black, 1.0, Rgba::WHITE)), 21.0);
        assert_eq!(round2(contrast(Rgba::WHITE, 1.0, Rgba::WHITE)), 1.0);
        // #777 on white: WCAG's worked example, 4.48:1.
        let grey = Rgba::parse("rgb(119, 119, 119)").unwrap();
        assert_eq!(round2(contrast(grey, 1.0, Rgba::WHITE)), 4.48);
        // Opacity fades the text into its background.
        assert!(contrast(black, 0.1, Rgba::WHITE) < 1.5);
        // A half-transparent black layer over white is mid grey.
        let layers = [Rgba::parse("rgba(0, 0, 0, 0.5)").unwrap()];
        let bg = background(&layers);
        assert!((bg.r - 127.5).abs() < 0.01 && bg.a == 1.0);
        // The inner layer is painted over the outer one.
        let dark_card_on_white = [black, Rgba::WHITE];
        assert_eq!(background(&dark_card_on_white), Rgba { a: 1.0, ..black });
    }

    #[test]
    fn shown_text_is_visible_and_each_way_of_hiding_it_is_named() {
        assert!(shown().hidden_by().is_empty());
        type Hide = fn(&mut Sighting);
        let cases: [(Hide, &str); 8] = [
            (|s| s.rendered = false, "display:none"),
            (|s| s.visibility_hidden = true, "visibility:hidden"),
            (|s| s.opacity = 0.0, "opacity:0"),
            (|s| s.height = 0.0, "zero size"),
            (|s| s.seen_at = None, "never on screen"),
            (|s| s.font_size = 6.0, "font size under 10px"),
            (
                |s| s.color = Rgba::parse("rgb(250, 250, 250)"),
                "contrast under 4.5:1",
            ),
            (
                |s| s.background = Rgba::parse("rgb(30, 30, 30)"),
                "contrast under 4.5:1",
            ),
        ];
        for (hide, reason) in cases {
            let mut s = shown();
            hide(&mut s);
            assert_eq!(s.hidden_by(), [reason.to_owned()], "{reason}");
        }
        // Large text needs less contrast; unread colours count against nothing.
        let mut large = shown();
        large.font_size = 30.0;
        large.color = Rgba::parse("rgb(140, 140, 140)");
        assert!(large.hidden_by().is_empty());
        large.color = Rgba::parse("rgb(200, 200, 200)");
        assert_eq!(large.hidden_by(), ["contrast under 3:1 (large text)"]);
        large.font_size = 14.0;
        large.color = Rgba::parse("rgb(140, 140, 140)");
        assert_eq!(large.hidden_by(), ["contrast under 4.5:1"]);
        let mut unread = shown();
        unread.color = None;
        assert!(unread.hidden_by().is_empty());
        assert_eq!(unread.contrast(), 0.0);
    }

    #[test]
    fn on_screen_means_half_of_it_or_half_the_screen() {
        assert!(on_screen(0.5, 20.0, 800.0));
        assert!(!on_screen(0.2, 20.0, 800.0));
        assert!(on_screen(0.3, 400.0, 800.0));
        assert!(!on_screen(0.0, 0.0, 0.0));
    }

    #[test]
    fn evidence_reads_back_and_is_valid() {
        let mut s = shown();
        let c = Consent::new(
            "  I agree to be called.  ",
            Some((true, Some(1_500))),
            &s,
            2_000,
            "https://lp.example/",
        );
        assert_eq!(c.text, "I agree to be called.");
        assert!(c.visible && c.checkbox && c.checked && c.hidden_by.is_empty());
        assert_eq!(c.checked_at, Some(1_500));
        assert_eq!(c.contrast, 15.91);
        assert_eq!(c.validate(), Ok(()));
        // Unchecked: no checked time, still evidence.
        let unchecked = Consent::new("x", Some((false, Some(1_500))), &s, 2_000, "u");
        assert!(unchecked.checkbox && !unchecked.checked && unchecked.checked_at.is_none());
        assert_eq!(unchecked.validate(), Ok(()));
        // Hidden: the reasons travel.
        s.rendered = false;
        let hidden = Consent::new("x", None, &s, 2_000, "u");
        assert!(!hidden.visible);
        assert_eq!(hidden.hidden_by, "display:none");
        assert_eq!(hidden.validate(), Ok(()));
        // What the extension hands over is what serde writes (absent times left out rather
        // than null), and reads back whole.
        for c in [c, unchecked, hidden] {
            let by_hand = c.to_fields();
            // (Numbers compared as JavaScript has them: all floats.)
            let floats = |v: serde_json::Value| -> Vec<(String, serde_json::Value)> {
                let mut o: Vec<_> = v.as_object().unwrap().clone().into_iter().collect();
                o.retain(|(_, v)| !v.is_null());
                for (_, v) in o.iter_mut() {
                    if let Some(n) = v.as_f64() {
                        *v = serde_json::json!(n);
                    }
                }
                o
            };
            assert_eq!(
                floats(serde_json::to_value(&by_hand).unwrap()),
                floats(serde_json::to_value(&c).unwrap())
            );
            let mut props = Fields::default();
            for (k, v) in by_hand.iter() {
                let p = match v {
                    Scalar::Text(s) => Prop::Text(s.clone()),
                    Scalar::Bool(b) => Prop::Bool(*b),
                    Scalar::Number(n) => Prop::Number(*n),
                };
                props.insert(k.clone(), p);
            }
            assert_eq!(Consent::from_props(&props).as_ref(), Some(&c));
            props.remove("text");
            assert_eq!(Consent::from_props(&props), None);
        }
    }

    #[test]
    fn the_pages_own_evidence_is_always_valid() {
        let mut odd = shown();
        odd.font_size = 5000.0;
        odd.seen_at = Some(9_000);
        let c = Consent::new("x", Some((true, Some(9_000))), &odd, 2_000, "u");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            (c.checked_at, c.seen_at, c.font_size),
            (Some(2_000), Some(2_000), 1000.0)
        );
        let mut dot = shown();
        dot.width = 1.0;
        assert_eq!(dot.hidden_by(), ["zero size"]);
    }

    #[test]
    fn the_collector_refuses_evidence_that_does_not_add_up() {
        let ok = Consent::new("x", Some((true, Some(1))), &shown(), 2, "u");
        type Break = fn(&mut Consent);
        let broken: [(Break, &str); 7] = [
            (|c| c.text = "x".repeat(5000), "text"),
            (|c| c.visible = false, "visible"),
            (|c| c.checkbox = false, "checked without"),
            (
                |c| {
                    c.checked = false;
                    c.checkbox = true
                },
                "checked_at",
            ),
            (|c| c.contrast = 0.5, "contrast"),
            (|c| c.font_size = f64::NAN, "font_size"),
            (|c| c.seen_at = Some(3), "seen_at after"),
        ];
        for (break_it, what) in broken {
            let mut c = ok.clone();
            break_it(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
