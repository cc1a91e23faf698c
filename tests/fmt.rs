//! The formatter and `remedy fmt`: layout cases, comments, idempotence and round trips over
//! every `.wf` in the repository, property tests over generated trees, and the command line.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use regex::Regex;
use remedy::diagnostic::Span;
use remedy::dsl::ast::*;
use remedy::dsl::{format, parse};

/// The tree's debug form with every span erased: two trees equal modulo spans print the same.
fn erased(file: &File) -> String {
    let spans = Regex::new(r"Span \{ start: \d+, end: \d+ \}").unwrap();
    let trailing = Regex::new(r"trailing: (true|false)").unwrap();
    let text = format!("{:?}", file.workflow);
    let text = spans.replace_all(&text, "Span");
    let comments: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    let text = format!("{text}\ncomments: {comments:?}");
    trailing.replace_all(&text, "").into_owned()
}

/// Format `text`, check the result is a fixed point and means the same, and return it.
fn fmt_checked(text: &str) -> String {
    let file = parse(text).unwrap();
    let out = format(&file);
    let again = parse(&out)
        .unwrap_or_else(|d| panic!("formatted text does not parse: {}\n{out}", d.message));
    assert_eq!(
        erased(&again),
        erased(&file),
        "the formatted text means something else:\n{out}"
    );
    assert_eq!(format(&again), out, "formatting is not idempotent");
    out
}

/// `body` (inside a workflow) formats to `expected` (the body, indented as printed).
fn check(body: &str, expected: &str) {
    let text = format!("workflow \"w\" version \"1\" {{\n{body}\n}}\n");
    let want = format!("workflow \"w\" version \"1\" {{\n{expected}}}\n");
    assert_eq!(fmt_checked(&text), want);
}

// ---- layout ---------------------------------------------------------------------------------

#[test]
fn the_spec_example_is_already_formatted() {
    let text = std::fs::read_to_string("tests/fixtures/syntax/oom_recovery.wf").unwrap();
    assert_eq!(fmt_checked(&text), text);
}

#[test]
fn one_item_per_line_with_blank_lines_between_groups() {
    check(
        "description \"d\" timeout 5m import \"a.rhai\" as a param p: int let q = 1 step s { action \"x\" } step t {}",
        "  description \"d\"\n  timeout 5m\n\n  import \"a.rhai\" as a\n\n  param p: int\n  let q = 1\n\n  step s {\n    action \"x\"\n  }\n\n  step t {}\n",
    );
}

#[test]
fn durations_print_canonically() {
    check("timeout 90m", "  timeout 1h30m\n");
    check("timeout 1500ms", "  timeout 1s500ms\n");
    check("timeout 3600s", "  timeout 1h\n");
    check("timeout 0ms", "  timeout 0s\n");
    check(
        "step s { retry 2 backoff 60000ms max 120s }",
        "  step s {\n    retry 2 backoff 1m max 2m\n  }\n",
    );
}

#[test]
fn maps_stay_on_one_line_when_short() {
    check(
        "step s { with {a:1,b:\"x\",c,} }",
        "  step s {\n    with { a: 1, b: \"x\", c }\n  }\n",
    );
    check("let m = {  }", "  let m = {}\n");
    check("let l = [ 1 ,2, ]", "  let l = [1, 2]\n");
}

#[test]
fn long_maps_and_lists_take_one_entry_per_line() {
    let long = "x".repeat(60);
    check(
        &format!("step s {{ with {{ a: \"{long}\", b: [\"{long}\", 2], c: {{ d: 1 }} }} }}"),
        &format!(
            "  step s {{\n    with {{\n      a: \"{long}\",\n      b: [\"{long}\", 2],\n      c: {{ d: 1 }},\n    }}\n  }}\n"
        ),
    );
    check(
        &format!("let l = [\"{long}\", \"{long}\"]"),
        &format!("  let l = [\n    \"{long}\",\n    \"{long}\",\n  ]\n"),
    );
}

