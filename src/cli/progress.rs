//! The live progress of a run, shared by `remedy run` and `remedy watch`: a spinner line per
//! step on a terminal, plain lines otherwise. Changes arrive in causal order from
//! `scenario::progress::Tracker`.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::api::StepPhase;
use crate::scenario::{Progress, StepUpdate};

/// Live progress: a spinner line per step on a terminal, plain lines otherwise.
pub(crate) struct Live {
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
}

impl Live {
    /// Spinners on a terminal, plain lines otherwise.
    pub(crate) fn new(terminal: bool) -> Self {
        Live {
            bars: terminal.then(|| (MultiProgress::new(), HashMap::new())),
        }
    }

    /// Shows one change.
    pub(crate) fn show(&mut self, progress: &Progress) {
        let line = describe(progress);
        let Some((multi, bars)) = &mut self.bars else {
            println!("{line}");
            return;
        };
        match progress {
            Progress::Step(step) => {
                let bar = bars.entry(step.name.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                        bar.set_style(style);
                    }
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                });
                bar.set_message(line);
                if is_final(step.phase) {
                    bar.finish();
                }
            }
            _ => {
                let _ = multi.println(line);
            }
        }
    }

    /// Stops the spinners.
    pub(crate) fn finish(&mut self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.values() {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
        }
    }
}

fn is_final(phase: StepPhase) -> bool {
    matches!(
        phase,
        StepPhase::Succeeded
            | StepPhase::Failed
            | StepPhase::Skipped
            | StepPhase::TimedOut
            | StepPhase::Compensated
            | StepPhase::CompensationFailed
    )
}

fn describe(progress: &Progress) -> String {
    match progress {
        Progress::Started { run } => format!("▶ WorkflowExecution {run} created"),
        Progress::Phase(phase) => format!("● {}", name_of(phase)),
        Progress::Stop(stop) => {
            format!("■ {}", first_line(&crate::engine::describe_stop(stop), 200))
        }
        Progress::Step(step) => step_line(step),
    }
}

fn step_line(step: &StepUpdate) -> String {
    let mark = match step.phase {
        StepPhase::Succeeded => "✓",
        StepPhase::Failed | StepPhase::TimedOut | StepPhase::CompensationFailed => "✗",
        StepPhase::Skipped => "–",
        StepPhase::Compensating | StepPhase::Compensated => "↺",
        _ => "…",
    };
    let attempt = match step.phase {
        StepPhase::Compensating | StepPhase::Compensated | StepPhase::CompensationFailed => {
            format!("compensation {}", step.rollback_attempts.max(1))
        }
        _ if step.attempts == 0 => String::new(),
        _ => format!("attempt {}", step.attempts),
    };
    let mut line = format!(
        "  {mark} {:<22} {:<18} {:<16} {:>6.1}s",
        step.name,
        name_of(&step.phase),
        attempt,
        step.elapsed.as_secs_f64()
    );
    if !step.message.is_empty() && !matches!(step.phase, StepPhase::Succeeded) {
        line.push_str("  ");
        line.push_str(&first_line(&step.message, 100));
    }
    line
}

/// The first line of `text`, at most `max` characters, control characters made visible (the
/// text comes from the cluster: step messages, events).
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let line = crate::check::render::visible(line);
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// The serialized name of an enum value.
pub(crate) fn name_of<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}"),
    }
}
