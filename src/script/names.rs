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
