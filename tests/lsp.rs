//! The language server driven through JSON-RPC as an editor drives it: every feature, on the
//! template library and on broken files, once in process and once against `remedy lsp` over
//! stdio (each scenario below runs on both).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "lsp/client.rs"]
mod client;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use client::{Client, apply_edits, offset, position, uri};
use remedy::check::{CheckContext, check_source};

/// Each scenario as two tests: in process, and against the binary over stdio.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Client::in_process().await).await
                }
            )*
        }
        mod stdio {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Client::binary().await).await
                }
            )*
        }
    };
}

both![
    advertises_every_feature,
    diagnostics_are_the_linters,
    diagnostics_follow_incremental_changes,
    a_changed_module_rechecks_its_templates,
    hover_explains_what_is_under_the_cursor,
    completion_fits_the_context,
    completion_works_with_an_error_elsewhere,
    navigation_finds_definitions_and_references,
    steps_and_module_functions_are_found_where_they_are_used,
    a_module_function_is_found_in_the_templates_that_import_it,
    rename_changes_every_reference_or_refuses,
    outline_folding_and_semantic_tokens,
    formatting_is_remedy_fmt,
    quick_fixes_resolve_their_findings,
    never_crashes_on_half_typed_text,
    hostile_input_gets_answers_not_crashes,
    requests_can_be_cancelled,
    a_slow_answer_does_not_block_typing,
    positions_count_in_the_negotiated_encoding,
    every_feature_answers_on_every_library_template,
];

const LIBRARY: &str = "workflows";
const OOM: &str = "workflows/oom-recovery.wf";

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn library() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(LIBRARY)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .collect();
    files.sort();
    files
}

fn lint_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/lint")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wf"))
        .collect();
    files.sort();
    files
}

/// Where `needle` starts in `text` (its `nth` occurrence), plus `plus` bytes.
fn at(text: &str, needle: &str, nth: usize, plus: usize) -> usize {
    text.match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in the text"))
        .0
        + plus
}

async fn started(mut c: Client) -> Client {
    c.initialize(false).await;
    c
}

fn labels(items: &Value) -> Vec<String> {
    let list = match items {
        Value::Array(a) => a.clone(),
        other => other["items"].as_array().cloned().unwrap_or_default(),
    };
    list.iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

async fn complete(c: &mut Client, uri: &str, text: &str, offset: usize) -> Vec<String> {
    let r = c
        .request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": uri }, "position": position(text, offset, c.utf8) }),
        )
        .await
        .expect("completion");
    labels(&r)
}

async fn hover(c: &mut Client, uri: &str, text: &str, offset: usize) -> String {
    let r = c
        .request(
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri }, "position": position(text, offset, c.utf8) }),
        )
        .await
        .expect("hover");
    r["contents"]["value"].as_str().unwrap_or("").to_string()
}

async fn change(c: &mut Client, uri: &str, version: i64, text: &str) {
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
    )
    .await;
}

// ---- scenarios ------------------------------------------------------------------------------

async fn advertises_every_feature(c: Client) {
    let mut c = c;
    let caps = c.initialize(false).await;
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    for feature in [
        "hoverProvider",
        "completionProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "documentSymbolProvider",
        "foldingRangeProvider",
        "semanticTokensProvider",
        "documentFormattingProvider",
        "codeActionProvider",
    ] {
        assert!(!caps[feature].is_null(), "{feature} is not advertised");
    }
    assert_eq!(caps["renameProvider"]["prepareProvider"], true);
    c.stop().await;
}

/// The diagnostics `remedy lint` gives a file, as the server must publish them.
fn lint_as_lsp(path: &Path, text: &str) -> Vec<(String, String, String, usize, usize)> {
    let dir = path.parent().unwrap();
    let report = check_source(path, text.as_bytes(), &CheckContext::for_dir(dir));
    report
        .diagnostics
        .iter()
        .map(|d| {
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str(&format!("\nhelp: {h}"));
            }
            (
                d.code.to_string(),
                d.severity.as_str().to_string(),
                message,
                d.span.start,
                d.span.end,
            )
        })
        .collect()
}

async fn diagnostics_are_the_linters(c: Client) {
    let mut c = started(c).await;
    let files: Vec<PathBuf> = library().into_iter().chain(lint_fixtures()).collect();
    assert!(files.len() > 60);
    let mut findings = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let u = uri(path);
        c.open(&u, &text).await;
        let got: Vec<_> = c
            .diagnostics(&u, Some(1))
            .await
            .iter()
            .map(|d| {
                let severity = if d["severity"] == 1 {
                    "error"
                } else {
                    "warning"
                };
                (
                    d["code"].as_str().unwrap().to_string(),
                    severity.to_string(),
                    d["message"].as_str().unwrap().to_string(),
                    offset(&text, &d["range"]["start"], c.utf8),
                    offset(&text, &d["range"]["end"], c.utf8),
                )
            })
            .collect();
        let want = lint_as_lsp(path, &text);
        assert_eq!(got, want, "{}", path.display());
        findings += want.len();
    }
    assert!(findings > 50, "the fixtures have findings: {findings}");
    c.stop().await;
}

async fn diagnostics_follow_incremental_changes(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    assert_eq!(c.diagnostics(&u, Some(1)).await, Vec::<Value>::new());
    // Type a typo into an action name, one character replaced.
    let s = at(&text, "\"scale_deployment\"", 0, 1);
    let range =
        json!({ "start": position(&text, s, c.utf8), "end": position(&text, s + 5, c.utf8) });
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": u, "version": 2 }, "contentChanges": [{ "range": range, "text": "skale" }] }),
    )
    .await;
    let d = c.diagnostics(&u, Some(2)).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["code"], "E0101");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("help: did you mean `scale_deployment`?")
    );
    assert_eq!(offset(&text, &d[0]["range"]["start"], c.utf8), s - 1);
    // Break the syntax: the one syntax error of `remedy lint`.
    let range =
        json!({ "start": position(&text, s - 1, c.utf8), "end": position(&text, s - 1, c.utf8) });
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": u, "version": 3 }, "contentChanges": [{ "range": range, "text": "{" }] }),
    )
    .await;
    let d = c.diagnostics(&u, Some(3)).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["code"], "E0001");
    // Back to the original text.
    change(&mut c, &u, 4, &text).await;
    assert_eq!(c.diagnostics(&u, Some(4)).await, Vec::<Value>::new());
    c.stop().await;
}

