//! Action parameters checked against the action catalog, with typed access.

use std::time::Duration;

use serde_json::Value;

use super::failure::ActionError;
use crate::api::JsonMap;
use crate::catalog::actions::{ActionSpec, closest};
use crate::units::{ParamKind, Quantity, duration, normalise};

/// The parameters of one action call, checked against its schema: every required one is
/// there, none is unknown, each has its type and, for closed sets, an allowed value.
#[derive(Debug, Clone)]
pub struct Params {
    action: &'static str,
    values: JsonMap,
}

impl Params {
    /// Checks `raw` against `spec`. Nulls count as absent. Failures are reason Invalid and
    /// name the parameter.
    pub fn validate(spec: &ActionSpec, raw: &JsonMap) -> Result<Params, ActionError> {
        let action = spec.name;
        let mut values = JsonMap::new();
        for (name, value) in raw {
            let Some(param) = spec.param(name) else {
                let hint = closest(name, spec.params.iter().map(|p| p.name))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let known: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
                return Err(ActionError::invalid(format!(
                    "{action} has no parameter `{name}`{hint}; it takes: {}",
                    known.join(", ")
                )));
            };
            if value.is_null() {
                continue;
            }
            let kind = param.kind;
            let value = normalise(value, kind).ok_or_else(|| {
                let example = match kind {
                    ParamKind::Duration => " such as \"30s\" or \"1h30m\"",
                    ParamKind::Quantity => " such as \"512Mi\" or \"250m\"",
                    _ => "",
                };
                ActionError::invalid(format!(
                    "{action}: parameter `{name}` must be of type {kind}{example}, got {}",
                    describe(value)
                ))
            })?;
            if !param.allowed.is_empty() {
                let text = value.as_str().unwrap_or_default();
                if !param.allowed.contains(&text) {
                    return Err(ActionError::invalid(format!(
                        "{action}: parameter `{name}` is {value}, expected one of {}",
                        param.allowed.join(", ")
                    )));
                }
            }
            values.insert(name.clone(), value);
        }
        let missing: Vec<&str> = spec
            .required_params()
            .filter(|p| !values.contains_key(p.name))
            .map(|p| p.name)
            .collect();
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "parameter"
            } else {
                "parameters"
            };
            return Err(ActionError::invalid(format!(
                "{action} is missing the required {noun} `{}`",
                missing.join("`, `")
            )));
        }
        Ok(Params { action, values })
    }

    /// The action these parameters are for.
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The checked values (nulls dropped, numbers normalised).
    pub fn values(&self) -> &JsonMap {
        &self.values
    }

    /// True when the parameter was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A required string parameter.
    pub fn string(&self, name: &str) -> Result<&str, ActionError> {
        self.opt_string(name).ok_or_else(|| self.missing(name))
    }

    /// An optional string parameter.
    pub fn opt_string(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    /// A required whole-number parameter.
    pub fn int(&self, name: &str) -> Result<i64, ActionError> {
        self.opt_int(name).ok_or_else(|| self.missing(name))
    }

    /// An optional whole-number parameter.
    pub fn opt_int(&self, name: &str) -> Option<i64> {
        self.values.get(name).and_then(Value::as_i64)
    }

    /// An optional boolean parameter.
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.values.get(name).and_then(Value::as_bool)
    }

    /// An optional quantity parameter.
    pub fn opt_quantity(&self, name: &str) -> Option<Quantity> {
        self.opt_string(name).and_then(|s| Quantity::parse(s).ok())
    }

    /// A required quantity parameter.
    pub fn quantity(&self, name: &str) -> Result<Quantity, ActionError> {
        self.opt_quantity(name).ok_or_else(|| self.missing(name))
    }

    /// A required duration parameter.
    pub fn duration(&self, name: &str) -> Result<Duration, ActionError> {
        self.opt_string(name)
            .and_then(|s| duration::parse_millis(s).ok())
            .map(Duration::from_millis)
            .ok_or_else(|| self.missing(name))
    }

    /// An optional map parameter.
    pub fn opt_map(&self, name: &str) -> Option<&JsonMap> {
        self.values.get(name).and_then(Value::as_object)
    }

    /// An optional list parameter.
    pub fn opt_list(&self, name: &str) -> Option<&Vec<Value>> {
        self.values.get(name).and_then(Value::as_array)
    }

    /// An optional `namespace` parameter: the namespace the action targets.
    pub fn namespace(&self) -> Option<&str> {
        self.opt_string("namespace")
    }

    fn missing(&self, name: &str) -> ActionError {
        ActionError::invalid(format!(
            "{} is missing the required parameter `{name}`",
            self.action
        ))
    }
}

/// A short description of a JSON value for messages: `the string "3"`, `a list`, `true`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a map".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::catalog::ActionCatalog;
    use serde_json::json;

    fn check(action: &str, params: Value) -> Result<Params, String> {
        let catalog = ActionCatalog::builtin();
        let spec = catalog.get(action).unwrap();
        Params::validate(spec, params.as_object().unwrap()).map_err(|e| {
            assert_eq!(
                e.reason,
                crate::api::kubernetes_execution::ErrorReason::Invalid
            );
            e.message
        })
    }

    #[test]
    fn valid_parameters_are_typed() {
        let p = check(
            "scale_deployment",
            json!({ "namespace": "shop", "deployment": "web", "replicas": 3.0 }),
        )
        .unwrap();
        assert_eq!(p.int("replicas").unwrap(), 3);
        assert_eq!(p.string("deployment").unwrap(), "web");
        let p = check(
            "increase_resources",
            json!({ "namespace": "shop", "deployment": "web", "memory": 1073741824, "cpu": null }),
        )
        .unwrap();
        assert_eq!(p.opt_string("memory"), Some("1073741824"));
        assert!(!p.has("cpu"));
        let p = check("wait", json!({ "duration": "1m30s" })).unwrap();
        assert_eq!(p.duration("duration").unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn missing_unknown_and_mistyped_parameters_are_named() {
        assert_eq!(
            check(
                "scale_deployment",
                json!({ "namespace": "shop", "replicas": 3 })
            )
            .unwrap_err(),
            "scale_deployment is missing the required parameter `deployment`"
        );
        assert_eq!(
            check(
                "scale_deployment",
                json!({ "namespace": "shop", "deployment": "web", "replica": 3 })
            )
            .unwrap_err(),
            "scale_deployment has no parameter `replica` (did you mean `replicas`?); it takes: namespace, deployment, replicas"
        );
        assert_eq!(
            check(
                "scale_deployment",
                json!({ "namespace": "shop", "deployment": "web", "replicas": "3" })
            )
            .unwrap_err(),
            "scale_deployment: parameter `replicas` must be of type int, got the string \"3\""
        );
        assert_eq!(
            check(
                "taint_node",
                json!({ "node": "n1", "key": "k", "effect": "Sometimes" })
            )
            .unwrap_err(),
            "taint_node: parameter `effect` is \"Sometimes\", expected one of NoSchedule, PreferNoSchedule, NoExecute"
        );
        assert!(
            check(
                "expand_pvc",
                json!({ "namespace": "shop", "pvc": "data", "size": "lots" })
            )
            .unwrap_err()
            .contains("`size` must be of type quantity")
        );
        assert!(check("wait", json!({ "duration": "soon" })).is_err());
    }
}
