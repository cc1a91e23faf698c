//! Text to syntax tree: the pest grammar, the AST with spans, the parser and the formatter.

pub mod ast;
pub mod defaults;
pub mod keywords;
pub mod parser;
pub mod printer;
pub mod recover;
mod scan;
pub mod scripts;
mod syntax_error;

pub use parser::{parse, parse_bytes};
pub use printer::format;
pub use recover::parse_recovering;
pub use scan::MAX_DEPTH;
