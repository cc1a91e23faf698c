//! HorizontalPodAutoscalers without metrics: keep the target's replicas within
//! [minReplicas, maxReplicas] and report currentReplicas and desiredReplicas.

use serde_json::{Value, json};

use super::api::{SimClient, deleting, int, meta, object_path, write_status};
use crate::cluster::server::now;

/// Reconciles every HorizontalPodAutoscaler.
pub async fn reconcile(client: &SimClient) {
    for hpa in client
        .list("/apis/autoscaling/v2/horizontalpodautoscalers")
        .await
    {
        if deleting(&hpa) {
            continue;
        }
        let ns = meta(&hpa, "namespace");
        let kind = hpa
            .pointer("/spec/scaleTargetRef/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = hpa
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plural = match kind {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            "ReplicaSet" => "replicasets",
            _ => continue,
        };
        let scale_path = format!("/apis/apps/v1/namespaces/{ns}/{plural}/{name}/scale");
        let Some(scale) = client.get(&scale_path).await else {
            continue;
        };
        let current = int(&scale, "/spec/replicas");
        let min = hpa
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let max = int(&hpa, "/spec/maxReplicas").max(min);
        let desired = current.clamp(min, max);
        let mut status = json!({"currentReplicas": int(&scale, "/status/replicas"), "desiredReplicas": desired, "observedGeneration": int(&hpa, "/metadata/generation")});
        if let Some(t) = hpa.pointer("/status/lastScaleTime") {
            status["lastScaleTime"] = t.clone();
        }
        if desired != current {
            client
                .patch(&scale_path, &json!({"spec": {"replicas": desired}}))
                .await;
            status["lastScaleTime"] = json!(now());
        }
        write_status(
            client,
            &object_path("/apis/autoscaling/v2", "horizontalpodautoscalers", &hpa),
            &hpa,
            status,
        )
        .await;
    }
}
