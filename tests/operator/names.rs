//! Every name and label value the operator generates is one a real API server accepts, however
//! long the run's and the steps' names are (the embedded cluster does not check them all, so
//! the generated values are checked against Kubernetes' rules here).

use kube::ResourceExt;
use kube::api::ListParams;
use remedy::api::names::{is_dns1123_subdomain, is_label_value};
use remedy::api::{LABEL_STEP, LABEL_WORKFLOW, WorkflowPhase};
use serde_json::json;

use crate::{Harness, Outcome};

/// A step name of 72 characters: valid in the language, too long for a label value.
const LONG_STEP: &str = "collect_every_diagnostic_about_the_deployment_before_changing_anything_1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_run_and_step_names_give_valid_names_labels_and_events() {
    let mut h = Harness::new().await;
    h.template(
        "t.wf",
        &format!(
            r#"workflow "long" version "1.0.0" {{
  param namespace: string = ${{ analysis.target.namespace }}
  param deployment: string = ${{ analysis.target.name }}
  step {LONG_STEP} {{
    action "collect_diagnostics"
    with {{ namespace, resource: "deployment/${{deployment}}" }}
  }}
  step scale_out_the_deployment_by_one_more_replica_while_it_recovers_from_oom {{
    action "scale_deployment"
    with {{ namespace, deployment, replicas: 3 }}
    rollback {{
      action "scale_deployment"
      with {{ namespace, deployment, replicas: 2 }}
    }}
  }}
}}
"#
        ),
    );
    h.start();
    h.analysis("ai-1", "long").await;
    // The longest name a run may have: 253 characters, in dot-separated parts.
    let run = format!("{}.{}", "r".repeat(126), "s".repeat(126));
    assert!(is_dns1123_subdomain(&run));
    // The second step fails with a message as long as a step message may be, so that the
    // events' notes (which add words to it) would pass the API server's 1 KiB.
    let message: &'static str = Box::leak("x".repeat(1024).into_boxed_str());
    let second = remedy::api::kubernetes_execution::execution_name(
        &run,
        "scale_out_the_deployment_by_one_more_replica_while_it_recovers_from_oom",
        remedy::api::ExecutionKind::Step,
        1,
    );
    h.script.set(&second, Outcome::Fail(message));
    h.run(&run, "ai-1", json!({})).await;
    let status = h.finished(&run).await;
    assert_eq!(status.phase, Some(WorkflowPhase::Failed), "{status:#?}");

    let executions = h
        .executions()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(executions.len(), 2, "{:?}", h.execution_names(&run).await);
    for kex in &executions {
        let name = kex.name_any();
        assert!(
            name.len() <= 63 && is_dns1123_subdomain(&name),
            "execution name {name}"
        );
        for (key, value) in kex.labels() {
            assert!(
                is_label_value(value),
                "label {key}={value} ({} chars)",
                value.len()
            );
        }
        assert!(kex.labels().contains_key(LABEL_WORKFLOW) && kex.labels().contains_key(LABEL_STEP));
    }
    // The executions are found by the run's label selector, long name and all.
    assert_eq!(h.execution_names(&run).await.len(), 2);
    assert!(
        status
            .steps
            .iter()
            .all(|s| s.execution_ref.as_deref().is_some_and(|r| r.len() <= 63))
    );

    // Events are published after the status write that ends the run.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(h.client.clone(), crate::NS);
    let events = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        events.len() >= 3,
        "{:?}",
        events
            .iter()
            .map(|e| (e.name_any(), e.reason.clone()))
            .collect::<Vec<_>>()
    );
    for e in &events {
        let name = e.name_any();
        assert!(
            is_dns1123_subdomain(&name),
            "event name of {} chars",
            name.len()
        );
        let note = e.note.as_deref().unwrap_or("");
        assert!(note.len() <= 1024, "a note of {} bytes", note.len());
    }
    h.stop().await;
}
