//! Hover: an action's summary, effect and parameters; a param's or let's type, constraints,
//! default and description; a step's action and phase; what the docs say of `analysis.…`,
//! `workflow.…` and `steps.…` fields and of keywords; a rule code's explanation (and that of
//! each finding under the cursor).

use crate::catalog::ActionSpec;
use crate::check::rules::RULES;
use crate::diagnostic::Span;
use crate::dsl::ast::{ConstraintKind, Item, Let, Param, StepItem};
use crate::graph::Phase;

use super::analysis::{Analysis, Sym};
use super::complete::Modules;
use super::docs;
use super::lex::Kind;

/// The markdown of an action: summary, effect, target, parameters, outputs, compensation.
pub fn action_markdown(spec: &ActionSpec) -> String {
    let mut s = format!(
        "**action** `{}` · {} · target {}\n\n{}\n",
        spec.name, spec.effect, spec.target_kind, spec.summary
    );
    if !spec.params.is_empty() {
        s.push_str("\n| parameter | type | | |\n|---|---|---|---|\n");
        for p in &spec.params {
            let mut doc = p.doc.to_string();
            if !p.allowed.is_empty() {
                doc.push_str(&format!(" (one of {})", p.allowed.join(", ")));
            }
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                p.name,
                p.kind,
                if p.required { "required" } else { "optional" },
                doc
            ));
        }
    }
    if !spec.outputs.is_empty() {
        s.push_str("\n**output**: ");
        s.push_str(
            &spec
                .outputs
                .iter()
                .map(|o| format!("`{}` ({})", o.name, o.doc))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push('\n');
    }
    if !spec.compensation.is_empty() {
        s.push_str(&format!("\n**undo**: {}\n", spec.compensation));
    }
    s
}

/// The markdown of a param: type, default, constraints, description.
pub fn param_markdown(a: &Analysis, p: &Param) -> String {
    let mut s = format!("**param** `{}`: `{}`", p.name.name, p.ty.as_str());
    match &p.default {
        Some(d) => s.push_str(&format!(" = `{}`", a.slice(d.span))),
        None => s.push_str(" (required: no default)"),
    }
    s.push('\n');
    let mut constraints = Vec::new();
    let mut description = None;
    for c in &p.constraints {
        match &c.kind {
            ConstraintKind::Description(d) => description = d.as_plain(),
            _ => constraints.push(format!("`{}`", a.slice(c.span))),
        }
    }
    if !constraints.is_empty() {
        s.push_str(&format!("\nconstraints: {}\n", constraints.join(" · ")));
    }
    if let Some(d) = description {
        s.push_str(&format!("\n{d}\n"));
    }
    s
}

/// The markdown of a let: its value.
pub fn let_markdown(a: &Analysis, l: &Let) -> String {
    format!(
        "**let** `{}` = `{}`\n\nComputed once at Planning, in declaration order.\n",
        l.name.name,
        a.slice(l.value.span)
    )
}

/// The hover text at `offset` and the span it is about.
pub fn hover(a: &Analysis, offset: usize, modules: &dyn Modules) -> Option<(String, Span)> {
    let found = what(a, offset, modules);
    // Findings under the cursor: their rule's explanation.
    let mut notes = String::new();
    for d in a
        .diagnostics
        .iter()
        .filter(|d| d.span.start <= offset && offset <= d.span.end)
    {
        if let Some(rule) = RULES.iter().find(|r| r.info.code == d.code) {
            notes.push_str(&format!(
                "\n\n---\n\n**{} {}**: {}\n",
                rule.info.code,
                rule.info.name,
                rule.info.doc_text()
            ));
        }
    }
    match found {
        Some((text, span)) => Some((format!("{text}{notes}"), span)),
        None if !notes.is_empty() => {
            let d = a
                .diagnostics
                .iter()
                .find(|d| d.span.start <= offset && offset <= d.span.end)?;
            Some((notes.trim_start_matches("\n\n---\n\n").to_string(), d.span))
        }
        None => None,
    }
}

