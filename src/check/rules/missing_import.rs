//! Finds `import "PATH"` naming a file that does not exist or lies outside the template's
//! directory.

use crate::script::modules::stays_inside;
use std::path::Path;

use crate::catalog::actions::closest;
use crate::check::diagnostic::Diagnostic;
use crate::check::rules::RuleContext;

rule! {
    /// **What it finds.** An `import "PATH" as ALIAS` whose PATH, taken relative to the
    /// template's directory, is not a file, or leaves that directory (absolute paths, `..`).
    ///
    /// **Why.** Imports are read when the template is loaded and are part of its digest;
    /// a missing file makes the template unloadable, and a path outside the template
    /// directory would not travel with it.
    ///
    /// **Example.**
    /// ```text
    /// import "lib/memroy.rhai" as mem
    /// ```
    ///
    /// **How to fix.** Fix the path (relative to the `.wf` file), or add the file; keep
    /// script files inside the template directory (e.g. `lib/`).
    code: "E0116",
    name: "missing_import",
    severity: Error,
    summary: "an `import` names a missing file or one outside the template directory",
}

/// The closest existing file name in the directory the import points into.
fn sibling_suggestion(full: &Path, rel: &Path) -> Option<String> {
    let wanted = full.file_name()?.to_str()?;
    let entries = std::fs::read_dir(full.parent()?).ok()?;
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let best = closest(wanted, names.iter().map(String::as_str))?;
    Some(
        rel.with_file_name(best)
            .to_string_lossy()
            .replace('\\', "/"),
    )
}

/// Report imports that escape the directory or do not exist.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for import in cx.workflow.imports() {
        let rel = Path::new(&import.path.value);
        if !stays_inside(rel) {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!(
                        "import \"{}\" leaves the template's directory",
                        import.path.value
                    ),
                    import.path.span,
                )
                .with_help("keep scripts beside the template, e.g. in `lib/`, and import them by a relative path"),
            );
            continue;
        }
        let Some(dir) = &cx.ctx.template_dir else {
            continue;
        };
        let full = dir.join(rel);
        if !cx.ctx.import_exists(&full) {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("import \"{}\" does not exist", import.path.value),
                    import.path.span,
                )
                .with_help(match sibling_suggestion(&full, rel) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "the path is relative to this `.wf` file's directory; fix it or add the file".to_string(),
                }),
            );
        }
    }
}
