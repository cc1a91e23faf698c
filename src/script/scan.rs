//! A light tokenizer over rhai source, enough to find which steps and which run-time
//! `workflow` fields an expression reads (`steps.NAME`, `steps["NAME"]`, `workflow.phase`).
//!
//! It skips comments, string and character literals, and scans the code inside a
//! back-tick string's `${ … }` interpolations.

/// A name an expression reads through a root variable: `steps.scale_out` or `workflow.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// The root variable (`steps`, `workflow`, `self`).
    pub root: &'static str,
    /// The field read (`scale_out`, `phase`); empty when the root is used as a whole.
    pub field: String,
    /// Byte range of `root…field` in the source.
    pub start: usize,
    /// End of that range.
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    Str(String),
    Punct(&'a str),
}

fn tokens(src: &str) -> Vec<(Token<'_>, usize, usize)> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    // Brace depth of each open back-tick interpolation, innermost last.
    let mut interpolations: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nest = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        nest += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' | b'\'' => {
                i += 1;
                let mut value = String::new();
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(ch) = src.get(i..).and_then(|s| s.chars().next()) {
                        value.push(ch);
                        i += ch.len_utf8();
                    } else {
                        i += 1;
                    }
                }
                i += 1;
                out.push((Token::Str(value), start, i.min(bytes.len())));
            }
            b'`' => i = skip_backtick_text(bytes, i + 1, &mut interpolations, depth),
            b'{' => {
                depth += 1;
                i += 1;
                out.push((Token::Punct("{"), start, i));
            }
            b'}' => {
                if interpolations.last() == Some(&depth) {
                    // The end of a `${ … }` inside a back-tick string: back to its text.
                    interpolations.pop();
                    i = skip_backtick_text(bytes, i + 1, &mut interpolations, depth);
                } else {
                    depth = depth.saturating_sub(1);
                    i += 1;
                    out.push((Token::Punct("}"), start, i));
                }
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push((Token::Ident(&src[start..i]), start, i));
            }
            _ => {
                let two = src.get(i..i + 2);
                let len = match two {
                    Some("::" | "?." | "?[") => 2,
                    _ => src
                        .get(i..)
                        .and_then(|s| s.chars().next())
                        .map_or(1, char::len_utf8),
                };
                i += len;
                out.push((Token::Punct(src.get(start..i).unwrap_or("")), start, i));
            }
        }
    }
    out
}

/// Skip the text of a back-tick string from `i`; stop after the closing back-tick, or after
/// a `${` (recording the brace depth its `}` will close).
fn skip_backtick_text(
    bytes: &[u8],
    mut i: usize,
    interpolations: &mut Vec<usize>,
    depth: usize,
) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'`' => return i + 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                interpolations.push(depth);
                return i + 2;
            }
            _ => i += 1,
        }
    }
    i
}

/// Every read of `steps.X`, `workflow.X` and `self.X` (or of the root as a whole), in order.
pub fn field_refs(src: &str) -> Vec<FieldRef> {
    let toks = tokens(src);
    let mut out = Vec::new();
    for (k, (tok, start, end)) in toks.iter().enumerate() {
        let Token::Ident(name) = tok else { continue };
        let root = match *name {
            "steps" => "steps",
            "workflow" => "workflow",
            "self" => "self",
            _ => continue,
        };
        // `x.steps` or `m::steps` is a property or a module item, not the variable.
        if k > 0 && matches!(toks[k - 1].0, Token::Punct("." | "?." | "::")) {
            continue;
        }
        let next = toks.get(k + 1).map(|t| &t.0);
        let field = match next {
            Some(Token::Punct("." | "?.")) => match toks.get(k + 2) {
                Some((Token::Ident(f), _, e)) => Some((f.to_string(), *e)),
                _ => None,
            },
            Some(Token::Punct("[" | "?[")) => match (toks.get(k + 2), toks.get(k + 3)) {
                (Some((Token::Str(f), _, _)), Some((Token::Punct("]"), _, e))) => {
                    Some((f.clone(), *e))
                }
                _ => None,
            },
            _ => None,
        };
        let (field, end) = field.unwrap_or_else(|| (String::new(), *end));
        out.push(FieldRef {
            root,
            field,
            start: *start,
            end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Vec<String> {
        field_refs(src)
            .into_iter()
            .map(|r| format!("{}.{}@{}", r.root, r.field, &src[r.start..r.end]))
            .collect()
    }

    #[test]
    fn finds_step_and_workflow_fields() {
        assert_eq!(
            refs(r#"steps.a.output.x + steps["b"].attempts"#),
            ["steps.a@steps.a", r#"steps.b@steps["b"]"#]
        );
        assert_eq!(
            refs("workflow.phase == \"Failed\""),
            ["workflow.phase@workflow.phase"]
        );
        assert_eq!(
            refs("self.output.previous_replicas"),
            ["self.output@self.output"]
        );
        assert_eq!(refs("len(steps)"), ["steps.@steps"]);
    }

    #[test]
    fn skips_strings_comments_and_properties() {
        assert!(refs(r#""steps.a" + 'x' // steps.b"#).is_empty());
        assert!(refs("/* steps.a /* nested */ steps.b */ analysis.steps").is_empty());
        assert!(refs("m::steps(1)").is_empty());
    }

    #[test]
    fn scans_code_inside_backtick_interpolation() {
        assert_eq!(
            refs("`phase ${workflow.phase} of ${ #{a: 1}.a + steps.x.attempts }` + steps.y"),
            [
                "workflow.phase@workflow.phase",
                "steps.x@steps.x",
                "steps.y@steps.y"
            ]
        );
    }
}