fn what(a: &Analysis, offset: usize, modules: &dyn Modules) -> Option<(String, Span)> {
    let tree = a.tree.as_ref();
    if let Some(o) = a.index.at(offset) {
        let text = match &o.sym {
            Sym::Step(name) => step_markdown(a, name),
            Sym::Value(name) => {
                let tree = tree?;
                if let Some(p) = tree.workflow.params().find(|p| &p.name.name == name) {
                    Some(param_markdown(a, p))
                } else {
                    tree.workflow
                        .lets()
                        .find(|l| &l.name.name == name)
                        .map(|l| let_markdown(a, l))
                }
            }
            Sym::Alias(alias) => a.imports.iter().find(|i| &i.alias == alias).map(|i| {
                let functions = i
                    .file
                    .as_deref()
                    .and_then(|f| modules.source(f))
                    .map(|src| super::modules::functions(&src))
                    .unwrap_or_default();
                let list = functions
                    .iter()
                    .map(|f| format!("`{}({})`", f.name, f.params))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "**module** `{alias}` = `\"{}\"`\n\nfunctions: {list}\n",
                    i.path
                )
            }),
            Sym::ModuleFn(alias, name) => module_fn(a, alias, name, modules),
        };
        if let Some(text) = text {
            return Some((text, o.span));
        }
    }
    if let Some(tree) = tree {
        for step in tree.workflow.all_steps() {
            if !(step.span.start <= offset && offset <= step.span.end) {
                continue;
            }
            let sites = [
                (step.action(), step.with()),
                (
                    step.rollback().and_then(|r| r.action()),
                    step.rollback().and_then(|r| r.with()),
                ),
            ];
            for (action, with) in sites {
                let Some(action) = action else { continue };
                let spec = a.ctx.actions.get(&action.name.value);
                if contains(action.name.span, offset) {
                    return spec.map(|s| (action_markdown(s), action.name.span));
                }
                if let (Some(spec), Some(with)) = (spec, with)
                    && let Some(e) = with
                        .map
                        .entries
                        .iter()
                        .find(|e| contains(e.key.span, offset))
                    && let Some(p) = spec.param(&e.key.name)
                {
                    let mut s = format!(
                        "**parameter** `{}` of `{}`: {} ({})\n\n{}\n",
                        p.name,
                        spec.name,
                        p.kind,
                        if p.required { "required" } else { "optional" },
                        p.doc
                    );
                    if !p.allowed.is_empty() {
                        s.push_str(&format!("\nOne of: {}\n", p.allowed.join(", ")));
                    }
                    return Some((s, e.key.span));
                }
            }
        }
    }
    let i = a.token_at(offset)?;
    let t = a.tokens[i];
    let word = a.slice(t.span);
    match t.kind {
        Kind::RhaiIdent => expr_field(a, i).map(|s| (s, t.span)),
        Kind::Word => {
            if let Some(rule) = rule_code(word) {
                return Some((rule, t.span));
            }
            keyword_doc(a, i, word).map(|s| (s, t.span))
        }
        Kind::Comment => {
            // A rule code mentioned in a comment.
            let rel = offset - t.span.start;
            let start = word[..rel.min(word.len())]
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |n| n + 1);
            let end = word[rel.min(word.len())..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(word.len(), |n| rel + n);
            let code = word.get(start..end)?;
            rule_code(code).map(|s| (s, Span::new(t.span.start + start, t.span.start + end)))
        }
        _ => None,
    }
}

