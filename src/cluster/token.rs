//! ServiceAccount tokens: `serviceaccounts/NAME/token` (TokenRequest) issues a signed JWT
//! for the ServiceAccount, and `tokenreviews` (TokenReview) checks one, as kube-apiserver's
//! token authenticator does: signature, issuer, validity window, audiences, and that the
//! ServiceAccount (and the object the token is bound to) still exists with the same uid.
//! Tokens are signed with HMAC-SHA256 under a key each server draws at start (kube-apiserver
//! signs with its service-account key, RS256), so they are valid for that server only.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::{ApiError, cause};
use super::server::{Query, Server, Target, now};
use super::store::{State, meta_str};

/// The issuer and default audience of the tokens, as in most clusters.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 1 << 32;

/// The key a server signs tokens with (never printed).
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl Default for TokenKey {
    /// A fresh random key.
    fn default() -> Self {
        TokenKey(new_key())
    }
}

fn new_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut inner_pad = [0x36u8; 64];
    let mut outer_pad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn sign(key: &[u8; 32], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(hmac(key, signed.as_bytes()));
    format!("{signed}.{signature}")
}

/// The claims of a token this server signed, or why it is not one.
fn verify(key: &[u8; 32], token: &str) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("token is not a JWT");
    };
    let expected = hmac(key, format!("{header}.{payload}").as_bytes());
    let given = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "token signature is invalid")?;
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err("token signature is invalid");
    }
    let claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or("token claims are invalid")?;
    Ok(claims)
}

fn seconds_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn timestamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a bound object lives: (resource key, namespace), for the kinds a token can be bound to.
fn bound_location(kind: &str, ns: &str) -> Option<((String, String), String)> {
    match kind {
        "Pod" => Some(((String::new(), "pods".into()), ns.to_string())),
        "Secret" => Some(((String::new(), "secrets".into()), ns.to_string())),
        "Node" => Some(((String::new(), "nodes".into()), String::new())),
        _ => None,
    }
}

/// POST `serviceaccounts/NAME/token`: a TokenRequest answered with a signed token.
pub fn request(
    server: &Arc<Server>,
    t: &Target,
    body: &Value,
    _q: &Query,
) -> Result<Value, ApiError> {
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != "TokenRequest"
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version (authentication.k8s.io/v1) or kind {kind} is not TokenRequest",
            body.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )));
    }
    let ns = t.ns().to_string();
    let name = t.name().to_string();
    let state = server.lock();
    let sa = state
        .get(&t.rt.key(), &ns, &name)
        .ok_or_else(|| ApiError::not_found("serviceaccounts", "", &name))?;
    let mut audiences = strings(body.pointer("/spec/audiences"));
    if audiences.is_empty() {
        audiences.push(ISSUER.to_string());
    }
    let expiration = match body.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => 3600,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    let invalid = |field: &str, msg: String| {
        ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            "",
            vec![cause("FieldValueInvalid", field, msg)],
        )
    };
    if expiration < MIN_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(
            "spec.expirationSeconds",
            format!(
                "Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let mut kube = json!({
        "namespace": ns,
        "serviceaccount": {"name": name, "uid": meta_str(&sa, "uid")},
    });
    let bound = body
        .pointer("/spec/boundObjectRef")
        .filter(|b| !b.is_null())
        .cloned();
    if let Some(b) = &bound {
        let kind = b.get("kind").and_then(Value::as_str).unwrap_or_default();
        let bound_name = b.get("name").and_then(Value::as_str).unwrap_or_default();
        let Some((key, bound_ns)) = bound_location(kind, &ns) else {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount \"{name}\" to object of type {kind}"
            )));
        };
        let obj = state
            .get(&key, &bound_ns, bound_name)
            .ok_or_else(|| ApiError::not_found(&key.1, "", bound_name))?;
        let uid = meta_str(&obj, "uid").unwrap_or_default();
        if let Some(want) = b.get("uid").and_then(Value::as_str)
            && !want.is_empty()
            && want != uid
        {
            return Err(ApiError::conflict_with(
                &key.1,
                "",
                bound_name,
                format!(
                    "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        kube[kind.to_lowercase()] = json!({"name": bound_name, "uid": uid});
    }
    drop(state);
    let issued = seconds_now();
    let expires = issued + expiration;
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": issued,
        "nbf": issued,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "kubernetes.io": kube,
    });
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": now()},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound},
        "status": {"token": sign(&server.token_key.0, &claims), "expirationTimestamp": timestamp(expires)},
    }))
}

