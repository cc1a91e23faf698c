//! Rehearsals: every rehearsal in `workflows/` passes; the format's errors name what is wrong;
//! a failing case shows a readable diff; `remedy test` prints one line per case and exits
//! 0, 1 or 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use remedy::rehearse::{self, RehearsalError, discover, run_file};

const DEMO_WF: &str = r#"workflow "demo" version "1.0.0" {
  param namespace: string = "shop"
  step scale {
    action "scale_deployment"
    with { namespace, deployment: "web", replicas: 3 }
    rollback {
      action "scale_deployment"
      with { namespace, deployment: "web", replicas: ${ self.output.previous_replicas } }
    }
  }
  step raise {
    action "increase_resources"
    with { namespace, deployment: "web", memory: "1Gi" }
  }
  finally {
    step tell {
      action "notify_only"
      with { message: "demo ended ${workflow.phase}" }
    }
  }
}
"#;

fn demo(rehearsal: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.wf"), DEMO_WF).unwrap();
    let path = dir.path().join("demo.rehearsal.yaml");
    std::fs::write(&path, rehearsal).unwrap();
    (dir, path)
}

fn workflows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows")
}

#[test]
fn every_rehearsal_in_workflows_passes() {
    let files = discover(&[workflows()]).unwrap();
    assert!(files.len() >= 10, "found {} rehearsal files", files.len());
    let mut failures = String::new();
    let mut cases = 0;
    for file in files {
        let report = run_file(&file).unwrap_or_else(|e| panic!("{e}"));
        for case in &report.cases {
            cases += 1;
            if !case.passed() {
                failures.push_str(&format!(
                    "FAIL {}: {}\n{}",
                    report.workflow,
                    case.name,
                    case.render_diff()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
    assert!(cases >= 30, "{cases} cases");
}

const PASSING: &str = r#"workflow: demo.wf
cases:
  - name: raise fails, scale is undone
    outcomes:
      scale: [ { output: { previous_replicas: 2 } } ]
      raise: [ { success: false, error: "exceeded quota" } ]
    expect:
      phase: RolledBack
      outcome: RolledBack
      failure_reason: StepFailed
      sequence: [scale, raise, rollback:scale, finally:tell]
      parameters: { namespace: shop }
      steps: { scale: Compensated, raise: Failed, tell: Succeeded }
"#;

#[test]
fn a_case_that_matches_passes() {
    let (_dir, path) = demo(PASSING);
    let report = run_file(&path).unwrap();
    assert_eq!(report.workflow, "demo");
    assert_eq!(report.cases.len(), 1);
    assert!(
        report.cases[0].passed(),
        "{}",
        report.cases[0].render_diff()
    );
}

#[test]
fn a_failing_case_shows_each_field_and_aligned_sequences() {
    let wrong = PASSING
        .replace("phase: RolledBack", "phase: Failed")
        .replace(
            "sequence: [scale, raise, rollback:scale, finally:tell]",
            "sequence: [scale, rollback:scale, finally:tell]",
        )
        .replace("namespace: shop }", "namespace: prod }")
        .replace("raise: Failed,", "raise: TimedOut,");
    let (_dir, path) = demo(&wrong);
    let report = run_file(&path).unwrap();
    let case = &report.cases[0];
    assert!(!case.passed());
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("rehearse_failing_case_diff", case.render_diff());
    });
}

#[test]
fn timeouts_and_durations_drive_the_virtual_clock() {
    let text = r#"workflow: demo.wf
cases:
  - name: raise hangs past its timeout
    outcomes:
      scale: [ { duration: 2m, output: { previous_replicas: 2 } } ]
      raise: [ { timeout: true } ]
    expect:
      phase: RolledBack
      failure_reason: StepTimedOut
      steps: { raise: TimedOut }
"#;
    let (_dir, path) = demo(text);
    let report = run_file(&path).unwrap();
    assert!(
        report.cases[0].passed(),
        "{}",
        report.cases[0].render_diff()
    );
}

#[test]
fn a_stop_and_a_pause_at_given_moments() {
    let text = r#"workflow: demo.wf
cases:
  - name: stopped with rollback while the memory is raised
    outcomes:
      scale: [ { output: { previous_replicas: 2 } } ]
      raise: [ { duration: 1m } ]
    stop: { at: 30s, mode: rollback, reason: "worse", requested_by: alice }
    expect:
      phase: Cancelled
      outcome: Cancelled
      sequence: [scale, raise, rollback:scale, finally:tell]
      steps: { scale: Compensated, raise: Succeeded }
  - name: halted, nothing undone
    outcomes:
      raise: [ { duration: 1m } ]
    stop: { at: 30s }
    expect:
      phase: Cancelled
      sequence: [scale, raise, finally:tell]
      steps: { scale: Succeeded }
  - name: the stop comes too late to matter
    stop: { at: 1h, mode: rollback }
    expect:
      phase: Completed
      outcome: Success
  - name: paused before raise, it starts at the resume
    pauses: [ { from: 500ms, until: 10m } ]
    expect:
      phase: Completed
      sequence: [scale, raise, finally:tell]
"#;
    let (_dir, path) = demo(text);
    let report = run_file(&path).unwrap();
    for case in &report.cases {
        assert!(case.passed(), "{}: {}", case.name, case.render_diff());
    }
    // the same stop, expected wrongly, is a failing case that says what happened
    let wrong = text.replacen("phase: Cancelled", "phase: RolledBack", 1);
    let (_dir, path) = demo(&wrong);
    let report = run_file(&path).unwrap();
    assert!(
        report.cases[0]
            .render_diff()
            .contains("phase: expected RolledBack, got Cancelled")
    );
}

#[test]
fn bad_stops_and_pauses_are_named() {
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    stop: { at: soon }\n");
    assert!(e.contains("stop.at") && e.contains("soon"), "{e}");
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    stop: { at: 1s, mode: abort }\n");
    assert!(e.contains("abort"), "{e}");
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    stop: { mode: halt }\n");
    assert!(e.contains("at"), "{e}");
    let e = error_of(
        "workflow: demo.wf\ncases:\n  - name: x\n    pauses: [ { from: 5m, until: 1m } ]\n",
    );
    assert!(e.contains("pauses[0]") && e.contains("after"), "{e}");
    let e =
        error_of("workflow: demo.wf\ncases:\n  - name: x\n    pauses: [ { from: 1s, til: 1m } ]\n");
    assert!(e.contains("til"), "{e}");
}

fn error_of(text: &str) -> String {
    let (_dir, path) = demo(text);
    match run_file(&path) {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

#[test]
fn unknown_keys_are_named() {
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    outcome: {}\n");
    assert!(e.contains("unknown field `outcome`"), "{e}");
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    expect: { phase: Done }\n");
    assert!(e.contains("Done"), "{e}");
    let e = error_of(
        "workflow: demo.wf\ncases:\n  - name: x\n    outcomes: { scale: [ { sucess: true } ] }\n",
    );
    assert!(e.contains("unknown field `sucess`"), "{e}");
}

#[test]
fn unknown_step_names_are_errors() {
    let e = error_of("workflow: demo.wf\ncases:\n  - name: x\n    outcomes: { nope: [] }\n");
    assert!(e.contains("case `x`") && e.contains("`nope`"), "{e}");
    assert!(e.contains("rollback:scale"), "lists what runs: {e}");
    let e =
        error_of("workflow: demo.wf\ncases:\n  - name: x\n    outcomes: { rollback:raise: [] }\n");
    assert!(
        e.contains("`rollback:raise`"),
        "raise has no compensation: {e}"
    );
    let e = error_of(
        "workflow: demo.wf\ncases:\n  - name: x\n    expect: { sequence: [scale, verify:tell] }\n",
    );
    assert!(e.contains("`verify:tell`"), "{e}");
    let e = error_of(
        "workflow: demo.wf\ncases:\n  - name: x\n    expect: { steps: { ghost: Failed } }\n",
    );
    assert!(e.contains("`ghost`"), "{e}");
    let e = error_of(
        "workflow: demo.wf\ncases:\n  - name: x\n    outcomes: { scale: [ { duration: soon } ] }\n",
    );
    assert!(e.contains("soon"), "{e}");
}

#[test]
fn a_missing_template_is_an_error() {
    let e = error_of("workflow: other.wf\ncases: []\n");
    assert!(e.contains("other.wf"), "{e}");
    let (_dir, path) = demo(PASSING);
    let missing = path.with_file_name("absent.rehearsal.yaml");
    assert!(matches!(
        rehearse::load(&missing),
        Err(RehearsalError::Read(e)) if e.is_not_found()
    ));
}

fn remedy_test(args: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .arg("test")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn remedy_test_prints_one_line_per_case_and_a_summary() {
    let (dir, _) = demo(PASSING);
    let (code, out) = remedy_test(&[dir.path()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "ok   demo: raise fails, scale is undone\n1 passed, 0 failed\n"
    );
    let (dir, _) = demo(&PASSING.replace("phase: RolledBack", "phase: Completed"));
    let (code, out) = remedy_test(&[dir.path()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("FAIL demo: raise fails, scale is undone\n"),
        "{out}"
    );
    assert!(
        out.contains("phase: expected Completed, got RolledBack"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
    let (dir, _) = demo("workflow: demo.wf\ncases:\n  - name: x\n    bogus: 1\n");
    let (code, _) = remedy_test(&[dir.path()]);
    assert_eq!(code, 2);
    let (code, _) = remedy_test(&[Path::new("/nonexistent/rehearsals")]);
    assert_eq!(code, 2);
}

/// The attacks on what `remedy test` reads.
mod hostile {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `f()`, which must end within a minute (the attack made it loop forever).
    fn ends<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("never ended")
    }

    /// `remedy test` hung on symlinks to an ancestor directory.
    #[cfg(unix)]
    #[test]
    fn symlinks_to_an_ancestor_do_not_make_the_walk_loop() {
        let (dir, path) = demo(PASSING);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/again")).unwrap();
        let root = dir.path().to_path_buf();
        let found = ends(move || discover(&[root]).unwrap());
        assert_eq!(found, [path]);
    }

    /// `Template::load`, which rehearsals used, checked nothing: a rehearsal passed on a
    /// template the operator refuses. Rehearsals load templates as the operator does.
    #[test]
    fn a_rehearsal_of_a_template_with_errors_does_not_run() {
        let (dir, path) = demo(PASSING);
        let broken = DEMO_WF.replace("replicas: 3", "replicas: \"three\"");
        std::fs::write(dir.path().join("demo.wf"), broken).unwrap();
        match run_file(&path) {
            Err(RehearsalError::Template { message, .. }) => {
                assert!(message.contains("error[E0105]"), "{message}");
            }
            other => panic!("the rehearsal ran: {other:?}"),
        }
    }
}
