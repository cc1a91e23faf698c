//! The `remedy` binary.

fn main() -> std::process::ExitCode {
    remedy::cli::main()
}
