//! CEL validation rules (`x-kubernetes-validations`) of custom resources, as kube-apiserver
//! enforces them: checked when a CRD is written (a rule that does not compile, names a
//! variable other than `self` and `oldSelf`, uses `oldSelf` where old and new values cannot be
//! correlated, or has a bad `reason`, `message` or `optionalOldSelf` refuses the CRD), and
//! evaluated on every write of a custom resource, transition rules (`oldSelf`) on updates only,
//! with kube-apiserver's field errors. Rules run on kube-rs's `kube-cel` (the `cel`
//! interpreter with the Kubernetes CEL libraries).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use kube_cel::cel::Program;
use kube_cel::cel::common::ast::{EntryExpr, Expr, IdedExpr};
use kube_cel::{CompiledSchema, ErrorKind, ValidationError};
use serde_json::Value;

use super::error::{FieldCause, cause};
use super::meta::shown;
use crate::sync;

/// The reasons a rule may give its failures.
const REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// How many compiled schemas are kept (one per CRD version in use; cleared when full).
const CACHE_ENTRIES: usize = 256;

/// The causes that refuse a CRD for its validation rules (empty when they are all sound).
pub fn crd_causes(crd: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    for (i, version) in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(schema) = version.pointer("/schema/openAPIV3Schema") {
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            walk(schema, &path, true, None, &mut causes);
        }
    }
    causes
}

/// Checks the rules of one schema node and its children; `uncorrelatable` is the highest
/// path above them where old and new values cannot be matched (where `oldSelf` is refused).
fn walk(
    schema: &Value,
    path: &str,
    root: bool,
    uncorrelatable: Option<&str>,
    causes: &mut Vec<FieldCause>,
) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{path}.x-kubernetes-validations[{i}]");
            let node = Node { schema, root };
            rule_causes(rule, &at, node, uncorrelatable, causes);
        }
    }
    let atomic_map = schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let below = uncorrelatable.or(atomic_map.then_some(path));
        for (k, sub) in props {
            walk(
                sub,
                &format!("{path}.properties[{k}]"),
                false,
                below,
                causes,
            );
        }
    }
    if let Some(items) = schema.get("items") {
        let map_list = schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
        let below = uncorrelatable.or((!map_list).then_some(path));
        walk(items, &format!("{path}.items"), false, below, causes);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        walk(
            additional,
            &format!("{path}.additionalProperties"),
            false,
            uncorrelatable,
            causes,
        );
    }
}

/// The schema node a rule sits on (`self`'s type); the root also has `apiVersion`, `kind` and
/// `metadata.name`/`metadata.generateName`.
#[derive(Clone, Copy)]
struct Node<'a> {
    schema: &'a Value,
    root: bool,
}

