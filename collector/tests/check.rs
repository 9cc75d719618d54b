//! `collector check FILE`, and the collector refusing to start on an invalid file.

use std::process::Command;

fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_collector"))
}

fn write(dir: &tempfile::TempDir, json: &str) -> std::path::PathBuf {
    let path = dir.path().join("config.json");
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn the_demo_file_checks_clean() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/demo.json");
    let out = collector().args(["check", demo]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (1 campaigns)"));
}

#[test]
fn a_broken_file_prints_every_error_with_its_path_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        r#"{"organizations":[{"id":"o","events":[{"id":"base","category":"lead"}],
          "campaigns":[{"id":"c","cookie_days":900,"bindings":[{"event":"base","trigger":{"on":"click","selector":"a[x"}}]}]}]}"#,
    );
    let out = collector().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "error: organizations[0].events[0].id: \"base\" is a system event ID",
        "error: organizations[0].campaigns[0].bindings[0].trigger.selector: \"a[x\" is not a valid CSS selector: a bracket, parenthesis, quote or escape is left open at its end",
        "error: organizations[0].campaigns[0].cookie_days: must be between 1 and 400",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in\n{stderr}");
    }
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn every_problem_of_a_file_is_printed_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        r##"{"organizations":[{"id":"o","colour":"red",
          "events":[{"id":"signup","category":"lead"},{"id":"quote","category":"engagement"},{"id":"sale","category":"leed"}],
          "campaigns":[{"id":"c","allowed_origins":["https://ok.example"],
                        "bindings":[{"event":"signup","trigger":{"on":"click","selector":"ul > li:nth-child(2n+1) button:not(:disabled)"}},
                                    {"event":"quote","trigger":{"on":"seen","selector":"#pricing:hovr"}}]},
                       {"id":"d","allowed_origins":["https://lp.example/landing"],"cookie_days":900}]}]}"##,
    );
    let out = collector().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = [
        "error: organizations[0].colour: unknown field, expected one of \"id\", \"name\", \"events\", \"campaigns\"",
        "error: organizations[0].events[2].category: unknown variant \"leed\", expected one of \"lead\", \"engagement\", \"click\", \"conversion\"",
        "error: organizations[0].campaigns[0].bindings[1].trigger.selector: \"#pricing:hovr\" is not a valid CSS selector: unknown pseudo-class \":hovr\"",
        "error: organizations[0].campaigns[1].allowed_origins[0]: \"https://lp.example/landing\" must be scheme://host[:port] with no path, or *",
        "error: organizations[0].campaigns[1].cookie_days: must be between 1 and 400",
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn malformed_json_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "{\"organizations\": [\n  {\"id\": \"o\" \"name\": \"O\"}\n]}",
    );
    let out = collector().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {}: expected", file.display()))
            && stderr.contains("line 2 column 14"),
        "{stderr}"
    );
    let missing = collector()
        .args(["check", "/nonexistent/config.json"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn the_collector_refuses_to_start_on_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, r#"{"organizations":[{"id":"bad id"}]}"#);
    let out = collector()
        .arg("--config")
        .arg(&file)
        .arg("--db")
        .arg(dir.path().join("t.db"))
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("organizations[0].id: \"bad id\" is not a valid ID"),
        "{stderr}"
    );
    assert!(stderr.contains("refusing to start"), "{stderr}");
}
