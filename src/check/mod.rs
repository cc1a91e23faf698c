//! Syntax tree to diagnostics: one rule per file, and the renderers.
//!
//! [`check`] runs every rule of [`rules::RULES`] over a parsed file and returns the findings
//! sorted by position. Rules see the file through a [`rules::RuleContext`], which also holds
//! the action catalog and what the caller knows about the template's surroundings.

pub mod context;
pub mod fix;
pub mod literal;
pub mod render;
pub mod resolved;
pub mod rules;

use crate::diagnostic::Diagnostic;
pub use context::CheckContext;

use crate::dsl::ast;

/// Run every rule over `file` and return the diagnostics sorted by position.
pub fn check(file: &ast::File, ctx: &CheckContext) -> Vec<Diagnostic> {
    let rule_cx = rules::RuleContext::new(file, ctx);
    let mut out = Vec::new();
    for rule in rules::RULES {
        (rule.run)(&rule_cx, &mut out);
    }
    sort(&mut out);
    out
}

/// Sort diagnostics by position, then code, so output is stable.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.span.end, a.code, &a.message).cmp(&(
            b.span.start,
            b.span.end,
            b.code,
            &b.message,
        ))
    });
}

/// Parse and check one file's bytes; a syntax error becomes the report's only diagnostic.
///
/// `path` is what readers see; `ctx.template_dir` should be the file's directory so that
/// imports resolve.
pub fn check_source(
    path: impl Into<std::path::PathBuf>,
    bytes: &[u8],
    ctx: &CheckContext,
) -> render::FileReport {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let source = crate::diagnostic::SourceFile::new(path, text);
    let diagnostics = match crate::dsl::parse_bytes(bytes) {
        Ok(file) => check(&file, ctx),
        Err(d) => vec![d],
    };
    render::FileReport {
        source,
        diagnostics,
    }
}
