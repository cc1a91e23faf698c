//! The parser: the spec's example, every construct, literals, and syntax errors (message and
//! position). Each case is one line through a small helper.

#![allow(clippy::unwrap_used)]

use remedy::diagnostic::Diagnostic;
use remedy::diagnostic::SourceFile;
use remedy::dsl::ast::*;
use remedy::dsl::{parse, parse_bytes};

const HEAD: &str = "workflow \"w\" version \"1.0.0\" {\n";

/// A workflow whose body is `body` (which starts on line 2).
fn wf(body: &str) -> String {
    format!("{HEAD}{body}\n}}\n")
}

fn parse_ok(text: &str) -> File {
    match parse(text) {
        Ok(f) => f,
        Err(d) => panic!("expected to parse, got {}: {}\n{text}", d.code, d.message),
    }
}

fn items(body: &str) -> Vec<Item> {
    parse_ok(&wf(body)).workflow.items
}

fn only_step(body: &str) -> Step {
    match items(body).into_iter().next() {
        Some(Item::Step(s)) => s,
        other => panic!("expected a step, got {other:?}"),
    }
}

/// The value of `let x = SRC`.
fn value_of(src: &str) -> ValueKind {
    match items(&format!("let x = {src}")).into_iter().next() {
        Some(Item::Let(l)) => l.value.kind,
        other => panic!("expected a let, got {other:?}"),
    }
}

fn parse_err(text: &str) -> Diagnostic {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(d) => d,
    }
}

/// `text` fails with `code` at `line:col`, and the message contains `message`.
fn check_err(text: &str, code: &str, at: &str, message: &str) {
    let d = parse_err(text);
    let lc = SourceFile::new("t.wf", text).line_col(d.span.start);
    assert_eq!(
        (d.code, format!("{}:{}", lc.line, lc.col)),
        (code, at.to_string()),
        "message: {}",
        d.message
    );
    assert!(
        d.message.contains(message),
        "message {:?} does not contain {message:?}",
        d.message
    );
}

/// `body` inside a workflow fails with `code` at `line:col` with `message` in the message.
fn check_body_err(body: &str, code: &str, at: &str, message: &str) {
    check_err(&wf(body), code, at, message);
}

fn millis(src: &str) -> u64 {
    match value_of(src) {
        ValueKind::Duration(d) => d.millis,
        other => panic!("expected a duration, got {other:?}"),
    }
}

