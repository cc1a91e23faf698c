//! The SARIF 2.1.0 renderer, in the shape GitHub code scanning accepts.

use serde_json::{Value, json};

use crate::check::render::{FileReport, SYNTAX_CODES, display_path, region};
use crate::check::rules::RULES;
use crate::diagnostic::Severity;

/// Where the rules are documented.
pub const INFORMATION_URI: &str =
    "https://github.com/remedy-project/remedy/blob/main/docs/rules.md";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The rule descriptors: syntax codes, then every lint rule.
fn rules() -> Vec<Value> {
    let mut out: Vec<Value> = SYNTAX_CODES
        .iter()
        .map(|(code, name, summary)| {
            json!({
                "id": code,
                "name": name,
                "shortDescription": { "text": summary },
                "fullDescription": { "text": summary },
                "help": { "text": "Fix the syntax at the marked place; the message says what was expected." },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    for rule in RULES {
        let i = &rule.info;
        let doc = i.doc_text();
        // Code scanning shows at most 1024 characters of a description: use the first
        // paragraph ("What it finds"); the whole text goes in `help`.
        let first: String = doc
            .split("\n\n")
            .next()
            .unwrap_or(i.summary)
            .trim_start_matches("**What it finds.** ")
            .replace('\n', " ")
            .chars()
            .take(1000)
            .collect();
        out.push(json!({
            "id": i.code,
            "name": i.name,
            "shortDescription": { "text": i.summary },
            "fullDescription": { "text": first },
            "help": { "text": doc, "markdown": doc },
            "helpUri": format!("{INFORMATION_URI}#{}", i.code.to_lowercase()),
            "defaultConfiguration": { "level": level(i.severity) },
        }));
    }
    out
}

/// Every diagnostic of every file as one SARIF log.
pub fn sarif(reports: &[FileReport]) -> Value {
    let rules = rules();
    let index_of = |code: &str| {
        rules
            .iter()
            .position(|r| r.get("id").and_then(Value::as_str) == Some(code))
    };
    let mut results = Vec::new();
    for report in reports {
        let uri = artifact_uri(&display_path(&report.source));
        for d in &report.diagnostics {
            let r = region(&report.source, d.span);
            let text = match &d.help {
                Some(h) => format!("{} (help: {h})", d.message),
                None => d.message.clone(),
            };
            let related: Vec<Value> = d
                .labels
                .iter()
                .enumerate()
                .map(|(n, l)| {
                    let lr = region(&report.source, l.span);
                    json!({
                        "id": n,
                        "message": { "text": l.message },
                        "physicalLocation": physical(&uri, lr),
                    })
                })
                .collect();
            let mut result = json!({
                "ruleId": d.code,
                "level": level(d.severity),
                "message": { "text": text },
                "locations": [ { "physicalLocation": physical(&uri, r) } ],
            });
            if let Some(i) = index_of(d.code) {
                result["ruleIndex"] = json!(i);
            }
            if !related.is_empty() {
                result["relatedLocations"] = Value::Array(related);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": {
                "name": "remedy",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rules,
            } },
            "results": results,
        } ],
    })
}

/// A relative path as is; an absolute one as a `file://` URI.
fn artifact_uri(path: &str) -> String {
    if path.starts_with('/') {
        format!("file://{path}")
    } else if path.as_bytes().get(1) == Some(&b':') {
        format!("file:///{path}")
    } else {
        path.to_string()
    }
}

fn physical(uri: &str, r: crate::check::render::Region) -> Value {
    json!({
        "artifactLocation": { "uri": uri },
        "region": {
            "startLine": r.line,
            "startColumn": r.column,
            "endLine": r.end_line,
            "endColumn": r.end_column,
        },
    })
}
