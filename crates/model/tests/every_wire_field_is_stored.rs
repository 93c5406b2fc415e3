//! Every value a sender can put in a batch is stored. A field added to a protocol struct
//! without its `col!` line in crates/model/src/declare.rs would otherwise be accepted and
//! silently dropped; here it fails, by name.
//!
//! The batch is generated from the protocol's JSON schema (the one docs/protocol.schema.json
//! holds), so a new field is covered without touching this file. It holds every event type
//! twice: once with every optional field set, once with only the required ones (so that the
//! context's `view_id` and `page_url`, which events may override, reach a row too). It takes
//! intake's way: JSON bytes, `parse_batch`, error analysis, `Enricher::enrich`,
//! `IngestBatch::to_rows`. Then
//! each value in turn is changed (a string gets a suffix, a number grows by one, a boolean
//! flips, a key of a flat object is renamed): the rows must change, in a column that holds
//! the new value (for numbers, times the column's fixed-point scale).
//!
//! Changing one value at a time, rather than searching all rows for marker values, finds the
//! cells a field reaches even for booleans (no marker tells one `true` from another), and a
//! value that happens to appear in an unrelated cell cannot hide a dropped field: only the
//! cells that changed are searched.

use arrow_array::{Array, BooleanArray, Int64Array, StringArray};
use serde_json::{Map, Value};
use vigil_enrich::{ClientInfo, Enricher};
use vigil_model::{Rows, Table};
use vigil_protocol::{ParseLimits, json_schema, parse_batch, reads_on_the_fast_path};

/// Wire fields deliberately not stored, each with why. The events' `type` tag is no entry:
/// it is a constant of each event type, not a value, and it picks the table the event is
/// stored in. The test also fails when one of these is stored after all, so the list stays
/// exact.
const NOT_STORED: &[(&str, &str)] = &[
    (
        "v",
        "the protocol version: intake refuses any but 1, so it says nothing",
    ),
    (
        "key",
        "the project key: it picks the project the rows are stored under, it is not data",
    ),
    (
        "error.debug_ids.<string key>",
        "a script's debug id finds its source map; the mapped frames are what is stored",
    ),
    (
        "error.debug_ids.<string>",
        "a script's debug id finds its source map; the mapped frames are what is stored",
    ),
];

/// Values that intake's checks constrain: (what is sent, what it is changed to). `None`: it
/// has a single valid value, so there is nothing to change.
fn constrained(leaf: &str) -> Option<(Value, Option<Value>)> {
    let pair = |a: Value, b: Value| Some((a, Some(b)));
    match leaf {
        "v" => Some((1.into(), None)),
        "vital.name" => pair("LCP".into(), "INP".into()),
        "vital.rating" => pair("poor".into(), "good".into()),
        "context.sample_rate" => pair(0.25.into(), 0.5.into()),
        "error.debug_ids.<string>" => pair(
            "c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e51".into(),
            "c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e52".into(),
        ),
        _ => None,
    }
}

/// A wire batch generated from the JSON schema, with at most one value changed.
struct Generator<'a> {
    defs: &'a Map<String, Value>,
    /// The leaf that gets its changed value, and that value once it is sent.
    change: Option<&'a str>,
    changed: Option<Value>,
    /// Every leaf met, named by its path (`context.app.build`, `error.frames[].line`); its
    /// position makes its number values distinct.
    leaves: Vec<String>,
    /// Set while the events with only their required fields are generated.
    required_only: bool,
}

