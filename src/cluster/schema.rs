//! Custom resources checked against their CRD's `openAPIV3Schema`: defaults applied, unknown
//! fields pruned, types, required fields, enums, bounds and patterns validated.

use serde_json::Value;

use super::error::{FieldCause, cause};

/// What checking an object against a schema found.
#[derive(Debug, Default)]
pub struct SchemaReport {
    /// Invalid fields; non-empty means 422 Invalid.
    pub causes: Vec<FieldCause>,
    /// Unknown fields that were pruned (an error under `fieldValidation=Strict`).
    pub pruned: Vec<String>,
}

/// Applies defaults, prunes unknown fields and validates `obj` (a whole custom resource).
pub fn check(obj: &mut Value, schema: &Value) -> SchemaReport {
    let mut report = SchemaReport::default();
    let Some(map) = obj.as_object_mut() else {
        report.causes.push(cause(
            "FieldValueTypeInvalid",
            "<root>",
            "must be an object",
        ));
        return report;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    for (k, sub) in props.into_iter().flatten() {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if !map.contains_key(k)
            && let Some(d) = sub.get("default")
        {
            map.insert(k.clone(), d.clone());
        }
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(sub) => {
                if let Some(v) = map.get_mut(&k) {
                    walk(v, sub, &k, &mut report);
                }
            }
            None if !preserves(schema) => {
                map.remove(&k);
                report.pruned.push(k);
            }
            None => {}
        }
    }
    required(map, schema, "", &mut report);
    report
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn required(
    map: &serde_json::Map<String, Value>,
    schema: &Value,
    path: &str,
    report: &mut SchemaReport,
) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = r.as_str()
            && !map.contains_key(name)
        {
            let field = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            report
                .causes
                .push(cause("FieldValueRequired", &field, "Required value"));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn walk(v: &mut Value, schema: &Value, path: &str, report: &mut SchemaReport) {
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (int_or_string && matches!(got, "integer" | "string"))
            || (got == "null"
                && schema
                    .get("nullable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false));
        if !ok {
            report.causes.push(cause(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
                ),
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let supported: Vec<String> = options.iter().map(show).collect();
        report.causes.push(cause(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                supported.join(", ")
            ),
        ));
    }
    bounds(v, schema, path, report);
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, sub) in props.into_iter().flatten() {
                if !map.contains_key(k)
                    && let Some(d) = sub.get("default")
                {
                    map.insert(k.clone(), d.clone());
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let child_path = format!("{path}.{k}");
                let sub = props.and_then(|p| p.get(&k)).or(additional);
                match sub {
                    Some(sub) => {
                        let nullable = sub
                            .get("nullable")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        if map.get(&k).is_some_and(Value::is_null) && !nullable {
                            map.remove(&k);
                            continue;
                        }
                        if let Some(child) = map.get_mut(&k) {
                            walk(child, sub, &child_path, report);
                        }
                    }
                    None if props.is_some() && !preserves(schema) => {
                        map.remove(&k);
                        report.pruned.push(child_path);
                    }
                    None => {}
                }
            }
            required(map, schema, path, report);
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), report);
                }
            }
        }
        _ => {}
    }
}

fn bounds(v: &Value, schema: &Value, path: &str, report: &mut SchemaReport) {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    if let Some(x) = v.as_f64() {
        if let Some(min) = num("minimum")
            && x < min
        {
            report.causes.push(cause(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {x}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
        if let Some(max) = num("maximum")
            && x > max
        {
            report.causes.push(cause(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {x}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as f64;
        if let Some(min) = num("minLength")
            && len < min
        {
            report.causes.push(cause(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: \"{s}\": {path} in body should be at least {min} chars long"
                ),
            ));
        }
        if let Some(max) = num("maxLength")
            && len > max
        {
            report.causes.push(cause(
                "FieldValueTooLong",
                path,
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(s)
        {
            report.causes.push(cause(
                "FieldValueInvalid",
                path,
                format!("Invalid value: \"{s}\": {path} in body should match '{p}'"),
            ));
        }
    }
    if let Some(a) = v.as_array() {
        let len = a.len() as f64;
        if let Some(min) = num("minItems")
            && len < min
        {
            report.causes.push(cause(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {len}: {path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = num("maxItems")
            && len > max
        {
            report.causes.push(cause(
                "FieldValueTooMany",
                path,
                format!("Too many: {len}: must have at most {max} items"),
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["target"], "properties": {
            "target": {"type": "string"},
            "mode": {"type": "string", "enum": ["Auto", "Manual"], "default": "Auto"},
            "count": {"type": "integer", "minimum": 0},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}})
    }

    #[test]
    fn defaults_prunes_and_reports_paths() {
        let mut o = json!({"spec": {"target": "x", "bogus": 1, "extra": {"free": true}}});
        let r = check(&mut o, &schema());
        assert!(r.causes.is_empty(), "{:?}", r.causes);
        assert_eq!(r.pruned, vec!["spec.bogus"]);
        assert_eq!(
            o,
            json!({"spec": {"target": "x", "mode": "Auto", "extra": {"free": true}}})
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut o = json!({"spec": {"mode": "Sometimes", "count": "3"}});
        let r = check(&mut o, &schema());
        let fields: Vec<&str> = r.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.count", "spec.mode", "spec.target"]);
    }
}
