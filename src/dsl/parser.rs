//! Text to syntax tree: runs the scan, then the pest grammar, then builds the
//! [`ast`](super::ast) with spans. Purely syntactic: what the grammar accepts but the language
//! forbids is the checker's.

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};

use crate::diagnostic::Diagnostic;
use crate::units::duration;

use super::ast::*;
use super::scan;
use super::syntax_error;
use crate::diagnostic::Span;

mod grammar {
    #![allow(missing_docs)]
    use pest_derive::Parser;

    /// The pest parser generated from `grammar/workflow.pest`.
    #[derive(Parser)]
    #[grammar = "../grammar/workflow.pest"]
    pub struct WfParser;
}

pub(crate) use grammar::Rule;
use grammar::WfParser;

type R<T> = Result<T, Diagnostic>;

/// Parse a `.wf` file from bytes; invalid UTF-8 is reported (E0002) at its byte offset.
pub fn parse_bytes(bytes: &[u8]) -> Result<File, Diagnostic> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let start = e.valid_up_to();
            let len = e.error_len().unwrap_or(bytes.len() - start).max(1);
            Err(Diagnostic::error(
                "E0002",
                "invalid UTF-8: a workflow file must be UTF-8 text",
                Span::new(start, (start + len).min(bytes.len())),
            ))
        }
    }
}

/// Parse a `.wf` file: the syntax tree with spans and every comment, or the first syntax error.
pub fn parse(text: &str) -> Result<File, Diagnostic> {
    let comments = scan::scan(text)?;
    parse_pest(text, comments)
}

/// The tree pest's parser builds, after the scan found `comments`.
pub(super) fn parse_pest(text: &str, comments: Vec<Comment>) -> Result<File, Diagnostic> {
    parse_pest_raw(text, comments).map_err(|failure| match failure {
        PestFailure::Grammar(e) => syntax_error::convert(text, *e),
        PestFailure::Tree(d) => d,
    })
}

/// Why pest's parse gave no tree: the grammar stopped (with what it expected where, which
/// error recovery reads), or the tree had a bad literal or name.
pub(super) enum PestFailure {
    /// The text does not follow the grammar.
    Grammar(Box<pest::error::Error<Rule>>),
    /// The text follows the grammar, but a literal or name in it is invalid.
    Tree(Diagnostic),
}

/// [`parse_pest`], keeping pest's own error.
pub(super) fn parse_pest_raw(text: &str, comments: Vec<Comment>) -> Result<File, PestFailure> {
    let mut pairs =
        WfParser::parse(Rule::file, text).map_err(|e| PestFailure::Grammar(Box::new(e)))?;
    build(&mut pairs, comments).map_err(PestFailure::Tree)
}

fn build(pairs: &mut Pairs<'_, Rule>, comments: Vec<Comment>) -> Result<File, Diagnostic> {
    let file = pairs.next().ok_or_else(|| internal(Span::new(0, 0)))?;
    let span = span_of(&file);
    let wf = Kids::of(file)
        .next_is(Rule::workflow)
        .map_err(|_| internal(span))?;
    Ok(File {
        workflow: workflow(wf)?,
        comments,
    })
}

fn internal(span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0001",
        "internal parser error: unexpected tree shape",
        span,
    )
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// True for rules that carry no content (keywords and punctuation).
pub(super) fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        open | close
            | lbracket
            | rbracket
            | comma
            | colon
            | equals
            | expr_end
            | EOI
            | kw_workflow
            | kw_version
            | kw_description
            | kw_labels
            | kw_timeout
            | kw_max_parallel
            | kw_rollback
            | kw_approval
            | kw_import
            | kw_as
            | kw_param
            | kw_let
            | kw_min
            | kw_max
            | kw_enum
            | kw_pattern
            | kw_step
            | kw_after
            | kw_parallel
            | kw_verify
            | kw_within
            | kw_finally
            | kw_action
            | kw_with
            | kw_retry
            | kw_backoff
            | kw_when
            | kw_on_failure
    )
}

/// The meaningful children of a pair, in order.
struct Kids<'i> {
    pairs: std::iter::Peekable<Pairs<'i, Rule>>,
    span: Span,
}

