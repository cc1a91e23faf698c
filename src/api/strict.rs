//! Strict reading of hand-written resource fields (a scenario's analysis and run spec,
//! `remedy plan --analysis`): a field the resource's schema does not have is a typo to report,
//! not something to ignore. The API types themselves stay lenient, because the operator reads
//! objects that a newer writer may have extended.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

fn unknown_fields(
    root: &Value,
    node: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<FieldProblem>,
) {
    let node = resolve(root, node);
    for key in ["anyOf", "oneOf", "allOf"] {
        for sub in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sub = resolve(root, sub);
            if sub.get("properties").is_some() || sub.get("items").is_some() {
                unknown_fields(root, sub, value, path, out);
            }
        }
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
    use serde_json::json;

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
        assert!(e.message.contains("Completed"), "{}", e.message);
    }

    #[test]
    fn enum_values_are_read_from_the_schema() {
        let phases = enum_values::<WorkflowPhase>();
        assert!(phases.contains(&"RolledBack".to_string()), "{phases:?}");
        assert_eq!(phases.len(), 11, "{phases:?}");
    }
}