#[derive(Clone, Copy)]
enum Leaf {
    Text,
    Integer,
    /// An `int64`: the protocol's timestamps, which intake wants after 2020.
    Timestamp,
    Number,
    Boolean,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A schema's type, `null` aside (`["string", "null"]` is an optional string).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

impl<'a> Generator<'a> {
    fn resolve<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        let defs: &'a Map<String, Value> = self.defs;
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("local references");
                self.resolve(&defs[name])
            }
            None => schema,
        }
    }

    fn leaf(&mut self, path: &str, kind: Leaf) -> Value {
        let at = match self.leaves.iter().position(|l| l == path) {
            Some(at) => at,
            None => {
                self.leaves.push(path.to_owned());
                self.leaves.len() - 1
            }
        };
        let n = 1000 + 2 * at as i64;
        let (sent, changed) = constrained(path).unwrap_or_else(|| match kind {
            Leaf::Text => (path.into(), Some(format!("{path}-changed").into())),
            Leaf::Integer | Leaf::Number => (n.into(), Some((n + 1).into())),
            Leaf::Timestamp => {
                let ts = 1_764_000_000_000 + n;
                (ts.into(), Some((ts + 1).into()))
            }
            Leaf::Boolean => (true.into(), Some(false.into())),
        });
        if self.change != Some(path) {
            return sent;
        }
        let changed = changed.unwrap_or_else(|| panic!("{path} has one valid value"));
        self.changed = Some(changed.clone());
        changed
    }

    fn value<'s>(&mut self, schema: &'s Value, path: &str) -> Value
    where
        'a: 's,
    {
        let schema = self.resolve(schema);
        if let Some(tag) = schema.get("const") {
            return tag.clone();
        }
        if let Some(choices) = schema.get("anyOf").and_then(Value::as_array) {
            let set: Vec<&Value> = choices
                .iter()
                .filter(|c| type_of(c) != Some("null"))
                .collect();
            assert_eq!(
                set.len(),
                1,
                "{path}: a choice of types outside a flat object; teach this test to send it"
            );
            return self.value(set[0], path);
        }
        match type_of(schema) {
            Some("string") => self.leaf(path, Leaf::Text),
            Some("integer") if schema["format"] == "int64" => self.leaf(path, Leaf::Timestamp),
            Some("integer") => self.leaf(path, Leaf::Integer),
            Some("number") => self.leaf(path, Leaf::Number),
            Some("boolean") => self.leaf(path, Leaf::Boolean),
            Some("array") => {
                let items = self.resolve(&schema["items"]);
                if items.get("oneOf").is_some() {
                    Value::Array(self.events(items))
                } else {
                    Value::Array(vec![self.value(items, &format!("{path}[]"))])
                }
            }
            Some("object") => Value::Object(self.object(schema, path)),
            other => panic!("{path}: schema type {other:?}; teach this test to send it"),
        }
    }

    fn object<'s>(&mut self, schema: &'s Value, path: &str) -> Map<String, Value>
    where
        'a: 's,
    {
        let mut out = Map::new();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if self.required_only && !required.contains(&name.as_str()) {
                    continue;
                }
                out.insert(name.clone(), self.value(property, &join(path, name)));
            }
        }
        // A flat object (attributes, properties, data): one entry per kind of value it takes;
        // the keys are values the sender chose too.
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            let values = self.resolve(values);
            let kinds: Vec<&Value> = match values.get("anyOf").and_then(Value::as_array) {
                Some(choices) => choices.iter().collect(),
                None => vec![values],
            };
            for kind in kinds {
                let t = type_of(kind).expect("flat values have a type");
                let key = self.leaf(&format!("{path}.<{t} key>"), Leaf::Text);
                let value = self.value(kind, &format!("{path}.<{t}>"));
                out.insert(key.as_str().expect("keys are text").to_owned(), value);
            }
        }
        out
    }

    /// The events: each type with every field, then with its required fields only. Their
    /// leaves are named by the type (`view.timing.tti`).
    fn events(&mut self, event: &Value) -> Vec<Value> {
        let common = event["properties"].as_object().expect("event fields");
        let common_required = event["required"].as_array().expect("required event fields");
        let mut out = Vec::new();
        for variant in event["oneOf"].as_array().expect("event types") {
            let tag = variant["properties"]["type"]["const"]
                .as_str()
                .expect("every event type has its tag");
            let mut merged = variant.clone();
            merged["properties"]
                .as_object_mut()
                .expect("fields")
                .extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged["required"]
                .as_array_mut()
                .expect("required fields")
                .extend(common_required.iter().cloned());
            for required_only in [false, true] {
                self.required_only = required_only;
                out.push(Value::Object(self.object(&merged, tag)));
            }
            self.required_only = false;
        }
        out
    }
}

/// What [`generate`] makes.
struct Generated {
    batch: Value,
    /// Every leaf of the batch.
    leaves: Vec<String>,
    /// The value the changed leaf was given.
    changed: Option<Value>,
}

