//! `docs/rules.md`, generated from the rules' documentation (a test keeps the checked-in
//! file current).

use crate::check::rules::RULES;

/// The codes the template loader reports about a file as a whole (`template::loader`):
/// code, name, what it finds.
pub const LOADER_CODES: &[(&str, &str, &str)] = &[
    (
        "E0005",
        "refused_file",
        "the file resolves (through a symlink) outside the template directory, is not a regular file, or is larger than 256 KiB",
    ),
    (
        "E0006",
        "duplicate_template",
        "another file of the same directory declares the same `name@version`; neither is served",
    ),
];

/// The rule reference, `docs/rules.md`, generated from the rules' documentation.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# Lint rules\n\n\
         <!-- Generated from the rule files in src/check/rules/ by \
         `UPDATE_RULES_DOC=1 cargo test --test lint rules_doc`; do not edit by hand. -->\n\n\
         `remedy lint PATH…` checks `.wf` files (directories are searched recursively) and \
         reports these findings. Errors make the template unusable; warnings fail lint only \
         with `--deny-warnings`. Codes are stable.\n\n\
         - `--format human` (default): `path:line:col: error[CODE]: message`, the source \
         line with the span underlined, related places, `= help: …`, and a closing \
         `checked N files: E errors, W warnings` line.\n\
         - `--format json`: an array of objects with file, code, severity, message, line, \
         column, end_line, end_column (exclusive), labels and help.\n\
         - `--format sarif`: SARIF 2.1.0 for GitHub code scanning.\n\
         - `--protect-namespace NS` (repeatable) protects a namespace on top of kube-system, \
         kube-public, kube-node-lease and remedy-system.\n\
         - `--explain CODE` prints one rule's documentation (by code or name).\n\n\
         Exit codes: 0 clean (warnings allowed), 1 errors (or warnings with \
         `--deny-warnings`), 2 usage or I/O error (missing path, unreadable file).\n\n\
         Values written as expressions (`${ … }`) and params without a literal default are \
         checked again at Validating, with the resolved values.\n\n\
         | code | name | severity | finds |\n|---|---|---|---|\n",
    );
    for (code, name, summary) in crate::check::render::SYNTAX_CODES {
        out.push_str(&format!("| {code} | {name} | error | {summary} |\n"));
    }
    for (code, name, summary) in LOADER_CODES {
        out.push_str(&format!("| {code} | {name} | error | {summary} |\n"));
    }
    for rule in RULES {
        let i = &rule.info;
        out.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            i.code,
            i.code.to_lowercase(),
            i.name,
            i.severity.as_str(),
            i.summary
        ));
    }
    out.push_str(
        "\nSyntax errors (E0001–E0004) come from the parser: the message says what was \
         expected where. E0005 and E0006 come from the loader, which reads every template the \
         way the operator does: a file is read only from inside the template directory, as a \
         regular file of at most 256 KiB, and a directory may declare each `name@version` \
         once (see docs/operations.md, \"Limits\").\n",
    );
    for rule in RULES {
        let i = &rule.info;
        out.push_str(&format!(
            "\n## {}\n\n`{}` · {}\n\n{}\n",
            i.code,
            i.name,
            i.severity.as_str(),
            i.doc_text()
        ));
    }
    out
}
