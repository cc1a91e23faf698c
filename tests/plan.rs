//! Planning: params and their precedence, types and constraints, lets, approval, `with`
//! values resolved or deferred, the step graph, defaults, and the run's overrides. Each test
//! goes through one helper: a workflow body, an analysis and overrides (YAML) → a plan.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use remedy::api::{AIAnalysisStatus, FailureReason, WorkflowExecutionSpec};
use remedy::plan::{ExecutionPlan, PlanContext, PlanError, PlannedValue, StepStage, plan};
use remedy::script::EvalContext;
use remedy::template::Template;
use serde_json::{Value, json};

const ANALYSIS: &str = r#"
phase: Completed
targetResource: { kind: Deployment, name: web, namespace: shop }
confidence: 0.9
parameters: { memory_limit: "512Mi" }
metrics: { memory_limit: "512Mi", restarts: 7 }
"#;

const MEM: &str = "fn scale(q, f) { format_quantity(parse_quantity(q) * f, \"Mi\") }";

fn template(body: &str) -> Template {
    let text = format!("workflow \"t\" version \"1.2.0\" {{\n{body}\n}}\n");
    let modules = BTreeMap::from([("mem".to_string(), MEM.to_string())]);
    Template::from_source("t.wf", &text, modules).unwrap_or_else(|e| panic!("{e}"))
}

/// Plan `body` against `analysis` (YAML status) with WorkflowExecution `spec` (YAML).
fn plan_with(body: &str, analysis: &str, spec: &str) -> Result<ExecutionPlan, PlanError> {
    let analysis: AIAnalysisStatus = serde_saphyr::from_str(analysis).expect("analysis YAML");
    let spec: WorkflowExecutionSpec =
        serde_saphyr::from_str(&format!("aiAnalysisRef: {{ name: ai }}\n{spec}")).expect("spec");
    let ctx = PlanContext {
        namespace: "shop".into(),
        execution: "wfe-1".into(),
        ..PlanContext::default()
    };
    plan(&template(body), &analysis, &spec, &ctx)
}

fn plan_ok(body: &str, spec: &str) -> ExecutionPlan {
    plan_with(body, ANALYSIS, spec).unwrap_or_else(|e| panic!("{e}"))
}

fn params(body: &str, spec: &str) -> Value {
    Value::Object(plan_ok(body, spec).parameters)
}

fn plan_err(body: &str, spec: &str) -> PlanError {
    plan_with(body, ANALYSIS, spec).expect_err("planning should fail")
}

/// The message of a failed plan, asserting its failure reason.
fn error(body: &str, spec: &str, reason: FailureReason) -> String {
    let e = plan_err(body, spec);
    assert_eq!(e.reason(), reason, "{e}");
    e.to_string()
}

const STEP: &str = "step s { action \"notify_only\" with { message: \"hi\" } }";

mod parameters {
    use super::*;

    #[test]
    fn override_beats_analysis_beats_default() {
        let body = format!(
            "param memory_limit: string = \"1Gi\"\nparam factor: float = 1.5\nparam n: int = 1\n{STEP}"
        );
        assert_eq!(
            params(&body, "parameters: { n: 3 }"),
            json!({ "memory_limit": "512Mi", "factor": 1.5, "n": 3 })
        );
        assert_eq!(
            params(&body, "parameters: { memory_limit: 2Gi }")["memory_limit"],
            json!("2Gi")
        );
    }

    #[test]
    fn defaults_may_be_expressions_over_the_analysis() {
        let body = format!(
            "param namespace: string = ${{ analysis.target.namespace }}\n\
             param deployment: string = ${{ analysis.targetResource.name }}\n{STEP}"
        );
        assert_eq!(
            params(&body, ""),
            json!({ "namespace": "shop", "deployment": "web" })
        );
    }

    #[test]
    fn types_are_checked_and_normalised() {
        let body = format!(
            "param f: float = 1.0\nparam d: duration = 30s\nparam l: list = []\nparam m: map = {{}}\n\
             param b: bool = false\nparam a: any = 1\n{STEP}"
        );
        assert_eq!(
            params(
                &body,
                "parameters: { f: 2, d: 1h30m, l: [1], m: { k: v }, b: true, a: [x] }"
            ),
            json!({ "f": 2.0, "d": "1h30m", "l": [1], "m": { "k": "v" }, "b": true, "a": ["x"] })
        );
        assert_eq!(params(&body, "")["d"], json!("30s"));
    }

