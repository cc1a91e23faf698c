//! Finds steps, params, lets and import aliases named with a reserved word.

use crate::check::rules::RuleContext;
use crate::diagnostic::Diagnostic;
use crate::dsl::ast::Item;

rule! {
    /// **What it finds.** A step, param, let or import alias whose name is a keyword of the
    /// language (`step`, `timeout`, `rollback`, …), one of the names expressions already
    /// use (`analysis`, `steps`, `self`, `workflow`, `params`), or a rhai keyword (`fn`,
    /// `if`, `loop`, …) that an expression could not refer to.
    ///
    /// **Why.** In an expression, `workflow` or `steps` already mean something; a param of
    /// that name would be shadowed or shadow it, and a rhai keyword cannot be used as a
    /// variable at all.
    ///
    /// **Example.**
    /// ```text
    /// param analysis: string = "deep"
    /// ```
    ///
    /// **How to fix.** Choose another name, e.g. `analysis_mode`.
    code: "E0109",
    name: "reserved_name",
    severity: Error,
    summary: "a declared name is a keyword or a reserved name",
}

/// The words of the `.wf` language itself (tested against the grammar).
pub use crate::dsl::keywords::KEYWORDS;

/// The names expressions see without declaring them.
pub const SCOPE_NAMES: &[&str] = &["analysis", "steps", "self", "workflow", "params"];

/// rhai's keywords and reserved words, which cannot name a variable.
pub const RHAI_KEYWORDS: &[&str] = &[
    "fn",
    "if",
    "else",
    "while",
    "loop",
    "for",
    "in",
    "do",
    "until",
    "break",
    "return",
    "throw",
    "try",
    "catch",
    "switch",
    "const",
    "export",
    "private",
    "global",
    "this",
    "is",
    "var",
    "static",
    "shared",
    "goto",
    "exit",
    "match",
    "case",
    "public",
    "protected",
    "new",
    "use",
    "module",
    "package",
    "super",
    "spawn",
    "thread",
    "go",
    "sync",
    "async",
    "await",
    "yield",
    "default",
    "void",
];

/// Why `name` may not be declared, if it may not.
pub fn reserved_because(name: &str) -> Option<&'static str> {
    if SCOPE_NAMES.contains(&name) {
        Some("is a name every expression already uses")
    } else if KEYWORDS.contains(&name) {
        Some("is a keyword of the workflow language")
    } else if RHAI_KEYWORDS.contains(&name) {
        Some("is a rhai keyword, so no expression could refer to it")
    } else {
        None
    }
}

/// Report every declaration with a reserved name.
pub fn run(cx: &RuleContext<'_>, out: &mut Vec<Diagnostic>) {
    let mut names = Vec::new();
    for item in &cx.workflow.items {
        match item {
            Item::Param(p) => names.push(("param", &p.name)),
            Item::Let(l) => names.push(("let", &l.name)),
            Item::Import(i) => names.push(("import alias", &i.alias)),
            _ => {}
        }
    }
    for s in &cx.steps {
        names.push(("step", &s.step.name));
    }
    for (kind, ident) in names {
        if let Some(why) = reserved_because(&ident.name) {
            out.push(
                Diagnostic::error(
                    INFO.code,
                    format!("{kind} name `{}` {why}", ident.name),
                    ident.span,
                )
                .with_help(format!(
                    "choose another name, e.g. `{}_{}`",
                    ident.name,
                    if kind == "step" { "step" } else { "value" }
                )),
            );
        }
    }
}
