//! The actions beyond the first twenty: quarantine and release, isolation and NetworkPolicies,
//! StatefulSet and DaemonSet restarts, paused rollouts, suspended CronJobs, cleanups, Secret
//! rotation and rollout checks. Each one's effect and compensation; then, for all of them,
//! dry runs, protected namespaces and error classes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use remedy::api::kubernetes_execution::ErrorReason;
use remedy::cluster::{Config, EmbeddedCluster};
use serde_json::{Value, json};

use crate::{Env, NS, changes, env, env_on, failed, result, succeeded};

fn template(app: &str) -> Value {
    json!({ "metadata": { "labels": { "app": app } },
            "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } })
}

async fn replicaset(env: &Env, name: &str, app: &str) -> ReplicaSet {
    env.create(
        &env.api::<ReplicaSet>(),
        json!({ "metadata": { "name": name },
                "spec": { "replicas": 1,
                          "selector": { "matchLabels": { "app": app, "pod-template-hash": "h1" } },
                          "template": { "metadata": { "labels": { "app": app, "pod-template-hash": "h1" } },
                                        "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } } } }),
    )
    .await
}

/// A pod with `labels`, controlled by `owner` (kind, name, uid) if given.
async fn pod(env: &Env, name: &str, labels: Value, owner: Option<(&str, &str, String)>) -> Pod {
    let owners = match owner {
        Some((kind, owner, uid)) => json!([ { "apiVersion": "apps/v1", "kind": kind, "name": owner,
                                              "uid": uid, "controller": true } ]),
        None => json!([]),
    };
    env.create(
        &env.api::<Pod>(),
        json!({ "metadata": { "name": name, "labels": labels, "ownerReferences": owners },
                "spec": { "containers": [ { "name": "app", "image": "shop:1" } ] } }),
    )
    .await
}

fn labels(p: &Pod) -> BTreeMap<String, String> {
    p.labels().clone()
}

#[tokio::test]
async fn quarantine_takes_a_pod_out_of_its_selectors_and_release_puts_it_back() {
    let env = env().await;
    let rs = replicaset(&env, "web-h1", "web").await;
    pod(
        &env,
        "web-h1-a",
        json!({ "app": "web", "pod-template-hash": "h1", "tier": "front" }),
        Some(("ReplicaSet", "web-h1", rs.uid().unwrap())),
    )
    .await;
    let r = succeeded(
        env.perform(
            "quarantine",
            "quarantine_pod",
            json!({ "namespace": NS, "pod": "web-h1-a" }),
        )
        .await,
    );
    assert_eq!(
        r.output["previous_labels"],
        json!({ "app": "web", "pod-template-hash": "h1" })
    );
    assert_eq!(r.output["owner"], "ReplicaSet/web-h1");
    assert_eq!(
        changes(&r),
        ["Pod web-h1-a: quarantined: removed labels app, pod-template-hash"]
    );
    let after = env.api::<Pod>().get("web-h1-a").await.unwrap();
    assert_eq!(
        labels(&after),
        BTreeMap::from([
            ("remedy.kubernaut.io/quarantined".into(), "true".into()),
            ("tier".into(), "front".into())
        ])
    );

    // The compensation the catalog documents.
    let r = succeeded(
        env.perform(
            "release",
            "release_pod",
            json!({ "namespace": NS, "pod": "web-h1-a", "labels": r.output["previous_labels"] }),
        )
        .await,
    );
    assert_eq!(
        r.output["restored"],
        json!({ "app": "web", "pod-template-hash": "h1" })
    );
    let after = env.api::<Pod>().get("web-h1-a").await.unwrap();
    assert_eq!(
        labels(&after),
        BTreeMap::from([
            ("app".into(), "web".into()),
            ("pod-template-hash".into(), "h1".into()),
            ("tier".into(), "front".into())
        ])
    );
}

#[tokio::test]
async fn quarantine_refuses_pods_whose_controller_could_not_replace_them() {
    let env = env().await;
    let sts: StatefulSet = env
        .create(
            &env.api::<StatefulSet>(),
            json!({ "metadata": { "name": "db" },
                    "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } },
                              "template": template("db") } }),
        )
        .await;
    pod(
        &env,
        "db-0",
        json!({ "app": "db" }),
        Some(("StatefulSet", "db", sts.uid().unwrap())),
    )
    .await;
    let r = env
        .perform(
            "q-db",
            "quarantine_pod",
            json!({ "namespace": NS, "pod": "db-0" }),
        )
        .await;
    let msg = failed(r, ErrorReason::Invalid);
    assert!(msg.contains("StatefulSet db"), "{msg}");
    let p = env.api::<Pod>().get("db-0").await.unwrap();
    assert_eq!(labels(&p)["app"], "db", "untouched");
    let r = env
        .perform(
            "release-bad",
            "release_pod",
            json!({ "namespace": NS, "pod": "db-0", "labels": { "app": 3 } }),
        )
        .await;
    assert!(failed(r, ErrorReason::Invalid).contains("must be a string"));
}

#[tokio::test]
async fn isolate_pod_denies_one_pods_traffic_and_its_compensation_removes_the_policy() {
    let env = env().await;
    pod(&env, "web-a", json!({ "app": "web" }), None).await;
    pod(&env, "web-b", json!({ "app": "web" }), None).await;
    let r = succeeded(
        env.perform(
            "isolate",
            "isolate_pod",
            json!({ "namespace": NS, "pod": "web-a", "direction": "egress" }),
        )
        .await,
    );
    let name = r.output["network_policy"].as_str().unwrap().to_string();
    assert_eq!(name, "remedy-isolate-web-a");
    assert_eq!(
        changes(&r),
        [
            "Pod web-a: labelled remedy.kubernaut.io/isolated=web-a",
            "NetworkPolicy remedy-isolate-web-a: created: denies egress of pod web-a"
        ]
    );
    let policy = env.api::<NetworkPolicy>().get(&name).await.unwrap();
    let spec = serde_json::to_value(policy.spec.unwrap()).unwrap();
    assert_eq!(
        spec,
        json!({ "podSelector": { "matchLabels": { "remedy.kubernaut.io/isolated": "web-a" } },
                "policyTypes": ["Egress"] })
    );
    // It selects web-a only.
    let selected = env
        .api::<Pod>()
        .list(&ListParams::default().labels("remedy.kubernaut.io/isolated=web-a"))
        .await
        .unwrap();
    let names: Vec<String> = selected.items.iter().map(|p| p.name_any()).collect();
    assert_eq!(names, ["web-a"]);

    // Isolating again changes nothing.
    let r = succeeded(
        env.perform(
            "isolate-again",
            "isolate_pod",
            json!({ "namespace": NS, "pod": "web-a", "direction": "egress" }),
        )
        .await,
    );
    assert!(changes(&r).is_empty(), "{:?}", changes(&r));

    // The compensation the catalog documents.
    let r = succeeded(
        env.perform(
            "unisolate",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": name, "state": "absent" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_state"], "present");
    assert_eq!(changes(&r), ["NetworkPolicy remedy-isolate-web-a: deleted"]);
    assert!(
        env.api::<NetworkPolicy>()
            .get_opt(&name)
            .await
            .unwrap()
            .is_none()
    );

    // A policy of that name made by someone else is never taken over.
    env.create(
        &env.api::<NetworkPolicy>(),
        json!({ "metadata": { "name": "remedy-isolate-web-b" }, "spec": { "podSelector": {} } }),
    )
    .await;
    let r = env
        .perform(
            "isolate-b",
            "isolate_pod",
            json!({ "namespace": NS, "pod": "web-b" }),
        )
        .await;
    assert!(failed(r, ErrorReason::Conflict).contains("does not isolate pod web-b"));
}

#[tokio::test]
async fn update_network_policy_creates_replaces_and_its_output_undoes_it() {
    let env = env().await;
    let api = env.api::<NetworkPolicy>();
    let allow_web = json!({ "podSelector": { "matchLabels": { "app": "db" } },
                            "ingress": [ { "from": [ { "podSelector": { "matchLabels": { "app": "web" } } } ] } ] });
    let r = succeeded(
        env.perform(
            "create",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db", "spec": allow_web }),
        )
        .await,
    );
    assert_eq!(r.output["previous_state"], "absent");
    assert_eq!(r.output["previous_spec"], Value::Null);
    assert_eq!(changes(&r), ["NetworkPolicy db: created"]);
    let created = r.output.clone();

    let deny =
        json!({ "podSelector": { "matchLabels": { "app": "db" } }, "policyTypes": ["Ingress"] });
    let r = succeeded(
        env.perform(
            "deny",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db", "spec": deny }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["NetworkPolicy db: spec replaced"]);
    assert_eq!(r.output["previous_state"], "present");
    assert!(api.get("db").await.unwrap().spec.unwrap().ingress.is_none());

    // Undo the replacement, then the creation, as a rollback would (newest first).
    succeeded(
        env.perform(
            "undo-deny",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db",
                    "spec": r.output["previous_spec"], "state": r.output["previous_state"] }),
        )
        .await,
    );
    let spec = api.get("db").await.unwrap().spec.unwrap();
    assert_eq!(spec.ingress.unwrap().len(), 1);
    succeeded(
        env.perform(
            "undo-create",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db",
                    "spec": created["previous_spec"], "state": created["previous_state"] }),
        )
        .await,
    );
    assert!(api.get_opt("db").await.unwrap().is_none());

    for (name, params, says) in [
        (
            "no-spec",
            json!({ "namespace": NS, "network_policy": "db" }),
            "needs `spec`",
        ),
        (
            "spec-and-absent",
            json!({ "namespace": NS, "network_policy": "db", "spec": deny, "state": "absent" }),
            "takes no `spec`",
        ),
        (
            "bad-spec",
            json!({ "namespace": NS, "network_policy": "db", "spec": { "podSelector": 3 } }),
            "is not a NetworkPolicy spec",
        ),
    ] {
        let r = env.perform(name, "update_network_policy", params).await;
        let msg = failed(r, ErrorReason::Invalid);
        assert!(msg.contains(says), "{name}: {msg}");
    }
    let r = env
        .perform(
            "server-refuses",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db", "spec": { "policyTypes": ["Sideways"], "podSelector": {} } }),
        )
        .await;
    assert!(failed(r, ErrorReason::Invalid).contains("the API server refused"));
}

fn stamp<K: serde::Serialize>(obj: &K) -> Option<String> {
    serde_json::to_value(obj).unwrap()["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn statefulset_and_daemonset_restarts_stamp_the_template_and_undo_to_it() {
    let env = env().await;
    env.create(
        &env.api::<StatefulSet>(),
        json!({ "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } },
                          "template": template("db") } }),
    )
    .await;
    let mut agent = template("agent");
    agent["metadata"]["annotations"] =
        json!({ "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z" });
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } }, "template": agent } }),
    )
    .await;

    let r = succeeded(
        env.perform(
            "restart-db",
            "restart_statefulset",
            json!({ "namespace": NS, "statefulset": "db" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_restarted_at"], "");
    let stamped = stamp(&env.api::<StatefulSet>().get("db").await.unwrap()).unwrap();
    assert_eq!(r.output["restarted_at"], stamped);
    assert_eq!(changes(&r), ["StatefulSet db: restarted"]);
    let r = succeeded(
        env.perform(
            "undo-db",
            "restart_statefulset",
            json!({ "namespace": NS, "statefulset": "db", "restarted_at": r.output["previous_restarted_at"] }),
        )
        .await,
    );
    assert_eq!(
        changes(&r),
        ["StatefulSet db: restart stamp removed (template as before the restart)"]
    );
    assert_eq!(
        stamp(&env.api::<StatefulSet>().get("db").await.unwrap()),
        None
    );

    let r = succeeded(
        env.perform(
            "restart-agent",
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent" }),
        )
        .await,
    );
    assert_eq!(r.output["previous_restarted_at"], "2026-01-01T00:00:00Z");
    assert_ne!(
        stamp(&env.api::<DaemonSet>().get("agent").await.unwrap()).as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    succeeded(
        env.perform(
            "undo-agent",
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent", "restarted_at": r.output["previous_restarted_at"] }),
        )
        .await,
    );
    assert_eq!(
        stamp(&env.api::<DaemonSet>().get("agent").await.unwrap()).as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn pause_and_resume_rollout_and_suspend_and_resume_cronjob_undo_each_other() {
    let env = env().await;
    env.deployment("web", 2).await;
    let r = succeeded(
        env.perform(
            "pause",
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    assert_eq!(r.output["was_paused"], false);
    assert_eq!(changes(&r), ["Deployment web: rollout paused"]);
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().paused, Some(true));
    let r = succeeded(
        env.perform(
            "pause-again",
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    assert_eq!(r.output["was_paused"], true);
    assert!(changes(&r).is_empty());
    // The compensation of a pause of a rollout paused before: it stays paused.
    let r = succeeded(
        env.perform(
            "undo-pause-again",
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web", "paused": r.output["was_paused"] }),
        )
        .await,
    );
    assert!(changes(&r).is_empty());
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().paused, Some(true));
    let r = succeeded(
        env.perform(
            "resume",
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["Deployment web: rollout resumed"]);
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().paused, Some(false));

    env.create(
        &env.api::<CronJob>(),
        json!({ "metadata": { "name": "report" },
                "spec": { "schedule": "*/5 * * * *", "jobTemplate": { "spec": { "template": { "spec": {
                    "restartPolicy": "Never", "containers": [ { "name": "r", "image": "report:1" } ] } } } } } }),
    )
    .await;
    let r = succeeded(
        env.perform(
            "suspend",
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        )
        .await,
    );
    assert_eq!(r.output["was_suspended"], false);
    assert_eq!(changes(&r), ["CronJob report: suspended"]);
    let cj = env.api::<CronJob>().get("report").await.unwrap();
    assert_eq!(cj.spec.unwrap().suspend, Some(true));
    let r = succeeded(
        env.perform(
            "look",
            "collect_diagnostics",
            json!({ "namespace": NS, "resource": "cronjob/report", "events": false }),
        )
        .await,
    );
    assert_eq!(
        r.output["summary"],
        "CronJob shop/report: schedule \"*/5 * * * *\", suspended, 0 active Jobs"
    );
    let r = succeeded(
        env.perform(
            "resume-cj",
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        )
        .await,
    );
    assert_eq!(r.output["was_suspended"], true);
    assert_eq!(changes(&r), ["CronJob report: resumed"]);
    let cj = env.api::<CronJob>().get("report").await.unwrap();
    assert_eq!(cj.spec.unwrap().suspend, Some(false));
    // The compensation of that resume suspends it again.
    let r = succeeded(
        env.perform(
            "undo-resume-cj",
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report", "suspended": r.output["was_suspended"] }),
        )
        .await,
    );
    assert_eq!(changes(&r), ["CronJob report: suspended"]);
    // A CronJob a person suspended before the run: suspending it changes nothing, and the
    // compensation the catalog documents leaves it suspended.
    let r = succeeded(
        env.perform(
            "suspend-again",
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        )
        .await,
    );
    assert_eq!(r.output["was_suspended"], true);
    assert!(changes(&r).is_empty());
    let r = succeeded(
        env.perform(
            "undo-suspend-again",
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report", "suspended": r.output["was_suspended"] }),
        )
        .await,
    );
    assert!(changes(&r).is_empty());
    let cj = env.api::<CronJob>().get("report").await.unwrap();
    assert_eq!(cj.spec.unwrap().suspend, Some(true));
}

/// A pod in `phase` (with `reason`), created in that order (so the first is the oldest).
async fn finished_pod(env: &Env, name: &str, app: &str, phase: &str, reason: Option<&str>) {
    pod(env, name, json!({ "app": app }), None).await;
    let mut status = json!({ "phase": phase });
    if let Some(r) = reason {
        status["reason"] = json!(r);
    }
    env.api::<Pod>()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    // Creation times have a resolution of one second: keep the order by name too.
}

fn names(r: &remedy::api::kubernetes_execution::ExecutionResult) -> Vec<String> {
    r.output["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn cleanup_pods_deletes_finished_pods_only_and_at_most_max() {
    let env = env().await;
    finished_pod(&env, "a-evicted-1", "batch", "Failed", Some("Evicted")).await;
    finished_pod(&env, "b-evicted-2", "batch", "Failed", Some("Evicted")).await;
    finished_pod(&env, "c-failed", "batch", "Failed", None).await;
    finished_pod(&env, "d-done", "batch", "Succeeded", None).await;
    finished_pod(&env, "e-running", "batch", "Running", None).await;
    finished_pod(&env, "f-other-app", "web", "Failed", Some("Evicted")).await;

    let r = succeeded(
        env.perform(
            "evicted",
            "cleanup_pods",
            json!({ "namespace": NS, "selector": "app=batch", "state": "evicted", "max": 5 }),
        )
        .await,
    );
    assert_eq!(names(&r), ["a-evicted-1", "b-evicted-2"]);
    assert_eq!(r.output["remaining"], 0);
    let r = succeeded(
        env.perform(
            "finished",
            "cleanup_pods",
            json!({ "namespace": NS, "selector": "app=batch", "state": "finished", "max": 1 }),
        )
        .await,
    );
    assert_eq!(names(&r), ["c-failed"]);
    assert_eq!(r.output["remaining"], 1, "d-done is left beyond max");
    assert_eq!(changes(&r), ["Pod c-failed: deleted"]);
    let left: Vec<String> = env
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(left, ["d-done", "e-running", "f-other-app"]);

    for max in [0, 1001] {
        let r = env
            .perform(
                &format!("max-{max}"),
                "cleanup_pods",
                json!({ "namespace": NS, "max": max }),
            )
            .await;
        assert!(failed(r, ErrorReason::Invalid).contains("between 1 and 1000"));
    }
    let r = env
        .perform(
            "bad-selector",
            "cleanup_pods",
            json!({ "namespace": NS, "selector": "app in (", "max": 3 }),
        )
        .await;
    failed(r, ErrorReason::Invalid);
}

#[tokio::test]
async fn cleanup_jobs_picks_by_state_and_cronjob_and_deletes_their_pods() {
    let env = env().await;
    let cj: CronJob = env
        .create(
            &env.api::<CronJob>(),
            json!({ "metadata": { "name": "report" },
                    "spec": { "schedule": "@hourly", "jobTemplate": { "spec": { "template": { "spec": {
                        "restartPolicy": "Never", "containers": [ { "name": "r", "image": "report:1" } ] } } } } } }),
        )
        .await;
    let job = |name: &str, owned: bool| {
        let owners = if owned {
            json!([ { "apiVersion": "batch/v1", "kind": "CronJob", "name": "report",
                      "uid": cj.uid().unwrap(), "controller": true } ])
        } else {
            json!([])
        };
        json!({ "metadata": { "name": name, "ownerReferences": owners },
                "spec": { "template": { "spec": { "restartPolicy": "Never",
                          "containers": [ { "name": "r", "image": "report:1" } ] } } } })
    };
    for (name, owned, end) in [
        ("report-1", true, Some("Failed")),
        ("report-2", true, Some("Complete")),
        ("report-3", true, None),
        ("adhoc", false, Some("Failed")),
    ] {
        let created: Job = env.create(&env.api::<Job>(), job(name, owned)).await;
        if let Some(end) = end {
            env.api::<Job>()
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "status": { "conditions": [ { "type": end, "status": "True" } ] } })),
                )
                .await
                .unwrap();
        }
        // A pod of the job, which goes with it.
        pod(
            &env,
            &format!("{name}-pod"),
            json!({ "job-name": name }),
            None,
        )
        .await;
        env.api::<Pod>()
            .patch(
                &format!("{name}-pod"),
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "ownerReferences": [ {
                    "apiVersion": "batch/v1", "kind": "Job", "name": name,
                    "uid": created.uid().unwrap(), "controller": true } ] } })),
            )
            .await
            .unwrap();
    }
    let r = succeeded(
        env.perform(
            "failed-of-report",
            "cleanup_jobs",
            json!({ "namespace": NS, "cronjob": "report", "state": "failed", "max": 10 }),
        )
        .await,
    );
    assert_eq!(names(&r), ["report-1"]);
    let r = succeeded(
        env.perform(
            "finished",
            "cleanup_jobs",
            json!({ "namespace": NS, "max": 10 }),
        )
        .await,
    );
    // Both fit under `max`: their order depends on which second each was created in.
    let mut deleted = names(&r);
    deleted.sort();
    assert_eq!(deleted, ["adhoc", "report-2"]);
    let r = succeeded(
        env.perform(
            "active",
            "cleanup_jobs",
            json!({ "namespace": NS, "cronjob": "report", "state": "active", "max": 10 }),
        )
        .await,
    );
    assert_eq!(names(&r), ["report-3"]);
    assert!(
        env.api::<Job>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        env.api::<Pod>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "the Jobs' pods go too"
    );
}

/// An environment whose executor's requests are recorded as `METHOD path`.
async fn recorded_env() -> (Env, Arc<Mutex<Vec<String>>>) {
    let cluster = EmbeddedCluster::new(Config::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let service = tower::ServiceBuilder::new()
        .map_request(move |req: http::Request<kube::client::Body>| {
            log.lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
            req
        })
        .service(cluster.service());
    let executor = Client::new(service, "default");
    let client = cluster.client();
    (env_on(cluster, client, executor).await, seen)
}

#[tokio::test]
async fn rotate_secret_consumers_rolls_the_users_of_a_secret_without_reading_it() {
    let (env, seen) = recorded_env().await;
    let mut uses_volume = template("web");
    uses_volume["spec"]["volumes"] =
        json!([ { "name": "tls", "secret": { "secretName": "db-creds" } } ]);
    env.create(
        &env.api::<Deployment>(),
        json!({ "metadata": { "name": "web" },
                "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": uses_volume } }),
    )
    .await;
    env.deployment("other", 1).await;
    let mut uses_env = template("db");
    uses_env["spec"]["containers"][0]["envFrom"] =
        json!([ { "secretRef": { "name": "db-creds" } } ]);
    env.create(
        &env.api::<StatefulSet>(),
        json!({ "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } }, "template": uses_env } }),
    )
    .await;
    env.create(
        &env.api::<k8s_openapi::api::core::v1::Secret>(),
        json!({ "metadata": { "name": "db-creds" }, "stringData": { "password": "hunter2" } }),
    )
    .await;

    let r = succeeded(
        env.perform(
            "rotate",
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "db-creds" }),
        )
        .await,
    );
    assert_eq!(
        r.output["restarted"],
        json!(["Deployment/web", "StatefulSet/db"])
    );
    assert_eq!(
        r.output["previous_restarted_at"],
        json!({ "Deployment/web": "", "StatefulSet/db": "" })
    );
    assert_eq!(
        changes(&r),
        ["Deployment web: restarted", "StatefulSet db: restarted"]
    );
    assert!(stamp(&env.api::<Deployment>().get("web").await.unwrap()).is_some());
    assert!(stamp(&env.api::<StatefulSet>().get("db").await.unwrap()).is_some());
    assert!(stamp(&env.api::<Deployment>().get("other").await.unwrap()).is_none());
    // The executor's own sealing key (in the operator's namespace) is the one Secret it reads.
    let secrets: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("/secrets"))
        .filter(|r| !r.ends_with("/namespaces/remedy-system/secrets/remedy-seal-key"))
        .cloned()
        .collect();
    assert!(
        secrets.is_empty(),
        "the executor read a Secret: {secrets:?}"
    );

    // The compensation the catalog documents.
    succeeded(
        env.perform(
            "undo",
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "db-creds", "restarted_at": r.output["previous_restarted_at"] }),
        )
        .await,
    );
    assert!(stamp(&env.api::<Deployment>().get("web").await.unwrap()).is_none());
    assert!(stamp(&env.api::<StatefulSet>().get("db").await.unwrap()).is_none());

    let r = env
        .perform(
            "nobody",
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "unused" }),
        )
        .await;
    // The parameter is named like a credential: its value is scrubbed from the message.
    assert_eq!(
        failed(r, ErrorReason::NotFound),
        "no Deployment, StatefulSet or DaemonSet in shop uses Secret ***; check the step's `secret`"
    );
}

