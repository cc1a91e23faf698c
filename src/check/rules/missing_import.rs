//! Finds `import "PATH"` naming a file that cannot be read: missing, outside the template's
//! directory (as written, or through a symlink), not a regular file, too large, or not UTF-8.

use crate::script::modules::stays_inside;
use std::path::Path;

use crate::catalog::actions::closest;
use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::files::FileError;

rule! {
    /// **What it finds.** An `import "PATH" as ALIAS` whose PATH, taken relative to the
    /// template's directory, does not exist; leaves that directory (absolute paths, `..`, or
    /// a symlink — to a file or to a directory — that leads out of it); is not a regular file
    /// (a directory, a FIFO, a device such as `/dev/zero`); is larger than 256 KiB; or is not
    /// UTF-8 text.
    ///
    /// **Why.** Imports are read when the template is loaded and are part of its digest;
    /// a file that cannot be read makes the template unloadable, and a path outside the
    /// template directory would not travel with it (nor should a template read files it does
    /// not own).
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
    summary: "an `import` names a file that is missing, outside the template directory, not a regular file, too large or not UTF-8",
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

/// Report imports that escape the directory or cannot be read.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    for (index, import) in cx.workflow.imports().enumerate() {
        let rel = Path::new(&import.path.value);
        let written = &import.path.value;
        if !stays_inside(rel) {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("import \"{written}\" leaves the template's directory"),
                    import.path.span,
                )
                .with_help("keep scripts beside the template, e.g. in `lib/`, and import them by a relative path"),
            );
            continue;
        }
        let (Some(Err(error)), Some(dir)) = (cx.import_source(index), &cx.ctx.template_dir) else {
            continue;
        };
        let (message, help) = match error {
            e if e.is_not_found() => (
                format!("import \"{written}\" does not exist"),
                match sibling_suggestion(&dir.join(rel), rel) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "the path is relative to this `.wf` file's directory; fix it or add the file".to_string(),
                },
            ),
            FileError::Outside { real, .. } => (
                format!(
                    "import \"{written}\" leaves the template's directory through a symlink (it resolves to {})",
                    real.display()
                ),
                "keep scripts inside the template directory; a symlink may point only within it".to_string(),
            ),
            FileError::NotRegular { kind, .. } => (
                format!("import \"{written}\" is not a regular file (it is {kind})"),
                "import a `.rhai` file".to_string(),
            ),
            FileError::TooLarge { limit, .. } => (
                format!("import \"{written}\" is larger than the limit of {limit} bytes"),
                "split the module".to_string(),
            ),
            FileError::NotUtf8 { offset, .. } => (
                format!("import \"{written}\" is not UTF-8 text (invalid bytes at offset {offset})"),
                "save the module as UTF-8".to_string(),
            ),
            FileError::Io { source, .. } => (
                format!("import \"{written}\" cannot be read: {source}"),
                "check the file's permissions".to_string(),
            ),
        };
        out.push(Diagnostic::error(INFO.code, message, import.path.span).with_help(help));
    }
}
