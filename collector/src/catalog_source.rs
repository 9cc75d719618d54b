//! Where the catalog comes from at start, by one rule. The database keeps the catalog the
//! collector last served, with the admin API's changes; a configuration file (`--config FILE`) is
//! another. Given both, the collector takes the file when the two documents are equal (compared
//! as parsed, with every default filled in: not as text) or the database has none; when they
//! differ it takes neither unless told which (`--catalog file` or `--catalog stored`), and says
//! what differs. Without a file it takes the stored catalog, else the demo's file.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::catalog::{Catalog, CatalogFile};

/// Which catalog to take when the file and the stored one differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Take {
    /// The file replaces the stored catalog (and the admin API's changes with it).
    File,
    /// The stored catalog is kept; the file is ignored.
    Stored,
}

/// Where the catalog the collector starts from came from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// The configuration file.
    File,
    /// The database.
    Stored,
}

/// A start refused: what to print, each line an error.
#[derive(Debug)]
pub struct Refused(pub Vec<String>);

/// Most differences listed; the rest are counted.
const MAX_LISTED: usize = 20;

/// Chooses between the file's catalog and the stored one (each read and checked, or every
/// problem found). `file_name` and `db_name` name them in what is printed. Answers which was
/// taken, with a note to print when it was taken over the other, or the refusal.
pub fn choose(
    file: Result<Catalog, Vec<String>>,
    stored: Option<Result<Catalog, Vec<String>>>,
    take: Option<Take>,
    file_name: &str,
    db_name: &str,
) -> Result<(Catalog, Source, Option<String>), Refused> {
    let file = file.map_err(|mut errors| {
        errors.push(format!("refusing to start: {file_name} is invalid"));
        Refused(errors)
    })?;
    let stored_name = format!("the catalog stored in {db_name}");
    let stored = match stored {
        None => return Ok((file, Source::File, None)),
        Some(Ok(stored)) => stored,
        Some(Err(mut errors)) => {
            if take == Some(Take::File) {
                let note = format!("{file_name} replaces {stored_name}, which is invalid");
                return Ok((file, Source::File, Some(note)));
            }
            errors.push(format!(
                "refusing to start: {stored_name} is invalid; --catalog file replaces it with {file_name}"
            ));
            return Err(Refused(errors));
        }
    };
    let differences = differences(&stored.file, &file.file);
    if differences.is_empty() {
        return Ok((file, Source::File, None));
    }
    let listed = listed(&differences);
    match take {
        Some(Take::File) => {
            let note = format!(
                "{file_name} replaces {stored_name}, which differed: {}",
                listed.join("; ")
            );
            Ok((file, Source::File, Some(note)))
        }
        Some(Take::Stored) => {
            let note = format!(
                "keeping {stored_name}; {file_name} is ignored (it differs: {})",
                listed.join("; ")
            );
            Ok((stored, Source::Stored, Some(note)))
        }
        None => {
            let mut lines = vec![format!(
                "{stored_name} differs from {file_name} (changed through the admin API since it was taken?):"
            )];
            lines.extend(listed.into_iter().map(|d| format!("  {d}")));
            lines.push(format!(
                "refusing to start: say which to take: --catalog file ({file_name} replaces the stored catalog, the admin API's changes with it) or --catalog stored (the stored catalog is kept, {file_name} ignored)"
            ));
            Err(Refused(lines))
        }
    }
}

/// At most [`MAX_LISTED`] differences, and how many more there are.
fn listed(differences: &[String]) -> Vec<String> {
    let mut listed: Vec<String> = differences.iter().take(MAX_LISTED).cloned().collect();
    if differences.len() > MAX_LISTED {
        listed.push(format!("… and {} more", differences.len() - MAX_LISTED));
    }
    listed
}

/// What differs between the stored catalog and the file's, briefly, one line each: an
/// organization, campaign or event only in one of them, or which of its members differ
/// (`campaign "demo": cookie_days, bindings differ`). Empty when they are equal.
pub fn differences(stored: &CatalogFile, file: &CatalogFile) -> Vec<String> {
    let value = |f: &CatalogFile| match serde_json::to_value(f) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut out = Vec::new();
    compare("the catalog", &value(stored), &value(file), &mut out);
    out
}

/// Compares two objects member by member; the lists of organizations, campaigns and events by
/// their elements' IDs.
fn compare(
    what: &str,
    stored: &Map<String, Value>,
    file: &Map<String, Value>,
    out: &mut Vec<String>,
) {
    let names: BTreeSet<&String> = stored.keys().chain(file.keys()).collect();
    let mut differing = Vec::new();
    let mut inner = Vec::new();
    for name in names {
        let (s, f) = (stored.get(name), file.get(name));
        if s == f {
            continue;
        }
        match (name.as_str(), s, f) {
            (
                "organizations" | "campaigns" | "events",
                Some(Value::Array(s)),
                Some(Value::Array(f)),
            ) => compare_lists(what, name, s, f, &mut inner),
            _ => differing.push(name.as_str()),
        }
    }
    if !differing.is_empty() {
        let verb = if differing.len() == 1 {
            "differs"
        } else {
            "differ"
        };
        out.push(format!("{what}: {} {verb}", differing.join(", ")));
    }
    out.extend(inner);
}

