//! Mechanical fixes of findings: the edits that resolve a diagnostic when there is exactly one
//! sensible way to (a typo with one close suggestion, an item that has no effect, a missing
//! `approval required`). The language server offers them as code actions.

use crate::check::CheckContext;
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{File, Item, StepItem};

/// A way to resolve one finding: what it does, and the edits to the file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the fix does, as a code action's title.
    pub title: String,
    /// Replacements in the text; they do not overlap.
    pub edits: Vec<Edit>,
}

/// Replace the text of `span` by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// What is replaced (empty: an insertion).
    pub span: Span,
    /// The new text.
    pub text: String,
}

fn fix(title: impl Into<String>, edits: Vec<Edit>) -> Fix {
    Fix {
        title: title.into(),
        edits,
    }
}

fn edit(span: Span, text: impl Into<String>) -> Edit {
    Edit {
        span,
        text: text.into(),
    }
}

/// The fixes of `d`, a finding of [`crate::check::check`] on `file` (whose text is `text`);
/// empty when the finding has no mechanical fix.
pub fn fixes(file: &File, text: &str, d: &Diagnostic, ctx: &CheckContext) -> Vec<Fix> {
    let mut out = Vec::new();
    match d.code {
        "E0103" => missing_params(file, text, d, ctx, &mut out),
        "E0111" | "W0105" => {
            if let Some(span) = step_item_at(file, d.span.start) {
                let word = text.get(d.span.start..d.span.end).unwrap_or("item");
                out.push(fix(
                    format!("Remove `{word}`"),
                    vec![remove_line(text, span)],
                ));
            }
        }
        "W0103" => {
            if let Some(span) = step_item_at(file, d.span.start) {
                out.push(fix(
                    "Remove the `rollback` block",
                    vec![remove_line(text, span)],
                ));
            }
        }
        "E0113" => {
            // `step s after a, b {` → `step s {`: from the end of the name to the last target.
            if let Some(step) = file
                .workflow
                .all_steps()
                .find(|s| s.after.last().is_some_and(|a| a.span.end == d.span.end))
            {
                out.push(fix(
                    "Remove `after`",
                    vec![edit(Span::new(step.name.span.end, d.span.end), "")],
                ));
            }
        }
        "E0119" => out.push(fix("Use `max_parallel 1`", vec![edit(d.span, "1")])),
        "E0123" => {
            let wf = &file.workflow;
            let open = text
                .get(wf.version.span.end..wf.span.end)
                .and_then(|rest| rest.find('{'))
                .map(|i| wf.version.span.end + i + 1);
            if let Some(open) = open {
                out.push(fix(
                    "Add `approval required` to the workflow",
                    vec![edit(Span::new(open, open), "\n  approval required")],
                ));
            }
        }
        "W0104" => {
            if let Some(backoff) = d.labels.first() {
                let b = text.get(backoff.span.start..backoff.span.end).unwrap_or("");
                let m = text.get(d.span.start..d.span.end).unwrap_or("");
                if !b.is_empty() && !m.is_empty() {
                    out.push(fix(
                        format!("Swap to `backoff {m} max {b}`"),
                        vec![edit(backoff.span, m), edit(d.span, b)],
                    ));
                }
            }
        }
        "E0115" => {
            let value = text
                .get(d.span.start..d.span.end)
                .unwrap_or("")
                .trim_matches('"');
            if let Some(v) = semver_fix(value) {
                out.push(fix(
                    format!("Use \"{v}\""),
                    vec![edit(d.span, format!("\"{v}\""))],
                ));
            }
        }
        _ => {}
    }
    if out.is_empty()
        && let Some(s) = suggestion(d)
    {
        let old = text.get(d.span.start..d.span.end).unwrap_or("");
        let new = if old.starts_with('"') {
            format!("\"{s}\"")
        } else {
            s.to_string()
        };
        if !old.is_empty() && new != old {
            out.push(fix(format!("Change to {new}"), vec![edit(d.span, new)]));
        }
    }
    out
}

/// The one replacement a finding's help proposes: "did you mean `x`?", "did you mean \"x\"?",
/// or, for a workflow name, "e.g. \"x\"".
fn suggestion(d: &Diagnostic) -> Option<&str> {
    let help = d.help.as_deref()?;
    if let Some(rest) = help.strip_prefix("did you mean ") {
        let quote = rest.chars().next()?;
        if quote != '`' && quote != '"' {
            return None;
        }
        let inner = rest.get(1..)?;
        return inner.split(quote).next().filter(|s| !s.is_empty());
    }
    if d.code == "E0114" {
        let rest = help.split("e.g. \"").nth(1)?;
        return rest.split('"').next().filter(|s| !s.is_empty());
    }
    None
}

/// The semantic version an author meant by `value` (`v1.2.0`, `1.2`), if one is clear.
fn semver_fix(value: &str) -> Option<String> {
    let trimmed = value.trim_start_matches(['v', 'V']);
    if trimmed != value && semver::Version::parse(trimmed).is_ok() {
        return Some(trimmed.to_string());
    }
    let numbers: Vec<&str> = trimmed.split('.').collect();
    if numbers.len() < 3 && numbers.iter().all(|n| n.parse::<u64>().is_ok()) {
        let mut padded = numbers;
        padded.resize(3, "0");
        return Some(padded.join("."));
    }
    None
}

