//! The language server (`remedy lsp`): diagnostics, hover, completion, navigation, rename,
//! outline, folding, semantic tokens, formatting and quick fixes for `.wf` templates and
//! their `.rhai` modules, on the same parser, checker and action catalog as `remedy lint`.
//!
//! | file | holds |
//! |---|---|
//! | `server.rs` | the protocol: open documents, scheduling, every request |
//! | `analysis.rs` | one analysed version of a document: tokens, tree, diagnostics, name index |
//! | `text.rs` | positions (UTF-16 or UTF-8) ⇄ offsets, incremental edits |
//! | `lex.rs` | a forgiving lexer, rhai tokens inside `${ … }` included |
//! | `context.rs` | the blocks and the step around the cursor |
//! | `complete.rs`, `hover.rs`, `navigate.rs`, `outline.rs`, `tokens.rs` | the features |
//! | `modules.rs`, `docs.rs` | module functions; what the docs say of names and keywords |

mod analysis;
mod complete;
mod context;
mod docs;
mod hover;
mod lex;
mod modules;
mod navigate;
mod outline;
mod server;
pub mod text;
mod tokens;

pub use analysis::{Analysis, DocKind, Input};
pub use complete::MAX_IMPORT_CANDIDATES;
pub use server::{Backend, Config, MAX_DOCUMENT_BYTES};

use tower_lsp_server::{ClientSocket, LspService, Server};

/// How many requests the server works on at once; notifications (typing) are never queued
/// behind more than this many slow answers.
pub const CONCURRENCY: usize = 64;

/// The service and its client socket, for driving the server in process.
pub fn service(config: Config) -> (LspService<Backend>, ClientSocket) {
    LspService::new(move |client| Backend::new(client, config))
}

/// Serve the protocol on a byte stream pair (stdin/stdout for `remedy lsp`) until `exit`.
pub async fn serve<I, O>(input: I, output: O, config: Config)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) = service(config);
    Server::new(input, output, socket)
        .concurrency_level(CONCURRENCY)
        .serve(service)
        .await;
}
