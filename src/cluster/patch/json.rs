//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

use serde_json::Value;

use crate::cluster::error::ApiError;
use crate::cluster::limits::{
    MAX_JSON_PATCH_COPY, MAX_JSON_PATCH_OPS, json_size, too_many_patch_ops,
};

/// Applies a JSON merge patch to `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Applies a JSON patch (a list of operations) to `target`. As in Kubernetes, a `test` of a
/// missing path against `null` passes (kube-runtime's finalizer helper relies on it).
pub fn json(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    if ops.0.len() > MAX_JSON_PATCH_OPS {
        return Err(too_many_patch_ops(ops.0.len()));
    }
    // Each copy may double the document: their sizes add up against a bound, as
    // kube-apiserver bounds them, before anything is copied.
    let mut copied = 0usize;
    for op in &ops.0 {
        if let json_patch::PatchOperation::Copy(c) = op
            && let Some(from) = target.pointer(c.from.as_str())
        {
            let room = MAX_JSON_PATCH_COPY.saturating_sub(copied);
            match json_size(from, room) {
                Some(n) => copied += n,
                None => {
                    let size = json_size(from, usize::MAX).unwrap_or(usize::MAX);
                    return Err(ApiError::with_code(
                        422,
                        format!(
                            "the server rejected our request due to an error in our request: Unable to complete the copy, the accumulated size increase of copy is {}, exceeding the limit {MAX_JSON_PATCH_COPY}",
                            copied.saturating_add(size)
                        ),
                    ));
                }
            }
        }
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && target.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(target, std::slice::from_ref(op)).map_err(|e| {
            ApiError::with_code(
                422,
                format!("the server rejected our request due to an error in our request: {e}"),
            )
        })?;
    }
    Ok(())
}
