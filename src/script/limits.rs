//! The sandbox's budgets, and the wall-clock guard that enforces the time limit.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine};

/// The budgets every script runs under. [`Limits::default`] is what templates get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Operations one evaluation may perform (0: unlimited).
    pub max_operations: u64,
    /// Nesting depth of an expression at the top level.
    pub max_expr_depth: usize,
    /// Nesting depth of an expression inside a function.
    pub max_function_expr_depth: usize,
    /// Depth of function calls (bounds recursion).
    pub max_call_levels: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Items in one array (or bytes in one blob).
    pub max_array_size: usize,
    /// Entries in one map.
    pub max_map_size: usize,
    /// Functions one module may define.
    pub max_functions: usize,
    /// Wall-clock time one evaluation (or loading one module) may take.
    pub time_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 100_000,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_call_levels: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_functions: 256,
            time_limit: Duration::from_millis(250),
        }
    }
}

thread_local! {
    /// When the evaluation running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How many operations pass between two looks at the clock.
const CLOCK_EVERY: u64 = 256;

impl Limits {
    /// Apply the budgets to an engine, including the wall-clock check.
    pub(crate) fn apply(&self, engine: &mut Engine) {
        engine.set_max_operations(self.max_operations);
        engine.set_max_expr_depths(self.max_expr_depth, self.max_function_expr_depth);
        engine.set_max_call_levels(self.max_call_levels);
        engine.set_max_string_size(self.max_string_size);
        engine.set_max_array_size(self.max_array_size);
        engine.set_max_map_size(self.max_map_size);
        engine.set_max_functions(self.max_functions);
        engine.set_max_modules(0);
        engine.on_progress(|ops| {
            if ops % CLOCK_EVERY != 0 {
                return None;
            }
            match DEADLINE.get() {
                Some(deadline) if Instant::now() >= deadline => Some(Dynamic::from("time limit")),
                _ => None,
            }
        });
    }

    /// Start the clock for one evaluation on this thread; it stops when the guard drops.
    pub(crate) fn start_clock(&self) -> ClockGuard {
        let previous = DEADLINE.get();
        let deadline = Instant::now() + self.time_limit;
        // A nested evaluation never extends the outer one's deadline.
        DEADLINE.set(Some(previous.map_or(deadline, |p| p.min(deadline))));
        ClockGuard { previous }
    }
}

/// Restores the previous deadline when an evaluation ends.
pub(crate) struct ClockGuard {
    previous: Option<Instant>,
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        DEADLINE.set(self.previous);
    }
}
