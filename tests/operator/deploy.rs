//! The manifests under `deploy/`: the workflow controller's RBAC grants nothing on workloads,
//! its Deployment runs restricted, and the kustomization lists files that exist.

use std::path::Path;

use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn the_workflow_controller_has_no_rights_on_workloads() {
    let docs = documents("rbac/workflow-controller.yaml");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Role",
            "RoleBinding",
            "Role",
            "RoleBinding"
        ]
    );
    let allowed_groups = [
        "workflowexecution.kubernaut.io",
        "kubernetesexecution.kubernaut.io",
        "aianalysis.kubernaut.io",
        "events.k8s.io",
        "coordination.k8s.io",
    ];
    for doc in docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
    {
        for rule in doc["rules"].as_array().unwrap() {
            let verbs: Vec<&str> = rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let resources: Vec<&str> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(!verbs.contains(&"*"), "{rule}");
            // Deleting: finished runs only (retention), never anything else.
            assert!(
                !verbs.contains(&"delete") || resources == ["workflowexecutions"],
                "{rule}"
            );
            for group in rule["apiGroups"].as_array().unwrap() {
                let group = group.as_str().unwrap();
                // The core group: a finished run's events, read into its archive record,
                // the pause switch, and the sealing key; nothing else.
                if group.is_empty() && resources == ["events"] {
                    assert_eq!(verbs, ["list"], "{rule}");
                    continue;
                }
                if group.is_empty() && rule["resources"] == serde_json::json!(["configmaps"]) {
                    check_pause_switch_rule(doc, rule, &verbs);
                    continue;
                }
                if group.is_empty() {
                    check_seal_key_rule(doc, rule, &verbs);
                    continue;
                }
                assert!(
                    allowed_groups.contains(&group),
                    "rights on group `{group}`: {rule}"
                );
            }
        }
    }
    // Leases only in the operator's own namespace.
    let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(role["metadata"]["namespace"], "remedy-system");
    assert_eq!(role["rules"][0]["resources"][0], "leases");
}

/// The core group for the pause switch: reading ConfigMaps in the operator's namespace.
fn check_pause_switch_rule(doc: &Value, rule: &Value, verbs: &[&str]) {
    assert_eq!(doc["kind"], "Role", "core rights only in a Role: {rule}");
    assert_eq!(doc["metadata"]["namespace"], "remedy-system", "{rule}");
    assert_eq!(verbs, ["get", "list", "watch"], "{rule}");
}

/// The core group only for the sealing key: Secrets, in a Role of the operator's namespace,
/// `get` of that one name, and `create` (which RBAC cannot limit by name).
fn check_seal_key_rule(doc: &Value, rule: &Value, verbs: &[&str]) {
    assert_eq!(doc["kind"], "Role", "core rights only in a Role: {rule}");
    assert_eq!(doc["metadata"]["namespace"], "remedy-system", "{rule}");
    assert_eq!(rule["resources"], serde_json::json!(["secrets"]), "{rule}");
    match verbs {
        ["get"] => assert_eq!(
            rule["resourceNames"],
            serde_json::json!(["remedy-seal-key"]),
            "{rule}"
        ),
        ["create"] => {}
        other => panic!("secrets verbs {other:?}: {rule}"),
    }
}

#[test]
fn the_executor_reads_no_secret_but_the_sealing_key() {
    let docs = documents("rbac/executor.yaml");
    for doc in docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
    {
        for rule in doc["rules"].as_array().unwrap() {
            let names_secrets = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "secrets");
            if names_secrets {
                assert_eq!(doc["kind"], "Role", "{rule}");
                assert_eq!(doc["metadata"]["namespace"], "remedy-system");
                assert_eq!(rule["verbs"], serde_json::json!(["get"]), "{rule}");
                assert_eq!(
                    rule["resourceNames"],
                    serde_json::json!(["remedy-seal-key"]),
                    "{rule}"
                );
            }
        }
    }
}

#[test]
fn the_deployment_runs_restricted() {
    check_restricted(
        "workflow-controller.yaml",
        "remedy-workflow-controller",
        "--leader-elect",
    );
    check_restricted("executor.yaml", "remedy-executor", "--controllers=executor");
}

fn check_restricted(file: &str, service_account: &str, needed_arg: &str) {
    let docs = documents(file);
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], service_account);
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"operator") && args.contains(&needed_arg),
        "{args:?}"
    );
    // The args are ones `remedy operator` accepts.
    let mut argv = vec!["remedy"];
    argv.extend(&args);
    let parsed = <remedy::cli::Cli as clap::Parser>::try_parse_from(&argv);
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn the_kustomization_lists_files_that_exist() {
    let docs = documents("kustomization.yaml");
    let resources = docs[0]["resources"].as_array().unwrap();
    assert!(resources.len() >= 6);
    for r in resources {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(r.as_str().unwrap());
        assert!(path.exists(), "{} is missing", path.display());
    }
}
