//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount.

use serde_json::{Value, json};

use super::api::{SimClient, collection_path, meta};

/// Creates the `default` ServiceAccount of every active namespace that lacks one.
pub async fn reconcile(client: &SimClient) {
    let namespaces = client.list("/api/v1/namespaces").await;
    let accounts = client.list("/api/v1/serviceaccounts").await;
    for ns in namespaces {
        let name = meta(&ns, "name");
        let active = ns.pointer("/status/phase").and_then(Value::as_str) == Some("Active");
        let has = accounts
            .iter()
            .any(|a| meta(a, "namespace") == name && meta(a, "name") == "default");
        if active && !has {
            client
                .create(
                    &collection_path("/api/v1", "serviceaccounts", name),
                    &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
                )
                .await;
        }
    }
}
