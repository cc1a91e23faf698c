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

/// Invalid UTF-8 is a syntax error like any other. (Built in memory: a fixture file that is not
/// UTF-8 would trip every tool that reads the fixtures as text.)
#[test]
fn invalid_utf8_is_reported_in_place() {
    let bytes = b"workflow \"fixture\" version \"1.0.0\" {\n  description \"caf\xe9 au lait\"\n}\n";
    let report = check_source(
        "syntax_invalid_utf8.wf",
        bytes,
        &CheckContext::for_dir(FIXTURES),
    );
    assert_eq!(report.diagnostics.len(), 1);
    assert_eq!(report.diagnostics[0].code, "E0002");
    snapshots(|| insta::assert_snapshot!("lint_syntax_invalid_utf8", render::human(&report)));
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

/// The template library (`workflows/`, written on another branch) must lint clean, with no
/// warning either. Until the branches meet, the directory may not exist here.
#[test]
fn template_library_lints_clean() {
    let Ok(entries) = std::fs::read_dir("workflows") else {
        return;
    };
    let mut checked = 0;
    for path in entries.map(|e| e.unwrap().path()) {
        if path.extension().is_some_and(|e| e == "wf") {
            let bytes = std::fs::read(&path).unwrap();
            let report = check_source(&path, &bytes, &CheckContext::for_dir("workflows"));
            assert!(report.diagnostics.is_empty(), "{}", render::human(&report));
            checked += 1;
        }
    }
    assert!(checked > 0, "workflows/ holds no template");
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
    // Another name: two files of one directory declaring the same name@version is an error.
    let clean = std::fs::read_to_string(fixture("clean_minimal.wf")).unwrap();
    std::fs::write(
        nested.join("one.wf"),
        clean.replace("\"fixture\"", "\"other\""),
    )
    .unwrap();
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
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        ["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/two.wf"),
        "{uri}"
    );

    let cwd = std::env::current_dir().unwrap();
    let absolute = cwd.join(fixture("unknown_action_typo.wf"));
    let (_, out, _) = remedy(&["lint", "--format", "sarif", absolute.to_str().unwrap()]);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "tests/fixtures/lint/unknown_action_typo.wf",
        "paths below the working directory are made relative"
    );
}

