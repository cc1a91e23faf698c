//! Which names an expression reads that nothing binds: rhai's strict-variables mode, asked
//! repeatedly so that every unknown name is found, not only the first.

use rhai::{Dynamic, Engine, Module, OptimizationLevel, ParseErrorType, Scope};

use super::{Limits, ScriptError};

/// A name an expression reads that is not bound, found by [`NameChecker::undefined_names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    /// The variable (or module alias) name.
    pub name: String,
    /// True for `name::f(…)` with no import of that alias.
    pub module: bool,
    /// 1-based line within the expression source.
    pub line: usize,
    /// 1-based column within the expression source.
    pub column: usize,
}

/// A parse-only engine that knows a template's module aliases and reports unbound names.
pub struct NameChecker {
    engine: Engine,
}

impl std::fmt::Debug for NameChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameChecker").finish_non_exhaustive()
    }
}

impl NameChecker {
    /// A checker for a template importing modules under `aliases`.
    pub fn new<'a>(aliases: impl IntoIterator<Item = &'a str>, limits: &Limits) -> Self {
        let mut engine = Engine::new_raw();
        engine.disable_symbol("eval");
        engine.set_strict_variables(true);
        engine.set_optimization_level(OptimizationLevel::None);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
        for alias in aliases {
            engine.register_static_module(alias, Module::new().into());
        }
        NameChecker { engine }
    }

    /// The variables and module aliases `source` reads that are neither in `known` nor locals
    /// of the expression (closure parameters), in order of first use. A syntax error is an error.
    pub fn undefined_names(
        &self,
        source: &str,
        known: &[&str],
    ) -> Result<Vec<Undefined>, ScriptError> {
        if is_known_path(source, known) {
            return Ok(Vec::new());
        }
        self.compile_names(source, known)
    }

    /// [`Self::undefined_names`] by asking rhai, whatever the source.
    fn compile_names(&self, source: &str, known: &[&str]) -> Result<Vec<Undefined>, ScriptError> {
        let mut scope = Scope::new();
        for name in known {
            scope.push_dynamic(name.to_string(), Dynamic::UNIT);
        }
        let mut found = Vec::new();
        // Each round reveals one more name; a bound keeps a pathological source cheap.
        for _ in 0..64 {
            match self.engine.compile_expression_with_scope(&scope, source) {
                Ok(_) => return Ok(found),
                Err(e) => {
                    let (line, column) = (
                        e.position().line().unwrap_or(1),
                        e.position().position().unwrap_or(1),
                    );
                    match e.err_type() {
                        ParseErrorType::VariableUndefined(name) => {
                            scope.push_dynamic(name.clone(), Dynamic::UNIT);
                            found.push(Undefined {
                                name: name.clone(),
                                module: false,
                                line,
                                column,
                            });
                        }
                        ParseErrorType::ModuleUndefined(name) => {
                            found.push(Undefined {
                                name: name.clone(),
                                module: true,
                                line,
                                column,
                            });
                            return Ok(found);
                        }
                        _ => return Err(ScriptError::from_parse(&e)),
                    }
                }
            }
        }
        Ok(found)
    }
}

/// Words rhai reserves (keywords and reserved names): never taken by the fast path.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "call",
    "case",
    "catch",
    "const",
    "continue",
    "curry",
    "debug",
    "default",
    "do",
    "else",
    "eval",
    "exit",
    "export",
    "false",
    "fn",
    "Fn",
    "for",
    "global",
    "go",
    "goto",
    "if",
    "import",
    "in",
    "is",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "let",
    "loop",
    "match",
    "module",
    "new",
    "nil",
    "null",
    "package",
    "print",
    "private",
    "protected",
    "public",
    "return",
    "shared",
    "spawn",
    "static",
    "super",
    "switch",
    "sync",
    "this",
    "thread",
    "throw",
    "true",
    "try",
    "type_of",
    "until",
    "use",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// At most this many segments take the fast path (rhai's depth limits stay rhai's to judge).
const MAX_FAST_SEGMENTS: usize = 8;

/// True when `source` is a bare name in `known` or a dotted path of plain identifiers rooted at
/// one (`analysis.target.name`): it reads nothing unbound and compiles, so rhai is not asked.
fn is_known_path(source: &str, known: &[&str]) -> bool {
    let mut segments = source.trim().split('.');
    let Some(root) = segments.next() else {
        return false;
    };
    if !known.contains(&root) || !plain_identifier(root) {
        return false;
    }
    let mut count = 1;
    for segment in segments {
        count += 1;
        if count > MAX_FAST_SEGMENTS || !plain_identifier(segment) {
            return false;
        }
    }
    true
}

/// An ASCII identifier starting with a letter that rhai does not reserve.
fn plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn checker() -> NameChecker {
        NameChecker::new(["m"], &Limits::default())
    }

    const KNOWN: &[&str] = &["analysis", "self", "namespace", "steps", "this", "let"];

    #[test]
    fn fast_path_agrees_with_rhai_on_a_table() {
        let c = checker();
        let cases = [
            "analysis.target.name",
            " self.output.previous_replicas ",
            "namespace",
            "analysis",
            "analysis.",
            ".analysis",
            "analysis..x",
            "analysis.true",
            "analysis.fn",
            "analysis.this",
            "analysis.x1_y",
            "analysis.1x",
            "analysis._x",
            "this",
            "let",
            "this.x",
            "nope",
            "nope.x",
            "analysis . x",
            "a.b.c.d.e.f.g.h.i.j",
            "analysis.a.b.c.d.e.f.g.h.i.j",
            "analysis.type_of",
            "analysis.é",
            "",
        ];
        for src in cases {
            assert_eq!(
                c.undefined_names(src, KNOWN),
                c.compile_names(src, KNOWN),
                "{src:?}"
            );
        }
        // The table does reach the fast path.
        assert!(is_known_path("analysis.target.name", KNOWN));
        assert!(!is_known_path("analysis.true", KNOWN));
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_rhai(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("analysis".to_string()),
                    Just("self".to_string()),
                    Just("x".to_string()),
                    proptest::sample::select(RESERVED).prop_map(str::to_string),
                    "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
                    "[ .0-9]{0,2}",
                ],
                1..10,
            )
        ) {
            let c = checker();
            let src = parts.join(".");
            prop_assert_eq!(c.undefined_names(&src, KNOWN), c.compile_names(&src, KNOWN));
        }
    }
}
