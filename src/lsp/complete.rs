//! Completion fitting the cursor's context: item keywords of the enclosing block, action
//! names, an action's parameters inside `with` (required first), step names in `after` and
//! after `steps.`, names inside `${ … }`, module functions after `alias::`, import paths.

use std::path::Path;

use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, InsertTextFormat,
    MarkupContent, MarkupKind, Range, TextEdit,
};

use crate::catalog::ActionSpec;
use crate::diagnostic::Span;
use crate::graph::{Phase, StepGraph};

use super::analysis::Analysis;
use super::context::{self, FrameKind, Place};
use super::docs;
use super::lex::Kind;
use super::text::Encoding;

/// How many files import-path completion lists at most.
pub const MAX_IMPORT_CANDIDATES: usize = 200;

/// What completion needs beyond the analysis: module texts (open buffers first).
pub trait Modules {
    /// The text of the module file `path`.
    fn source(&self, path: &Path) -> Option<String>;
}

/// The completion items at `offset`.
pub fn complete(
    a: &Analysis,
    offset: usize,
    enc: Encoding,
    modules: &dyn Modules,
) -> Vec<CompletionItem> {
    let offset = offset.min(a.text.len());
    let mut out = Vec::new();
    // Inside a comment: nothing.
    let in_comment = |t: &&super::lex::Token| {
        t.kind == Kind::Comment
            && t.span.start < offset
            && (offset < t.span.end || (offset == t.span.end && a.slice(t.span).starts_with("//")))
    };
    if a.tokens.iter().any(|t| in_comment(&t)) {
        return out;
    }
    let place = context::place(a, offset);
    if let Some(open) = expression_at(a, offset) {
        expression(a, offset, open, &place, modules, &mut out);
        return out;
    }
    if let Some(i) = string_at(a, offset) {
        let before = a.tokens[..i]
            .iter()
            .rev()
            .find(|t| !matches!(t.kind, Kind::Comment))
            .map(|t| a.slice(t.span));
        let s = a.tokens[i].span;
        let content = Span::new(s.start + 1, offset.max(s.start + 1));
        let range = a.lines.range(&a.text, content, enc);
        match before {
            Some("action") => actions(a, Some(range), &mut out),
            Some("import") => import_paths(a, range, &mut out),
            _ => {}
        }
        return out;
    }
    let frames = context::frames(a, offset);
    let (line, _typing) = context::line_before(a, offset);
    let words: Vec<&str> = line.iter().map(|t| a.slice(t.span)).collect();
    let last = words.last().copied();
    let Some(frame) = frames.last() else {
        if words.is_empty() {
            out.push(snippet(
                "workflow",
                CompletionItemKind::SNIPPET,
                "a workflow",
                "workflow \"${1:name}\" version \"${2:1.0.0}\" {\n  $0\n}",
                "",
            ));
        }
        return out;
    };
    match frame.kind {
        FrameKind::With | FrameKind::Map | FrameKind::List => {
            if matches!(last, Some(":")) || frame.kind == FrameKind::List {
                values(a, &place, &mut out);
            } else if frame.kind == FrameKind::With && matches!(last, None | Some("{") | Some(","))
            {
                let action = frames
                    .iter()
                    .rev()
                    .find(|f| matches!(f.kind, FrameKind::Step | FrameKind::Rollback))
                    .and_then(|f| context::frame_action(a, f.open));
                if let Some(spec) = action.as_deref().and_then(|n| a.ctx.actions.get(n)) {
                    let given: Vec<&str> = context::frame_tokens(a, frame.open)
                        .windows(2)
                        .filter(|w| {
                            w[0].kind == Kind::Word
                                && w[1].kind == Kind::Punct
                                && matches!(a.slice(w[1].span), ":" | "," | "}")
                        })
                        .map(|w| a.slice(w[0].span))
                        .collect();
                    action_params(a, spec, &given, &mut out);
                }
            }
        }
        FrameKind::Workflow => match words.as_slice() {
            [] => keywords(docs::WORKFLOW_ITEMS, &mut out),
            ["rollback"] => enums(&["automatic", "manual", "none"], "rollback mode", &mut out),
            ["approval"] => enums(&["required"], "always ask", &mut out),
            ["param", _, ":"] => enums(docs::PARAM_TYPES, "param type", &mut out),
            ["let", _, "="] | ["param", _, ":", _, "="] => values(a, &place, &mut out),
            ["verify"] => enums(&["within"], "bound the verify phase", &mut out),
            ["step", _, "after", ..] if matches!(last, Some("after" | ",")) => {
                after_targets(a, offset, &place, &mut out)
            }
            _ => {}
        },
        FrameKind::Step | FrameKind::Rollback => match words.as_slice() {
            [] if frame.kind == FrameKind::Step => keywords(docs::STEP_ITEMS, &mut out),
            [] => {
                let items: Vec<_> = docs::STEP_ITEMS
                    .iter()
                    .filter(|(k, _, _)| docs::ROLLBACK_ITEMS.contains(k))
                    .copied()
                    .collect();
                keywords(&items, &mut out);
            }
            ["action"] => actions(a, None, &mut out),
            ["on_failure"] => enums(
                &["rollback", "fail", "continue"],
                "failure policy",
                &mut out,
            ),
            ["retry", _] => enums(&["backoff"], "first wait between attempts", &mut out),
            ["retry", _, "backoff", _] => enums(&["max"], "cap of the backoff", &mut out),
            _ => {}
        },
        FrameKind::Parallel | FrameKind::Verify | FrameKind::Finally => match words.as_slice() {
            [] => keywords(
                &docs::WORKFLOW_ITEMS
                    .iter()
                    .filter(|(k, _, _)| *k == "step")
                    .copied()
                    .collect::<Vec<_>>(),
                &mut out,
            ),
            ["step", _, "after", ..]
                if frame.kind != FrameKind::Parallel && matches!(last, Some("after" | ",")) =>
            {
                after_targets(a, offset, &place, &mut out)
            }
            _ => {}
        },
        FrameKind::Constraints => {
            if words.is_empty() || matches!(last, Some("{")) {
                for (name, doc) in docs::CONSTRAINTS {
                    out.push(simple(name, CompletionItemKind::KEYWORD, "constraint", doc));
                }
            }
        }
    }
    out
}