#[test]
fn params_and_constraints() {
    check(
        "param f: float = 1.50 {min 1.0 max 4.0 enum [1.5,2.0] description \"m\"}",
        "  param f: float = 1.50 { min 1.0  max 4.0  enum [1.5, 2.0]  description \"m\" }\n",
    );
    let long = "y".repeat(100);
    check(
        &format!("param p: string {{ pattern \"^a$\" description \"{long}\" }}"),
        &format!("  param p: string {{\n    pattern \"^a$\"\n    description \"{long}\"\n  }}\n"),
    );
}

#[test]
fn strings_are_reescaped() {
    check(
        r#"let s = "a\u{41}\${b} \"q\" ${ x } \\ \t\n\u{7}""#,
        "  let s = \"aA\\${b} \\\"q\\\" ${ x } \\\\ \\t\\n\\u{7}\"\n",
    );
}

#[test]
fn blocks_and_rollback() {
    check(
        "approval required parallel { step a { rollback { action \"u\" } } step b after a {} } verify within 600s { step v {} } finally { step f { on_failure continue } }",
        "  approval required\n\n  parallel {\n    step a {\n      rollback {\n        action \"u\"\n      }\n    }\n\n    step b after a {}\n  }\n\n  verify within 10m {\n    step v {}\n  }\n\n  finally {\n    step f {\n      on_failure continue\n    }\n  }\n",
    );
}

// ---- comments -------------------------------------------------------------------------------

#[test]
fn comments_stay_in_place() {
    check(
        "  // before a\nstep a { // after the brace\n    action \"x\" // after action\n      // before the brace\n  }\n// at the end",
        "  // before a\n  step a { // after the brace\n    action \"x\" // after action\n    // before the brace\n  }\n  // at the end\n",
    );
    check(
        "step s { with { a: 1, // one\n // own line\n b: 2 } }",
        "  step s {\n    with {\n      a: 1, // one\n      // own line\n      b: 2,\n    }\n  }\n",
    );
    check(
        "param p: int { /* c */ min 1 }",
        "  param p: int { /* c */\n    min 1\n  }\n",
    );
}

#[test]
fn comments_outside_the_workflow_and_inside_items() {
    let text = "// head\n\n/* block\n   two lines */\nworkflow \"w\" version \"1\" { // h\n  timeout /* odd */ 5m\n}  // tail\n// end\n";
    let out = fmt_checked(text);
    assert_eq!(
        out,
        "// head\n/* block\n   two lines */\nworkflow \"w\" version \"1\" { // h\n  timeout 5m /* odd */\n} // tail\n// end\n"
    );
}

// ---- every .wf in the repository ------------------------------------------------------------

fn wf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            wf_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "wf") {
            out.push(path);
        }
    }
}

#[test]
fn every_repository_workflow_round_trips() {
    let mut files = Vec::new();
    wf_files(Path::new("workflows"), &mut files);
    wf_files(Path::new("tests/fixtures"), &mut files);
    let mut formatted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        // Fixtures of syntax errors do not parse; everything that parses must round-trip.
        if parse(&text).is_ok() {
            let out = std::panic::catch_unwind(|| fmt_checked(&text));
            assert!(out.is_ok(), "{} does not round-trip", path.display());
            formatted += 1;
        }
    }
    assert!(
        formatted >= 2,
        "expected at least the syntax fixtures, found {formatted}"
    );
}

// ---- property: generated tree → print → parse → the same tree -------------------------------

fn sp() -> Span {
    Span::default()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}".prop_filter("a literal keyword", |s| {
        !matches!(s.as_str(), "true" | "false" | "null")
    })
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(|name| Ident { name, span: sp() })
}

fn text() -> impl Strategy<Value = String> {
    "[a-z \"\\\\\n\r\t${}é😀\u{1}\u{7f}]{0,8}"
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        "[a-z0-9 +*.()<>=]{0,12}",
        "[a-z ]{0,3}".prop_map(|s| format!(" #{{ a: \"}}\", b: {{{s}}} }} ")),
    ]
    .prop_map(|source| Expr {
        source,
        source_span: sp(),
        span: sp(),
    })
}