fn text_of(src: &str) -> Vec<StringPart> {
    match value_of(src) {
        ValueKind::String(s) => s.parts,
        other => panic!("expected a string, got {other:?}"),
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/syntax/{name}")).unwrap()
}

// ---- the spec's example ---------------------------------------------------------------------

#[test]
fn spec_example_parses_with_every_item() {
    let text = fixture("oom_recovery.wf");
    let file = parse_ok(&text);
    let w = &file.workflow;
    assert_eq!(w.name.value, "oom-recovery");
    assert_eq!(w.version.value, "1.2.0");
    let kinds: Vec<&str> = w.items.iter().map(|i| i.keyword()).collect();
    assert_eq!(
        kinds,
        [
            "description",
            "labels",
            "timeout",
            "max_parallel",
            "rollback",
            "import",
            "param",
            "param",
            "param",
            "let",
            "step",
            "step",
            "step",
            "verify",
            "finally"
        ]
    );
    let names: Vec<&str> = w.all_steps().map(|s| s.name.name.as_str()).collect();
    assert_eq!(
        names,
        ["backup", "scale_out", "raise_memory", "healthy", "tell"]
    );
    assert_eq!(file.comments.len(), 1);
    assert_eq!(
        file.comments[0].text,
        "// Raise the memory of a deployment that keeps being OOMKilled."
    );

    let Item::Timeout(t) = &w.items[2] else {
        panic!()
    };
    assert_eq!(t.duration.millis, 20 * 60_000);
    let Item::Param(factor) = &w.items[8] else {
        panic!()
    };
    assert_eq!(factor.ty, ParamType::Float);
    let kws: Vec<&str> = factor
        .constraints
        .iter()
        .map(|c| c.kind.keyword())
        .collect();
    assert_eq!(kws, ["min", "max", "description"]);
    let scale_out = w.all_steps().nth(1).unwrap();
    let retry = scale_out.retry().unwrap();
    assert_eq!(
        (
            retry.count,
            retry.backoff.as_ref().map(|d| d.millis),
            retry.max.as_ref().map(|d| d.millis)
        ),
        (3, Some(5_000), Some(60_000))
    );
    let rb = scale_out.rollback().unwrap();
    assert_eq!(rb.action().unwrap().name.value, "scale_deployment");
    let raise = w.all_steps().nth(2).unwrap();
    assert_eq!(
        raise.when().unwrap().expr.source,
        " analysis.confidence >= 0.8 "
    );
    assert_eq!(raise.on_failure().unwrap().policy, OnFailure::Rollback);
    let Item::Verify(v) = &w.items[13] else {
        panic!()
    };
    assert_eq!(v.within.as_ref().map(|d| d.millis), Some(600_000));
}

#[test]
fn spans_point_at_the_source() {
    let text = fixture("oom_recovery.wf");
    let file = parse_ok(&text);
    let src = SourceFile::new("oom.wf", text.as_str());
    let w = &file.workflow;
    assert_eq!(src.slice(w.name.span), "\"oom-recovery\"");
    let backup = w.all_steps().next().unwrap();
    assert_eq!(src.slice(backup.name.span), "backup");
    assert!(src.slice(backup.span).starts_with("step backup {"));
    assert!(src.slice(backup.span).ends_with('}'));
    let with = backup.with().unwrap();
    let entry = with.map.get("resource").unwrap();
    assert_eq!(src.slice(entry.value.span), "\"deployment/${deployment}\"");
    let raise = w.all_steps().nth(2).unwrap();
    let when = &raise.when().unwrap().expr;
    assert_eq!(src.slice(when.span), "${ analysis.confidence >= 0.8 }");
    assert_eq!(src.slice(when.source_span), when.source);
    let lc = src.line_col(raise.name.span.start);
    assert_eq!((lc.line, lc.col), (32, 8));
}

// ---- every construct ------------------------------------------------------------------------

#[test]
fn everything_fixture_parses() {
    let file = parse_ok(&fixture("everything.wf"));
    let texts: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts.len(), 4);
    assert!(texts[0].starts_with("/* A workflow") && texts[0].ends_with("*/"));
    assert_eq!(
        &texts[1..],
        [
            "// trailing comment",
            "// a comment between members",
            "// trailing comment"
        ]
    );
    let w = &file.workflow;
    let names: Vec<&str> = w.all_steps().map(|s| s.name.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "first",
            "left",
            "right",
            "joined",
            "check",
            "tell",
            "tell_again"
        ]
    );
    let joined = w.all_steps().nth(3).unwrap();
    let after: Vec<&str> = joined.after.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(after, ["left", "right"]);
    let Item::Approval(a) = &w.items[5] else {
        panic!()
    };
    assert!(
        matches!(&a.kind, ApprovalKind::When(e) if e.source.trim() == "analysis.confidence < 0.5")
    );
    let Item::RollbackMode(m) = &w.items[4] else {
        panic!()
    };
    assert_eq!(m.mode, RollbackMode::Manual);
    let Item::Labels(l) = &w.items[1] else {
        panic!()
    };
    let keys: Vec<(&str, bool)> = l
        .map
        .entries
        .iter()
        .map(|e| (e.key.name.as_str(), e.key.quoted))
        .collect();
    assert_eq!(keys, [("team", false), ("app.kubernetes.io/name", true)]);
}

