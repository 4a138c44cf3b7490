//! The JSON API's request and response types (DTOs): what goes over the wire, as serde
//! types from which the OpenAPI document is derived ([`openapi`]), so that a changed shape
//! changes the document and fails its snapshot test.
//!
//! Requests are parsed with `serde_path_to_error`, so every input error names its field
//! (`items[2].action: unknown variant `x`, expected one of …`); request types refuse
//! unknown fields. Responses are built from the application layer's typed values with
//! `From` conversions; nothing here reaches the store.

pub mod openapi;
pub mod records;
pub mod requests;
pub mod responses;
mod schema;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::WebError;

/// Parses a JSON request body — always an object — into `T`. Errors are 400s naming the
/// field (`body` for the document itself): `body: not a JSON document (…)`,
/// `dry_run: invalid type: …`.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WebError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| WebError::BadRequest(format!("body: not a JSON document ({e})")))?;
    // A struct would also accept an array of its fields in order: the API takes objects only.
    let kind = match &value {
        Value::Object(_) => None,
        Value::Null => Some("null"),
        Value::Bool(_) => Some("a boolean"),
        Value::Number(_) => Some("a number"),
        Value::String(_) => Some("a string"),
        Value::Array(_) => Some("an array"),
    };
    if let Some(kind) = kind {
        return Err(WebError::BadRequest(format!(
            "body: expected a JSON object, got {kind}"
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| input_error("body", &e))
}

/// Longest error text about a request's input: serde's messages quote the offending key or
/// value, which the client chose.
pub const MAX_INPUT_ERROR: usize = 300;

/// A 400 naming the path of the bad value (`whole` when it is the input itself), its text
/// cut to [`MAX_INPUT_ERROR`] bytes (with `…`).
pub fn input_error<E: std::fmt::Display>(
    whole: &str,
    e: &serde_path_to_error::Error<E>,
) -> WebError {
    let path = e.path().to_string();
    let mut msg = if path == "." {
        format!("{whole}: {}", e.inner())
    } else {
        format!("{path}: {}", e.inner())
    };
    if msg.len() > MAX_INPUT_ERROR {
        let mut end = MAX_INPUT_ERROR;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
        msg.push('…');
    }
    WebError::BadRequest(msg)
}

/// Parses a URL query string (`a=1&b=x`, without `?`) into `T`. Every value arrives as
/// text (request types parse numbers from it); a key given twice keeps the last value.
/// Errors are 400s naming the parameter.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, WebError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| WebError::BadRequest(format!("query: not a URL query ({e})")))?;
    let map: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| input_error("query", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::requests::{ApplyBody, ItemsQuery};

    fn err<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        json_body::<T>(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(
            err::<ApplyBody>(r#"{"items":[{"item":0,"action":"sync"},{"item":1,"action":"sync"},{"item":2,"action":"x"}]}"#),
            "items[2].action: unknown variant `x`, expected one of `sync`, `import`, `terminate`, `move`, `reactivate`"
        );
        assert!(err::<ApplyBody>(r#"{"imprt":"all"}"#).starts_with("imprt: unknown field `imprt`"));
        assert!(err::<ApplyBody>("{not json").starts_with("body: not a JSON document ("));
        assert!(err::<ApplyBody>(r#"{"sync":"all"} x"#).starts_with("body: not a JSON document ("));
        assert_eq!(
            err::<ApplyBody>("[1]"),
            "body: expected a JSON object, got an array"
        );
        assert_eq!(
            err::<ApplyBody>(r#"{"dry_run":"yes"}"#),
            "dry_run: invalid type: string \"yes\", expected a boolean"
        );
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let e = |q: &str| query::<ItemsQuery>(Some(q)).unwrap_err().to_string();
        assert_eq!(
            e("page=two"),
            "page: expected a non-negative whole number, got \"two\""
        );
        assert!(
            e("pg=1").starts_with("pg: unknown field `pg`"),
            "{}",
            e("pg=1")
        );
        assert!(e("category=bogus").starts_with("category: unknown category \"bogus\""));
        let q: ItemsQuery = query(Some("category=&page=2&q=a%20b")).unwrap();
        assert_eq!(
            (q.category, q.page, q.q.as_deref()),
            (None, Some(2), Some("a b"))
        );
    }
}