fn contains(span: Span, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// The explanation of a rule, when `word` is a rule's code.
fn rule_code(word: &str) -> Option<String> {
    let rule = RULES
        .iter()
        .find(|r| r.info.code.eq_ignore_ascii_case(word))?;
    Some(format!(
        "**{} {}** ({})\n\n{}\n",
        rule.info.code,
        rule.info.name,
        rule.info.severity.as_str(),
        rule.info.doc_text()
    ))
}

fn step_markdown(a: &Analysis, name: &str) -> Option<String> {
    let tree = a.tree.as_ref()?;
    let mut phase = Phase::Main;
    let mut group = false;
    let mut found = None;
    for item in &tree.workflow.items {
        let (steps, p, g) = match item {
            Item::Step(s) => (std::slice::from_ref(s), Phase::Main, false),
            Item::Parallel(x) => (x.steps.as_slice(), Phase::Main, true),
            Item::Verify(x) => (x.steps.as_slice(), Phase::Verify, false),
            Item::Finally(x) => (x.steps.as_slice(), Phase::Finally, false),
            _ => continue,
        };
        if let Some(s) = steps.iter().find(|s| s.name.name == name) {
            found = Some(s);
            phase = p;
            group = g;
            break;
        }
    }
    let step = found?;
    let line = a
        .lines
        .position(&a.text, step.span.start, super::text::Encoding::Utf8)
        .line
        + 1;
    let mut s = format!(
        "**step** `{name}` · {} phase{}",
        phase.as_str(),
        if group { " (parallel)" } else { "" }
    );
    s.push_str(&format!(" · line {line}\n"));
    match step.action() {
        Some(act) => match a.ctx.actions.get(&act.name.value) {
            Some(spec) => s.push_str(&format!(
                "\naction `{}` ({}): {}\n",
                spec.name, spec.effect, spec.summary
            )),
            None => s.push_str(&format!("\naction `{}` (unknown)\n", act.name.value)),
        },
        None => s.push_str("\nno action\n"),
    }
    if !step.after.is_empty() {
        s.push_str(&format!(
            "\nafter {}\n",
            step.after
                .iter()
                .map(|x| format!("`{}`", x.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(rb) = step.rollback()
        && let Some(act) = rb.action()
    {
        s.push_str(&format!("\nrollback: action `{}`\n", act.name.value));
    }
    if let Some(d) = step.items.iter().find_map(|i| match i {
        StepItem::Description(d) => d.text.as_plain(),
        _ => None,
    }) {
        s.push_str(&format!("\n{d}\n"));
    }
    Some(s)
}

fn module_fn(a: &Analysis, alias: &str, name: &str, modules: &dyn Modules) -> Option<String> {
    let import = a.imports.iter().find(|i| i.alias == alias)?;
    let source = modules.source(import.file.as_deref()?)?;
    let f = super::modules::functions(&source)
        .into_iter()
        .find(|f| f.name == name)?;
    Some(format!(
        "**fn** `{alias}::{}({})` in `\"{}\"`\n\n{}\n",
        f.name, f.params, import.path, f.doc
    ))
}

/// What the docs say of the name at token `i` inside an expression: a scope root, a field of
/// `analysis`, `workflow`, `steps.X` or `self`, or a built-in function.
fn expr_field(a: &Analysis, i: usize) -> Option<String> {
    let toks = &a.tokens;
    let name = a.slice(toks[i].span);
    // The path up to this name: ident (. ident)*.
    let mut path = vec![name];
    let mut k = i;
    while k >= 2 && toks[k - 1].kind == Kind::RhaiDot && toks[k - 2].kind == Kind::RhaiIdent {
        path.push(a.slice(toks[k - 2].span));
        k -= 2;
    }
    path.reverse();
    let field = |table: &[docs::Entry], what: &str| {
        docs::lookup(table, name).map(|d| format!("**{what}** `{}`\n\n{d}\n", path.join(".")))
    };
    match path.as_slice() {
        [root] => {
            if let Some(d) = docs::lookup(docs::ROOTS, root) {
                return Some(format!("**{root}**\n\n{d}\n"));
            }
            docs::BUILTINS
                .iter()
                .find(|(n, _, _)| n == root)
                .map(|(n, args, d)| format!("**fn** `{n}({args})` (built in)\n\n{d}\n"))
        }
        ["analysis", _] => field(docs::ANALYSIS, "analysis field"),
        ["analysis", "target" | "targetResource", _] => field(docs::TARGET, "target field"),
        ["analysis", "recommendedWorkflow", _] => field(docs::RECOMMENDED, "recommended workflow"),
        ["workflow", _] => field(docs::WORKFLOW, "workflow field"),
        ["steps", _, _] | ["self", _] => field(docs::STEP, "step field"),
        _ => None,
    }
}

/// What a keyword does, by the block it stands in.
fn keyword_doc(a: &Analysis, i: usize, word: &str) -> Option<String> {
    let frames = super::context::frames(a, a.tokens[i].span.start);
    let table: &[(&str, &str, &str)] = match frames.last().map(|f| f.kind) {
        Some(super::context::FrameKind::Workflow) => docs::WORKFLOW_ITEMS,
        Some(super::context::FrameKind::Step | super::context::FrameKind::Rollback) => {
            docs::STEP_ITEMS
        }
        Some(super::context::FrameKind::Constraints) => {
            return docs::lookup(docs::CONSTRAINTS, word).map(|d| format!("**{word}**\n\n{d}\n"));
        }
        _ => return None,
    };
    // Only at the start of an item: the first word after a bracket or on its line.
    let first_on_line = a.text[..a.tokens[i].span.start]
        .rsplit('\n')
        .next()
        .is_some_and(|s| s.trim().is_empty() || s.trim_end().ends_with('{'));
    if !first_on_line {
        return None;
    }
    table
        .iter()
        .find(|(k, _, _)| *k == word)
        .map(|(k, d, _)| format!("**{k}**\n\n{d}\n"))
}