#[test]
fn approval_required_and_workflow_items() {
    let it = items("approval required\nmax_parallel 7\nrollback none");
    assert!(matches!(
        &it[0],
        Item::Approval(Approval {
            kind: ApprovalKind::Required,
            ..
        })
    ));
    assert!(matches!(
        &it[1],
        Item::MaxParallel(MaxParallel { value: 7, .. })
    ));
    assert!(matches!(
        &it[2],
        Item::RollbackMode(RollbackModeItem {
            mode: RollbackMode::None,
            ..
        })
    ));
}

#[test]
fn import_and_param_types() {
    let it = items("import \"a/b.rhai\" as lib\nparam p: duration\nparam q: any = null");
    assert!(
        matches!(&it[0], Item::Import(i) if i.path.value == "a/b.rhai" && i.alias.name == "lib")
    );
    assert!(matches!(&it[1], Item::Param(p) if p.ty == ParamType::Duration && p.default.is_none()));
    assert!(matches!(&it[2], Item::Param(p) if p.ty == ParamType::Any
        && matches!(p.default.as_ref().map(|v| &v.kind), Some(ValueKind::Null))));
}

#[test]
fn map_shorthand_trailing_comma_and_quoted_keys() {
    let s = only_step("step s { with { namespace, \"x-y\": 1, z: z2, } }");
    let m = &s.with().unwrap().map;
    assert_eq!(m.entries.len(), 3);
    assert!(m.entries[0].shorthand);
    assert!(matches!(&m.entries[0].value.kind, ValueKind::Ident(i) if i.name == "namespace"));
    assert!(m.entries[1].key.quoted && !m.entries[1].shorthand);
    assert!(matches!(&m.entries[2].value.kind, ValueKind::Ident(i) if i.name == "z2"));
}

#[test]
fn values_of_every_kind() {
    assert_eq!(value_of("42"), ValueKind::Int(42));
    assert_eq!(value_of("-7"), ValueKind::Int(-7));
    assert_eq!(value_of("1.5"), ValueKind::Float(1.5, "1.5".into()));
    assert_eq!(value_of("2.0e3"), ValueKind::Float(2000.0, "2.0e3".into()));
    assert_eq!(value_of("true"), ValueKind::Bool(true));
    assert_eq!(value_of("false"), ValueKind::Bool(false));
    assert_eq!(value_of("null"), ValueKind::Null);
    assert!(matches!(value_of("truex"), ValueKind::Ident(i) if i.name == "truex"));
    assert!(matches!(value_of("[1, [2], {}]"), ValueKind::List(v) if v.len() == 3));
    assert!(matches!(value_of("[]"), ValueKind::List(v) if v.is_empty()));
    assert!(
        matches!(value_of("{ a: 1, b: { c: [] } }"), ValueKind::Map(m) if m.entries.len() == 2)
    );
    assert!(matches!(value_of("${ 1 + 2 }"), ValueKind::Expr(e) if e.source == " 1 + 2 "));
    assert_eq!(value_of(&i64::MIN.to_string()), ValueKind::Int(i64::MIN));
}

#[test]
fn durations() {
    for (src, ms) in [
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1h30m", 5_400_000),
        ("1m30s", 90_000),
        ("1s500ms", 1_500),
        ("0s", 0),
    ] {
        assert_eq!(millis(src), ms, "{src}");
    }
}