/// Runs verify_rollout of DaemonSet agent with a short timeout and returns its failure.
async fn short_verify(env: &Env, name: &str) -> String {
    env.execution_with(
        name,
        "verify_rollout",
        json!({ "namespace": NS, "workload": "daemonset/agent" }),
        |s| s.timeout = Some("300ms".into()),
    )
    .await;
    failed(result(&env.run(name).await), ErrorReason::Timeout)
}

/// Sets a pod's `app` label.
async fn relabel(env: &Env, pod: &str, app: &str) {
    env.api::<Pod>()
        .patch(
            pod,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "app": app } } })),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_rollout_waits_for_a_daemonset_and_reports_what_it_saw() {
    let env = env().await;
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } }, "template": template("agent") } }),
    )
    .await;
    let status = |available: i32| {
        json!({ "status": { "observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                            "numberMisscheduled": 0, "numberReady": available, "numberAvailable": available,
                            "updatedNumberScheduled": 3 } })
    };
    let ds = env.api::<DaemonSet>();
    for name in ["agent-a", "agent-b", "agent-c"] {
        pod(&env, name, json!({ "app": "agent" }), None).await;
        env.api::<Pod>()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "phase": "Running",
                    "conditions": [ { "type": "Ready", "status": "True" } ] } })),
            )
            .await
            .unwrap();
    }
    // The status says two of three, though three pods are Ready: the status rules.
    ds.patch_status("agent", &PatchParams::default(), &Patch::Merge(status(2)))
        .await
        .unwrap();
    assert_eq!(
        short_verify(&env, "short").await,
        "DaemonSet shop/agent has 2 of 3 pods available and 3 updated after 300ms; the step's timeout is over"
    );
    // The status says three, but one pod was relabelled away (its controller has not seen
    // it yet): only the pods the selector matches now count.
    ds.patch_status("agent", &PatchParams::default(), &Patch::Merge(status(3)))
        .await
        .unwrap();
    relabel(&env, "agent-c", "quarantined").await;
    assert_eq!(
        short_verify(&env, "lagging").await,
        "DaemonSet shop/agent has 2 of 3 pods available and 3 updated after 300ms; the step's timeout is over"
    );
    relabel(&env, "agent-c", "agent").await;
    let r = succeeded(
        env.perform(
            "ok",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "ds/agent" }),
        )
        .await,
    );
    assert_eq!(r.output["desired"], 3);
    assert_eq!(r.output["available"], 3);
    let r = env
        .perform(
            "kind",
            "verify_rollout",
            json!({ "namespace": NS, "workload": "pod/agent-x" }),
        )
        .await;
    assert!(failed(r, ErrorReason::Invalid).contains("`workload` must be kind/name"));
}

