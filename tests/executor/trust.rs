//! Attacks on the executor's trust boundary: it performs only executions the workflow
//! controller created for a run's pinned plan. Everything else ends Failed with reason
//! Untrusted and touches nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use remedy::api::kubernetes_execution::{
    ActionCall, ErrorReason, ExecutionKind, KubernetesExecution, KubernetesExecutionSpec,
};
use remedy::api::workflow_execution::ObjectRef;
use remedy::api::{ANNOTATION_DIGEST, WorkflowExecution, WorkflowExecutionStatus, WorkflowPhase};
use remedy::plan::ExecutionPlan;
use serde_json::{Value, json};

use crate::{Env, NS, OPERATOR_NS, env, failed, result, succeeded};

fn spec(
    run: &str,
    step: &str,
    attempt: u32,
    action: &str,
    params: Value,
) -> KubernetesExecutionSpec {
    KubernetesExecutionSpec {
        workflow_execution_ref: ObjectRef {
            name: run.into(),
            namespace: None,
        },
        step: step.into(),
        attempt,
        action: ActionCall {
            action_type: action.into(),
            parameters: params.as_object().cloned().unwrap_or_default(),
        },
        timeout: None,
        dry_run: false,
    }
}

async fn create(env: &Env, kex: &KubernetesExecution) {
    env.api::<KubernetesExecution>()
        .create(&PostParams::default(), kex)
        .await
        .unwrap();
}

/// Runs the execution to its end and answers the message of its Untrusted failure.
async fn refused(env: &Env, name: &str) -> String {
    failed(result(&env.run(name).await), ErrorReason::Untrusted)
}

/// A node with two evictable pods, as the drain attack found it.
async fn node_with_pods(env: &Env) -> Api<Node> {
    let nodes: Api<Node> = Api::all(env.client.clone());
    env.create(&nodes, json!({ "metadata": { "name": "n1" }, "spec": {} }))
        .await;
    for name in ["p1", "p2"] {
        env.create(
            &env.api::<Pod>(),
            json!({ "metadata": { "name": name, "ownerReferences": [
                        { "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": true } ] },
                    "spec": { "nodeName": "n1", "containers": [ { "name": "a", "image": "x" } ] } }),
        )
        .await;
    }
    nodes
}

/// The node's and pods' versions: what must not move.
async fn untouched(env: &Env) -> Vec<(String, String)> {
    let nodes: Api<Node> = Api::all(env.client.clone());
    let mut out: Vec<(String, String)> = nodes
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| (n.name_any(), n.resource_version().unwrap()))
        .collect();
    out.extend(
        env.api::<Pod>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| (p.name_any(), p.resource_version().unwrap())),
    );
    out
}

#[tokio::test]
async fn a_hand_made_drain_with_no_run_behind_it_touches_nothing() {
    let env = env().await;
    let nodes = node_with_pods(&env).await;
    let before = untouched(&env).await;
    let kex = KubernetesExecution::new(
        "drain",
        spec("wfe-a", "drain", 1, "drain_node", json!({ "node": "n1" })),
    );
    create(&env, &kex).await;
    let message = refused(&env, "drain").await;
    assert!(
        message.contains("no controlling WorkflowExecution"),
        "{message}"
    );
    assert!(message.contains("nothing was done"), "{message}");
    assert_eq!(untouched(&env).await, before);
    let node = nodes.get("n1").await.unwrap();
    assert_ne!(node.spec.unwrap().unschedulable, Some(true), "not cordoned");
    assert_eq!(
        env.api::<Pod>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn an_execution_that_claims_a_real_run_without_its_digest_is_refused() {
    let env = env().await;
    node_with_pods(&env).await;
    let before = untouched(&env).await;
    // A real run whose plan does drain n1, approved: only the digest is missing.
    let genuine = spec("run-a", "drain", 1, "drain_node", json!({ "node": "n1" }));
    let run = env.run_for(&genuine, ExecutionKind::Step).await;
    let mut kex = KubernetesExecution::new("drain", genuine);
    kex.metadata.labels = Some(BTreeMap::from([(
        remedy::api::LABEL_KIND.to_string(),
        "step".to_string(),
    )]));
    kex.metadata.owner_references = Some(vec![run.controller_owner_ref(&()).unwrap()]);
    create(&env, &kex).await;
    let message = refused(&env, "drain").await;
    assert!(message.contains("carries no digest"), "{message}");
    // A digest made without the installation's key.
    let mut forged = kex.clone();
    forged.metadata.name = Some("drain-forged".into());
    forged.metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_DIGEST.to_string(),
        format!("hmac-sha256:{}", "ab".repeat(32)),
    )]));
    create(&env, &forged).await;
    let message = refused(&env, "drain-forged").await;
    assert!(message.contains("digest does not verify"), "{message}");
    assert_eq!(untouched(&env).await, before);
}

