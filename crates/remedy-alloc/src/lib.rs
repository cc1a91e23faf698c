//! Remedy's global-allocator wrappers, the project's only `unsafe` code.
//!
//! - [`Metered`] counts, per thread and only while a script evaluation runs there
//!   ([`start`]), the bytes allocated minus the bytes freed ([`used`]), so Remedy's script
//!   sandbox can stop a script that hoards memory. rhai checks the size of the values it builds
//!   from literals and function results, but not of a map or array grown by index assignment,
//!   so its own size limits alone let a script hold gigabytes.
//! - [`Counting`] counts the process's live bytes and their peak ([`live`], [`peak`],
//!   [`reset_peak`]), for tests that bound what an attack costs.
//! - [`purge_promptly`] makes mimalloc (the binary's allocator) give freed memory back to the
//!   system at once, for a long-running process whose memory should follow what it holds.
//!
//! Both forward every call to the allocator they wrap with the caller's arguments unchanged,
//! and only add to counters that never allocate (a const-initialised thread-local `Cell`, or
//! atomics). `remedy` itself compiles with `unsafe_code = "forbid"`; keeping the allocator
//! here, in a crate of its own, is what lets it.
//!
//! ```
//! #[global_allocator]
//! static A: remedy_alloc::Metered<std::alloc::System> = remedy_alloc::Metered(std::alloc::System);
//!
//! let meter = remedy_alloc::start();
//! let held = vec![0u8; 1 << 20];
//! assert!(remedy_alloc::used() >= 1 << 20);
//! drop(held);
//! drop(meter);
//! assert!(remedy_alloc::is_metered());
//! ```

mod purge;

pub use purge::{PURGE_DELAY_ENV, purge_delay, purge_promptly};

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

fn meter(delta: isize) {
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

fn signed(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged and only adds to a thread-local counter, which never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Metered<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            meter(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            meter(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { self.0.dealloc(ptr, layout) };
        meter(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            meter(signed(new_size) - signed(layout.size()));
        }
        new
    }
}

/// True when the process allocates through a [`Metered`] allocator (so a memory budget read
/// from [`used`] holds).
pub fn is_metered() -> bool {
    if !INSTALLED.load(Ordering::Relaxed) {
        // One allocation tells: a metered one sets the flag.
        drop(std::hint::black_box(Box::new(0u64)));
    }
    INSTALLED.load(Ordering::Relaxed)
}

/// The bytes this thread's evaluation holds now: allocated minus freed since the outermost
/// [`start`]; 0 when no meter runs on this thread.
pub fn used() -> usize {
    METER
        .try_with(|m| usize::try_from(m.get().net).unwrap_or(0))
        .unwrap_or(0)
}

/// Start metering this thread (a nested start keeps the outer count); stops when the guard
/// of the outermost start drops.
pub fn start() -> MeterGuard {
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
#[derive(Debug)]
pub struct MeterGuard {
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

/// A global allocator that counts the process's live bytes and their peak.
#[derive(Debug, Default)]
pub struct Counting<A>(pub A);

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE
        .fetch_add(bytes, Ordering::Relaxed)
        .saturating_add(bytes);
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged and only adds to atomics, which never allocate.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { self.0.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

/// The live bytes of a process whose allocator is a [`Counting`] (0 otherwise).
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most live bytes since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Start a new peak from the live bytes now.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}