async fn a_changed_module_rechecks_its_templates(c: Client) {
    let mut c = started(c).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    let module_path = dir.path().join("lib/m.rhai");
    std::fs::write(&module_path, "fn twice(x) { x * 2 }\n").unwrap();
    let template = "workflow \"w\" version \"1.0.0\" {\n  import \"lib/m.rhai\" as m\n  let n = ${ m::twice(2) }\n  step s {\n    action \"notify_only\"\n    with { message: \"${n}\" }\n  }\n}\n";
    let wf_path = dir.path().join("w.wf");
    std::fs::write(&wf_path, template).unwrap();
    let (wu, mu) = (uri(&wf_path), uri(&module_path));
    c.open(&wu, template).await;
    assert_eq!(c.diagnostics(&wu, Some(1)).await, Vec::<Value>::new());
    // The module is opened and broken in the editor, unsaved: both files say so.
    c.open(&mu, "fn twice(x) { x * 2 }\n").await;
    assert_eq!(c.diagnostics(&mu, Some(1)).await, Vec::<Value>::new());
    let broken = "fn twice(x) { x * 2 }\nfn bad( {\n";
    change(&mut c, &mu, 2, broken).await;
    let d = c.diagnostics(&mu, Some(2)).await;
    assert_eq!(d[0]["code"], "E0201");
    assert_eq!(d[0]["range"]["start"]["line"], 1, "{d:?}");
    let d = c.diagnostics_where(&wu, Some(1), |d| !d.is_empty()).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["code"], "E0201");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("module \"lib/m.rhai\" does not load")
    );
    // Repaired in the editor: the template is clean again.
    change(&mut c, &mu, 3, "fn twice(x) { x * 2 }\n").await;
    c.diagnostics_where(&wu, Some(1), <[Value]>::is_empty).await;
    // Closed: the file on disk counts. Broken on disk, the watcher's event re-checks.
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": mu } }),
    )
    .await;
    c.diagnostics_where(&wu, Some(1), <[Value]>::is_empty).await;
    std::fs::write(&module_path, broken).unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": mu, "type": 2 }] }),
    )
    .await;
    let d = c.diagnostics_where(&wu, Some(1), |d| !d.is_empty()).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["code"], "E0201");
    c.stop().await;
}

async fn hover_explains_what_is_under_the_cursor(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    // An action: summary, effect, parameters with types.
    let h = hover(&mut c, &u, &text, at(&text, "\"scale_deployment\"", 0, 3)).await;
    assert!(
        h.contains("**action** `scale_deployment` · reversible"),
        "{h}"
    );
    assert!(h.contains("| `replicas` | int | required |"), "{h}");
    // A `with` key: the parameter's type and doc.
    let h = hover(&mut c, &u, &text, at(&text, "min_available:", 0, 2)).await;
    assert!(
        h.contains("**parameter** `min_available` of `verify_deployment`"),
        "{h}"
    );
    // A param used as a value: type, default, constraints, description.
    let h = hover(
        &mut c,
        &u,
        &text,
        at(&text, "${ replicas + extra_replicas }", 0, 18),
    )
    .await;
    assert!(h.contains("**param** `extra_replicas`: `int` = `1`"), "{h}");
    assert!(h.contains("`min 0`"), "{h}");
    assert!(
        h.contains("replicas to add while the memory is raised"),
        "{h}"
    );
    // A let.
    let h = hover(&mut c, &u, &text, at(&text, "memory: new_limit", 0, 9)).await;
    assert!(
        h.contains("**let** `new_limit` = `${ quantity::grow(memory_limit, factor, max_memory) }`"),
        "{h}"
    );
    // A step: its action and phase.
    let h = hover(&mut c, &u, &text, at(&text, "step healthy", 0, 6)).await;
    assert!(h.contains("**step** `healthy` · verify phase"), "{h}");
    assert!(h.contains("action `verify_deployment` (read_only)"), "{h}");
    // `analysis.…` fields, from the scripting docs.
    let h = hover(&mut c, &u, &text, at(&text, "analysis.confidence", 0, 12)).await;
    assert!(
        h.contains("**analysis field** `analysis.confidence`") && h.contains("from 0 to 1"),
        "{h}"
    );
    let h = hover(
        &mut c,
        &u,
        &text,
        at(&text, "analysis.target.namespace", 0, 18),
    )
    .await;
    assert!(h.contains("`analysis.target.namespace`"), "{h}");
    // A module function: signature and doc comment.
    let h = hover(&mut c, &u, &text, at(&text, "quantity::grow", 0, 11)).await;
    assert!(
        h.contains("**fn** `quantity::grow(size, factor, ceiling)`"),
        "{h}"
    );
    assert!(h.contains("multiplied by `factor`"), "{h}");
    // A keyword.
    let h = hover(&mut c, &u, &text, at(&text, "max_parallel", 0, 2)).await;
    assert!(h.contains("At most N step executions"), "{h}");
    // A rule code, and the explanation of a finding under the cursor.
    let broken = format!(
        "// see W0101\n{}",
        text.replace("\"scale_deployment\"", "\"scale_deploymnt\"")
    );
    let bu = uri("workflows/hover-broken.wf");
    c.open(&bu, &broken).await;
    let h = hover(&mut c, &bu, &broken, at(&broken, "W0101", 0, 2)).await;
    assert!(
        h.contains("**W0101 reversible_without_rollback**") && h.contains("How to fix"),
        "{h}"
    );
    let h = hover(&mut c, &bu, &broken, at(&broken, "scale_deploymnt", 0, 3)).await;
    assert!(h.contains("**E0101 unknown_action**"), "{h}");
    c.stop().await;
}

