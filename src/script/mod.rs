//! Rhai scripting: the sandboxed engine that computes params, lets, `with` values and `when`
//! conditions from the AIAnalysis and, at run time, from earlier steps.
//!
//! Expressions compile once ([`ScriptEngine::compile`]) and evaluate many times
//! ([`ScriptEngine::eval`], or [`ScriptEngine::eval_bound`] with prepared [`Bindings`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use remedy::script::{EvalContext, ScriptEngine};
//!
//! let modules = BTreeMap::from([("mem".to_string(), "fn twice(q) { parse_quantity(q) * 2 }".to_string())]);
//! let engine = ScriptEngine::new(&modules).unwrap();
//! let expr = engine.compile(r#"format_quantity(mem::twice("512Mi"), "Gi")"#).unwrap();
//! assert_eq!(engine.eval(&expr, &EvalContext::default()).unwrap(), "1Gi");
//! ```
//!
//! | file | holds |
//! |---|---|
//! | `error.rs` | [`ScriptError`], with positions in the script source |
//! | `limits.rs` | [`Limits`]: the sandbox budgets and the guard of the time and memory limits |
//! | `memory.rs` | [`memory::Metered`] (from `crates/remedy-alloc`): the allocator wrapper that counts what an evaluation holds |
//! | `builtins.rs` | `parse_quantity`, `format_quantity`, `seconds`, `clamp` |
//! | `sorting.rs` | `sort`, `sort_by`, `dedup` whose comparator errors surface |
//! | `value.rs` | JSON ↔ rhai values |
//! | `modules.rs` | reading `import`ed files from inside the template directory |
//! | `names.rs` | [`NameChecker`]: variables an expression reads that nothing binds |
//! | `scan.rs` | which `steps.X` / `workflow.X` / `self` an expression reads |
//! | `position.rs` | script positions → `.wf` spans |

mod builtins;
mod error;
mod limits;
pub mod memory;
pub mod modules;
mod names;
pub mod position;
pub mod scan;
mod sorting;
pub mod value;

use std::collections::BTreeMap;

use rhai::{AST, Dynamic, Engine, Module, Scope};
use serde_json::Value;

use crate::sync;

pub use error::ScriptError;
pub use limits::Limits;
pub use names::{NameChecker, Undefined};

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

/// The variables of an [`EvalContext`], converted once to rhai values; every binding is a
/// constant, so no expression can change what the next one sees.
#[derive(Debug, Clone)]
pub struct Bindings {
    scope: Scope<'static>,
    params: rhai::Map,
}

impl Bindings {
    /// Bind `analysis` (with `target`), every param, `params`, `workflow`, and `steps` and
    /// `self` when the context has them.
    pub fn new(ctx: &EvalContext) -> Self {
        let mut scope = Scope::new();
        let mut analysis = value::to_dynamic(&Value::Object(ctx.analysis.clone()));
        if let Some(mut map) = analysis.write_lock::<rhai::Map>()
            && let Some(target) = map.get("targetResource").cloned()
        {
            map.entry("target".into()).or_insert(target);
        }
        scope.push_constant_dynamic("analysis", analysis);
        scope.push_constant_dynamic(
            "workflow",
            value::to_dynamic(&Value::Object(ctx.workflow.clone())),
        );
        if let Some(steps) = &ctx.steps {
            scope.push_constant_dynamic("steps", value::to_dynamic(&Value::Object(steps.clone())));
        }
        if let Some(this) = &ctx.self_step {
            scope.push_constant_dynamic("self", value::to_dynamic(&Value::Object(this.clone())));
        }
        let mut bindings = Bindings {
            scope,
            params: rhai::Map::new(),
        };
        for (name, value) in &ctx.params {
            bindings
                .params
                .insert(name.as_str().into(), value::to_dynamic(value));
            bindings
                .scope
                .push_constant_dynamic(name.clone(), value::to_dynamic(value));
        }
        bindings
            .scope
            .push_constant_dynamic("params", Dynamic::from_map(bindings.params.clone()));
        bindings
    }

    /// Bind (or rebind) a param or let by name, and in `params`.
    pub fn set_param(&mut self, name: &str, value: &Value) {
        let dynamic = value::to_dynamic(value);
        self.params.insert(name.into(), dynamic.clone());
        // A later binding of the same name shadows the earlier one.
        self.scope.push_constant_dynamic(name.to_string(), dynamic);
        self.scope
            .push_constant_dynamic("params", Dynamic::from_map(self.params.clone()));
    }
}

