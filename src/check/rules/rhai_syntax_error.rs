//! Finds `${ … }` expressions and imported modules that are not valid rhai.

use std::collections::BTreeMap;

use crate::check::rules::RuleContext;
use crate::check::rules::rhai_sites::{sites, undefined};
use crate::diagnostic::Diagnostic;
use crate::script::{ScriptEngine, ScriptError, position};

rule! {
    /// **What it finds.** An expression inside `${ … }` that rhai cannot parse, reported at
    /// its position in the `.wf` file; or an imported `.rhai` module that does not compile
    /// or fails while loading (reported at the import).
    ///
    /// **Why.** The template cannot be loaded: every expression is compiled when it is.
    ///
    /// **Example.**
    /// ```text
    /// let new_limit = ${ mem::scale(analysis.metrics.memory_limit, factor }
    /// ```
    ///
    /// **How to fix.** Correct the expression (one rhai expression: no `let`, no `;`);
    /// for a module, fix the file at the line and column given.
    code: "E0201",
    name: "rhai_syntax_error",
    severity: Error,
    summary: "an expression or an imported module is not valid rhai",
}

/// Report expressions and modules that do not compile.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for site in sites(cx) {
        let s = site.script;
        if let Err(e) = undefined(cx, s.source).as_ref() {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("invalid rhai in {}: {}", site.place.describe(), e.message()),
                    position::span_in_file(s.source, s.key, e.position()),
                )
                .with_help("write one rhai expression (no `let`, no `;`); see docs/scripting.md"),
            );
        }
    }
    for (index, import) in cx.workflow.imports().enumerate() {
        // Files that cannot be read are `missing_import`'s findings.
        let Some(Ok(source)) = cx.import_source(index) else {
            continue;
        };
        let modules = BTreeMap::from([(import.alias.name.clone(), source.clone())]);
        if let Err(ScriptError::Module { error, .. }) = ScriptEngine::new(&modules) {
            let at = error
                .position()
                .map(|(l, c)| format!(" at line {l}, column {c}"))
                .unwrap_or_default();
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "module \"{}\" does not load{at}: {}",
                        import.path.value,
                        error.message()
                    ),
                    import.path.span,
                )
                .with_help(
                    "fix the module file; modules may define functions and constants, not `import`",
                ),
            );
        }
    }
}
