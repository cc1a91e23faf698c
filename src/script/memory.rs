//! What a script evaluation allocates: a global-allocator wrapper that counts, per thread and
//! only while an evaluation runs there, the bytes allocated minus the bytes freed, so the
//! sandbox can stop a script that hoards memory.
//!
//! rhai checks the size of the values it builds from literals and function results, but not
//! of a map or array grown by index assignment (`m[k] = v` in a loop), so its size limits alone
//! let a script hold gigabytes. The count is read between two operations
//! ([`super::Limits::apply`]): a script goes at most one operation past the budget, and one
//! operation can at most copy what already exists.
//!
//! The `remedy` binary installs [`Metered`] around mimalloc; a program that does not gets the
//! other budgets but no memory budget ([`is_metered`] tells).
//!
//! The crate's only `unsafe` code: implementing `GlobalAlloc` requires it. Each method forwards
//! to the wrapped allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A global allocator that meters script evaluations:
/// `#[global_allocator] static A: Metered<std::alloc::System> = Metered(std::alloc::System);`
#[derive(Debug, Default)]
pub struct Metered<A>(pub A);

/// The meter of one thread: whether an evaluation runs, and its net allocation in bytes.
#[derive(Clone, Copy)]
struct Meter {
    active: bool,
    net: isize,
}

thread_local! {
    // A const-initialised Cell of a Copy type: reading it never allocates, so the allocator
    // may use it.
    static METER: Cell<Meter> = const { Cell::new(Meter { active: false, net: 0 }) };
}

/// Set by the first metered allocation: the process's allocator is a [`Metered`].
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn count(delta: isize) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    // `try_with`: the thread may be tearing down its locals.
    let _ = METER.try_with(|m| {
        let meter = m.get();
        if meter.active {
            m.set(Meter {
                net: meter.net.saturating_add(delta),
                ..meter
            });
        }
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged and only adds to a thread-local counter, which never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Metered<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { self.0.dealloc(ptr, layout) };
        count(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(size(new_size) - size(layout.size()));
        }
        new
    }
}

/// True when the process allocates through a [`Metered`] allocator (so the memory budget
/// holds).
pub fn is_metered() -> bool {
    if !INSTALLED.load(Ordering::Relaxed) {
        // One allocation tells: a metered one sets the flag.
        drop(std::hint::black_box(Box::new(0u64)));
    }
    INSTALLED.load(Ordering::Relaxed)
}

/// The bytes this thread's evaluation holds now: allocated minus freed since it started.
pub(crate) fn used() -> usize {
    METER
        .try_with(|m| usize::try_from(m.get().net).unwrap_or(0))
        .unwrap_or(0)
}

/// Start metering this thread (a nested start keeps the outer count); stops on drop.
pub(crate) fn start() -> MeterGuard {
    let was_active = METER
        .try_with(|m| {
            let meter = m.get();
            if !meter.active {
                m.set(Meter {
                    active: true,
                    net: 0,
                });
            }
            meter.active
        })
        .unwrap_or(true);
    MeterGuard { was_active }
}

/// Stops the meter when the outermost evaluation ends.
pub(crate) struct MeterGuard {
    was_active: bool,
}

impl Drop for MeterGuard {
    fn drop(&mut self) {
        if !self.was_active {
            let _ = METER.try_with(|m| {
                m.set(Meter {
                    active: false,
                    net: 0,
                });
            });
        }
    }
}