/// Checks a token's claims against the cluster: the user it authenticates, or why not.
fn authenticate(state: &State, claims: &Value, requested: &[String]) -> Result<Value, String> {
    let now = seconds_now();
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Err("token issuer is not trusted".into());
    }
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = claims.get("nbf").and_then(Value::as_i64).unwrap_or(0);
    if now >= exp {
        return Err("token has expired".into());
    }
    if now < nbf {
        return Err("token is not valid yet".into());
    }
    let token_audiences = strings(claims.get("aud"));
    let wanted: Vec<String> = if requested.is_empty() {
        vec![ISSUER.to_string()]
    } else {
        requested.to_vec()
    };
    let audiences: Vec<String> = wanted
        .into_iter()
        .filter(|a| token_audiences.contains(a))
        .collect();
    if audiences.is_empty() {
        return Err("token audiences is invalid".into());
    }
    let kube = claims.get("kubernetes.io").cloned().unwrap_or(Value::Null);
    let ns = kube
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sa_name = kube
        .pointer("/serviceaccount/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sa_uid = kube
        .pointer("/serviceaccount/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalidated = || "service account token has been invalidated".to_string();
    let sa = state
        .get(&(String::new(), "serviceaccounts".into()), ns, sa_name)
        .ok_or_else(invalidated)?;
    if meta_str(&sa, "uid") != Some(sa_uid) {
        return Err(invalidated());
    }
    for kind in ["Pod", "Secret", "Node"] {
        let Some(bound) = kube.get(kind.to_lowercase()) else {
            continue;
        };
        let Some((key, bound_ns)) = bound_location(kind, ns) else {
            continue;
        };
        let name = bound
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let obj = state.get(&key, &bound_ns, name).ok_or_else(invalidated)?;
        if meta_str(&obj, "uid") != bound.get("uid").and_then(Value::as_str) {
            return Err(invalidated());
        }
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(json!({
        "user": {
            "username": format!("system:serviceaccount:{ns}:{sa_name}"),
            "uid": sa_uid,
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": [format!("JTI={jti}")]},
        },
        "audiences": audiences,
    }))
}

/// POST `tokenreviews`: whether a token authenticates, and as whom.
pub fn review(server: &Arc<Server>, t: &Target, body: &Value) -> Result<Value, ApiError> {
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != t.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version (authentication.k8s.io/v1) or kind {kind} is not TokenReview",
            body.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )));
    }
    let token = body
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::invalid(
            "TokenReview",
            "authentication.k8s.io",
            "",
            vec![cause("FieldValueRequired", "spec.token", "Required value")],
        ));
    }
    let requested = strings(body.pointer("/spec/audiences"));
    let outcome = verify(&server.token_key.0, token)
        .map_err(str::to_string)
        .and_then(|claims| authenticate(&server.lock(), &claims, &requested));
    let status = match outcome {
        Ok(mut s) => {
            s["authenticated"] = json!(true);
            s
        }
        Err(why) => json!({"user": {}, "error": format!("[invalid bearer token, {why}]")}),
    };
    let mut spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(s) = spec.as_object_mut()
        && !s.contains_key("audiences")
    {
        s.insert("audiences".into(), json!([]));
    }
    Ok(json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_under_its_key_only_and_unaltered() {
        let key = new_key();
        let token = sign(&key, &json!({"sub": "x"}));
        assert_eq!(verify(&key, &token).unwrap()["sub"], "x");
        assert!(verify(&new_key(), &token).is_err());
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_claims;
        assert_eq!(
            verify(&key, &parts.join(".")).err(),
            Some("token signature is invalid")
        );
        assert!(verify(&key, "a.b").is_err());
        // RFC 4231, test case 1 (a 20-byte key, zero-padded as HMAC pads it anyway).
        let mut rfc_key = [0u8; 32];
        rfc_key[..20].fill(0x0b);
        assert_eq!(
            hex::encode(hmac(&rfc_key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }
}
