//! What every API server holds from its first moment: the `default/kubernetes` Service, the
//! `cluster-admin` ClusterRole and its binding, the component statuses, and one APIService
//! per served group-version (kept in step with CRDs as they come and go, as kube-apiserver's
//! registration controllers do).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::registry::ResourceKey;
use super::server::new_uid;
use super::store::State;

fn key(group: &str, plural: &str) -> ResourceKey {
    (group.to_string(), plural.to_string())
}

fn stamped(mut obj: Value, now: &str) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now));
    }
    obj
}

/// The objects a new cluster starts with (besides its namespaces), with where they live.
pub fn objects(now: &str) -> Vec<(ResourceKey, Value)> {
    let bootstrapping = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let autoupdate = json!({"rbac.authorization.kubernetes.io/autoupdate": "true"});
    let mut out = vec![
        (
            key("", "services"),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {
                    "clusterIP": super::network::KUBERNETES_IP, "clusterIPs": [super::network::KUBERNETES_IP],
                    "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                    "sessionAffinity": "None", "type": "ClusterIP"
                },
                "status": {"loadBalancer": {}}
            }),
        ),
        (
            key("rbac.authorization.k8s.io", "clusterroles"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "cluster-admin", "labels": bootstrapping, "annotations": autoupdate},
                "rules": [
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]}
                ]
            }),
        ),
        (
            key("rbac.authorization.k8s.io", "clusterrolebindings"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "cluster-admin", "labels": bootstrapping, "annotations": autoupdate},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
            }),
        ),
    ];
    for (name, message) in [
        ("controller-manager", "ok"),
        ("scheduler", "ok"),
        ("etcd-0", "{\"health\":\"true\",\"reason\":\"\"}"),
    ] {
        out.push((
            key("", "componentstatuses"),
            json!({
                "apiVersion": "v1", "kind": "ComponentStatus",
                "metadata": {"name": name},
                "conditions": [{"type": "Healthy", "status": "True", "message": message}]
            }),
        ));
    }
    out.into_iter().map(|(k, o)| (k, stamped(o, now))).collect()
}

const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// Creates the APIService of every served group-version that has none and removes the
/// automanaged ones whose group-version is no longer served (a deleted CRD's).
pub fn sync_apiservices(state: &mut State, now: &str) {
    let apiservices = key("apiregistration.k8s.io", "apiservices");
    let mut wanted: BTreeSet<(String, String, bool)> = BTreeSet::new();
    for rt in state.types.values() {
        for v in &rt.versions {
            wanted.insert((rt.group.clone(), v.clone(), rt.custom));
        }
    }
    let name_of = |g: &str, v: &str| format!("{v}.{g}");
    let names: BTreeSet<String> = wanted.iter().map(|(g, v, _)| name_of(g, v)).collect();
    let existing: Vec<(String, bool)> = state
        .objects
        .get(&apiservices)
        .map(|objs| {
            objs.iter()
                .map(|((_, n), o)| {
                    let managed = o.labels.iter().any(|(k, _)| k == AUTOMANAGED);
                    (n.clone(), managed)
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, managed) in &existing {
        if *managed && !names.contains(name) {
            state.remove(&apiservices, "", name);
        }
    }
    for (group, version, custom) in wanted {
        let name = name_of(&group, &version);
        if state.contains(&apiservices, "", &name) {
            continue;
        }
        let (minimum, priority, managed) = match (group.as_str(), custom) {
            ("", _) => (18000, 1, "onstart"),
            (_, false) => (17000, 15, "onstart"),
            (_, true) => (1000, 100, "true"),
        };
        let obj = json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": name, "labels": {AUTOMANAGED: managed}},
            "spec": {"group": group, "version": version, "groupPriorityMinimum": minimum, "versionPriority": priority},
            "status": {"conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now,
                                        "reason": "Local", "message": "Local APIServices are always available"}]}
        });
        state.insert(&apiservices, stamped(obj, now));
    }
}
