//! The `remedy` binary.

/// mimalloc: the embedded cluster and the controllers allocate and free many small JSON
/// nodes from several threads; it keeps both the time and the resident memory of that lower
/// than the system allocator (measured in `benches/e2e.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    remedy::cli::main()
}
