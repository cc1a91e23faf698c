//! Finds `with` keys the action's schema does not have.

use crate::catalog::actions::closest;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;

rule! {
    /// **What it finds.** A key in `with { … }` that is not a parameter of the action.
    ///
    /// **Why.** The executor rejects unknown parameters; usually the key is a typo, and the
    /// value the author meant to pass never arrives.
    ///
    /// **Example.**
    /// ```text
    /// step scale_out {
    ///   action "scale_deployment"
    ///   with { namespace: namespace, deployment: deployment, replica: 3 }
    /// }
    /// ```
    ///
    /// **How to fix.** Rename the key to one of the action's parameters (the help suggests
    /// the closest), or remove it. `remedy actions TYPE` lists the parameters.
    code: "E0104",
    name: "unknown_action_param",
    severity: Error,
    summary: "`with` gives a parameter the action does not have",
}

/// Report every `with` key the action does not know.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in &cx.actions {
        let (Some(spec), Some(with)) = (site.spec, site.with) else {
            continue;
        };
        for entry in &with.map.entries {
            let key = &entry.key.name;
            if spec.param(key).is_some() {
                continue;
            }
            let suggestion = closest(key, spec.params.iter().map(|p| p.name));
            let all = spec
                .params
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect::<Vec<_>>()
                .join(", ");
            let help = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("`{}` takes {all}", spec.name),
            };
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "{}: action `{}` has no parameter `{key}`",
                        site.describe(),
                        spec.name
                    ),
                    entry.key.span,
                )
                .with_help(help),
            );
        }
    }
}
