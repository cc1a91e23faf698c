//! The typed decoding of built-in kinds. kube-apiserver decodes a built-in object into its Go
//! struct before anything else, so a value of the wrong type (`replicas: "three"`, a label
//! value that is a number, `binaryData` that is not base64, an int32 that overflows) is refused
//! with the Go decoder's message. The types come from the same schemas `/openapi/v3` serves
//! (generated from k8s-openapi).

use serde_json::{Map, Value};

use super::openapi::{builtin_schema, referenced};

/// Where a value sits, as Go's decoder reports it: the Go struct holding the field and the
/// dotted path of JSON names from the root (list indexes and map keys are not part of it).
#[derive(Clone, Copy)]
struct At<'a> {
    strukt: &'a str,
    path: &'a str,
}

/// The first decoding error of a built-in object, in the Go decoder's words, or None when it
/// decodes (or the kind has no schema).
pub fn check(group: &str, kind: &str, obj: &Value) -> Option<String> {
    let (defs, name) = builtin_schema(group, kind)?;
    let schema = defs.get(name)?;
    let map = obj.as_object()?;
    let props = schema.get("properties").and_then(Value::as_object)?;
    for (k, v) in map {
        if matches!(k.as_str(), "apiVersion" | "kind") {
            continue;
        }
        if let Some(sub) = props.get(k) {
            let at = At {
                strukt: short(name),
                path: k,
            };
            if let Some(e) = walk(defs, v, sub, at) {
                return Some(e);
            }
        }
    }
    None
}

/// The Go type name of a definition: its package's last segment and its name
/// (`io.k8s.api.apps.v1.DeploymentSpec` → `v1.DeploymentSpec`).
fn go_name(def: &str) -> String {
    let mut parts = def.rsplit('.');
    let name = parts.next().unwrap_or_default();
    match parts.next() {
        Some(pkg) => format!("{pkg}.{name}"),
        None => name.to_string(),
    }
}

/// The Go struct name of a definition, without its package.
fn short(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

/// The schema behind a reference, with the name of its definition.
fn resolve<'a>(defs: &'a Map<String, Value>, schema: &'a Value) -> (&'a Value, Option<&'a str>) {
    match referenced(schema) {
        Some(name) => match defs.get_key_value(name) {
            Some((n, s)) => (s, Some(n.as_str())),
            None => (schema, None),
        },
        None => (schema, None),
    }
}

/// The Go type a schema decodes into, as Go's decoder names it.
fn go_type(defs: &Map<String, Value>, schema: &Value) -> String {
    let (s, def) = resolve(defs, schema);
    if let Some(def) = def
        && (s.get("properties").is_some() || s.get("x-kubernetes-int-or-string").is_some())
    {
        return go_name(def);
    }
    let format = s.get("format").and_then(Value::as_str);
    match s.get("type").and_then(Value::as_str) {
        Some("string") if format == Some("byte") => "[]uint8".into(),
        Some("string") => def.map_or_else(|| "string".into(), go_name),
        Some("integer") => format.unwrap_or("int64").to_string(),
        Some("number") => "float64".into(),
        Some("boolean") => "bool".into(),
        Some("array") => format!(
            "[]{}",
            s.get("items")
                .map_or_else(|| "interface {}".into(), |i| go_type(defs, i))
        ),
        _ => match s.get("additionalProperties").filter(|a| a.is_object()) {
            Some(a) => format!("map[string]{}", go_type(defs, a)),
            None => "map[string]interface {}".into(),
        },
    }
}

/// How Go's decoder names a JSON value it could not store.
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn mismatch(value: String, at: At<'_>, go: &str) -> String {
    format!(
        "json: cannot unmarshal {value} into Go struct field {}.{} of type {go}",
        at.strukt, at.path
    )
}

/// Whether a JSON number fits an integer type of `bits` bits.
fn integer_fits(n: &serde_json::Number, bits: u32) -> bool {
    match (n.as_i64(), bits) {
        (Some(i), 32) => i32::try_from(i).is_ok(),
        (Some(_), _) => true,
        (None, _) => false,
    }
}

fn walk(defs: &Map<String, Value>, v: &Value, schema: &Value, at: At<'_>) -> Option<String> {
    if v.is_null() {
        // Go leaves the field at its zero value.
        return None;
    }
    let (s, def) = resolve(defs, schema);
    if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        return int_or_string(v, def, at);
    }
    let format = s.get("format").and_then(Value::as_str);
    match s.get("type").and_then(Value::as_str) {
        Some("string") => match v {
            Value::String(text) if format == Some("byte") => base64_error(text),
            Value::String(_) => None,
            other => Some(mismatch(json_kind(other), at, &go_type(defs, schema))),
        },
        Some("integer") => {
            let bits = if format == Some("int32") { 32 } else { 64 };
            match v {
                Value::Number(n) if integer_fits(n, bits) => None,
                Value::Number(n) => {
                    Some(mismatch(format!("number {n}"), at, &go_type(defs, schema)))
                }
                other => Some(mismatch(json_kind(other), at, &go_type(defs, schema))),
            }
        }
        Some("number") => match v {
            Value::Number(_) => None,
            other => Some(mismatch(json_kind(other), at, "float64")),
        },
        Some("boolean") => match v {
            Value::Bool(_) => None,
            other => Some(mismatch(json_kind(other), at, "bool")),
        },
        Some("array") => match v {
            Value::Array(items) => {
                let item = s.get("items")?;
                items.iter().find_map(|x| walk(defs, x, item, at))
            }
            other => Some(mismatch(json_kind(other), at, &go_type(defs, schema))),
        },
        _ => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && additional.is_none() {
                // Free-form (RawExtension, JSON): anything decodes.
                return None;
            }
            let Value::Object(map) = v else {
                return Some(mismatch(json_kind(v), at, &go_type(defs, schema)));
            };
            let strukt = def.map(short).unwrap_or(at.strukt);
            for (k, x) in map {
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    let path = format!("{}.{k}", at.path);
                    if let Some(e) = walk(
                        defs,
                        x,
                        sub,
                        At {
                            strukt,
                            path: &path,
                        },
                    ) {
                        return Some(e);
                    }
                } else if let Some(a) = additional
                    && let Some(e) = walk(defs, x, a, at)
                {
                    return Some(e);
                }
            }
            None
        }
    }
}

