//! Not a rule: where every rhai script of a file stands (which step, rollback block, `when`,
//! param, let…), shared by the `rhai_*` rules.

use crate::check::rules::{Phase, RuleContext};
use crate::diagnostic::Span;
use crate::dsl::ast::{self, ApprovalKind, ConstraintKind, Item, StepItem};
use crate::script::scan::{FieldRef, field_refs};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::dsl::scripts::{Script, value_scripts};
use crate::script::{Limits, NameChecker, ScriptError, Undefined};

/// What a script computes.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// `approval ${ … }`.
    Approval,
    /// A param's default (or a constraint of it).
    Param(&'a ast::Param),
    /// A `let`.
    Let(&'a ast::Let),
    /// A workflow `description` or `labels`.
    Workflow,
    /// Something of a step: its `with`, `when` or description, or its rollback block.
    Step {
        /// The step.
        step: &'a ast::Step,
        /// Main, verify or finally.
        phase: Phase,
        /// Inside the step's `rollback { … }`.
        in_rollback: bool,
        /// The step's `when`.
        is_when: bool,
    },
}

impl Place<'_> {
    /// True when the script is computed at Planning (no step has run).
    pub fn at_planning(&self) -> bool {
        !matches!(self, Place::Step { .. })
    }

    /// How a message names the place: "the `when` of step `x`", "let `y`"…
    pub fn describe(&self) -> String {
        match self {
            Place::Approval => "`approval`".into(),
            Place::Param(p) => format!("the default of param `{}`", p.name.name),
            Place::Let(l) => format!("let `{}`", l.name.name),
            Place::Workflow => "the workflow's description or labels".into(),
            Place::Step {
                step,
                in_rollback,
                is_when,
                ..
            } => {
                let name = &step.name.name;
                match (in_rollback, is_when) {
                    (true, _) => format!("the rollback of step `{name}`"),
                    (false, true) => format!("the `when` of step `{name}`"),
                    (false, false) => format!("step `{name}`"),
                }
            }
        }
    }
}

/// A script and where it stands.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The script.
    pub script: Script<'a>,
    /// What it computes.
    pub place: Place<'a>,
}

impl Site<'_> {
    /// The file span of a reference found by [`crate::script::scan::field_refs`].
    pub fn span_of(&self, r: &FieldRef) -> Span {
        Span::new(
            self.script.key.start + r.start,
            self.script.key.start + r.end,
        )
    }
}

/// Every script of the file with its place, in source order (collected once per check run).
pub fn sites<'c, 'a>(cx: &'c RuleContext<'a>) -> &'c [Site<'a>] {
    cx.scripts.sites.get_or_init(|| {
        let mut out = Vec::new();
        collect(cx, &mut out);
        out
    })
}

/// What the `rhai_*` rules share in one check run, so that each distinct script source is
/// scanned once and compiled by rhai at most once per question, whichever rules ask: a
/// template repeats the same expressions many times, and every answer is relative to the
/// source alone.
#[derive(Default)]
pub struct ScriptFacts<'a> {
    sites: OnceCell<Vec<Site<'a>>>,
    names: OnceCell<RefCell<Names<'a>>>,
    refs: RefCell<HashMap<&'a str, Rc<[FieldRef]>>>,
    reads_nothing: RefCell<HashMap<&'a str, bool>>,
}

impl std::fmt::Debug for ScriptFacts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptFacts").finish_non_exhaustive()
    }
}

/// [`field_refs`] of `source`, scanned once per check run.
pub fn refs<'a>(cx: &RuleContext<'a>, source: &'a str) -> Rc<[FieldRef]> {
    cx.scripts
        .refs
        .borrow_mut()
        .entry(source)
        .or_insert_with(|| field_refs(source).into())
        .clone()
}

/// [`NameChecker::undefined_names`] of `source` against [`known_names`], asked once per check
/// run.
pub fn undefined<'a>(
    cx: &RuleContext<'a>,
    source: &'a str,
) -> Rc<Result<Vec<Undefined>, ScriptError>> {
    cx.scripts
        .names
        .get_or_init(|| RefCell::new(Names::new(cx)))
        .borrow_mut()
        .undefined(source)
}