/// Objects for every new action to act on: a Deployment, StatefulSet, DaemonSet, ReplicaSet
/// with a pod, a failed pod, a CronJob with a finished Job, a NetworkPolicy, a node.
async fn targets(env: &Env) {
    let mut web = template("web");
    web["spec"]["volumes"] = json!([ { "name": "s", "secret": { "secretName": "creds" } } ]);
    env.create(
        &env.api::<Deployment>(),
        json!({ "metadata": { "name": "web" },
                "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": web } }),
    )
    .await;
    env.create(
        &env.api::<StatefulSet>(),
        json!({ "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "selector": { "matchLabels": { "app": "db" } },
                          "template": template("db") } }),
    )
    .await;
    env.create(
        &env.api::<DaemonSet>(),
        json!({ "metadata": { "name": "agent" },
                "spec": { "selector": { "matchLabels": { "app": "agent" } }, "template": template("agent") } }),
    )
    .await;
    let rs = replicaset(env, "web-h1", "web").await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(env.client.clone());
    env.create(&nodes, json!({ "metadata": { "name": "n1" } }))
        .await;
    let p = pod(
        env,
        "web-h1-a",
        json!({ "app": "web", "pod-template-hash": "h1" }),
        Some(("ReplicaSet", "web-h1", rs.uid().unwrap())),
    )
    .await;
    env.api::<Pod>()
        .patch(
            &p.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "nodeName": "n1" } })),
        )
        .await
        .unwrap();
    finished_pod(env, "old", "batch", "Failed", Some("Evicted")).await;
    env.create(
        &env.api::<CronJob>(),
        json!({ "metadata": { "name": "report" },
                "spec": { "schedule": "@hourly", "jobTemplate": { "spec": { "template": { "spec": {
                    "restartPolicy": "Never", "containers": [ { "name": "r", "image": "report:1" } ] } } } } } }),
    )
    .await;
    env.create(
        &env.api::<Job>(),
        json!({ "metadata": { "name": "report-1" },
                "spec": { "template": { "spec": { "restartPolicy": "Never",
                          "containers": [ { "name": "r", "image": "report:1" } ] } } } }),
    )
    .await;
    env.api::<Job>()
        .patch_status(
            "report-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "status": { "conditions": [ { "type": "Complete", "status": "True" } ] } }),
            ),
        )
        .await
        .unwrap();
    env.create(
        &env.api::<NetworkPolicy>(),
        json!({ "metadata": { "name": "db" }, "spec": { "podSelector": {} } }),
    )
    .await;
}

