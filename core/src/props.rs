//! What a page hands to `PT.event(id, props)` and `PT.click(options)`, read into serde types
//! (the browser reads them with serde-wasm-bindgen), and the rules that turn props into an
//! event's free data and revenue. Every value is accepted by the reader, so one bad value never
//! throws the others away: each is judged here, and what is refused is named.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::config::EventDef;
use super::event::{Fields, Scalar};
use super::limits::{truncate, MAX_FIELDS, MAX_KEY_LEN, MAX_TEXT_LEN};

/// One value among a call's props, as the page passed it.
#[derive(Clone, Debug, PartialEq)]
pub enum Prop {
    /// A string.
    Text(String),
    /// A number (`NaN` and infinities included: refused where they matter).
    Number(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null` or `undefined`.
    Nothing,
    /// An object, an array or anything else that is not a scalar.
    Other,
}

/// Named values a page passed: the props of `PT.event`, or the `subids` and `parameters` of
/// `PT.click`. An array reads as its elements named by index (`"0"`, `"1"`, …); anything that
/// is neither an object nor an array reads as no values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props {
    /// The values, in the page's order.
    pub fields: Fields<Prop>,
    /// Whether the page passed an array.
    pub list: bool,
}

/// What `PT.click(options)` registers, as the platform's click script takes it.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct ClickOptions {
    /// The publisher's ID.
    pub pid: Option<Prop>,
    /// The traffic source's ID.
    pub source_id: Option<Prop>,
    /// A transaction handed over from another domain.
    pub transaction_id: Option<Prop>,
    /// Sub IDs: a list (`sub1`, `sub2`, …) or an object of names.
    pub subids: Props,
    /// More named parameters.
    pub parameters: Props,
}

/// Something in a call's props that was refused, for debug mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `revenue` was not a non-negative number.
    Revenue,
    /// A data field with an empty or long key, or beyond the most fields an event carries.
    Field(String),
    /// A data field whose value is not a string, number or boolean.
    NotScalar(String),
}

impl Refused {
    /// What debug mode says, and the name it says it of.
    pub fn describe(&self) -> (&'static str, &str) {
        match self {
            Refused::Revenue => ("revenue must be a non-negative number, ignored", "revenue"),
            Refused::Field(k) => (
                "data field dropped (empty or long key, or too many fields)",
                k,
            ),
            Refused::NotScalar(k) => ("data field dropped: not a string, number or boolean", k),
        }
    }
}

/// Free data and revenue from a `PT.event` call's props: scalars only, within the collector's
/// limits; `revenue` overrides the event's own amount. Returns what was refused too.
pub fn event_data(props: &Props, def: &EventDef) -> (Fields<Scalar>, Option<f64>, Vec<Refused>) {
    let mut data = Fields::default();
    let mut refused = Vec::new();
    let mut revenue = def
        .revenue
        .as_ref()
        .and_then(|a| a.resolve(|n| props.number(n), |_| None));
    for (k, v) in props.fields.iter() {
        if k == "revenue" {
            match v {
                Prop::Number(r) if r.is_finite() && *r >= 0.0 => revenue = Some(*r),
                _ => refused.push(Refused::Revenue),
            }
            continue;
        }
        if k.is_empty() || k.len() > MAX_KEY_LEN || data.len() >= MAX_FIELDS {
            refused.push(Refused::Field(k.clone()));
            continue;
        }
        let value = match v {
            Prop::Bool(b) => Scalar::Bool(*b),
            Prop::Number(n) if n.is_finite() => Scalar::Number(*n),
            Prop::Text(s) => Scalar::Text(truncate(s, MAX_TEXT_LEN).to_owned()),
            _ => {
                refused.push(Refused::NotScalar(k.clone()));
                continue;
            }
        };
        data.insert(k.clone(), value);
    }
    (data, revenue, refused)
}

impl Props {
    /// The text values, as event data: what the triggers extension hands over for a firing
    /// (already held to the collector's limits there).
    pub fn texts(&self) -> Fields<Scalar> {
        let mut data = Fields::default();
        for (k, v) in self.fields.iter() {
            if let Prop::Text(t) = v {
                data.insert(k.clone(), Scalar::Text(t.clone()));
            }
        }
        data
    }

    /// The number under `name`, if there is one.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.fields.get(name) {
            Some(Prop::Number(n)) => Some(*n),
            _ => None,
        }
    }
}

struct PropVisitor;

impl<'de> Visitor<'de> for PropVisitor {
    type Value = Prop;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Prop, E> {
        Ok(Prop::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Prop, E> {
        Ok(Prop::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Prop, E> {
        Ok(Prop::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Prop, E> {
        Ok(Prop::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Prop, E> {
        Ok(Prop::Text(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Prop, E> {
        Ok(Prop::Text(v))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Prop, E> {
        Ok(Prop::Other)
    }
    fn visit_unit<E>(self) -> Result<Prop, E> {
        Ok(Prop::Nothing)
    }
    fn visit_none<E>(self) -> Result<Prop, E> {
        Ok(Prop::Nothing)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Prop, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Prop, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Prop::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Prop, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Prop::Other)
    }
}

impl<'de> Deserialize<'de> for Prop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prop, D::Error> {
        d.deserialize_any(PropVisitor)
    }
}

struct PropsVisitor;

impl<'de> Visitor<'de> for PropsVisitor {
    type Value = Props;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Props, A::Error> {
        let mut props = Props::default();
        while let Some((k, v)) = map.next_entry::<String, Prop>()? {
            props.fields.insert(k, v);
        }
        Ok(props)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Props, A::Error> {
        let mut props = Props {
            list: true,
            ..Props::default()
        };
        while let Some(v) = seq.next_element::<Prop>()? {
            let i = props.fields.len();
            props.fields.insert(super::decimal::string(i as u64), v);
        }
        Ok(props)
    }
    // Anything else (a string, a number, nothing) is no props: refused as a whole by nobody.
    fn visit_bool<E>(self, _: bool) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_unit<E>(self) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_none<E>(self) -> Result<Props, E> {
        Ok(Props::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Props, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Props, D::Error> {
        d.deserialize_any(PropsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Amount, Scope};
    use crate::event::Category;

    fn def(revenue: Option<Amount>) -> EventDef {
        EventDef {
            id: "purchase".into(),
            name: String::new(),
            category: Category::Conversion,
            scope: Scope::Org,
            multi: false,
            revenue,
            payout: None,
        }
    }

    fn props(json: &str) -> Props {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn scalars_become_data_and_the_rest_is_refused_by_name() {
        let p = props(
            r#"{"plan":"gold","n":3,"ok":true,"nested":{"a":1},"list":[1],"none":null,"revenue":"lots","":1}"#,
        );
        let (data, revenue, refused) = event_data(&p, &def(Some(Amount::Fixed(25.0))));
        assert_eq!(
            data,
            Fields::from([
                ("plan".to_string(), Scalar::Text("gold".into())),
                ("n".to_string(), Scalar::Number(3.0)),
                ("ok".to_string(), Scalar::Bool(true)),
            ])
        );
        assert_eq!(revenue, Some(25.0), "a bad revenue leaves the event's own");
        assert_eq!(
            refused,
            [
                Refused::NotScalar("nested".into()),
                Refused::NotScalar("list".into()),
                Refused::NotScalar("none".into()),
                Refused::Revenue,
                Refused::Field(String::new()),
            ]
        );
    }

    #[test]
    fn revenue_comes_from_the_call_or_a_named_prop() {
        let (_, revenue, _) = event_data(&props(r#"{"revenue":12.5}"#), &def(None));
        assert_eq!(revenue, Some(12.5));
        let from_prop = def(Some(Amount::Prop {
            prop: "value".into(),
        }));
        let (data, revenue, _) = event_data(&props(r#"{"value":40}"#), &from_prop);
        assert_eq!(revenue, Some(40.0));
        assert_eq!(data.get("value"), Some(&Scalar::Number(40.0)));
        let (_, revenue, refused) = event_data(&props(r#"{"revenue":-1}"#), &def(None));
        assert_eq!((revenue, refused), (None, vec![Refused::Revenue]));
    }

    #[test]
    fn data_is_held_to_the_collectors_limits() {
        let many: String = (0..60).map(|i| format!("\"k{i}\":{i},")).collect();
        let p = props(&format!("{{{many}\"long\":\"{}\"}}", "x".repeat(600)));
        let (data, _, refused) = event_data(&p, &def(None));
        assert_eq!(data.len(), MAX_FIELDS);
        assert_eq!(refused.len(), 11);
        let p = props(&format!("{{\"long\":\"{}\"}}", "é".repeat(300)));
        let (data, _, _) = event_data(&p, &def(None));
        let Some(Scalar::Text(t)) = data.get("long") else {
            panic!()
        };
        assert!(t.len() <= MAX_TEXT_LEN);
    }

    #[test]
    fn click_options_read_lists_objects_and_ignore_the_rest() {
        let o: ClickOptions = serde_json::from_str(
            r#"{"pid":7,"subids":["a",2],"source_id":"s","parameters":{"offer":"x"},"cid":"c","other":1}"#,
        )
        .unwrap();
        assert_eq!(o.pid, Some(Prop::Number(7.0)));
        assert!(o.subids.list);
        assert_eq!(o.subids.fields.get("1"), Some(&Prop::Number(2.0)));
        assert_eq!(
            o.parameters.fields.get("offer"),
            Some(&Prop::Text("x".into()))
        );
        let o: ClickOptions = serde_json::from_str(r#"{"subids":{"sub3":"c"}}"#).unwrap();
        assert!(!o.subids.list);
        assert_eq!(props("\"garbage\""), Props::default());
        assert_eq!(props("null"), Props::default());
    }
}
