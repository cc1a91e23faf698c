//! The size limits kube-apiserver and etcd put on requests, objects and JSON patches, and the
//! errors they answer with. docs/cluster.md lists them.

use serde_json::Value;

use super::error::ApiError;

/// The most bytes a request body may have (kube-apiserver's `MaxRequestBodyBytes`, 3 MiB).
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;
/// The most bytes a stored object may have (etcd's default `--max-request-bytes`, 1.5 MiB).
pub const MAX_OBJECT: usize = 1536 * 1024;
/// The most operations a JSON patch may have (kube-apiserver's `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPS: usize = 10_000;
/// The most bytes the `copy` operations of one JSON patch may add up to (kube-apiserver's
/// `JSONPatchMaxCopyBytes`, 3 MiB).
pub const MAX_JSON_PATCH_COPY: usize = 3 * 1024 * 1024;

/// 413 for a request body over [`MAX_REQUEST_BODY`].
pub fn body_too_large() -> ApiError {
    ApiError::entity_too_large(format!("limit is {MAX_REQUEST_BODY}"))
}

/// 413 for a JSON patch of more than [`MAX_JSON_PATCH_OPS`] operations.
pub fn too_many_patch_ops(got: usize) -> ApiError {
    ApiError::entity_too_large(format!(
        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {got}"
    ))
}

/// The bytes of `v` written as JSON, or None once they pass `budget` (counted without
/// writing anything, and without walking further than the budget).
pub fn json_size(v: &Value, budget: usize) -> Option<usize> {
    fn string_len(s: &str) -> usize {
        // Quotes, and escapes for the characters JSON escapes.
        2 + s
            .chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if (c as u32) < 0x20 => 6,
                c => c.len_utf8(),
            })
            .sum::<usize>()
    }
    fn walk(v: &Value, used: &mut usize, budget: usize) -> bool {
        *used += match v {
            Value::Null => 4,
            Value::Bool(b) => {
                if *b {
                    4
                } else {
                    5
                }
            }
            Value::Number(n) => n.to_string().len(),
            Value::String(s) => string_len(s),
            Value::Array(a) => {
                *used += 2 + a.len().saturating_sub(1);
                for x in a {
                    if !walk(x, used, budget) {
                        return false;
                    }
                }
                0
            }
            Value::Object(m) => {
                *used += 2 + m.len().saturating_sub(1);
                for (k, x) in m {
                    *used += string_len(k) + 1;
                    if !walk(x, used, budget) {
                        return false;
                    }
                }
                0
            }
        };
        *used <= budget
    }
    let mut used = 0;
    walk(v, &mut used, budget).then_some(used)
}

/// Refuses an object etcd would refuse: kube-apiserver passes etcd's error on as a 500
/// `etcdserver: request is too large`.
pub fn object_fits(obj: &Value) -> Result<(), ApiError> {
    match json_size(obj, MAX_OBJECT) {
        Some(_) => Ok(()),
        None => Err(ApiError::unknown(500, "etcdserver: request is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_counts_what_serde_writes() {
        for v in [
            json!({"a": [1, 2.5, "x\"y\n\u{1}", null, true, false], "b": {}, "é": []}),
            json!("plain"),
            json!([]),
        ] {
            let text = serde_json::to_string(&v).unwrap_or_default();
            assert_eq!(json_size(&v, usize::MAX), Some(text.len()), "{text}");
        }
        assert_eq!(json_size(&json!({"a": "x".repeat(100)}), 50), None);
    }
}