/// The index of the `${` whose expression holds `offset`, if any.
fn expression_at(a: &Analysis, offset: usize) -> Option<usize> {
    let mut open = None;
    for (i, t) in a.tokens.iter().enumerate() {
        if t.span.start >= offset {
            break;
        }
        match t.kind {
            Kind::ExprOpen => open = Some(i),
            Kind::ExprClose => open = None,
            k if open.is_some()
                && !matches!(k, Kind::ExprOpen)
                && !t.in_expr()
                && k != Kind::Comment =>
            {
                // A `.wf` token after an unterminated expression: the expression ended.
                open = None;
            }
            _ => {}
        }
    }
    open
}

/// The index of the `.wf` string token holding `offset` (after its opening quote).
fn string_at(a: &Analysis, offset: usize) -> Option<usize> {
    a.tokens.iter().position(|t| {
        t.kind == Kind::Str
            && t.span.start < offset
            && (offset < t.span.end
                || (offset == t.span.end && !a.slice(t.span).ends_with('"'))
                || (offset == t.span.end && t.span.len() == 1))
    })
}

fn md(text: impl Into<String>) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: text.into(),
    })
}

fn simple(label: &str, kind: CompletionItemKind, detail: &str, doc: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        documentation: (!doc.is_empty()).then(|| md(doc)),
        ..CompletionItem::default()
    }
}

fn snippet(
    label: &str,
    kind: CompletionItemKind,
    detail: &str,
    body: &str,
    doc: &str,
) -> CompletionItem {
    CompletionItem {
        insert_text: Some(body.to_string()),
        insert_text_format: Some(InsertTextFormat::SNIPPET),
        ..simple(label, kind, detail, doc)
    }
}

fn keywords(items: &[(&str, &str, &str)], out: &mut Vec<CompletionItem>) {
    for (name, doc, body) in items {
        out.push(snippet(
            name,
            CompletionItemKind::KEYWORD,
            "keyword",
            body,
            doc,
        ));
    }
}

fn enums(words: &[&str], detail: &str, out: &mut Vec<CompletionItem>) {
    for w in words {
        out.push(simple(w, CompletionItemKind::ENUM_MEMBER, detail, ""));
    }
}

/// Action types; inside the quotes (`range`) the name replaces what is typed, else it is
/// inserted quoted.
fn actions(a: &Analysis, range: Option<Range>, out: &mut Vec<CompletionItem>) {
    for spec in a.ctx.actions.iter() {
        let mut item = simple(
            spec.name,
            CompletionItemKind::FUNCTION,
            &format!("{} · {}", spec.effect, spec.target_kind),
            &super::hover::action_markdown(spec),
        );
        match range {
            Some(range) => {
                item.text_edit = Some(CompletionTextEdit::Edit(TextEdit::new(
                    range,
                    spec.name.to_string(),
                )));
            }
            None => item.insert_text = Some(format!("\"{}\"", spec.name)),
        }
        out.push(item);
    }
}