    #[test]
    fn a_mistyped_value_names_the_param_and_its_source() {
        let body = format!("param n: int = 1\nparam d: duration = 30s\n{STEP}");
        assert_eq!(
            error(
                &body,
                "parameters: { n: 2.5 }",
                FailureReason::InvalidParameters
            ),
            "param `n` must be an int, got 2.5 (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            error(
                &body,
                "parameters: { d: soon }",
                FailureReason::InvalidParameters
            ),
            "param `d` must be a duration (such as \"30s\", \"5m\" or \"1h30m\"), got \"soon\" \
             (from the WorkflowExecution's parameters)"
        );
        let body = format!("param memory_limit: int = 1\n{STEP}");
        assert_eq!(
            error(&body, "", FailureReason::InvalidParameters),
            "param `memory_limit` must be an int, got \"512Mi\" (from the AIAnalysis's parameters)"
        );
    }

    #[test]
    fn constraints_are_checked() {
        let body = format!(
            "param factor: float = 1.5 {{ min 1.0  max 4.0 }}\n\
             param mode: string = \"fast\" {{ enum [\"fast\", \"slow\"] }}\n\
             param name: string = \"web\" {{ pattern \"[a-z]+\" }}\n\
             param wait: duration = 1m {{ max 5m }}\n{STEP}"
        );
        let invalid = |spec| error(&body, spec, FailureReason::InvalidParameters);
        assert_eq!(
            invalid("parameters: { factor: 5.0 }"),
            "param `factor` must be at most 4.0, got 5.0 (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            invalid("parameters: { factor: 0 }"),
            "param `factor` must be at least 1.0, got 0.0 (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            invalid("parameters: { mode: medium }"),
            "param `mode` must be one of \"fast\", \"slow\", got \"medium\" \
             (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            invalid("parameters: { name: web-1 }"),
            "param `name` must match the pattern `[a-z]+`, got \"web-1\" \
             (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            invalid("parameters: { wait: 10m }"),
            "param `wait` must be at most 5m, got \"10m\" (from the WorkflowExecution's parameters)"
        );
        assert_eq!(
            params(&body, "parameters: { factor: 4, wait: 5m }")["factor"],
            json!(4.0)
        );
    }

    #[test]
    fn a_required_param_needs_a_value() {
        let body = format!("param replicas: int\n{STEP}");
        assert_eq!(
            error(&body, "", FailureReason::InvalidParameters),
            "param `replicas` is required: set it in the WorkflowExecution's parameters \
             (or have the AIAnalysis suggest it)"
        );
        assert_eq!(
            params(&body, "parameters: { replicas: 2 }")["replicas"],
            json!(2)
        );
    }

    #[test]
    fn a_default_that_gives_nothing_is_an_error_but_null_is_optional() {
        let body = format!("param node: string = ${{ analysis.target.node }}\n{STEP}");
        assert_eq!(
            error(&body, "", FailureReason::InvalidParameters),
            "param `node` has no value: its default `${ analysis.target.node }` gives nothing \
             for this analysis; set `node` in the WorkflowExecution's parameters"
        );
        let body = format!("param node: string = null\n{STEP}");
        assert_eq!(params(&body, ""), json!({ "node": null }));
    }

    #[test]
    fn an_override_must_name_a_param() {
        let body = format!("param factor: float = 1.5\n{STEP}");
        assert_eq!(
            error(
                &body,
                "parameters: { facter: 2.0 }",
                FailureReason::InvalidParameters
            ),
            "the WorkflowExecution's parameters set `facter`, which is not a param of workflow \
             t 1.2.0 (its params are `factor`)"
        );
    }
}

mod lets_and_scripts {
    use super::*;

    #[test]
    fn lets_compute_in_order_with_modules() {
        let body = format!(
            "import \"lib/memory.rhai\" as mem\nparam factor: float = 2.0\n\
             let new_limit = ${{ mem::scale(analysis.metrics.memory_limit, factor) }}\n\
             let label = \"${{workflow.name}}/${{workflow.execution}}: ${{new_limit}}\"\n{STEP}"
        );
        assert_eq!(
            params(&body, ""),
            json!({ "factor": 2.0, "new_limit": "1024Mi", "label": "t/wfe-1: 1024Mi" })
        );
    }

    #[test]
    fn a_failing_script_is_a_script_error_with_its_place() {
        let body = format!("let x = ${{ 1 + nope }}\n{STEP}");
        let e = plan_err(&body, "");
        assert_eq!(e.reason(), FailureReason::ScriptError);
        assert!(e.to_string().starts_with("let `x`: "), "{e}");
        assert!(e.to_string().contains("nope"), "{e}");
        let text = template(&body).source.text().to_string();
        let span = e.span().expect("span");
        assert_eq!(&text[span.start..span.end], "nope");
    }

