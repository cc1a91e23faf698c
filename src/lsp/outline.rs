//! The outline (document symbols: the workflow, its imports, params, lets, steps within their
//! groups, verify, finally) and folding ranges (blocks and comment runs).

use tower_lsp_server::ls_types::{DocumentSymbol, FoldingRange, FoldingRangeKind, SymbolKind};

use crate::diagnostic::Span;
use crate::dsl::ast::{Item, Step};
use crate::units::duration::format_millis as duration;

use super::analysis::Analysis;
use super::text::Encoding;

/// What a symbol is called, its detail and its kind.
type Head = (String, Option<String>, SymbolKind);

#[allow(deprecated)]
fn symbol(
    a: &Analysis,
    enc: Encoding,
    (name, detail, kind): Head,
    span: Span,
    select: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: a.lines.range(&a.text, span, enc),
        selection_range: a.lines.range(&a.text, select, enc),
        children: (!children.is_empty()).then_some(children),
    }
}

fn step(a: &Analysis, enc: Encoding, s: &Step) -> DocumentSymbol {
    let mut children = Vec::new();
    if let Some(rb) = s.rollback() {
        let head = Span::new(
            rb.span.start,
            (rb.span.start + "rollback".len()).min(rb.span.end),
        );
        children.push(symbol(
            a,
            enc,
            (
                "rollback".to_string(),
                rb.action().map(|x| x.name.value.clone()),
                SymbolKind::EVENT,
            ),
            rb.span,
            head,
            Vec::new(),
        ));
    }
    symbol(
        a,
        enc,
        (
            s.name.name.clone(),
            s.action().map(|x| x.name.value.clone()),
            SymbolKind::FUNCTION,
        ),
        s.span,
        s.name.span,
        children,
    )
}

/// The outline of a template.
pub fn symbols(a: &Analysis, enc: Encoding) -> Vec<DocumentSymbol> {
    let Some(tree) = &a.tree else {
        return Vec::new();
    };
    let wf = &tree.workflow;
    let mut children = Vec::new();
    for item in &wf.items {
        let head = |len: usize| {
            Span::new(
                item.span().start,
                (item.span().start + len).min(item.span().end),
            )
        };
        match item {
            Item::Import(i) => children.push(symbol(
                a,
                enc,
                (
                    i.alias.name.clone(),
                    Some(i.path.value.clone()),
                    SymbolKind::MODULE,
                ),
                i.span,
                i.alias.span,
                Vec::new(),
            )),
            Item::Param(p) => children.push(symbol(
                a,
                enc,
                (
                    p.name.name.clone(),
                    Some(p.ty.as_str().to_string()),
                    SymbolKind::VARIABLE,
                ),
                p.span,
                p.name.span,
                Vec::new(),
            )),
            Item::Let(l) => children.push(symbol(
                a,
                enc,
                (
                    l.name.name.clone(),
                    Some("let".to_string()),
                    SymbolKind::CONSTANT,
                ),
                l.span,
                l.name.span,
                Vec::new(),
            )),
            Item::Step(s) => children.push(step(a, enc, s)),
            Item::Parallel(g) => children.push(symbol(
                a,
                enc,
                ("parallel".to_string(), None, SymbolKind::ARRAY),
                g.span,
                head(8),
                g.steps.iter().map(|s| step(a, enc, s)).collect(),
            )),
            Item::Verify(v) => children.push(symbol(
                a,
                enc,
                (
                    "verify".to_string(),
                    v.within
                        .as_ref()
                        .map(|w| format!("within {}", duration(w.millis))),
                    SymbolKind::ARRAY,
                ),
                v.span,
                head(6),
                v.steps.iter().map(|s| step(a, enc, s)).collect(),
            )),
            Item::Finally(f) => children.push(symbol(
                a,
                enc,
                ("finally".to_string(), None, SymbolKind::ARRAY),
                f.span,
                head(7),
                f.steps.iter().map(|s| step(a, enc, s)).collect(),
            )),
            _ => {}
        }
    }
    vec![symbol(
        a,
        enc,
        (
            wf.name.value.clone(),
            Some(format!("version {}", wf.version.value)),
            SymbolKind::NAMESPACE,
        ),
        wf.span,
        wf.name.span,
        children,
    )]
}

/// The foldable blocks and comment runs.
pub fn folding(a: &Analysis) -> Vec<FoldingRange> {
    let mut out = Vec::new();
    let line = |offset: usize| a.lines.position(&a.text, offset, Encoding::Utf8).line;
    let mut push = |span: Span, kind: Option<FoldingRangeKind>| {
        let (start, end) = (
            line(span.start),
            line(span.end.saturating_sub(1).max(span.start)),
        );
        if end > start {
            out.push(FoldingRange {
                start_line: start,
                end_line: end,
                kind,
                ..FoldingRange::default()
            });
        }
    };
    if let Some(tree) = &a.tree {
        let wf = &tree.workflow;
        push(wf.span, Some(FoldingRangeKind::Region));
        for item in &wf.items {
            match item {
                Item::Param(_)
                | Item::Labels(_)
                | Item::Parallel(_)
                | Item::Verify(_)
                | Item::Finally(_)
                | Item::Let(_) => {
                    push(item.span(), Some(FoldingRangeKind::Region));
                }
                _ => {}
            }
        }
        for s in wf.all_steps() {
            push(s.span, Some(FoldingRangeKind::Region));
            let rollback = s.rollback().map(|r| r.items.as_slice()).unwrap_or(&[]);
            for item in s.items.iter().chain(rollback) {
                push(item.span(), Some(FoldingRangeKind::Region));
            }
        }
        // Runs of line comments, and block comments.
        let mut run: Option<Span> = None;
        for c in &tree.comments {
            if c.trailing {
                continue;
            }
            match run {
                Some(r) if line(c.span.start) == line(r.end) + 1 && c.text.starts_with("//") => {
                    run = Some(r.join(c.span))
                }
                _ => {
                    if let Some(r) = run.take() {
                        push(r, Some(FoldingRangeKind::Comment));
                    }
                    run = Some(c.span);
                }
            }
        }
        if let Some(r) = run {
            push(r, Some(FoldingRangeKind::Comment));
        }
    }
    out.sort_by_key(|f| (f.start_line, std::cmp::Reverse(f.end_line)));
    out.dedup_by(|x, y| x.start_line == y.start_line && x.end_line == y.end_line);
    out
}
