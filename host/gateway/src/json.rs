//! Redis replies as JSON, the documented mapping of `POST /v1/call`:
//!
//! | RESP3 | JSON |
//! |---|---|
//! | nil | `null` |
//! | integer | number |
//! | double | number (`"inf"`, `"-inf"`, `"nan"` as strings) |
//! | boolean | `true` / `false` |
//! | bulk, status, verbatim string (UTF-8) | string |
//! | bulk string that is not UTF-8 | `{"base64": "..."}` |
//! | big number | string of digits |
//! | array, set | array (nesting kept) |
//! | map | object when every key is a string, else array of `[key, value]` |
//! | nested error | `{"error": "..."}` |

use base64::Engine as _;
use redis::Value;
use serde_json::{json, Map, Value as Json};

pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Int(n) => json!(n),
        Value::Double(d) if d.is_finite() => json!(d),
        Value::Double(d) => json!(d.to_string()),
        Value::Boolean(b) => json!(b),
        Value::Okay => json!("OK"),
        Value::SimpleString(s) => json!(s),
        Value::BulkString(bytes) => bytes_to_json(bytes),
        Value::VerbatimString { text, .. } => json!(text),
        Value::BigNumber(n) => json!(n.to_string()),
        Value::Array(items) | Value::Set(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(pairs) => map_to_json(pairs),
        Value::Attribute { data, .. } => to_json(data),
        Value::ServerError(e) => {
            json!({ "error": format!("{} {}", e.code(), e.details().unwrap_or("")).trim() })
        }
        other => json!(format!("{other:?}")),
    }
}

fn bytes_to_json(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!(text),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
    }
}

fn map_to_json(pairs: &[(Value, Value)]) -> Json {
    let key_text = |k: &Value| match k {
        Value::BulkString(b) => std::str::from_utf8(b).ok().map(str::to_string),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    if pairs.iter().all(|(k, _)| key_text(k).is_some()) {
        let mut object = Map::new();
        for (k, v) in pairs {
            object.insert(key_text(k).expect("checked"), to_json(v));
        }
        Json::Object(object)
    } else {
        Json::Array(
            pairs
                .iter()
                .map(|(k, v)| json!([to_json(k), to_json(v)]))
                .collect(),
        )
    }
}

/// A key or argument from a request body: a string, a number, or
/// `{"base64": "..."}` for binary data.
pub fn argument(value: &Json, what: &str) -> Result<Vec<u8>, String> {
    match value {
        Json::String(s) => Ok(s.as_bytes().to_vec()),
        Json::Number(n) => Ok(n.to_string().into_bytes()),
        Json::Object(o) if o.len() == 1 && o.contains_key("base64") => o["base64"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(|| format!("{what}: \"base64\" must hold base64 text")),
        _ => Err(format!(
            "{what} must be a string, a number or {{\"base64\": \"...\"}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_as_documented() {
        let reply = Value::Array(vec![
            Value::Nil,
            Value::Int(-3),
            Value::Double(1.5),
            Value::Boolean(true),
            Value::BulkString(b"text".to_vec()),
            Value::BulkString(vec![0xff, 0x00]),
            Value::Map(vec![(Value::BulkString(b"k".to_vec()), Value::Int(1))]),
            Value::Map(vec![(Value::Int(1), Value::Int(2))]),
            Value::Array(vec![Value::Array(vec![])]),
        ]);
        assert_eq!(
            to_json(&reply),
            json!([null, -3, 1.5, true, "text", {"base64": "/wA="}, {"k": 1}, [[1, 2]], [[]]])
        );
    }

    #[test]
    fn arguments_accept_strings_numbers_and_base64() {
        assert_eq!(argument(&json!("a"), "args[0]").unwrap(), b"a");
        assert_eq!(argument(&json!(60), "args[0]").unwrap(), b"60");
        assert_eq!(
            argument(&json!({"base64": "/wA="}), "args[0]").unwrap(),
            vec![0xff, 0]
        );
        assert!(argument(&json!(null), "args[0]")
            .unwrap_err()
            .contains("args[0] must be"));
        assert!(argument(&json!([1]), "keys[1]")
            .unwrap_err()
            .contains("keys[1] must be"));
    }
}
