//! The meter and the counts, under the allocators they describe.

use std::alloc::System;

#[global_allocator]
static ALLOCATOR: remedy_alloc::Counting<remedy_alloc::Metered<System>> =
    remedy_alloc::Counting(remedy_alloc::Metered(System));

/// One test at a time: the live count is the process's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_meter_counts_what_its_thread_holds_and_nothing_outside_it() {
    let _one = serial();
    // Unmetered: nothing counted.
    let before = vec![0u8; 4096];
    assert_eq!(remedy_alloc::used(), 0);

    let meter = remedy_alloc::start();
    let held = vec![0u8; 1 << 20];
    assert!(remedy_alloc::used() >= 1 << 20, "{}", remedy_alloc::used());
    // The count is net: freeing what was allocated before the meter started lowers it.
    drop(before);
    let after_free = remedy_alloc::used();
    assert!(after_free >= (1 << 20) - 4096, "{after_free}");
    // Growing by reallocation counts the growth.
    let mut grown = Vec::<u8>::with_capacity(16);
    grown.resize(2 << 20, 1);
    assert!(
        remedy_alloc::used() >= (3 << 20) - 4096,
        "{}",
        remedy_alloc::used()
    );
    drop(grown);
    drop(held);
    assert!(remedy_alloc::used() < 1 << 20, "{}", remedy_alloc::used());

    // Another thread's allocations are its own.
    std::thread::spawn(|| {
        let _elsewhere = vec![0u8; 8 << 20];
        assert_eq!(remedy_alloc::used(), 0);
    })
    .join()
    .map_err(|_| "thread panicked")
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(remedy_alloc::used() < 1 << 20);

    drop(meter);
    assert_eq!(remedy_alloc::used(), 0);
    assert!(remedy_alloc::is_metered());
}

#[test]
fn a_nested_start_keeps_the_outer_count() {
    let _one = serial();
    std::thread::spawn(|| {
        let outer = remedy_alloc::start();
        let held = vec![0u8; 1 << 20];
        let inner = remedy_alloc::start();
        assert!(remedy_alloc::used() >= 1 << 20);
        drop(inner);
        // The inner guard's drop does not stop or reset the outer meter.
        assert!(remedy_alloc::used() >= 1 << 20);
        drop(held);
        drop(outer);
        assert_eq!(remedy_alloc::used(), 0);
    })
    .join()
    .map_err(|_| "thread panicked")
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_counts_follow_live_bytes_and_their_peak() {
    let _one = serial();
    remedy_alloc::reset_peak();
    let base = remedy_alloc::live();
    // The harness's other threads allocate and free meanwhile: allow them 1 MiB either way.
    let slack = 1 << 20;
    let big = std::hint::black_box(vec![1u8; 16 << 20]);
    assert!(remedy_alloc::live() + slack >= base + (16 << 20));
    drop(big);
    assert!(remedy_alloc::live() < base + slack);
    assert!(remedy_alloc::peak() + slack >= base + (16 << 20));
}
