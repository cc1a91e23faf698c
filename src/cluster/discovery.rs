//! Discovery documents (`/version`, `/api`, `/apis`, resource lists), health endpoints, and a
//! minimal OpenAPI v3 (paths with their PATCH operations and query parameters, no schemas):
//! enough for kubectl to see that the server validates fields itself. `/openapi/v2` is 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::error::ApiError;
use super::registry::ResourceType;
use super::server::{ApiResponse, Server};
use super::store::State;

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resources(types: &[&ResourceType]) -> Vec<Value> {
    let mut out = Vec::new();
    for rt in types {
        let mut r = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        out.push(r);
        if rt.status_subresource {
            out.push(json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind, "verbs": ["get", "patch", "update"]}));
        }
        if rt.scale.is_some() {
            out.push(json!({"name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": rt.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if rt.kind == "Pod" && !rt.custom {
            out.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
        }
    }
    out
}

/// group → versions, preferred first.
fn groups(state: &State) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in state.types.values() {
        if rt.group.is_empty() {
            continue;
        }
        let versions = out.entry(rt.group.clone()).or_default();
        for v in &rt.versions {
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
    }
    out
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

fn resource_list(state: &State, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = state
        .types
        .values()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if types.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources(&types)}),
    )
}

fn group_versions(state: &State) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for rt in state.types.values() {
        for v in &rt.versions {
            let gv = (rt.group.clone(), v.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per-group-version documents.
fn openapi_index(state: &State) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in group_versions(state) {
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<group-version>`: one PATCH operation per resource, declaring the GVK and
/// the `fieldValidation` and `dryRun` parameters, so kubectl validates on the server.
fn openapi_group_version(state: &State, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = state
        .types
        .values()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for rt in types {
        let base = gv_path(group, version);
        let path = if rt.namespaced {
            format!("/{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("/{base}/{}/{{name}}", rt.plural)
        };
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
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths}),
    )
}

/// Answers a non-resource path.
pub fn answer(server: &Arc<Server>, path: &str) -> ApiResponse {
    let state = server.lock();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match segs.as_slice() {
        ["version"] => Some(json!({
            "major": "1", "minor": "33", "gitVersion": server.config.git_version, "gitCommit": "", "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z", "goVersion": "none", "compiler": "remedy", "platform": "embedded"
        })),
        ["api"] => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ["apis"] => {
            let gs: Vec<Value> = groups(&state)
                .iter()
                .map(|(g, vs)| group_doc(g, vs))
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs}))
        }
        ["api", v] => resource_list(&state, "", v),
        ["apis", g] => groups(&state).get(*g).map(|vs| {
            let mut d = group_doc(g, vs);
            d["kind"] = json!("APIGroup");
            d["apiVersion"] = json!("v1");
            d
        }),
        ["apis", g, v] => resource_list(&state, g, v),
        ["healthz"] | ["readyz"] | ["livez"] => return ApiResponse::Text(200, "ok".into()),
        ["openapi", "v3"] => Some(openapi_index(&state)),
        ["openapi", "v3", "api", v] => openapi_group_version(&state, "", v),
        ["openapi", "v3", "apis", g, v] => openapi_group_version(&state, g, v),
        _ => None,
    };
    match found {
        Some(doc) => ApiResponse::Json(200, doc),
        None => ApiError::no_route(path).into(),
    }
}