fn string_lit() -> impl Strategy<Value = StringLit> {
    prop::collection::vec(
        prop_oneof![
            text().prop_map(StringPart::Text),
            expr().prop_map(StringPart::Expr)
        ],
        0..4,
    )
    .prop_map(|raw| {
        // The parser merges adjacent text and never yields empty text.
        let mut parts: Vec<StringPart> = Vec::new();
        for p in raw {
            match (parts.last_mut(), p) {
                (_, StringPart::Text(t)) if t.is_empty() => {}
                (Some(StringPart::Text(prev)), StringPart::Text(t)) => prev.push_str(&t),
                (_, p) => parts.push(p),
            }
        }
        StringLit { parts, span: sp() }
    })
}

fn plain() -> impl Strategy<Value = PlainString> {
    text().prop_map(|value| PlainString { value, span: sp() })
}

fn dur() -> impl Strategy<Value = DurationLit> {
    prop_oneof![0u64..10_000_000, any::<u64>()]
        .prop_map(|millis| DurationLit { millis, span: sp() })
}

fn val(kind: ValueKind) -> Value {
    Value { kind, span: sp() }
}

fn map_lit(value: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = MapLit> {
    let entry = prop_oneof![
        (name(), value.clone()).prop_map(|(k, v)| (
            MapKey {
                name: k,
                quoted: false,
                span: sp()
            },
            v,
            false
        )),
        (text(), value).prop_map(|(k, v)| (
            MapKey {
                name: k,
                quoted: true,
                span: sp()
            },
            v,
            false
        )),
        name().prop_map(|k| {
            let v = val(ValueKind::Ident(Ident {
                name: k.clone(),
                span: sp(),
            }));
            (
                MapKey {
                    name: k,
                    quoted: false,
                    span: sp(),
                },
                v,
                true,
            )
        }),
    ];
    prop::collection::vec(entry, 0..4).prop_map(|entries| MapLit {
        entries: entries
            .into_iter()
            .map(|(key, value, shorthand)| MapEntry {
                key,
                value,
                shorthand,
                span: sp(),
            })
            .collect(),
        span: sp(),
    })
}

fn value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        string_lit().prop_map(ValueKind::String),
        any::<i64>().prop_map(ValueKind::Int),
        (
            any::<bool>(),
            0u32..1000,
            "[0-9]{1,3}",
            prop::option::of(-20i32..20)
        )
            .prop_map(|(neg, a, b, e)| {
                let mut t = format!("{}{a}.{b}", if neg { "-" } else { "" });
                if let Some(e) = e {
                    t.push_str(&format!("e{e}"));
                }
                ValueKind::Float(t.parse().unwrap(), t)
            }),
        any::<bool>().prop_map(ValueKind::Bool),
        Just(ValueKind::Null),
        dur().prop_map(ValueKind::Duration),
        expr().prop_map(ValueKind::Expr),
        ident().prop_map(ValueKind::Ident),
    ]
    .prop_map(val);
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| val(ValueKind::List(v))),
            map_lit(inner).prop_map(|m| val(ValueKind::Map(m))),
        ]
    })
    .boxed()
}

