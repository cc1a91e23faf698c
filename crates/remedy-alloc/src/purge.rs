//! When mimalloc gives freed memory back to the system.
//!
//! mimalloc keeps the pages it frees for a while before it purges them (gives them back to
//! the system): 1 s for its pages and ten times that for its arenas by default, and only when
//! the thread that owns them allocates again. A process that allocates a lot at start (the
//! operator listing every run and execution) and then idles keeps that memory resident.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// The index of `mi_option_purge_delay` in mimalloc's option enum (v2 and v3 alike: it sits
/// between `eager_commit_delay`, 14, and `use_numa_nodes`, 16, which the bindings name).
const PURGE_DELAY: mi_option_t = 15;

/// The environment variable with which a user sets the purge delay (milliseconds).
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Makes mimalloc purge freed memory at once, unless [`PURGE_DELAY_ENV`] says otherwise.
/// Harmless when mimalloc is linked but not the global allocator. Answers the delay now in
/// force, in milliseconds.
pub fn purge_promptly() -> i64 {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        // SAFETY: `mi_option_set` writes one option of mimalloc's static table; any option
        // index below `_mi_option_last` and any value are accepted, and 15 is one of them.
        unsafe { mi_option_set(PURGE_DELAY, 0) };
    }
    purge_delay()
}

/// The purge delay in force, in milliseconds.
// `c_long` is `i64` here, `i32` elsewhere.
#[allow(clippy::useless_conversion)]
pub fn purge_delay() -> i64 {
    // SAFETY: `mi_option_get` reads one option of mimalloc's static table (initialising it
    // from the environment on first use); 15 is a valid index.
    i64::from(unsafe { mi_option_get(PURGE_DELAY) })
}
