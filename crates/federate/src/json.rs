//! JSON values as Trino has them: `json_parse(varchar)` checks its text is one JSON value
//! and gives it Arrow's canonical JSON extension type (`arrow.json`: text marked as JSON),
//! which `pipelab serve` sends as Trino's `json` type.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// Arrow's field metadata key naming a field's extension type.
pub const EXTENSION_KEY: &str = "ARROW:extension:name";
/// The extension name of JSON text columns (Arrow's canonical `arrow.json`).
pub const JSON_EXTENSION: &str = "arrow.json";

/// Whether a field holds JSON text (Arrow's canonical JSON extension type).
pub fn is_json(field: &Field) -> bool {
    matches!(
        field.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) && field.metadata().get(EXTENSION_KEY).map(String::as_str) == Some(JSON_EXTENSION)
}

/// `json_parse(text)`, Trino's function.
pub fn json_parse() -> ScalarUDF {
    ScalarUDF::from(JsonParse {
        signature: Signature::string(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonParse {
    signature: Signature,
}

impl ScalarUDFImpl for JsonParse {
    fn name(&self) -> &str {
        "json_parse"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let metadata = HashMap::from([(EXTENSION_KEY.to_string(), JSON_EXTENSION.to_string())]);
        Ok(Arc::new(
            Field::new(self.name(), DataType::Utf8, true).with_metadata(metadata),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("json_parse takes one argument");
        };
        match arg {
            ColumnarValue::Scalar(value) => {
                let text = match value {
                    ScalarValue::Utf8(t) | ScalarValue::LargeUtf8(t) | ScalarValue::Utf8View(t) => {
                        t.clone()
                    }
                    other => return exec_err!("json_parse takes text, not {}", other.data_type()),
                };
                if let Some(text) = &text {
                    checked(text)?;
                }
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text)))
            }
            ColumnarValue::Array(array) => {
                let array: ArrayRef = cast(array, &DataType::Utf8)?;
                let Some(text) = array.as_any().downcast_ref::<StringArray>() else {
                    return exec_err!("json_parse takes text");
                };
                for value in text.iter().flatten() {
                    checked(value)?;
                }
                Ok(ColumnarValue::Array(array))
            }
        }
    }
}

/// The text unchanged if it is one JSON value; else an error naming where it is not.
fn checked(text: &str) -> Result<()> {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => Ok(()),
        Err(e) => exec_err!("json_parse: {text:?} is not JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_json_is_named_with_the_place() {
        assert!(checked(r#"{"a": [1, 2], "b": null}"#).is_ok());
        let e = checked(r#"{"a": }"#).unwrap_err().to_string();
        assert!(e.contains("line 1 column 7"), "{e}");
    }
}
