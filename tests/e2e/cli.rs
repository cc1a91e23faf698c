//! The `remedy run` command: exit codes, JSON output, scenario errors.

use std::process::Command;

fn remedy(args: &[&str]) -> std::process::Output {
    // `remedy run` archives the run into the data directory: a temporary one.
    let data = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_remedy"))
        .current_dir(crate::root())
        .env("XDG_DATA_HOME", data.path())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn success_exits_0_and_json_output_is_the_summary() {
    let out = remedy(&[
        "run",
        "examples/latency-slo-scale-out.yaml",
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["outcome"], "Success");
    assert_eq!(summary["phase"], "Completed");
    assert_eq!(summary["workflow"], "latency-slo-scale-out@1.0.0");
    assert!(
        summary["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true)
    );
}

#[test]
fn a_dry_run_exits_0() {
    let out = remedy(&[
        "run",
        "examples/hpa-max-raise.yaml",
        "--dry-run",
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["outcome"], "DryRun");
    assert_eq!(summary["dryRun"], true);
}

#[test]
fn a_failed_run_exits_1_and_the_text_summary_names_the_failure() {
    let out = remedy(&["run", "examples/safety-violation.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Outcome: Failed (phase Failed)"), "{text}");
    assert!(text.contains("failure: SafetyViolation"), "{text}");
}

#[test]
fn scenario_errors_exit_2_and_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "description: x\nanalysis: { status: {} }\nfaults: [ { verb: get, resource: pods } ]\n",
    )
    .unwrap();
    let out = remedy(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:") && err.contains(": faults[0]: "),
        "{err}"
    );

    std::fs::write(
        &bad,
        "description: x\nanalysis: { status: {} }\nobjekts: []\n",
    )
    .unwrap();
    let out = remedy(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("objekts"), "{err}");

    let out = remedy(&["run", "examples/no-such-scenario.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = remedy(&["run", "examples/oom-recovery.yaml", "--speed", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn scenario_typos_exit_2_before_anything_runs() {
    // Each used to run to the end with exit 0 or 1: an expectation that can never hold, a
    // fault that never fires, a run that fails on a missing target with a rhai message.
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(crate::root().join("examples/oom-recovery.yaml")).unwrap();
    for (what, from, to, words) in [
        (
            "phase",
            "phase: Completed",
            "phase: Bogus",
            "expect.phase: `Bogus`",
        ),
        (
            "step",
            "scale_out: Succeeded",
            "scale_ot: Succeeded",
            "has no step `scale_ot`: did you mean `scale_out`?",
        ),
        (
            "target",
            "    targetResource: { kind: Deployment, name: web, namespace: shop, apiVersion: apps/v1 }\n",
            "",
            "analysis.status.targetResource: missing",
        ),
        (
            "fault",
            "expect:",
            "faults: [ { verb: udpate, resource: deployments, count: 1 } ]\nexpect:",
            "unknown verb `udpate`",
        ),
    ] {
        assert!(good.contains(from), "{what}");
        let path = dir.path().join(format!("{what}.yaml"));
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let started = std::time::Instant::now();
        let out = remedy(&["run", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(&format!("{what}.yaml:")) && err.contains(words),
            "{what}: {err}"
        );
        assert!(out.stdout.is_empty(), "{what}: nothing ran");
        let _ = started;
    }
}

#[test]
fn api_errors_read_as_sentences_not_debug_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(crate::root().join("examples/oom-recovery.yaml")).unwrap();
    // The same Deployment twice: the second create is refused with 409.
    let twice = good.replacen(
        "  - apiVersion: apps/v1\n",
        "  - { apiVersion: apps/v1, kind: Deployment, metadata: { name: web }, spec: { replicas: 1, selector: { matchLabels: { app: x } }, template: { metadata: { labels: { app: x } }, spec: { containers: [ { name: a, image: b } ] } } } }\n  - apiVersion: apps/v1\n",
        1,
    );
    let path = dir.path().join("twice.yaml");
    std::fs::write(&path, twice).unwrap();
    let out = remedy(&["run", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "cannot create Deployment web: the API server answered 409 AlreadyExists: deployments.apps \"web\" already exists"
        ),
        "{err}"
    );
    assert!(!err.contains("Status {") && !err.contains("Some("), "{err}");
}

#[test]
fn a_template_with_lint_errors_is_named_with_its_errors() {
    // The run's template does not pass lint: the operator leaves it out. `run` says so before
    // it starts, and the run's failure names the file and its first error.
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(crate::root().join("workflows/oom-recovery.wf")).unwrap();
    assert!(source.contains("action \"scale_deployment\""));
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    for lib in std::fs::read_dir(crate::root().join("workflows/lib")).unwrap() {
        let lib = lib.unwrap().path();
        std::fs::copy(&lib, dir.path().join("lib").join(lib.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("oom-recovery.wf"),
        source.replace("action \"scale_deployment\"", "action \"scale_deploymnt\""),
    )
    .unwrap();
    let out = remedy(&[
        "run",
        "examples/oom-recovery.yaml",
        "--templates",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: template left out: oom-recovery@1.0.0: ")
            && err.contains("oom-recovery.wf has 2 lint errors: ")
            && err.contains("[E0101] step `scale_out` uses unknown action `scale_deploymnt`; ")
            && err.contains("[E0101] the rollback of step `scale_out` uses unknown action"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("failure: TemplateNotFound: template \"oom-recovery\" is not served because it does not pass lint: oom-recovery@1.0.0 in ")
            && text.contains("scale_deploymnt"),
        "{text}"
    );
}

#[test]
fn a_run_of_a_thousand_steps_is_refused_before_it_starts() {
    // The attack: nothing bounded the steps of a template, and a 1,000-step run took 11.5 s
    // (2,000 steps: 48.7 s). A template over the step limit is left out like any template that
    // does not pass lint: `run` names it with E0128, and the run fails TemplateNotFound
    // without creating anything.
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(crate::root().join("workflows/oom-recovery.wf")).unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    for lib in std::fs::read_dir(crate::root().join("workflows/lib")).unwrap() {
        let lib = lib.unwrap().path();
        std::fs::copy(&lib, dir.path().join("lib").join(lib.file_name().unwrap())).unwrap();
    }
    let extra: String = (0..1000)
        .map(|i| format!("  step pad{i} {{ action \"notify_only\" with {{ message: \"x\" }} }}\n"))
        .collect();
    let at = source.find("\n  step ").expect("a step") + 1;
    let long = format!("{}{extra}{}", &source[..at], &source[at..]);
    std::fs::write(dir.path().join("oom-recovery.wf"), long).unwrap();
    let out = remedy(&[
        "run",
        "examples/oom-recovery.yaml",
        "--templates",
        dir.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning: template left out: oom-recovery@1.0.0: ")
            && err.contains("[E0128] the template declares 1"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["phase"], "Failed", "{summary}");
    assert_eq!(
        summary["failure"]["reason"], "TemplateNotFound",
        "{summary}"
    );
    assert_eq!(
        summary["steps"].as_array().map(Vec::len),
        Some(0),
        "{summary}"
    );
}

#[test]
fn a_run_awaiting_approval_stops_and_says_how_to_release_it() {
    // pvc-expand asks for approval; without `approved` in the scenario or --approve it waits.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(crate::root().join("examples/pvc-expand.yaml")).unwrap();
    let text = text.replace("  approved: true\n", "");
    let path = dir.path().join("pvc-unapproved.yaml");
    std::fs::write(&path, text).unwrap();
    let out = remedy(&["run", path.to_str().unwrap(), "--templates", "workflows"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--approve"));
    let out = remedy(&[
        "run",
        path.to_str().unwrap(),
        "--approve",
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_text_summary_reads_as_tables() {
    use remedy::scenario::check::CheckResult;
    use remedy::scenario::summary::{EventRow, ExecutionRow, FailureRow, ResourceRow, StepRow};
    let step = |name: &str, phase: &str, attempts, ms, message: &str| StepRow {
        name: name.into(),
        phase: phase.into(),
        attempts,
        duration_ms: ms,
        message: message.into(),
    };
    let summary = remedy::scenario::Summary {
        scenario: "oom-recovery-rolled-back".into(),
        run: "shop/oom-recovery-rolled-back".into(),
        workflow: Some("oom-recovery@1.0.0".into()),
        phase: Some("RolledBack".into()),
        outcome: Some("RolledBack".into()),
        failure: Some(FailureRow {
            step: Some("raise_memory".into()),
            reason: "StepFailed".into(),
            message: "step raise_memory failed: attempt 1: the API server answered 500".into(),
        }),
        dry_run: false,
        unfinished: None,
        elapsed_ms: 1800,
        speed: 1.0,
        steps: vec![
            step("backup", "Succeeded", 1, Some(120), ""),
            step("scale_out", "Compensated", 1, Some(240), ""),
            step(
                "raise_memory",
                "Failed",
                1,
                Some(60),
                "attempt 1: the API server answered 500",
            ),
            step(
                "healthy",
                "Skipped",
                0,
                None,
                "not started: the run is failing",
            ),
        ],
        rollback: vec![ExecutionRow {
            step: "scale_out".into(),
            execution: "oom-recovery-rolled-back-scale-out-rb-1".into(),
            action: "scale_deployment".into(),
            phase: "Succeeded".into(),
            error: String::new(),
        }],
        resources: vec![
            ResourceRow {
                step: "scale_out".into(),
                resource: "Deployment shop/web".into(),
                change: "scaled 2→3".into(),
            },
            ResourceRow {
                step: "rollback:scale_out".into(),
                resource: "Deployment shop/web".into(),
                change: "scaled 3→2".into(),
            },
        ],
        events: vec![EventRow {
            kind: "Warning".into(),
            reason: "RolledBack".into(),
            object: "WorkflowExecution/oom-recovery-rolled-back".into(),
            message: "phase RollingBack → RolledBack: StepFailed".into(),
            count: 1,
        }],
        checks: vec![
            CheckResult {
                what: "outcome".into(),
                expected: serde_json::json!("RolledBack"),
                actual: serde_json::json!("RolledBack"),
                passed: true,
            },
            CheckResult {
                what: "deployment shop/web spec.replicas".into(),
                expected: serde_json::json!(2),
                actual: serde_json::json!(3),
                passed: false,
            },
        ],
    };
    assert!(!summary.succeeded());
    let text = remedy::cli::run::render(&summary);
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("run_summary_rolled_back", text);
    });
}
