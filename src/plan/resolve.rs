//! [`plan`]: resolve a template against an analysis and a WorkflowExecution's overrides.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::api::workflow_execution::RollbackStrategy;
use crate::api::{AIAnalysisStatus, JsonMap, WorkflowExecutionSpec};
use crate::catalog::{ActionCatalog, Effect};
use crate::diagnostic::Span;
use crate::dsl::ast::{self, ApprovalKind, Item, MapLit, Retry, StringPart, ValueKind};
use crate::graph::Phase;
use crate::param::{self, Source};
use crate::plan::{
    ExecutionPlan, OnFailure, PlanError, PlannedAction, PlannedStep, PlannedValue, RetryPolicy,
    RollbackMode, StepStage,
};
use crate::redact::{collect_secrets, is_credential_key, mentions_secret};
use crate::script::scan;
use crate::script::{Bindings, EvalContext, ScriptError, position};
use crate::template::{Template, is_runtime, runtime_refs};
use crate::units::duration;

pub use crate::dsl::defaults::{
    DEFAULT_MAX_PARALLEL, DEFAULT_STEP_TIMEOUT_MS, DEFAULT_WORKFLOW_TIMEOUT_MS,
};

/// What planning knows about the run besides the template, analysis and spec.
#[derive(Debug, Clone, Default)]
pub struct PlanContext {
    /// The WorkflowExecution's namespace (`workflow.namespace`).
    pub namespace: String,
    /// The WorkflowExecution's name (`workflow.execution`).
    pub execution: String,
    /// The action catalog, for each step's effect.
    pub actions: ActionCatalog,
}

/// Resolve `template` for a run: params (override > analysis parameter > default), lets,
/// approval, every `with` value that needs no step output, the step graph, and the run's
/// settings with the WorkflowExecution's `rollbackStrategy` and `dryRun` applied.
pub fn plan(
    template: &Template,
    analysis: &AIAnalysisStatus,
    spec: &WorkflowExecutionSpec,
    ctx: &PlanContext,
) -> Result<ExecutionPlan, PlanError> {
    let wf = &template.file.workflow;
    let analysis_json = match serde_json::to_value(analysis) {
        Ok(Value::Object(map)) => map,
        _ => JsonMap::new(),
    };
    let mut workflow_info = JsonMap::new();
    workflow_info.insert("name".into(), Value::from(wf.name.value.clone()));
    workflow_info.insert("version".into(), Value::from(wf.version.value.clone()));
    workflow_info.insert("namespace".into(), Value::from(ctx.namespace.clone()));
    workflow_info.insert("execution".into(), Value::from(ctx.execution.clone()));
    let mut r = Resolver {
        template,
        bindings: Bindings::new(&EvalContext {
            analysis: analysis_json.clone(),
            workflow: workflow_info.clone(),
            ..EvalContext::default()
        }),
        analysis: analysis_json.clone(),
        secrets: BTreeSet::new(),
    };

    let overrides = spec.parameters.clone().unwrap_or_default();
    let suggested = analysis.parameters.clone().unwrap_or_default();
    check_override_names(template, &overrides)?;

    let mut parameters = JsonMap::new();
    let mut approval_required = false;
    let mut settings = Settings::default();
    for item in &wf.items {
        match item {
            Item::Param(p) => {
                let value = r.param(p, &overrides, &suggested)?;
                r.bindings.set_param(&p.name.name, &value);
                parameters.insert(p.name.name.clone(), value);
            }
            Item::Let(l) => {
                let what = format!("let `{}`", l.name.name);
                let value = r.resolve(&l.value).map_err(|e| e.into_plan(what, None))?;
                r.bindings.set_param(&l.name.name, &value);
                parameters.insert(l.name.name.clone(), value);
            }
            Item::Timeout(t) => settings.timeout_ms = Some(t.duration.millis),
            Item::MaxParallel(m) => settings.max_parallel = Some(m.value),
            Item::RollbackMode(m) => settings.rollback = Some(m.mode.into()),
            Item::Verify(v) => settings.verify_within_ms = v.within.as_ref().map(|d| d.millis),
            _ => {}
        }
    }
    // Approval is decided once every param and let is known, wherever it is written.
    for item in &wf.items {
        if let Item::Approval(a) = item {
            approval_required = match &a.kind {
                ApprovalKind::Required => true,
                ApprovalKind::When(e) => r.approval(e)?,
            };
        }
    }

    collect_secrets(&Value::Object(parameters.clone()), &mut r.secrets);
    collect_secrets(&Value::Object(analysis_json.clone()), &mut r.secrets);
    let mut steps = Vec::new();
    for (step, stage) in steps_in_order(wf) {
        steps.push(r.step(step, stage, &ctx.actions)?);
    }

    let rollback = match spec.rollback_strategy {
        Some(RollbackStrategy::Automatic) => RollbackMode::Automatic,
        Some(RollbackStrategy::Manual) => RollbackMode::Manual,
        Some(RollbackStrategy::None) => RollbackMode::None,
        None => settings.rollback.unwrap_or(RollbackMode::Automatic),
    };
    let plan = ExecutionPlan {
        workflow: wf.name.value.clone(),
        version: wf.version.value.clone(),
        digest: template.digest.clone(),
        timeout_ms: settings.timeout_ms.unwrap_or(DEFAULT_WORKFLOW_TIMEOUT_MS),
        max_parallel: settings.max_parallel.map_or(DEFAULT_MAX_PARALLEL, |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        }),
        rollback,
        approval_required,
        dry_run: spec.dry_run,
        verify_within_ms: settings.verify_within_ms,
        parameters,
        analysis: analysis_json,
        workflow_info,
        modules: template.modules.clone(),
        steps,
    };
    super::size::check(&plan, super::MAX_PLAN_BYTES)?;
    Ok(plan)
}