/// True when `source` compiles and reads no variable at all (asked once per check run).
pub fn reads_nothing<'a>(cx: &RuleContext<'a>, source: &'a str) -> bool {
    if let Some(&known) = cx.scripts.reads_nothing.borrow().get(source) {
        return known;
    }
    let names = cx
        .scripts
        .names
        .get_or_init(|| RefCell::new(Names::new(cx)));
    let answer =
        matches!(names.borrow().checker.undefined_names(source, &[]), Ok(n) if n.is_empty());
    cx.scripts.reads_nothing.borrow_mut().insert(source, answer);
    answer
}

fn collect<'a>(cx: &RuleContext<'a>, out: &mut Vec<Site<'a>>) {
    for item in &cx.workflow.items {
        match item {
            Item::Approval(a) => {
                if let ApprovalKind::When(e) = &a.kind {
                    out.push(Site {
                        script: Script {
                            source: &e.source,
                            key: e.source_span,
                            span: e.span,
                            bare: false,
                        },
                        place: Place::Approval,
                    });
                }
            }
            Item::Param(p) => {
                if let Some(d) = &p.default {
                    add(out, d, Place::Param(p));
                }
                for c in &p.constraints {
                    if let ConstraintKind::Min(v) | ConstraintKind::Max(v) = &c.kind {
                        add(out, v, Place::Param(p));
                    }
                }
            }
            Item::Let(l) => add(out, &l.value, Place::Let(l)),
            Item::Labels(l) => {
                for e in &l.map.entries {
                    add(out, &e.value, Place::Workflow);
                }
            }
            _ => {}
        }
    }
    for s in &cx.steps {
        for item in &s.step.items {
            step_item(out, s.step, s.phase, item, false);
        }
    }
}

fn step_item<'a>(
    out: &mut Vec<Site<'a>>,
    step: &'a ast::Step,
    phase: Phase,
    item: &'a StepItem,
    in_rollback: bool,
) {
    let place = |is_when| Place::Step {
        step,
        phase,
        in_rollback,
        is_when,
    };
    match item {
        StepItem::With(w) => {
            for e in &w.map.entries {
                add(out, &e.value, place(false));
            }
        }
        StepItem::When(w) => out.push(Site {
            script: Script {
                source: &w.expr.source,
                key: w.expr.source_span,
                span: w.expr.span,
                bare: false,
            },
            place: place(true),
        }),
        StepItem::Rollback(rb) => {
            for i in &rb.items {
                step_item(out, step, phase, i, true);
            }
        }
        _ => {}
    }
}

fn add<'a>(out: &mut Vec<Site<'a>>, value: &'a ast::Value, place: Place<'a>) {
    value_scripts(value, &mut |script| out.push(Site { script, place }));
}

/// Every name a script may read, whatever its place (the rules about places are separate).
pub fn known_names<'a>(cx: &RuleContext<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = vec!["analysis", "params", "workflow", "steps", "self"];
    names.extend(cx.workflow.params().map(|p| p.name.name.as_str()));
    names.extend(cx.workflow.lets().map(|l| l.name.name.as_str()));
    names
}

/// A name checker knowing the file's import aliases.
pub fn name_checker(cx: &RuleContext<'_>) -> NameChecker {
    NameChecker::new(
        cx.workflow.imports().map(|i| i.alias.name.as_str()),
        &Limits::default(),
    )
}

/// A name checker with the file's known names that answers each distinct source once.
struct Names<'a> {
    checker: NameChecker,
    known: Vec<&'a str>,
    seen: HashMap<&'a str, Rc<Result<Vec<Undefined>, ScriptError>>>,
}

impl<'a> Names<'a> {
    /// A checker for the file of `cx`.
    fn new(cx: &RuleContext<'a>) -> Self {
        Names {
            checker: name_checker(cx),
            known: known_names(cx),
            seen: HashMap::new(),
        }
    }

    /// [`NameChecker::undefined_names`] of `source` against the known names.
    fn undefined(&mut self, source: &'a str) -> Rc<Result<Vec<Undefined>, ScriptError>> {
        let (checker, known) = (&self.checker, &self.known);
        self.seen
            .entry(source)
            .or_insert_with(|| Rc::new(checker.undefined_names(source, known)))
            .clone()
    }
}