/// The parameters of an action not yet given, required first.
fn action_params(_a: &Analysis, spec: &ActionSpec, given: &[&str], out: &mut Vec<CompletionItem>) {
    for p in &spec.params {
        if given.contains(&p.name) {
            continue;
        }
        let required = if p.required { "required" } else { "optional" };
        let mut doc = format!("`{}`: {} ({required})\n\n{}", p.name, p.kind, p.doc);
        if !p.allowed.is_empty() {
            doc.push_str(&format!(
                "\n\nOne of: {}",
                p.allowed
                    .iter()
                    .map(|v| format!("`\"{v}\"`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push(CompletionItem {
            sort_text: Some(format!("{}{}", if p.required { "0" } else { "1" }, p.name)),
            insert_text: Some(format!("{}: ", p.name)),
            ..simple(
                p.name,
                CompletionItemKind::FIELD,
                &format!("{} · {required}", p.kind),
                &doc,
            )
        });
    }
}

/// Values: the params and lets visible here, and the literals.
fn values(a: &Analysis, place: &Place<'_>, out: &mut Vec<CompletionItem>) {
    value_names(a, place, out);
    for lit in ["true", "false", "null"] {
        out.push(simple(lit, CompletionItemKind::CONSTANT, "literal", ""));
    }
    out.push(snippet(
        "${ … }",
        CompletionItemKind::SNIPPET,
        "an expression",
        "\\${ $1 }",
        "A rhai expression.",
    ));
}

fn value_names(a: &Analysis, place: &Place<'_>, out: &mut Vec<CompletionItem>) {
    let Some(tree) = &a.tree else { return };
    for p in tree.workflow.params() {
        out.push(simple(
            &p.name.name,
            CompletionItemKind::VARIABLE,
            &format!("param: {}", p.ty.as_str()),
            &super::hover::param_markdown(a, p),
        ));
    }
    for (i, l) in tree.workflow.lets().enumerate() {
        if place.let_index.is_some_and(|mine| i >= mine) {
            continue;
        }
        out.push(simple(
            &l.name.name,
            CompletionItemKind::VARIABLE,
            "let",
            &super::hover::let_markdown(a, l),
        ));
    }
}

/// Steps `after` may name: declared above, in the same phase.
fn after_targets(a: &Analysis, offset: usize, place: &Place<'_>, out: &mut Vec<CompletionItem>) {
    let me = place.step.map(|s| s.name.name.as_str());
    for s in context::steps_before(a, offset, place.phase) {
        if Some(s.name.name.as_str()) == me {
            continue;
        }
        let action = s
            .action()
            .map(|x| x.name.value.as_str())
            .unwrap_or("no action");
        out.push(simple(
            &s.name.name,
            CompletionItemKind::FUNCTION,
            &format!("step · {action}"),
            "",
        ));
    }
}

/// Names inside `${ … }`.
fn expression(
    a: &Analysis,
    offset: usize,
    open: usize,
    place: &Place<'_>,
    modules: &dyn Modules,
    out: &mut Vec<CompletionItem>,
) {
    // The tokens of the expression before the cursor, without the word being typed.
    let mut toks: Vec<_> = a.tokens[open + 1..]
        .iter()
        .take_while(|t| t.span.start < offset && t.in_expr())
        .collect();
    if toks
        .last()
        .is_some_and(|t| t.kind == Kind::RhaiIdent && t.span.end == offset)
    {
        toks.pop();
    }
    match toks.last().map(|t| t.kind) {
        Some(Kind::RhaiPath) => {
            let Some(alias) = toks.len().checked_sub(2).map(|i| a.slice(toks[i].span)) else {
                return;
            };
            let Some(import) = a.imports.iter().find(|i| i.alias == alias) else {
                return;
            };
            let Some(source) = import.file.as_deref().and_then(|f| modules.source(f)) else {
                return;
            };
            for f in super::modules::functions(&source) {
                out.push(CompletionItem {
                    insert_text: Some(format!("{}(${{1}})", f.name)),
                    insert_text_format: Some(InsertTextFormat::SNIPPET),
                    ..simple(
                        &f.name,
                        CompletionItemKind::FUNCTION,
                        &format!("{alias}::{}({})", f.name, f.params),
                        &f.doc,
                    )
                });
            }
        }
        Some(Kind::RhaiDot) => {
            // The dotted path before the dot: idents separated by dots.
            let mut path = Vec::new();
            let mut i = toks.len() - 1;
            while let Some(prev) = i.checked_sub(1) {
                if toks[prev].kind != Kind::RhaiIdent {
                    break;
                }
                path.push(a.slice(toks[prev].span));
                match prev.checked_sub(1) {
                    Some(d) if toks[d].kind == Kind::RhaiDot => i = d,
                    _ => break,
                }
            }
            path.reverse();
            fields(a, &path, place, out);
        }
        _ => roots(a, place, out),
    }
}

fn table(
    entries: &[docs::Entry],
    kind: CompletionItemKind,
    detail: &str,
    out: &mut Vec<CompletionItem>,
) {
    for (name, doc) in entries {
        out.push(simple(name, kind, detail, doc));
    }
}

fn fields(a: &Analysis, path: &[&str], place: &Place<'_>, out: &mut Vec<CompletionItem>) {
    let field = CompletionItemKind::FIELD;
    match path {
        ["analysis"] => table(docs::ANALYSIS, field, "analysis", out),
        ["analysis", "target" | "targetResource"] => {
            table(docs::TARGET, field, "target resource", out)
        }
        ["analysis", "recommendedWorkflow"] => {
            table(docs::RECOMMENDED, field, "recommended workflow", out)
        }
        ["workflow"] => {
            let n = if place.phase == Phase::Finally {
                docs::WORKFLOW.len()
            } else {
                4
            };
            table(&docs::WORKFLOW[..n], field, "workflow", out);
        }
        ["self"] => table(docs::STEP, field, "the step compensated", out),
        ["steps", _] => table(docs::STEP, field, "step", out),
        ["steps"] => {
            for s in visible_steps(a, place) {
                out.push(simple(&s, CompletionItemKind::FUNCTION, "step", ""));
            }
        }
        ["params"] => value_names(a, place, out),
        _ => {}
    }
}

/// Steps an expression at `place` may read: ancestors in the step graph; in a rollback
/// block, the step itself too; in `finally`, every earlier step.
pub fn visible_steps(a: &Analysis, place: &Place<'_>) -> Vec<String> {
    let (Some(tree), Some(step)) = (&a.tree, place.step) else {
        return Vec::new();
    };
    let name = step.name.name.as_str();
    if place.phase == Phase::Finally {
        return tree
            .workflow
            .all_steps()
            .take_while(|s| s.name.name != name)
            .map(|s| s.name.name.clone())
            .collect();
    }
    let graph = StepGraph::build(&tree.workflow);
    let mut names: Vec<String> = graph
        .ancestor_names(name)
        .into_iter()
        .map(str::to_string)
        .collect();
    if place.in_rollback {
        names.push(name.to_string());
    }
    names
}

fn roots(a: &Analysis, place: &Place<'_>, out: &mut Vec<CompletionItem>) {
    value_names(a, place, out);
    for (name, doc) in docs::ROOTS {
        let ok = match *name {
            "steps" => place.step.is_some(),
            "self" => place.in_rollback,
            _ => true,
        };
        if ok {
            out.push(simple(name, CompletionItemKind::MODULE, "scope", doc));
        }
    }
    for i in &a.imports {
        out.push(CompletionItem {
            insert_text: Some(format!("{}::", i.alias)),
            ..simple(
                &i.alias,
                CompletionItemKind::MODULE,
                &format!("module \"{}\"", i.path),
                "",
            )
        });
    }
    for (name, args, doc) in docs::BUILTINS {
        out.push(CompletionItem {
            insert_text: Some(format!("{name}(${{1}})")),
            insert_text_format: Some(InsertTextFormat::SNIPPET),
            ..simple(
                name,
                CompletionItemKind::FUNCTION,
                &format!("{name}({args})"),
                doc,
            )
        });
    }
}

/// `.rhai` files under the template's directory, as import paths.
fn import_paths(a: &Analysis, range: Range, out: &mut Vec<CompletionItem>) {
    let Some(dir) = &a.ctx.template_dir else {
        return;
    };
    let mut found = Vec::new();
    walk(dir, Path::new(""), 0, &mut found);
    found.sort();
    for rel in found {
        out.push(CompletionItem {
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, rel.clone()))),
            ..simple(&rel, CompletionItemKind::FILE, "rhai module", "")
        });
    }
}

fn walk(dir: &Path, rel: &Path, depth: usize, out: &mut Vec<String>) {
    if depth > 4 || out.len() >= MAX_IMPORT_CANDIDATES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if out.len() >= MAX_IMPORT_CANDIDATES {
            return;
        }
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(ty) = e.file_type() else { continue };
        // Symlinks are not followed: an import must stay inside the directory.
        if ty.is_dir() && !name.starts_with('.') {
            walk(&e.path(), &rel.join(name), depth + 1, out);
        } else if ty.is_file() && name.ends_with(".rhai") {
            out.push(rel.join(name).to_string_lossy().replace('\\', "/"));
        }
    }
}