impl<'i> Kids<'i> {
    fn of(pair: Pair<'i, Rule>) -> Self {
        Kids {
            span: span_of(&pair),
            pairs: pair.into_inner().peekable(),
        }
    }

    fn skip_tokens(&mut self) {
        while self.pairs.peek().is_some_and(|p| is_token(p.as_rule())) {
            self.pairs.next();
        }
    }

    /// The next meaningful child, whatever it is.
    fn next(&mut self) -> R<Pair<'i, Rule>> {
        self.skip_tokens();
        self.pairs.next().ok_or_else(|| internal(self.span))
    }

    /// The next meaningful child, which must be `rule`.
    fn next_is(&mut self, rule: Rule) -> R<Pair<'i, Rule>> {
        let p = self.next()?;
        if p.as_rule() == rule {
            Ok(p)
        } else {
            Err(internal(span_of(&p)))
        }
    }

    /// The next meaningful child if it is `rule`.
    fn next_if(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        self.skip_tokens();
        if self.pairs.peek().is_some_and(|p| p.as_rule() == rule) {
            self.pairs.next()
        } else {
            None
        }
    }

    /// The remaining meaningful children.
    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.pairs.filter(|p| !is_token(p.as_rule()))
    }
}

fn workflow(pair: Pair<'_, Rule>) -> R<Workflow> {
    let span = span_of(&pair);
    let mut k = Kids::of(pair);
    let name = plain_string(k.next_is(Rule::string)?, "the workflow name")?;
    let version = plain_string(k.next_is(Rule::string)?, "the workflow version")?;
    let items = k.rest().map(item).collect::<R<Vec<_>>>()?;
    Ok(Workflow {
        name,
        version,
        items,
        span,
    })
}

fn item(pair: Pair<'_, Rule>) -> R<Item> {
    let inner = Kids::of(pair).next()?;
    let span = span_of(&inner);
    Ok(match inner.as_rule() {
        Rule::description => Item::Description(description(inner)?),
        Rule::labels => Item::Labels(Labels {
            map: map(Kids::of(inner).next_is(Rule::map)?)?,
            span,
        }),
        Rule::timeout => Item::Timeout(timeout(inner)?),
        Rule::max_parallel => {
            let n = Kids::of(inner).next_is(Rule::uint)?;
            Item::MaxParallel(MaxParallel {
                value: uint(&n)?,
                value_span: span_of(&n),
                span,
            })
        }
        Rule::rollback_mode => {
            let kw = Kids::of(inner).next_is(Rule::rollback_mode_kw)?;
            let mode = match kw.as_str() {
                "automatic" => RollbackMode::Automatic,
                "manual" => RollbackMode::Manual,
                _ => RollbackMode::None,
            };
            Item::RollbackMode(RollbackModeItem { mode, span })
        }
        Rule::approval => {
            let x = Kids::of(inner).next()?;
            let kind = match x.as_rule() {
                Rule::kw_required => ApprovalKind::Required,
                _ => ApprovalKind::When(expr(x)?),
            };
            Item::Approval(Approval { kind, span })
        }
        Rule::import => {
            let mut k = Kids::of(inner);
            let path = plain_string(k.next_is(Rule::string)?, "an import path")?;
            let alias = ident(k.next_is(Rule::ident)?)?;
            Item::Import(Import { path, alias, span })
        }
        Rule::param => Item::Param(param(inner)?),
        Rule::let_item => {
            let mut k = Kids::of(inner);
            let name = ident(k.next_is(Rule::ident)?)?;
            let value = value(k.next_is(Rule::value)?)?;
            Item::Let(Let { name, value, span })
        }
        Rule::step => Item::Step(step(inner)?),
        Rule::parallel => Item::Parallel(Parallel {
            steps: steps(inner)?,
            span,
        }),
        Rule::verify => {
            let mut k = Kids::of(inner);
            let within = k
                .next_if(Rule::duration)
                .map(|d| duration(&d))
                .transpose()?;
            let steps = k.rest().map(step).collect::<R<Vec<_>>>()?;
            Item::Verify(Verify {
                within,
                steps,
                span,
            })
        }
        Rule::finally => Item::Finally(Finally {
            steps: steps(inner)?,
            span,
        }),
        _ => return Err(internal(span)),
    })
}

