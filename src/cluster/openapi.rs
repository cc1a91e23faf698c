//! OpenAPI v3 documents, as kubectl reads them: `/openapi/v3` lists one document per
//! group-version, and each document carries the schemas of its kinds in
//! `components.schemas` (with `x-kubernetes-group-version-kind`, what `kubectl explain` looks
//! up) and each resource's PATCH operation with its `fieldValidation` and `dryRun` parameters
//! (what tells kubectl that the server validates fields).
//!
//! The schemas of built-in kinds are generated from k8s-openapi's types (its `schemars`
//! implementations); those of custom resources are their CRD's `openAPIV3Schema`, with
//! `metadata` pointing at ObjectMeta as kube-apiserver publishes them. List fields that
//! strategic merge patch merges by key carry `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key`, so the patches kubectl computes from the schemas are the
//! ones this server merges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::registry::{ResourceType, builtins};
use super::store::State;

const REF_PREFIX: &str = "#/components/schemas/";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The schemas of every built-in kind, generated once.
struct Builtin {
    /// Every definition reachable from a built-in kind, by name.
    definitions: Map<String, Value>,
    /// (group, kind) → the name of its schema.
    kinds: BTreeMap<(String, String), String>,
}

fn builtin() -> &'static Builtin {
    static BUILTIN: OnceLock<Builtin> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        let mut kinds = BTreeMap::new();
        let mut gvks: Vec<(String, Value)> = Vec::new();
        for rt in builtins() {
            let Some(schema_of) = rt.schema else {
                continue;
            };
            let reference = schema_of(&mut generator);
            let Some(name) = reference
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            else {
                continue;
            };
            kinds.insert((rt.group.clone(), rt.kind.clone()), name.to_string());
            let gvk: Vec<Value> = rt
                .versions
                .iter()
                .map(|v| json!({"group": rt.group, "version": v, "kind": rt.kind}))
                .collect();
            gvks.push((name.to_string(), Value::Array(gvk)));
        }
        // ObjectMeta is what custom resources point their metadata at.
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
        let mut definitions = generator.take_definitions(true);
        for (name, gvk) in gvks {
            if let Some(def) = definitions.get_mut(&name).and_then(Value::as_object_mut) {
                def.insert("x-kubernetes-group-version-kind".into(), gvk);
            }
        }
        annotate_patch_strategies(&mut definitions);
        Builtin { definitions, kinds }
    })
}

/// The definitions of the built-in kinds' schemas, and the name of the schema of `kind` in
/// `group` (None when the kind has none), for the typed decoding check of writes.
pub(super) fn builtin_schema(
    group: &str,
    kind: &str,
) -> Option<(&'static Map<String, Value>, &'static str)> {
    let b = builtin();
    b.kinds
        .get(&(group.to_string(), kind.to_string()))
        .map(|name| (&b.definitions, name.as_str()))
}

/// The definition a schema refers to (directly, or as the only member of `allOf`).
pub(super) fn referenced(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(REF_PREFIX))
}