fn step_item(rollback: bool) -> BoxedStrategy<StepItem> {
    let simple = prop_oneof![
        string_lit().prop_map(|text| StepItem::Description(Description { text, span: sp() })),
        plain().prop_map(|name| StepItem::Action(ActionItem { name, span: sp() })),
        map_lit(value()).prop_map(|map| StepItem::With(With { map, span: sp() })),
        dur().prop_map(|duration| StepItem::Timeout(TimeoutItem {
            duration,
            span: sp()
        })),
        (
            any::<u64>(),
            prop::option::of((dur(), prop::option::of(dur())))
        )
            .prop_map(|(count, b)| {
                let (backoff, max) = match b {
                    Some((b, m)) => (Some(b), m),
                    None => (None, None),
                };
                StepItem::Retry(Retry {
                    count,
                    backoff,
                    max,
                    span: sp(),
                })
            }),
        expr().prop_map(|expr| StepItem::When(When { expr, span: sp() })),
        prop_oneof![
            Just(OnFailure::Rollback),
            Just(OnFailure::Fail),
            Just(OnFailure::Continue)
        ]
        .prop_map(|policy| StepItem::OnFailure(OnFailureItem { policy, span: sp() })),
    ];
    if rollback {
        prop_oneof![
            4 => simple,
            1 => prop::collection::vec(step_item(false), 0..3)
                .prop_map(|items| StepItem::Rollback(RollbackBlock { items, span: sp() })),
        ]
        .boxed()
    } else {
        simple.boxed()
    }
}

fn step() -> impl Strategy<Value = Step> {
    (
        ident(),
        prop::collection::vec(ident(), 0..3),
        prop::collection::vec(step_item(true), 0..5),
    )
        .prop_map(|(name, after, items)| Step {
            name,
            after,
            items,
            span: sp(),
        })
}

fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        value().prop_map(ConstraintKind::Min),
        value().prop_map(ConstraintKind::Max),
        prop::collection::vec(value(), 0..3).prop_map(ConstraintKind::Enum),
        plain().prop_map(ConstraintKind::Pattern),
        string_lit().prop_map(ConstraintKind::Description),
    ]
    .prop_map(|kind| Constraint { kind, span: sp() })
}

fn item() -> impl Strategy<Value = Item> {
    let ty = prop::sample::select(vec![
        ParamType::String,
        ParamType::Int,
        ParamType::Float,
        ParamType::Bool,
        ParamType::Duration,
        ParamType::List,
        ParamType::Map,
        ParamType::Any,
    ]);
    let steps = || prop::collection::vec(step(), 1..3);
    prop_oneof![
        string_lit().prop_map(|text| Item::Description(Description { text, span: sp() })),
        map_lit(value()).prop_map(|map| Item::Labels(Labels { map, span: sp() })),
        dur().prop_map(|duration| Item::Timeout(TimeoutItem {
            duration,
            span: sp()
        })),
        any::<u64>().prop_map(|value| Item::MaxParallel(MaxParallel {
            value,
            value_span: sp(),
            span: sp()
        })),
        prop::sample::select(vec![
            RollbackMode::Automatic,
            RollbackMode::Manual,
            RollbackMode::None
        ])
        .prop_map(|mode| Item::RollbackMode(RollbackModeItem { mode, span: sp() })),
        prop::option::of(expr()).prop_map(|e| Item::Approval(Approval {
            kind: e.map_or(ApprovalKind::Required, ApprovalKind::When),
            span: sp()
        })),
        (plain(), ident()).prop_map(|(path, alias)| Item::Import(Import {
            path,
            alias,
            span: sp()
        })),
        (
            ident(),
            ty,
            prop::option::of(value()),
            prop::collection::vec(constraint(), 0..3)
        )
            .prop_map(|(name, ty, default, constraints)| Item::Param(Param {
                name,
                ty,
                ty_span: sp(),
                default,
                constraints,
                span: sp()
            })),
        (ident(), value()).prop_map(|(name, value)| Item::Let(Let {
            name,
            value,
            span: sp()
        })),
        step().prop_map(Item::Step),
        steps().prop_map(|steps| Item::Parallel(Parallel { steps, span: sp() })),
        (prop::option::of(dur()), steps()).prop_map(|(within, steps)| Item::Verify(Verify {
            within,
            steps,
            span: sp()
        })),
        steps().prop_map(|steps| Item::Finally(Finally { steps, span: sp() })),
    ]
}