/// Compares two lists of documents with IDs: an element only in one, or what differs in it.
fn compare_lists(what: &str, list: &str, stored: &[Value], file: &[Value], out: &mut Vec<String>) {
    let id = |v: &Value| v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let label = |element: &str| match (list, what) {
        ("organizations", _) => format!("organization {element:?}"),
        // Campaign IDs are unique in the catalog: named alone.
        ("campaigns", _) => format!("campaign {element:?}"),
        _ => format!("{what}, event {element:?}"),
    };
    let before = out.len();
    let mut ids: Vec<String> = stored.iter().map(id).collect();
    ids.extend(
        file.iter()
            .map(id)
            .filter(|i| !stored.iter().any(|s| id(s) == *i)),
    );
    for element in ids {
        let s = stored.iter().find(|v| id(v) == element);
        let f = file.iter().find(|v| id(v) == element);
        match (s, f) {
            (Some(_), None) => out.push(format!("{}: only in the stored catalog", label(&element))),
            (None, Some(_)) => out.push(format!("{}: only in the file", label(&element))),
            (Some(Value::Object(s)), Some(Value::Object(f))) => {
                compare(&label(&element), s, f, out)
            }
            (s, f) if s != f => out.push(format!("{}: differs", label(&element))),
            _ => {}
        }
    }
    if out.len() == before {
        out.push(format!("{what}: its {list} are in another order"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(v: Value) -> CatalogFile {
        serde_json::from_value(v).unwrap()
    }

    fn catalog(v: Value) -> Catalog {
        Catalog::build(file(v)).unwrap()
    }

    fn demo() -> Value {
        json!({"organizations":[{"id":"o","name":"O","events":[{"id":"e1","category":"lead"}],
            "campaigns":[{"id":"c1","allowed_origins":["https://a.example"],
                          "events":[{"id":"c1e","category":"click"}]},{"id":"c2"}]}]})
    }

    #[test]
    fn equal_documents_differ_in_nothing_however_written() {
        let written_otherwise = json!({"organizations":[{"id":"o","name":"O","events":[
            {"id":"e1","category":"lead","multi":false,"active":true,"revenue":null}],
            "campaigns":[{"id":"c1","allowed_origins":["https://a.example"],"cookie_days":null,
                          "capture":{},"events":[{"id":"c1e","category":"click"}]},
                         {"id":"c2","gpc":"record","offers":{"param":"transaction_id"}}]}]});
        assert_eq!(
            differences(&file(demo()), &file(written_otherwise)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn what_differs_is_named_briefly() {
        let changed = json!({"organizations":[{"id":"o","name":"O2","events":[],
            "campaigns":[{"id":"c1","allowed_origins":["https://b.example"],"cookie_days":7,
                          "events":[{"id":"c1e","category":"click","multi":true},{"id":"new","category":"lead"}]},
                         {"id":"c3"}]},
            {"id":"p"}]});
        assert_eq!(
            differences(&file(demo()), &file(changed)),
            [
                "organization \"o\": name differs",
                "campaign \"c1\": allowed_origins, cookie_days differ",
                "campaign \"c1\", event \"c1e\": multi differs",
                "campaign \"c1\", event \"new\": only in the file",
                "campaign \"c2\": only in the stored catalog",
                "campaign \"c3\": only in the file",
                "organization \"o\", event \"e1\": only in the stored catalog",
                "organization \"p\": only in the file",
            ]
        );
        let mut reordered = demo();
        let campaigns = reordered["organizations"][0]["campaigns"]
            .as_array_mut()
            .unwrap();
        campaigns.reverse();
        assert_eq!(
            differences(&file(demo()), &file(reordered)),
            ["organization \"o\": its campaigns are in another order"]
        );
    }

    #[test]
    fn the_file_is_taken_unless_a_differing_stored_catalog_says_otherwise() {
        let changed = {
            let mut v = demo();
            v["organizations"][0]["campaigns"][0]["cookie_days"] = json!(7);
            v
        };
        let take = |stored: Option<Value>, take| {
            choose(
                Ok(catalog(demo())),
                stored.map(|s| Ok(catalog(s))),
                take,
                "f.json",
                "t.db",
            )
        };
        let (_, source, note) = take(None, None).unwrap();
        assert_eq!((source, note), (Source::File, None));
        let (_, source, note) = take(Some(demo()), None).unwrap();
        assert_eq!(
            (source, note),
            (Source::File, None),
            "equal: taken silently"
        );
        let refused = take(Some(changed.clone()), None).unwrap_err().0;
        assert_eq!(
            refused[..2],
            [
                "the catalog stored in t.db differs from f.json (changed through the admin API since it was taken?):",
                "  campaign \"c1\": cookie_days differs",
            ]
        );
        assert!(refused[2].contains("--catalog file") && refused[2].contains("--catalog stored"));
        let (taken, source, note) = take(Some(changed.clone()), Some(Take::Stored)).unwrap();
        assert_eq!(source, Source::Stored);
        assert_eq!(
            taken.file.organizations[0].campaigns[0].cookie_days,
            Some(7)
        );
        assert!(note.unwrap().contains("f.json is ignored"));
        let (taken, source, note) = take(Some(changed), Some(Take::File)).unwrap();
        assert_eq!(source, Source::File);
        assert_eq!(taken.file.organizations[0].campaigns[0].cookie_days, None);
        assert!(note.unwrap().contains("cookie_days"));
        let invalid = choose(
            Ok(catalog(demo())),
            Some(Err(vec!["organizations[0].id: bad".into()])),
            None,
            "f.json",
            "t.db",
        )
        .unwrap_err()
        .0;
        assert_eq!(invalid[0], "organizations[0].id: bad");
        assert!(invalid[1].contains("--catalog file replaces it"));
    }
}
