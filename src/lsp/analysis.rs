//! One version of one document, analysed once: its tokens, its syntax tree (recovered when
//! the file does not parse), the diagnostics `remedy lint` gives it, and an index of every
//! name it declares and uses. Every feature answers from an `Analysis`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::check::{self, CheckContext};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::Span;
use crate::dsl::ast::{ConstraintKind, File, Item, StepItem, Value, ValueKind};

use super::lex::{Kind, Token, lex};
use super::modules::ModuleInfo;
use super::text::LineIndex;

/// What a document is, by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A `.wf` template.
    Template,
    /// A `.rhai` module.
    Module,
}

/// What the analysis of one version needs.
#[derive(Debug, Clone)]
pub struct Input {
    /// The document's text.
    pub text: String,
    /// Which change of the document (and of the modules it imports) this is.
    pub generation: u64,
    /// The document version the client gave.
    pub version: i32,
    /// Template or module.
    pub kind: DocKind,
    /// The document's path, when it is a file.
    pub path: Option<PathBuf>,
    /// The checker's context (the template's directory, unsaved modules, protected namespaces).
    pub ctx: CheckContext,
}

/// A name the document declares or uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sym {
    /// A step.
    Step(String),
    /// A param or a let (they share one scope).
    Value(String),
    /// An import alias.
    Alias(String),
    /// A function of an imported module: alias, function.
    ModuleFn(String, String),
}

impl Sym {
    /// The name as written.
    pub fn name(&self) -> &str {
        match self {
            Sym::Step(n) | Sym::Value(n) | Sym::Alias(n) | Sym::ModuleFn(_, n) => n,
        }
    }
}

/// One place where a name stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The name's text.
    pub span: Span,
    /// What it names.
    pub sym: Sym,
    /// True at the declaration.
    pub def: bool,
    /// True for a shorthand map entry (`with { namespace }`): the key is the name too.
    pub shorthand: bool,
}

/// Every occurrence of a declared name, in source order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The occurrences, sorted by position.
    pub occurrences: Vec<Occurrence>,
}

impl Index {
    /// The occurrence at `offset` (a cursor just after a name counts).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let i = self.occurrences.partition_point(|o| o.span.end < offset);
        self.occurrences[i..]
            .iter()
            .take_while(|o| o.span.start <= offset)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// Every occurrence of `sym`.
    pub fn of<'a>(&'a self, sym: &'a Sym) -> impl Iterator<Item = &'a Occurrence> + 'a {
        self.occurrences.iter().filter(move |o| &o.sym == sym)
    }

    /// The declaration of `sym`, if the document has one.
    pub fn definition(&self, sym: &Sym) -> Option<&Occurrence> {
        self.occurrences.iter().find(|o| o.def && &o.sym == sym)
    }
}

/// An import with its file.
#[derive(Debug, Clone)]
pub struct ImportRef {
    /// The alias.
    pub alias: String,
    /// The path as written.
    pub path: String,
    /// The span of the path string, quotes included.
    pub span: Span,
    /// The file it names, when the template has a directory and the path stays inside it.
    pub file: Option<PathBuf>,
}

/// One version of one document, analysed.
#[derive(Debug)]
pub struct Analysis {
    /// The change it was made for.
    pub generation: u64,
    /// The client's version of the text.
    pub version: i32,
    /// The text.
    pub text: String,
    /// Line starts of the text.
    pub lines: LineIndex,
    /// Template or module.
    pub kind: DocKind,
    /// Every token (templates only).
    pub tokens: Vec<Token>,
    /// The syntax tree: parsed, or recovered when the file does not parse.
    pub tree: Option<File>,
    /// True when the file parses as it is.
    pub parses: bool,
    /// What `remedy lint` reports for this text.
    pub diagnostics: Vec<Diagnostic>,
    /// Every declared name and its uses.
    pub index: Index,
    /// The template's imports.
    pub imports: Vec<ImportRef>,
    /// For a module: its functions.
    pub module: Option<ModuleInfo>,
    /// The context it was checked in.
    pub ctx: CheckContext,
    /// The document's path.
    pub path: Option<PathBuf>,
    /// How long the analysis took.
    pub cost: Duration,
}

