//! Sealing: credentials kept out of stored objects, and executions signed by the workflow
//! controller.
//!
//! One 32-byte master key per installation (a Secret in the operator's namespace, see
//! [`store`]) gives two keys: one seals values, one signs executions.
//!
//! - **Sealed values.** A sensitive value (under a key that names a credential, or a string
//!   holding a credential: see `redact`) is replaced in stored objects by
//!   `{"$sealed": "v1.<hex>"}`: the value's JSON, encrypted and authenticated
//!   (ChaCha20-Poly1305) with the run's uid as associated data, so it opens only for the run
//!   it was sealed for. The workflow controller seals the pinned plan and the parameters of
//!   the executions it creates; the executor seals the outputs it records; both open them in
//!   memory, where the engine and the actions need the values.
//! - **Execution digests.** The workflow controller writes on every KubernetesExecution it
//!   creates the annotation `kubernetesexecution.kubernaut.io/digest`: an HMAC-SHA256 over the
//!   run's uid and name, the execution's namespace, name, kind label and whole spec. Only a
//!   holder of the master key can make one, so the executor can tell an execution the
//!   workflow controller created from one made by anyone else.

pub mod store;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ring::rand::SecureRandom as _;
use ring::{aead, hmac, rand};
use serde_json::Value;

use crate::api::{JsonMap, KubernetesExecution, LABEL_KIND};
use crate::redact::{SEALED_KEY, credential_parts, is_credential_key, is_sealed, mentions_secret};

/// Bytes of the master key.
pub const MASTER_KEY_LEN: usize = 32;
/// Bytes of a ChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 12;
/// The version prefix of a sealed value's text.
const SEALED_PREFIX: &str = "v1.";
/// The prefix of an execution digest.
const DIGEST_PREFIX: &str = "hmac-sha256:";

/// What went wrong sealing, opening or keying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The master key is too short.
    #[error("the sealing key has {0} bytes; it needs {MASTER_KEY_LEN}")]
    ShortKey(usize),
    /// The system's random source failed.
    #[error("the system's random source failed")]
    Random,
    /// A sealed value is not `v1.<hex>` of a nonce and a ciphertext.
    #[error("a sealed value is malformed: {0}")]
    Malformed(String),
    /// A sealed value does not open with this key for this run.
    #[error("a sealed value does not open: it was sealed with another key or for another run")]
    Open,
}

/// The keys derived from the master key: one seals values, one signs executions.
pub struct Keys {
    sign: hmac::Key,
    seal: aead::LessSafeKey,
    rng: rand::SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(…)")
    }
}

impl Keys {
    /// A fresh random master key.
    pub fn generate_master() -> Result<Vec<u8>, SealError> {
        let mut master = vec![0u8; MASTER_KEY_LEN];
        rand::SystemRandom::new()
            .fill(&mut master)
            .map_err(|_| SealError::Random)?;
        Ok(master)
    }

