//! How events are read: the type anywhere in the object, escaped keys, overrides of the
//! context, the codes and messages of refusals, and the same events from bytes, a reader and
//! a `serde_json::Value`.

use vigil_protocol::{EventBody, ParseLimits, parse_batch};

fn batch(events: &str) -> Vec<u8> {
    format!(
        r#"{{"v":1,"context":{{"session_id":"s1","agent":{{"name":"t","version":"1"}}}},"events":[{events}]}}"#
    )
    .into_bytes()
}

fn refused(events: &str) -> (String, String) {
    let e = parse_batch(&batch(events), &ParseLimits::default()).expect_err(events);
    (e.code().to_owned(), e.to_string())
}

const TS: i64 = 1_767_225_600_000;

#[test]
fn the_type_may_come_anywhere_and_keys_may_be_escaped() {
    for event in [
        format!(r#"{{"type":"vital","ts":{TS},"name":"LCP","value":1200.5}}"#),
        format!(r#"{{"ts":{TS},"name":"LCP","value":1200.5,"type":"vital"}}"#),
        format!(r#"{{"name":"LCP","ts":{TS},"\u0074ype":"vit\u0061l","v\u0061lue":1200.5}}"#),
    ] {
        let b = parse_batch(&batch(&event), &ParseLimits::default()).expect(&event);
        let e = &b.events[0];
        assert_eq!(e.ts, TS);
        let EventBody::Vital(v) = &e.body else {
            panic!("{event}: {:?}", e.body)
        };
        assert_eq!((v.name.as_str(), v.value), ("LCP", 1200.5), "{event}");
    }
}

#[test]
fn common_fields_override_the_context_and_null_means_absent() {
    let b = parse_batch(
        &batch(&format!(
            r#"{{"ts":{TS},"type":"route","view_id":"v2","page_url":"https://a.example/x","from":"/a","to":"/x","duration":12}},{{"ts":{TS},"type":"route","view_id":null,"from":"/x","to":"/y"}}"#
        )),
        &ParseLimits::default(),
    )
    .unwrap();
    assert_eq!(b.events[0].view_id.as_deref(), Some("v2"));
    assert_eq!(b.events[0].page_url.as_deref(), Some("https://a.example/x"));
    assert_eq!(b.events[1].view_id, None);
}

#[test]
fn refusals_keep_their_codes_and_say_where() {
    let cases = [
        (
            format!(r#"{{"ts":{TS},"type":"teleport"}}"#),
            "invalid_field",
            "unknown variant `teleport`",
        ),
        (
            format!(r#"{{"ts":{TS},"name":"LCP","value":1}}"#),
            "invalid_field",
            "missing field `type`",
        ),
        (
            r#"{"type":"vital","name":"LCP","value":1}"#.to_owned(),
            "invalid_field",
            "missing field `ts`",
        ),
        (
            format!(r#"{{"ts":{TS},"type":"vital","name":"LCP","value":1,"colour":"red"}}"#),
            "unknown_field",
            "unknown field `colour`",
        ),
        (
            format!(r#"{{"ts":{TS},"type":"vital","name":"LCP","value":"fast"}}"#),
            "invalid_field",
            "invalid type: string \"fast\", expected f64",
        ),
        (
            format!(r#"{{"ts":{TS},"ts":{TS},"type":"vital","name":"LCP","value":1}}"#),
            "invalid_field",
            "duplicate field `ts`",
        ),
        (
            format!(r#"{{"ts":{TS},"type":"vital","name":"LCP","name":"INP","value":1}}"#),
            "invalid_field",
            "duplicate field `name`",
        ),
        (
            format!(r#"{{"ts":{TS},"type":"vital","name":"LCP","value":1}},"view""#),
            "invalid_field",
            "expected struct Event",
        ),
        (
            format!(r#"{{"ts":{TS},"type":"vital","name":"LCP","value":1,"type":"vital"}}"#),
            "invalid_field",
            "duplicate field `type`",
        ),
        // serde's derived reader took a number as the index of a type; the schema says text
        (
            format!(r#"{{"ts":{TS},"type":5,"name":"LCP","value":1}}"#),
            "invalid_field",
            "invalid type: integer `5`, expected variant identifier",
        ),
        // a value read before the type is known is kept aside, then checked as the type's
        (
            format!(r#"{{"value":"fast","ts":{TS},"name":"LCP","type":"vital"}}"#),
            "invalid_field",
            "invalid type: string \"fast\", expected f64",
        ),
        (
            format!(r#"{{"colour":"red","ts":{TS},"type":"vital","name":"LCP","value":1}}"#),
            "unknown_field",
            "unknown field `colour`",
        ),
        (
            format!(r#"{{"name":"LCP","ts":{TS},"type":"vital","name":"INP","value":1}}"#),
            "invalid_field",
            "duplicate field `name`",
        ),
        (
            format!(
                r#"{{"ts":{TS},"type":"vital","name":"LCP","value":1,"page_url":"a","page_url":"b"}}"#
            ),
            "invalid_field",
            "duplicate field `page_url`",
        ),
    ];
    for (event, code, says) in cases {
        let (got_code, text) = refused(&event);
        assert_eq!(got_code, code, "{event}: {text}");
        assert!(text.contains(says), "{event}: {text}");
        // one place, in the body: not also a place inside the value that was kept aside
        assert_eq!(text.matches(" at line ").count(), 1, "{event}: {text}");
    }
}

#[test]
fn an_event_reads_the_same_from_bytes_a_reader_and_a_json_value() {
    // The run-time variable: a test binary reused from another clone (a shared target
    // folder) has that clone's path compiled into `env!`.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let body =
        std::fs::read(std::path::Path::new(&crate_dir).join("../../docs/fixtures/valid/full.json"))
            .unwrap();
    let from_slice: vigil_protocol::Batch = serde_json::from_slice(&body).unwrap();
    let from_reader: vigil_protocol::Batch = serde_json::from_reader(&body[..]).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let from_value: vigil_protocol::Batch = serde_json::from_value(value).unwrap();
    assert_eq!(from_reader, from_slice);
    assert_eq!(from_value, from_slice);
    assert!(from_slice.events.len() >= 14);
}

#[test]
fn every_type_the_schema_names_is_read_and_no_other() {
    let schema = vigil_protocol::json_schema();
    let mut tags: Vec<&str> = schema["$defs"]["Event"]["oneOf"]
        .as_array()
        .expect("the event's types are a oneOf")
        .iter()
        .map(|t| {
            t["properties"]["type"]["const"]
                .as_str()
                .expect("a const tag")
        })
        .collect();
    let mut kinds = EventBody::KINDS.to_vec();
    tags.sort_unstable();
    kinds.sort_unstable();
    assert_eq!(kinds, tags);
}

#[test]
fn events_past_the_first_room_are_all_read_and_events_must_be_a_list() {
    // The reader starts with room for 32; a batch of 100 grows past it, in order.
    let events: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"ts":{},"type":"vital","name":"LCP","value":{i}}}"#,
                TS + i
            )
        })
        .collect();
    let b = parse_batch(&batch(&events.join(",")), &ParseLimits::default()).unwrap();
    let times: Vec<i64> = b.events.iter().map(|e| e.ts).collect();
    assert_eq!(times, (0..100).map(|i| TS + i).collect::<Vec<_>>());

    for body in [
        r#"{"v":1,"context":{"session_id":"s1","agent":{"name":"t","version":"1"}},"events":{}}"#,
        r#"{"v":1,"context":{"session_id":"s1","agent":{"name":"t","version":"1"}},"events":"x"}"#,
    ] {
        let e = parse_batch(body.as_bytes(), &ParseLimits::default()).expect_err(body);
        assert_eq!(e.code(), "invalid_field", "{body}");
        assert!(e.to_string().contains("expected a sequence"), "{body}: {e}");
    }
}