fn rule_causes(
    rule: &Value,
    at: &str,
    node: Node<'_>,
    uncorrelatable: Option<&str>,
    causes: &mut Vec<FieldCause>,
) {
    let text = |k: &str| rule.get(k).and_then(Value::as_str).unwrap_or_default();
    let source = text("rule");
    let message = text("message");
    let invalid = |field: &str, value: &Value, detail: &str| {
        cause(
            "FieldValueInvalid",
            &format!("{at}.{field}"),
            format!("Invalid value: {}: {detail}", shown(value)),
        )
    };
    if source.trim().is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            &format!("{at}.rule"),
            "Required value: rule is not specified",
        ));
        return;
    }
    if !message.is_empty() && message.trim().is_empty() {
        causes.push(invalid(
            "message",
            &Value::from(message),
            "must be non-empty if specified",
        ));
    } else if message.trim().contains('\n') {
        causes.push(invalid(
            "message",
            &Value::from(message),
            "must not contain line breaks",
        ));
    } else if source.trim().contains('\n') && message.trim().is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            &format!("{at}.message"),
            "Required value: message must be specified if rule contains line breaks",
        ));
    }
    if let Some(reason) = rule.get("reason").and_then(Value::as_str)
        && !REASONS.contains(&reason)
    {
        let supported: Vec<String> = REASONS.iter().map(|r| format!("{r:?}")).collect();
        causes.push(cause(
            "FieldValueNotSupported",
            &format!("{at}.reason"),
            format!(
                "Unsupported value: {reason:?}: supported values: {}",
                supported.join(", ")
            ),
        ));
    }
    let program = match Program::compile(source) {
        Ok(p) => p,
        Err(e) => {
            causes.push(invalid("rule", rule, &format!("compilation failed: {e}")));
            return;
        }
    };
    let mut free = Vec::new();
    free_variables(program.expression(), &mut Vec::new(), &mut free);
    if let Some(name) = free
        .iter()
        .find(|v| !matches!(v.as_str(), "self" | "oldSelf"))
    {
        causes.push(invalid(
            "rule",
            rule,
            &format!(
                "compilation failed: ERROR: <input>: undeclared reference to '{name}' (in container '')"
            ),
        ));
        return;
    }
    if let Some(field) = undefined_field(program.expression(), node) {
        // The rule is type-checked against the schema, as kube-apiserver's compiler does.
        causes.push(invalid(
            "rule",
            rule,
            &format!("compilation failed: ERROR: <input>: undefined field '{field}'"),
        ));
        return;
    }
    if let Some(path) = rule.get("fieldPath").and_then(Value::as_str)
        && !path.is_empty()
        && !field_path_valid(node, path)
    {
        causes.push(invalid(
            "fieldPath",
            &Value::from(path),
            "fieldPath must be a valid path",
        ));
    }
    let uses_old_self = free.iter().any(|v| v == "oldSelf");
    if uses_old_self {
        if let Some(within) = uncorrelatable {
            causes.push(invalid(
                "rule",
                &Value::from(source),
                &format!(
                    "oldSelf cannot be used on the uncorrelatable portion of the schema within {within}"
                ),
            ));
        }
    } else if let Some(optional) = rule.get("optionalOldSelf") {
        causes.push(invalid(
            "optionalOldSelf",
            optional,
            "may not be set if oldSelf is not used in rule",
        ));
    }
}

/// The variables an expression reads that no comprehension binds.
fn free_variables(e: &IdedExpr, bound: &mut Vec<String>, out: &mut Vec<String>) {
    match &e.expr {
        Expr::Ident(name) => {
            if !name.starts_with('@') && !bound.contains(name) && !out.contains(name) {
                out.push(name.clone());
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            free_variables(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for x in &list.elements {
                free_variables(x, bound, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => free_variables(&f.value, bound, out),
                    EntryExpr::MapEntry(m) => {
                        free_variables(&m.key, bound, out);
                        free_variables(&m.value, bound, out);
                    }
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    free_variables(&f.value, bound, out);
                }
            }
        }
        Expr::Select(s) => free_variables(&s.operand, bound, out),
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The field names a chain of selections reads from `self` or `oldSelf` (`self.spec.a` gives
/// `[spec, a]`), or `None` when the chain starts elsewhere.
fn selected<'e>(e: &'e IdedExpr, out: &mut Vec<&'e str>) -> bool {
    match &e.expr {
        Expr::Ident(name) => matches!(name.as_str(), "self" | "oldSelf"),
        Expr::Select(s) => {
            let rooted = selected(&s.operand, out);
            out.push(&s.field);
            rooted
        }
        _ => false,
    }
}

/// Resolves field names from a rule's node: `Err(name)` names the first field its schema does
/// not declare (an object without properties, free-form ones included, declares none).
fn resolve(node: Node<'_>, fields: &[&str]) -> Result<(), String> {
    let mut cur = node.schema;
    for (i, f) in fields.iter().enumerate() {
        if node.root && i == 0 && matches!(*f, "apiVersion" | "kind") {
            return Ok(());
        }
        if node.root && i == 0 && *f == "metadata" {
            return match fields.get(1) {
                None | Some(&"name") | Some(&"generateName") => Ok(()),
                Some(other) => Err((*other).to_string()),
            };
        }
        if let Some(p) = cur.pointer(&format!("/properties/{f}")) {
            cur = p;
            continue;
        }
        match cur.get("additionalProperties") {
            Some(a @ Value::Object(_)) => {
                cur = a;
                continue;
            }
            Some(Value::Bool(true)) => return Ok(()),
            _ => {}
        }
        let object = cur.get("type").and_then(Value::as_str) == Some("object");
        let embedded = cur
            .get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true);
        if embedded && matches!(*f, "apiVersion" | "kind" | "metadata") {
            return Ok(());
        }
        if object {
            return Err((*f).to_string());
        }
        // Scalars, lists and untyped nodes: left to evaluation.
        return Ok(());
    }
    Ok(())
}

/// The first field a rule selects from `self`/`oldSelf` that the schema does not declare.
fn undefined_field(e: &IdedExpr, node: Node<'_>) -> Option<String> {
    let mut fields = Vec::new();
    if let Expr::Select(_) = &e.expr
        && selected(e, &mut fields)
    {
        return resolve(node, &fields).err();
    }
    let mut children: Vec<&IdedExpr> = Vec::new();
    match &e.expr {
        Expr::Call(call) => {
            children.extend(call.target.as_deref());
            children.extend(call.args.iter());
        }
        Expr::Comprehension(c) => {
            children.extend([
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ]);
        }
        Expr::List(list) => children.extend(list.elements.iter()),
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::StructField(f) => children.push(&f.value),
                    EntryExpr::MapEntry(m) => children.extend([&m.key, &m.value]),
                }
            }
        }
        Expr::Select(s) => children.push(&s.operand),
        _ => {}
    }
    children.into_iter().find_map(|c| undefined_field(c, node))
}