/// Every new action that changes something, with parameters that change the targets above.
fn changing_calls() -> Vec<(&'static str, Value)> {
    vec![
        (
            "quarantine_pod",
            json!({ "namespace": NS, "pod": "web-h1-a" }),
        ),
        (
            "release_pod",
            json!({ "namespace": NS, "pod": "web-h1-a", "labels": { "extra": "x" } }),
        ),
        ("isolate_pod", json!({ "namespace": NS, "pod": "web-h1-a" })),
        (
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db", "state": "absent" }),
        ),
        (
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "new", "spec": { "podSelector": {} } }),
        ),
        (
            "restart_statefulset",
            json!({ "namespace": NS, "statefulset": "db" }),
        ),
        (
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent" }),
        ),
        (
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        ("cleanup_pods", json!({ "namespace": NS, "max": 5 })),
        ("cleanup_jobs", json!({ "namespace": NS, "max": 5 })),
        (
            "migrate_workload",
            json!({ "namespace": NS, "workload": "replicaset/web-h1", "node": "n1" }),
        ),
        (
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "creds" }),
        ),
    ]
}

/// Every object's resourceVersion, of the kinds the new actions touch.
async fn versions(env: &Env) -> Vec<(String, String)> {
    async fn rvs<K>(env: &Env, kind: &str) -> Vec<(String, String)>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        env.api::<K>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|o| {
                (
                    format!("{kind}/{}", o.name_any()),
                    o.resource_version().unwrap_or_default(),
                )
            })
            .collect()
    }
    let mut out = rvs::<Pod>(env, "pod").await;
    out.extend(rvs::<Deployment>(env, "deployment").await);
    out.extend(rvs::<StatefulSet>(env, "statefulset").await);
    out.extend(rvs::<DaemonSet>(env, "daemonset").await);
    out.extend(rvs::<CronJob>(env, "cronjob").await);
    out.extend(rvs::<Job>(env, "job").await);
    out.extend(rvs::<NetworkPolicy>(env, "networkpolicy").await);
    out
}