async fn completion_fits_the_context(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    // Workflow items on an empty line of the workflow.
    let l = complete(&mut c, &u, &text, at(&text, "\n\n  import", 0, 1)).await;
    for k in [
        "param", "let", "step", "parallel", "verify", "finally", "import", "timeout",
    ] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    assert!(!l.contains(&"action".to_string()));
    // Step items inside a step.
    let step_text = text.replacen(
        "    timeout 1m\n    retry 3",
        "    timeout 1m\n    \n    retry 3",
        1,
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": u, "version": 2 }, "contentChanges": [{ "text": step_text }] })).await;
    let l = complete(
        &mut c,
        &u,
        &step_text,
        at(&step_text, "timeout 1m\n    \n", 0, 15),
    )
    .await;
    for k in ["action", "with", "retry", "when", "on_failure", "rollback"] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    assert!(!l.contains(&"param".to_string()));
    // Action names inside `action "…"`.
    let l = complete(
        &mut c,
        &u,
        &step_text,
        at(&step_text, "\"scale_deployment\"", 0, 3),
    )
    .await;
    assert!(
        l.contains(&"drain_node".to_string()) && l.contains(&"scale_deployment".to_string()),
        "{l:?}"
    );
    // An action's parameters inside `with`, required first, those given left out.
    let r = c
        .request("textDocument/completion", json!({ "textDocument": { "uri": u }, "position": position(&step_text, at(&step_text, "with { namespace, deployment, memory: new_limit }", 0, 7), c.utf8) }))
        .await
        .unwrap();
    let mut items: Vec<(String, String)> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sortText"].as_str().unwrap_or("").to_string(),
                i["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    items.sort();
    let names: Vec<&str> = items.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        !names.contains(&"namespace") && !names.contains(&"memory"),
        "{names:?}"
    );
    assert!(names.contains(&"cpu"), "{names:?}");
    // Required first: with only `namespace` given, `deployment` leads, the optional ones follow.
    let partial = step_text.replacen(
        "with { namespace, deployment, memory: new_limit }",
        "with { namespace,  }",
        1,
    );
    change(&mut c, &u, 3, &partial).await;
    let r = c
        .request("textDocument/completion", json!({ "textDocument": { "uri": u }, "position": position(&partial, at(&partial, "with { namespace,  }", 0, 18), c.utf8) }))
        .await
        .unwrap();
    let mut items: Vec<(String, String, String)> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sortText"].as_str().unwrap().to_string(),
                i["label"].as_str().unwrap().to_string(),
                i["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    items.sort();
    assert_eq!(
        (items[0].1.as_str(), items[0].2.as_str()),
        ("deployment", "string · required"),
        "{items:?}"
    );
    assert!(
        items[1..].iter().all(|(_, _, d)| d.ends_with("optional")),
        "{items:?}"
    );
    // Step names in `after`: the steps above, in the same phase.
    let after_text = text.replacen("  step raise_memory {", "  step raise_memory after  {", 1);
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": u, "version": 4 }, "contentChanges": [{ "text": after_text }] })).await;
    let mut l = complete(&mut c, &u, &after_text, at(&after_text, "after  {", 0, 6)).await;
    l.sort();
    assert_eq!(l, ["backup", "diagnose", "scale_out"]);
    // Inside `${ }`: params, lets, scope roots, aliases and built-ins.
    let l = complete(
        &mut c,
        &u,
        &after_text,
        at(&after_text, "${ extra_replicas > 0 }", 0, 3),
    )
    .await;
    for k in [
        "namespace",
        "new_limit",
        "analysis",
        "workflow",
        "steps",
        "quantity",
        "parse_quantity",
    ] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    assert!(
        !l.contains(&"self".to_string()),
        "no `self` outside a rollback block"
    );
    // `analysis.` fields, `steps.` names (ancestors only), `workflow.` fields, `alias::` functions.
    let l = complete(
        &mut c,
        &u,
        &after_text,
        at(&after_text, "analysis.confidence", 0, 9),
    )
    .await;
    assert!(
        l.contains(&"confidence".to_string()) && l.contains(&"targetResource".to_string()),
        "{l:?}"
    );
    let with_steps = text.replacen(
        "${ analysis.confidence >= min_confidence }",
        "${ steps. }",
        1,
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": u, "version": 6 }, "contentChanges": [{ "text": with_steps }] })).await;
    let mut l = complete(
        &mut c,
        &u,
        &with_steps,
        at(&with_steps, "${ steps. }", 0, 9),
    )
    .await;
    l.sort();
    assert_eq!(l, ["backup", "diagnose", "scale_out"]);
    let l = complete(
        &mut c,
        &u,
        &with_steps,
        at(&with_steps, "${workflow.phase}", 0, 11),
    )
    .await;
    assert!(
        l.contains(&"phase".to_string()) && l.contains(&"execution".to_string()),
        "{l:?}"
    );
    let l = complete(
        &mut c,
        &u,
        &with_steps,
        at(&with_steps, "quantity::grow", 0, 10),
    )
    .await;
    assert!(
        l.contains(&"grow".to_string()) && l.contains(&"pretty".to_string()),
        "{l:?}"
    );
    // Import paths.
    let l = complete(
        &mut c,
        &u,
        &with_steps,
        at(&with_steps, "\"lib/quantity.rhai\"", 0, 1),
    )
    .await;
    assert!(
        l.contains(&"lib/quantity.rhai".to_string())
            && l.contains(&"lib/replicas.rhai".to_string()),
        "{l:?}"
    );
    // Param types after `param x:`.
    let typed = with_steps.replacen(
        "  let target_replicas",
        "  param fresh: \n  let target_replicas",
        1,
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": u, "version": 7 }, "contentChanges": [{ "text": typed }] })).await;
    let l = complete(&mut c, &u, &typed, at(&typed, "param fresh: ", 0, 13)).await;
    assert!(
        l.contains(&"duration".to_string()) && l.contains(&"string".to_string()),
        "{l:?}"
    );
    c.stop().await;
}

async fn completion_works_with_an_error_elsewhere(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    // An error in an earlier step (a timeout without a duration) and a half-typed item.
    let broken = text
        .replacen(
            "timeout 1m\n      on_failure continue",
            "timeout\n      on_failure continue",
            1,
        )
        .replacen("    timeout 3m\n", "    timeout 3m\n    ret\n", 1);
    let u = uri("workflows/completion-broken.wf");
    c.open(&u, &broken).await;
    let d = c.diagnostics(&u, Some(1)).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["code"], "E0001");
    // `with` parameters of the step after the error.
    let l = complete(
        &mut c,
        &u,
        &broken,
        at(
            &broken,
            "with { namespace, deployment, memory: new_limit }",
            0,
            7,
        ),
    )
    .await;
    assert!(l.contains(&"cpu".to_string()), "{l:?}");
    // Step items where the item is half typed.
    let l = complete(&mut c, &u, &broken, at(&broken, "    ret\n", 0, 7)).await;
    assert!(l.contains(&"retry".to_string()), "{l:?}");
    // `after` and `steps.` see the steps of the recovered tree.
    let mut l = complete(
        &mut c,
        &u,
        &broken,
        at(&broken, "${ self.output.previous_revision }", 0, 3),
    )
    .await;
    l.retain(|x| x == "self" || x == "steps");
    assert_eq!(l, ["steps", "self"]);
    let h = hover(&mut c, &u, &broken, at(&broken, "step healthy", 0, 6)).await;
    assert!(h.contains("verify phase"), "{h}");
    c.stop().await;
}

async fn navigation_finds_definitions_and_references(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    let def = |r: Value| -> (String, usize) {
        (
            r["uri"].as_str().unwrap().to_string(),
            r["range"]["start"]["line"].as_u64().unwrap() as usize,
        )
    };
    let line_of = |needle: &str| text[..at(&text, needle, 0, 0)].matches('\n').count();
    let goto = |c: &mut Client, off: usize| {
        let p = position(&text, off, c.utf8);
        let u = u.clone();
        async move { json!({ "textDocument": { "uri": u }, "position": p }) }
    };
    // A param used as a shorthand entry → its declaration.
    let p = goto(
        &mut c,
        at(&text, "with { namespace, deployment, replicas", 0, 20),
    )
    .await;
    let r = c.request("textDocument/definition", p).await.unwrap();
    assert_eq!(def(r), (u.clone(), line_of("param deployment")));
    // A let inside an expression.
    let p = goto(&mut c, at(&text, "${ replicas + extra_replicas }", 0, 4)).await;
    let r = c.request("textDocument/definition", p).await.unwrap();
    assert_eq!(def(r), (u.clone(), line_of("param replicas")));
    // A module function → its `fn` in the module; the import path → the module file.
    let p = goto(&mut c, at(&text, "quantity::grow", 0, 11)).await;
    let r = c.request("textDocument/definition", p).await.unwrap();
    let module = read("workflows/lib/quantity.rhai");
    assert_eq!(
        def(r),
        (
            uri("workflows/lib/quantity.rhai"),
            module[..module.find("fn grow").unwrap()]
                .matches('\n')
                .count()
        )
    );
    let p = goto(&mut c, at(&text, "\"lib/quantity.rhai\"", 0, 3)).await;
    let r = c.request("textDocument/definition", p).await.unwrap();
    assert_eq!(def(r).0, uri("workflows/lib/quantity.rhai"));
    // References of a param: declaration, shorthand entries, expressions, interpolations.
    let p = goto(&mut c, at(&text, "param deployment", 0, 8)).await;
    let mut p2 = p.clone();
    p2["context"] = json!({ "includeDeclaration": true });
    let refs = c.request("textDocument/references", p2).await.unwrap();
    let refs = refs.as_array().unwrap();
    assert_eq!(
        refs.len(),
        9,
        "the declaration, 5 shorthand entries, 3 interpolations: {refs:?}"
    );
    for r in refs {
        let s = offset(&text, &r["range"]["start"], c.utf8);
        let e = offset(&text, &r["range"]["end"], c.utf8);
        assert_eq!(&text[s..e], "deployment");
    }
    // References of a step: its declaration only here, and an alias: every `quantity::`.
    let p = goto(&mut c, at(&text, "quantity::grow", 0, 3)).await;
    let mut p2 = p.clone();
    p2["context"] = json!({ "includeDeclaration": false });
    let refs = c.request("textDocument/references", p2).await.unwrap();
    assert_eq!(
        refs.as_array().unwrap().len(),
        text.matches("quantity::").count()
    );
    c.stop().await;
}

/// A step named in `after` and in `steps.X`, and a module function: definition,
/// "Find references" on a module's function, asked in the module: the templates that import
/// it (open ones as the editor has them, the others from disk, under whatever alias), and not
/// a same-named function of another module.
async fn a_module_function_is_found_in_the_templates_that_import_it(c: Client) {
    let mut c = started(c).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    let module = "/// Doubles.\nfn twice(x) { x * 2 }\n";
    std::fs::write(dir.path().join("lib/m.rhai"), module).unwrap();
    std::fs::write(dir.path().join("lib/other.rhai"), module).unwrap();
    let template = |path: &str, alias: &str, calls: usize| {
        let lets: String = (0..calls)
            .map(|i| format!("  let n{i} = ${{ {alias}::twice({i}) }}\n"))
            .collect();
        format!(
            "workflow \"w\" version \"1.0.0\" {{\n  import \"{path}\" as {alias}\n{lets}  step s {{\n    action \"notify_only\"\n    with {{ message: \"done\" }}\n  }}\n}}\n"
        )
    };
    // On disk only: two calls under `m`.
    let on_disk = template("lib/m.rhai", "m", 2);
    std::fs::write(dir.path().join("a.wf"), &on_disk).unwrap();
    // Open, with unsaved text: on disk it calls once, in the editor three times under `q`.
    std::fs::write(dir.path().join("b.wf"), template("lib/m.rhai", "q", 1)).unwrap();
    let edited = template("lib/m.rhai", "q", 3);
    // Another module's `twice`, and a file that is not a template.
    std::fs::write(dir.path().join("c.wf"), template("lib/other.rhai", "m", 2)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), template("lib/m.rhai", "m", 2)).unwrap();
    // A symlink leading out of the directory is not read (as `remedy lint` refuses it).
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.wf"), template("lib/m.rhai", "m", 4)).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("x.wf"), dir.path().join("d.wf")).unwrap();
    let (mu, bu) = (
        uri(dir.path().join("lib/m.rhai")),
        uri(dir.path().join("b.wf")),
    );
    c.open(&bu, &edited).await;
    c.open(&mu, module).await;
    let at_fn = module.find("twice").unwrap() + 2;
    let ask = |c: &Client, declaration: bool| json!({ "textDocument": { "uri": mu }, "position": position(module, at_fn, c.utf8), "context": { "includeDeclaration": declaration } });
    let refs = c
        .request("textDocument/references", ask(&c, true))
        .await
        .unwrap();
    let mut places: Vec<(String, String)> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let u = r["uri"].as_str().unwrap().to_string();
            let text = if u == mu {
                module.to_string()
            } else if u == bu {
                edited.clone()
            } else {
                std::fs::read_to_string(dir.path().join(u.rsplit('/').next().unwrap())).unwrap()
            };
            let start = offset(&text, &r["range"]["start"], c.utf8);
            let end = offset(&text, &r["range"]["end"], c.utf8);
            let name = u.rsplit('/').next().unwrap().to_string();
            (name, text[start..end].to_string())
        })
        .collect();
    places.sort();
    let mut expected = vec![("m.rhai".to_string(), "twice".to_string())];
    expected.extend((0..2).map(|_| ("a.wf".to_string(), "twice".to_string())));
    expected.extend((0..3).map(|_| ("b.wf".to_string(), "twice".to_string())));
    expected.sort();
    assert_eq!(places, expected, "{refs:?}");
    // Without the declaration: the calls alone.
    let refs = c
        .request("textDocument/references", ask(&c, false))
        .await
        .unwrap();
    assert_eq!(refs.as_array().unwrap().len(), 5, "{refs:?}");
    // Outside a function's name: nothing.
    let refs = c
        .request(
            "textDocument/references",
            json!({ "textDocument": { "uri": mu }, "position": position(module, 2, c.utf8), "context": { "includeDeclaration": true } }),
        )
        .await
        .unwrap();
    assert_eq!(refs, Value::Null);
    c.stop().await;
}

