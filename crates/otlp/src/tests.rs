use super::*;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as ProtoLog, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn string(key: &str, s: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(s.into()))
}

const TRACE: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];

fn span(span_id: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, span_id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: format!("op-{span_id}"),
        kind: 2,
        start_time_unix_nano: 1_764_000_000_123_456_789,
        end_time_unix_nano: 1_764_000_000_223_456_789,
        attributes: vec![
            string("http.route", "/api/cart"),
            kv("http.status_code", any_value::Value::IntValue(500)),
        ],
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
        events: vec![span::Event {
            time_unix_nano: 1_764_000_000_200_000_000,
            name: "exception".into(),
            attributes: vec![string("exception.type", "ValueError")],
            dropped_attributes_count: 0,
        }],
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "cart-api")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

#[test]
fn protobuf_spans_are_flattened_with_their_service() {
    let body = request(vec![span(1, None), span(2, Some(1))]).encode_to_vec();
    let decoded = decode_traces(&body, Encoding::Protobuf, &Limits::default()).unwrap();
    assert_eq!(decoded.rejected, 0);
    let [root, child] = &decoded.records[..] else {
        panic!("two spans")
    };
    assert_eq!(root.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.span_id, "0000000000000001");
    assert_eq!(root.parent_span_id, None);
    assert_eq!(child.parent_span_id.as_deref(), Some("0000000000000001"));
    assert_eq!(root.service, "cart-api");
    assert_eq!(
        (root.kind, root.status, root.status_message.as_str()),
        ("server", "error", "boom")
    );
    assert!(
        (root.start_ms - 1_764_000_000_123.457).abs() < 1e-3,
        "{}",
        root.start_ms
    );
    assert!((root.duration_ms - 100.0).abs() < 1e-9);
    assert_eq!(root.attributes["http.route"], "/api/cart");
    assert_eq!(root.attributes["http.status_code"], 500);
    assert_eq!(root.events[0]["name"], "exception");
    assert_eq!(root.resource["service.name"], "cart-api");
}

#[test]
fn json_uses_hex_ids_and_string_nanoseconds_as_the_spec_says() {
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
        "scopeSpans":[{"scope":{"name":"flask"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"eee19b7ec3c1b173","name":"GET /pay","kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":1544712661000000000,"attributes":[{"key":"retries","value":{"intValue":"3"}},
        {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"boolValue":true}]}}}],"status":{"code":1}}]}]}]}"#;
    let decoded = decode_traces(body, Encoding::Json, &Limits::default()).unwrap();
    assert_eq!(decoded.rejected, 0, "{:?}", decoded.reasons);
    let s = &decoded.records[0];
    assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(s.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
    assert_eq!((s.service.as_str(), s.status), ("checkout", "ok"));
    assert_eq!(s.start_ms, 1_544_712_660_000.0);
    assert_eq!(s.duration_ms, 1000.0);
    assert_eq!(s.attributes["retries"], 3);
    assert_eq!(s.attributes["tags"], serde_json::json!(["a", true]));
}

#[test]
fn spans_that_break_the_spec_are_rejected_alone() {
    let mut short = span(3, None);
    short.trace_id = vec![1; 8];
    let mut zero = span(4, None);
    zero.span_id = vec![0; 8];
    let mut backwards = span(5, None);
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let mut bad_parent = span(6, None);
    bad_parent.parent_span_id = vec![1, 2, 3];
    let body = request(vec![span(1, None), short, zero, backwards, bad_parent]).encode_to_vec();
    let decoded = decode_traces(&body, Encoding::Protobuf, &Limits::default()).unwrap();
    assert_eq!(decoded.records.len(), 1);
    assert_eq!(decoded.rejected, 4);
    assert_eq!(
        decoded.reasons,
        [
            "trace_id has 8 bytes; it must have 16",
            "span_id is all zeros",
            "span 0000000000000005 ends before it starts",
            "parent_span_id has 3 bytes; it must have 8",
        ]
    );
}

#[test]
fn bodies_that_are_not_otlp_are_refused() {
    assert!(matches!(
        decode_traces(b"\xff\xff\xff\xff", Encoding::Protobuf, &Limits::default()),
        Err(OtlpError::InvalidProtobuf(_))
    ));
    assert!(matches!(
        decode_traces(
            b"{\"resourceSpans\": 3}",
            Encoding::Json,
            &Limits::default()
        ),
        Err(OtlpError::InvalidJson(_))
    ));
    assert!(matches!(
        decode_traces(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            Encoding::Json,
            &Limits::default()
        ),
        Err(OtlpError::InvalidJson(_))
    ));
    assert_eq!(
        encoding_of(Some("application/x-protobuf")),
        Ok(Encoding::Protobuf)
    );
    assert_eq!(
        encoding_of(Some("application/json; charset=utf-8")),
        Ok(Encoding::Json)
    );
    assert_eq!(
        encoding_of(Some("text/plain")).unwrap_err().code(),
        "unsupported_media_type"
    );
    assert!(encoding_of(None).is_err());
    let many = request((0..11).map(|i| span(i + 1, None)).collect()).encode_to_vec();
    let limits = Limits {
        max_records: 10,
        ..Limits::default()
    };
    assert_eq!(
        decode_traces(&many, Encoding::Protobuf, &limits),
        Err(OtlpError::TooManyRecords { got: 11, limit: 10 })
    );
}

