//! Rhai scripting: the sandboxed engine that computes params, lets, `with` values and `when`
//! conditions from the AIAnalysis and, at run time, from earlier steps.
//!
//! Expressions compile once ([`ScriptEngine::compile`]) and evaluate many times
//! ([`ScriptEngine::eval`]) against an [`EvalContext`].

use std::collections::BTreeMap;

use rhai::{AST, Dynamic, Engine, Scope};
use serde_json::Value;

/// A script that failed to compile or run, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The source is not a valid rhai expression.
    #[error("invalid expression at line {line}, column {column}: {message}")]
    Syntax {
        /// What is wrong.
        message: String,
        /// 1-based line within the expression source.
        line: usize,
        /// 1-based column within the expression source.
        column: usize,
    },
    /// The expression failed while running (unknown variable, type error, over budget…).
    #[error("{0}")]
    Runtime(String),
    /// The result cannot be represented as a JSON value.
    #[error("the result cannot be used as a value: {0}")]
    Result(String),
}

/// The names an expression can see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    /// The AIAnalysis status (`analysis`), with `target` = `targetResource`.
    pub analysis: serde_json::Map<String, Value>,
    /// Params and lets resolved so far, each visible by name and all under `params`.
    pub params: serde_json::Map<String, Value>,
    /// `workflow`: name, version, namespace, execution (and phase, failed in `finally`).
    pub workflow: serde_json::Map<String, Value>,
    /// `steps`: per step, phase, attempts, output, started_at, completed_at (run time only).
    pub steps: Option<serde_json::Map<String, Value>>,
    /// `self`: the step being compensated (rollback blocks only).
    pub self_step: Option<serde_json::Map<String, Value>>,
}

/// A compiled expression, reusable across evaluations.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    ast: AST,
    source: String,
}

impl CompiledExpr {
    /// The rhai source it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The sandboxed rhai engine of one template (its imported modules included).
pub struct ScriptEngine {
    engine: Engine,
}

impl std::fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptEngine").finish_non_exhaustive()
    }
}

impl ScriptEngine {
    /// An engine with the sandbox limits and the built-in functions; `modules` maps an import
    /// alias to its rhai source.
    pub fn new(modules: &BTreeMap<String, String>) -> Result<Self, ScriptError> {
        let mut engine = Engine::new();
        engine.disable_symbol("eval");
        engine.set_max_operations(100_000);
        engine.set_max_expr_depths(64, 32);
        engine.set_max_call_levels(32);
        engine.set_max_string_size(64 * 1024);
        engine.set_max_array_size(10_000);
        engine.set_max_map_size(10_000);
        for (alias, source) in modules {
            let ast = engine.compile(source).map_err(|e| syntax_error(&e))?;
            let module = rhai::Module::eval_ast_as_new(Scope::new(), &ast, &engine)
                .map_err(|e| ScriptError::Runtime(e.to_string()))?;
            engine.register_static_module(alias.as_str(), module.into());
        }
        Ok(ScriptEngine { engine })
    }

    /// Compile one expression.
    pub fn compile(&self, source: &str) -> Result<CompiledExpr, ScriptError> {
        let ast = self
            .engine
            .compile_expression(source)
            .map_err(|e| syntax_error(&e))?;
        Ok(CompiledExpr {
            ast,
            source: source.to_string(),
        })
    }

    /// Evaluate a compiled expression against a context, giving a JSON value.
    pub fn eval(&self, expr: &CompiledExpr, ctx: &EvalContext) -> Result<Value, ScriptError> {
        let mut scope = Scope::new();
        let mut analysis = ctx.analysis.clone();
        if let Some(target) = analysis.get("targetResource").cloned() {
            analysis.entry("target").or_insert(target);
        }
        push(&mut scope, "analysis", Value::Object(analysis))?;
        for (name, value) in &ctx.params {
            push(&mut scope, name, value.clone())?;
        }
        push(&mut scope, "params", Value::Object(ctx.params.clone()))?;
        push(&mut scope, "workflow", Value::Object(ctx.workflow.clone()))?;
        if let Some(steps) = &ctx.steps {
            push(&mut scope, "steps", Value::Object(steps.clone()))?;
        }
        if let Some(this) = &ctx.self_step {
            push(&mut scope, "self", Value::Object(this.clone()))?;
        }
        let result: Dynamic = self
            .engine
            .eval_ast_with_scope(&mut scope, &expr.ast)
            .map_err(|e| ScriptError::Runtime(e.to_string()))?;
        rhai::serde::from_dynamic(&result).map_err(|e| ScriptError::Result(e.to_string()))
    }
}

fn push(scope: &mut Scope<'_>, name: &str, value: Value) -> Result<(), ScriptError> {
    let dynamic =
        rhai::serde::to_dynamic(value).map_err(|e| ScriptError::Runtime(e.to_string()))?;
    scope.push_dynamic(name.to_string(), dynamic);
    Ok(())
}

fn syntax_error(e: &rhai::ParseError) -> ScriptError {
    ScriptError::Syntax {
        message: e.err_type().to_string(),
        line: e.position().line().unwrap_or(1),
        column: e.position().position().unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> EvalContext {
        let Value::Object(analysis) = json!({
            "targetResource": { "kind": "Deployment", "name": "web", "namespace": "shop" },
            "confidence": 0.9,
        }) else {
            unreachable!()
        };
        let Value::Object(params) = json!({ "factor": 1.5 }) else {
            unreachable!()
        };
        EvalContext {
            analysis,
            params,
            ..EvalContext::default()
        }
    }

    #[test]
    fn evaluates_against_analysis_and_params() {
        let engine = ScriptEngine::new(&BTreeMap::new()).expect("engine");
        let e = engine
            .compile("analysis.target.name + \"-\" + factor")
            .expect("compile");
        assert_eq!(engine.eval(&e, &ctx()), Ok(json!("web-1.5")));
        let e = engine
            .compile("analysis.confidence >= 0.8")
            .expect("compile");
        assert_eq!(engine.eval(&e, &ctx()), Ok(json!(true)));
    }

    #[test]
    fn reports_syntax_and_runtime_errors() {
        let engine = ScriptEngine::new(&BTreeMap::new()).expect("engine");
        assert!(matches!(
            engine.compile("1 +"),
            Err(ScriptError::Syntax { .. })
        ));
        let e = engine.compile("nope + 1").expect("compile");
        assert!(matches!(
            engine.eval(&e, &ctx()),
            Err(ScriptError::Runtime(_))
        ));
        assert!(matches!(
            engine.compile("loop { }"),
            Err(ScriptError::Syntax { .. })
        ));
    }

    #[test]
    fn modules_are_callable_by_alias() {
        let modules = BTreeMap::from([("m".to_string(), "fn double(x) { x * 2 }".to_string())]);
        let engine = ScriptEngine::new(&modules).expect("engine");
        let e = engine.compile("m::double(21)").expect("compile");
        assert_eq!(engine.eval(&e, &ctx()), Ok(json!(42)));
    }
}