fn file() -> impl Strategy<Value = File> {
    (plain(), plain(), prop::collection::vec(item(), 0..8)).prop_map(|(name, version, items)| {
        File {
            workflow: Workflow {
                name,
                version,
                items,
                span: sp(),
            },
            comments: Vec::new(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_trees_print_and_parse_back(f in file()) {
        let out = format(&f);
        let back = parse(&out).map_err(|d| TestCaseError::fail(format!("{}: {}\n{out}", d.code, d.message)))?;
        prop_assert_eq!(erased(&back), erased(&f), "printed:\n{}", out);
        prop_assert_eq!(format(&back), out);
    }
}

// ---- the command line -----------------------------------------------------------------------

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

#[test]
fn fmt_command_checks_rewrites_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let messy = "workflow \"w\" version \"1\" { timeout 90m }\n";
    let tidy = "workflow \"w\" version \"1\" {\n  timeout 1h30m\n}\n";
    let broken = "workflow \"w\" version \"1\" {\n  timeout 30\n}\n";
    std::fs::write(root.join("a.wf"), messy).unwrap();
    std::fs::write(root.join("sub/b.wf"), tidy).unwrap();
    std::fs::write(root.join("sub/c.wf"), broken).unwrap();
    std::fs::write(root.join("sub/notes.txt"), messy).unwrap();
    let root_s = root.to_str().unwrap();

    let (code, out, err) = remedy(&["fmt", "--check", root_s]);
    assert_eq!(code, 1);
    assert_eq!(out.trim(), root.join("a.wf").display().to_string());
    assert_eq!(
        err.trim(),
        format!(
            "{}:2:11: error[E0001]: expected a duration such as 30s or 5m, found `30`",
            root.join("sub/c.wf").display()
        )
    );
    assert_eq!(std::fs::read_to_string(root.join("a.wf")).unwrap(), messy);

    let (code, _, _) = remedy(&["fmt", root_s]);
    assert_eq!(code, 1, "the broken file still fails the run");
    assert_eq!(std::fs::read_to_string(root.join("a.wf")).unwrap(), tidy);
    assert_eq!(
        std::fs::read_to_string(root.join("sub/c.wf")).unwrap(),
        broken
    );
    assert_eq!(
        std::fs::read_to_string(root.join("sub/notes.txt")).unwrap(),
        messy
    );

    std::fs::remove_file(root.join("sub/c.wf")).unwrap();
    assert_eq!(remedy(&["fmt", "--check", root_s]).0, 0);
    assert_eq!(
        remedy(&["fmt", root.join("missing.wf").to_str().unwrap()]).0,
        2
    );
    assert_eq!(remedy(&["fmt"]).0, 2);
}

mod graph_command {
    use super::remedy;

    #[test]
    fn prints_the_graph_in_each_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.wf");
        std::fs::write(
            &path,
            "workflow \"g\" version \"1\" { step a {} step b {} finally { step f {} } }",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        assert_eq!(
            remedy(&["graph", p]),
            (
                0,
                "main    a\nmain    b  after a\nfinally f  after b\n".into(),
                String::new()
            )
        );
        let (code, dot, _) = remedy(&["graph", p, "--format", "dot"]);
        assert!(code == 0 && dot.contains("n0 -> n1;") && dot.contains("n1 -> n2;"));
        let (code, mermaid, _) = remedy(&["graph", p, "--format", "mermaid"]);
        assert!(code == 0 && mermaid.contains("n1 --> n2"));
        assert_eq!(remedy(&["graph", p, "--format", "svg"]).0, 2);
        assert_eq!(remedy(&["graph", "/nonexistent.wf"]).0, 2);
        std::fs::write(&path, "workflow").unwrap();
        assert_eq!(remedy(&["graph", p]).0, 1);
    }
}

/// `remedy fmt` hung on symlinks to an ancestor directory; the walk now visits each real
/// directory once.
#[cfg(unix)]
#[test]
fn symlinks_to_an_ancestor_do_not_make_fmt_loop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.wf"),
        "workflow \"t\" version \"1.0.0\" {\n  step s {\n    action \"notify_only\"\n    with { message: \"x\" }\n  }\n}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/up")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/again")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["fmt", "--check"])
        .arg(dir.path())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("remedy fmt never ended");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
