//! The `remedy run` command: exit codes, JSON output, scenario errors.

use std::process::Command;

fn remedy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_remedy"))
        .current_dir(crate::root())
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
    assert!(err.contains("bad.yaml: faults[0]"), "{err}");

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
