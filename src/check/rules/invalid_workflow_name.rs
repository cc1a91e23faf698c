//! Finds a workflow name that is not Kubernetes-name-like.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A `workflow "NAME"` whose NAME is not lowercase letters, digits and
    /// `-`, starting and ending with a letter or digit, at most 63 characters.
    ///
    /// **Why.** The name is used in Kubernetes object names and labels (the
    /// WorkflowExecution refers to `NAME@VERSION`), which only accept such names.
    ///
    /// **Example.**
    /// ```text
    /// workflow "OOM_Recovery" version "1.0.0" { … }
    /// ```
    ///
    /// **How to fix.** Use lowercase and `-`, e.g. `oom-recovery`.
    code: "E0114",
    name: "invalid_workflow_name",
    severity: Error,
    summary: "the workflow name is not a Kubernetes-style name",
}

/// Why `name` is not a valid workflow name, if it is not.
pub fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    let len = name.chars().count();
    if len > 63 {
        return Some(format!("it is {len} characters long (at most 63)"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!("it contains `{c}`"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it starts or ends with `-`".into());
    }
    None
}

/// The closest valid name, for the help.
fn suggestion(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '-' => c,
            _ => '-',
        })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    trimmed.trim_end_matches('-').to_string()
}

/// Report an invalid workflow name.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let name = &cx.workflow.name;
    if let Some(why) = problem(&name.value) {
        let fixed = suggestion(&name.value);
        let help = if fixed.is_empty() || problem(&fixed).is_some() {
            "use lowercase letters, digits and `-`, e.g. \"oom-recovery\"".to_string()
        } else {
            format!("use lowercase letters, digits and `-`, e.g. \"{fixed}\"")
        };
        out.push(
            Diagnostic::error(
                INFO.code,
                format!("workflow name \"{}\" is not valid: {why}", name.value),
                name.span,
            )
            .with_help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(problem("oom-recovery"), None);
        assert_eq!(problem("a"), None);
        assert!(problem("Oom").is_some());
        assert!(problem("-x").is_some());
        assert!(problem(&"a".repeat(64)).is_some());
        assert_eq!(problem(&"a".repeat(63)), None);
        assert_eq!(suggestion("OOM_Recovery"), "oom-recovery");
    }
}