/// references and hover work from where they are used.
async fn steps_and_module_functions_are_found_where_they_are_used(c: Client) {
    let mut c = started(c).await;
    let line = |text: &str, off: usize| text[..off].matches('\n').count() as u64;
    let req = |c: &Client, u: &str, text: &str, off: usize| json!({ "textDocument": { "uri": u }, "position": position(text, off, c.utf8), "context": { "includeDeclaration": true } });
    // A step in `after`: its declaration, both `after`s, and its action and phase on hover.
    let text = read("workflows/stuck-rollout.wf");
    let u = uri("workflows/stuck-rollout.wf");
    c.open(&u, &text).await;
    let used = at(&text, "after backup", 1, 7);
    let r = c
        .request("textDocument/definition", req(&c, &u, &text, used))
        .await
        .unwrap();
    assert_eq!(r["uri"], u);
    assert_eq!(
        r["range"]["start"]["line"],
        line(&text, at(&text, "step backup", 0, 0))
    );
    let refs = c
        .request("textDocument/references", req(&c, &u, &text, used))
        .await
        .unwrap();
    let mut lines: Vec<u64> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            line(&text, at(&text, "step backup", 0, 0)),
            line(&text, at(&text, "after backup", 0, 0)),
            line(&text, at(&text, "after backup", 1, 0)),
        ]
    );
    let h = hover(&mut c, &u, &text, used).await;
    assert!(h.contains("**step** `backup`"), "{h}");
    let backup = &text[at(&text, "step backup", 0, 0)..];
    let action = &backup[backup.find("action \"").unwrap() + 8..];
    let action = &action[..action.find('"').unwrap()];
    assert!(h.contains(&format!("action `{action}`")), "{action}: {h}");
    // A step in `steps.X` inside an expression.
    let text = read("workflows/latency-slo-scale-out.wf");
    let u = uri("workflows/latency-slo-scale-out.wf");
    c.open(&u, &text).await;
    let used = at(&text, "steps.scale_out.phase", 0, 8);
    let r = c
        .request("textDocument/definition", req(&c, &u, &text, used))
        .await
        .unwrap();
    assert_eq!(
        r["range"]["start"]["line"],
        line(&text, at(&text, "step scale_out", 0, 0))
    );
    let h = hover(&mut c, &u, &text, used).await;
    assert!(
        h.contains("**step** `scale_out`") && h.contains("phase"),
        "{h}"
    );
    // A module function: its uses in the template and its `fn` in the module.
    let text = read("workflows/pvc-expand.wf");
    let u = uri("workflows/pvc-expand.wf");
    c.open(&u, &text).await;
    let refs = c
        .request(
            "textDocument/references",
            req(&c, &u, &text, at(&text, "quantity::grow", 0, 11)),
        )
        .await
        .unwrap();
    let refs = refs.as_array().unwrap();
    let module = read("workflows/lib/quantity.rhai");
    let mut places: Vec<(String, u64)> = refs
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap().to_string(),
                r["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    let mut expected: Vec<(String, u64)> = text
        .match_indices("quantity::grow")
        .map(|(i, _)| (u.clone(), line(&text, i)))
        .collect();
    expected.push((
        uri("workflows/lib/quantity.rhai"),
        line(&module, module.find("fn grow").unwrap()),
    ));
    expected.sort();
    assert_eq!(places, expected);
    assert!(expected.len() >= 2, "{expected:?}");
    // `quantity::percent_used` is another function: not among `grow`'s references.
    assert!(
        refs.iter().all(|r| {
            r["uri"] != u || {
                let s = offset(&text, &r["range"]["start"], c.utf8);
                text[s..].starts_with("grow")
            }
        }),
        "{refs:?}"
    );
    c.stop().await;
}

