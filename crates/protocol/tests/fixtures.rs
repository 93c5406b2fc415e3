//! The protocol's example payloads (docs/fixtures) are the contract shared with the SDKs:
//! every valid fixture parses, every invalid one fails with the code its name gives.

use std::path::PathBuf;
use vigil_protocol::{ParseLimits, parse_batch};

fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../docs/fixtures")
            .join(kind);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

#[test]
fn every_valid_fixture_parses_and_round_trips() {
    for (name, body) in fixtures("valid") {
        let batch = parse_batch(&body, &ParseLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e} ({})", e.code()));
        // Serialising and parsing again gives the same value: nothing is lost or invented.
        let again = serde_json::to_vec(&batch).unwrap();
        assert_eq!(
            parse_batch(&again, &ParseLimits::default()).unwrap(),
            batch,
            "{name}"
        );
    }
}

#[test]
fn every_valid_fixture_of_one_kind_has_that_kind() {
    for (name, body) in fixtures("valid") {
        let kind = name.trim_end_matches(".json");
        if kind == "full" {
            continue;
        }
        let batch = parse_batch(&body, &ParseLimits::default()).unwrap();
        assert!(
            batch.events.iter().any(|e| e.body.kind() == kind),
            "{name} has no {kind} event"
        );
    }
}

#[test]
fn full_fixture_covers_every_event_kind() {
    let (_, body) = fixtures("valid")
        .into_iter()
        .find(|(n, _)| n == "full.json")
        .unwrap();
    let batch = parse_batch(&body, &ParseLimits::default()).unwrap();
    let mut kinds: Vec<_> = batch.events.iter().map(|e| e.body.kind()).collect();
    kinds.sort();
    kinds.dedup();
    // Every other valid fixture is named after its one kind.
    let mut every: Vec<String> = fixtures("valid")
        .into_iter()
        .map(|(n, _)| n.trim_end_matches(".json").to_owned())
        .filter(|n| n != "full")
        .collect();
    every.sort();
    assert_eq!(kinds, every);
}

#[test]
fn every_invalid_fixture_fails_with_its_code() {
    for (name, body) in fixtures("invalid") {
        let expected = name.split("--").next().unwrap();
        match parse_batch(&body, &ParseLimits::default()) {
            Ok(_) => panic!("{name} parsed but should fail with {expected}"),
            Err(e) => assert_eq!(e.code(), expected, "{name}: {e}"),
        }
    }
}

/// docs/protocol.schema.json is generated from the protocol's types; it must be the file
/// they generate now. Run with `VIGIL_UPDATE_SCHEMA=1` to rewrite it after a change.
#[test]
fn the_checked_in_json_schema_is_the_generated_one() {
    let path =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../docs/protocol.schema.json");
    let generated = serde_json::to_string_pretty(&vigil_protocol::json_schema()).unwrap() + "\n";
    if std::env::var_os("VIGIL_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == generated,
        "docs/protocol.schema.json differs from the protocol's types; run \
         `VIGIL_UPDATE_SCHEMA=1 cargo test -p vigil-protocol --test fixtures` and review the diff"
    );
}
