//! Discovery documents (`/version`, `/api`, `/apis`, resource lists; aggregated discovery,
//! `apidiscovery.k8s.io` v2 and v2beta1, when the `Accept` header asks for it), health
//! endpoints, and the OpenAPI v3 documents (`openapi.rs`). `/openapi/v2` is 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::error::ApiError;
use super::negotiate;
use super::openapi;
use super::registry::ResourceType;
use super::server::{ApiResponse, Server};
use super::store::State;

fn resources(types: &[&ResourceType]) -> Vec<Value> {
    let mut out = Vec::new();
    for rt in types {
        let mut r = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        out.push(r);
        for sub in rt.all_subresources() {
            let mut s = json!({
                "name": format!("{}/{}", rt.plural, sub.name),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": if sub.kind.is_empty() { rt.kind.as_str() } else { sub.kind },
                "verbs": sub.verbs,
            });
            if !sub.kind.is_empty() && (sub.group != rt.group || sub.kind != rt.kind) {
                s["group"] = json!(sub.group);
                s["version"] = json!(sub.version);
            }
            out.push(s);
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

/// One resource as `apidiscovery.k8s.io` APIResourceDiscovery.
fn resource_discovery(rt: &ResourceType) -> Value {
    let subresources: Vec<Value> = rt
        .all_subresources()
        .iter()
        .map(|sub| {
            let kind = if sub.kind.is_empty() {
                rt.kind.as_str()
            } else {
                sub.kind
            };
            json!({
                "subresource": sub.name,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": kind},
                "verbs": sub.verbs,
            })
        })
        .collect();
    let mut r = json!({
        "resource": rt.plural,
        "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": rt.verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    if !subresources.is_empty() {
        r["subresources"] = json!(subresources);
    }
    r
}

/// `/api` or `/apis` as an aggregated discovery document (`APIGroupDiscoveryList`): every
/// group (the core group alone for `/api`) with its versions, preferred first, and each
/// version's resources.
fn aggregated(state: &State, core: bool, version: &str) -> Value {
    let mut names: Vec<String> = Vec::new();
    if core {
        names.push(String::new());
    } else {
        names.extend(groups(state).into_keys());
    }
    let items: Vec<Value> = names
        .iter()
        .map(|g| {
            let versions: Vec<String> = if g.is_empty() {
                vec!["v1".into()]
            } else {
                groups(state).remove(g).unwrap_or_default()
            };
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = state
                        .types
                        .values()
                        .filter(|t| t.group == *g && t.versions.contains(v))
                        .map(resource_discovery)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// Answers a non-resource path.
pub fn answer(server: &Arc<Server>, path: &str, accept: &str) -> ApiResponse {
    let state = server.lock();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let (["api"] | ["apis"], Some(version)) =
        (segs.as_slice(), negotiate::aggregated_discovery(accept))
    {
        return ApiResponse::Typed(
            200,
            format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"),
            aggregated(&state, segs == ["api"], version),
        );
    }
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
        ["openapi", "v3"] => Some(openapi::index(&state)),
        ["openapi", "v3", "api", v] => openapi::group_version(&state, "", v),
        ["openapi", "v3", "apis", g, v] => openapi::group_version(&state, g, v),
        _ => None,
    };
    match found {
        Some(doc) => ApiResponse::Json(200, doc),
        None => ApiError::no_route(path).into(),
    }
}
