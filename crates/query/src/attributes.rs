//! Custom attributes (`setAttributes` in the agent) as dimensions: `attributes.<key>` in a
//! group-by or filter reads one key of the row's `attributes` JSON object as text.

use crate::model::quote_str;
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use std::sync::Arc;

/// The SQL function's name.
const UDF: &str = "vigil_attr";

/// The key named by a field `attributes.<key>`, if well-formed: 1–64 characters of letters,
/// digits, `_`, `-` and `.` (so it is safe as an output column name too).
pub fn attribute_key(field: &str) -> Option<&str> {
    let key = field.strip_prefix("attributes.")?;
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(key)
}

/// The SQL for one attribute's value as text (NULL when absent).
pub fn attribute_sql(key: &str) -> String {
    format!("{UDF}(\"attributes\", {})", quote_str(key))
}

/// One key of a JSON object as text: strings as they are, numbers and booleans as written,
/// absent, null, nested or malformed as None.
fn lookup(json: &str, key: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .ok()?
        .remove(key)?
    {
        serde_json::Value::String(s) => Some(s),
        v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// `vigil_attr(attributes, key)`.
pub fn attribute_udf() -> ScalarUDF {
    create_udf(
        UDF,
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (json, keys) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
            let mut out = StringBuilder::with_capacity(json.len(), json.len() * 8);
            for i in 0..json.len() {
                let present = !json.is_null(i) && !keys.is_null(i);
                out.append_option(
                    present
                        .then(|| lookup(json.value(i), keys.value(i)))
                        .flatten(),
                );
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_values_read_as_text() {
        assert_eq!(attribute_key("attributes.plan"), Some("plan"));
        for bad in [
            "attributes.",
            "plan",
            "attributes.a\"b",
            "attributes.a b",
            "attributes.x'",
        ] {
            assert_eq!(attribute_key(bad), None, "{bad}");
        }
        let json = r#"{"plan":"plus","cohort":202511,"beta":false,"n":null,"o":{"a":1}}"#;
        assert_eq!(lookup(json, "plan").as_deref(), Some("plus"));
        assert_eq!(lookup(json, "cohort").as_deref(), Some("202511"));
        assert_eq!(lookup(json, "beta").as_deref(), Some("false"));
        for none in ["n", "o", "missing"] {
            assert_eq!(lookup(json, none), None);
        }
        assert_eq!(lookup("not json", "plan"), None);
    }
}
