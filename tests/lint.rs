//! The linter as authors see it: one human-output snapshot per fixture under
//! `tests/fixtures/lint/` (an empty snapshot means the fixture is clean), JSON and SARIF
//! snapshots, the generated rule docs, and the exit codes of `remedy lint` and
//! `remedy actions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use remedy::check::render::{self, FileReport};
use remedy::check::rules::{RULES, rules_markdown};
use remedy::check::{CheckContext, check_source};

const FIXTURES: &str = "tests/fixtures/lint";

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .collect();
    files.sort();
    files
}

fn lint(path: &Path) -> FileReport {
    let bytes = std::fs::read(path).unwrap();
    check_source(path, &bytes, &CheckContext::for_dir(FIXTURES))
}

fn lint_named(name: &str) -> FileReport {
    lint(&Path::new(FIXTURES).join(name))
}

fn snapshots(f: impl FnOnce()) {
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        f()
    });
}

#[test]
fn every_fixture_renders_as_its_snapshot() {
    let files = fixtures();
    assert!(files.len() >= 50, "only {} fixtures", files.len());
    snapshots(|| {
        for path in &files {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let report = lint(path);
            if stem.starts_with("clean_") {
                assert!(
                    report.diagnostics.is_empty(),
                    "{stem} should be clean:\n{}",
                    render::human(&report)
                );
            }
            insta::assert_snapshot!(format!("lint_{stem}"), render::human(&report));
        }
    });
}

#[test]
fn every_rule_fires_on_a_fixture_named_after_it() {
    let files = fixtures();
    for rule in RULES {
        let name = rule.info.name;
        let firing = files.iter().any(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            stem.starts_with(name) && lint(p).diagnostics.iter().any(|d| d.code == rule.info.code)
        });
        assert!(firing, "no fixture `{name}*.wf` reports {}", rule.info.code);
    }
}

#[test]
fn syntax_fixtures_report_exactly_one_syntax_error() {
    for path in fixtures() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if !stem.starts_with("syntax_") {
            continue;
        }
        let report = lint(&path);
        assert_eq!(report.diagnostics.len(), 1, "{stem}");
        assert!(report.diagnostics[0].code.starts_with("E00"), "{stem}");
    }
}

#[test]
fn json_and_sarif_renderings() {
    let reports = vec![
        lint_named("duplicate_name_step.wf"),
        lint_named("protected_namespace_param_default.wf"),
        lint_named("reversible_without_rollback.wf"),
        lint_named("syntax_unclosed_brace.wf"),
    ];
    snapshots(|| {
        insta::assert_json_snapshot!("lint_json", render::json(&reports));
        let mut sarif = render::sarif(&reports);
        // The rule descriptors are the generated docs (checked by `rules_doc_is_current`);
        // keep the snapshot to the shape and the results.
        let rules = std::mem::replace(
            &mut sarif["runs"][0]["tool"]["driver"]["rules"],
            serde_json::json!("(checked below)"),
        );
        insta::assert_json_snapshot!("lint_sarif", sarif);
        let rules = rules.as_array().unwrap();
        assert_eq!(rules.len(), RULES.len() + render::SYNTAX_CODES.len());
        for rule in rules {
            for key in ["id", "name", "shortDescription", "fullDescription", "help"] {
                assert!(rule.get(key).is_some(), "{key} missing in {rule}");
            }
            let level = rule["defaultConfiguration"]["level"].as_str().unwrap();
            assert!(level == "error" || level == "warning");
        }
    });
}

#[test]
fn sarif_results_point_at_rule_descriptors() {
    let reports = vec![lint_named("unknown_action_typo.wf")];
    let sarif = render::sarif(&reports);
    let run = &sarif["runs"][0];
    let result = &run["results"][0];
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        run["tool"]["driver"]["rules"][index]["id"],
        result["ruleId"]
    );
    assert_eq!(result["ruleId"], "E0101");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 6);
    assert_eq!(region["startColumn"], 12);
    assert_eq!(region["endColumn"], 30);
}

