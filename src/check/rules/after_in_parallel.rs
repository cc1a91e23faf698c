//! Finds `after` on a member of a `parallel` group.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;

rule! {
    /// **What it finds.** A step inside `parallel { … }` that carries `after`.
    ///
    /// **Why.** Every member of a group depends on what the group depends on; a member with
    /// its own dependencies would no longer run in parallel with the others.
    ///
    /// **Example.**
    /// ```text
    /// parallel {
    ///   step a { action "collect_diagnostics" … }
    ///   step b after a { action "backup_data" … }
    /// }
    /// ```
    ///
    /// **How to fix.** Remove `after` from the member; to order it after other steps, move
    /// the whole group below them, or take the step out of the group.
    code: "E0113",
    name: "after_in_parallel",
    severity: Error,
    summary: "a member of a `parallel` group carries `after`",
}

/// Report `after` on parallel group members.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let (Some(group), Some(first), Some(last)) =
            (s.group, s.step.after.first(), s.step.after.last())
        else {
            continue;
        };
        let group_head = Span::new(group.span.start, group.span.start + "parallel".len());
        out.push(
            Diagnostic::error(
                INFO.code,
                format!(
                    "step `{}` is in a `parallel` group, so it may not carry `after`",
                    s.step.name.name
                ),
                first.span.join(last.span),
            )
            .with_label(group_head, "the group starts here")
            .with_help(
                "remove `after`: a group's members wait for what the group waits for; \
                 move the group, or take the step out of it",
            ),
        );
    }
}
