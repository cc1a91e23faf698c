//! The words of the language, as lists the parser's messages and the checker use. The grammar
//! (`grammar/workflow.pest`) is the authority: the tests below read it and fail when a list
//! and the grammar disagree.

/// The keywords that start a workflow item (the grammar's `item`).
pub const ITEM_KEYWORDS: &[&str] = &[
    "description",
    "labels",
    "timeout",
    "max_parallel",
    "rollback",
    "approval",
    "import",
    "param",
    "let",
    "step",
    "parallel",
    "verify",
    "finally",
];

/// The keywords that start a step item (the grammar's `step_item`).
pub const STEP_ITEM_KEYWORDS: &[&str] = &[
    "description",
    "action",
    "with",
    "timeout",
    "retry",
    "when",
    "on_failure",
    "rollback",
];

/// The keywords that start a param constraint (the grammar's `constraint`).
pub const CONSTRAINT_KEYWORDS: &[&str] = &["min", "max", "enum", "pattern", "description"];

/// The type names of a param (the grammar's `param_type`).
pub const PARAM_TYPES: &[&str] = &[
    "string", "int", "float", "bool", "duration", "list", "map", "any",
];

/// The modes of `rollback` (the grammar's `rollback_mode_kw`).
pub const ROLLBACK_MODES: &[&str] = &["automatic", "manual", "none"];

/// The policies of `on_failure` (the grammar's `on_failure_kw`).
pub const ON_FAILURE: &[&str] = &["rollback", "fail", "continue"];

/// Every reserved word of the language: the `kw_*` rules, the rollback modes, the on_failure
/// policies and the literals `true`, `false`, `null`. Type names are not reserved (a param may
/// be called `duration`).
pub const KEYWORDS: &[&str] = &[
    "workflow",
    "version",
    "description",
    "labels",
    "timeout",
    "max_parallel",
    "rollback",
    "automatic",
    "manual",
    "none",
    "approval",
    "required",
    "import",
    "as",
    "param",
    "let",
    "step",
    "after",
    "parallel",
    "verify",
    "within",
    "finally",
    "action",
    "with",
    "retry",
    "backoff",
    "max",
    "min",
    "when",
    "on_failure",
    "fail",
    "continue",
    "enum",
    "pattern",
    "true",
    "false",
    "null",
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::dsl::parser::{Rule, is_token};

    const GRAMMAR: &str = include_str!("../../grammar/workflow.pest");

    /// Each rule of the grammar by name, with its body (the text between its outer braces). A
    /// rule starts a line with `NAME = {`; its body ends on that line or at a line `}`.
    fn rules() -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        let mut lines = GRAMMAR.lines();
        while let Some(line) = lines.next() {
            let Some((name, rest)) = line.split_once(" = ") else {
                continue;
            };
            if name.starts_with(['/', ' ']) {
                continue;
            }
            let body = if rest.trim_end().ends_with('{') {
                lines
                    .by_ref()
                    .take_while(|l| *l != "}")
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                let (Some(open), Some(close)) = (rest.find('{'), rest.rfind('}')) else {
                    continue;
                };
                rest[open + 1..close].to_string()
            };
            out.insert(name.trim(), body);
        }
        out
    }

    /// The words in double quotes in a rule's body.
    fn quoted(body: &str) -> BTreeSet<String> {
        body.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// The word of the keyword each alternative of `rule` starts with.
    fn leading_keywords(rule: &str) -> BTreeSet<String> {
        let rules = rules();
        rules[rule]
            .split('|')
            .map(|alt| {
                let first = alt.trim();
                let kw = rules[first].split_whitespace().next().unwrap_or_default();
                let word: Vec<String> = quoted(&rules[kw]).into_iter().collect();
                assert_eq!(word.len(), 1, "{kw} matches one word");
                word[0].clone()
            })
            .collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn item_lists_are_the_grammars() {
        assert_eq!(set(ITEM_KEYWORDS), leading_keywords("item"));
        assert_eq!(set(STEP_ITEM_KEYWORDS), leading_keywords("step_item"));
        assert_eq!(set(CONSTRAINT_KEYWORDS), leading_keywords("constraint"));
    }

    #[test]
    fn word_lists_are_the_grammars() {
        let rules = rules();
        assert_eq!(set(PARAM_TYPES), quoted(&rules["param_type"]));
        assert_eq!(set(ROLLBACK_MODES), quoted(&rules["rollback_mode_kw"]));
        assert_eq!(set(ON_FAILURE), quoted(&rules["on_failure_kw"]));
        let reserved: BTreeSet<String> = rules
            .iter()
            .filter(|(name, _)| {
                name.starts_with("kw_")
                    || ["rollback_mode_kw", "on_failure_kw", "bool", "null"].contains(name)
            })
            .flat_map(|(_, body)| quoted(body))
            .collect();
        assert_eq!(set(KEYWORDS), reserved);
        assert_eq!(KEYWORDS.len(), reserved.len(), "no word twice");
    }

    #[test]
    fn every_keyword_rule_is_a_token_of_the_parser() {
        let kw_rules: Vec<Rule> = Rule::all_rules()
            .iter()
            .copied()
            .filter(|r| format!("{r:?}").starts_with("kw_"))
            .collect();
        let in_grammar = rules().keys().filter(|n| n.starts_with("kw_")).count();
        assert_eq!(kw_rules.len(), in_grammar);
        for rule in kw_rules {
            // `approval required`: the parser reads the keyword as the approval's kind.
            let content = rule == Rule::kw_required;
            assert_eq!(is_token(rule), !content, "{rule:?} in parser::is_token");
        }
    }
}
