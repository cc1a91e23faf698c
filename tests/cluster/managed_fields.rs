//! managedFields across applies and ordinary writes: patches and updates record `Update`
//! managers and take changed or cleared fields from every other manager, so a later apply
//! conflicts only with fields another manager still owns.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::{api_err, cluster};

fn lease_apply(holder: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 10, "renewTime": "2026-01-01T00:00:00.000000Z"}
    })
}

/// The `spec` fields each (manager, operation) entry owns, sorted.
fn owners(lease: &Lease) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = lease
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let fields = m.fields_v1.map(|f| f.0).unwrap_or(Value::Null);
            let mut spec: Vec<String> = fields["f:spec"]
                .as_object()
                .map(|o| {
                    o.keys()
                        .map(|k| k.trim_start_matches("f:").to_string())
                        .collect()
                })
                .unwrap_or_default();
            spec.sort();
            (m.manager.unwrap(), m.operation.unwrap(), spec)
        })
        .collect();
    out.sort();
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_patch_that_clears_or_changes_fields_takes_them_from_the_apply_manager() {
    let c = cluster();
    let leases: Api<Lease> = Api::default_namespaced(c.client());
    leases
        .patch(
            "l",
            &PatchParams::apply("a"),
            &Patch::Apply(lease_apply("a")),
        )
        .await
        .unwrap();
    // B clears the holder and the renew time, and changes the duration.
    let release =
        json!({"spec": {"holderIdentity": null, "renewTime": null, "leaseDurationSeconds": 20}});
    let pp = PatchParams {
        field_manager: Some("b".into()),
        ..Default::default()
    };
    let patched = leases
        .patch("l", &pp, &Patch::Strategic(&release))
        .await
        .unwrap();
    assert_eq!(
        owners(&patched),
        [(
            "b".to_string(),
            "Update".to_string(),
            strings(&["leaseDurationSeconds"])
        )],
        "A's Apply entry lost every field, so it is gone"
    );
    // C applies the cleared fields: nobody owns them, no conflict.
    let taken = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                       "spec": {"holderIdentity": "c", "renewTime": "2026-01-01T00:00:05.000000Z"}});
    let lease = leases
        .patch("l", &PatchParams::apply("c"), &Patch::Apply(&taken))
        .await
        .unwrap();
    let spec = lease.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("c"));
    assert_eq!(spec.lease_duration_seconds, Some(20));
    assert_eq!(
        owners(&lease),
        [
            (
                "b".to_string(),
                "Update".to_string(),
                strings(&["leaseDurationSeconds"])
            ),
            (
                "c".to_string(),
                "Apply".to_string(),
                strings(&["holderIdentity", "renewTime"])
            ),
        ]
    );
    // The field B's patch changed is B's now: an apply of another value conflicts with B.
    let duration = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                          "spec": {"leaseDurationSeconds": 30}});
    let s = api_err(
        leases
            .patch("l", &PatchParams::apply("c"), &Patch::Apply(&duration))
            .await,
    );
    assert_eq!(s.code, 409);
    assert!(
        s.message.contains(
            "conflict with \"b\" using coordination.k8s.io/v1: .spec.leaseDurationSeconds"
        ),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn an_update_moves_changed_fields_to_its_manager_and_no_op_writes_change_nothing() {
    let c = cluster();
    let leases: Api<Lease> = Api::default_namespaced(c.client());
    let applied = leases
        .patch(
            "l",
            &PatchParams::apply("a"),
            &Patch::Apply(lease_apply("a")),
        )
        .await
        .unwrap();
    // A PUT by "editor" that changes only the holder.
    let mut edited = applied.clone();
    edited.spec.as_mut().unwrap().holder_identity = Some("e".into());
    let pp = PostParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let stored = leases.replace("l", &pp, &edited).await.unwrap();
    assert_eq!(
        owners(&stored),
        [
            (
                "a".to_string(),
                "Apply".to_string(),
                strings(&["leaseDurationSeconds", "renewTime"])
            ),
            (
                "editor".to_string(),
                "Update".to_string(),
                strings(&["holderIdentity"])
            ),
        ]
    );
    // Writing the same object again changes nothing, not even managedFields.
    let again = leases.replace("l", &pp, &stored).await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        stored.metadata.resource_version
    );
    // The creator of a POSTed object is its Update manager.
    let mut fresh = lease_apply("x");
    fresh["metadata"]["name"] = json!("m");
    let fresh: Lease = serde_json::from_value(fresh).unwrap();
    let created = leases
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &fresh,
        )
        .await
        .unwrap();
    assert_eq!(
        owners(&created),
        [(
            "creator".to_string(),
            "Update".to_string(),
            strings(&["holderIdentity", "leaseDurationSeconds", "renewTime"])
        )]
    );
}