fn steps(pair: Pair<'_, Rule>) -> R<Vec<Step>> {
    Kids::of(pair).rest().map(step).collect()
}

fn description(pair: Pair<'_, Rule>) -> R<Description> {
    let span = span_of(&pair);
    Ok(Description {
        text: string_lit(Kids::of(pair).next_is(Rule::string)?)?,
        span,
    })
}

fn timeout(pair: Pair<'_, Rule>) -> R<TimeoutItem> {
    let span = span_of(&pair);
    Ok(TimeoutItem {
        duration: duration(&Kids::of(pair).next_is(Rule::duration)?)?,
        span,
    })
}

fn param(pair: Pair<'_, Rule>) -> R<Param> {
    let span = span_of(&pair);
    let mut k = Kids::of(pair);
    let name = ident(k.next_is(Rule::ident)?)?;
    let ty_pair = k.next_is(Rule::param_type)?;
    let ty = ParamType::from_keyword(ty_pair.as_str()).unwrap_or(ParamType::Any);
    let default = k.next_if(Rule::value).map(value).transpose()?;
    let mut constraints = Vec::new();
    if let Some(cs) = k.next_if(Rule::constraints) {
        for c in Kids::of(cs).rest() {
            let inner = Kids::of(c).next()?;
            let cspan = span_of(&inner);
            let kind = match inner.as_rule() {
                Rule::c_min => ConstraintKind::Min(value(Kids::of(inner).next_is(Rule::value)?)?),
                Rule::c_max => ConstraintKind::Max(value(Kids::of(inner).next_is(Rule::value)?)?),
                Rule::c_enum => {
                    let list = Kids::of(inner).next_is(Rule::list)?;
                    ConstraintKind::Enum(Kids::of(list).rest().map(value).collect::<R<_>>()?)
                }
                Rule::c_pattern => ConstraintKind::Pattern(plain_string(
                    Kids::of(inner).next_is(Rule::string)?,
                    "a pattern",
                )?),
                Rule::description => ConstraintKind::Description(description(inner)?.text),
                _ => return Err(internal(cspan)),
            };
            constraints.push(Constraint { kind, span: cspan });
        }
    }
    Ok(Param {
        name,
        ty,
        ty_span: span_of(&ty_pair),
        default,
        constraints,
        span,
    })
}

fn step(pair: Pair<'_, Rule>) -> R<Step> {
    let span = span_of(&pair);
    let mut k = Kids::of(pair);
    let name = ident(k.next_is(Rule::ident)?)?;
    let after = match k.next_if(Rule::after) {
        Some(a) => Kids::of(a).rest().map(ident).collect::<R<Vec<_>>>()?,
        None => Vec::new(),
    };
    let items = k.rest().map(step_item).collect::<R<Vec<_>>>()?;
    Ok(Step {
        name,
        after,
        items,
        span,
    })
}

fn step_item(pair: Pair<'_, Rule>) -> R<StepItem> {
    let inner = Kids::of(pair).next()?;
    let span = span_of(&inner);
    Ok(match inner.as_rule() {
        Rule::description => StepItem::Description(description(inner)?),
        Rule::action => StepItem::Action(ActionItem {
            name: plain_string(Kids::of(inner).next_is(Rule::string)?, "an action type")?,
            span,
        }),
        Rule::with => StepItem::With(With {
            map: map(Kids::of(inner).next_is(Rule::map)?)?,
            span,
        }),
        Rule::timeout => StepItem::Timeout(timeout(inner)?),
        Rule::retry => {
            let mut k = Kids::of(inner);
            let count = uint(&k.next_is(Rule::uint)?)?;
            let backoff = k
                .next_if(Rule::duration)
                .map(|d| duration(&d))
                .transpose()?;
            let max = k
                .next_if(Rule::duration)
                .map(|d| duration(&d))
                .transpose()?;
            StepItem::Retry(Retry {
                count,
                backoff,
                max,
                span,
            })
        }
        Rule::when => StepItem::When(When {
            expr: expr(Kids::of(inner).next_is(Rule::expr)?)?,
            span,
        }),
        Rule::on_failure => {
            let kw = Kids::of(inner).next_is(Rule::on_failure_kw)?;
            let policy = match kw.as_str() {
                "rollback" => OnFailure::Rollback,
                "fail" => OnFailure::Fail,
                _ => OnFailure::Continue,
            };
            StepItem::OnFailure(OnFailureItem { policy, span })
        }
        Rule::rollback_block => StepItem::Rollback(RollbackBlock {
            items: Kids::of(inner)
                .rest()
                .map(step_item)
                .collect::<R<Vec<_>>>()?,
            span,
        }),
        _ => return Err(internal(span)),
    })
}

