//! PersistentVolumeClaims: bind Pending claims, and show a raised storage request in
//! `status.capacity` (an online resize that always succeeds).

use serde_json::{Value, json};

use super::api::{SimClient, deleting, meta, object_path, write_status};

/// Reconciles every PersistentVolumeClaim.
pub async fn reconcile(client: &SimClient) {
    for pvc in client.list("/api/v1/persistentvolumeclaims").await {
        if deleting(&pvc) {
            continue;
        }
        let path = object_path("/api/v1", "persistentvolumeclaims", &pvc);
        if pvc.pointer("/spec/volumeName").is_none() {
            client
                .patch(
                    &path,
                    &json!({"spec": {"volumeName": format!("pvc-{}", meta(&pvc, "uid"))}}),
                )
                .await;
            continue;
        }
        let requested = pvc
            .pointer("/spec/resources/requests/storage")
            .cloned()
            .unwrap_or(Value::Null);
        let status = json!({
            "phase": "Bound",
            "accessModes": pvc.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
            "capacity": {"storage": requested},
        });
        write_status(client, &path, &pvc, status).await;
    }
}