/// IntOrString takes a string or an int32; Quantity a string or a number.
fn int_or_string(v: &Value, def: Option<&str>, at: At<'_>) -> Option<String> {
    let quantity = def.is_some_and(|d| d.ends_with(".Quantity"));
    match v {
        Value::String(_) => None,
        Value::Number(_) if quantity => None,
        Value::Number(n) if integer_fits(n, 32) => None,
        Value::Number(n) => Some(mismatch(format!("number {n}"), at, "int32")),
        _ if quantity => Some(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                .to_string(),
        ),
        other => Some(mismatch(json_kind(other), at, "int32")),
    }
}

/// Go's standard base64 decoding error for `text`, if it is not valid padded base64.
fn base64_error(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let mut quantum_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let pos = i - quantum_start;
        let b = bytes[i];
        if b == b'\r' || b == b'\n' {
            // Go skips newlines.
            i += 1;
            quantum_start += usize::from(pos == 0);
            continue;
        }
        if b == b'=' {
            // Padding: only in the 3rd or 4th place of the last quantum, as Go reads it.
            let at = |n: usize| Some(format!("illegal base64 data at input byte {n}"));
            return match pos {
                2 if bytes.len() == i + 1 => at(bytes.len()),
                2 if bytes[i + 1] != b'=' => at(i),
                2 if bytes.len() > i + 2 => at(i + 2),
                3 if bytes.len() > i + 1 => at(i + 1),
                2 | 3 => None,
                _ => at(i),
            };
        }
        if !alphabet(b) {
            return Some(format!("illegal base64 data at input byte {i}"));
        }
        i += 1;
        if pos == 3 {
            quantum_start = i;
        }
    }
    (quantum_start != bytes.len())
        .then(|| format!("illegal base64 data at input byte {quantum_start}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": replicas}})
    }

    #[test]
    fn int32_fields_take_int32_only() {
        assert_eq!(check("apps", "Deployment", &deployment(json!(3))), None);
        assert_eq!(
            check(
                "apps",
                "Deployment",
                &deployment(json!(9223372036854775807i64))
            )
            .as_deref(),
            Some(
                "json: cannot unmarshal number 9223372036854775807 into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        assert_eq!(
            check("apps", "Deployment", &deployment(json!(2.5))).as_deref(),
            Some(
                "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        assert_eq!(
            check("apps", "Deployment", &deployment(json!("three"))).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
    }

    #[test]
    fn metadata_and_data_types() {
        let cm = |extra: Value| {
            let mut o = json!({"metadata": {"name": "c"}});
            if let (Some(m), Value::Object(e)) = (o.as_object_mut(), extra) {
                m.extend(e);
            }
            check("", "ConfigMap", &o)
        };
        assert_eq!(
            cm(json!({"data": {"a": "b"}, "binaryData": {"x": "YWJj"}})),
            None
        );
        assert_eq!(
            cm(json!({"data": {"a": 1}})).as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
            )
        );
        assert_eq!(
            cm(json!({"binaryData": {"x": "abc!"}})).as_deref(),
            Some("illegal base64 data at input byte 3")
        );
        assert_eq!(
            cm(json!({"metadata": {"name": "c", "labels": {"a": true}}})).as_deref(),
            Some(
                "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"
            )
        );
        assert_eq!(
            cm(json!({"metadata": {"name": "c", "ownerReferences": "x"}})).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference"
            )
        );
        assert_eq!(
            cm(json!({"metadata": {"name": "c", "finalizers": [1]}})).as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.finalizers of type string"
            )
        );
    }

    #[test]
    fn base64_as_go_reads_it() {
        assert_eq!(base64_error("YWJj"), None);
        assert_eq!(base64_error("YQ=="), None);
        assert_eq!(base64_error("YWI="), None);
        assert_eq!(base64_error(""), None);
        assert_eq!(
            base64_error("abc").as_deref(),
            Some("illegal base64 data at input byte 0")
        );
        assert_eq!(
            base64_error("YWJjZ").as_deref(),
            Some("illegal base64 data at input byte 4")
        );
        assert_eq!(
            base64_error("Y===").as_deref(),
            Some("illegal base64 data at input byte 1")
        );
        assert_eq!(
            base64_error("YQ==YQ==").as_deref(),
            Some("illegal base64 data at input byte 4")
        );
        assert_eq!(
            base64_error("YQ=").as_deref(),
            Some("illegal base64 data at input byte 3")
        );
    }
}
