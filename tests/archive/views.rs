//! What `remedy history` prints, as its reader sees it.

use remedy::archive::RunRow;
use remedy::cli::history::{render_record, render_rows};

use crate::record;

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn a_run_is_shown_as_run_summarises_it() {
    let r = record(
        "shop",
        "oom-1",
        "oom-recovery",
        "web",
        "Failed",
        1_800_000_000,
    );
    snapshot("history_show", &render_record(&r));
}

#[test]
fn runs_are_listed_newest_first_in_a_table() {
    let row = |name: &str, outcome: &str, finished: i64, target: Option<&str>| RunRow {
        uid: format!("uid-{name}"),
        namespace: "shop".into(),
        name: name.into(),
        workflow: Some("oom-recovery".into()),
        version: Some("1.0.0".into()),
        digest: Some("sha256:5d41402abc4b2a76".into()),
        target: target.map(str::to_string),
        phase: Some(
            if outcome == "Success" {
                "Completed"
            } else {
                "RolledBack"
            }
            .into(),
        ),
        outcome: Some(outcome.into()),
        failure_reason: (outcome != "Success").then(|| "StepFailed".to_string()),
        started_ms: Some(finished - 12_345),
        finished_ms: finished,
    };
    let rows = vec![
        row(
            "oom-2",
            "RolledBack",
            1_800_000_100_000,
            Some("Deployment/shop/web"),
        ),
        row("oom-1", "Success", 1_800_000_000_000, None),
    ];
    snapshot("history_list", &render_rows(&rows, false));
    snapshot("history_list_wide", &render_rows(&rows, true));
    assert_eq!(render_rows(&[], false), "no archived runs match\n");
}
