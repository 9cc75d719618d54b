//! The golden wire fixtures (`tests/fixtures/wire/`): what the clickscript and the fallback send,
//! read by the one wire type the collector reads. The end-to-end tests hold the batches both
//! write in a real browser to the same fixtures' shape.

use std::fs;
use std::path::Path;

use clickscript_core::wire::{Batch, VERSION};

#[test]
fn every_golden_batch_is_a_wire_batch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wire");
    let mut read = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let batch: Batch =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(batch.v, VERSION);
        assert!(!batch.events.is_empty(), "{}", path.display());
        // Written back, it is the same document (no field lost or added by the type).
        let again = numbers_as_floats(serde_json::to_value(&batch).unwrap());
        let golden = numbers_as_floats(serde_json::from_str(&text).unwrap());
        assert_eq!(again, golden, "{}", path.display());
        read += 1;
    }
    assert!(read > 0);
}

/// `34` and `34.0` are one JSON number.
fn numbers_as_floats(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_floats).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}
