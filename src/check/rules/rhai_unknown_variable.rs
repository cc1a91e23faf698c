//! Finds expressions that read a variable (or a module) nothing defines.

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::{known_names, sites, undefined};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::script::position;

rule! {
    /// **What it finds.** A name in a `${ … }` expression that is not a param, a let,
    /// `analysis`, `params`, `workflow`, `steps`, `self`, nor a local of the expression (a
    /// closure parameter); or `alias::f(…)` with no `import … as alias`. Bare identifier
    /// values (`with { namespace }`) are `unknown_identifier`'s.
    ///
    /// **Why.** Planning (or the step, at run time) fails with "variable not found".
    ///
    /// **Example.**
    /// ```text
    /// param deployment: string = ${ analysis.target.name }
    /// step s { action "restart_deployment" with { deployment: ${ deploymnet } } }
    /// ```
    ///
    /// **How to fix.** Fix the spelling, declare the param or let, or read the value
    /// through `analysis` (e.g. `analysis.metrics.x`).
    code: "E0202",
    name: "rhai_unknown_variable",
    severity: Error,
    summary: "an expression reads a variable or module nothing defines",
}

/// Report undefined names.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let mut known = None;
    for site in sites(cx) {
        let s = site.script;
        if s.bare {
            continue;
        }
        // Syntax errors are `rhai_syntax_error`'s.
        let names = undefined(cx, s.source);
        let Ok(names) = names.as_ref() else {
            continue;
        };
        for u in names {
            let start = s.key.start + position::offset_of(s.source, u.line, u.column);
            let span = Span::new(start, start + u.name.len());
            let d = if u.module {
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "no module is imported as `{}` (in {})",
                        u.name,
                        site.place.describe()
                    ),
                    span,
                )
                .with_help(format!(
                    "add `import \"lib/{}.rhai\" as {}`, or use an imported alias",
                    u.name, u.name
                ))
            } else {
                let known = known.get_or_insert_with(|| known_names(cx));
                let suggestion = crate::catalog::actions::closest(&u.name, known.iter().copied());
                Diagnostic::error(
                    INFO.code,
                    format!("unknown variable `{}` in {}", u.name, site.place.describe()),
                    span,
                )
                .with_help(crate::check::rules::did_you_mean(
                    suggestion,
                    "declare a param or let of that name, or read it through `analysis`",
                ))
            };
            out.push(d);
        }
    }
}