#[test]
fn bad_literals_are_e0004() {
    check_body_err("let x = 30x", "E0004", "2:9", "invalid duration `30x`");
    check_body_err(
        "let x = 30m1h",
        "E0004",
        "2:9",
        "smaller than the one before",
    );
    check_body_err("let x = 1h1h", "E0004", "2:9", "smaller");
    check_body_err("let x = 99999999999999999999h", "E0004", "2:9", "too large");
    check_body_err("let x = 9999999999999h", "E0004", "2:9", "too long");
    check_body_err("let x = 9223372036854775808", "E0004", "2:9", "too large");
    check_body_err(
        "max_parallel 18446744073709551616",
        "E0004",
        "2:14",
        "too large",
    );
    check_body_err("let x = 1.0e999", "E0004", "2:9", "out of range");
    check_body_err("let x = \"a\\qb\"", "E0004", "2:11", "invalid escape `\\q`");
    check_body_err(
        "let x = \"\\u{110000}\"",
        "E0004",
        "2:10",
        "not a Unicode scalar value",
    );
    check_body_err(
        "let x = \"\\u{D800}\"",
        "E0004",
        "2:10",
        "not a Unicode scalar value",
    );
    check_body_err("let x = \"\\u{}\"", "E0004", "2:10", "1 to 6 hex digits");
    check_body_err(
        "let x = \"\\u{1234567}\"",
        "E0004",
        "2:10",
        "1 to 6 hex digits",
    );
    check_body_err(
        "let x = \"\\u0041\"",
        "E0004",
        "2:10",
        "invalid escape `\\u`",
    );
}

#[test]
fn strings_escapes_and_interpolation() {
    assert_eq!(
        text_of(r#""a\"b\\c\nd\te\$f\u{41}\u{1F600}""#),
        [StringPart::Text("a\"b\\c\nd\te$fA\u{1F600}".into())]
    );
    assert_eq!(text_of("\"\""), []);
    let parts = text_of("\"x ${ a } y ${b}\"");
    assert_eq!(parts.len(), 4);
    assert!(matches!(&parts[1], StringPart::Expr(e) if e.source == " a "));
    assert!(matches!(&parts[3], StringPart::Expr(e) if e.source == "b"));
    assert_eq!(parts[2], StringPart::Text(" y ".into()));
    assert_eq!(text_of("\"$ {x} $\""), [StringPart::Text("$ {x} $".into())]);
}

#[test]
fn expressions_balance_braces_outside_strings() {
    let cases = [
        ("${ #{ a: #{ b: 1 } } }", " #{ a: #{ b: 1 } } "),
        ("${ \"}\" + \"{\" }", " \"}\" + \"{\" "),
        ("${ '}' }", " '}' "),
        ("${ \"\\\"}\" }", " \"\\\"}\" "),
        ("${ `a ${ b } }` }", " `a ${ b } }` "),
        ("${}", ""),
    ];
    for (src, inner) in cases {
        assert!(
            matches!(value_of(src), ValueKind::Expr(e) if e.source == inner),
            "{src}"
        );
    }
}

#[test]
fn comments_anywhere_between_tokens() {
    let text = "// a\nworkflow /* b */ \"w\" version \"1\" { // c\n step s { action /* d */ \"x\" } // \"not a string\n}\n/* e */";
    let file = parse_ok(text);
    let texts: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "// a",
            "/* b */",
            "// c",
            "/* d */",
            "// \"not a string",
            "/* e */"
        ]
    );
    assert_eq!(
        &text[file.comments[1].span.start..file.comments[1].span.end],
        "/* b */"
    );
    // `//` inside a string is text, not a comment.
    let file = parse_ok(&wf("let u = \"http://x/*y*/\""));
    assert!(file.comments.is_empty());
}

#[test]
fn semantic_mistakes_are_left_to_the_checker() {
    // These parse: the checker reports them with better messages.
    parse_ok(&wf("parallel { step a after b { } }"));
    parse_ok(&wf(
        "step s { action \"a\" action \"b\" timeout 1s timeout 2s }",
    ));
    parse_ok(&wf("step s { rollback { when ${ x } rollback { } } }"));
    parse_ok(&wf("step s { }\nstep s { }\ntimeout 1s\ntimeout 2s"));
    parse_ok(&wf("step workflow { } let analysis = 1"));
}

#[test]
fn byte_order_mark_and_crlf() {
    parse_ok("\u{feff}workflow \"w\" version \"1\" {\r\n  step s { } // x\r\n}\r\n");
    let f = parse_ok("workflow \"w\" version \"1\" { // x\r\n}");
    assert_eq!(f.comments[0].text, "// x");
}

