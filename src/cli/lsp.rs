//! `remedy lsp`: the language server on stdin/stdout (see docs/editors.md).

use std::process::ExitCode;

use clap::Args;

use crate::lsp::{Config, serve};

/// Arguments of `remedy lsp`.
#[derive(Debug, Args)]
pub struct LspArgs {
    /// Speak the protocol on stdin/stdout (the only transport; accepted because editors pass it).
    #[arg(long)]
    pub stdio: bool,
    /// A namespace to protect on top of the built-in ones (repeatable), as for `remedy lint`.
    #[arg(long = "protect-namespace", value_name = "NAMESPACE")]
    pub protected_namespaces: Vec<String>,
}

/// Run the language server until the client says `exit`: 0, or 2 if the runtime cannot start.
pub fn run(args: &LspArgs) -> ExitCode {
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let config = Config {
        protected_namespaces: args.protected_namespaces.clone(),
    };
    runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout(), config));
    // stdin may still be blocked in a read; do not wait for it.
    runtime.shutdown_background();
    ExitCode::SUCCESS
}