// ---- values ---------------------------------------------------------------------------------

fn value(pair: Pair<'_, Rule>) -> R<Value> {
    let inner = Kids::of(pair).next()?;
    let span = span_of(&inner);
    let kind = match inner.as_rule() {
        Rule::string => ValueKind::String(string_lit(inner)?),
        Rule::duration => ValueKind::Duration(duration(&inner)?),
        Rule::float => {
            let text = inner.as_str();
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => ValueKind::Float(f, text.to_string()),
                _ => {
                    return Err(Diagnostic::error(
                        "E0004",
                        format!("the number `{text}` is out of range"),
                        span,
                    ));
                }
            }
        }
        Rule::int => ValueKind::Int(inner.as_str().parse::<i64>().map_err(|_| {
            Diagnostic::error(
                "E0004",
                format!("the integer `{}` is too large", inner.as_str()),
                span,
            )
            .with_help(format!("integers range from {} to {}", i64::MIN, i64::MAX))
        })?),
        Rule::bool => ValueKind::Bool(inner.as_str() == "true"),
        Rule::null => ValueKind::Null,
        Rule::list => ValueKind::List(Kids::of(inner).rest().map(value).collect::<R<_>>()?),
        Rule::map => ValueKind::Map(map(inner)?),
        Rule::expr => ValueKind::Expr(expr(inner)?),
        Rule::ident => ValueKind::Ident(ident(inner)?),
        _ => return Err(internal(span)),
    };
    Ok(Value { kind, span })
}

fn map(pair: Pair<'_, Rule>) -> R<MapLit> {
    let span = span_of(&pair);
    let mut entries = Vec::new();
    for entry in Kids::of(pair).rest() {
        let espan = span_of(&entry);
        let mut k = Kids::of(entry);
        let key_pair = k.next()?;
        let key = match key_pair.as_rule() {
            Rule::ident => {
                let id = ident_checked(key_pair, true)?;
                MapKey {
                    name: id.name,
                    quoted: false,
                    span: id.span,
                }
            }
            _ => {
                let s = plain_string(key_pair, "a map key")?;
                MapKey {
                    name: s.value,
                    quoted: true,
                    span: s.span,
                }
            }
        };
        let (value, shorthand) = match k.next_if(Rule::value) {
            Some(v) => (value(v)?, false),
            None => (
                Value {
                    kind: ValueKind::Ident(Ident {
                        name: key.name.clone(),
                        span: key.span,
                    }),
                    span: key.span,
                },
                true,
            ),
        };
        entries.push(MapEntry {
            key,
            value,
            shorthand,
            span: espan,
        });
    }
    Ok(MapLit { entries, span })
}

fn ident(pair: Pair<'_, Rule>) -> R<Ident> {
    ident_checked(pair, false)
}

/// A name; `[a-z][a-z0-9_]*` or an error that says so (and how to quote a map key).
fn ident_checked(pair: Pair<'_, Rule>, map_key: bool) -> R<Ident> {
    let name = pair.as_str();
    let span = span_of(&pair);
    if !valid_name(name) {
        let help = if map_key {
            format!(
                "a name is lowercase letters, digits and `_`, starting with a letter; quote other keys: \"{name}\""
            )
        } else {
            "a name is lowercase letters, digits and `_`, starting with a letter".to_string()
        };
        return Err(
            Diagnostic::error("E0001", format!("`{name}` is not a valid name"), span)
                .with_help(help),
        );
    }
    Ok(Ident {
        name: name.to_string(),
        span,
    })
}