#[test]
fn lint_explains_rules() {
    let (code, out, _) = remedy(&["lint", "--explain", "E0112"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("E0112 unknown_after_target (error)\n\n**What it finds.**"),
        "{out}"
    );
    let (code, by_name, _) = remedy(&["lint", "--explain", "unknown_after_target"]);
    assert_eq!((code, by_name), (0, out));
    let (code, _, err) = remedy(&["lint", "--explain", "unknown_actoin"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `unknown_action`?"), "{err}");
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

/// The attacks on the files lint reads, each as it was found. Every file is read the way the
/// operator reads it (through the loader), so what lint passes the operator serves.
#[cfg(unix)]
mod hostile_files {
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const TEMPLATE: &str = "workflow \"t\" version \"1.0.0\" {\n  IMPORTS\n  step tell {\n    action \"notify_only\"\n    with { message: \"hi\" }\n  }\n}\n";

    fn template(dir: &Path, file: &str, imports: &str) {
        std::fs::write(dir.join(file), TEMPLATE.replace("IMPORTS", imports)).unwrap();
    }

    /// `remedy ARGS`, which must end within a minute (some of these attacks made it block
    /// or loop forever): exit code and stdout.
    pub fn remedy_ends(args: &[&str]) -> (i32, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_remedy"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("remedy {args:?} never ended");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `param p: int = ${ if sleep(3.0) == () { 1 } else { 2 } }` made `remedy lint` wait
    /// 3 s and pass: rhai's `sleep` was there. No function a script can call waits, so the
    /// default is an error, found without waiting (how fast: `benches/bounds.rs`).
    #[test]
    fn a_param_default_that_sleeps_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join("t.wf");
        std::fs::write(
            &wf,
            TEMPLATE.replace(
                "IMPORTS",
                "param p: int = ${ if sleep(3.0) == () { 1 } else { 2 } }",
            ),
        )
        .unwrap();
        let (code, out) = remedy_ends(&["lint", wf.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("error[E0206]: the default of param `p` fails: Function not found: sleep"),
            "{out}"
        );
    }

    /// Imports escaped the template directory through a file symlink and through a
    /// directory symlink; `lint` said nothing and `plan` read the files.
    #[test]
    fn imports_cannot_escape_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.rhai"), "fn f() { 1 }").unwrap();
        for (name, link, import) in [
            ("file", "link.rhai", "link.rhai"),
            ("dir", "lib", "lib/secret.rhai"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let target = match name {
                "file" => outside.path().join("secret.rhai"),
                _ => outside.path().to_path_buf(),
            };
            symlink(&target, dir.path().join(link)).unwrap();
            template(dir.path(), "t.wf", &format!("import \"{import}\" as m"));
            let wf = dir.path().join("t.wf");
            let (code, out) = remedy_ends(&["lint", wf.to_str().unwrap()]);
            assert_eq!(code, 1, "{name}: {out}");
            assert!(
                out.contains("error[E0116]") && out.contains("through a symlink"),
                "{name}: {out}"
            );
            let analysis = dir.path().join("ai.yaml");
            std::fs::write(&analysis, "confidence: 0.9\n").unwrap();
            let (code, out) = remedy_ends(&[
                "plan",
                wf.to_str().unwrap(),
                "--analysis",
                analysis.to_str().unwrap(),
            ]);
            assert_eq!(code, 1, "{name}: plan must refuse the template too: {out}");
        }
    }

    /// An import of a symlink to /dev/zero was read without limit, and one of a FIFO
    /// blocked forever.
    #[test]
    fn devices_and_fifos_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/dev/zero", dir.path().join("zero.rhai")).unwrap();
        let fifo = dir.path().join("fifo.rhai");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        template(
            dir.path(),
            "t.wf",
            "import \"zero.rhai\" as z\n  import \"fifo.rhai\" as f",
        );
        let (code, out) = remedy_ends(&["lint", dir.path().join("t.wf").to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        // /dev/zero is outside the directory before it is a device.
        assert!(out.contains("(it resolves to /dev/zero)"), "{out}");
        assert!(
            out.contains("is not a regular file (it is a FIFO)"),
            "{out}"
        );
    }

    /// A module that is not UTF-8 passed lint and failed at plan.
    #[test]
    fn a_module_that_is_not_utf8_is_a_lint_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.rhai"), b"fn f() { \"caf\xe9\" }").unwrap();
        template(dir.path(), "t.wf", "import \"m.rhai\" as m");
        let (code, out) = remedy_ends(&["lint", dir.path().join("t.wf").to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("is not UTF-8 text"), "{out}");
    }

    /// A stray file with the same name and version silently replaced a template; lint
    /// reported nothing.
    #[test]
    fn a_duplicate_name_and_version_is_an_error_in_both_files() {
        let dir = tempfile::tempdir().unwrap();
        template(dir.path(), "a.wf", "");
        template(dir.path(), "b.wf", "description \"stray\"");
        let (code, out) = remedy_ends(&["lint", dir.path().to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert_eq!(
            out.matches("error[E0006]: t@1.0.0 is also declared in")
                .count(),
            2,
            "{out}"
        );
    }

    /// Nothing bounded a template's size or its number of steps: 605,000 steps passed lint
    /// with 1.2 GB of memory.
    #[test]
    fn a_template_over_the_limits_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = TEMPLATE.replace("IMPORTS", &"// padding\n".repeat(30_000));
        std::fs::write(dir.path().join("big.wf"), big).unwrap();
        let (code, out) = remedy_ends(&["lint", dir.path().join("big.wf").to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("error[E0005]") && out.contains("larger than the limit of 262144 bytes"),
            "{out}"
        );
        let steps: String = (0..300)
            .map(|i| {
                format!("  step s{i} {{ action \"notify_only\" with {{ message: \"x\" }} }}\n")
            })
            .collect();
        std::fs::write(
            dir.path().join("long.wf"),
            format!("workflow \"long\" version \"1.0.0\" {{\n{steps}}}\n"),
        )
        .unwrap();
        let (code, out) = remedy_ends(&["lint", dir.path().join("long.wf").to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("error[E0128]: the template declares 300 steps"),
            "{out}"
        );
    }

    /// A template file reached through a symlink out of the linted directory is refused; a
    /// symlink to an ancestor directory does not make the walk loop.
    #[test]
    fn a_walk_stays_inside_and_ends() {
        let outside = tempfile::tempdir().unwrap();
        template(outside.path(), "elsewhere.wf", "");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        symlink(dir.path(), dir.path().join("sub/up")).unwrap();
        symlink(
            outside.path().join("elsewhere.wf"),
            dir.path().join("sub/elsewhere.wf"),
        )
        .unwrap();
        let (code, out) = remedy_ends(&["lint", dir.path().to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("error[E0005]") && out.contains("outside"),
            "{out}"
        );
        assert!(
            out.ends_with("checked 1 file: 1 error, 0 warnings\n"),
            "{out}"
        );
    }
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
    assert_eq!(all.as_array().unwrap().len(), 35);
    let (_, out, _) = remedy(&["actions", "taint_node", "--format", "json"]);
    let taint: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(taint["effect"], "reversible");
    assert_eq!(taint["parameters"][3]["allowed"][0], "NoSchedule");

    let (code, _, err) = remedy(&["actions", "scale_deploymnet"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `scale_deployment`?"), "{err}");
}

/// Rule semantics on small inline workflows: what must and must not be reported.
mod rules {
    use remedy::check::{CheckContext, check};

    /// The codes `check` reports for a workflow body.
    fn codes(body: &str) -> Vec<&'static str> {
        let text = format!("workflow \"t\" version \"1.0.0\" {{\n{body}\n}}\n");
        let file = remedy::dsl::parse(&text).unwrap_or_else(|d| panic!("{}", d.message));
        check(&file, &CheckContext::default())
            .into_iter()
            .map(|d| d.code)
            .collect()
    }

    const TELL: &str = "action \"notify_only\"  with { message: \"hi\" }";

    #[test]
    fn after_may_name_earlier_steps_and_parallel_members() {
        let body = format!(
            "step a {{ {TELL} }}\n parallel {{ step b {{ {TELL} }}  step c {{ {TELL} }} }}\n step d after b, a {{ {TELL} }}"
        );
        assert_eq!(codes(&body), Vec::<&str>::new());
        let body = format!("step a after b {{ {TELL} }}\n step b {{ {TELL} }}");
        assert_eq!(codes(&body), ["E0112"]);
    }

    #[test]
    fn when_false_only_when_literally_false() {
        assert_eq!(
            codes(&format!("step a {{ when ${{ (false) }} {TELL} }}")),
            ["W0102"]
        );
        let body = format!("param falsy: bool = false\n step a {{ when ${{ falsy }} {TELL} }}");
        assert_eq!(codes(&body), Vec::<&str>::new());
    }

    #[test]
    fn rollback_mode_none_moves_the_warning_to_the_rollback_block() {
        let cordon = "action \"cordon_node\"  with { node: \"n1\" }";
        let uncordon = "rollback { action \"uncordon_node\"  with { node: \"n1\" } }";
        assert_eq!(codes(&format!("step a {{ {cordon} }}")), ["W0101"]);
        assert_eq!(
            codes(&format!("rollback none\n step a {{ {cordon} }}")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&format!("rollback none\n step a {{ {cordon} {uncordon} }}")),
            ["W0103"]
        );
        assert_eq!(
            codes(&format!("verify {{ step a {{ {cordon} }} }}")),
            Vec::<&str>::new(),
            "verify steps are never compensated, so no rollback is expected"
        );
    }

    #[test]
    fn approval_in_either_form_allows_irreversible_actions() {
        let drain = "step d { action \"drain_node\"  with { node: \"n1\" } }";
        assert_eq!(codes(drain), ["E0123"]);
        assert_eq!(
            codes(&format!("approval required\n{drain}")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&format!(
                "approval ${{ analysis.confidence < 0.9 }}\n{drain}"
            )),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn only_literal_namespaces_are_checked() {
        let step = |ns: &str| {
            format!(
                "step b {{ action \"backup_data\"  with {{ namespace: {ns}, resource: \"x/y\" }} }}"
            )
        };
        assert_eq!(codes(&step("\"kube-node-lease\"")), ["E0124"]);
        assert_eq!(codes(&step("\"kube-${ \"system\" }\"")), Vec::<&str>::new());
        assert_eq!(
            codes(&step("${ analysis.target.namespace }")),
            Vec::<&str>::new()
        );
        assert_eq!(codes(&step("\"shop\"")), Vec::<&str>::new());
    }

    #[test]
    fn timeouts_compare_with_the_workflow_deadline() {
        let wait =
            |t: &str| format!("step w {{ action \"wait\"  with {{ duration: 1m }}  timeout {t} }}");
        assert_eq!(
            codes(&format!("timeout 10m\n{}", wait("10m"))),
            Vec::<&str>::new()
        );
        assert_eq!(codes(&format!("timeout 10m\n{}", wait("10m1s"))), ["E0117"]);
        assert_eq!(
            codes(&wait("31m")),
            ["E0117"],
            "the default deadline is 30m"
        );
        assert_eq!(
            codes(&format!("timeout 10m\n finally {{ {} }}", wait("1h"))),
            Vec::<&str>::new(),
            "finally steps run after the deadline"
        );
    }

    #[test]
    fn literal_types_against_the_schema() {
        let scale = |r: &str| {
            format!(
                "approval required\n step s {{ action \"update_hpa\"  with {{ namespace: \"a\", hpa: \"h\", max_replicas: {r} }}  rollback {{ action \"update_hpa\"  with {{ namespace: \"a\", hpa: \"h\" }} }} }}"
            )
        };
        assert_eq!(codes(&scale("5")), Vec::<&str>::new());
        assert_eq!(codes(&scale("5.5")), ["E0105"]);
        assert_eq!(codes(&scale("${ 2 + 3 }")), Vec::<&str>::new());
        assert_eq!(
            codes(&scale("null")),
            Vec::<&str>::new(),
            "null leaves an optional param out"
        );
        let resize = |m: &str| {
            format!(
                "step r {{ action \"increase_resources\"  with {{ namespace: \"a\", deployment: \"d\", memory: {m} }}  rollback {{ action \"rollback_deployment\"  with {{ namespace: \"a\", deployment: \"d\" }} }} }}"
            )
        };
        for ok in ["\"1.5Gi\"", "1073741824", "\"${ 512 * 2 }Mi\""] {
            assert_eq!(codes(&resize(ok)), Vec::<&str>::new(), "{ok}");
        }
        let typed = |ty: &str| format!("param m: {ty}\n{}", resize("m"));
        assert_eq!(codes(&typed("string")), Vec::<&str>::new());
        assert_eq!(codes(&typed("any")), Vec::<&str>::new());
        assert_eq!(codes(&typed("bool")), ["E0105"]);
        let tell = "step t { action \"notify_only\"  with { message: null } }";
        assert_eq!(
            codes(tell),
            ["E0105"],
            "null is no value for a required param"
        );
    }

    #[test]
    fn findings_come_sorted_by_position() {
        let body = "max_parallel 0\n step Workflow_x { }";
        let err = remedy::dsl::parse(&format!("workflow \"t\" version \"1\" {{\n{body}\n}}"));
        assert!(err.is_err(), "an invalid name is a syntax error");
        let body = format!(
            "max_parallel 0\n step b after a {{ {TELL} }}\n step a {{ {TELL} }}\n step a {{ {TELL} }}"
        );
        assert_eq!(codes(&body), ["E0119", "E0112", "E0108"]);
    }
}

/// No input makes the checker or the renderers panic: fixtures cut, spliced and corrupted.
mod robustness {
    use proptest::prelude::*;

    use super::*;

    fn corpus() -> Vec<Vec<u8>> {
        fixtures()
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn edited_fixtures_never_panic(
            pick in 0usize..1000,
            cut in 0usize..4000,
            len in 0usize..64,
            insert in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let all = corpus();
            let mut bytes = all[pick % all.len()].clone();
            let at = cut.min(bytes.len());
            let end = (at + len).min(bytes.len());
            bytes.splice(at..end, insert);
            let report = check_source("fuzz.wf", &bytes, &CheckContext::for_dir(FIXTURES));
            let _ = render::human(&report);
            let _ = render::json(std::slice::from_ref(&report));
            let _ = render::sarif(std::slice::from_ref(&report));
        }
    }
}

#[test]
fn lint_does_not_send_the_files_escapes_and_nul_bytes_to_the_terminal() {
    // A template whose action name clears the screen, recolours the output and hides a NUL;
    // the diagnostic quotes the name and shows the line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.wf");
    std::fs::write(
        &path,
        "workflow \"h\" version \"1.0.0\" {\n  step a {\n    action \"\u{1b}[2J\u{1b}[31mok\0\u{9b}0m\u{202e}\"\n  }\n}\n",
    )
    .unwrap();
    let (code, out, err) = remedy(&["lint", "--color", "never", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("error[E0101]"), "{out}");
    assert!(
        !out.chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{out:?}"
    );
    assert!(out.contains("\u{241b}[2J\u{241b}[31mok\u{2400}"), "{out}");
}
