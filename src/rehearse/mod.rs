//! Rehearsals (`NAME.rehearsal.yaml` beside `NAME.wf`): run a template offline through the
//! real planner and interpreter on a virtual clock, with every attempt's outcome scripted, and
//! compare what happened with what the case expects.
//!
//! | file | what |
//! |---|---|
//! | `file` | the rehearsal format, its loading and discovery |
//! | `run` | plan and rehearse each case on the virtual clock |
//! | `compare` | what happened against what the case expects, and the readable difference |
//!
//! Printing belongs to `cli::test`; this module only returns values.

mod compare;
mod file;
mod run;

pub use compare::{CaseReport, Mismatch, compare};
pub use file::{
    AttemptOutcome, Case, CasePause, CaseStop, Expect, RehearsalError, RehearsalFile, SUFFIX,
    discover, load, parse,
};
pub use run::{
    Actual, CaseInput, EXECUTION, FileReport, NAMESPACE, StepInfo, check_names, plan_steps,
    planning_failed, rehearse, run_case, run_file, script_for, template_steps,
};