/// A batch generated from the schema, with `change`'s value changed.
fn generate(schema: &Value, change: Option<&str>) -> Generated {
    let mut g = Generator {
        defs: schema["$defs"].as_object().expect("the schema has $defs"),
        change,
        changed: None,
        leaves: Vec::new(),
        required_only: false,
    };
    let batch = g.value(schema, "");
    Generated {
        batch,
        leaves: g.leaves,
        changed: g.changed,
    }
}

/// The rows a batch becomes, the way intake makes them.
fn rows(enricher: &Enricher, batch: &Value) -> Rows {
    let body = serde_json::to_vec(batch).expect("json");
    let parsed = parse_batch(&body, &ParseLimits::default()).unwrap_or_else(|e| {
        panic!(
            "intake refuses the generated batch ({}): {e}; teach `constrained` its valid values\n{}",
            e.code(),
            serde_json::to_string_pretty(batch).expect("json")
        )
    });
    let page = vigil_errors::PageContext {
        release: parsed.context.release.as_deref().unwrap_or_default(),
        page_url: parsed.context.page_url.as_deref().unwrap_or_default(),
        trusted_hosts: &[],
        fetch_origins: None,
    };
    let errors = vigil_errors::ErrorProcessor::default().analyse_batch(1, &page, &parsed.events);
    let mut enriched = enricher.enrich(1, parsed, &ClientInfo::default());
    enriched.errors = errors;
    let rows = enriched
        .to_rows(usize::MAX)
        .expect("the batch becomes rows");
    // Read back as the log replays them, they are the same rows, down to where each
    // column lies in the bytes (the memtable takes the built rows' places without parsing).
    assert_eq!(Rows::from_encoded(rows.encoded()).as_ref(), Ok(&rows));
    rows
}

#[derive(Debug, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
}

fn cell(array: &dyn Array, row: usize) -> Cell {
    let any = array.as_any();
    if array.is_null(row) {
        Cell::Null
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        Cell::Text(a.value(row).to_owned())
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Cell::Int(a.value(row))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        Cell::Bool(a.value(row))
    } else {
        panic!("a column of type {}", array.data_type())
    }
}

/// Whether a stored cell holds a sent value: text within text (a JSON column holds numbers
/// and booleans as text too), a number times the column's scale.
fn holds(cell: &Cell, value: &Value, scale: Option<i64>) -> bool {
    match (cell, value) {
        (Cell::Text(t), Value::String(v)) => t.contains(v.as_str()),
        (Cell::Text(t), v) => t.contains(&v.to_string()),
        (Cell::Int(i), Value::Number(v)) => match (v.as_f64(), scale) {
            (Some(v), Some(scale)) => (v * scale as f64).round() as i64 == *i,
            _ => false,
        },
        (Cell::Bool(b), Value::Bool(v)) => b == v,
        _ => false,
    }
}

/// What changing one leaf did to the rows.
enum Effect {
    /// No cell changed.
    Nothing,
    /// Cells of these columns changed, but none holds the new value.
    Elsewhere(Vec<String>),
    /// A changed cell holds the new value.
    Stored,
}

fn effect(before: &Rows, after: &Rows, value: &Value) -> Effect {
    let (before, after) = (before.batches(), after.batches());
    assert_eq!(before.len(), after.len(), "the same tables");
    let mut changed = Vec::new();
    for ((table, a), (_, b)) in before.iter().zip(&after) {
        for (i, field) in table.columns().iter().enumerate() {
            let (a, b) = (a.column(i).as_ref(), b.column(i).as_ref());
            let mut differs = false;
            for row in 0..a.len() {
                let new = cell(b, row);
                if cell(a, row) != new {
                    if holds(&new, value, field.scale()) {
                        return Effect::Stored;
                    }
                    differs = true;
                }
            }
            if differs {
                changed.push(format!("{}.{}", table.name(), field.name));
            }
        }
    }
    if changed.is_empty() {
        Effect::Nothing
    } else {
        Effect::Elsewhere(changed)
    }
}

