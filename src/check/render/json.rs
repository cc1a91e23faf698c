//! The JSON renderer: an array of diagnostics with file, code, severity, message, positions,
//! labels and help.

use serde_json::{Value, json};

use crate::check::render::{FileReport, display_path, region};

/// Every diagnostic of every file, as a JSON array.
pub fn json(reports: &[FileReport]) -> Value {
    let mut all = Vec::new();
    for report in reports {
        let file = display_path(&report.source);
        for d in &report.diagnostics {
            let r = region(&report.source, d.span);
            let labels: Vec<Value> = d
                .labels
                .iter()
                .map(|l| {
                    let lr = region(&report.source, l.span);
                    json!({
                        "message": l.message,
                        "line": lr.line,
                        "column": lr.column,
                        "end_line": lr.end_line,
                        "end_column": lr.end_column,
                    })
                })
                .collect();
            all.push(json!({
                "file": file,
                "code": d.code,
                "severity": d.severity.as_str(),
                "message": d.message,
                "line": r.line,
                "column": r.column,
                "end_line": r.end_line,
                "end_column": r.end_column,
                "labels": labels,
                "help": d.help,
            }));
        }
    }
    Value::Array(all)
}
