//! The async runtime of the long-running commands (`remedy run`, `remedy serve`,
//! `remedy operator`) and of the end-to-end benchmark, so that what is measured is what runs.

/// How many tasks a worker polls between two looks at timers and I/O (tokio's default is 61).
///
/// Every reconcile the controllers start goes through kube-runtime's scheduler, whose queue
/// releases even an immediate request on the runtime's timer. With busy workers, a look
/// every 61 polls left each step waiting milliseconds for that timer; every 4 polls keeps
/// the wait near the timer's own millisecond. Measured in `benches/e2e.rs`
/// (docs/performance.md, "End to end").
pub const EVENT_INTERVAL: u32 = 4;

/// A multi-threaded runtime (one worker per core) with timers and I/O, looking at them
/// every [`EVENT_INTERVAL`] polls.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .event_interval(EVENT_INTERVAL)
        .enable_all()
        .build()
}
