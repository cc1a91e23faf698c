//! JSON values to rhai values and back.

use rhai::{Dynamic, Map};
use serde_json::{Number, Value};

use super::{Limits, ScriptError};

/// The deepest nesting of arrays and maps a result may have. Deeper values are not data a
/// template needs, and serde_json refuses to read JSON nested deeper than 128 levels, so a
/// plan holding one could be pinned but never read back.
pub const MAX_DEPTH: usize = 32;

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

/// A rhai value as JSON; function pointers and non-finite floats are refused, and so is a
/// value nested deeper than [`MAX_DEPTH`].
pub fn from_dynamic(value: &Dynamic) -> Result<Value, ScriptError> {
    let unbounded = Limits {
        max_string_size: usize::MAX,
        max_array_size: usize::MAX,
        max_map_size: usize::MAX,
        max_output_size: usize::MAX,
        ..Limits::default()
    };
    from_dynamic_within(value, &unbounded)
}

/// [`from_dynamic`], refusing a result with a string, array or map over the limits, or whose
/// JSON would be larger than `max_output_size`. rhai does not check every way of building a
/// value (index assignment in a loop grows a map unchecked), and one string shared by many
/// entries is small in rhai but large as JSON: the sizes are counted while converting, so a
/// refused result is never built.
pub fn from_dynamic_within(value: &Dynamic, limits: &Limits) -> Result<Value, ScriptError> {
    let mut left = limits.max_output_size;
    convert(value, limits, &mut left, 0)
}

fn over(message: String) -> ScriptError {
    ScriptError::OverBudget {
        message,
        line: 0,
        column: 0,
    }
}

fn over_limit(what: &str, n: usize, max: usize) -> ScriptError {
    over(format!(
        "the result holds {what} of {n}, more than the limit of {max}"
    ))
}

/// Count `bytes` of output against what is left.
fn spend(left: &mut usize, bytes: usize, limits: &Limits) -> Result<(), ScriptError> {
    *left = left.checked_sub(bytes).ok_or_else(|| {
        over(format!(
            "the result is larger than the output limit of {} bytes",
            limits.max_output_size
        ))
    })?;
    Ok(())
}

/// A JSON string's size: its bytes and quotes (escapes are not counted; the plan's own
/// size limit sees them).
fn string_cost(s: &str, limits: &Limits, left: &mut usize) -> Result<(), ScriptError> {
    if s.len() > limits.max_string_size {
        return Err(over_limit("a string", s.len(), limits.max_string_size));
    }
    spend(left, s.len() + 2, limits)
}

fn convert(
    value: &Dynamic,
    limits: &Limits,
    left: &mut usize,
    depth: usize,
) -> Result<Value, ScriptError> {
    if value.is_unit() {
        spend(left, 4, limits)?;
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        spend(left, 5, limits)?;
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        spend(left, 20, limits)?;
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        spend(left, 24, limits)?;
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ScriptError::Result(format!("the number {f} is not finite")));
    }
    if let Ok(c) = value.as_char() {
        spend(left, 6, limits)?;
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        string_cost(&s, limits, left)?;
        return Ok(Value::String(s.to_string()));
    }
    let nested = depth + 1;
    if let Ok(items) = value.as_array_ref() {
        if items.len() > limits.max_array_size {
            return Err(over_limit("an array", items.len(), limits.max_array_size));
        }
        too_deep(nested)?;
        spend(left, 2, limits)?;
        let mut out = Vec::with_capacity(items.len().min(*left));
        for item in items.iter() {
            spend(left, 1, limits)?;
            out.push(convert(item, limits, left, nested)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(bytes) = value.as_blob_ref() {
        if bytes.len() > limits.max_array_size {
            return Err(over_limit("a blob", bytes.len(), limits.max_array_size));
        }
        spend(left, 2 + 4 * bytes.len(), limits)?;
        return Ok(Value::Array(
            bytes.iter().map(|b| Value::Number((*b).into())).collect(),
        ));
    }
    if let Ok(map) = value.as_map_ref() {
        if map.len() > limits.max_map_size {
            return Err(over_limit("a map", map.len(), limits.max_map_size));
        }
        too_deep(nested)?;
        spend(left, 2, limits)?;
        let mut out = serde_json::Map::new();
        for (k, v) in map.iter() {
            string_cost(k, limits, left)?;
            spend(left, 2, limits)?;
            out.insert(k.to_string(), convert(v, limits, left, nested)?);
        }
        return Ok(Value::Object(out));
    }
    Err(ScriptError::Result(format!(
        "a value of type `{}` is not data",
        value.type_name()
    )))
}

fn too_deep(depth: usize) -> Result<(), ScriptError> {
    if depth > MAX_DEPTH {
        return Err(over(format!(
            "the result nests arrays and maps more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::expect_used)]
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

    #[test]
    fn one_string_shared_by_many_entries_counts_each_time() {
        let shared = Dynamic::from("x".repeat(60_000));
        let map: Map = (0..100)
            .map(|i| (format!("k{i}").into(), shared.clone()))
            .collect();
        let err = from_dynamic_within(&Dynamic::from_map(map), &Limits::default())
            .expect_err("over the output limit");
        assert!(err.to_string().contains("output limit"), "{err}");
    }

    #[test]
    fn deep_values_are_refused() {
        let mut v = Dynamic::UNIT;
        for _ in 0..=MAX_DEPTH {
            v = Dynamic::from_array(vec![v]);
        }
        let err = from_dynamic(&v).expect_err("too deep");
        assert!(err.to_string().contains("levels deep"), "{err}");
        let mut ok = Dynamic::UNIT;
        for _ in 0..MAX_DEPTH {
            ok = Dynamic::from_array(vec![ok]);
        }
        assert!(from_dynamic(&ok).is_ok());
    }
}
