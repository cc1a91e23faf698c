//! Where the master key lives: the Secret `remedy-seal-key` in the operator's namespace. The
//! workflow controller creates it when it is missing; the executor only reads it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};

use super::{Keys, SealError};

/// The name of the Secret holding the master key.
pub const KEY_SECRET: &str = "remedy-seal-key";
/// The data key of the master key in that Secret.
pub const KEY_FIELD: &str = "key";

/// Why the master key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or creating the Secret failed.
    #[error("could not {verb} Secret {namespace}/{KEY_SECRET}: {source}")]
    Kube {
        /// What was being done.
        verb: &'static str,
        /// The operator's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The Secret exists but holds no usable key.
    #[error("Secret {namespace}/{KEY_SECRET}: {source}")]
    BadKey {
        /// The operator's namespace.
        namespace: String,
        /// What is wrong with it.
        #[source]
        source: SealError,
    },
}

/// The keys of the installation, if the Secret exists.
pub async fn load(client: &Client, namespace: &str) -> Result<Option<Keys>, StoreError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let found = api
        .get_opt(KEY_SECRET)
        .await
        .map_err(|source| StoreError::Kube {
            verb: "read",
            namespace: namespace.to_string(),
            source,
        })?;
    found.map(|s| keys_of(&s, namespace)).transpose()
}

/// The keys of the installation; the Secret is created with a fresh random key when it is
/// missing (when two replicas race, the one that loses reads the winner's).
pub async fn load_or_create(client: &Client, namespace: &str) -> Result<Keys, StoreError> {
    if let Some(keys) = load(client, namespace).await? {
        return Ok(keys);
    }
    let master = Keys::generate_master().map_err(|source| StoreError::BadKey {
        namespace: namespace.to_string(),
        source,
    })?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(KEY_SECRET.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                "remedy".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            KEY_FIELD.to_string(),
            ByteString(master),
        )])),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), &secret).await {
        Ok(created) => keys_of(&created, namespace),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            load(client, namespace)
                .await?
                .ok_or_else(|| StoreError::BadKey {
                    namespace: namespace.to_string(),
                    source: SealError::ShortKey(0),
                })
        }
        Err(source) => Err(StoreError::Kube {
            verb: "create",
            namespace: namespace.to_string(),
            source,
        }),
    }
}

fn keys_of(secret: &Secret, namespace: &str) -> Result<Keys, StoreError> {
    let master = secret
        .data
        .as_ref()
        .and_then(|d| d.get(KEY_FIELD))
        .map(|b| b.0.as_slice())
        .unwrap_or_default();
    Keys::from_master(master).map_err(|source| StoreError::BadKey {
        namespace: namespace.to_string(),
        source,
    })
}