#[derive(Default)]
struct Settings {
    timeout_ms: Option<u64>,
    max_parallel: Option<u64>,
    rollback: Option<RollbackMode>,
    verify_within_ms: Option<u64>,
}

/// An override that names no param is a mistake worth stopping for (a typo would otherwise
/// silently run with the default).
fn check_override_names(template: &Template, overrides: &JsonMap) -> Result<(), PlanError> {
    let wf = &template.file.workflow;
    let names: BTreeSet<&str> = wf.params().map(|p| p.name.name.as_str()).collect();
    if let Some(unknown) = overrides.keys().find(|k| !names.contains(k.as_str())) {
        let known = if names.is_empty() {
            "it has none".to_string()
        } else {
            format!(
                "its params are {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(PlanError::invalid(
            unknown,
            format!(
                "the WorkflowExecution's parameters set `{unknown}`, which is not a param of \
                 workflow {} {} ({known})",
                wf.name.value, wf.version.value
            ),
        ));
    }
    Ok(())
}

/// Every step with its stage: main (declared order, parallel members included), verify,
/// finally — the order of the step graph's nodes.
fn steps_in_order(wf: &ast::Workflow) -> Vec<(&ast::Step, StepStage)> {
    let mut out = Vec::new();
    for phase in [Phase::Main, Phase::Verify, Phase::Finally] {
        for item in &wf.items {
            let (steps, stage): (&[ast::Step], _) = match (phase, item) {
                (Phase::Main, Item::Step(s)) => (std::slice::from_ref(s), StepStage::Main),
                (Phase::Main, Item::Parallel(p)) => (&p.steps, StepStage::Main),
                (Phase::Verify, Item::Verify(v)) => (&v.steps, StepStage::Verify),
                (Phase::Finally, Item::Finally(f)) => (&f.steps, StepStage::Finally),
                _ => continue,
            };
            out.extend(steps.iter().map(|s| (s, stage)));
        }
    }
    out
}

/// A clearer error for the commonest planning failure: reading a field of something the
/// AIAnalysis does not have (`analysis.target.namespace` with no `targetResource`), which
/// rhai reports as a property of `()`. Any other error is returned as it is.
fn explain_missing(analysis: &JsonMap, source: &str, error: ScriptError) -> ScriptError {
    let ScriptError::Runtime {
        message,
        line,
        column,
    } = &error
    else {
        return error;
    };
    if !message.contains("for type '()'") {
        return error;
    }
    for path in analysis_paths(source) {
        let mut current: Option<&Value> = None;
        for (depth, field) in path.iter().enumerate() {
            let next = match (depth, current) {
                (0, _) => analysis.get(field.as_str()).or_else(|| {
                    (field == "target")
                        .then(|| analysis.get("targetResource"))
                        .flatten()
                }),
                (_, Some(Value::Object(map))) => map.get(field.as_str()),
                _ => None,
            };
            let missing = next.is_none_or(Value::is_null);
            if missing
                && depth + 1 < path.len()
                && message.contains(&format!("'{}'", path[depth + 1]))
            {
                let read = format!("analysis.{}", path.join("."));
                let whole = format!("analysis.{}", path[..=depth].join("."));
                let field_name = if depth == 0 && field == "target" {
                    "targetResource".to_string()
                } else {
                    path[..=depth].join(".")
                };
                return ScriptError::Runtime {
                    message: format!(
                        "the AIAnalysis has no `{field_name}`, and this reads `{read}`: the \
                         analysis must give `{field_name}` in its status (or the template must \
                         check `{whole}` before reading it)"
                    ),
                    line: *line,
                    column: *column,
                };
            }
            if missing {
                break;
            }
            current = next;
        }
    }
    error
}