#[tokio::test]
async fn a_signed_execution_changed_after_the_fact_is_refused() {
    let env = env().await;
    env.deployment("web", 2).await;
    let genuine = spec(
        "run-a",
        "scale",
        1,
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    );
    let run = env.run_for(&genuine, ExecutionKind::Step).await;
    // Copy the digest of the genuine execution onto one that scales to zero.
    let signed = env.signed("scale", &run, genuine.clone(), ExecutionKind::Step);
    let mut tampered = signed.clone();
    tampered
        .spec
        .action
        .parameters
        .insert("replicas".into(), json!(0));
    create(&env, &tampered).await;
    let message = refused(&env, "scale").await;
    assert!(message.contains("digest does not verify"), "{message}");
    // Relabelled as another kind, or moved to another name: the digest covers both.
    for (name, edit) in [
        (
            "scale-renamed",
            Box::new(|k: &mut KubernetesExecution| k.metadata.name = Some("scale-renamed".into()))
                as Box<dyn Fn(&mut KubernetesExecution)>,
        ),
        (
            "scale-2",
            Box::new(|k: &mut KubernetesExecution| {
                k.metadata.name = Some("scale-2".into());
                k.metadata.labels = Some(BTreeMap::from([(
                    remedy::api::LABEL_KIND.to_string(),
                    "rollback".to_string(),
                )]));
            }),
        ),
        (
            "scale-dry",
            Box::new(|k: &mut KubernetesExecution| {
                k.metadata.name = Some("scale-dry".into());
                k.spec.dry_run = true;
            }),
        ),
    ] {
        let mut copy = signed.clone();
        edit(&mut copy);
        create(&env, &copy).await;
        let message = refused(&env, name).await;
        assert!(
            message.contains("digest does not verify"),
            "{name}: {message}"
        );
    }
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

#[tokio::test]
async fn a_digest_for_one_run_does_not_serve_another() {
    let env = env().await;
    env.deployment("web", 2).await;
    let genuine = spec(
        "run-a",
        "scale",
        1,
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    );
    let run_a = env.run_for(&genuine, ExecutionKind::Step).await;
    let other = spec(
        "run-b",
        "scale",
        1,
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    );
    let run_b = env.run_for(&other, ExecutionKind::Step).await;
    let mut kex = env.signed("scale", &run_a, genuine, ExecutionKind::Step);
    // Moved under run-b, keeping run-a's digest.
    kex.spec.workflow_execution_ref.name = "run-b".into();
    kex.metadata.owner_references = Some(vec![run_b.controller_owner_ref(&()).unwrap()]);
    create(&env, &kex).await;
    let message = refused(&env, "scale").await;
    assert!(message.contains("digest does not verify"), "{message}");
}

/// Signs (with the installation's key, as only the workflow controller can) an execution
/// whose run's plan says something else: the plan still decides.
async fn signed_but_not_planned(
    env: &Env,
    name: &str,
    planned: KubernetesExecutionSpec,
    run_edit: impl FnOnce(&mut ExecutionPlan),
    kex_spec: KubernetesExecutionSpec,
    kind: ExecutionKind,
) -> String {
    let mut run = env.run_for(&planned, ExecutionKind::Step).await;
    let uid = run.uid().unwrap();
    let status = run.status.as_mut().unwrap();
    let mut plan: ExecutionPlan = serde_json::from_str(status.plan.as_deref().unwrap()).unwrap();
    run_edit(&mut plan);
    status.plan = Some(serde_json::to_string(&plan).unwrap());
    let runs = env.api::<WorkflowExecution>();
    let run = runs
        .replace_status(&run.name_any(), &PostParams::default(), &run)
        .await
        .unwrap();
    assert_eq!(run.uid().unwrap(), uid);
    let kex = env.signed(name, &run, kex_spec, kind);
    create(env, &kex).await;
    refused(env, name).await
}

/// A case: name, the planned spec, a change to the plan, the signed spec, its kind, and
/// what the refusal must say.
type Case = (
    &'static str,
    KubernetesExecutionSpec,
    Box<dyn FnOnce(&mut ExecutionPlan)>,
    KubernetesExecutionSpec,
    ExecutionKind,
    &'static str,
);

#[tokio::test]
async fn the_pinned_plan_decides_step_attempt_action_and_parameters() {
    let env = env().await;
    env.deployment("web", 2).await;
    node_with_pods(&env).await;
    let before = untouched(&env).await;
    let scale = |run: &str| {
        spec(
            run,
            "scale",
            1,
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
    };
    let cases: Vec<Case> = vec![
        (
            "another-action",
            scale("r1"),
            Box::new(|_| {}),
            spec("r1", "scale", 1, "drain_node", json!({ "node": "n1" })),
            ExecutionKind::Step,
            "runs `scale_deployment` at step `scale`, not `drain_node`",
        ),
        (
            "another-step",
            scale("r2"),
            Box::new(|_| {}),
            spec("r2", "drain", 1, "drain_node", json!({ "node": "n1" })),
            ExecutionKind::Step,
            "has no step `drain`",
        ),
        (
            "another-value",
            scale("r3"),
            Box::new(|_| {}),
            spec(
                "r3",
                "scale",
                1,
                "scale_deployment",
                json!({ "namespace": NS, "deployment": "web", "replicas": 0 }),
            ),
            ExecutionKind::Step,
            "another value of parameter `replicas`",
        ),
        (
            "extra-param",
            scale("r4"),
            Box::new(|_| {}),
            spec(
                "r4",
                "scale",
                1,
                "scale_deployment",
                json!({ "namespace": NS, "deployment": "web", "replicas": 3, "extra": 1 }),
            ),
            ExecutionKind::Step,
            "no parameter `extra`",
        ),
        (
            "attempt-9",
            scale("r5"),
            Box::new(|_| {}),
            spec(
                "r5",
                "scale",
                9,
                "scale_deployment",
                json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
            ),
            ExecutionKind::Step,
            "allows 1 attempt(s)",
        ),
        (
            "no-compensation",
            scale("r6"),
            Box::new(|_| {}),
            scale("r6"),
            ExecutionKind::Rollback,
            "has no compensation for step `scale`",
        ),
        (
            "as-verify",
            scale("r7"),
            Box::new(|_| {}),
            scale("r7"),
            ExecutionKind::Verify,
            "not an execution of kind `verify`",
        ),
        (
            "not-dry",
            scale("r8"),
            Box::new(|p: &mut ExecutionPlan| p.dry_run = true),
            scale("r8"),
            ExecutionKind::Step,
            "says dryRun true",
        ),
        (
            "not-approved",
            scale("r9"),
            Box::new(|p: &mut ExecutionPlan| p.approval_required = true),
            scale("r9"),
            ExecutionKind::Step,
            "requires approval",
        ),
    ];
    for (name, planned, edit, given, kind, needle) in cases {
        let message = signed_but_not_planned(&env, name, planned, edit, given, kind).await;
        assert!(message.contains(needle), "{name}: {message}");
    }
    assert_eq!(untouched(&env).await, before);
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

#[tokio::test]
async fn a_run_that_ended_is_gone_or_was_replaced_gets_nothing_done() {
    let env = env().await;
    env.deployment("web", 2).await;
    let scale = |run: &str| {
        spec(
            run,
            "scale",
            1,
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
        )
    };
    let runs = env.api::<WorkflowExecution>();

    let mut ended = env.run_for(&scale("ended"), ExecutionKind::Step).await;
    ended.status.as_mut().unwrap().phase = Some(WorkflowPhase::RolledBack);
    let ended = runs
        .replace_status("ended", &PostParams::default(), &ended)
        .await
        .unwrap();
    create(
        &env,
        &env.signed("x-ended", &ended, scale("ended"), ExecutionKind::Step),
    )
    .await;
    assert!(
        refused(&env, "x-ended")
            .await
            .contains("has ended (RolledBack)")
    );

    let gone = env.run_for(&scale("gone"), ExecutionKind::Step).await;
    runs.delete("gone", &Default::default()).await.unwrap();
    create(
        &env,
        &env.signed("x-gone", &gone, scale("gone"), ExecutionKind::Step),
    )
    .await;
    assert!(refused(&env, "x-gone").await.contains("does not exist"));

    // Deleted and created again under the same name: another run (another uid).
    let first = env.run_for(&scale("again"), ExecutionKind::Step).await;
    runs.delete("again", &Default::default()).await.unwrap();
    env.run_for(&scale("again"), ExecutionKind::Step).await;
    create(
        &env,
        &env.signed("x-again", &first, scale("again"), ExecutionKind::Step),
    )
    .await;
    let message = refused(&env, "x-again").await;
    assert!(
        message.contains("digest does not verify") || message.contains("not the run"),
        "{message}"
    );

    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

#[tokio::test]
async fn an_attempt_that_is_over_or_to_come_is_not_performed() {
    let env = env().await;
    let nodes = node_with_pods(&env).await;
    let drain = spec("run-d", "drain", 1, "drain_node", json!({ "node": "n1" }));
    let run = env.run_for(&drain, ExecutionKind::Step).await;
    let kex = env.signed("run-d-drain-1", &run, drain.clone(), ExecutionKind::Step);
    create(&env, &kex).await;
    succeeded(result(&env.run("run-d-drain-1").await));
    // The engine records the attempt; someone uncordons the node, deletes the execution
    // and creates the very same one again, digest and all.
    env.set_step(
        "run-d",
        remedy::api::StepStatus {
            name: "drain".into(),
            phase: remedy::api::StepPhase::Succeeded,
            attempts: 1,
            execution_ref: Some("run-d-drain-1".into()),
            ..Default::default()
        },
    )
    .await;
    let uncordon = json!({ "spec": { "unschedulable": false } });
    nodes
        .patch("n1", &PatchParams::default(), &Patch::Merge(&uncordon))
        .await
        .unwrap();
    env.api::<KubernetesExecution>()
        .delete("run-d-drain-1", &Default::default())
        .await
        .unwrap();
    create(&env, &kex).await;
    let message = refused(&env, "run-d-drain-1").await;
    assert!(
        message.contains("shows step `drain` Succeeded after attempt 1: attempt 1 is over"),
        "{message}"
    );
    assert_eq!(
        nodes.get("n1").await.unwrap().spec.unwrap().unschedulable,
        Some(false)
    );

    // A later attempt, made before the run got there.
    let mut ahead = spec("run-a", "drain", 3, "drain_node", json!({ "node": "n1" }));
    let run = env.run_for(&ahead, ExecutionKind::Step).await;
    env.set_step(
        "run-a",
        remedy::api::StepStatus {
            name: "drain".into(),
            phase: remedy::api::StepPhase::Pending,
            ..Default::default()
        },
    )
    .await;
    ahead.attempt = 3;
    create(
        &env,
        &env.signed("run-a-drain-3", &run, ahead, ExecutionKind::Step),
    )
    .await;
    let message = refused(&env, "run-a-drain-3").await;
    assert!(
        message.contains("attempt 3 is over or was never started"),
        "{message}"
    );
    assert_eq!(
        nodes.get("n1").await.unwrap().spec.unwrap().unschedulable,
        Some(false)
    );
}

#[tokio::test]
async fn a_running_execution_whose_spec_is_changed_is_stopped() {
    let env = env().await;
    env.execution("pause", "wait", json!({ "duration": "1m" }))
        .await;
    let (_, kex) = env.reconcile("pause").await;
    assert_eq!(
        crate::phase(&kex),
        Some(remedy::api::ExecutionPhase::Running)
    );
    // Someone swaps the action of the running attempt.
    let patch =
        json!({ "spec": { "action": { "type": "drain_node", "parameters": { "node": "n1" } } } });
    env.api::<KubernetesExecution>()
        .patch("pause", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let message = refused(&env, "pause").await;
    assert!(message.contains("digest does not verify"), "{message}");
}

#[tokio::test]
async fn without_the_sealing_key_nothing_is_performed() {
    let env = env().await;
    env.deployment("web", 2).await;
    env.execution(
        "scale",
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 3 }),
    )
    .await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.client.clone(), OPERATOR_NS);
    secrets
        .delete(remedy::seal::store::KEY_SECRET, &Default::default())
        .await
        .unwrap();
    let message = refused(&env, "scale").await;
    assert!(message.contains("there is no sealing key"), "{message}");
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

#[tokio::test]
async fn compensations_verify_and_finally_executions_of_the_plan_are_performed() {
    let env = env().await;
    env.deployment("web", 3).await;
    let undo = spec(
        "run-rb",
        "scale",
        1,
        "scale_deployment",
        json!({ "namespace": NS, "deployment": "web", "replicas": 2 }),
    );
    let run = env.run_for(&undo, ExecutionKind::Rollback).await;
    create(
        &env,
        &env.signed("scale-rb-1", &run, undo, ExecutionKind::Rollback),
    )
    .await;
    succeeded(result(&env.run("scale-rb-1").await));
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));

    for kind in [ExecutionKind::Verify, ExecutionKind::Finally] {
        let run_name = format!("run-{}", kind.as_str());
        let check = spec(
            &run_name,
            "check",
            1,
            "notify_only",
            json!({ "message": "checked" }),
        );
        let run = env.run_for(&check, kind).await;
        let name = format!("check-{}", kind.as_str());
        create(&env, &env.signed(&name, &run, check, kind)).await;
        succeeded(result(&env.run(&name).await));
    }
}

#[tokio::test]
async fn an_approved_run_gets_its_irreversible_step() {
    let env = env().await;
    let nodes = node_with_pods(&env).await;
    let drain = spec("run-d", "drain", 1, "drain_node", json!({ "node": "n1" }));
    let mut run = env.run_for(&drain, ExecutionKind::Step).await;
    let status: &mut WorkflowExecutionStatus = run.status.as_mut().unwrap();
    let mut plan: ExecutionPlan = serde_json::from_str(status.plan.as_deref().unwrap()).unwrap();
    plan.approval_required = true;
    status.plan = Some(serde_json::to_string(&plan).unwrap());
    let runs = env.api::<WorkflowExecution>();
    runs.replace_status("run-d", &PostParams::default(), &run)
        .await
        .unwrap();
    let patch = json!({ "spec": { "approved": true } });
    let run = runs
        .patch("run-d", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    create(&env, &env.signed("drain", &run, drain, ExecutionKind::Step)).await;
    succeeded(result(&env.run("drain").await));
    assert_eq!(
        nodes.get("n1").await.unwrap().spec.unwrap().unschedulable,
        Some(true)
    );
}

/// Holds the run with a finalizer and deletes it: it stays, being deleted, as a run whose
/// deletion is a rollback stop does.
async fn delete_held(env: &Env, run: &str) {
    let runs = env.api::<WorkflowExecution>();
    let hold = json!({ "metadata": { "finalizers": ["example.com/hold"] } });
    runs.patch(run, &PatchParams::default(), &Patch::Merge(&hold))
        .await
        .unwrap();
    runs.delete(run, &Default::default()).await.unwrap();
    let held = runs.get(run).await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
}

#[tokio::test]
async fn a_run_being_deleted_gets_its_compensations_and_finally_but_no_new_step() {
    let env = env().await;
    env.deployment("web", 3).await;
    let scale = |run: &str, replicas: i32| {
        spec(
            run,
            "scale",
            1,
            "scale_deployment",
            json!({ "namespace": NS, "deployment": "web", "replicas": replicas }),
        )
    };

    let step = scale("del-step", 5);
    let run = env.run_for(&step, ExecutionKind::Step).await;
    delete_held(&env, "del-step").await;
    create(
        &env,
        &env.signed("x-del-step", &run, step, ExecutionKind::Step),
    )
    .await;
    let message = refused(&env, "x-del-step").await;
    assert!(
        message.contains("is being deleted: only its compensations and finally steps run"),
        "{message}"
    );
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3), "no new step");

    let undo = scale("del-rb", 2);
    let run = env.run_for(&undo, ExecutionKind::Rollback).await;
    delete_held(&env, "del-rb").await;
    create(
        &env,
        &env.signed("x-del-rb", &run, undo, ExecutionKind::Rollback),
    )
    .await;
    succeeded(result(&env.run("x-del-rb").await));
    let d = env.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2), "compensated");

    let tell = spec(
        "del-finally",
        "tell",
        1,
        "notify_only",
        json!({ "message": "stopped" }),
    );
    let run = env.run_for(&tell, ExecutionKind::Finally).await;
    delete_held(&env, "del-finally").await;
    create(
        &env,
        &env.signed("x-del-finally", &run, tell, ExecutionKind::Finally),
    )
    .await;
    succeeded(result(&env.run("x-del-finally").await));
}