/// True for a name of the language: `[a-z][a-z0-9_]*`.
pub(super) fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn uint(pair: &Pair<'_, Rule>) -> R<u64> {
    pair.as_str().parse::<u64>().map_err(|_| {
        Diagnostic::error(
            "E0004",
            format!("the number `{}` is too large", pair.as_str()),
            span_of(pair),
        )
    })
}

fn duration(pair: &Pair<'_, Rule>) -> R<DurationLit> {
    let span = span_of(pair);
    let millis = duration::parse_millis(pair.as_str()).map_err(|e| {
        Diagnostic::error(
            "E0004",
            format!("invalid duration `{}`: {}", pair.as_str(), e.problem),
            span,
        )
        .with_help("a duration is numbers with units ms, s, m or h, largest first: 250ms, 30s, 5m, 2h, 1h30m")
    })?;
    Ok(DurationLit { millis, span })
}

// ---- strings and expressions ----------------------------------------------------------------

fn plain_string(pair: Pair<'_, Rule>, what: &str) -> R<PlainString> {
    let lit = string_lit(pair)?;
    for part in &lit.parts {
        if let StringPart::Expr(e) = part {
            return Err(Diagnostic::error(
                "E0001",
                format!("{what} cannot contain `${{ … }}`"),
                e.span,
            )
            .with_help("write the text literally; to keep a `$` before `{`, write `\\$`"));
        }
    }
    Ok(PlainString {
        value: lit.as_plain().unwrap_or_default(),
        span: lit.span,
    })
}

fn string_lit(pair: Pair<'_, Rule>) -> R<StringLit> {
    let span = span_of(&pair);
    let mut parts: Vec<StringPart> = Vec::new();
    let push_text = |parts: &mut Vec<StringPart>, s: &str| {
        if let Some(StringPart::Text(t)) = parts.last_mut() {
            t.push_str(s);
        } else {
            parts.push(StringPart::Text(s.to_string()));
        }
    };
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::string_text => push_text(&mut parts, p.as_str()),
            Rule::escape => {
                let c = unescape(&p)?;
                push_text(&mut parts, c.encode_utf8(&mut [0; 4]));
            }
            Rule::interp => parts.push(StringPart::Expr(expr(p)?)),
            _ => return Err(internal(span_of(&p))),
        }
    }
    Ok(StringLit { parts, span })
}

fn unescape(pair: &Pair<'_, Rule>) -> R<char> {
    let text = pair.as_str();
    unescape_body(text.get(1..).unwrap_or("")).map_err(|why| {
        Diagnostic::error(
            "E0004",
            format!("invalid escape `{text}`{why}"),
            span_of(pair),
        )
        .with_help("the escapes are \\\" \\\\ \\n \\r \\t \\$ and \\u{…} with 1 to 6 hex digits")
    })
}

/// The character of an escape, given what follows its `\`; or what is wrong with it (to follow
/// "invalid escape `…`").
pub(super) fn unescape_body(body: &str) -> Result<char, &'static str> {
    Ok(match body {
        "\"" => '"',
        "\\" => '\\',
        "n" => '\n',
        "r" => '\r',
        "t" => '\t',
        "$" => '$',
        _ => {
            let Some(hex) = body.strip_prefix("u{").and_then(|b| b.strip_suffix('}')) else {
                return Err("");
            };
            if hex.is_empty() || hex.len() > 6 {
                return Err(": expected 1 to 6 hex digits");
            }
            u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(": not a Unicode scalar value")?
        }
    })
}

fn expr(pair: Pair<'_, Rule>) -> R<Expr> {
    let span = span_of(&pair);
    let src = Kids::of(pair).next_is(Rule::expr_source)?;
    Ok(Expr {
        source: src.as_str().to_string(),
        source_span: span_of(&src),
        span,
    })
}