async fn rename_changes_every_reference_or_refuses(c: Client) {
    let mut c = started(c).await;
    let text = "workflow \"w\" version \"1.0.0\" {\n  param ns: string = \"shop\"\n  let count = 2\n\n  step first {\n    action \"scale_deployment\"\n    with { namespace: ns, deployment: \"web\", replicas: count }\n    rollback {\n      action \"scale_deployment\"\n      with { namespace: ns, deployment: \"web\", replicas: ${ self.output.previous_replicas } }\n    }\n  }\n\n  step second after first {\n    action \"notify_only\"\n    with { message: \"${ns}: ${ steps.first.phase } ${ params.count }\" }\n  }\n}\n";
    let u = uri("workflows/rename.wf");
    c.open(&u, text).await;
    assert_eq!(c.diagnostics(&u, Some(1)).await, Vec::<Value>::new());
    let rename = |c: &Client, off: usize, name: &str| json!({ "textDocument": { "uri": u }, "position": position(text, off, c.utf8), "newName": name });
    // A step: declaration, `after`, `steps.first`.
    let p = json!({ "textDocument": { "uri": u }, "position": position(text, at(text, "after first", 0, 7), c.utf8) });
    let prep = c.request("textDocument/prepareRename", p).await.unwrap();
    assert_eq!(prep["placeholder"], "first");
    let edit = c
        .request(
            "textDocument/rename",
            rename(&c, at(text, "after first", 0, 7), "scale"),
        )
        .await
        .unwrap();
    let renamed = apply_edits(text, edit["changes"][&u].as_array().unwrap(), c.utf8);
    assert_eq!(renamed, text.replace("first", "scale"));
    // A param used bare and in interpolations; a let in `params.count`.
    let edit = c
        .request(
            "textDocument/rename",
            rename(&c, at(text, "param ns", 0, 7), "target_ns"),
        )
        .await
        .unwrap();
    let renamed = apply_edits(text, edit["changes"][&u].as_array().unwrap(), c.utf8);
    assert_eq!(
        renamed,
        text.replace("ns: string", "target_ns: string")
            .replace("namespace: ns", "namespace: target_ns")
            .replace("${ns}", "${target_ns}")
    );
    let edit = c
        .request(
            "textDocument/rename",
            rename(&c, at(text, "let count", 0, 5), "n"),
        )
        .await
        .unwrap();
    let renamed = apply_edits(text, edit["changes"][&u].as_array().unwrap(), c.utf8);
    assert_eq!(renamed, text.replace("count", "n"));
    // Refused: not a name, reserved, taken, something else than a step, param or let.
    for (off, name, why) in [
        (at(text, "param ns", 0, 7), "Ns", "not a valid name"),
        (
            at(text, "param ns", 0, 7),
            "analysis",
            "a name every expression already uses",
        ),
        (at(text, "param ns", 0, 7), "count", "already a let"),
        (at(text, "step second", 0, 6), "first", "already a step"),
        (at(text, "step second", 0, 6), "timeout", "keyword"),
        (
            at(text, "\"scale_deployment\"", 0, 3),
            "x",
            "no step, param or let here",
        ),
    ] {
        let e = c
            .request("textDocument/rename", rename(&c, off, name))
            .await
            .unwrap_err();
        assert!(e["message"].as_str().unwrap().contains(why), "{name}: {e}");
    }
    // Refused in a file that does not parse.
    let broken = text.replace("  let count = 2\n", "  let count = 2\n  oops\n");
    change(&mut c, &u, 2, &broken).await;
    let p = json!({ "textDocument": { "uri": u }, "position": position(&broken, at(&broken, "param ns", 0, 7), c.utf8), "newName": "m" });
    let e = c.request("textDocument/rename", p).await.unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("does not parse"),
        "{e}"
    );
    c.stop().await;
}

async fn outline_folding_and_semantic_tokens(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    let doc = json!({ "textDocument": { "uri": u } });
    // The outline: the workflow, its imports, params, lets, steps in their groups.
    let symbols = c
        .request("textDocument/documentSymbol", doc.clone())
        .await
        .unwrap();
    let wf = &symbols[0];
    assert_eq!(wf["name"], "oom-recovery");
    let children: Vec<String> = wf["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        children,
        [
            "quantity",
            "namespace",
            "deployment",
            "memory_limit",
            "replicas",
            "factor",
            "max_memory",
            "extra_replicas",
            "min_confidence",
            "new_limit",
            "target_replicas",
            "parallel",
            "scale_out",
            "raise_memory",
            "verify",
            "finally"
        ]
    );
    let group = |name: &str| -> Vec<String> {
        wf["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(group("parallel"), ["diagnose", "backup"]);
    assert_eq!(group("verify"), ["healthy"]);
    assert_eq!(group("finally"), ["report"]);
    assert_eq!(group("scale_out"), ["rollback"]);
    // Folding: the header comment, the workflow, each step, multi-line params.
    let folds = c
        .request("textDocument/foldingRange", doc.clone())
        .await
        .unwrap();
    let folds: Vec<(u64, u64)> = folds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["startLine"].as_u64().unwrap(),
                f["endLine"].as_u64().unwrap(),
            )
        })
        .collect();
    let line_of = |needle: &str| text[..at(&text, needle, 0, 0)].matches('\n').count() as u64;
    assert!(folds.contains(&(0, 12)), "the header comment: {folds:?}");
    assert!(
        folds.contains(&(line_of("workflow \"oom"), text.lines().count() as u64 - 1)),
        "{folds:?}"
    );
    assert!(
        folds.iter().any(|f| f.0 == line_of("  step scale_out")),
        "{folds:?}"
    );
    assert!(
        folds.iter().any(|f| f.0 == line_of("  param deployment")),
        "{folds:?}"
    );
    // Semantic tokens: decode, and look at a few.
    let tokens = c
        .request("textDocument/semanticTokens/full", doc.clone())
        .await
        .unwrap();
    let data: Vec<u64> = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(data.len() % 5, 0);
    let (mut line, mut col) = (0u64, 0u64);
    let mut decoded = Vec::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            line += t[0];
            col = t[1];
        } else {
            col += t[1];
        }
        let start = offset(&text, &json!({ "line": line, "character": col }), c.utf8);
        let end = offset(
            &text,
            &json!({ "line": line, "character": col + t[2] }),
            c.utf8,
        );
        decoded.push((text[start..end].to_string(), t[3], t[4]));
    }
    let find = |s: &str| {
        decoded
            .iter()
            .find(|(t, _, _)| t == s)
            .cloned()
            .unwrap_or_else(|| panic!("no token {s}"))
    };
    // Legend: 0 keyword, 1 string, 3 comment, 4 function, 5 parameter, 6 variable, 7 namespace, 8 method.
    assert_eq!(find("workflow").1, 0);
    assert_eq!(
        find("scale_out"),
        ("scale_out".into(), 4, 1),
        "a step's declaration"
    );
    assert_eq!(find("factor").1, 5);
    assert_eq!(find("new_limit").1, 6);
    assert_eq!(find("grow").1, 8);
    assert_eq!(
        find("analysis").2 & 4,
        4,
        "analysis is a default-library name"
    );
    assert_eq!(decoded[0].1, 3, "the file starts with a comment");
    c.stop().await;
}