impl Analysis {
    /// Analyse one version of a document.
    pub fn new(input: Input) -> Self {
        let started = Instant::now();
        let Input {
            text,
            generation,
            version,
            kind,
            path,
            ctx,
        } = input;
        let lines = LineIndex::new(&text);
        let mut a = Analysis {
            generation,
            version,
            lines,
            kind,
            tokens: Vec::new(),
            tree: None,
            parses: false,
            diagnostics: Vec::new(),
            index: Index::default(),
            imports: Vec::new(),
            module: None,
            ctx,
            path,
            cost: Duration::ZERO,
            text,
        };
        match kind {
            DocKind::Module => {
                let info = ModuleInfo::new(&a.text);
                a.diagnostics = info.diagnostics.clone();
                a.module = Some(info);
            }
            DocKind::Template => {
                a.tokens = lex(&a.text);
                // What `remedy lint` does with the file (`check::check_source`).
                match crate::dsl::parse(&a.text) {
                    Ok(file) => {
                        a.diagnostics = check::check(&file, &a.ctx);
                        a.tree = Some(file);
                        a.parses = true;
                    }
                    Err(d) => {
                        a.diagnostics = vec![d];
                        a.tree = crate::dsl::parse_recovering(&a.text);
                    }
                }
                if let Some(tree) = &a.tree {
                    a.index = index(tree, &a.tokens, &a.text);
                    a.imports = tree
                        .workflow
                        .imports()
                        .map(|i| ImportRef {
                            alias: i.alias.name.clone(),
                            path: i.path.value.clone(),
                            span: i.path.span,
                            file: a.ctx.template_dir.as_ref().and_then(|dir| {
                                check::rules::import_stays_inside(std::path::Path::new(
                                    &i.path.value,
                                ))
                                .then(|| dir.join(&i.path.value))
                            }),
                        })
                        .collect();
                }
            }
        }
        a.cost = started.elapsed();
        a
    }

    /// The text of a span.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    /// The index of the token at or just before `offset` (a cursor right after a token is on
    /// it).
    pub fn token_at(&self, offset: usize) -> Option<usize> {
        let i = self.tokens.partition_point(|t| t.span.start < offset);
        // `i` is the first token starting at or after `offset`.
        if let Some(t) = self.tokens.get(i)
            && t.span.start == offset
            && !(i > 0
                && self.tokens[i - 1].span.end == offset
                && self.tokens[i - 1].kind != Kind::Punct)
        {
            return Some(i);
        }
        let prev = i.checked_sub(1)?;
        (self.tokens[prev].span.end >= offset).then_some(prev)
    }
}