    #[test]
    fn an_analysis_without_a_target_is_named_not_a_rhai_getter() {
        // Before: "Unknown property 'namespace' - a getter is not registered for type '()'".
        let body = format!(
            "param namespace: string = ${{ analysis.target.namespace }}\n\
             let deployment = ${{ analysis.targetResource.name }}\n{STEP}"
        );
        let no_target = "phase: Completed\nmetrics: { replicas: 2 }\n";
        let e = plan_with(&body, no_target, "").expect_err("no target");
        assert_eq!(e.reason(), FailureReason::ScriptError);
        assert_eq!(
            e.to_string(),
            "the default of param `namespace`: the AIAnalysis has no `targetResource`, and this \
             reads `analysis.target.namespace`: the analysis must give `targetResource` in its \
             status (or the template must check `analysis.target` before reading it)"
        );
        assert!(!e.to_string().contains("getter"), "{e}");
        // A field missing deeper in the analysis is named the same way.
        let body = format!("let r = ${{ analysis.metrics.pods.ready }}\n{STEP}");
        let e = plan_with(&body, no_target, "").expect_err("no metrics.pods");
        assert!(
            e.to_string().contains(
                "the AIAnalysis has no `metrics.pods`, and this reads `analysis.metrics.pods.ready`"
            ),
            "{e}"
        );
        // Other script errors keep rhai's words.
        let body = format!("let r = ${{ analysis.metrics.replicas.nope }}\n{STEP}");
        let e = plan_with(&body, no_target, "").expect_err("a property of an int");
        assert!(!e.to_string().contains("the AIAnalysis has no"), "{e}");
    }

    #[test]
    fn an_over_budget_script_fails_planning_quickly() {
        let body = format!("let x = ${{ \"x\".pad(10000000, 'y') }}\n{STEP}");
        let e = plan_err(&body, "");
        assert_eq!(e.reason(), FailureReason::ScriptError);
        assert!(e.to_string().contains("over budget"), "{e}");
    }
}

mod approval {
    use super::*;

    #[test]
    fn required_expression_or_absent() {
        assert!(!plan_ok(STEP, "").approval_required);
        assert!(plan_ok(&format!("approval required\n{STEP}"), "").approval_required);
        let body = format!("approval ${{ analysis.confidence < 0.95 }}\n{STEP}");
        assert!(plan_ok(&body, "").approval_required);
        let body = format!("approval ${{ analysis.confidence < 0.5 }}\n{STEP}");
        assert!(!plan_ok(&body, "").approval_required);
    }

    #[test]
    fn the_expression_must_be_a_bool() {
        let body = format!("approval ${{ analysis.confidence }}\n{STEP}");
        assert_eq!(
            error(&body, "", FailureReason::ScriptError),
            "`approval`: the condition must give true or false, got 0.9"
        );
    }
}

mod steps {
    use super::*;

    pub(super) const BODY: &str = r#"
param namespace: string = ${ analysis.target.namespace }
param deployment: string = ${ analysis.target.name }
step backup {
  action "backup_data"
  with { namespace, resource: "deployment/${deployment}", keep: 2h }
  timeout 2m
}
step scale_out {
  when ${ analysis.confidence >= 0.8 }
  action "scale_deployment"
  with { namespace: namespace, deployment: deployment, replicas: ${ analysis.metrics.restarts - 4 } }
  retry 3 backoff 5s max 1m
  on_failure continue
  rollback {
    action "scale_deployment"
    with { namespace, deployment, replicas: ${ self.output.previous_replicas } }
  }
}
parallel {
  step a { action "notify_only" with { message: "${namespace}: ${ steps.scale_out.output.replicas }" } }
  step b { action "notify_only" with { message: "b", extra: [namespace, ${ steps.backup.attempts }] } }
}
step c after backup { action "notify_only" with { message: "c" } }
verify within 10m {
  step healthy { action "verify_deployment" with { namespace, deployment } }
}
finally {
  step tell { action "notify_only" with { message: "done: ${workflow.phase}" } }
}
"#;

