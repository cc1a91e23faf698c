//! Comparing what a rehearsed run did with what its case expects, and rendering the
//! difference.

use std::fmt::Write as _;

use serde_json::Value;

use super::file::Case;
use super::run::Actual;
use crate::api::workflow_execution::Failure;

/// One field that did not match.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// A scalar field: expected vs actual, as text.
    Field {
        /// The field, e.g. `phase` or `steps.scale_out`.
        field: String,
        /// What the case expects.
        expected: String,
        /// What happened.
        actual: String,
    },
    /// The sequence: both lists.
    Sequence {
        /// What the case expects.
        expected: Vec<String>,
        /// What happened.
        actual: Vec<String>,
    },
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What did not match; empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// The run's failure, shown to explain a mismatch.
    pub failure: Option<Failure>,
}

impl CaseReport {
    /// True when every expectation matched.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// The readable difference, indented, one field after another (empty if passed).
    pub fn render_diff(&self) -> String {
        let mut out = String::new();
        for m in &self.mismatches {
            match m {
                Mismatch::Field {
                    field,
                    expected,
                    actual,
                } => {
                    let _ = writeln!(out, "    {field}: expected {expected}, got {actual}");
                }
                Mismatch::Sequence { expected, actual } => {
                    render_sequence(&mut out, expected, actual);
                }
            }
        }
        if !self.mismatches.is_empty()
            && let Some(f) = &self.failure
        {
            let step = f
                .step
                .as_deref()
                .map(|s| format!(" at step {s}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    (the run failed{step}: {}: {})",
                f.reason.as_str(),
                f.message
            );
        }
        out
    }
}

fn render_sequence(out: &mut String, expected: &[String], actual: &[String]) {
    let first = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let _ = writeln!(out, "    sequence differs at #{}:", first + 1);
    let width = expected
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("expected".len());
    let _ = writeln!(out, "         {:<width$}  actual", "expected");
    for row in 0..expected.len().max(actual.len()) {
        let mark = if row == first { '>' } else { ' ' };
        let e = expected.get(row).map_or("", String::as_str);
        let a = actual.get(row).map_or("", String::as_str);
        let line = format!("    {mark}{:>3} {e:<width$}  {a}", row + 1);
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// Compare what happened with what the case expects.
pub fn compare(case: &Case, actual: &Actual) -> CaseReport {
    let st = &actual.status;
    let mut mismatches = Vec::new();
    let mut field = |name: String, expected: String, got: String| {
        if expected != got {
            mismatches.push(Mismatch::Field {
                field: name,
                expected,
                actual: got,
            });
        }
    };
    let show = |v: Option<String>| v.unwrap_or_else(|| "nothing".to_string());
    let e = &case.expect;
    if let Some(phase) = e.phase {
        field(
            "phase".into(),
            format!("{phase:?}"),
            show(st.phase.map(|p| format!("{p:?}"))),
        );
    }
    if let Some(outcome) = e.outcome {
        field(
            "outcome".into(),
            format!("{outcome:?}"),
            show(st.outcome.map(|o| format!("{o:?}"))),
        );
    }
    if let Some(reason) = e.failure_reason {
        field(
            "failure_reason".into(),
            reason.as_str().to_string(),
            show(st.failure.as_ref().map(|f| f.reason.as_str().to_string())),
        );
    }
    if let Some(params) = &e.parameters {
        let resolved = st.parameters.clone().unwrap_or_default();
        for (k, want) in params {
            match resolved.get(k) {
                Some(got) if same_value(want, got) => {}
                got => field(
                    format!("parameters.{k}"),
                    want.to_string(),
                    show(got.map(Value::to_string)),
                ),
            }
        }
    }
    if let Some(steps) = &e.steps {
        for (name, want) in steps {
            let got = st.steps.iter().find(|s| &s.name == name).map(|s| s.phase);
            field(
                format!("steps.{name}"),
                format!("{want:?}"),
                show(got.map(|p| format!("{p:?}"))),
            );
        }
    }
    if let Some(seq) = &e.sequence
        && seq != &actual.sequence
    {
        mismatches.push(Mismatch::Sequence {
            expected: seq.clone(),
            actual: actual.sequence.clone(),
        });
    }
    CaseReport {
        name: case.name.clone(),
        mismatches,
        failure: st.failure.clone(),
    }
}

/// JSON equality where numbers compare by value (`2` equals `2.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}