#[test]
fn rules_doc_is_current() {
    let generated = rules_markdown();
    let path = "docs/rules.md";
    if std::env::var_os("UPDATE_RULES_DOC").is_some() {
        std::fs::create_dir_all("docs").unwrap();
        std::fs::write(path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/rules.md is stale; run `UPDATE_RULES_DOC=1 cargo test --test lint rules_doc`"
    );
    for rule in RULES {
        assert!(checked_in.contains(&format!("## {}", rule.info.code)));
    }
}

fn remedy(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

#[test]
fn lint_exit_codes() {
    let clean = fixture("clean_minimal.wf");
    let error = fixture("unknown_action_typo.wf");
    let warning = fixture("reversible_without_rollback.wf");
    let syntax = fixture("syntax_unclosed_brace.wf");

    let (code, out, _) = remedy(&["lint", &clean]);
    assert_eq!(code, 0);
    assert_eq!(out, "checked 1 file: 0 errors, 0 warnings\n");

    let (code, out, _) = remedy(&["lint", &warning]);
    assert_eq!(code, 0, "warnings alone pass");
    assert!(
        out.ends_with("checked 1 file: 0 errors, 1 warning\n"),
        "{out}"
    );
    assert_eq!(remedy(&["lint", "--deny-warnings", &warning]).0, 1);

    let (code, out, _) = remedy(&["lint", &clean, &error]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("{error}:6:12: error[E0101]: ")),
        "{out}"
    );
    assert!(
        out.ends_with("checked 2 files: 1 error, 0 warnings\n"),
        "{out}"
    );

    assert_eq!(
        remedy(&["lint", &syntax]).0,
        1,
        "syntax errors are findings"
    );

    let (code, _, err) = remedy(&["lint", &clean, "tests/fixtures/lint/no_such.wf"]);
    assert_eq!(code, 2, "a missing path is an I/O error");
    assert!(err.contains("no_such.wf"), "{err}");

    assert_eq!(remedy(&["lint"]).0, 2, "no path is a usage error");
    assert_eq!(remedy(&["lint", "--format", "xml", &clean]).0, 2);
}

#[test]
fn lint_walks_directories_and_prints_machine_formats() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(fixture("clean_minimal.wf"), nested.join("one.wf")).unwrap();
    std::fs::copy(fixture("unknown_action_typo.wf"), dir.path().join("two.wf")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
    let root = dir.path().to_str().unwrap();

    let (code, out, _) = remedy(&["lint", root]);
    assert_eq!(code, 1);
    assert!(
        out.ends_with("checked 2 files: 1 error, 0 warnings\n"),
        "{out}"
    );

    let (code, out, _) = remedy(&["lint", "--format", "json", root]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["code"], "E0101");
    assert!(json[0]["file"].as_str().unwrap().ends_with("two.wf"));

    let (_, out, _) = remedy(&["lint", "--format", "sarif", root]);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
}

#[test]
fn lint_extra_protected_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.wf");
    std::fs::write(
        &file,
        "workflow \"t\" version \"1.0.0\" {\n  step b {\n    action \"backup_data\"\n    with { namespace: \"payments\", resource: \"deployment/web\" }\n  }\n}\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(remedy(&["lint", file]).0, 0);
    let (code, out, _) = remedy(&["lint", "--protect-namespace", "payments", file]);
    assert_eq!(code, 1);
    assert!(out.contains("error[E0124]"), "{out}");
}

#[test]
fn actions_command() {
    let (code, table, _) = remedy(&["actions"]);
    assert_eq!(code, 0);
    let (code, one, _) = remedy(&["actions", "scale_deployment"]);
    assert_eq!(code, 0);
    snapshots(|| {
        insta::assert_snapshot!("lint_actions_table", table);
        insta::assert_snapshot!("lint_actions_scale_deployment", one);
    });

    let (code, out, _) = remedy(&["actions", "--format", "json"]);
    assert_eq!(code, 0);
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 20);
    let (_, out, _) = remedy(&["actions", "taint_node", "--format", "json"]);
    let taint: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(taint["effect"], "reversible");
    assert_eq!(taint["parameters"][3]["allowed"][0], "NoSchedule");

    let (code, _, err) = remedy(&["actions", "scale_deploymnet"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `scale_deployment`?"), "{err}");
}
