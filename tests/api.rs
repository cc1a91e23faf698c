#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The custom resources: generated CRDs are checked in and current; the contract's examples
//! deserialise into the types.

use remedy::api::{self, AIAnalysis, KubernetesExecution, WorkflowExecution, crd};

#[test]
fn checked_in_crds_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crds");
    for (name, yaml) in crd::files().expect("render CRDs") {
        let path = dir.join(&name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} is stale: run `cargo run -- crds --out-dir deploy/crds`",
            path.display()
        );
    }
}

#[test]
fn crds_have_contract_names_and_short_names() {
    let crds = crd::all();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "aianalyses.aianalysis.kubernaut.io",
            "workflowexecutions.workflowexecution.kubernaut.io",
            "kubernetesexecutions.kubernetesexecution.kubernaut.io"
        ]
    );
    assert_eq!(
        crds[1].spec.names.short_names.as_deref(),
        Some(&["wfe".to_string()][..])
    );
    assert_eq!(
        crds[2].spec.names.short_names.as_deref(),
        Some(&["kex".to_string()][..])
    );
    for c in &crds {
        let v = &c.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{:?} has status",
            c.metadata.name
        );
    }
    let columns: Vec<_> = crds[1].spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Phase", "Workflow", "Step", "Age"]);
}

#[test]
fn contract_examples_deserialise() {
    let analysis: AIAnalysis = serde_saphyr::from_str(
        r#"
apiVersion: aianalysis.kubernaut.io/v1alpha1
kind: AIAnalysis
metadata: { name: ai-7f3, namespace: shop }
spec: {}
status:
  phase: Completed
  recommendedWorkflow: { name: oom-recovery, version: "1.2.0" }
  targetResource: { kind: Deployment, name: web, namespace: shop, apiVersion: apps/v1 }
  confidence: 0.92
  rootCause: "container web exceeds its 512Mi memory limit under load"
  parameters: { memory_limit: "512Mi" }
  metrics: { memory_limit: "512Mi", restarts: 7 }
  recommendations:
    - { id: r1, action: scale_deployment, riskLevel: low, effectivenessProbability: 0.8 }
"#,
    )
    .expect("AIAnalysis example");
    let status = analysis.status.expect("status");
    assert_eq!(status.phase, Some(api::AnalysisPhase::Completed));
    assert_eq!(status.target_resource.map(|t| t.name), Some("web".into()));
    assert_eq!(
        status.metrics.and_then(|m| m.get("restarts").cloned()),
        Some(serde_json::json!(7))
    );

    let wfe: WorkflowExecution = serde_saphyr::from_str(
        r#"
apiVersion: workflowexecution.kubernaut.io/v1alpha1
kind: WorkflowExecution
metadata: { name: wfe-a, namespace: shop }
spec:
  aiAnalysisRef: { name: ai-7f3, namespace: shop }
  workflowRef: { name: oom-recovery, version: "1.2.0" }
  parameters: { factor: 2.0 }
  dryRun: false
  rollbackStrategy: automatic
  approved: false
status:
  phase: Executing
  observedGeneration: 1
  workflow: { name: oom-recovery, version: "1.2.0", digest: "sha256:00" }
  steps:
    - { name: scale_out, phase: Succeeded, attempts: 1, executionRef: wfe-a-scale-out-1, output: { previous_replicas: 2 } }
  outcome: Success
  failure: { step: raise_memory, reason: StepFailed, message: "quota" }
"#,
    )
    .expect("WorkflowExecution example");
    assert_eq!(
        wfe.spec.rollback_strategy,
        Some(api::workflow_execution::RollbackStrategy::Automatic)
    );
    let status = wfe.status.expect("status");
    assert_eq!(status.steps[0].phase, api::StepPhase::Succeeded);
    assert_eq!(
        status.failure.map(|f| f.reason),
        Some(api::FailureReason::StepFailed)
    );

    let kex: KubernetesExecution = serde_saphyr::from_str(
        r#"
apiVersion: kubernetesexecution.kubernaut.io/v1alpha1
kind: KubernetesExecution
metadata: { name: wfe-a-scale-out-1, namespace: shop }
spec:
  workflowExecutionRef: { name: wfe-a, namespace: shop }
  step: scale_out
  attempt: 1
  action: { type: scale_deployment, parameters: { namespace: shop, deployment: web, replicas: 3 } }
  timeout: 5m
  dryRun: false
status:
  phase: Succeeded
  result:
    success: true
    output: { previous_replicas: 2, replicas: 3 }
    resourcesAffected: [ { kind: Deployment, namespace: shop, name: web, change: "scaled 2→3" } ]
"#,
    )
    .expect("KubernetesExecution example");
    assert_eq!(kex.spec.action.action_type, "scale_deployment");
    assert_eq!(
        kex.status
            .and_then(|s| s.result)
            .map(|r| r.resources_affected.len()),
        Some(1)
    );
}

#[test]
fn unknown_phase_is_rejected() {
    let r: Result<WorkflowExecution, _> = serde_saphyr::from_str(
        "apiVersion: workflowexecution.kubernaut.io/v1alpha1\nkind: WorkflowExecution\nmetadata: { name: x }\nspec: { aiAnalysisRef: { name: a } }\nstatus: { phase: Exploding }\n",
    );
    assert!(r.is_err());
}
