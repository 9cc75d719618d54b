//! The collector's log: one line per event worth noting, on stdout (what happened) or stderr
//! (what an operator should look at). As text by default; as one JSON object per line with
//! `--log-format json`, for a log pipeline to index (`ts` in ms since the epoch, `level`,
//! `msg`).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sets how every line from now on is written.
pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// Writes one line: to stderr for a `warning`, else to stdout.
pub fn line(warning: bool, message: std::fmt::Arguments<'_>) {
    let text = render(
        JSON.load(Ordering::Relaxed),
        warning,
        message,
        crate::store::now_ms(),
    );
    let _ = match warning {
        true => writeln!(std::io::stderr().lock(), "{text}"),
        false => writeln!(std::io::stdout().lock(), "{text}"),
    };
}

/// A line as written, at `ts`.
fn render(json: bool, warning: bool, message: std::fmt::Arguments<'_>, ts: i64) -> String {
    match json {
        false => message.to_string(),
        true => serde_json::json!({
            "ts": ts,
            "level": if warning { "warn" } else { "info" },
            "msg": message.to_string(),
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_with_the_message_whole() {
        let what = "a \"quoted\"\nline";
        let line = render(true, true, format_args!("storage: {what}"), 7);
        assert!(!line.contains('\n'), "one line: {line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"ts": 7, "level": "warn", "msg": "storage: a \"quoted\"\nline"})
        );
        assert_eq!(
            render(false, false, format_args!("stored {}", 3), 7),
            "stored 3"
        );
    }
}