/// The sandboxed rhai engine of one template (its imported modules included).
pub struct ScriptEngine {
    engine: Engine,
    /// Finds undefined names (knows the module aliases).
    checker: NameChecker,
    limits: Limits,
}

impl std::fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ScriptEngine {
    /// An engine with the default sandbox limits and the built-in functions; `modules` maps
    /// an import alias to its rhai source.
    pub fn new(modules: &BTreeMap<String, String>) -> Result<Self, ScriptError> {
        ScriptEngine::with_limits(modules, Limits::default())
    }

    /// An engine with the default limits shared by every caller with the same modules while
    /// any of them holds it: an engine with its builtins costs tens of kilobytes, and an
    /// operator holds the programs of many runs of few templates.
    pub fn shared(modules: &BTreeMap<String, String>) -> Result<std::sync::Arc<Self>, ScriptError> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock, Weak};
        type Engines = HashMap<BTreeMap<String, String>, Weak<ScriptEngine>>;
        static ENGINES: OnceLock<Mutex<Engines>> = OnceLock::new();
        let engines = ENGINES.get_or_init(Default::default);
        // Built under the lock: callers that start together (an operator planning many runs
        // at once) would otherwise each build and keep an engine of their own.
        let mut cache = sync::lock(engines);
        if let Some(engine) = cache.get(modules).and_then(Weak::upgrade) {
            return Ok(engine);
        }
        let engine = Arc::new(ScriptEngine::new(modules)?);
        cache.retain(|_, e| e.strong_count() > 0);
        cache.insert(modules.clone(), Arc::downgrade(&engine));
        Ok(engine)
    }

    /// An engine with the given limits.
    pub fn with_limits(
        modules: &BTreeMap<String, String>,
        limits: Limits,
    ) -> Result<Self, ScriptError> {
        let mut engine = sandboxed(&limits);
        builtins::register(&mut engine);
        sorting::register(&mut engine);
        let checker = NameChecker::new(modules.keys().map(String::as_str), &limits);
        for (alias, source) in modules {
            let module =
                load_module(&engine, &limits, source).map_err(|error| ScriptError::Module {
                    alias: alias.clone(),
                    error: Box::new(error),
                })?;
            engine.register_static_module(alias.as_str(), module.into());
        }
        Ok(ScriptEngine {
            engine,
            checker,
            limits,
        })
    }

    /// The limits scripts run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compile one expression.
    pub fn compile(&self, source: &str) -> Result<CompiledExpr, ScriptError> {
        let ast = self
            .engine
            .compile_expression(source)
            .map_err(|e| ScriptError::from_parse(&e))?;
        Ok(CompiledExpr {
            ast,
            source: source.to_string(),
        })
    }

    /// Evaluate a compiled expression against a context, giving a JSON value.
    pub fn eval(&self, expr: &CompiledExpr, ctx: &EvalContext) -> Result<Value, ScriptError> {
        self.eval_bound(expr, &mut Bindings::new(ctx))
    }

    /// Evaluate a compiled expression against prepared bindings.
    pub fn eval_bound(
        &self,
        expr: &CompiledExpr,
        bindings: &mut Bindings,
    ) -> Result<Value, ScriptError> {
        let _budget = self.limits.start();
        let result: Dynamic = self
            .engine
            .eval_ast_with_scope(&mut bindings.scope, &expr.ast)
            .map_err(|e| ScriptError::from_eval(*e))?;
        value::from_dynamic_within(&result, &self.limits)
    }

    /// Compile and evaluate source in one go (what [`ScriptEngine::compile`] saves).
    pub fn eval_source(&self, source: &str, ctx: &EvalContext) -> Result<Value, ScriptError> {
        self.eval(&self.compile(source)?, ctx)
    }

    /// The variables and module aliases `source` reads that are neither in `known` nor locals
    /// of the expression (closure parameters), in order of first use. A syntax error is an error.
    pub fn undefined_names(
        &self,
        source: &str,
        known: &[&str],
    ) -> Result<Vec<Undefined>, ScriptError> {
        self.checker.undefined_names(source, known)
    }
}