#[test]
fn values_are_bounded_in_size_depth_and_count() {
    let nest = |levels: usize| {
        let mut deep = AnyValue {
            value: Some(any_value::Value::StringValue("leaf".into())),
        };
        for _ in 0..levels {
            deep = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![deep],
                })),
            };
        }
        deep
    };
    // Past prost's recursion limit (100 messages) a body is refused, so decoding never
    // recurses without bound.
    let mut too_deep = span(1, None);
    too_deep.attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(nest(60)),
        ..KeyValue::default()
    }];
    let refused = decode_traces(
        &request(vec![too_deep]).encode_to_vec(),
        Encoding::Protobuf,
        &Limits::default(),
    );
    assert!(
        matches!(&refused, Err(OtlpError::InvalidProtobuf(m)) if m.contains("recursion limit")),
        "{refused:?}"
    );
    let deep = nest(30);
    let mut s = span(1, None);
    s.attributes = (0..300).map(|i| string(&format!("k{i}"), "v")).collect();
    s.attributes[0] = KeyValue {
        key: "deep".into(),
        value: Some(deep),
        ..KeyValue::default()
    };
    s.attributes[1] = string("long", &"é".repeat(10_000));
    s.attributes[2] = kv(
        "map",
        any_value::Value::KvlistValue(KeyValueList {
            values: vec![string("inner", "x")],
        }),
    );
    let decoded = decode_traces(
        &request(vec![s]).encode_to_vec(),
        Encoding::Protobuf,
        &Limits::default(),
    )
    .unwrap();
    let attrs = &decoded.records[0].attributes;
    assert_eq!(attrs.len(), 128);
    assert!(attrs["long"].as_str().unwrap().len() <= 8 * 1024);
    assert_eq!(attrs["map"]["inner"], "x");
    let mut v = &attrs["deep"];
    let mut depth = 0;
    while let Some(a) = v.as_array() {
        v = &a[0];
        depth += 1;
    }
    assert_eq!((depth, v.as_str()), (4, Some("[nested too deep]")));
}

#[test]
fn logs_carry_their_trace_and_span() {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![string("service.name", "cart-api")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    ProtoLog {
                        time_unix_nano: 1_764_000_000_150_000_000,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("payment declined".into())),
                        }),
                        trace_id: TRACE.to_vec(),
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
                        attributes: vec![string("order", "o-1")],
                        ..ProtoLog::default()
                    },
                    ProtoLog {
                        observed_time_unix_nano: 1_764_000_000_160_000_000,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::KvlistValue(KeyValueList {
                                values: vec![string("k", "v")],
                            })),
                        }),
                        ..ProtoLog::default()
                    },
                    ProtoLog {
                        trace_id: vec![1; 3],
                        time_unix_nano: 1,
                        ..ProtoLog::default()
                    },
                    ProtoLog::default(),
                ],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let decoded = decode_logs(
        &request.encode_to_vec(),
        Encoding::Protobuf,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(decoded.rejected, 2, "{:?}", decoded.reasons);
    let [first, second] = &decoded.records[..] else {
        panic!("two records")
    };
    assert_eq!(
        first.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(first.span_id.as_deref(), Some("0000000000000002"));
    assert_eq!(
        (first.severity_number, first.severity_text.as_str()),
        (17, "ERROR")
    );
    assert_eq!(first.body, "payment declined");
    assert_eq!(first.time_ms, 1_764_000_000_150.0);
    assert_eq!(second.body, r#"{"k":"v"}"#);
    assert_eq!(second.trace_id, None);
    assert_eq!(second.time_ms, 1_764_000_000_160.0);
}

#[test]
fn encoded_spans_decode_to_the_same_records() {
    let span = |id: &str, parent: Option<&str>, service: &str| SpanRecord {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: id.into(),
        parent_span_id: parent.map(str::to_owned),
        service: service.into(),
        name: format!("op {id}"),
        kind: "server",
        start_ms: 1_764_000_000_123.5,
        duration_ms: 12.25,
        status: "error",
        status_message: "boom".into(),
        scope: "bench".into(),
        attributes: serde_json::json!({"http.route": "/cart"})
            .as_object()
            .unwrap()
            .clone(),
        resource: serde_json::json!({"service.name": service})
            .as_object()
            .unwrap()
            .clone(),
        events: Vec::new(),
    };
    let spans = vec![
        span("00f067aa0ba902b7", None, "api"),
        span("1111111111111111", Some("00f067aa0ba902b7"), "db"),
        span("2222222222222222", Some("00f067aa0ba902b7"), "api"),
    ];
    let body = encode_traces(&spans);
    let decoded = decode_traces(&body, Encoding::Protobuf, &Limits::default()).unwrap();
    assert_eq!(decoded.rejected, 0);
    let mut want = spans.clone();
    // One resource per service: the api's two spans come first.
    want.swap(1, 2);
    assert_eq!(decoded.records, want);
}
