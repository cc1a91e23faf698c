//! Finds main steps with a reversible action and no `rollback` block.

use crate::catalog::Effect;
use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::{Item, RollbackMode};

rule! {
    /// **What it finds.** A main step whose action is `reversible` (e.g.
    /// `scale_deployment`, `cordon_node`) but that has no `rollback { … }` block. Not
    /// reported when the workflow says `rollback none`.
    ///
    /// **Why.** When a later step fails, the saga undoes completed steps through their
    /// `rollback` blocks; a reversible step without one stays changed, leaving the cluster
    /// half-remediated.
    ///
    /// **Example.**
    /// ```text
    /// step cordon { action "cordon_node"  with { node: node } }
    /// ```
    ///
    /// **How to fix.** Add a `rollback { action "…" with { … } }` block that undoes the step;
    /// `remedy actions TYPE` shows the usual compensation.
    code: "W0101",
    name: "reversible_without_rollback",
    severity: Warning,
    summary: "a reversible step has no `rollback` block",
}

/// Report reversible main steps without compensation.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let no_rollback = cx
        .workflow
        .items
        .iter()
        .any(|i| matches!(i, Item::RollbackMode(m) if m.mode == RollbackMode::None));
    if no_rollback {
        return;
    }
    for s in cx.steps.iter().filter(|s| s.phase == Phase::Main) {
        let (Some(action), None) = (s.step.action(), s.step.rollback()) else {
            continue;
        };
        let Some(spec) = cx.ctx.actions.get(&action.name.value) else {
            continue;
        };
        if spec.effect != Effect::Reversible {
            continue;
        }
        let help = if spec.compensation.is_empty() {
            "add a `rollback { action \"…\" with { … } }` block that undoes the step".to_string()
        } else {
            format!(
                "add a `rollback {{ … }}` block that undoes the step; usually: {}",
                spec.compensation
            )
        };
        out.push(
            Diagnostic::warning(
                INFO.code,
                format!(
                    "step `{}` runs `{}`, which is reversible, but has no `rollback` block",
                    s.step.name.name, spec.name
                ),
                action.name.span,
            )
            .with_help(help),
        );
    }
}
