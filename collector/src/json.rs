//! JSON read into the collector's types with each problem named by its path, in the words of
//! the catalog's own checks: `organizations[0].events[2].category: unknown variant "leed",
//! expected one of "lead", ...`, `organizations[0].colour: unknown field, expected ...`,
//! `[1].trigger: expected an object, got a list`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

/// A value that does not read as its type.
#[derive(Debug, PartialEq)]
pub struct Problem {
    /// Where, under the path the value was read at (`""` for the value itself).
    pub path: String,
    /// What is wrong.
    pub reason: String,
    /// Which member of the object read is at fault, and how.
    pub member: Member,
}

/// The member of an object that a problem is about.
#[derive(Debug, PartialEq)]
pub enum Member {
    /// No one member: the value itself is of the wrong kind.
    None,
    /// A member the type does not have.
    Unknown(String),
    /// A member whose value (or something in it) is wrong.
    Wrong(String),
    /// A member the type needs and the object lacks.
    Missing(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_str() {
            "" => write!(f, "{}", self.reason),
            path => write!(f, "{path}: {}", self.reason),
        }
    }
}

/// Reads `value` as a `T`; the first problem met, with its path under `at`. serde reads an
/// internally tagged enum (a trigger) from a copy: a wrong value in one is named at the enum, its
/// tag and an unknown member exactly.
pub fn read<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = at.to_owned();
        let mut names = Vec::new();
        for segment in e.path().iter() {
            let name = match segment {
                Segment::Seq { index } => {
                    path.push_str(&format!("[{index}]"));
                    continue;
                }
                Segment::Map { key } => key,
                Segment::Enum { variant } => variant,
                Segment::Unknown => "?",
            };
            names.push(name.to_owned());
            push_member(&mut path, name);
        }
        let first = names.first().cloned();
        let message = e.inner().to_string();
        let (reason, member) = if let Some(field) = quoted_after(&message, "unknown field `") {
            // The path names the field, except inside an internally tagged enum (a trigger),
            // which serde reads from a copy: then the path stops at the enum.
            if names.last() != Some(&field) {
                push_member(&mut path, &field);
                names.push(field.clone());
            }
            let rest = &message["unknown field `".len() + field.len() + 1..];
            let reason = format!("unknown field{}", words(rest));
            let member = match names.len() {
                1 => Member::Unknown(field),
                _ => first.map_or(Member::None, Member::Wrong),
            };
            (reason, member)
        } else if let Some(field) = quoted_after(&message, "missing field `") {
            let reason = format!("missing field {field:?}");
            (reason, first.map_or(Member::Missing(field), Member::Wrong))
        } else {
            let reason = message
                .strip_prefix("invalid type: ")
                .or_else(|| message.strip_prefix("invalid value: "))
                .and_then(expected)
                .unwrap_or_else(
                    || match message.starts_with("data did not match any variant") {
                        true => "matches none of the forms it may take".to_owned(),
                        false => words(&message),
                    },
                );
            (reason, first.map_or(Member::None, Member::Wrong))
        };
        Problem {
            path,
            reason,
            member,
        }
    })
}

/// What kind of JSON value `v` is, in the words of the messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Applies the JSON merge patch `patch` (RFC 7396) to `target`: a patch that is an object
/// changes the target member by member (`null` removes a member, an object merges into the
/// member's object, anything else, a list too, replaces it); any other patch replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(members) = target {
        for (name, change) in changes {
            if change.is_null() {
                members.remove(name);
            } else {
                merge_patch(members.entry(name.clone()).or_insert(Value::Null), change);
            }
        }
    }
}

fn push_member(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
}

/// The name in backquotes at the start of `message` after `prefix`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.find('`').map(|end| rest[..end].to_owned())
}

/// serde's words in the catalog's: names in double quotes, not backquotes.
fn words(message: &str) -> String {
    message.replace('`', "\"")
}

/// serde's `invalid type: FOUND, expected WANTED` (or `invalid value: …`) as `expected WANTED,
/// got FOUND`, in JSON's words (an object, a list, a number), not Rust's (a map, a sequence, u32).
fn expected(rest: &str) -> Option<String> {
    let (found, wanted) = rest.rsplit_once(", expected ")?;
    let found = match found {
        "map" => "an object".to_owned(),
        "sequence" => "a list".to_owned(),
        "unit value" => "null".to_owned(),
        f if f.starts_with("integer ") || f.starts_with("floating point ") => {
            let number = f.rsplit(' ').next().unwrap_or(f);
            format!("the number {}", number.trim_matches('`'))
        }
        f => match f.split_once(' ') {
            Some(("string", s)) => format!("the string {s}"),
            Some(("boolean", b)) => b.trim_matches('`').to_owned(),
            _ => words(f),
        },
    };
    let wanted = match wanted {
        "a sequence" => "a list",
        "a map" => "an object",
        "a borrowed string" | "a string" => "a string",
        "a boolean" => "true or false",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        w if w.starts_with("struct ") || w.contains("tagged enum ") => "an object",
        w => return Some(format!("expected {}, got {found}", words(w))),
    };
    Some(format!("expected {wanted}, got {found}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        price: Option<Price>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Price {
        Fixed(f64),
        Field { field: String },
    }

    #[test]
    fn merge_patches_change_member_by_member() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": [1, 2]}, "e": [3], "f": "x"});
        merge_patch(
            &mut doc,
            &json!({"a": null, "b": {"c": 3, "d": [9]}, "e": {"g": 1}, "h": {"i": null, "j": 1}}),
        );
        assert_eq!(
            doc,
            json!({"b": {"c": 3, "d": [9]}, "e": {"g": 1}, "f": "x", "h": {"j": 1}})
        );
        merge_patch(&mut doc, &json!([1]));
        assert_eq!(
            doc,
            json!([1]),
            "a patch that is no object replaces the whole"
        );
    }

    fn problem(v: Value) -> Problem {
        read::<Item>(&v, "items[3]").unwrap_err()
    }

    #[test]
    fn problems_are_named_by_path_in_json_words() {
        let unknown = problem(json!({"id": "a", "colour": 1}));
        assert_eq!(
            unknown.to_string(),
            "items[3].colour: unknown field, expected one of \"id\", \"count\", \"tags\", \"price\""
        );
        assert_eq!(unknown.member, Member::Unknown("colour".into()));
        let wrong = problem(json!({"id": "a", "tags": ["x", 5]}));
        assert_eq!(
            wrong.to_string(),
            "items[3].tags[1]: expected a string, got the number 5"
        );
        assert_eq!(wrong.member, Member::Wrong("tags".into()));
        let negative = problem(json!({"id": "a", "count": -1}));
        assert_eq!(
            negative.to_string(),
            "items[3].count: expected a whole number of 0 or more, got the number -1"
        );
        let price = problem(json!({"id": "a", "price": "ten"}));
        assert_eq!(
            price.to_string(),
            "items[3].price: matches none of the forms it may take"
        );
        let missing = problem(json!({"count": 1}));
        assert_eq!(missing.to_string(), "items[3]: missing field \"id\"");
        assert_eq!(missing.member, Member::Missing("id".into()));
        let text = problem(json!("a"));
        assert_eq!(
            text.to_string(),
            "items[3]: expected an object, got the string \"a\""
        );
        assert_eq!(text.member, Member::None);
        let whole = read::<Vec<Item>>(&json!({}), "").unwrap_err();
        assert_eq!(whole.to_string(), "expected a list, got an object");
    }
}
