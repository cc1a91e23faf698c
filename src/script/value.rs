//! JSON values to rhai values and back.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

use super::{Limits, ScriptError};

/// A JSON value as a rhai value: objects become maps, numbers ints or floats.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect::<Map>(),
        ),
    }
}

/// A rhai value as JSON; function pointers and non-finite floats are refused.
pub fn from_dynamic(value: &Dynamic) -> Result<Value, ScriptError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ScriptError::Result(format!("the number {f} is not finite")));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(items) = value.as_array_ref() {
        return array(&items);
    }
    if let Ok(bytes) = value.as_blob_ref() {
        return Ok(Value::Array(
            bytes.iter().map(|b| Value::Number((*b).into())).collect(),
        ));
    }
    if let Ok(map) = value.as_map_ref() {
        let mut out = serde_json::Map::new();
        for (k, v) in map.iter() {
            out.insert(k.to_string(), from_dynamic(v)?);
        }
        return Ok(Value::Object(out));
    }
    Err(ScriptError::Result(format!(
        "a value of type `{}` is not data",
        value.type_name()
    )))
}

/// [`from_dynamic`], refusing a result with a string, array or map over the limits (rhai
/// does not check every way of building one, e.g. index assignment in a loop).
pub fn from_dynamic_within(value: &Dynamic, limits: &Limits) -> Result<Value, ScriptError> {
    let json = from_dynamic(value)?;
    check_size(&json, limits)?;
    Ok(json)
}

fn check_size(value: &Value, limits: &Limits) -> Result<(), ScriptError> {
    let over = |what: &str, n: usize, max: usize| ScriptError::OverBudget {
        message: format!("the result holds {what} of {n}, more than the limit of {max}"),
        line: 0,
        column: 0,
    };
    match value {
        Value::String(s) if s.len() > limits.max_string_size => {
            Err(over("a string", s.len(), limits.max_string_size))
        }
        Value::Array(items) => {
            if items.len() > limits.max_array_size {
                return Err(over("an array", items.len(), limits.max_array_size));
            }
            items.iter().try_for_each(|v| check_size(v, limits))
        }
        Value::Object(map) => {
            if map.len() > limits.max_map_size {
                return Err(over("a map", map.len(), limits.max_map_size));
            }
            map.values().try_for_each(|v| check_size(v, limits))
        }
        _ => Ok(()),
    }
}

fn array(items: &Array) -> Result<Value, ScriptError> {
    items
        .iter()
        .map(from_dynamic)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let v = json!({ "a": [1, 2.5, "x", true, null], "b": { "c": -3 } });
        assert_eq!(from_dynamic(&to_dynamic(&v)), Ok(v));
    }

    #[test]
    fn refuses_non_data() {
        assert!(from_dynamic(&Dynamic::from_float(f64::NAN)).is_err());
    }
}