/// An engine with rhai's standard packages except the core language one (whose `sleep`
/// blocks the thread, out of reach of every budget), with the sandbox applied: no `eval`, no
/// `import`, no clock (the crate is built with `no_time`), output to tracing, budgets
/// enforced.
fn sandboxed(limits: &Limits) -> Engine {
    use rhai::packages::{
        ArithmeticPackage, BasicArrayPackage, BasicBlobPackage, BasicFnPackage,
        BasicIteratorPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
        BitFieldPackage, LogicPackage, MoreStringPackage, Package,
    };
    let mut engine = Engine::new_raw();
    // As `Engine::new` does: property names and short strings are interned.
    engine.set_max_strings_interned(256);
    for package in [
        ArithmeticPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicBlobPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    // A script may print the analysis or a param: logs never carry a credential.
    engine.on_print(|text| {
        let text = crate::redact::redact_text(text);
        tracing::debug!(target: "remedy::script", "print: {text}");
    });
    engine.on_debug(|text, _source, pos| {
        let text = crate::redact::redact_text(text);
        tracing::debug!(target: "remedy::script", "debug at {pos}: {text}");
    });
    limits.apply(&mut engine);
    engine
}

fn load_module(engine: &Engine, limits: &Limits, source: &str) -> Result<Module, ScriptError> {
    let ast = engine
        .compile(source)
        .map_err(|e| ScriptError::from_parse(&e))?;
    let _budget = limits.start();
    Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(|e| ScriptError::from_eval(*e))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
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
            .compile("analysis.target.name + \"-\" + factor + \"-\" + params.factor")
            .expect("compile");
        assert_eq!(engine.eval(&e, &ctx()), Ok(json!("web-1.5-1.5")));
        let e = engine
            .compile("analysis.confidence >= 0.8")
            .expect("compile");
        assert_eq!(engine.eval(&e, &ctx()), Ok(json!(true)));
    }

    #[test]
    fn rebinding_a_param_shadows_it() {
        let engine = ScriptEngine::new(&BTreeMap::new()).expect("engine");
        let mut b = Bindings::new(&ctx());
        b.set_param("factor", &json!(3));
        b.set_param("extra", &json!("x"));
        let e = engine
            .compile("[factor, params.factor, extra]")
            .expect("compile");
        assert_eq!(engine.eval_bound(&e, &mut b), Ok(json!([3, 3, "x"])));
    }

    #[test]
    fn bindings_cannot_be_changed_by_an_expression() {
        let engine = ScriptEngine::new(&BTreeMap::new()).expect("engine");
        let mut b = Bindings::new(&ctx());
        let mutate = engine.compile("analysis.target.clear()").expect("compile");
        assert!(engine.eval_bound(&mutate, &mut b).is_err());
        let read = engine.compile("analysis.target.name").expect("compile");
        assert_eq!(engine.eval_bound(&read, &mut b), Ok(json!("web")));
    }

    #[test]
    fn finds_undefined_names_in_order() {
        let modules = BTreeMap::from([("m".to_string(), "fn f(x) { x }".to_string())]);
        let engine = ScriptEngine::new(&modules).expect("engine");
        let names = |src| {
            engine
                .undefined_names(src, &["analysis", "factor"])
                .expect("compiles")
                .into_iter()
                .map(|u| (u.name, u.module, u.column))
                .collect::<Vec<_>>()
        };
        assert_eq!(names("analysis.x + factor"), []);
        assert_eq!(
            names("nope + steps.a + nope"),
            [("nope".into(), false, 1), ("steps".into(), false, 8)]
        );
        assert_eq!(names("[1].map(|x| x + factor)"), []);
        assert_eq!(names("m::f(1) + q::g()"), [("q".into(), true, 11)]);
        assert!(engine.undefined_names("1 +", &[]).is_err());
    }

    #[test]
    fn callers_that_start_together_share_one_engine() {
        use std::sync::{Arc, Barrier};
        // Modules of this test alone, so that no other test's engine is found.
        let modules = BTreeMap::from([(
            "together".to_string(),
            "fn callers_that_start_together() { 1 }".to_string(),
        )]);
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (modules, start) = (modules.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    ScriptEngine::shared(&modules).expect("engine")
                })
            })
            .collect();
        let engines: Vec<Arc<ScriptEngine>> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert!(engines.iter().all(|e| Arc::ptr_eq(e, &engines[0])));
    }
}
