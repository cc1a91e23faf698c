//! pest's "expected rules at a position" turned into a sentence an author understands.

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::diagnostic::Diagnostic;

use super::parser::Rule;
use crate::diagnostic::Span;

use super::keywords::{
    CONSTRAINT_KEYWORDS, ITEM_KEYWORDS, ON_FAILURE, PARAM_TYPES, ROLLBACK_MODES, STEP_ITEM_KEYWORDS,
};

/// Whether `word` starts only a step item, to recognise an item written outside its step.
fn step_only(word: &str) -> bool {
    STEP_ITEM_KEYWORDS.contains(&word) && !ITEM_KEYWORDS.contains(&word)
}

/// Whether `word` starts only a workflow item, to recognise a missing `}` before one.
fn workflow_only(word: &str) -> bool {
    ITEM_KEYWORDS.contains(&word) && !STEP_ITEM_KEYWORDS.contains(&word)
}

/// An E0001 diagnostic saying what was expected where the grammar stopped, and what was found.
pub fn convert(text: &str, error: Error<Rule>) -> Diagnostic {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, found_span) = found_at(text, pos);
    let rules: Vec<Rule> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // Brackets read best last: "expected `,` or `}`".
    let mut ordered = rules.clone();
    ordered.sort_by_key(|r| match r {
        Rule::comma => 0,
        Rule::open | Rule::close | Rule::rbracket | Rule::expr_end | Rule::EOI => 2,
        _ => 1,
    });
    let mut phrases: Vec<&str> = Vec::new();
    for rule in &ordered {
        let p = phrase(*rule);
        if !phrases.contains(&p) {
            phrases.push(p);
        }
    }
    let message = if phrases.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&phrases))
    };
    let mut d = Diagnostic::error("E0001", message, found_span);
    if let Some(help) = help(
        &rules,
        text.get(found_span.start..found_span.end).unwrap_or(""),
    ) {
        d = d.with_help(help);
    }
    d
}

/// What stands at `pos`, in words, and its span.
fn found_at(text: &str, pos: usize) -> (String, Span) {
    let Some(rest) = text.get(pos..) else {
        return (
            "the end of the file".to_string(),
            Span::new(text.len(), text.len()),
        );
    };
    let Some(first) = rest.chars().next() else {
        return ("the end of the file".to_string(), Span::new(pos, pos));
    };
    if first.is_alphanumeric() || first == '_' {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let word = &rest[..len];
        return (format!("`{word}`"), Span::new(pos, pos + len));
    }
    let span = Span::new(pos, pos + first.len_utf8());
    let what = match first {
        '"' => "a string".to_string(),
        '$' if rest.starts_with("${") => "an expression `${ … }`".to_string(),
        c if c.is_whitespace() => "whitespace".to_string(),
        c => format!("`{c}`"),
    };
    (what, span)
}

/// The author's words for what a rule stands for.
fn phrase(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        EOI => "the end of the file (a file holds one workflow)",
        file | workflow | kw_workflow => "`workflow \"NAME\" version \"SEMVER\" { … }`",
        item => {
            "a workflow item (description, labels, timeout, max_parallel, rollback, approval, import, param, let, step, parallel, verify, finally)"
        }
        step_item => {
            "a step item (action, with, timeout, retry, when, on_failure, rollback, description)"
        }
        constraint | constraints => "a constraint (min, max, enum, pattern, description)",
        value => {
            "a value (a string, number, duration, true, false, null, list, map, `${ … }` or a name)"
        }
        duration => "a duration such as 30s or 5m",
        uint => "a whole number",
        int => "an integer",
        float => "a number",
        bool => "`true` or `false`",
        null => "`null`",
        string | string_text | escape | interp => "a string in double quotes",
        ident => "a name (lowercase letters, digits and `_`)",
        param_type => "a type (string, int, float, bool, duration, list, map, any)",
        rollback_mode_kw => "a rollback mode (automatic, manual or none)",
        on_failure_kw => "a failure policy (rollback, fail or continue)",
        expr | expr_source => "an expression `${ … }`",
        expr_end => "`}` closing the expression",
        map => "a map `{ key: value, … }`",
        map_entry => "a map entry `key: value`",
        list => "a list `[ … ]`",
        step | kw_step => "`step`",
        description | kw_description => "`description`",
        labels | kw_labels => "`labels`",
        timeout | kw_timeout => "`timeout`",
        max_parallel | kw_max_parallel => "`max_parallel`",
        rollback_mode | rollback_block | kw_rollback => "`rollback`",
        approval | kw_approval => "`approval`",
        kw_required => "`required`",
        import | kw_import => "`import`",
        kw_as => "`as`",
        param | kw_param => "`param`",
        let_item | kw_let => "`let`",
        c_min | kw_min => "`min`",
        c_max | kw_max => "`max`",
        c_enum | kw_enum => "`enum`",
        c_pattern | kw_pattern => "`pattern`",
        after | kw_after => "`after`",
        parallel | kw_parallel => "`parallel`",
        verify | kw_verify => "`verify`",
        kw_within => "`within`",
        finally | kw_finally => "`finally`",
        action | kw_action => "`action`",
        with | kw_with => "`with`",
        retry | kw_retry => "`retry`",
        kw_backoff => "`backoff`",
        when | kw_when => "`when`",
        on_failure | kw_on_failure => "`on_failure`",
        kw_version => "`version`",
        open => "`{`",
        close => "`}`",
        lbracket => "`[`",
        rbracket => "`]`",
        comma => "`,`",
        colon => "`:`",
        equals => "`=`",
        WHITESPACE | COMMENT | line_comment | block_comment | ident_char | expr_inner
        | expr_group | rhai_string => "valid syntax",
    }
}

