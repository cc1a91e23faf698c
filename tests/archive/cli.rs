//! `remedy history` and the `--archive` flag of `remedy run`, as a user types them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use remedy::archive::Location;

use super::postgres::{PgServer, SECURED_PASSWORD, SECURED_USER};
use crate::record;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `remedy` with a data directory of its own (so nothing lands in the user's).
fn remedy(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remedy"))
        .current_dir(root())
        .env("XDG_DATA_HOME", data)
        .env_remove("REMEDY_ARCHIVE")
        .env_remove("REMEDY_ARCHIVE_PASSWORD")
        .env_remove("PGPASSWORD")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines of `text` from the line `from` up to (not including) the line `to`.
fn section(text: &str, from: &str, to: &str) -> String {
    text.lines()
        .skip_while(|l| *l != from)
        .take_while(|l| *l != to)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn after_remedy_run_history_lists_and_shows_the_run() {
    let data = tempfile::tempdir().unwrap();
    let run = remedy(data.path(), &["run", "examples/oom-recovery.yaml"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let printed = stdout(&run);
    assert!(
        printed.contains("Archived: remedy history show shop/"),
        "{printed}"
    );
    // The embedded default: the XDG data directory.
    assert!(data.path().join("remedy/archive.sqlite").is_file());

    let list = remedy(data.path(), &["history"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let table = stdout(&list);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("  FINISHED") && lines[0].contains("OUTCOME"),
        "{table}"
    );
    assert!(lines[1].contains("oom-recovery@1.0.0"), "{table}");
    assert!(lines[1].contains("Deployment/shop/web"), "{table}");
    assert!(lines[1].contains("Success"), "{table}");

    let run_name = lines[1].split_whitespace().nth(2).unwrap().to_string();
    for filter in [
        vec!["--target", "deployment/shop/web"],
        vec!["--workflow", "oom-recovery", "--outcome", "success"],
        vec!["--since", "1h", "-n", "shop"],
    ] {
        let mut args = vec!["history"];
        args.extend(filter.iter().copied());
        let out = remedy(data.path(), &args);
        assert!(
            stdout(&out).contains(&run_name),
            "{filter:?}: {}",
            stdout(&out)
        );
    }
    let none = remedy(
        data.path(),
        &["history", "--target", "Deployment/shop/other"],
    );
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(stdout(&none), "no archived runs match\n");

    let json = remedy(data.path(), &["history", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["outcome"], "Success");
    assert_eq!(rows[0]["target"], "Deployment/shop/web");
    let wide = remedy(data.path(), &["history", "-o", "wide"]);
    assert!(stdout(&wide).contains("sha256:"), "{}", stdout(&wide));

    // `show`: the same tables as the summary `remedy run` printed.
    let show = remedy(data.path(), &["history", "show", &run_name]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let shown = stdout(&show);
    assert!(
        shown.starts_with(&format!("Run {run_name} (uid ")),
        "{shown}"
    );
    assert!(shown.contains("target   Deployment/shop/web"), "{shown}");
    for (from, to) in [
        ("Rollback", "Resources changed"),
        ("Resources changed", "Events"),
    ] {
        assert_eq!(
            section(&shown, from, to),
            section(&printed, from, to),
            "{from}"
        );
    }
    let steps = |t: &str| -> Vec<String> {
        section(t, "Steps", "Rollback")
            .lines()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(steps(&shown), steps(&printed));
    assert!(shown.contains("Outcome: Success (phase Completed), workflow oom-recovery@1.0.0"));
    let record = remedy(data.path(), &["history", "show", &run_name, "-o", "json"]);
    let record: serde_json::Value = serde_json::from_slice(&record.stdout).unwrap();
    assert_eq!(record["workflow"]["name"], "oom-recovery");
    assert!(record["executions"].as_array().unwrap().len() >= 4);

    let missing = remedy(data.path(), &["history", "show", "shop/nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no run \"shop/nope\""),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn run_archives_where_it_is_told_or_nowhere() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("elsewhere.db");
    let file_arg = file.to_str().unwrap();
    let run = remedy(
        data.path(),
        &["run", "examples/oom-recovery.yaml", "--archive", file_arg],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(stdout(&run).contains(&format!("--archive {file_arg}")));
    assert!(file.is_file());
    assert!(!data.path().join("remedy").exists());
    let list = remedy(data.path(), &["history", "--archive", file_arg]);
    assert_eq!(stdout(&list).lines().count(), 2, "{}", stdout(&list));

    let quiet = remedy(
        data.path(),
        &["run", "examples/oom-recovery.yaml", "--no-archive"],
    );
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(!stdout(&quiet).contains("Archived"));
    assert!(!data.path().join("remedy").exists());
}

#[test]
fn history_refuses_bad_input_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let nothing = remedy(data.path(), &["history"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        stderr(&nothing).contains("no archive at"),
        "{}",
        stderr(&nothing)
    );

    let not_db = data.path().join("notes.txt");
    std::fs::write(
        &not_db,
        "these are not the runs you are looking for\n".repeat(200),
    )
    .unwrap();
    let out = remedy(
        data.path(),
        &["history", "--archive", not_db.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a database"), "{}", stderr(&out));
    // Untouched.
    assert!(
        std::fs::read_to_string(&not_db)
            .unwrap()
            .starts_with("these are not")
    );

    let dir = remedy(
        data.path(),
        &["history", "--archive", data.path().to_str().unwrap()],
    );
    assert_eq!(dir.status.code(), Some(1));
    assert!(stderr(&dir).contains("is a directory"), "{}", stderr(&dir));

    // A symlink loop is a path that cannot be opened, reported as such.
    let looped = data.path().join("loop.sqlite");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let out = remedy(
        data.path(),
        &["history", "--archive", looped.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    for (args, word) in [
        (vec!["history", "--since", "yesterday-ish"], "--since"),
        (vec!["history", "--outcome", "great"], "--outcome"),
        (vec!["history", "--target", "web"], "--target"),
        (vec!["history", "show", "a/b/c"], "run \"a/b/c\""),
        (
            vec!["history", "--outcome", "Success", "show", "x"],
            "takes no filters",
        ),
        (
            vec!["history", "--archive", "mysql://db/x"],
            "unknown scheme",
        ),
    ] {
        let out = remedy(data.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(word), "{args:?}: {}", stderr(&out));
    }

    let secret = remedy(
        data.path(),
        &[
            "history",
            "--archive",
            "postgres://remedy:hunter2@localhost/remedy",
        ],
    );
    assert_eq!(secret.status.code(), Some(2));
    assert!(
        stderr(&secret).contains("carries a password"),
        "{}",
        stderr(&secret)
    );
    assert!(!stderr(&secret).contains("hunter2") && !stdout(&secret).contains("hunter2"));
}

#[test]
fn a_symlinked_archive_is_read_through_its_link() {
    let data = tempfile::tempdir().unwrap();
    let real = data.path().join("real.sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = remedy::archive::Archive::open(&Location::Sqlite(real.clone()))
            .await
            .unwrap();
        archive
            .store(&record(
                "shop",
                "linked",
                "w",
                "web",
                "Success",
                1_800_000_000,
            ))
            .await
            .unwrap();
        archive.close().await;
    });
    let link = data.path().join("link.sqlite");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = remedy(
        data.path(),
        &["history", "--archive", link.to_str().unwrap()],
    );
    assert!(stdout(&out).contains("shop/linked"), "{}", stderr(&out));
}

#[test]
fn history_reads_postgres_with_the_password_from_the_environment_only() {
    let server = PgServer::start();
    let url = server.url_as(SECURED_USER);
    // Archive one run as the superuser (the operator's side).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = remedy::archive::Archive::open(&Location::Postgres(server.url()))
            .await
            .unwrap();
        archive
            .store(&record(
                "shop",
                "pg-run",
                "oom-recovery",
                "web",
                "RolledBack",
                1_800_000_000,
            ))
            .await
            .unwrap();
        archive.close().await;
    });
    server.psql_in(
        "remedy",
        &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {SECURED_USER};"),
    );

    let history = |env: &[(&str, &str)], args: &[&str]| {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_remedy"));
        cmd.env("XDG_DATA_HOME", data.path())
            .env_remove("PGPASSWORD")
            .env_remove("REMEDY_ARCHIVE_PASSWORD")
            .arg("history")
            .args(["--archive", &url])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = history(&[("REMEDY_ARCHIVE_PASSWORD", SECURED_PASSWORD)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("shop/pg-run") && stdout(&out).contains("RolledBack"));
    let out = history(&[("PGPASSWORD", SECURED_PASSWORD)], &["show", "pg-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Outcome: RolledBack"),
        "{}",
        stdout(&out)
    );

    let wrong = history(&[("REMEDY_ARCHIVE_PASSWORD", "guess")], &[]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("password"), "{}", stderr(&wrong));
    assert!(!stderr(&wrong).contains("guess"));
    let none = history(&[], &[]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
}
