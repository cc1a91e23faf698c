//! Finds `after` naming a step that is unknown, declared later, the step itself, or in
//! another phase.

use crate::catalog::actions::closest;
use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A name in `step NAME after A, B` that is not a step declared above
    /// in the same phase: an unknown name, a step declared further down, the step itself,
    /// or a step of another phase (main, `verify`, `finally`).
    ///
    /// **Why.** `after` may only point backwards, which keeps the step graph acyclic by
    /// construction. Verify steps already run after every main step, and finally steps after
    /// everything, so across phases `after` means nothing.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out after raise_memory { action "scale_deployment" … }
    /// step raise_memory { action "increase_resources" … }
    /// ```
    ///
    /// **How to fix.** Move the step below the one it waits for, or fix the name (the help
    /// suggests the closest step).
    code: "E0112",
    name: "unknown_after_target",
    severity: Error,
    summary: "`after` names an unknown step, a later one, itself, or one of another phase",
}

/// Report every `after` target that is not an earlier step of the same phase.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for s in &cx.steps {
        let me = &s.step.name.name;
        for target in &s.step.after {
            let name = &target.name;
            let found = cx.step(name);
            let d = match found {
                Some(o) if o.index == s.index => Diagnostic::error(
                    INFO.code,
                    format!("step `{me}` names itself in `after`"),
                    target.span,
                )
                .with_help("a step cannot wait for itself; remove the name from `after`"),
                Some(o) if o.phase != s.phase => Diagnostic::error(
                    INFO.code,
                    format!(
                        "step `{me}` is a {} step, but `after` names `{name}`, a {} step",
                        s.phase.as_str(),
                        o.phase.as_str()
                    ),
                    target.span,
                )
                .with_label(o.step.name.span, format!("`{name}` is declared here"))
                .with_help(phase_help(s.phase)),
                Some(o) if o.index > s.index => Diagnostic::error(
                    INFO.code,
                    format!(
                        "step `{me}` names `{name}` in `after`, but `{name}` is declared later"
                    ),
                    target.span,
                )
                .with_label(o.step.name.span, format!("`{name}` is declared here"))
                .with_help(format!(
                    "`after` may only name steps declared above; move `{me}` below `{name}`"
                )),
                Some(_) => continue,
                None => {
                    let earlier = cx.steps[..s.index]
                        .iter()
                        .filter(|o| o.phase == s.phase)
                        .map(|o| o.step.name.name.as_str());
                    let help = match closest(name, earlier) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "`after` names steps declared above this one".to_string(),
                    };
                    Diagnostic::error(
                        INFO.code,
                        format!(
                            "step `{me}` names `{name}` in `after`, but there is no step `{name}`"
                        ),
                        target.span,
                    )
                    .with_help(help)
                }
            };
            out.push(d);
        }
    }
}

fn phase_help(phase: Phase) -> &'static str {
    match phase {
        Phase::Main => "main steps may only wait for earlier main steps",
        Phase::Verify => {
            "verify steps run after every main step anyway; `after` may name only earlier verify steps"
        }
        Phase::Finally => {
            "finally steps run after everything else; `after` may name only earlier finally steps"
        }
    }
}
