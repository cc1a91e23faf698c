//! Keeping the status bounded: step outputs and messages are capped.

use serde_json::{Value, json};

use crate::api::JsonMap;

/// The largest step output kept in status, serialized; larger outputs become a marker.
pub const MAX_OUTPUT_BYTES: usize = 4096;
/// The longest message kept in status; longer ones are cut and end with `…`.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The output as status keeps it: itself, or `{truncated: true, bytes: N}` when too large.
pub(crate) fn cap_output(output: &JsonMap) -> JsonMap {
    let size = serde_json::to_vec(output)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size <= MAX_OUTPUT_BYTES {
        return output.clone();
    }
    let Value::Object(marker) = json!({ "truncated": true, "bytes": size }) else {
        return JsonMap::new();
    };
    marker
}

/// The message as status keeps it: cut on a character boundary, marked with `…`.
pub(crate) fn cap_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_outputs_become_a_marker() {
        let mut big = JsonMap::new();
        big.insert("blob".into(), Value::String("x".repeat(5000)));
        let capped = cap_output(&big);
        assert_eq!(capped.get("truncated"), Some(&Value::Bool(true)));
        let mut small = JsonMap::new();
        small.insert("replicas".into(), json!(3));
        assert_eq!(cap_output(&small), small);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let m = "é".repeat(1000);
        let cut = cap_message(&m);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert!(cut.ends_with('…'));
        assert_eq!(cap_message("short"), "short");
    }
}