    fn step<'a>(p: &'a ExecutionPlan, name: &str) -> &'a remedy::plan::PlannedStep {
        p.steps.iter().find(|s| s.name == name).expect("step")
    }

    #[test]
    fn steps_keep_declared_order_and_the_graph() {
        let p = plan_ok(BODY, "");
        let order: Vec<(&str, StepStage, Vec<&str>)> = p
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.stage,
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("backup", StepStage::Main, vec![]),
                ("scale_out", StepStage::Main, vec!["backup"]),
                ("a", StepStage::Main, vec!["scale_out"]),
                ("b", StepStage::Main, vec!["scale_out"]),
                ("c", StepStage::Main, vec!["backup"]),
                ("healthy", StepStage::Verify, vec!["a", "b", "c"]),
                ("tell", StepStage::Finally, vec!["healthy"]),
            ]
        );
    }

    #[test]
    fn with_values_resolve_now_when_they_can() {
        let p = plan_ok(BODY, "");
        let with = &step(&p, "backup").action.with;
        assert_eq!(with["namespace"], PlannedValue::Value(json!("shop")));
        assert_eq!(
            with["resource"],
            PlannedValue::Value(json!("deployment/web"))
        );
        assert_eq!(with["keep"], PlannedValue::Value(json!("2h")));
    }

    fn with_replicas() -> ExecutionPlan {
        plan_ok(BODY, "")
    }

    #[test]
    fn values_reading_steps_or_self_are_deferred() {
        let p = with_replicas();
        let s = step(&p, "scale_out");
        assert_eq!(s.action.with["replicas"], PlannedValue::Value(json!(3)));
        let rb = s.rollback.as_ref().expect("rollback");
        assert_eq!(
            rb.with["replicas"],
            PlannedValue::Deferred("self.output.previous_replicas".into())
        );
        assert_eq!(rb.with["namespace"], PlannedValue::Value(json!("shop")));
        assert_eq!(
            step(&p, "a").action.with["message"],
            PlannedValue::Deferred(r#""shop: " + (steps.scale_out.output.replicas)"#.into())
        );
        assert_eq!(
            step(&p, "b").action.with["extra"],
            PlannedValue::Deferred(r#"["shop", (steps.backup.attempts)]"#.into())
        );
        assert_eq!(
            step(&p, "tell").action.with["message"],
            PlannedValue::Deferred(r#""done: " + (workflow.phase)"#.into())
        );
    }

    #[test]
    fn deferred_values_evaluate_at_run_time() {
        let p = with_replicas();
        let engine = p.script_engine().expect("engine");
        let Value::Object(steps) = json!({
            "scale_out": { "output": { "replicas": 3 } },
            "backup": { "attempts": 1 },
        }) else {
            unreachable!()
        };
        let ctx = EvalContext {
            steps: Some(steps),
            ..p.eval_context()
        };
        let eval = |step_name: &str, key: &str| {
            let value = &step(&p, step_name).action.with[key];
            assert!(matches!(value, PlannedValue::Deferred(_)), "{value:?}");
            value.resolve(&engine, &ctx).expect("evaluates")
        };
        assert_eq!(eval("a", "message"), json!("shop: 3"));
        assert_eq!(eval("b", "extra"), json!(["shop", 1]));
        let namespace = &step(&p, "backup").action.with["namespace"];
        assert_eq!(namespace.resolve(&engine, &ctx), Ok(json!("shop")));
    }

    #[test]
    fn when_policies_and_timeouts() {
        let p = with_replicas();
        let s = step(&p, "scale_out");
        assert_eq!(s.when.as_deref(), Some("analysis.confidence >= 0.8"));
        assert_eq!(s.on_failure.as_str(), "continue");
        assert_eq!(
            (
                s.action.retry.retries,
                s.action.retry.backoff_ms,
                s.action.retry.max_backoff_ms
            ),
            (3, 5_000, 60_000)
        );
        assert_eq!(step(&p, "backup").action.timeout_ms, 120_000);
        let a = step(&p, "a");
        assert_eq!(a.when, None);
        assert_eq!(a.on_failure.as_str(), "rollback");
        assert_eq!(a.action.timeout_ms, 300_000);
        assert_eq!(
            (
                a.action.retry.retries,
                a.action.retry.backoff_ms,
                a.action.retry.max_backoff_ms
            ),
            (0, 10_000, 300_000)
        );
        assert_eq!(p.verify_within_ms, Some(600_000));
        assert_eq!(s.effect.as_str(), "reversible");
        assert_eq!(a.effect.as_str(), "read_only");
    }
}

mod run_settings {
    use super::*;

    #[test]
    fn defaults() {
        let p = plan_ok(STEP, "");
        assert_eq!((p.timeout_ms, p.max_parallel), (1_800_000, 5));
        assert_eq!(p.rollback.as_str(), "automatic");
        assert!(!p.dry_run);
        assert_eq!(p.verify_within_ms, None);
        assert_eq!((p.workflow.as_str(), p.version.as_str()), ("t", "1.2.0"));
        assert!(p.digest.starts_with("sha256:"));
        assert_eq!(
            Value::Object(p.workflow_info),
            json!({ "name": "t", "version": "1.2.0", "namespace": "shop", "execution": "wfe-1" })
        );
    }

    #[test]
    fn template_settings() {
        let p = plan_ok(
            &format!("timeout 20m\nmax_parallel 2\nrollback manual\n{STEP}"),
            "",
        );
        assert_eq!((p.timeout_ms, p.max_parallel), (1_200_000, 2));
        assert_eq!(p.rollback.as_str(), "manual");
    }

    #[test]
    fn the_workflow_execution_overrides_rollback_and_dry_run() {
        let body = format!("rollback manual\n{STEP}");
        let p = plan_ok(&body, "rollbackStrategy: none\ndryRun: true");
        assert_eq!(p.rollback.as_str(), "none");
        assert!(p.dry_run);
    }

    #[test]
    fn the_plan_round_trips_through_json() {
        let p = plan_ok(steps::BODY, "");
        let json = serde_json::to_value(&p).expect("serialise");
        let back: ExecutionPlan = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, p);
    }
}

mod errors {
    use super::*;

    #[test]
    fn reasons_map_to_the_contract() {
        assert_eq!(
            PlanError::TemplateNotFound("x".into()).reason(),
            FailureReason::TemplateNotFound
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the analysis holds, planning returns a plan or a typed error, never a panic.
    #[test]
    fn any_analysis_plans_or_fails_cleanly(
        keys in proptest::collection::vec("[a-z]{1,8}", 0..6),
        values in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            "[a-zA-Z0-9 .:-]{0,12}".prop_map(|s| format!("{s:?}")),
            Just("[1, 2]".to_string()),
            Just("{ a: 1 }".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
        ], 6),
        confidence in prop_oneof![Just("0.9".to_string()), Just("\"high\"".to_string()), Just("null".to_string())],
    ) {
        let params: Vec<String> = keys.iter().zip(&values).map(|(k, v)| format!("{k}: {v}")).collect();
        let analysis = format!(
            "targetResource: {{ kind: Deployment, name: web, namespace: shop }}\n\
             confidence: {confidence}\nparameters: {{ {} }}\nmetrics: {{ {} }}\n",
            params.join(", "),
            params.join(", ")
        );
        let Ok(status) = serde_saphyr::from_str::<AIAnalysisStatus>(&analysis) else {
            return Ok(());
        };
        let body = "param a: int = 1 { min 0 max 10 }\nparam b: string = \"x\"\nparam c: float = 1.0\n\
                    param d: duration = 1s\nlet e = ${ analysis.metrics.a + 1 }\n\
                    approval ${ analysis.confidence > 0.5 }\n\
                    step s { action \"notify_only\" with { message: \"${a} ${b} ${c} ${d}\" } }";
        let spec: WorkflowExecutionSpec = serde_saphyr::from_str("aiAnalysisRef: { name: ai }").unwrap();
        match plan(&template(body), &status, &spec, &PlanContext::default()) {
            Ok(p) => prop_assert_eq!(p.steps.len(), 1),
            Err(e) => prop_assert!(matches!(
                e.reason(),
                FailureReason::InvalidParameters | FailureReason::ScriptError
            )),
        }
    }
}

mod cli {
    use std::process::Command;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/plan");

    /// Run `remedy plan ARGS…` in the fixture directory: exit code, stdout, stderr.
    fn remedy_plan(args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
            .arg("plan")
            .args(args)
            .current_dir(DIR)
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn snapshot(name: &str, text: &str) {
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, text);
        });
    }

    #[test]
    fn prints_the_plan_as_a_table() {
        let (code, out, err) = remedy_plan(&[
            "oom-recovery.wf",
            "--analysis",
            "analysis.yaml",
            "--execution",
            "wfe-a",
        ]);
        assert_eq!(code, 0, "{err}");
        snapshot("plan_cli_table", &out);
    }

    #[test]
    fn finds_templates_by_name_and_prints_json() {
        let (code, out, err) = remedy_plan(&[
            "oom-recovery@1.2.0",
            "--templates",
            ".",
            "--analysis",
            "analysis.yaml",
            "--set",
            "factor=3",
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let plan: remedy::plan::ExecutionPlan = serde_json::from_str(&out).expect("a plan");
        assert_eq!(plan.parameters["factor"], serde_json::json!(3.0));
        assert_eq!(plan.parameters["new_limit"], serde_json::json!("1536Mi"));
        let (code, out, _) = remedy_plan(&[
            "oom-recovery",
            "--templates",
            ".",
            "--analysis",
            "analysis.yaml",
            "--format",
            "yaml",
        ]);
        assert_eq!(code, 0);
        assert!(out.contains("workflow: oom-recovery"), "{out}");
    }

    #[test]
    fn a_plan_error_exits_1_and_says_why() {
        let (code, out, err) = remedy_plan(&[
            "oom-recovery.wf",
            "--analysis",
            "analysis.yaml",
            "--set",
            "factor=5.0",
        ]);
        assert_eq!((code, out.as_str()), (1, ""));
        snapshot("plan_cli_invalid_parameters", &err);
        let (code, _, err) = remedy_plan(&[
            "nothing@1.0.0",
            "--templates",
            ".",
            "--analysis",
            "analysis.yaml",
        ]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("error[TemplateNotFound]: no template named \"nothing\" in ."),
            "{err}"
        );
    }

    #[test]
    fn a_script_error_points_into_the_template() {
        let (code, _, err) = remedy_plan(&[
            "oom-recovery.wf",
            "--analysis",
            "analysis.yaml",
            "--set",
            "factor=\"x\"",
        ]);
        assert_eq!(code, 1);
        assert!(
            err.contains("param `factor` must be a float, got \"x\""),
            "{err}"
        );
        let (code, _, err) = remedy_plan(&["script-error.wf", "--analysis", "analysis.yaml"]);
        assert_eq!(code, 1);
        snapshot("plan_cli_script_error", &err);
    }

    #[test]
    fn an_analysis_file_with_a_typo_is_refused_not_read_as_empty() {
        // Each of these used to plan as if the analysis said nothing.
        let dir = tempfile::tempdir().expect("dir");
        for (what, text, words) in [
            (
                "misspelt status",
                "statuss:\n  phase: Completed\n",
                "analysis.yaml:1:1: statuss: unknown field `statuss`: did you mean `status`?",
            ),
            (
                "object without kind",
                "apiVersion: aianalysis.kubernaut.io/v1alpha1\nmetadata: { name: a }\nstatus: { phase: Completed }\n",
                "analysis.yaml:1:1: apiVersion: an object needs `kind: AIAnalysis`",
            ),
            (
                "object without kind or apiVersion",
                "metadata: { name: a }\nstatus: { phase: Completed }\n",
                "analysis.yaml:1:1: metadata: this looks like an AIAnalysis object",
            ),
            (
                "misspelt target field",
                "kind: AIAnalysis\nstatus:\n  targetResource: { kind: Deployment, nme: web }\n",
                "analysis.yaml:3:39: status.targetResource.nme: unknown field `nme`: did you mean `name`?",
            ),
            (
                "another kind",
                "kind: Deployment\nstatus: {}\n",
                "analysis.yaml:1:7: kind: `Deployment` is not an AIAnalysis",
            ),
            (
                "unknown phase",
                "phase: Complete\n",
                "analysis.yaml:1:8: phase: `Complete` is not one of the values: did you mean `Completed`?",
            ),
        ] {
            let path = dir.path().join("analysis.yaml");
            std::fs::write(&path, text).expect("write");
            let (code, out, err) = remedy_plan(&[
                "oom-recovery.wf",
                "--analysis",
                path.to_str().expect("utf-8"),
            ]);
            assert_eq!((code, out.as_str()), (2, ""), "{what}: {err}");
            let err = err.replace(&format!("{}/", dir.path().display()), "");
            assert!(err.starts_with(&format!("error: {words}")), "{what}: {err}");
        }
    }

    #[test]
    fn usage_and_io_errors_exit_2() {
        assert_eq!(
            remedy_plan(&["oom-recovery.wf", "--analysis", "missing.yaml"]).0,
            2
        );
        assert_eq!(
            remedy_plan(&["missing.wf", "--analysis", "analysis.yaml"]).0,
            2
        );
        assert_eq!(
            remedy_plan(&[
                "oom-recovery.wf",
                "--analysis",
                "analysis.yaml",
                "--set",
                "factor"
            ])
            .0,
            2
        );
        assert_eq!(remedy_plan(&["oom-recovery.wf"]).0, 2);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e300f64..1.0e300).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "[\"\\\\\n\t\r\u{1}`$]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// What a deferred value inlines as a literal reads back as the same value.
    #[test]
    fn rhai_literals_read_back_as_the_same_value(value in json_value()) {
        let engine = remedy::script::ScriptEngine::new(&BTreeMap::new()).unwrap();
        let source = remedy::plan::rhai_literal(&value);
        let back = engine.eval_source(&source, &EvalContext::default());
        prop_assert_eq!(back, Ok(value), "{}", source);
    }
}

/// Credentials in a plan: never copied into a deferred value's source, never shown in a
/// message or by `remedy plan`.
mod credentials {
    use super::*;

    const CREDS: &str = r#"
  param namespace: string = ${ analysis.target.namespace }
  param db_password: string { pattern "^[a-z0-9-]+$" }
  let dsn = "postgres://app:${db_password}@db/shop"
  step patch {
    action "patch_configmap"
    with { namespace, configmap: "app", data: { "DB_PASSWORD": db_password, "DSN": dsn } }
    rollback {
      action "patch_configmap"
      with { namespace, configmap: "app", data: ${ self.output.previous_data } }
    }
  }
  step mark {
    action "patch_configmap"
    with { namespace, configmap: "app", data: { "token": dsn, when: "${steps.patch.attempts}" } }
    rollback {
      action "patch_configmap"
      with { namespace, configmap: "app", data: ${ self.output.previous_data } }
    }
  }
  finally {
    step tell {
      action "notify_only"
      with {
        message: "pw ${db_password}, dsn ${dsn}, cause ${analysis.rootCause}, after ${steps.patch.attempts}"
      }
    }
  }
"#;

    const CREDS_ANALYSIS: &str = r#"
phase: Completed
targetResource: { kind: Deployment, name: web, namespace: shop }
rootCause: "seen in the logs: password=swordfish-7"
parameters: { db_password: "hunter2-x" }
"#;

    fn with_of<'a>(p: &'a ExecutionPlan, step: &str, key: &str) -> &'a PlannedValue {
        &p.steps
            .iter()
            .find(|s| s.name == step)
            .expect("step")
            .action
            .with[key]
    }

    #[test]
    fn deferred_values_read_credentials_by_name_and_still_evaluate_to_them() {
        let p = plan_with(CREDS, CREDS_ANALYSIS, "").unwrap_or_else(|e| panic!("{e}"));
        for (step, key) in [("tell", "message"), ("mark", "data")] {
            let PlannedValue::Deferred(source) = with_of(&p, step, key) else {
                panic!("{step}.{key} is deferred");
            };
            for clear in ["hunter2-x", "swordfish-7"] {
                assert!(!source.contains(clear), "{step}.{key}: {source}");
            }
        }
        let engine = p.script_engine().expect("engine");
        let Value::Object(steps) = json!({ "patch": { "attempts": 1 } }) else {
            unreachable!()
        };
        let ctx = EvalContext {
            steps: Some(steps),
            ..p.eval_context()
        };
        assert_eq!(
            with_of(&p, "tell", "message").resolve(&engine, &ctx),
            Ok(json!(
                "pw hunter2-x, dsn postgres://app:hunter2-x@db/shop, cause seen in the logs: password=swordfish-7, after 1"
            ))
        );
        assert_eq!(
            with_of(&p, "mark", "data").resolve(&engine, &ctx),
            Ok(json!({ "token": "postgres://app:hunter2-x@db/shop", "when": "1" }))
        );
    }

    #[test]
    fn a_refused_credential_is_not_echoed() {
        let e = plan_with(
            CREDS,
            CREDS_ANALYSIS,
            "parameters: { db_password: \"Not-Allowed-S3cret\" }",
        )
        .expect_err("refused");
        let message = e.to_string();
        assert!(
            message.contains("param `db_password` must match"),
            "{message}"
        );
        assert!(!message.contains("Not-Allowed-S3cret"), "{message}");
    }

    #[test]
    fn remedy_plan_prints_no_credential_in_any_format() {
        use std::process::Command;
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join("creds.wf");
        std::fs::write(
            &wf,
            format!("workflow \"creds\" version \"1.0.0\" {{\n{CREDS}\n}}\n"),
        )
        .unwrap();
        let analysis = dir.path().join("analysis.yaml");
        std::fs::write(&analysis, CREDS_ANALYSIS).unwrap();
        let plan = |extra: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
                .arg("plan")
                .arg(&wf)
                .arg("--analysis")
                .arg(&analysis)
                .args(extra)
                .output()
                .expect("runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        for format in ["table", "json", "yaml"] {
            let (code, out, err) = plan(&["--format", format]);
            assert_eq!(code, Some(0), "{err}");
            assert!(out.contains("***"), "{format}: {out}");
            for clear in ["hunter2-x", "swordfish-7"] {
                assert!(!out.contains(clear), "{format} shows {clear}: {out}");
            }
        }
        let (code, _, err) = plan(&["--set", "db_password=Bad-S3cret-Value"]);
        assert_eq!(code, Some(1));
        assert!(!err.contains("Bad-S3cret-Value"), "{err}");
    }
}

