//! Imported `.rhai` modules as the server sees them: their functions (for completion, hover
//! and go to definition) and whether they load (the diagnostic `rhai_syntax_error` gives at
//! the import, here at its place in the module).

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::script::{ScriptEngine, ScriptError, position};

/// A function a module defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFn {
    /// Its name.
    pub name: String,
    /// Its parameters as written.
    pub params: String,
    /// Its `///` doc comment, without the slashes.
    pub doc: String,
    /// The span of its name in the module.
    pub span: Span,
}

/// What the server knows of one module's text.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// Its public functions, in order.
    pub functions: Vec<ModuleFn>,
    /// Why it does not load, at its place in the module (empty when it loads).
    pub diagnostics: Vec<Diagnostic>,
}

impl ModuleInfo {
    /// Read a module's functions and load it as a template would.
    pub fn new(source: &str) -> Self {
        let functions = functions(source);
        let modules = BTreeMap::from([("module".to_string(), source.to_string())]);
        let diagnostics = match ScriptEngine::new(&modules) {
            Err(ScriptError::Module { error, .. }) => {
                let span = match error.position() {
                    Some(pos) => {
                        position::span_in_file(source, Span::new(0, source.len()), Some(pos))
                    }
                    None => Span::new(0, source.len().min(1)),
                };
                vec![
                    Diagnostic::error(
                        "E0201",
                        format!("the module does not load: {}", error.message()),
                        span,
                    )
                    .with_help("modules may define functions and constants, not `import`; see docs/scripting.md"),
                ]
            }
            Err(other) => vec![Diagnostic::error("E0201", other.message(), Span::new(0, 0))],
            Ok(_) => Vec::new(),
        };
        ModuleInfo {
            functions,
            diagnostics,
        }
    }

    /// The function of that name.
    pub fn function(&self, name: &str) -> Option<&ModuleFn> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// `fn name(params)` lines at the start of a line, with the `///` lines above them; private
/// functions are left out (a template cannot call them).
pub fn functions(source: &str) -> Vec<ModuleFn> {
    let mut out = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(d) = trimmed.strip_prefix("///") {
            doc.push(d.strip_prefix(' ').unwrap_or(d).trim_end());
        } else if let Some(rest) = trimmed.strip_prefix("fn ") {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..name_len];
            let params = rest[name_len..]
                .trim_start()
                .strip_prefix('(')
                .and_then(|p| p.split(')').next())
                .unwrap_or("")
                .trim();
            if !name.is_empty() {
                let start = offset + indent + 3;
                out.push(ModuleFn {
                    name: name.to_string(),
                    params: params.to_string(),
                    doc: doc.join("\n"),
                    span: Span::new(start, start + name_len),
                });
            }
            doc.clear();
        } else if !trimmed.trim().is_empty() {
            doc.clear();
        }
        offset += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_functions_with_their_docs() {
        let src = "// header\n\n/// Doubles.\n/// Twice.\nfn twice(x) {\n  x * 2\n}\nprivate fn hidden() { 1 }\nfn f() { 0 }\n";
        let info = ModuleInfo::new(src);
        let names: Vec<_> = info
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.params.as_str(), f.doc.as_str()))
            .collect();
        assert_eq!(names, [("twice", "x", "Doubles.\nTwice."), ("f", "", "")]);
        let twice = &info.functions[0];
        assert_eq!(&src[twice.span.start..twice.span.end], "twice");
        assert!(info.diagnostics.is_empty());
    }

    #[test]
    fn a_module_that_does_not_compile_has_a_placed_error() {
        let src = "fn ok() { 1 }\nfn bad( { 2 }\n";
        let info = ModuleInfo::new(src);
        let d = info
            .diagnostics
            .first()
            .map(|d| (d.code, d.span.start >= src.find("fn bad").unwrap_or(0)));
        assert_eq!(d, Some(("E0201", true)));
    }
}