/// The words a rule accepts, for "did you mean".
fn words(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::item => ITEM_KEYWORDS,
        Rule::step_item => STEP_ITEM_KEYWORDS,
        Rule::constraint => CONSTRAINT_KEYWORDS,
        Rule::param_type => PARAM_TYPES,
        Rule::rollback_mode_kw => ROLLBACK_MODES,
        Rule::on_failure_kw => ON_FAILURE,
        Rule::kw_within => &["within"],
        Rule::kw_after => &["after"],
        Rule::kw_as => &["as"],
        Rule::kw_version => &["version"],
        Rule::kw_backoff => &["backoff"],
        Rule::kw_required => &["required"],
        _ => &[],
    }
}

/// The expected word closest to `found` (an edit or two away), if any.
fn did_you_mean(rules: &[Rule], found: &str) -> Option<&'static str> {
    if found.is_empty() || !found.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    rules
        .iter()
        .flat_map(|r| words(*r).iter().copied())
        .map(|w| {
            // A word that begins the other (`auto`, `integer`) counts as one edit away.
            let prefix = found.len() >= 3 && (w.starts_with(found) || found.starts_with(w));
            let d = if prefix && w != found {
                1
            } else {
                edit_distance(found, w)
            };
            (d, w)
        })
        .filter(|&(d, w)| d > 0 && d <= if w.len() > 4 { 2 } else { 1 })
        .min_by_key(|&(d, _)| d)
        .map(|(_, w)| w)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A hint for common mistakes, from what was expected and the text found.
fn help(rules: &[Rule], found: &str) -> Option<String> {
    let has = |r: Rule| rules.contains(&r);
    if has(Rule::item) && step_only(found) {
        return Some(format!(
            "`{found}` belongs inside a `step NAME {{ … }}` block"
        ));
    }
    if has(Rule::step_item) && workflow_only(found) {
        return Some(format!(
            "`{found}` is a workflow item: is a `}}` missing to close the step above?"
        ));
    }
    if let Some(word) = did_you_mean(rules, found) {
        return Some(format!("did you mean `{word}`?"));
    }
    if found.is_empty() && has(Rule::close) {
        return Some(
            "the file ends inside a block: a `}` is missing (braces inside `${ … }` must balance too)"
                .to_string(),
        );
    }
    if has(Rule::duration) {
        return Some(
            "a duration is a whole number with a unit (ms, s, m or h): 250ms, 30s, 5m, 2h, 1h30m"
                .to_string(),
        );
    }
    if has(Rule::constraint) && found == "," {
        return Some(
            "constraints are separated by spaces, not commas: `{ min 1  max 4 }`".to_string(),
        );
    }
    if has(Rule::comma) && has(Rule::close) {
        return Some(if found == "]" {
            "is the map missing its closing `}`?".to_string()
        } else {
            "separate map entries with `,`".to_string()
        });
    }
    if has(Rule::comma) && has(Rule::rbracket) {
        return Some(if found == "}" {
            "is the list missing its closing `]`?".to_string()
        } else {
            "separate list elements with `,`".to_string()
        });
    }
    if has(Rule::expr) && !has(Rule::value) {
        return Some("write the condition as an expression: `${ … }`".to_string());
    }
    if has(Rule::kw_as) {
        return Some("an import names its module: `import \"PATH\" as ALIAS`".to_string());
    }
    if has(Rule::EOI) {
        return Some(
            "a `.wf` file holds exactly one workflow; is there a `}` too many?".to_string(),
        );
    }
    None
}

/// "a", "a or b", "a, b or c".
fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
