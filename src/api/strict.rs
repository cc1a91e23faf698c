//! Strict reading of hand-written resource fields (a scenario's analysis and run spec,
//! `remedy plan --analysis`): a field the resource's schema does not have is a typo to report,
//! not something to ignore. The API types themselves stay lenient, because the operator reads
//! objects that a newer writer may have extended.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A problem with a hand-written value: the dotted path of the field (`targetResource.nmae`,
/// empty for the whole value) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Where, from the value's root: `targetResource.kind`, `recommendations[0].id`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Reads `value` as a `T`, refusing fields `T`'s schema does not have; the first problem
/// found when it cannot.
pub fn read<T: JsonSchema + DeserializeOwned>(value: &Value) -> Result<T, FieldProblem> {
    let schema = schemars::schema_for!(T);
    let root = schema.as_value();
    let mut problems = Vec::new();
    unknown_fields(root, root, value, "", &mut problems);
    if let Some(first) = problems.into_iter().next() {
        return Err(first);
    }
    serde_json::from_value(value.clone()).map_err(|e| FieldProblem {
        path: String::new(),
        message: e.to_string(),
    })
}

/// Every value the schema of `T` allows for a string enum (`WorkflowPhase`: `Pending`, …).
pub fn enum_values<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    let mut out = Vec::new();
    collect_enum(schema.as_value(), &mut out);
    out
}

fn collect_enum(node: &Value, out: &mut Vec<String>) {
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        out.extend(values.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(c) = node.get("const").and_then(Value::as_str) {
        out.push(c.to_string());
    }
    for key in ["oneOf", "anyOf"] {
        for sub in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_enum(sub, out);
        }
    }
}

/// The schema `node` points to when it is a `$ref` into the root's definitions.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(node),
        None => node,
    }
}

/// The string values a schema node allows, when it is a closed set.
fn allowed_strings(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_enum(node, &mut out);
    out
}

/// Whether `value` has one of the JSON types of `node` (any when it names none).
fn type_fits(node: &Value, value: &Value) -> Option<String> {
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let fits = types.iter().any(|t| match *t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    });
    if fits {
        return None;
    }
    let mut shown = value.to_string();
    if shown.chars().count() > 40 {
        shown = format!("{}…", shown.chars().take(40).collect::<String>());
    }
    Some(format!("must be {}, got {shown}", types.join(" or ")))
}

fn unknown_fields(
    root: &Value,
    node: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<FieldProblem>,
) {
    let node = resolve(root, node);
    let problem = |message: String| FieldProblem {
        path: path.to_string(),
        message,
    };
    // `Option<T>`: null, or what T allows.
    if let Some(alternatives) = node.get("anyOf").and_then(Value::as_array) {
        let nullable = alternatives
            .iter()
            .any(|a| a.get("type") == Some(&json!("null")));
        if value.is_null() && nullable {
            return;
        }
        for alt in alternatives
            .iter()
            .filter(|a| a.get("type") != Some(&json!("null")))
        {
            unknown_fields(root, alt, value, path, out);
        }
        return;
    }
    let allowed = allowed_strings(node);
    if !allowed.is_empty() {
        if let Some(text) = value.as_str()
            && !allowed.iter().any(|a| a == text)
        {
            let hint = crate::catalog::actions::closest(text, allowed.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            out.push(problem(format!(
                "`{text}` is not one of the values: {hint}they are {}",
                allowed.join(", ")
            )));
        } else if !value.is_string() {
            out.push(problem(format!("must be one of {}", allowed.join(", "))));
        }
        return;
    }
    if let Some(message) = type_fits(node, value) {
        out.push(problem(message));
        return;
    }
    for sub in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        unknown_fields(root, sub, value, path, out);
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let (Some(properties), Some(object)) = (
        node.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        let open = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || node
                .get("additionalProperties")
                .is_some_and(|a| a != &Value::Bool(false));
        for (key, field) in object {
            match properties.get(key) {
                Some(schema) => unknown_fields(root, schema, field, &join(key), out),
                None if open => {}
                None => {
                    let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                    let hint = crate::catalog::actions::closest(key, known.iter().copied())
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    out.push(FieldProblem {
                        path: join(key),
                        message: format!(
                            "unknown field `{key}`: {hint}the fields are {}",
                            known.join(", ")
                        ),
                    });
                }
            }
        }
        if let Some(required) = node.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    out.push(FieldProblem {
                        path: join(key),
                        message: "missing (it is required)".to_string(),
                    });
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (node.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            unknown_fields(root, items, item, &format!("{path}[{i}]"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AIAnalysisStatus, WorkflowPhase};

    #[test]
    fn typos_are_refused_with_their_path() {
        let e = read::<AIAnalysisStatus>(&json!({
            "targetResource": { "kind": "Deployment", "nme": "web" }
        }))
        .unwrap_err();
        assert_eq!(e.path, "targetResource.nme");
        assert!(e.message.contains("did you mean `name`?"), "{}", e.message);
        let e = read::<AIAnalysisStatus>(&json!({ "recommendations": [ { "risk": "low" } ] }))
            .unwrap_err();
        assert_eq!(e.path, "recommendations[0].risk");
        // Free-form maps keep whatever they hold.
        let ok = read::<AIAnalysisStatus>(&json!({ "metrics": { "anything": { "at": 1 } } }));
        assert!(ok.is_ok(), "{ok:?}");
        let e = read::<AIAnalysisStatus>(&json!({ "phase": "Complete" })).unwrap_err();
        assert_eq!(e.path, "phase");
        assert!(
            e.message.contains("did you mean `Completed`?"),
            "{}",
            e.message
        );
        let e = read::<AIAnalysisStatus>(&json!({ "confidence": "high" })).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("confidence", "must be number or null, got \"high\"")
        );
        let e =
            read::<AIAnalysisStatus>(&json!({ "targetResource": { "kind": "Pod" } })).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("targetResource.name", "missing (it is required)")
        );
    }

    #[test]
    fn enum_values_are_read_from_the_schema() {
        let phases = enum_values::<WorkflowPhase>();
        assert!(phases.contains(&"RolledBack".to_string()), "{phases:?}");
        assert!(phases.contains(&"Cancelled".to_string()), "{phases:?}");
        assert_eq!(phases.len(), 12, "{phases:?}");
    }
}
