//! Fuzz the script sandbox: any module and expression (separated by a `---` line) give a
//! value or a typed error within the sandbox's limits, never a panic, a hang or a crash.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use remedy::script::memory::Metered;
use remedy::script::{EvalContext, ScriptEngine};

/// As in the `remedy` binary: evaluations are metered, so the memory limit holds.
#[global_allocator]
static ALLOCATOR: Metered<std::alloc::System> = Metered(std::alloc::System);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (module, expr) = text.split_once("\n---\n").unwrap_or(("", text));
    let modules = BTreeMap::from([("m".to_string(), module.to_string())]);
    if let Ok(engine) = ScriptEngine::new(&modules) {
        let _ = engine.eval_source(expr, &EvalContext::default());
    }
});