async fn formatting_is_remedy_fmt(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM);
    let messy = text
        .replace("  timeout 20m\n", "      timeout   20m\n")
        .replace(
            "with { namespace, deployment, replicas: target_replicas }",
            "with {namespace,deployment,replicas:target_replicas}",
        );
    let u = uri("workflows/format-me.wf");
    c.open(&u, &messy).await;
    let edits = c.request("textDocument/formatting", json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } })).await.unwrap();
    let formatted = apply_edits(&messy, edits.as_array().unwrap(), c.utf8);
    assert_eq!(formatted, text, "the library file is formatted");
    assert_eq!(
        formatted,
        remedy::dsl::format(&remedy::dsl::parse(&messy).unwrap())
    );
    // Already formatted: no edit.
    change(&mut c, &u, 2, &text).await;
    let edits = c.request("textDocument/formatting", json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } })).await.unwrap();
    assert_eq!(edits, json!([]));
    // A file that does not parse is refused.
    change(
        &mut c,
        &u,
        3,
        &text.replacen("timeout 20m", "timeout 20", 1),
    )
    .await;
    let e = c.request("textDocument/formatting", json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } })).await.unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("does not parse"),
        "{e}"
    );
    c.stop().await;
}

async fn quick_fixes_resolve_their_findings(c: Client) {
    let mut c = started(c).await;
    let text = read(OOM)
        .replace("\"scale_deployment\"", "\"scale_deploymnt\"")
        .replace("min_available: replicas", "min_availabel: replicas")
        .replace("retry 5 backoff 30s max 2m", "retry 5 backoff 2m max 30s");
    let u = uri("workflows/fix-me.wf");
    c.open(&u, &text).await;
    let mut d = c.diagnostics(&u, Some(1)).await;
    let codes: Vec<&str> = d.iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0101", "E0101", "E0104", "W0104"], "{d:?}");
    let mut current = text.clone();
    let mut version = 1;
    while let Some(first) = d.first().cloned() {
        let actions = c.request("textDocument/codeAction", json!({ "textDocument": { "uri": u }, "range": first["range"], "context": { "diagnostics": [first] } })).await.unwrap();
        let action = actions
            .as_array()
            .unwrap()
            .first()
            .unwrap_or_else(|| panic!("no fix for {first}"))
            .clone();
        assert_eq!(action["kind"], "quickfix");
        current = apply_edits(
            &current,
            action["edit"]["changes"][&u].as_array().unwrap(),
            c.utf8,
        );
        version += 1;
        change(&mut c, &u, version, &current).await;
        d = c.diagnostics(&u, Some(version)).await;
        assert!(version < 10, "fixes do not converge");
    }
    assert_eq!(current, read(OOM), "every fix restored the library file");
    c.stop().await;
}

async fn never_crashes_on_half_typed_text(c: Client) {
    let mut c = started(c).await;
    let text = read("workflows/stuck-rollout.wf");
    let u = uri("workflows/typing.wf");
    c.open(&u, "").await;
    // Type the file in chunks; after each, ask everything at the end of what is typed.
    let mut version = 1;
    let cuts: Vec<usize> = (0..text.len())
        .step_by(97)
        .filter(|&i| text.is_char_boundary(i))
        .chain([text.len()])
        .collect();
    for cut in cuts {
        version += 1;
        let typed = &text[..cut];
        change(&mut c, &u, version, typed).await;
        let pos = json!({ "textDocument": { "uri": u }, "position": position(typed, cut, c.utf8) });
        let doc = json!({ "textDocument": { "uri": u } });
        for (method, params) in [
            ("textDocument/completion", pos.clone()),
            ("textDocument/hover", pos.clone()),
            ("textDocument/definition", pos.clone()),
            ("textDocument/documentSymbol", doc.clone()),
            ("textDocument/foldingRange", doc.clone()),
            ("textDocument/semanticTokens/full", doc.clone()),
        ] {
            let r = c.request(method, params).await;
            assert!(r.is_ok(), "{method} at {cut}: {r:?}");
        }
        let d = c.diagnostics(&u, Some(version)).await;
        if cut == text.len() {
            assert_eq!(d, Vec::<Value>::new(), "the whole file is clean");
        } else {
            assert!(!d.is_empty(), "a prefix at {cut} has no error");
        }
    }
    c.stop().await;
}