/// Every dotted path read from `analysis` in `source` (`analysis.target.namespace` →
/// `[target, namespace]`), outside string literals; a light scan for error messages only.
fn analysis_paths(source: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
            i += 1;
            continue;
        }
        let starts = (i == 0
            || !(ident(chars[i - 1]) || chars[i - 1] == '.' || chars[i - 1] == ':'))
            && chars[i..].starts_with(&['a', 'n', 'a', 'l', 'y', 's', 'i', 's'])
            && !chars.get(i + 8).copied().is_some_and(ident);
        if !starts {
            i += 1;
            continue;
        }
        i += 8;
        let mut path = Vec::new();
        while chars.get(i) == Some(&'.')
            || (chars.get(i) == Some(&'?') && chars.get(i + 1) == Some(&'.'))
        {
            i += if chars[i] == '?' { 2 } else { 1 };
            let start = i;
            while chars.get(i).copied().is_some_and(ident) {
                i += 1;
            }
            if start == i {
                break;
            }
            path.push(chars[start..i].iter().collect());
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

/// A script failure with the place it happened.
struct Failure {
    span: Span,
    error: ScriptError,
}

impl Failure {
    fn into_plan(self, what: String, step: Option<&str>) -> PlanError {
        PlanError::ScriptError {
            what,
            step: step.map(str::to_string),
            span: Some(self.span),
            error: self.error,
        }
    }
}

struct Resolver<'t> {
    template: &'t Template,
    bindings: Bindings,
    /// The analysis as scripts see it, to explain a read of a field it does not have.
    analysis: JsonMap,
    /// The credentials among the params, lets and analysis (`redact::collect_secrets`): a
    /// deferred value keeps as source what would copy one into the plan's text.
    secrets: BTreeSet<String>,
}

