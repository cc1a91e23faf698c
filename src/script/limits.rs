//! The sandbox's budgets, and the guard that enforces the time and memory limits.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine};

use super::memory;

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
    /// Bytes in one string (and in all the strings one array or map holds).
    pub max_string_size: usize,
    /// Items in one array, nested arrays included (or bytes in one blob).
    pub max_array_size: usize,
    /// Entries in one map, nested maps included.
    pub max_map_size: usize,
    /// Functions one module may define.
    pub max_functions: usize,
    /// Bytes of the JSON an evaluation's result becomes.
    pub max_output_size: usize,
    /// Bytes one evaluation may hold at once (net of what it frees), when the process
    /// allocates through [`memory::Metered`].
    pub max_memory: usize,
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
            max_output_size: 256 * 1024,
            max_memory: 32 * 1024 * 1024,
            time_limit: Duration::from_millis(250),
        }
    }
}

/// What stopped an evaluation from `on_progress` (the token rhai hands back).
pub(crate) const TIME_LIMIT: &str = "time limit";
/// See [`TIME_LIMIT`].
pub(crate) const MEMORY_LIMIT: &str = "memory limit";

thread_local! {
    /// When the evaluation running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

impl Limits {
    /// Apply the budgets to an engine, including the time and memory checks.
    pub(crate) fn apply(&self, engine: &mut Engine) {
        engine.set_max_operations(self.max_operations);
        engine.set_max_expr_depths(self.max_expr_depth, self.max_function_expr_depth);
        engine.set_max_call_levels(self.max_call_levels);
        engine.set_max_string_size(self.max_string_size);
        engine.set_max_array_size(self.max_array_size);
        engine.set_max_map_size(self.max_map_size);
        engine.set_max_functions(self.max_functions);
        engine.set_max_modules(0);
        let max_memory = self.max_memory;
        // Checked after every operation: one operation is short (sizes are bounded), and a
        // coarser check would let anything slow between operations (a lock's spin, a large
        // copy) add up unchecked. Reading the clock costs tens of nanoseconds.
        engine.on_progress(move |_ops| {
            if memory::used() > max_memory {
                return Some(Dynamic::from(MEMORY_LIMIT));
            }
            match DEADLINE.get() {
                Some(deadline) if Instant::now() >= deadline => Some(Dynamic::from(TIME_LIMIT)),
                _ => None,
            }
        });
    }

    /// Start the clock and the memory meter for one evaluation on this thread; both stop
    /// when the guard drops.
    pub(crate) fn start(&self) -> BudgetGuard {
        let previous = DEADLINE.get();
        let deadline = Instant::now() + self.time_limit;
        // A nested evaluation never extends the outer one's deadline.
        DEADLINE.set(Some(previous.map_or(deadline, |p| p.min(deadline))));
        BudgetGuard {
            previous,
            _memory: memory::start(),
        }
    }
}

/// Restores the previous deadline, and stops the meter, when an evaluation ends.
pub(crate) struct BudgetGuard {
    previous: Option<Instant>,
    _memory: memory::MeterGuard,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        DEADLINE.set(self.previous);
    }
}