/// Every declaration and use of a step, param, let, alias and module function.
fn index(file: &File, tokens: &[Token], text: &str) -> Index {
    let wf = &file.workflow;
    let mut occ = Vec::new();
    let mut values = std::collections::HashSet::new();
    let mut steps = std::collections::HashSet::new();
    let mut aliases = std::collections::HashSet::new();
    for step in wf.all_steps() {
        steps.insert(step.name.name.as_str());
        occ.push(def(step.name.span, Sym::Step(step.name.name.clone())));
        for a in &step.after {
            occ.push(use_(a.span, Sym::Step(a.name.clone())));
        }
    }
    for p in wf.params() {
        values.insert(p.name.name.as_str());
        occ.push(def(p.name.span, Sym::Value(p.name.name.clone())));
    }
    for l in wf.lets() {
        values.insert(l.name.name.as_str());
        occ.push(def(l.name.span, Sym::Value(l.name.name.clone())));
    }
    for i in wf.imports() {
        aliases.insert(i.alias.name.as_str());
        occ.push(def(i.alias.span, Sym::Alias(i.alias.name.clone())));
    }
    // Bare names used as values.
    let mut visit = |v: &Value, shorthand: bool| {
        bare_names(v, shorthand, &mut |span, name, shorthand| {
            if values.contains(name) {
                occ.push(Occurrence {
                    span,
                    sym: Sym::Value(name.to_string()),
                    def: false,
                    shorthand,
                });
            }
        });
    };
    for item in &wf.items {
        match item {
            Item::Param(p) => {
                if let Some(d) = &p.default {
                    visit(d, false);
                }
                for c in &p.constraints {
                    match &c.kind {
                        ConstraintKind::Min(v) | ConstraintKind::Max(v) => visit(v, false),
                        ConstraintKind::Enum(vs) => vs.iter().for_each(|v| visit(v, false)),
                        _ => {}
                    }
                }
            }
            Item::Let(l) => visit(&l.value, false),
            Item::Labels(l) => l
                .map
                .entries
                .iter()
                .for_each(|e| visit(&e.value, e.shorthand)),
            _ => {}
        }
    }
    for step in wf.all_steps() {
        let rollback = step.rollback().map(|r| r.items.as_slice()).unwrap_or(&[]);
        for item in step.items.iter().chain(rollback) {
            if let StepItem::With(w) = item {
                for e in &w.map.entries {
                    visit(&e.value, e.shorthand);
                }
            }
        }
    }
    // Names inside expressions.
    for (k, t) in tokens.iter().enumerate() {
        if t.kind != Kind::RhaiIdent {
            continue;
        }
        let name = &text[t.span.start..t.span.end];
        let prev = k.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(k + 1);
        let after_dot = prev.is_some_and(|p| p.kind == Kind::RhaiDot);
        let after_path = prev.is_some_and(|p| p.kind == Kind::RhaiPath);
        if after_dot {
            // `steps.NAME` or `params.NAME`.
            let root = k
                .checked_sub(2)
                .map(|r| &tokens[r])
                .filter(|r| r.kind == Kind::RhaiIdent)
                .filter(|_| k < 3 || tokens[k - 3].kind != Kind::RhaiDot)
                .map(|r| &text[r.span.start..r.span.end]);
            match root {
                Some("steps") if steps.contains(name) => {
                    occ.push(use_(t.span, Sym::Step(name.to_string())))
                }
                Some("params") if values.contains(name) => {
                    occ.push(use_(t.span, Sym::Value(name.to_string())))
                }
                _ => {}
            }
            continue;
        }
        if after_path {
            if let Some(alias) = k
                .checked_sub(2)
                .map(|r| &text[tokens[r].span.start..tokens[r].span.end])
                && aliases.contains(alias)
            {
                occ.push(use_(
                    t.span,
                    Sym::ModuleFn(alias.to_string(), name.to_string()),
                ));
            }
            continue;
        }
        if next.is_some_and(|n| n.kind == Kind::RhaiPath) {
            if aliases.contains(name) {
                occ.push(use_(t.span, Sym::Alias(name.to_string())));
            }
            continue;
        }
        if name == "steps"
            && next
                .is_some_and(|n| n.kind == Kind::RhaiPunct && text[n.span.start..].starts_with('['))
            && let Some(s) = tokens
                .get(k + 2)
                .filter(|s| s.kind == Kind::RhaiStr && s.span.len() >= 2)
        {
            let inner = Span::new(s.span.start + 1, s.span.end - 1);
            let target = &text[inner.start..inner.end];
            if steps.contains(target) {
                occ.push(use_(inner, Sym::Step(target.to_string())));
            }
            continue;
        }
        if values.contains(name) {
            occ.push(use_(t.span, Sym::Value(name.to_string())));
        }
    }
    occ.sort_by_key(|o| (o.span.start, o.span.end));
    occ.dedup_by(|a, b| a.span == b.span && a.sym == b.sym);
    Index { occurrences: occ }
}

fn def(span: Span, sym: Sym) -> Occurrence {
    Occurrence {
        span,
        sym,
        def: true,
        shorthand: false,
    }
}

fn use_(span: Span, sym: Sym) -> Occurrence {
    Occurrence {
        span,
        sym,
        def: false,
        shorthand: false,
    }
}

/// Every bare name used as a value inside `v` (lists and maps included).
fn bare_names(v: &Value, shorthand: bool, f: &mut dyn FnMut(Span, &str, bool)) {
    match &v.kind {
        ValueKind::Ident(i) => f(i.span, &i.name, shorthand),
        ValueKind::List(items) => items.iter().for_each(|x| bare_names(x, false, f)),
        ValueKind::Map(m) => m
            .entries
            .iter()
            .for_each(|e| bare_names(&e.value, e.shorthand, f)),
        // Interpolations are expressions: the token pass finds their names.
        _ => {}
    }
}
