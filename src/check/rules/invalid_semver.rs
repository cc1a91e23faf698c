//! Finds a workflow version that is not a semantic version.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A `version "…"` that is not a semantic version
    /// `MAJOR.MINOR.PATCH` (with optional `-pre` and `+build` parts).
    ///
    /// **Why.** The template catalog orders versions by semver to pick the newest one, and
    /// a WorkflowExecution pins `NAME@VERSION`.
    ///
    /// **Example.**
    /// ```text
    /// workflow "oom-recovery" version "1.2" { … }
    /// ```
    ///
    /// **How to fix.** Write all three numbers: `"1.2.0"`.
    code: "E0115",
    name: "invalid_semver",
    severity: Error,
    summary: "the workflow version is not a semantic version",
}

/// Report a version that semver does not accept.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let version = &cx.workflow.version;
    if let Err(e) = semver::Version::parse(&version.value) {
        let trimmed = version.value.trim_start_matches(['v', 'V']);
        let numbers: Vec<&str> = trimmed.split('.').collect();
        let help = if trimmed != version.value && semver::Version::parse(trimmed).is_ok() {
            format!("drop the `v`: \"{trimmed}\"")
        } else if numbers.len() < 3 && numbers.iter().all(|n| n.parse::<u64>().is_ok()) {
            let mut padded = numbers.clone();
            padded.resize(3, "0");
            format!("write MAJOR.MINOR.PATCH, e.g. \"{}\"", padded.join("."))
        } else {
            "write MAJOR.MINOR.PATCH, e.g. \"1.0.0\"".to_string()
        };
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "version \"{}\" is not a semantic version: {e}",
                    version.value
                ),
                version.span,
            )
            .with_help(help),
        );
    }
}