    /// The keys of a master key (at least [`MASTER_KEY_LEN`] bytes).
    pub fn from_master(master: &[u8]) -> Result<Keys, SealError> {
        if master.len() < MASTER_KEY_LEN {
            return Err(SealError::ShortKey(master.len()));
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, master);
        let derive = |label: &[u8]| hmac::sign(&root, label);
        let seal_bytes = derive(b"remedy/seal/v1");
        let sign_bytes = derive(b"remedy/sign/v1");
        let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, seal_bytes.as_ref())
            .map_err(|_| SealError::ShortKey(master.len()))?;
        Ok(Keys {
            sign: hmac::Key::new(hmac::HMAC_SHA256, sign_bytes.as_ref()),
            seal: aead::LessSafeKey::new(unbound),
            rng: rand::SystemRandom::new(),
        })
    }

    /// `value` sealed for the run `run_uid`: `{"$sealed": "v1.<hex>"}`.
    pub fn seal(&self, run_uid: &str, value: &Value) -> Result<Value, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut data = value.to_string().into_bytes();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(run_uid.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        let mut text = String::with_capacity(SEALED_PREFIX.len() + 2 * (NONCE_LEN + data.len()));
        text.push_str(SEALED_PREFIX);
        text.push_str(&hex::encode(nonce));
        text.push_str(&hex::encode(&data));
        let mut map = JsonMap::new();
        map.insert(SEALED_KEY.to_string(), Value::String(text));
        Ok(Value::Object(map))
    }

    /// The value a sealed value holds, if it was sealed with this key for `run_uid`.
    pub fn open(&self, run_uid: &str, sealed: &Value) -> Result<Value, SealError> {
        let text = sealed
            .get(SEALED_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| SealError::Malformed("not a sealed value".into()))?;
        let hex_text = text
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| SealError::Malformed(format!("unknown version in `{}`", short(text))))?;
        let bytes = hex::decode(hex_text)
            .map_err(|e| SealError::Malformed(format!("{e} in `{}`", short(text))))?;
        if bytes.len() < NONCE_LEN + aead::CHACHA20_POLY1305.tag_len() {
            return Err(SealError::Malformed(format!(
                "`{}` is too short",
                short(text)
            )));
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut data = rest.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, aead::Aad::from(run_uid.as_bytes()), &mut data)
            .map_err(|_| SealError::Open)?;
        serde_json::from_slice(plain).map_err(|e| SealError::Malformed(e.to_string()))
    }

    /// Seals in place every sensitive part of `map` (see [`Keys::seal_value`]).
    pub fn seal_map(
        &self,
        run_uid: &str,
        map: &mut JsonMap,
        secrets: &BTreeSet<String>,
    ) -> Result<(), SealError> {
        for (key, value) in map.iter_mut() {
            self.seal_tree(run_uid, value, is_credential_key(key), secrets)?;
        }
        Ok(())
    }

    /// Seals in place every sensitive part of `value`: a value under a key naming a
    /// credential (whole), and a string that holds a credential-looking part or one of
    /// `secrets`. `credential` says whether `value` itself is under such a key. Sealed values
    /// stay as they are.
    pub fn seal_value(
        &self,
        run_uid: &str,
        value: &mut Value,
        credential: bool,
        secrets: &BTreeSet<String>,
    ) -> Result<(), SealError> {
        self.seal_tree(run_uid, value, credential, secrets)
    }

    fn seal_tree(
        &self,
        run_uid: &str,
        value: &mut Value,
        credential: bool,
        secrets: &BTreeSet<String>,
    ) -> Result<(), SealError> {
        if is_sealed(value) || value.is_null() {
            return Ok(());
        }
        if credential {
            *value = self.seal(run_uid, value)?;
            return Ok(());
        }
        match value {
            Value::Object(map) => self.seal_map(run_uid, map, secrets),
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|v| self.seal_tree(run_uid, v, false, secrets)),
            Value::String(s) if mentions_secret(s, secrets) => {
                *value = self.seal(run_uid, value)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Opens in place every sealed value inside `value`, adding what they held to `opened`
    /// (every number and string, or only the credential parts of a string that has some), so
    /// that messages can be scrubbed of them.
    pub fn open_value(
        &self,
        run_uid: &str,
        value: &mut Value,
        opened: &mut BTreeSet<String>,
    ) -> Result<(), SealError> {
        if is_sealed(value) {
            let mut inner = self.open(run_uid, value)?;
            // A sealed map may hold values sealed before it (an output passed on whole).
            self.open_value(run_uid, &mut inner, opened)?;
            remember(&inner, opened);
            *value = inner;
            return Ok(());
        }
        match value {
            Value::Object(map) => map
                .values_mut()
                .try_for_each(|v| self.open_value(run_uid, v, opened)),
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|v| self.open_value(run_uid, v, opened)),
            _ => Ok(()),
        }
    }

    /// The digest the workflow controller writes on `kex`, created for the run `run_uid`.
    pub fn execution_digest(&self, kex: &KubernetesExecution, run_uid: &str) -> String {
        let tag = hmac::sign(&self.sign, signed_text(kex, run_uid).as_bytes());
        format!("{DIGEST_PREFIX}{}", hex::encode(tag.as_ref()))
    }

    /// Whether `digest` is this key's digest of `kex` for the run `run_uid` (compared in
    /// constant time).
    pub fn verify_execution(&self, kex: &KubernetesExecution, run_uid: &str, digest: &str) -> bool {
        let Some(tag) = digest
            .strip_prefix(DIGEST_PREFIX)
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        hmac::verify(&self.sign, signed_text(kex, run_uid).as_bytes(), &tag).is_ok()
    }
}