/// What a script prints goes to the debug log redacted: the analysis, a credential param.
mod script_output {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use remedy::script::{EvalContext, ScriptEngine};
    use serde_json::json;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn print_and_debug_of_the_analysis_are_logged_redacted() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let engine = ScriptEngine::new(&Default::default()).expect("engine");
        let ctx = EvalContext {
            analysis: json!({
                "rootCause": "login failed: password=swordfish-7",
                "parameters": { "db_password": "hunter2-x", "api_token": "tok-12345" },
            })
            .as_object()
            .cloned()
            .expect("map"),
            ..EvalContext::default()
        };
        tracing::subscriber::with_default(subscriber, || {
            let value = engine
                .eval_source(
                    "if print(analysis) == () && debug(analysis.parameters) == () { 1 } else { 2 }",
                    &ctx,
                )
                .expect("evaluates");
            assert_eq!(value, json!(1));
        });
        let text = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf-8");
        assert!(
            text.contains("print:") && text.contains("debug at"),
            "{text}"
        );
        for clear in ["swordfish-7", "hunter2-x", "tok-12345"] {
            assert!(!text.contains(clear), "{clear} logged: {text}");
        }
    }
}

/// The plan is pinned in the run's status: in `run`, a 20 MB plan was stored there.
mod size {
    use super::*;