impl Resolver<'_> {
    fn param(
        &mut self,
        p: &ast::Param,
        overrides: &JsonMap,
        suggested: &JsonMap,
    ) -> Result<Value, PlanError> {
        let name = &p.name.name;
        let given = |m: &JsonMap| m.get(name).filter(|v| !v.is_null()).cloned();
        let (value, source) = if let Some(v) = given(overrides) {
            (v, Source::Override)
        } else if let Some(v) = given(suggested) {
            (v, Source::Analysis)
        } else if let Some(default) = &p.default {
            // The literal `null` makes a param optional; anything else must give a value.
            if matches!(default.kind, ValueKind::Null) {
                return Ok(Value::Null);
            }
            let what = format!("the default of param `{name}`");
            let v = self.resolve(default).map_err(|e| e.into_plan(what, None))?;
            if v.is_null() {
                return Err(PlanError::invalid(
                    name,
                    format!(
                        "param `{name}` has no value: its default `{}` gives nothing for this \
                         analysis; set `{name}` in the WorkflowExecution's parameters",
                        self.template.source.slice(default.span).trim()
                    ),
                ));
            }
            (v, Source::Default)
        } else {
            return Err(PlanError::invalid(
                name,
                format!(
                    "param `{name}` is required: set it in the WorkflowExecution's parameters \
                     (or have the AIAnalysis suggest it)"
                ),
            ));
        };
        let value = param::coerce(p, value, source)?;
        param::check_constraints(p, &value, source)?;
        Ok(value)
    }

    fn approval(&mut self, e: &ast::Expr) -> Result<bool, PlanError> {
        let what = "`approval`".to_string();
        match self.expr(e).map_err(|f| f.into_plan(what.clone(), None))? {
            Value::Bool(b) => Ok(b),
            other => Err(PlanError::ScriptError {
                what,
                step: None,
                span: Some(e.span),
                error: ScriptError::Runtime {
                    message: format!(
                        "the condition must give true or false, got {}",
                        param::show(&other)
                    ),
                    line: 0,
                    column: 0,
                },
            }),
        }
    }

    fn step(
        &mut self,
        step: &ast::Step,
        stage: StepStage,
        actions: &ActionCatalog,
    ) -> Result<PlannedStep, PlanError> {
        let name = &step.name.name;
        let graph = &self.template.graph;
        let depends_on = graph
            .node(name)
            .map(|n| {
                graph
                    .dependencies(n)
                    .iter()
                    .map(|&d| graph.nodes()[d].name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let action_type = step
            .action()
            .map(|a| a.name.value.clone())
            .unwrap_or_default();
        let action = PlannedAction {
            with: self.with_map(step.with().map(|w| &w.map), &format!("step `{name}`"), name)?,
            timeout_ms: step
                .timeout()
                .map_or(DEFAULT_STEP_TIMEOUT_MS, |t| t.duration.millis),
            retry: retry_policy(step.retry()),
            action_type,
        };
        let rollback = match step.rollback() {
            Some(rb) => Some(PlannedAction {
                action_type: rb
                    .action()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_default(),
                with: self.with_map(
                    rb.with().map(|w| &w.map),
                    &format!("the rollback of step `{name}`"),
                    name,
                )?,
                timeout_ms: rb
                    .timeout()
                    .map_or(DEFAULT_STEP_TIMEOUT_MS, |t| t.duration.millis),
                retry: retry_policy(rb.retry()),
            }),
            None => None,
        };
        // An unknown action cannot have passed the checker; if one gets here, treat it as
        // the most dangerous kind so that Validating stops it.
        let effect = actions
            .get(&action.action_type)
            .map_or(Effect::Irreversible, |a| a.effect);
        Ok(PlannedStep {
            name: name.clone(),
            stage,
            depends_on,
            action,
            effect,
            when: step.when().map(|w| w.expr.source.trim().to_string()),
            on_failure: step
                .on_failure()
                .map_or(OnFailure::Rollback, |o| o.policy.into()),
            rollback,
        })
    }

    fn with_map(
        &mut self,
        map: Option<&MapLit>,
        owner: &str,
        step: &str,
    ) -> Result<BTreeMap<String, PlannedValue>, PlanError> {
        let mut out = BTreeMap::new();
        let Some(map) = map else { return Ok(out) };
        for entry in &map.entries {
            let what = format!("`with.{}` of {owner}", entry.key.name);
            let planned = if runtime_refs(&entry.value).is_empty() {
                PlannedValue::Value(
                    self.resolve(&entry.value)
                        .map_err(|e| e.into_plan(what, Some(step)))?,
                )
            } else if let ValueKind::Expr(e) = &entry.value.kind {
                PlannedValue::Deferred(e.source.trim().to_string())
            } else {
                PlannedValue::Deferred(
                    self.deferred(&entry.value, is_credential_key(&entry.key.name))
                        .map_err(|e| e.into_plan(what, Some(step)))?,
                )
            };
            out.insert(entry.key.name.clone(), planned);
        }
        Ok(out)
    }

    /// Evaluate a value now.
    fn resolve(&mut self, value: &ast::Value) -> Result<Value, Failure> {
        Ok(match &value.kind {
            ValueKind::String(s) => {
                let mut text = String::new();
                for part in &s.parts {
                    match part {
                        StringPart::Text(t) => text.push_str(t),
                        StringPart::Expr(e) => text.push_str(&display(&self.expr(e)?)),
                    }
                }
                Value::String(text)
            }
            ValueKind::Int(i) => Value::from(*i),
            ValueKind::Float(f, _) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            ValueKind::Bool(b) => Value::Bool(*b),
            ValueKind::Null => Value::Null,
            ValueKind::Duration(d) => Value::String(duration::format_millis(d.millis)),
            ValueKind::List(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_, _>>()?,
            ),
            ValueKind::Map(m) => {
                let mut out = JsonMap::new();
                for entry in &m.entries {
                    out.insert(entry.key.name.clone(), self.resolve(&entry.value)?);
                }
                Value::Object(out)
            }
            ValueKind::Expr(e) => self.expr(e)?,
            ValueKind::Ident(i) => {
                let compiled = match self.template.compiled_ident(i.span) {
                    Some(c) => c.clone(),
                    None => self
                        .template
                        .engine()
                        .compile(&i.name)
                        .map_err(|error| Failure {
                            span: i.span,
                            error,
                        })?,
                };
                self.template
                    .engine()
                    .eval_bound(&compiled, &mut self.bindings)
                    .map_err(|error| Failure {
                        span: i.span,
                        error,
                    })?
            }
        })
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<Value, Failure> {
        let at = |error: ScriptError| Failure {
            span: position::span_in_file(&e.source, e.source_span, error.position()),
            error,
        };
        let compiled = match self.template.compiled(e) {
            Some(c) => c.clone(),
            None => self.template.engine().compile(&e.source).map_err(at)?,
        };
        let analysis = &self.analysis;
        self.template
            .engine()
            .eval_bound(&compiled, &mut self.bindings)
            .map_err(|error| at(explain_missing(analysis, &e.source, error)))
    }

    /// The rhai source of a value that reads step outputs: what can be resolved now is
    /// inlined as a literal, the rest stays as written. A credential is never inlined (the
    /// plan's text would hold it): a value under a credential key (`credential`), or one
    /// holding a credential, stays as written too and is evaluated with the rest.
    fn deferred(&mut self, value: &ast::Value, credential: bool) -> Result<String, Failure> {
        if runtime_refs(value).is_empty() {
            let resolved = self.resolve(value)?;
            let literal = rhai_literal(&resolved);
            let secret = credential && !matches!(resolved, Value::Null | Value::Bool(_));
            if !secret && !mentions_secret(&literal, &self.secrets) {
                return Ok(literal);
            }
        }
        Ok(match &value.kind {
            ValueKind::Expr(e) => format!("({})", e.source.trim()),
            ValueKind::String(s) => {
                // Adjacent text (and parts known now) merge into one literal.
                let mut pieces: Vec<String> = Vec::new();
                let mut text = String::new();
                for part in &s.parts {
                    match part {
                        StringPart::Text(t) => text.push_str(t),
                        StringPart::Expr(e)
                            if !credential
                                && !scan::field_refs(&e.source).iter().any(is_runtime)
                                && !mentions_secret(&display(&self.expr(e)?), &self.secrets) =>
                        {
                            text.push_str(&display(&self.expr(e)?));
                        }
                        StringPart::Expr(e) => {
                            if !text.is_empty() || pieces.is_empty() {
                                pieces.push(rhai_literal(&Value::from(std::mem::take(&mut text))));
                            }
                            pieces.push(format!("({})", e.source.trim()));
                        }
                    }
                }
                if !text.is_empty() {
                    pieces.push(rhai_literal(&Value::from(text)));
                }
                pieces.join(" + ")
            }
            ValueKind::List(items) => {
                let parts = items
                    .iter()
                    .map(|v| self.deferred(v, credential))
                    .collect::<Result<Vec<_>, _>>()?;
                format!("[{}]", parts.join(", "))
            }
            ValueKind::Map(m) => {
                let mut parts = Vec::new();
                for entry in &m.entries {
                    let key = &entry.key.name;
                    parts.push(format!(
                        "{}: {}",
                        rhai_literal(&Value::from(key.clone())),
                        self.deferred(&entry.value, credential || is_credential_key(key))?
                    ));
                }
                format!("#{{{}}}", parts.join(", "))
            }
            // A param or let holding a credential: read by name when the step runs.
            ValueKind::Ident(i) => format!("({})", i.name),
            // Other literals never read step outputs: they are the template's own text.
            _ => rhai_literal(&self.resolve(value)?),
        })
    }
}

fn retry_policy(retry: Option<&Retry>) -> RetryPolicy {
    let default = RetryPolicy::default();
    match retry {
        None => default,
        Some(r) => RetryPolicy {
            retries: u32::try_from(r.count).unwrap_or(u32::MAX),
            backoff_ms: r.backoff.as_ref().map_or(default.backoff_ms, |d| d.millis),
            max_backoff_ms: r.max.as_ref().map_or(default.max_backoff_ms, |d| d.millis),
        },
    }
}

/// A value as interpolated into a string: strings as they are, `null` as nothing, the rest
/// as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON value as a rhai literal.
pub fn rhai_literal(value: &Value) -> String {
    match value {
        Value::Null => "()".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            // `-9223372036854775808` would overflow as a positive literal before negation.
            (Some(i64::MIN), _) => format!("({} - 1)", i64::MIN + 1),
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:?}"),
            _ => "()".to_string(),
        },
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(rhai_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "#{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    rhai_literal(&Value::from(k.clone())),
                    rhai_literal(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