/// Whether a rule's `fieldPath` (`.spec.a`, `['b']`, `.list[0]`-free JSON path) names a field
/// of the rule's node.
fn field_path_valid(node: Node<'_>, path: &str) -> bool {
    let mut fields = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return false;
            }
            fields.push(&r[..end]);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let Some(end) = r.find("']") else {
                return false;
            };
            fields.push(&r[..end]);
            rest = &r[end + 2..];
        } else {
            return false;
        }
    }
    resolve(node, &fields).is_ok()
}

/// Whether a schema carries any validation rule (most do not: nothing to compile or run).
fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("x-kubernetes-validations") || m.values().any(has_rules),
        Value::Array(a) => a.iter().any(has_rules),
        _ => false,
    }
}

/// The compiled rules of a schema, compiled once per schema.
fn compiled(schema: &Value) -> Arc<CompiledSchema> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<CompiledSchema>>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = sync::lock(cache).get(&key) {
        return c.clone();
    }
    let c = Arc::new(kube_cel::compile_schema(schema));
    let mut map = sync::lock(cache);
    if map.len() >= CACHE_ENTRIES {
        map.clear();
    }
    map.insert(key, c.clone());
    c
}

/// The failures of a custom resource's rules, as kube-apiserver reports them (`old` is the
/// stored object on an update; transition rules run only then).
pub fn validate(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<FieldCause> {
    if !has_rules(schema) {
        return Vec::new();
    }
    let compiled = compiled(schema);
    match kube_cel::validate_compiled(&compiled, obj, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| to_cause(e, obj)).collect(),
    }
}

/// A field path as kube-apiserver prints it (`<nil>` for the object itself).
fn printed_path(path: &str) -> String {
    let p = path.trim_start_matches('.');
    if p.is_empty() {
        "<nil>".to_string()
    } else {
        p.to_string()
    }
}

/// The value at a kube-cel field path (`spec.steps[0].name`), if there is one.
fn value_at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// The CEL type name kube-apiserver shows for a value of a failed rule's node.
fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::Object(_)) | None => "object",
        Some(Value::Array(_)) => "array",
        Some(Value::String(_)) => "string",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(n)) if n.is_f64() => "number",
        Some(Value::Number(_)) => "integer",
        Some(Value::Null) => "null",
    }
}