// ---- syntax errors: message and position ----------------------------------------------------

#[test]
fn syntax_errors_say_what_was_expected() {
    check_err(
        "",
        "E0001",
        "1:1",
        "expected `workflow \"NAME\" version \"SEMVER\" { … }`, found the end of the file",
    );
    check_err(
        "workflow \"w\" {}",
        "E0001",
        "1:14",
        "expected `version`, found `{`",
    );
    check_err(
        "workflow \"w\" version \"1\" {",
        "E0001",
        "1:27",
        "found the end of the file",
    );
    check_err(
        "workflow \"w\" version \"1\" {}\nworkflow",
        "E0001",
        "2:1",
        "expected the end of the file",
    );
    check_body_err(
        "stepp x { }",
        "E0001",
        "2:1",
        "expected a workflow item (description, labels",
    );
    check_body_err(
        "step s { actoin \"x\" }",
        "E0001",
        "2:10",
        "expected a step item (action, with, timeout, retry, when, on_failure, rollback, description) or `}`, found `actoin`",
    );
    check_body_err(
        "step s { timeout 30 }",
        "E0001",
        "2:18",
        "expected a duration such as 30s or 5m, found `30`",
    );
    check_body_err(
        "timeout \"5m\"",
        "E0001",
        "2:9",
        "expected a duration such as 30s or 5m, found a string",
    );
    check_body_err(
        "step s { with { a: 1 b: 2 } }",
        "E0001",
        "2:22",
        "expected `,` or `}`, found `b`",
    );
    check_body_err(
        "let x = [1 2]",
        "E0001",
        "2:12",
        "expected `,` or `]`, found `2`",
    );
    check_body_err("let x = ", "E0001", "3:1", "expected a value");
    check_body_err("param p string", "E0001", "2:9", "expected `:`");
    check_body_err(
        "param p: text",
        "E0001",
        "2:10",
        "expected a type (string, int, float, bool, duration, list, map, any)",
    );
    check_body_err(
        "param p: int { minimum 1 }",
        "E0001",
        "2:16",
        "expected a constraint (min, max, enum, pattern, description) or `}`",
    );
    check_body_err(
        "rollback sometimes",
        "E0001",
        "2:10",
        "expected a rollback mode (automatic, manual or none)",
    );
    check_body_err(
        "step s { on_failure retry }",
        "E0001",
        "2:21",
        "expected a failure policy (rollback, fail or continue)",
    );
    check_body_err(
        "approval maybe",
        "E0001",
        "2:10",
        "expected an expression `${ … }` or `required`, found `maybe`",
    );
    check_body_err(
        "step s { when x > 1 }",
        "E0001",
        "2:15",
        "expected an expression `${ … }`, found `x`",
    );
    check_body_err("step s after { }", "E0001", "2:14", "expected a name");
    check_body_err(
        "step s after a b { }",
        "E0001",
        "2:16",
        "expected `,` or `{`, found `b`",
    );
    check_body_err(
        "parallel { }",
        "E0001",
        "2:12",
        "expected `step`, found `}`",
    );
    check_body_err(
        "verify 10m { step a { } }",
        "E0001",
        "2:8",
        "expected `within` or `{`",
    );
    check_body_err("import \"x.rhai\"", "E0001", "3:1", "expected `as`");
    check_body_err(
        "step s { retry 3 backoff }",
        "E0001",
        "2:26",
        "expected a duration",
    );
    check_body_err("step s { with { \"k\" } }", "E0001", "2:21", "expected `:`");
    check_body_err("let x = 'a'", "E0001", "2:9", "expected a value");
}

#[test]
fn syntax_errors_give_help_for_common_mistakes() {
    let d = parse_err(&wf("action \"x\""));
    assert_eq!(
        d.help.as_deref(),
        Some("`action` belongs inside a `step NAME { … }` block")
    );
    let d = parse_err(&wf("step a {\n  action \"x\"\nstep b { }"));
    assert!(d.help.unwrap().contains("is a `}` missing"));
    let d = parse_err(&wf("timeout 5"));
    assert!(d.help.unwrap().contains("250ms, 30s, 5m"));
}