/// Marks the list fields strategic merge patch merges (by key, or as sets) the way
/// kube-apiserver's schemas do, from the same rules the server's own merge follows.
fn annotate_patch_strategies(definitions: &mut Map<String, Value>) {
    let mut marks: Vec<(String, String, Option<&'static str>)> = Vec::new();
    for (name, def) in definitions.iter() {
        let Some(props) = def.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (field, prop) in props {
            if prop.get("type").and_then(Value::as_str) != Some("array") {
                continue;
            }
            let Some(items) = prop.get("items") else {
                continue;
            };
            match referenced(items).and_then(|r| definitions.get(r)) {
                Some(item) => {
                    let sample: Map<String, Value> = item
                        .get("properties")
                        .and_then(Value::as_object)
                        .map(|p| p.keys().map(|k| (k.clone(), Value::Null)).collect())
                        .unwrap_or_default();
                    if let Some(key) = super::patch::list_merge_key(field, &Value::Object(sample)) {
                        marks.push((name.clone(), field.clone(), Some(key)));
                    }
                }
                None if super::patch::is_set_list(field) => {
                    marks.push((name.clone(), field.clone(), None));
                }
                None => {}
            }
        }
    }
    for (name, field, key) in marks {
        if let Some(prop) = definitions
            .get_mut(&name)
            .and_then(|d| d.pointer_mut(&format!("/properties/{field}")))
            .and_then(Value::as_object_mut)
        {
            prop.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            if let Some(key) = key {
                prop.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            }
        }
    }
}

/// The schema name kube-apiserver gives a custom resource: its group reversed, then version
/// and kind (`io.example.widgets.v1.Widget` for `widgets.example.io/v1`).
fn custom_name(rt: &ResourceType, version: &str) -> String {
    let reversed: Vec<&str> = rt.group.split('.').rev().collect();
    format!("{}.{version}.{}", reversed.join("."), rt.kind)
}

/// A custom resource's schema as published: its CRD's schema, metadata pointing at ObjectMeta,
/// and its group-version-kind.
fn custom_schema(rt: &ResourceType, version: &str) -> Value {
    let mut schema =
        rt.schemas.get(version).cloned().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": rt.group, "version": version, "kind": rt.kind}]),
        );
        let props = obj
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            props.insert(
                "metadata".into(),
                json!({
                    "description": "Standard object's metadata.",
                    "allOf": [{"$ref": format!("{REF_PREFIX}{OBJECT_META}")}],
                }),
            );
        }
    }
    schema
}

/// The names of every definition `roots` refer to, themselves included.
fn closure(roots: &[String], definitions: &Map<String, Value>) -> BTreeSet<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => {
                            if let Some(name) = r.strip_prefix(REF_PREFIX) {
                                out.push(name.to_string());
                            }
                        }
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = definitions.get(&name) {
            refs(def, &mut todo);
        }
    }
    seen
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn index(state: &State) -> Value {
    let mut paths = Map::new();
    for rt in state.types.values() {
        for v in &rt.versions {
            let p = gv_path(&rt.group, v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<group-version>`: the schemas of the group-version's kinds (and everything
/// they refer to) and one PATCH operation per resource.
pub fn group_version(state: &State, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = state
        .types
        .values()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if types.is_empty() {
        return None;
    }
    let builtin = builtin();
    let mut own = Map::new();
    let mut roots = Vec::new();
    let mut paths = Map::new();
    for rt in &types {
        if rt.custom {
            let name = custom_name(rt, version);
            own.insert(name.clone(), custom_schema(rt, version));
            roots.push(name);
            roots.push(OBJECT_META.to_string());
        } else if let Some(name) = builtin.kinds.get(&(rt.group.clone(), rt.kind.clone())) {
            roots.push(name.clone());
        }
        let base = gv_path(group, version);
        let path = if rt.namespaced {
            format!("/{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("/{base}/{}/{{name}}", rt.plural)
        };
        if !rt.serves("patch") {
            continue;
        }
        let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patch{}", rt.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
                "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")],
                "responses": {"200": {"description": "OK"}}
            }}),
        );
    }
    let mut schemas = Map::new();
    for name in closure(&roots, &builtin.definitions) {
        if let Some(def) = own.get(&name).or_else(|| builtin.definitions.get(&name)) {
            schemas.insert(name, def.clone());
        }
    }
    // Custom schemas were not in the built-in closure walk; their own references are.
    for (name, def) in own {
        schemas.insert(name, def);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_carry_their_kind_and_patch_strategies() {
        let b = builtin();
        let name = &b.kinds[&("apps".to_string(), "Deployment".to_string())];
        assert_eq!(name, "io.k8s.api.apps.v1.Deployment");
        let d = &b.definitions[name];
        assert_eq!(
            d["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        let containers = &b.definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        let ports = &b.definitions["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        let service_ports = &b.definitions["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
        assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");
        let finalizers = &b.definitions[OBJECT_META]["properties"]["finalizers"];
        assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
        // A plain list (args) is replaced, not merged.
        let args = &b.definitions["io.k8s.api.core.v1.Container"]["properties"]["args"];
        assert!(args.get("x-kubernetes-patch-strategy").is_none());
    }
}