#[tokio::test]
async fn an_apply_of_another_apply_managers_field_conflicts_unless_forced() {
    let c = cluster();
    let leases: Api<Lease> = Api::default_namespaced(c.client());
    leases
        .patch(
            "l",
            &PatchParams::apply("a"),
            &Patch::Apply(lease_apply("a")),
        )
        .await
        .unwrap();
    let take = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                      "spec": {"holderIdentity": "c"}});
    let s = api_err(
        leases
            .patch("l", &PatchParams::apply("c"), &Patch::Apply(&take))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message
            .contains("Apply failed with 1 conflict: conflict with \"a\": .spec.holderIdentity"),
        "{}",
        s.message
    );
    let unchanged = leases.get("l").await.unwrap();
    assert_eq!(
        unchanged.spec.unwrap().holder_identity.as_deref(),
        Some("a")
    );
    // The same value is no conflict: the field becomes shared.
    let same = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                      "spec": {"leaseDurationSeconds": 10}});
    let shared = leases
        .patch("l", &PatchParams::apply("d"), &Patch::Apply(&same))
        .await
        .unwrap();
    assert!(
        owners(&shared).contains(&(
            "d".to_string(),
            "Apply".to_string(),
            strings(&["leaseDurationSeconds"])
        )),
        "{:?}",
        owners(&shared)
    );
    let forced = leases
        .patch("l", &PatchParams::apply("c").force(), &Patch::Apply(&take))
        .await
        .unwrap();
    assert_eq!(
        forced.spec.clone().unwrap().holder_identity.as_deref(),
        Some("c")
    );
    assert_eq!(
        owners(&forced),
        [
            (
                "a".to_string(),
                "Apply".to_string(),
                strings(&["leaseDurationSeconds", "renewTime"])
            ),
            (
                "c".to_string(),
                "Apply".to_string(),
                strings(&["holderIdentity"])
            ),
            (
                "d".to_string(),
                "Apply".to_string(),
                strings(&["leaseDurationSeconds"])
            ),
        ],
        "ownership of the forced field moved from a to c"
    );
}

#[tokio::test]
async fn a_write_without_field_manager_is_recorded_under_its_user_agent() {
    let c = cluster();
    let client = c.client();
    let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ua"}, "data": {"k": "v"}}))
    .unwrap();
    let (code, _, created) = crate::raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[
            ("Content-Type", "application/json"),
            (
                "User-Agent",
                "kubectl-edit/v1.32.4 (linux/amd64) kubernetes/abc",
            ),
        ],
        body,
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "kubectl-edit"
    );
    // No User-Agent and no fieldManager (kube-rs sends none): no manager, as Go omits "".
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::default_namespaced(client.clone());
    let anonymous = cms
        .create(&PostParams::default(), &crate::configmap("anon", json!({})))
        .await
        .unwrap();
    let entries = anonymous.metadata.managed_fields.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager, None);
    assert_eq!(entries[0].operation.as_deref(), Some("Update"));
}

#[tokio::test]
async fn an_events_api_write_is_recorded_in_that_api_and_its_field_names() {
    use k8s_openapi::api::events::v1::Event;
    let c = cluster();
    let events: Api<Event> = Api::default_namespaced(c.client());
    let event: Event = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reason": "Test", "action": "Testing",
        "type": "Normal", "note": "first", "reportingController": "kube", "reportingInstance": "kube",
        "regarding": {"kind": "Namespace", "name": "default", "apiVersion": "v1"}
    }))
    .unwrap();
    events
        .create(&PostParams::default().clone(), &event)
        .await
        .unwrap();
    let patched = events
        .patch(
            "e1",
            &PatchParams {
                field_manager: Some("recorder".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"note": "second", "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}})),
        )
        .await
        .unwrap();
    let entries = patched.metadata.managed_fields.unwrap();
    let recorder = entries
        .iter()
        .find(|m| m.manager.as_deref() == Some("recorder"))
        .unwrap();
    assert_eq!(recorder.api_version.as_deref(), Some("events.k8s.io/v1"));
    let fields = &recorder.fields_v1.as_ref().unwrap().0;
    assert!(
        fields.get("f:note").is_some() && fields.get("f:series").is_some(),
        "{fields}"
    );
    assert!(
        fields.get("f:message").is_none(),
        "core field names leak: {fields}"
    );
    // The creator's entry lost `note` to the recorder and keeps the rest, in its own names.
    let creator = entries.iter().find(|m| m.manager.is_none()).unwrap();
    let fields = &creator.fields_v1.as_ref().unwrap().0;
    assert!(
        fields.get("f:regarding").is_some() && fields.get("f:note").is_none(),
        "{fields}"
    );
    // Read through the core API, the same entries are there as written.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(c.client());
    let seen = core.get("e1").await.unwrap();
    assert_eq!(seen.message.as_deref(), Some("second"));
    assert!(
        seen.metadata
            .managed_fields
            .unwrap()
            .iter()
            .any(|m| m.api_version.as_deref() == Some("events.k8s.io/v1"))
    );
}