/// What the dry run of `changing_calls()[i]` records of the state before, on `targets`.
fn dry_run_records(i: usize) -> (&'static str, Value) {
    [
        (
            "previous_labels",
            json!({ "app": "web", "pod-template-hash": "h1" }),
        ),
        ("restored", json!({ "extra": "x" })),
        ("network_policy", json!("remedy-isolate-web-h1-a")),
        ("previous_state", json!("present")),
        ("previous_state", json!("absent")),
        ("previous_restarted_at", json!("")),
        ("previous_restarted_at", json!("")),
        ("was_paused", json!(false)),
        ("was_suspended", json!(false)),
        ("deleted", json!(["old"])),
        ("deleted", json!(["report-1"])),
        ("evicted", json!(["web-h1-a"])),
        ("previous_restarted_at", json!({ "Deployment/web": "" })),
    ][i]
        .clone()
}

#[tokio::test]
async fn every_new_action_in_a_dry_run_is_checked_by_the_server_and_persists_nothing() {
    let env = env().await;
    targets(&env).await;
    let before = versions(&env).await;
    for (i, (action, params)) in changing_calls().into_iter().enumerate() {
        let name = format!("dry-{i}");
        env.execution_with(&name, action, params, |s| s.dry_run = true)
            .await;
        let r = succeeded(result(&env.run(&name).await));
        assert!(
            !r.resources_affected.is_empty(),
            "{action}: a dry run says what would change"
        );
        assert_eq!(versions(&env).await, before, "{action} changed something");
        // The previous state is recorded as in a real run (what the compensation reads).
        let (key, recorded) = dry_run_records(i);
        assert_eq!(
            r.output.get(key),
            Some(&recorded),
            "{action}: {:?}",
            r.output
        );
    }
    // The server checks a dry run: a spec it refuses fails the same way.
    env.execution_with(
        "dry-bad",
        "update_network_policy",
        json!({ "namespace": NS, "network_policy": "x", "spec": { "policyTypes": ["Up"], "podSelector": {} } }),
        |s| s.dry_run = true,
    )
    .await;
    failed(result(&env.run("dry-bad").await), ErrorReason::Invalid);
}

