//! The example scenarios, run concurrently.

use std::collections::BTreeSet;

use crate::{examples, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_example_reaches_its_expected_outcome_and_object_state() {
    let paths = examples();
    assert!(paths.len() >= 14, "examples: {paths:?}");
    let runs = paths.iter().map(|p| {
        let p = p.clone();
        tokio::spawn(async move { (p.clone(), run(&p, false).await) })
    });
    let mut failures = Vec::new();
    let mut outcomes = BTreeSet::new();
    for handle in runs {
        let (path, report) = handle.await.unwrap();
        let s = &report.summary;
        outcomes.insert(s.outcome.clone().unwrap_or_default());
        assert!(
            s.unfinished.is_none(),
            "{}: unfinished: {:?}",
            path.display(),
            s.unfinished
        );
        assert!(
            !s.checks.is_empty(),
            "{}: a scenario must expect something",
            path.display()
        );
        for c in s.checks.iter().filter(|c| !c.passed) {
            failures.push(format!(
                "{}: {} expected {} found {}",
                path.display(),
                c.what,
                c.expected,
                c.actual
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for wanted in ["Success", "RolledBack", "Ineffective", "Failed"] {
        assert!(
            outcomes.contains(wanted),
            "no example ends {wanted}: {outcomes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_workflow_template_has_a_succeeding_example() {
    let templates: BTreeSet<String> = std::fs::read_dir(crate::root().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut covered = BTreeSet::new();
    for path in examples() {
        let s = remedy::scenario::load(&path).unwrap();
        if s.expect.outcome.as_deref() == Some("Success") {
            let wf = s.analysis.status.get("recommendedWorkflow").unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string();
            covered.insert(wf);
        }
    }
    let missing: Vec<_> = templates.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "templates without a succeeding example: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_changes_no_object() {
    let names = [
        "oom-recovery.yaml",
        "configmap-restore.yaml",
        "node-disk-pressure.yaml",
        "pvc-expand.yaml",
    ];
    let runs = names.iter().map(|name| {
        let path = crate::root().join("examples").join(name);
        tokio::spawn(async move { (path.clone(), run(&path, true).await) })
    });
    for handle in runs {
        let (path, report) = handle.await.unwrap();
        assert_eq!(
            report.summary.outcome.as_deref(),
            Some("DryRun"),
            "{}: {:#?}",
            path.display(),
            report.summary
        );
        assert!(!report.versions.is_empty());
        for (object, (before, after)) in &report.versions {
            assert!(!before.is_empty(), "{object} was not read before the run");
            assert_eq!(
                before,
                after,
                "{}: {object} changed in a dry run",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_changes_the_target_and_reports_the_change() {
    let report = run(&crate::root().join("examples/oom-recovery.yaml"), false).await;
    let (before, after) = &report.versions["Deployment shop/web"];
    assert_ne!(before, after);
    let changes: Vec<_> = report
        .summary
        .resources
        .iter()
        .filter(|r| r.resource == "Deployment shop/web")
        .map(|r| (r.step.as_str(), r.change.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("scale_out", "scaled 2→3"),
            ("raise_memory", "memory limit 512Mi→768Mi")
        ]
    );
    let steps: Vec<_> = report
        .summary
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.phase.as_str(), s.attempts))
        .collect();
    assert_eq!(
        steps,
        [
            ("diagnose", "Succeeded", 1),
            ("backup", "Succeeded", 1),
            ("scale_out", "Succeeded", 1),
            ("raise_memory", "Succeeded", 1),
            ("healthy", "Succeeded", 1),
            ("report", "Succeeded", 1)
        ]
    );
    assert!(
        report
            .summary
            .events
            .iter()
            .any(|e| e.reason == "Completed" && e.object.starts_with("WorkflowExecution/"))
    );
}