fn to_cause(e: &ValidationError, obj: &Value) -> FieldCause {
    let field = printed_path(&e.field_path);
    let value = value_at(obj, &e.field_path);
    let rule_text = if e.message.is_empty() {
        &e.rule
    } else {
        &e.message
    };
    match e.kind {
        ErrorKind::ValidationFailure => {
            let detail = e.message.trim();
            match e.reason.as_deref() {
                Some("FieldValueForbidden") => cause(
                    "FieldValueForbidden",
                    &field,
                    format!("Forbidden: {detail}"),
                ),
                Some("FieldValueRequired") => cause(
                    "FieldValueRequired",
                    &field,
                    format!("Required value: {detail}"),
                ),
                Some("FieldValueDuplicate") => cause(
                    "FieldValueDuplicate",
                    &field,
                    format!("Duplicate value: {}", value.map(shown).unwrap_or_default()),
                ),
                _ => match value {
                    // Objects and lists are not printed in the message, scalars are.
                    Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => cause(
                        "FieldValueInvalid",
                        &field,
                        format!("Invalid value: {}: {detail}", shown(v)),
                    ),
                    _ => cause(
                        "FieldValueInvalid",
                        &field,
                        format!("Invalid value: {detail}"),
                    ),
                },
            }
        }
        _ => cause(
            "FieldValueInvalid",
            &field,
            format!(
                "Invalid value: \"{}\": {} evaluating rule: {}",
                type_name(value),
                e.message,
                rule_text.trim()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(schema: Value) -> Value {
        json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}})
    }

    #[test]
    fn free_variables_leave_out_comprehension_variables() {
        let mut free = Vec::new();
        let p = Program::compile("self.items.all(x, x > 0) && oldSelf.size() == y")
            .unwrap_or_else(|e| panic!("{e}"));
        free_variables(p.expression(), &mut Vec::new(), &mut free);
        free.sort();
        assert_eq!(free, vec!["oldSelf", "self", "y"]);
    }

    #[test]
    fn unsound_rules_refuse_the_crd() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.a =="},
                {"rule": "self.a == other"},
                {"rule": "self.a == 1", "reason": "Nope"},
                {"rule": "self.a == 1", "optionalOldSelf": true},
                {"rule": "self.a ==\n 1"},
                {"rule": "self.nope == 1"},
                {"rule": "has(self.list) && self.list.size() > 0", "fieldPath": ".nope"},
                {"rule": "!has(self.list) || self.list.size() >= 0", "fieldPath": ".list"},
                {"rule": "self.list.all(x, x.size() >= 0)"}
            ],
            "properties": {"a": {"type": "integer"}, "list": {"type": "array", "items": {"type": "object",
                "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}}}});
        let fields: Vec<String> = crd_causes(&crd(schema))
            .into_iter()
            .map(|c| c.field)
            .collect();
        let base = "spec.versions[0].schema.openAPIV3Schema.properties[spec]";
        assert_eq!(
            fields,
            vec![
                format!("{base}.x-kubernetes-validations[0].rule"),
                format!("{base}.x-kubernetes-validations[1].rule"),
                format!("{base}.x-kubernetes-validations[2].reason"),
                format!("{base}.x-kubernetes-validations[3].optionalOldSelf"),
                format!("{base}.x-kubernetes-validations[4].message"),
                format!("{base}.x-kubernetes-validations[5].rule"),
                format!("{base}.x-kubernetes-validations[6].fieldPath"),
                format!("{base}.properties[list].items.x-kubernetes-validations[0].rule"),
            ]
        );
    }

    #[test]
    fn failures_read_as_kube_apiserver_writes_them() {
        let schema = json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.spec.a == oldSelf.spec.a", "message": "a is immutable", "fieldPath": ".spec"}],
            "properties": {"spec": {"type": "object", "properties": {
                "a": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'"}]}}}}});
        assert!(validate(&schema, &json!({"spec": {"a": "b"}}), None).is_empty());
        let created = validate(&schema, &json!({"spec": {"a": "x"}}), None);
        assert_eq!(created.len(), 1, "{created:?}");
        assert_eq!(created[0].field, "spec.a");
        assert_eq!(
            created[0].message,
            "Invalid value: \"x\": failed rule: self != 'x'"
        );
        let updated = validate(
            &schema,
            &json!({"spec": {"a": "c"}}),
            Some(&json!({"spec": {"a": "b"}})),
        );
        assert_eq!(updated.len(), 1, "{updated:?}");
        assert_eq!(updated[0].field, "spec");
        assert_eq!(updated[0].message, "Invalid value: a is immutable");
    }
}