/// Add the required parameters that a param or let of the same name can give, as shorthand
/// entries (`with { namespace }`).
fn missing_params(file: &File, text: &str, d: &Diagnostic, ctx: &CheckContext, out: &mut Vec<Fix>) {
    let names: Vec<&str> = file
        .workflow
        .params()
        .map(|p| p.name.name.as_str())
        .chain(file.workflow.lets().map(|l| l.name.name.as_str()))
        .collect();
    for step in file.workflow.all_steps() {
        let sites = [
            (step.action(), step.with()),
            (
                step.rollback().and_then(|r| r.action()),
                step.rollback().and_then(|r| r.with()),
            ),
        ];
        for (action, with) in sites {
            let Some(action) = action else { continue };
            let at = with.map_or(action.span, |w| w.map.span);
            if at != d.span {
                continue;
            }
            let Some(spec) = ctx.actions.get(&action.name.value) else {
                return;
            };
            let give: Vec<&str> = spec
                .required_params()
                .filter(|p| with.is_none_or(|w| w.map.get(p.name).is_none()))
                .map(|p| p.name)
                .filter(|p| names.contains(p))
                .collect();
            if give.is_empty() {
                return;
            }
            let list = give.join(", ");
            let title = format!("Pass {}", quoted(&give));
            let e = match with {
                Some(w) => match w.map.entries.last() {
                    Some(last) => {
                        edit(Span::new(last.span.end, last.span.end), format!(", {list}"))
                    }
                    None => edit(w.map.span, format!("{{ {list} }}")),
                },
                None => {
                    let indent = indentation(text, action.span.start);
                    edit(
                        Span::new(action.span.end, action.span.end),
                        format!("\n{indent}with {{ {list} }}"),
                    )
                }
            };
            out.push(fix(title, vec![e]));
            return;
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The span of the step item (or rollback item) that starts at `start`.
fn step_item_at(file: &File, start: usize) -> Option<Span> {
    for step in file.workflow.all_steps() {
        for item in &step.items {
            if item.span().start == start {
                return Some(item.span());
            }
            if let StepItem::Rollback(rb) = item {
                for inner in &rb.items {
                    if inner.span().start == start {
                        return Some(inner.span());
                    }
                }
            }
        }
    }
    file.workflow
        .items
        .iter()
        .map(Item::span)
        .find(|s| s.start == start)
}

/// The whitespace that starts the line holding `offset`.
fn indentation(text: &str, offset: usize) -> &str {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    let line = &text[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Remove `span`; when it is alone on its lines, remove those lines whole.
fn remove_line(text: &str, span: Span) -> Edit {
    let before = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    let after = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |n| span.end + n);
    let alone =
        text[before..span.start].trim().is_empty() && text[span.end..after].trim().is_empty();
    if alone {
        let end = if after < text.len() { after + 1 } else { after };
        edit(Span::new(before, end), "")
    } else {
        // Also take the spaces before it on its line.
        let trimmed = text[..span.start]
            .trim_end_matches([' ', '\t'])
            .len()
            .max(before);
        edit(Span::new(trimmed, span.end), "")
    }
}

/// `text` with the edits applied (edits must not overlap).
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    let mut out = text.to_string();
    for e in sorted {
        if e.span.end <= out.len() && e.span.start <= e.span.end {
            out.replace_range(e.span.start..e.span.end, &e.text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_read_from_the_help() {
        let d = |code, help: &str| Diagnostic::error(code, "m", Span::new(0, 1)).with_help(help);
        assert_eq!(
            suggestion(&d("E0101", "did you mean `scale_deployment`?")),
            Some("scale_deployment")
        );
        assert_eq!(
            suggestion(&d("E0106", "did you mean \"NoSchedule\"?")),
            Some("NoSchedule")
        );
        assert_eq!(suggestion(&d("E0101", "run `remedy actions`")), None);
        assert_eq!(
            suggestion(&d("E0114", "use lowercase, e.g. \"oom-recovery\"")),
            Some("oom-recovery")
        );
        assert_eq!(suggestion(&d("E0125", "declare it, e.g. \"x\"")), None);
    }

    #[test]
    fn versions() {
        assert_eq!(semver_fix("v1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(semver_fix("1.2").as_deref(), Some("1.2.0"));
        assert_eq!(semver_fix("one").as_deref(), None);
    }

    #[test]
    fn removing_an_item_takes_its_line() {
        let text = "a {\n  on_failure fail\n}\n";
        let start = text.find("on_failure").unwrap_or(0);
        let e = remove_line(text, Span::new(start, start + "on_failure fail".len()));
        assert_eq!(apply(text, &[e]), "a {\n}\n");
        let text = "a { when ${ x } action \"y\" }";
        let start = text.find("when").unwrap_or(0);
        let e = remove_line(text, Span::new(start, start + "when ${ x }".len()));
        assert_eq!(apply(text, &[e]), "a { action \"y\" }");
    }
}