#[tokio::test]
async fn every_new_action_refuses_protected_namespaces_before_reading() {
    let env = env().await;
    // Any read would consume one of these faults; none must. (501, not 500: a 500 is
    // transient, retried within the attempt, so the probe below would not see it fail.)
    for resource in [
        "pods",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "cronjobs",
        "jobs",
        "networkpolicies",
        "nodes",
    ] {
        env.cluster.faults().fail_next("*", resource, 1, 501);
    }
    let mut calls = changing_calls();
    calls.extend([
        (
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        (
            "verify_rollout",
            json!({ "namespace": NS, "workload": "daemonset/agent" }),
        ),
    ]);
    for (i, (action, mut params)) in calls.into_iter().enumerate() {
        params["namespace"] = json!("kube-system");
        let r = env.perform(&format!("system-{i}"), action, params).await;
        let msg = failed(r, ErrorReason::Protected);
        assert!(
            msg.starts_with("namespace kube-system is protected"),
            "{action}: {msg}"
        );
    }
    // The fault is still there for the next reader.
    let r = env
        .perform(
            "probe",
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        )
        .await;
    failed(r, ErrorReason::Unknown);
}

#[tokio::test]
async fn every_new_action_classifies_a_missing_target_and_api_errors() {
    let env = env().await;
    // Nothing exists: NotFound (cleanups find nothing to delete, which is no error).
    let mut calls = changing_calls();
    calls.extend([
        (
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
        ),
        (
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
        ),
        (
            "verify_rollout",
            json!({ "namespace": NS, "workload": "statefulset/db" }),
        ),
    ]);
    for (i, (action, params)) in calls.into_iter().enumerate() {
        let r = env.perform(&format!("missing-{i}"), action, params).await;
        match action {
            "cleanup_pods" | "cleanup_jobs" => {
                let r = succeeded(r);
                assert_eq!(r.output["deleted"], json!([]), "{action}");
            }
            "update_network_policy" => {
                succeeded(r);
            }
            _ => {
                let msg = failed(r, ErrorReason::NotFound);
                assert!(
                    msg.contains("not found") || msg.contains("uses Secret"),
                    "{action}: {msg}"
                );
            }
        }
    }
    let env = crate::env().await;
    targets(&env).await;
    // The write of each is refused: 403 is Forbidden, 501 Unknown, with the target named.
    for (resource, verb, action, params, target) in [
        (
            "pods",
            "patch",
            "quarantine_pod",
            json!({ "namespace": NS, "pod": "web-h1-a" }),
            "Pod shop/web-h1-a",
        ),
        (
            "networkpolicies",
            "create",
            "isolate_pod",
            json!({ "namespace": NS, "pod": "web-h1-a" }),
            "NetworkPolicy shop/remedy-isolate-web-h1-a",
        ),
        (
            "statefulsets",
            "patch",
            "restart_statefulset",
            json!({ "namespace": NS, "statefulset": "db" }),
            "StatefulSet shop/db",
        ),
        (
            "daemonsets",
            "patch",
            "restart_daemonset",
            json!({ "namespace": NS, "daemonset": "agent" }),
            "DaemonSet shop/agent",
        ),
        (
            "deployments",
            "patch",
            "pause_rollout",
            json!({ "namespace": NS, "deployment": "web" }),
            "Deployment shop/web",
        ),
        (
            "cronjobs",
            "patch",
            "suspend_cronjob",
            json!({ "namespace": NS, "cronjob": "report" }),
            "CronJob shop/report",
        ),
        (
            "pods",
            "delete",
            "cleanup_pods",
            json!({ "namespace": NS, "max": 5 }),
            "Pod shop/old",
        ),
        (
            "jobs",
            "delete",
            "cleanup_jobs",
            json!({ "namespace": NS, "max": 5 }),
            "Job shop/report-1",
        ),
        (
            "pods/eviction",
            "create",
            "migrate_workload",
            json!({ "namespace": NS, "workload": "replicaset/web-h1", "node": "n1" }),
            "Pod shop/web-h1-a",
        ),
        (
            "deployments",
            "patch",
            "rotate_secret_consumers",
            json!({ "namespace": NS, "secret": "creds" }),
            "Deployment shop/web",
        ),
        (
            "pods",
            "patch",
            "release_pod",
            json!({ "namespace": NS, "pod": "web-h1-a", "labels": { "extra": "x" } }),
            "Pod shop/web-h1-a",
        ),
        (
            "networkpolicies",
            "delete",
            "update_network_policy",
            json!({ "namespace": NS, "network_policy": "db", "state": "absent" }),
            "NetworkPolicy shop/db",
        ),
        // Resumes that set the other state, so that they write.
        (
            "deployments",
            "patch",
            "resume_rollout",
            json!({ "namespace": NS, "deployment": "web", "paused": true }),
            "Deployment shop/web",
        ),
        (
            "cronjobs",
            "patch",
            "resume_cronjob",
            json!({ "namespace": NS, "cronjob": "report", "suspended": true }),
            "CronJob shop/report",
        ),
    ] {
        // 501, not 500: a 500 is transient and retried within the attempt (docs/operations.md).
        for (code, reason) in [(403, ErrorReason::Forbidden), (501, ErrorReason::Unknown)] {
            env.cluster.faults().fail_next(verb, resource, 1, code);
            let r = env
                .perform(
                    &format!("fault-{}-{code}", action.replace('_', "-")),
                    action,
                    params.clone(),
                )
                .await;
            let msg = failed(r, reason);
            assert!(msg.contains(target), "{action} {code}: {msg}");
        }
    }
}
