//! The `remedy` binary.

/// mimalloc: the embedded cluster and the controllers allocate and free many small JSON
/// nodes from several threads; it keeps both the time and the resident memory of that lower
/// than the system allocator (measured in `benches/e2e.rs`). Built with `no_thp`: with
/// transparent huge pages its arenas were ≈ 30 MiB larger in resident memory for no gain.
/// `Metered` counts what a script evaluation holds, for the sandbox's memory limit.
#[global_allocator]
static ALLOCATOR: remedy::script::memory::Metered<mimalloc::MiMalloc> =
    remedy::script::memory::Metered(mimalloc::MiMalloc);

fn main() -> std::process::ExitCode {
    remedy::cli::main()
}