#[test]
fn names_must_be_lowercase() {
    check_body_err(
        "step Backup { }",
        "E0001",
        "2:6",
        "`Backup` is not a valid name",
    );
    check_body_err("let _x = 1", "E0001", "2:5", "`_x` is not a valid name");
    let d = parse_err(&wf("step s { with { minAvailable: 1 } }"));
    assert!(d.help.unwrap().contains("\"minAvailable\""));
}

#[test]
fn interpolation_is_refused_where_a_plain_string_is_needed() {
    check_err(
        "workflow \"w-${x}\" version \"1\" { }",
        "E0001",
        "1:13",
        "the workflow name cannot contain `${ … }`",
    );
    check_body_err(
        "step s { action \"${a}\" }",
        "E0001",
        "2:18",
        "an action type cannot contain",
    );
    check_body_err(
        "import \"${p}\" as m",
        "E0001",
        "2:9",
        "an import path cannot contain",
    );
}

#[test]
fn unterminated_things_are_reported_at_their_opening() {
    check_body_err(
        "let x = \"abc\nlet y = 1",
        "E0001",
        "2:9",
        "unterminated string",
    );
    check_body_err("let x = \"abc", "E0001", "2:9", "unterminated string");
    check_err(
        &format!("{HEAD}let x = ${{ a + {{ b }}"),
        "E0001",
        "2:9",
        "unterminated expression",
    );
    check_body_err(
        "let x = \"${ a \"",
        "E0001",
        "2:15",
        "unterminated string inside an expression",
    );
    check_body_err("/* open", "E0001", "2:1", "unterminated block comment");
    check_body_err("let x = \"a\\", "E0001", "2:9", "unterminated string");
}

#[test]
fn nesting_is_bounded_before_the_grammar() {
    // Depth 60 parses; far deeper input is refused with E0003, not a stack overflow.
    parse_ok(&wf(&format!(
        "let x = {}{}",
        "[".repeat(60),
        "]".repeat(60)
    )));
    for deep in [
        format!("let x = {}", "[".repeat(100_000)),
        format!("let x = {}{}", "{a:".repeat(100), "}".repeat(100)),
        format!("let x = ${{ {} }}", "{".repeat(100_000)),
        format!("let x = {}", "\"${".repeat(50_000)),
        "step s { rollback { ".repeat(100),
    ] {
        let d = parse_err(&wf(&deep));
        assert_eq!(d.code, "E0003", "{}", d.message);
    }
}

#[test]
fn invalid_utf8_is_reported_at_its_offset() {
    let mut bytes = wf("let x = \"caf").into_bytes();
    let at = bytes.len();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\"\n}\n");
    let d = parse_bytes(&bytes).unwrap_err();
    assert_eq!((d.code, d.span.start, d.span.end), ("E0002", at, at + 1));
    assert!(parse_bytes(wf("").as_bytes()).is_ok());
    let d = parse_bytes(&[b'w', 0xe2, 0x82]).unwrap_err();
    assert_eq!((d.code, d.span.start, d.span.end), ("E0002", 1, 3));
}

// ---- robustness -----------------------------------------------------------------------------

/// The parse fuzz target's seed corpus, hostile seeds included (comments, identifiers and
/// strings tens of kilobytes long on one line, hundreds of steps, escapes, a script that
/// sleeps): each parses or is refused, formats to text that parses, and lints.
#[test]
fn fuzz_corpus_replays_without_panic() {
    let mut n = 0;
    for entry in std::fs::read_dir("fuzz/corpus/parse").unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(file) = parse_bytes(&bytes) {
            let text = remedy::dsl::format(&file);
            assert!(
                parse(&text).is_ok(),
                "{} formats to text that does not parse",
                path.display()
            );
        }
        let report = remedy::check::check_source(&path, &bytes, &Default::default());
        let _ = remedy::check::render::human(&report);
        n += 1;
    }
    assert!(n >= 10, "the seed corpus has {n} files");
}

