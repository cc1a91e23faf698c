//! Semantic tokens: keywords, literals and comments from the lexer; steps, params, lets,
//! aliases and module functions from the index (declarations marked); scope names and
//! built-ins inside expressions.

use std::collections::HashSet;

use tower_lsp_server::ls_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend,
};

use crate::diagnostic::Span;

use super::analysis::{Analysis, Sym};
use super::docs;
use super::lex::Kind;
use super::text::Encoding;

/// The token types, in legend order.
const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::METHOD,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::MACRO,
];

const KEYWORD: u32 = 0;
const STRING: u32 = 1;
const NUMBER: u32 = 2;
const COMMENT: u32 = 3;
const FUNCTION: u32 = 4;
const PARAMETER: u32 = 5;
const VARIABLE: u32 = 6;
const NAMESPACE: u32 = 7;
const METHOD: u32 = 8;
const PROPERTY: u32 = 9;
const TYPE: u32 = 10;
const ENUM_MEMBER: u32 = 11;
const MACRO: u32 = 12;

const DECLARATION: u32 = 1;
const READONLY: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;

/// The legend the server announces.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![
            SemanticTokenModifier::DECLARATION,
            SemanticTokenModifier::READONLY,
            SemanticTokenModifier::DEFAULT_LIBRARY,
        ],
    }
}

const ENUM_WORDS: &[&str] = &[
    "automatic",
    "manual",
    "none",
    "fail",
    "continue",
    "required",
];

const RHAI_KEYWORDS: &[&str] = &[
    "if", "else", "true", "false", "fn", "let", "const", "in", "for", "while", "loop", "return",
    "throw", "switch", "do", "until", "break", "continue", "try", "catch",
];

/// The semantic tokens of a template, relative-encoded as the protocol wants.
pub fn semantic_tokens(a: &Analysis, enc: Encoding) -> Vec<SemanticToken> {
    let params: HashSet<&str> = a
        .tree
        .as_ref()
        .map(|t| t.workflow.params().map(|p| p.name.name.as_str()).collect())
        .unwrap_or_default();
    let keywords = crate::check::rules::reserved_because;
    let mut raw: Vec<(Span, u32, u32)> = Vec::new();
    let mut occ = a.index.occurrences.iter().peekable();
    for (i, t) in a.tokens.iter().enumerate() {
        while occ.peek().is_some_and(|o| o.span.end <= t.span.start) {
            occ.next();
        }
        // An occurrence inside this token (a name, or a step named in `steps["x"]`).
        if let Some(o) = occ
            .peek()
            .filter(|o| o.span.start >= t.span.start && o.span.end <= t.span.end)
        {
            let ty = match &o.sym {
                Sym::Step(_) => FUNCTION,
                Sym::Value(n) if params.contains(n.as_str()) => PARAMETER,
                Sym::Value(_) => VARIABLE,
                Sym::Alias(_) => NAMESPACE,
                Sym::ModuleFn(..) => METHOD,
            };
            let mods =
                (if o.def { DECLARATION } else { 0 }) | (if ty == VARIABLE { READONLY } else { 0 });
            if o.span == t.span {
                raw.push((t.span, ty, mods));
                continue;
            }
        }
        let text = a.slice(t.span);
        let next_is = |s: &str| a.tokens.get(i + 1).is_some_and(|n| a.slice(n.span) == s);
        let prev_kind = i.checked_sub(1).map(|p| a.tokens[p].kind);
        let class = match t.kind {
            Kind::Comment => Some((COMMENT, 0)),
            Kind::Str | Kind::RhaiStr => Some((STRING, 0)),
            Kind::Number | Kind::Duration | Kind::RhaiNumber => Some((NUMBER, 0)),
            Kind::ExprOpen | Kind::ExprClose => Some((MACRO, 0)),
            Kind::Word
                if docs::PARAM_TYPES.contains(&text)
                    && i >= 1
                    && a.slice(a.tokens[i - 1].span) == ":" =>
            {
                Some((TYPE, 0))
            }
            Kind::Word if ENUM_WORDS.contains(&text) => Some((ENUM_MEMBER, 0)),
            Kind::Word if next_is(":") => Some((PROPERTY, 0)),
            Kind::Word if keywords(text).is_some() => Some((KEYWORD, 0)),
            Kind::RhaiIdent if prev_kind == Some(Kind::RhaiDot) => Some((PROPERTY, 0)),
            Kind::RhaiIdent if docs::ROOTS.iter().any(|(n, _)| *n == text) => {
                Some((VARIABLE, DEFAULT_LIBRARY | READONLY))
            }
            Kind::RhaiIdent if docs::BUILTINS.iter().any(|(n, _, _)| *n == text) => {
                Some((FUNCTION, DEFAULT_LIBRARY))
            }
            Kind::RhaiIdent if RHAI_KEYWORDS.contains(&text) => Some((KEYWORD, 0)),
            _ => None,
        };
        if let Some((ty, mods)) = class {
            raw.push((t.span, ty, mods));
        }
    }
    encode(a, enc, &raw)
}

/// Relative encoding; a token spanning lines (a block comment) becomes one per line.
fn encode(a: &Analysis, enc: Encoding, raw: &[(Span, u32, u32)]) -> Vec<SemanticToken> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut line, mut col) = (0u32, 0u32);
    for &(span, ty, mods) in raw {
        let mut start = span.start;
        while start < span.end {
            let end = a.text[start..span.end]
                .find('\n')
                .map_or(span.end, |n| start + n);
            let p = a.lines.position(&a.text, start, enc);
            let q = a.lines.position(&a.text, end, enc);
            let length = q.character.saturating_sub(p.character);
            if length > 0 {
                let delta_line = p.line - line;
                let delta_start = if delta_line == 0 {
                    p.character - col
                } else {
                    p.character
                };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length,
                    token_type: ty,
                    token_modifiers_bitset: mods,
                });
                line = p.line;
                col = p.character;
            }
            start = end + 1;
        }
    }
    out
}
