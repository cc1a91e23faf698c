//! What every rule sees: the file, its steps and action sites in declared order, name
//! indexes, and the check context.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;

use crate::catalog::ActionSpec;
use crate::check::context::CheckContext;
use crate::check::rules::rhai_sites::ScriptFacts;
use crate::dsl::ast::{self, ActionItem, File, Item, Param, Step, Workflow};
use crate::files::FileError;
use crate::script::modules::stays_inside;

pub use crate::graph::Phase;

/// A step with where it stands.
#[derive(Debug, Clone, Copy)]
pub struct StepRef<'a> {
    /// The step.
    pub step: &'a Step,
    /// Its phase.
    pub phase: Phase,
    /// The `parallel` group holding it, if any.
    pub group: Option<&'a ast::Parallel>,
    /// Its position among all steps, in declared order.
    pub index: usize,
}

/// An `action` with the `with` beside it: a step's own or its compensation's.
#[derive(Debug, Clone, Copy)]
pub struct ActionSite<'a> {
    /// The step it belongs to.
    pub step: &'a Step,
    /// True for the step's `rollback { … }` block.
    pub in_rollback: bool,
    /// The `action "…"` item.
    pub action: &'a ActionItem,
    /// The `with { … }` item, if written.
    pub with: Option<&'a ast::With>,
    /// The action's schema, when the catalog knows it.
    pub spec: Option<&'a ActionSpec>,
}

impl ActionSite<'_> {
    /// "step `x`" or "the rollback of step `x`", for messages.
    pub fn describe(&self) -> String {
        if self.in_rollback {
            format!("the rollback of step `{}`", self.step.name.name)
        } else {
            format!("step `{}`", self.step.name.name)
        }
    }
}

/// What every rule sees: the file, indexes over it, and the check context.
#[derive(Debug)]
pub struct RuleContext<'a> {
    /// The parsed file.
    pub file: &'a File,
    /// Its workflow.
    pub workflow: &'a Workflow,
    /// The catalog and surroundings.
    pub ctx: &'a CheckContext,
    /// Every step in declared order (main, parallel members, verify, finally).
    pub steps: Vec<StepRef<'a>>,
    /// Every action site (steps and their compensations) in declared order.
    pub actions: Vec<ActionSite<'a>>,
    params: HashMap<&'a str, &'a Param>,
    lets: HashMap<&'a str, (usize, &'a ast::Let)>,
    step_names: HashMap<&'a str, usize>,
    /// What the `rhai_*` rules learn about the file's scripts, computed once per check run.
    pub(crate) scripts: ScriptFacts<'a>,
    /// Each import's source, read once when a rule first asks.
    imports: OnceCell<Vec<Option<Result<String, FileError>>>>,
}

impl<'a> RuleContext<'a> {
    /// Index `file` for the rules.
    pub fn new(file: &'a File, ctx: &'a CheckContext) -> Self {
        let workflow = &file.workflow;
        let mut steps = Vec::new();
        for item in &workflow.items {
            let (members, phase, group): (&[Step], _, _) = match item {
                Item::Step(s) => (std::slice::from_ref(s), Phase::Main, None),
                Item::Parallel(p) => (&p.steps, Phase::Main, Some(p)),
                Item::Verify(v) => (&v.steps, Phase::Verify, None),
                Item::Finally(f) => (&f.steps, Phase::Finally, None),
                _ => continue,
            };
            for step in members {
                let index = steps.len();
                steps.push(StepRef {
                    step,
                    phase,
                    group,
                    index,
                });
            }
        }
        let mut actions = Vec::new();
        for s in &steps {
            if let Some(action) = s.step.action() {
                actions.push(ActionSite {
                    step: s.step,
                    in_rollback: false,
                    action,
                    with: s.step.with(),
                    spec: ctx.actions.get(&action.name.value),
                });
            }
            if let Some(rb) = s.step.rollback()
                && let Some(action) = rb.action()
            {
                actions.push(ActionSite {
                    step: s.step,
                    in_rollback: true,
                    action,
                    with: rb.with(),
                    spec: ctx.actions.get(&action.name.value),
                });
            }
        }
        let mut params = HashMap::new();
        for p in workflow.params() {
            params.entry(p.name.name.as_str()).or_insert(p);
        }
        let mut lets = HashMap::new();
        for (i, l) in workflow.lets().enumerate() {
            lets.entry(l.name.name.as_str()).or_insert((i, l));
        }
        let mut step_names = HashMap::new();
        for s in &steps {
            step_names
                .entry(s.step.name.name.as_str())
                .or_insert(s.index);
        }
        RuleContext {
            file,
            workflow,
            ctx,
            steps,
            actions,
            params,
            lets,
            step_names,
            scripts: ScriptFacts::default(),
            imports: OnceCell::new(),
        }
    }

    /// The source of the `index`-th import (in declared order), through
    /// [`CheckContext::import_text`] (an editor's unsaved text, else the file as the loader
    /// reads it); `None` when there is no template directory or
    /// the path as written leaves it.
    pub fn import_source(&self, index: usize) -> Option<&Result<String, FileError>> {
        let sources = self.imports.get_or_init(|| {
            self.workflow
                .imports()
                .map(|import| {
                    let dir = self.ctx.template_dir.as_ref()?;
                    let rel = Path::new(&import.path.value);
                    if !stays_inside(rel) {
                        return None;
                    }
                    Some(self.ctx.import_text(dir, &dir.join(rel)))
                })
                .collect()
        });
        sources.get(index)?.as_ref()
    }

    /// The `let` of that name, if any (the first, if declared twice).
    pub fn let_(&self, name: &str) -> Option<&'a ast::Let> {
        self.lets.get(name).map(|(_, l)| *l)
    }

    /// The position of the `let` of that name among the lets, in declared order.
    pub fn let_index(&self, name: &str) -> Option<usize> {
        self.lets.get(name).map(|(i, _)| *i)
    }

    /// The first step of that name.
    pub fn step(&self, name: &str) -> Option<&StepRef<'a>> {
        self.step_names.get(name).and_then(|&i| self.steps.get(i))
    }

    /// The param of that name (the first, if declared twice).
    pub fn param(&self, name: &str) -> Option<&'a Param> {
        self.params.get(name).copied()
    }

    /// The workflow's `timeout` item, if written.
    pub fn workflow_timeout(&self) -> Option<&'a ast::TimeoutItem> {
        self.workflow.items.iter().find_map(|i| match i {
            Item::Timeout(t) => Some(t),
            _ => None,
        })
    }

    /// The workflow's `approval` item, if written.
    pub fn approval(&self) -> Option<&'a ast::Approval> {
        self.workflow.items.iter().find_map(|i| match i {
            Item::Approval(a) => Some(a),
            _ => None,
        })
    }
}