/// A workflow nesting blocks, lists, maps, a string and expression braces `depth` deep.
fn nested(depth: usize) -> String {
    let blocks = depth / 4; // step + rollback blocks
    let values = depth - blocks - 5; // lists and maps inside `with`, below workflow, with, "${ #{
    let mut body = String::from("step s { ");
    body.push_str(&"rollback { ".repeat(blocks - 1));
    body.push_str("with { a: ");
    for i in 0..values {
        body.push_str(if i % 2 == 0 { "[" } else { "{ b: " });
    }
    body.push_str("\"${ #{ c: 1 } }\"");
    for i in (0..values).rev() {
        body.push_str(if i % 2 == 0 { "]" } else { " }" });
    }
    body.push_str(" }");
    body.push_str(&" }".repeat(blocks));
    wf(&body)
}

#[test]
fn nesting_at_the_limit_parses_on_a_small_stack() {
    // At the limit it parses, on a thread with a 1 MiB stack (in a debug build); one deeper
    // is refused.
    let deep = remedy::dsl::MAX_DEPTH;
    let text = nested(deep);
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || parse(&text).map(|_| ()).map_err(|d| d.message))
        .unwrap();
    assert_eq!(handle.join().unwrap(), Ok(()));
    assert_eq!(parse_err(&nested(deep + 1)).code, "E0003");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Token soup: fragments of the language in random order.
    fn soup() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "workflow", "\"w\"", "version", "{", "}", "[", "]", "step", "s", "after", ",", ":",
            "=", "with", "${", "\"", "\\", "//", "/*", "*/", "\n", " ", "5m", "1.5", "-3", "param",
            "p", "int", "rollback", "parallel", "verify", "within", "finally", "'", "`", "é",
            "\u{0}", "retry", "backoff", "max", "approval", "required", "let",
        ]);
        prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
    }

    proptest! {
        #[test]
        fn on_token_soup(text in soup()) {
            let _ = parse(&text);
            let with_head = format!("{HEAD}{text}");
            let _ = parse(&with_head);
        }

        #[test]
        fn on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_bytes(&bytes);
        }
    }
}

// ---- what an author reads -------------------------------------------------------------------

#[test]
fn syntax_error_messages_snapshot() {
    // One line per mistake: the input (inside a workflow), where the error points, the
    // message and the help, so a reviewer reads them as an author would.
    let cases = [
        "stepp backup { }",
        "step backup { action \"backup_data\" timeout 2 }",
        "step backup { actoin \"backup_data\" }",
        "step a {\n  action \"x\"\nstep b { action \"y\" }",
        "action \"x\"",
        "step s { with { namespace: namespace deployment: deployment } }",
        "step s { with { minAvailable: 1 } }",
        "let xs = [1, 2",
        "param p: integer",
        "param f: float = 1.5 { min 1.0, max 4.0 }",
        "rollback auto",
        "step s { on_failure ignore }",
        "step s { when analysis.confidence > 0.8 }",
        "step s { retry 3 backoff 5s max }",
        "verify in 10m { step v { } }",
        "parallel { }",
        "import \"lib.rhai\"",
        "let t = 30x",
        "let t = 30m1h",
        "let s = \"tab\\q\"",
        "let s = \"open",
        "let e = ${ a + { b }",
        "let n = 99999999999999999999",
        "step s { action \"${kind}\" }",
        "/* never closed",
    ];
    let mut out = String::new();
    for body in cases {
        let text = wf(body);
        let d = parse_err(&text);
        let at = SourceFile::new("t.wf", text.as_str()).line_col(d.span.start);
        out.push_str(&format!(
            "{body:?}\n  {}:{} {}: {}\n",
            at.line, at.col, d.code, d.message
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("dsl_syntax_errors", out);
    });
}