    /// An analysis whose root cause alone is larger than a plan may be.
    #[test]
    fn a_plan_over_the_size_limit_is_refused() {
        let huge = format!(
            "{ANALYSIS}rootCause: \"{}\"\n",
            "x".repeat(remedy::plan::MAX_PLAN_BYTES)
        );
        let e = plan_with(STEP, &huge, "").expect_err("too large");
        assert_eq!(e.reason(), FailureReason::InvalidParameters);
        assert!(
            e.to_string()
                .starts_with("the plan is larger than the limit of 524288 bytes"),
            "{e}"
        );
    }

    /// Many values, each within the output limit, add up: the plan's own limit holds.
    #[test]
    fn many_large_values_add_up() {
        let analysis = format!("{ANALYSIS}rootCause: \"{}\"\n", "x".repeat(50_000));
        let lets: String = (0..12)
            .map(|i| format!("let l{i} = ${{ analysis.rootCause }}\n"))
            .collect();
        let e = plan_with(&format!("{lets}{STEP}"), &analysis, "").expect_err("too large");
        assert!(e.to_string().contains("larger than the limit"), "{e}");
        assert!(
            plan_with(
                &format!("let l = ${{ analysis.rootCause }}\n{STEP}"),
                &analysis,
                ""
            )
            .is_ok()
        );
    }
}

/// The plan fuzz target's seed corpus (an analysis, then a `---` line and overrides), hostile
/// seeds included (deep and wide analyses, YAML aliases, script text in an override): each
/// plans or fails with a typed error.
#[test]
fn fuzz_corpus_replays_without_panic() {
    let modules = BTreeMap::from([(
        "mem".to_string(),
        std::fs::read_to_string("tests/fixtures/plan/lib/memory.rhai").unwrap(),
    )]);
    let template = Template::from_source(
        "oom-recovery.wf",
        &std::fs::read_to_string("tests/fixtures/plan/oom-recovery.wf").unwrap(),
        modules,
    )
    .unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir("fuzz/corpus/plan").unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let (analysis, overrides) = text.split_once("\n---\n").unwrap_or((&text, ""));
        n += 1;
        let Ok(status) = serde_saphyr::from_str::<AIAnalysisStatus>(analysis) else {
            continue;
        };
        let spec = WorkflowExecutionSpec {
            parameters: serde_saphyr::from_str(overrides).ok(),
            ..WorkflowExecutionSpec::default()
        };
        let _ = plan(&template, &status, &spec, &PlanContext::default());
    }
    assert!(n >= 5, "the seed corpus has {n} files");
}