/// Adds the strings and numbers of an opened value to `opened`.
fn remember(value: &Value, opened: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            let parts = credential_parts(s);
            // Free text sealed for the credential in it keeps the rest readable in messages;
            // any other sealed string is a credential as a whole.
            if parts.is_empty() {
                opened.insert(s.clone());
            }
            opened.extend(parts);
        }
        Value::Number(n) => {
            opened.insert(n.to_string());
        }
        Value::Object(map) => map.values().for_each(|v| remember(v, opened)),
        Value::Array(items) => items.iter().for_each(|v| remember(v, opened)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The first path inside `value` that holds something shaped like a sealed value.
pub fn find_sealed(value: &Value, path: &str) -> Option<String> {
    if is_sealed(value) || value.get(SEALED_KEY).is_some() {
        return Some(path.to_string());
    }
    match value {
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| find_sealed(v, &format!("{path}.{k}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_sealed(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// What an execution's digest covers, one field a line: the run's uid and name, the
/// execution's namespace, name and kind label, and its spec as canonical JSON.
fn signed_text(kex: &KubernetesExecution, run_uid: &str) -> String {
    let mut text = String::from("remedy-execution-v1\n");
    let meta = &kex.metadata;
    let kind = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_KIND))
        .map(String::as_str)
        .unwrap_or_default();
    for field in [
        run_uid,
        kex.spec.workflow_execution_ref.name.as_str(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
        kind,
    ] {
        canonical(&Value::String(field.to_string()), &mut text);
        text.push('\n');
    }
    match serde_json::to_value(&kex.spec) {
        Ok(spec) => canonical(&spec, &mut text),
        Err(_) => text.push('!'),
    }
    text
}

/// JSON with sorted keys and numbers as an API server gives them back (a whole float is an
/// integer), and without null fields (a server may drop them; absent and null mean the same
/// to the actions), so that an object read back from the cluster digests as written.
pub fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            // 2^53: above it a float no longer holds every integer.
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                let _ = write!(out, "{i}");
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn short(text: &str) -> String {
    if text.len() > 24 {
        format!("{}…", text.chars().take(24).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> Keys {
        Keys::from_master(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_run_and_key() {
        let k = keys();
        let v = json!({ "user": "app", "password": "hunter2" });
        let sealed = k.seal("uid-1", &v).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.to_string().contains("hunter2"));
        assert_eq!(k.open("uid-1", &sealed).unwrap(), v);
        assert_eq!(k.open("uid-2", &sealed), Err(SealError::Open));
        let other = Keys::from_master(&[8u8; 32]).unwrap();
        assert_eq!(other.open("uid-1", &sealed), Err(SealError::Open));
        // Two seals of one value differ (fresh nonces), both open.
        let again = k.seal("uid-1", &v).unwrap();
        assert_ne!(again, sealed);
        assert_eq!(k.open("uid-1", &again).unwrap(), v);
    }

    #[test]
    fn forged_and_damaged_seals_are_refused() {
        let k = keys();
        let sealed = k.seal("uid-1", &json!("hunter2")).unwrap();
        let text = sealed[SEALED_KEY].as_str().unwrap().to_string();
        let mut flipped = text.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [flipped.as_str(), "v1.zz", "v2.00", "v1.0011", ""] {
            assert!(
                k.open("uid-1", &json!({ "$sealed": bad })).is_err(),
                "{bad}"
            );
        }
        assert!(Keys::from_master(&[1u8; 16]).is_err());
    }

    #[test]
    fn sensitive_parts_are_sealed_and_open_back() {
        let k = keys();
        let secrets: BTreeSet<String> = ["hunter2".to_string()].into();
        let original = json!({
            "db_password": "hunter2",
            "note": "the pass is hunter2",
            "rootCause": "OOM; password=swordfish",
            "replicas": 3,
            "data": { "DB_PASSWORD": "x", "mode": "fast" },
            "done": { "$sealed": "v1.kept-as-is" },
        });
        let mut v = original.clone();
        k.seal_value("uid", &mut v, false, &secrets).unwrap();
        let text = v.to_string();
        for clear in ["hunter2", "swordfish", "\"x\""] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        assert_eq!(v["replicas"], 3);
        assert_eq!(v["data"]["mode"], "fast");
        assert_eq!(v["done"], json!({ "$sealed": "v1.kept-as-is" }));
        v["done"] = json!(null);
        let mut opened = BTreeSet::new();
        k.open_value("uid", &mut v, &mut opened).unwrap();
        let mut expected = original;
        expected["done"] = json!(null);
        assert_eq!(v, expected);
        assert!(opened.contains("hunter2") && opened.contains("swordfish"));
    }

    #[test]
    fn digests_cover_the_spec_and_survive_a_round_trip_through_the_server() {
        let k = keys();
        let kex: KubernetesExecution = serde_json::from_value(json!({
            "apiVersion": "kubernetesexecution.kubernaut.io/v1alpha1",
            "kind": "KubernetesExecution",
            "metadata": { "name": "run-a-1", "namespace": "shop",
                          "labels": { "workflowexecution.kubernaut.io/kind": "step" } },
            "spec": { "workflowExecutionRef": { "name": "run" }, "step": "a", "attempt": 1,
                      "action": { "type": "scale_deployment",
                                  "parameters": { "replicas": 3.0, "factor": 1.5, "z": 1, "a": "b" } } }
        }))
        .unwrap();
        let digest = k.execution_digest(&kex, "uid-1");
        assert!(k.verify_execution(&kex, "uid-1", &digest));
        assert!(!k.verify_execution(&kex, "uid-2", &digest));
        // An API server gives `3.0` back as `3`: the digest still holds.
        let mut back = kex.clone();
        back.spec
            .action
            .parameters
            .insert("replicas".into(), json!(3));
        assert!(k.verify_execution(&back, "uid-1", &digest));
        let mut forged = kex.clone();
        forged
            .spec
            .action
            .parameters
            .insert("replicas".into(), json!(0));
        assert!(!k.verify_execution(&forged, "uid-1", &digest));
        let mut relabelled = kex.clone();
        relabelled.metadata.labels = None;
        assert!(!k.verify_execution(&relabelled, "uid-1", &digest));
        // A server that drops a null parameter gives back the same execution.
        let mut with_null = kex.clone();
        with_null
            .spec
            .action
            .parameters
            .insert("absent".into(), Value::Null);
        assert!(k.verify_execution(&with_null, "uid-1", &digest));
        let mut dry = kex;
        dry.spec.dry_run = true;
        assert!(!k.verify_execution(&dry, "uid-1", &digest));
        assert!(!k.verify_execution(&back, "uid-1", "hmac-sha256:00"));
        assert!(!k.verify_execution(&back, "uid-1", "garbage"));
    }
}
