//! Text to syntax tree: the pest grammar, the AST with spans, the parser and the formatter.

pub mod ast;
pub mod span;