#[test]
fn every_wire_field_is_stored() {
    let schema = json_schema();
    let enricher = Enricher::default();
    let sent = generate(&schema, None);
    let before = rows(&enricher, &sent.batch);
    assert_eq!(
        before.tables().len(),
        // Every table but `logs`, which only backends fill (over OTLP).
        Table::ALL.len() - 1,
        "the generated batch fills every table"
    );

    let mut problems = Vec::new();
    for (name, _) in NOT_STORED {
        if !sent.leaves.iter().any(|l| l == name) {
            problems.push(format!(
                "{name}: on NOT_STORED but no such wire field; take it off the list"
            ));
        }
    }
    for leaf in &sent.leaves {
        let allowed = NOT_STORED.iter().any(|(name, _)| name == leaf);
        if constrained(leaf).is_some_and(|(_, changed)| changed.is_none()) {
            if !allowed {
                problems.push(format!(
                    "{leaf}: intake takes a single value of it, so this test cannot change it; \
                     put it on NOT_STORED with the reason"
                ));
            }
            continue;
        }
        let variant = generate(&schema, Some(leaf));
        let value = variant.changed.expect("the leaf is in the batch");
        match (
            effect(&before, &rows(&enricher, &variant.batch), &value),
            allowed,
        ) {
            (Effect::Stored, false) | (Effect::Nothing, true) => {}
            (Effect::Stored | Effect::Elsewhere(_), true) => problems.push(format!(
                "{leaf}: stored now; take it off NOT_STORED in this test"
            )),
            (Effect::Nothing, false) => problems.push(format!(
                "{leaf}: not stored (changing it changes no column); add a `col!` line for it \
                 in crates/model/src/declare.rs (a context field also needs its place in \
                 `Common`, filled in crates/enrich/src/pipeline.rs), or put it on NOT_STORED \
                 in this test with the reason"
            )),
            (Effect::Elsewhere(columns), false) => problems.push(format!(
                "{leaf}: changing it to {value} changes {} but none of them holds the new \
                 value; check its `col!` line in crates/model/src/declare.rs",
                columns.join(", ")
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "wire fields not stored as they should be:\n  {}",
        problems.join("\n  ")
    );
}

/// A batch's JSON with each event's `type` first, as SDKs send it (the generated batch's
/// keys come in alphabetical order, and the fast reader leaves an event whose body comes
/// before its type to serde), and without error events.
fn sent_as_sdks_send(batch: &Value) -> Vec<u8> {
    let field = |k: &str, v: &Value| format!("{}:{}", Value::from(k), v);
    let mut parts = Vec::new();
    for (k, v) in batch.as_object().expect("a batch is an object") {
        if k != "events" {
            parts.push(field(k, v));
            continue;
        }
        let events: Vec<String> = v
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] != "error")
            .map(|e| {
                let object = e.as_object().expect("an event is an object");
                let rest = object.iter().filter(|(k, _)| *k != "type");
                let fields: Vec<String> = std::iter::once(field("type", &e["type"]))
                    .chain(rest.map(|(k, v)| field(k, v)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        parts.push(format!("\"events\":[{}]", events.join(",")));
    }
    format!("{{{}}}", parts.join(",")).into_bytes()
}

/// Intake's own reader of batches (crates/protocol/src/fast.rs) lists each struct's wire
/// keys a second time; a key missing there (a field added to the protocol alone) would send
/// every batch carrying it to the slower pre-scan and serde, silently. Error events are
/// the one kind it leaves to serde.
#[test]
fn every_wire_field_but_errors_reads_on_the_fast_path() {
    let limits = ParseLimits::default();
    let generated = generate(&json_schema(), None);
    let body = sent_as_sdks_send(&generated.batch);
    let parsed = parse_batch(&body, &limits).expect("intake takes the batch");
    assert!(
        parsed.events.len() > 10,
        "every kind of event but errors, twice"
    );
    assert!(
        reads_on_the_fast_path(&body, &limits),
        "the fast reader leaves this batch to serde: a key of it is missing from a \
         `read_struct!` line in crates/protocol/src/fast.rs\n{}",
        String::from_utf8_lossy(&body)
    );
    // With any one value changed it stays there (changed values are valid ones).
    let changeable = |leaf: &&String| {
        !leaf.starts_with("error.")
            && constrained(leaf).is_none_or(|(_, changed)| changed.is_some())
    };
    for leaf in generated.leaves.iter().filter(changeable) {
        let body = sent_as_sdks_send(&generate(&json_schema(), Some(leaf)).batch);
        if parse_batch(&body, &limits).is_ok() {
            assert!(reads_on_the_fast_path(&body, &limits), "{leaf}");
        }
    }
}