/// The huge, the deep, the forged positions and edits, the unopened, the symlinked and the
/// crowded directory: every request is answered, and the server goes on.
async fn hostile_input_gets_answers_not_crashes(c: Client) {
    let mut c = started(c).await;
    let ask_everything = |u: &str, line: u64, character: u64| {
        let pos = json!({ "textDocument": { "uri": u }, "position": { "line": line, "character": character } });
        let doc = json!({ "textDocument": { "uri": u } });
        [
            ("textDocument/completion", pos.clone()),
            ("textDocument/hover", pos.clone()),
            ("textDocument/definition", pos.clone()),
            ("textDocument/documentSymbol", doc.clone()),
            ("textDocument/foldingRange", doc.clone()),
            ("textDocument/semanticTokens/full", doc.clone()),
            (
                "textDocument/formatting",
                json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
            ),
        ]
    };
    // Over the size limit: one diagnostic says so, and nothing else is analysed.
    let padding = "  // padding padding padding padding padding padding padding padding\n";
    let huge = format!(
        "workflow \"w\" version \"1.0.0\" {{\n{}}}\n",
        padding.repeat(remedy::lsp::MAX_DOCUMENT_BYTES / padding.len() + 1)
    );
    assert!(huge.len() > remedy::lsp::MAX_DOCUMENT_BYTES);
    let u = uri("workflows/huge.wf");
    c.open(&u, &huge).await;
    let d = c.diagnostics(&u, Some(1)).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("up to {} bytes", remedy::lsp::MAX_DOCUMENT_BYTES)),
        "{d:?}"
    );
    for (method, params) in ask_everything(&u, 3, 4) {
        let r = c.request(method, params).await;
        // Formatting is refused: the text was not parsed.
        assert_eq!(
            r.is_ok(),
            method != "textDocument/formatting",
            "{method}: {r:?}"
        );
    }
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": u } }),
    )
    .await;
    // Deep: brackets and parentheses nested far beyond any parser's bound.
    // The parentheses are inside `${ }`: the file parses (rhai refuses the expression), so
    // it can be formatted.
    for (name, parses, deep) in [
        (
            "braces",
            false,
            format!(
                "workflow \"w\" version \"1.0.0\" {{\n  step s {{ action \"notify_only\" with {{ message: {} }} }}\n}}\n",
                "{ a: ".repeat(50_000)
            ),
        ),
        (
            "brackets",
            false,
            format!(
                "workflow \"w\" version \"1.0.0\" {{\n  let x = {}\n}}\n",
                "[".repeat(100_000)
            ),
        ),
        (
            "parentheses",
            true,
            format!(
                "workflow \"w\" version \"1.0.0\" {{\n  let x = ${{ {}1 }}\n}}\n",
                "(".repeat(100_000)
            ),
        ),
    ] {
        let u = uri(format!("workflows/deep-{name}.wf"));
        c.open(&u, &deep).await;
        let d = c.diagnostics(&u, Some(1)).await;
        assert!(!d.is_empty(), "{name}: an error");
        for (method, params) in ask_everything(&u, 1, 40) {
            let r = c.request(method, params).await;
            assert_eq!(
                r.is_ok(),
                parses || method != "textDocument/formatting",
                "{name}: {method}: {r:?}"
            );
        }
    }
    // Forged positions: far past the end, inside a surrogate pair; requests for a document
    // never opened; a change to one never opened.
    let text = "workflow \"w\" version \"1.0.0\" {\n  step s { action \"notify_only\" with { message: \"😀\" } }\n}\n";
    let u = uri("workflows/forged.wf");
    c.open(&u, text).await;
    assert_eq!(c.diagnostics(&u, Some(1)).await, Vec::<Value>::new());
    let emoji = text[..text.find('😀').unwrap()]
        .rsplit('\n')
        .next()
        .unwrap()
        .len() as u64;
    for (line, character) in [
        (1_000_000, 0),
        (1, 1_000_000),
        (1, emoji + 1),
        (u64::from(u32::MAX), u64::from(u32::MAX)),
    ] {
        for (method, params) in ask_everything(&u, line, character) {
            let r = c.request(method, params).await;
            assert!(r.is_ok(), "{method} at {line}:{character}: {r:?}");
        }
    }
    let never = uri("workflows/never-opened.wf");
    for (method, params) in ask_everything(&never, 0, 0) {
        let r = c.request(method, params).await;
        assert_eq!(r, Ok(Value::Null), "{method}: nothing to say of it");
    }
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": never, "version": 2 }, "contentChanges": [{ "text": "x" }] }),
    )
    .await;
    // Forged edits: a range past the end, one ending before it starts, one inside the emoji.
    // Each is applied clamped to the text, on character boundaries.
    let edit = |version: i64, range: Value, new: &str| json!({ "textDocument": { "uri": u, "version": version }, "contentChanges": [{ "range": range, "text": new }] });
    c.notify(
        "textDocument/didChange",
        edit(
            2,
            json!({ "start": { "line": 99, "character": 0 }, "end": { "line": 120, "character": 5 } }),
            "// tail\n",
        ),
    )
    .await;
    let d = c.diagnostics(&u, Some(2)).await;
    assert_eq!(d, Vec::<Value>::new(), "appended at the end: {d:?}");
    c.notify(
        "textDocument/didChange",
        edit(
            3,
            json!({ "start": { "line": 1, "character": emoji + 1 }, "end": { "line": 1, "character": emoji } }),
            "",
        ),
    )
    .await;
    let d = c.diagnostics(&u, Some(3)).await;
    assert_eq!(
        d,
        Vec::<Value>::new(),
        "an empty edit inside a character: {d:?}"
    );
    let r = c
        .request(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } }),
        )
        .await
        .unwrap();
    let formatted = apply_edits(&format!("{text}// tail\n"), r.as_array().unwrap(), c.utf8);
    assert!(
        formatted.contains("\"😀\""),
        "the text kept its emoji: {formatted}"
    );
    // Import paths: a symlinked module and a symlinked directory are not offered (nor
    // followed), and a directory of many modules gives at most the documented number.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(dir.path().join("lib/real.rhai"), "fn f() { 1 }\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.rhai"), "fn s() { 1 }\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            outside.path().join("secret.rhai"),
            dir.path().join("lib/link.rhai"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("lib/loop")).unwrap();
    }
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..300 {
        std::fs::write(many.join(format!("m{i:03}.rhai")), "fn f() { 1 }\n").unwrap();
    }
    let template = "workflow \"w\" version \"1.0.0\" {\n  import \"lib/real.rhai\" as m\n}\n";
    let wf = dir.path().join("w.wf");
    std::fs::write(&wf, template).unwrap();
    let wu = uri(&wf);
    c.open(&wu, template).await;
    let l = complete(
        &mut c,
        &wu,
        template,
        at(template, "\"lib/real.rhai\"", 0, 1),
    )
    .await;
    assert_eq!(l.len(), remedy::lsp::MAX_IMPORT_CANDIDATES, "301 modules");
    assert!(
        l.iter()
            .all(|p| !p.contains("link") && !p.contains("secret") && !p.contains("loop")),
        "{l:?}"
    );
    let _ = c.diagnostics(&wu, Some(1)).await;
    // The server goes on: a clean template is still clean.
    let text = read(OOM);
    let u = uri(OOM);
    c.open(&u, &text).await;
    assert_eq!(c.diagnostics(&u, Some(1)).await, Vec::<Value>::new());
    c.stop().await;
}

/// A large template (the benchmark's shape), slow to analyse in a debug build.
fn big_template(steps: usize) -> String {
    let mut s = String::from(
        "workflow \"big\" version \"1.0.0\" {\n  timeout 2h\n  param namespace: string = ${ analysis.target.namespace }\n",
    );
    for i in 0..steps {
        s.push_str(&format!(
            "  step s{i} {{\n    action \"scale_deployment\"\n    with {{ namespace, deployment: \"web-{i}\", replicas: ${{ analysis.target.replicas + {i} }} }}\n    rollback {{\n      action \"scale_deployment\"\n      with {{ namespace, deployment: \"web-{i}\", replicas: ${{ self.output.previous_replicas }} }}\n    }}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

async fn requests_can_be_cancelled(c: Client) {
    let mut c = started(c).await;
    let big = big_template(2000);
    let u = uri("workflows/big.wf");
    c.open(&u, &big).await;
    // Its analysis takes a while: a request sent now waits for it, and is cancelled.
    let id = c
        .send_request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": u } }),
        )
        .await;
    c.notify("$/cancelRequest", json!({ "id": id })).await;
    let e = c.response(id).await.unwrap_err();
    assert_eq!(e["code"], -32800, "RequestCancelled: {e}");
    // The server goes on.
    let r = c
        .request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": u } }),
        )
        .await
        .unwrap();
    assert_eq!(r[0]["children"].as_array().unwrap().len(), 2001);
    c.stop().await;
}

async fn a_slow_answer_does_not_block_typing(c: Client) {
    let mut c = started(c).await;
    let big = big_template(2000);
    let bu = uri("workflows/slow.wf");
    let small = read("workflows/hpa-max-raise.wf");
    let su = uri("workflows/hpa-max-raise.wf");
    c.open(&su, &small).await;
    assert_eq!(c.diagnostics(&su, Some(1)).await, Vec::<Value>::new());
    // A slow request on the big file…
    c.open(&bu, &big).await;
    let slow = c
        .send_request(
            "textDocument/semanticTokens/full",
            json!({ "textDocument": { "uri": bu } }),
        )
        .await;
    // …while the author types in the small one: its diagnostics come first.
    let typo = small.replacen("\"notify_only\"", "\"notify_onl\"", 1);
    change(&mut c, &su, 2, &typo).await;
    let d = c.diagnostics(&su, Some(2)).await;
    assert_eq!(d[0]["code"], "E0101");
    assert!(
        !c.answered(slow),
        "the small file's diagnostics came before the slow answer"
    );
    let tokens = c.response(slow).await.unwrap();
    assert!(tokens["data"].as_array().unwrap().len() > 2000 * 5);
    c.stop().await;
}

async fn positions_count_in_the_negotiated_encoding(c: Client) {
    let other = c.another().await;
    for (mut c, utf8) in [(c, false), (other, true)] {
        c.initialize(utf8).await;
        assert_eq!(c.utf8, utf8);
        let text = "workflow \"w\" version \"1.0.0\" {\n  step s { action \"notify_only\" with { message: \"😀é\", bad: 1 } }\n}\n";
        let u = uri("workflows/unicode.wf");
        c.open(&u, text).await;
        let d = c.diagnostics(&u, Some(1)).await;
        assert_eq!(d[0]["code"], "E0104");
        let start = offset(text, &d[0]["range"]["start"], utf8);
        assert_eq!(&text[start..start + 3], "bad", "utf8 {utf8}: {d:?}");
        // Bytes, or UTF-16 code units (the emoji is 4 bytes but 2 units, é 2 bytes but 1).
        let expected = if utf8 { 58 } else { 55 };
        assert_eq!(d[0]["range"]["start"]["character"], expected);
        c.stop().await;
    }
}

async fn every_feature_answers_on_every_library_template(c: Client) {
    let mut c = started(c).await;
    for path in library() {
        let text = std::fs::read_to_string(&path).unwrap();
        let u = uri(&path);
        c.open(&u, &text).await;
        assert_eq!(
            c.diagnostics(&u, Some(1)).await,
            Vec::<Value>::new(),
            "{}",
            path.display()
        );
        let doc = json!({ "textDocument": { "uri": u } });
        let file = remedy::dsl::parse(&text).unwrap();
        // The outline names every step.
        let symbols = c
            .request("textDocument/documentSymbol", doc.clone())
            .await
            .unwrap();
        let mut names = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            for s in v.as_array().into_iter().flatten() {
                if s["kind"] == 12 {
                    out.push(s["name"].as_str().unwrap().to_string());
                }
                walk(&s["children"], out);
            }
        }
        walk(&symbols, &mut names);
        let steps: Vec<String> = file
            .workflow
            .all_steps()
            .map(|s| s.name.name.clone())
            .collect();
        assert_eq!(names, steps, "{}", path.display());
        // Formatted already: no edit. Folding and tokens: something.
        let options = json!({ "textDocument": { "uri": u }, "options": { "tabSize": 2, "insertSpaces": true } });
        assert_eq!(
            c.request("textDocument/formatting", options).await.unwrap(),
            json!([])
        );
        assert!(
            c.request("textDocument/foldingRange", doc.clone())
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .len()
                > steps.len()
        );
        assert!(
            c.request("textDocument/semanticTokens/full", doc.clone())
                .await
                .unwrap()["data"]
                .as_array()
                .unwrap()
                .len()
                > 100
        );
        // Every step: references from its declaration hold it; hover names it.
        for step in file.workflow.all_steps() {
            let p = json!({ "textDocument": { "uri": u }, "position": position(&text, step.name.span.start, c.utf8), "context": { "includeDeclaration": true } });
            let refs = c
                .request("textDocument/references", p.clone())
                .await
                .unwrap();
            assert!(
                !refs.as_array().unwrap().is_empty(),
                "{} {}",
                path.display(),
                step.name.name
            );
            let h = hover(&mut c, &u, &text, step.name.span.start).await;
            assert!(h.contains(&format!("**step** `{}`", step.name.name)), "{h}");
        }
        // Anywhere: hover, completion and definition answer (possibly with nothing).
        for off in (0..text.len())
            .step_by(41)
            .filter(|&o| text.is_char_boundary(o))
        {
            let p =
                json!({ "textDocument": { "uri": u }, "position": position(&text, off, c.utf8) });
            for method in [
                "textDocument/hover",
                "textDocument/completion",
                "textDocument/definition",
            ] {
                assert!(
                    c.request(method, p.clone()).await.is_ok(),
                    "{method} at {off} of {}",
                    path.display()
                );
            }
        }
    }
    c.stop().await;
}

// ---- the parts under the protocol ---------------------------------------------------------------

/// Every quick fix offered for a lint fixture's finding removes that finding and breaks
/// nothing else.
#[test]
fn every_fix_resolves_its_finding() {
    use remedy::check::fix::{apply, fixes};
    let mut fixed = 0;
    for path in lint_fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(file) = remedy::dsl::parse(&text) else {
            continue;
        };
        let ctx = CheckContext::for_dir(path.parent().unwrap());
        let before = remedy::check::check(&file, &ctx);
        for d in &before {
            for f in fixes(&file, &text, d, &ctx) {
                let after_text = apply(&text, &f.edits);
                let after = remedy::dsl::parse(&after_text)
                    .map(|f| remedy::check::check(&f, &ctx))
                    .unwrap_or_else(|e| {
                        panic!(
                            "{}: `{}` breaks the syntax: {}\n{after_text}",
                            path.display(),
                            f.title,
                            e.message
                        )
                    });
                let count = |ds: &[remedy::diagnostic::Diagnostic]| {
                    ds.iter().filter(|x| x.code == d.code).count()
                };
                assert!(
                    count(&after) < count(&before),
                    "{}: `{}` leaves {} ({})",
                    path.display(),
                    f.title,
                    d.code,
                    d.message
                );
                fixed += 1;
            }
        }
    }
    assert!(fixed >= 12, "only {fixed} fixes over the fixtures");
}

/// With any one line of a library template deleted (but its `workflow` header), the recovered
/// tree keeps its steps.
#[test]
fn recovery_keeps_the_library_templates_steps() {
    let (mut kept, mut total) = (0, 0);
    for path in library() {
        let text = std::fs::read_to_string(&path).unwrap();
        let all = remedy::dsl::parse(&text)
            .unwrap()
            .workflow
            .all_steps()
            .count();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for skip in 0..lines.len() {
            if lines[skip].starts_with("workflow ") {
                continue;
            }
            let broken: String = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let tree = remedy::dsl::parse_recovering(&broken)
                .unwrap_or_else(|| panic!("{} without line {}: no tree", path.display(), skip + 1));
            kept += tree.workflow.all_steps().count().min(all);
            total += all;
        }
    }
    assert!(kept * 1000 >= total * 985, "kept {kept} of {total} steps");
}
