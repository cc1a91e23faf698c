//! The layers of `src/`, enforced: ARCHITECTURE.md's dependency table says which crate modules
//! each top-level module may import, lowest first; this test reads every `src/**/*.rs` for
//! the crate modules it names (`use crate::x`, `use crate::{x, y}`, and paths such as
//! `crate::x::f()` in code) and fails on any the table does not allow, naming file, line and
//! rule. It also fails when a module has no row, a row names no module, a row allows a module
//! that is not below it (so the table itself is a layering), or a row allows one the module
//! does not import (so the table stays exact).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The heading of the section holding the table.
const SECTION: &str = "## Layers";

/// The dependency table: each module with the modules it may import, in the order written
/// (lowest first), and the listed exceptions (a file allowed one module its row does not).
#[derive(Debug, Default)]
struct Table {
    rows: Vec<(String, BTreeSet<String>)>,
    exceptions: BTreeSet<(String, String)>,
}

impl Table {
    fn allowed(&self, module: &str) -> Option<&BTreeSet<String>> {
        self.rows.iter().find(|(m, _)| m == module).map(|(_, a)| a)
    }
}

/// The names between backticks in `text`, in order.
fn ticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.trim().to_string())
        .collect()
}

/// Reads the table of the `## Layers` section: rows `| `module` | `a`, `b` |` (a dash for
/// none) and exception lines `- `src/path.rs` imports `module`: why`.
fn parse_table(markdown: &str) -> Result<Table, Vec<String>> {
    let mut table = Table::default();
    let mut errors = Vec::new();
    let markdown = format!("\n{markdown}");
    let Some(start) = markdown.find(&format!("\n{SECTION}\n")) else {
        return Err(vec![format!("ARCHITECTURE.md has no `{SECTION}` section")]);
    };
    let section = &markdown[start + 1 + SECTION.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    for line in section.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("| `") {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            let (Some(name), Some(imports)) = (cells.first(), cells.get(1)) else {
                errors.push(format!("a table row has fewer than two cells: {line}"));
                continue;
            };
            let Some(module) = ticked(name).into_iter().next() else {
                errors.push(format!("a table row names no module: {rest}"));
                continue;
            };
            let allowed: BTreeSet<String> = ticked(imports).into_iter().collect();
            if table.allowed(&module).is_some() {
                errors.push(format!("`{module}` has two rows"));
            }
            for a in &allowed {
                if table.allowed(a).is_none() {
                    errors.push(format!(
                        "`{module}` may import `{a}`, which is not a row above it: the table \
                         lists modules lowest first, each importing only rows above"
                    ));
                }
            }
            table.rows.push((module, allowed));
        } else if line.starts_with("- `src/") && line.contains("` imports `") {
            let names = ticked(line);
            if let [file, module, ..] = names.as_slice() {
                table.exceptions.insert((file.clone(), module.clone()));
            }
        }
    }
    if table.rows.is_empty() {
        errors.push(format!("the `{SECTION}` section has no table rows"));
    }
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(errors)
    }
}

/// `text` with comments blanked (newlines kept, so offsets keep their lines): a doc link or a
/// note naming a module is not an import. String literals are kept as they are.
fn without_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' && i + 1 < bytes.len() {
                out.push_str(&text[i..i + 2]);
                i += 2;
                continue;
            }
            in_string = c != b'"';
        } else if c == b'\'' {
            // A char literal (`'"'`, `'\''`) is copied whole; a lifetime is just a quote.
            let rest = &text[i + 1..];
            let len = if rest.starts_with('\\') {
                rest[2..].find('\'').map(|n| n + 3)
            } else {
                let mut chars = rest.chars();
                let first = chars.next().map_or(0, char::len_utf8);
                (chars.next() == Some('\'')).then_some(first + 1)
            };
            if let Some(len) = len {
                out.push_str(&text[i..=i + len]);
                i += len + 1;
                continue;
            }
        } else if let Some(hashes) = raw_string_start(&text[i..], i == 0 || !is_ident(bytes[i - 1]))
        {
            // A raw string ends only at its own `"#…`; copied whole.
            let open = 1 + hashes + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = text[i + open..]
                .find(&close)
                .map_or(text.len(), |n| i + open + n + close.len());
            out.push_str(&text[i..end]);
            i = end;
            continue;
        } else if c == b'"' {
            in_string = true;
        } else if text[i..].starts_with("//") {
            let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            out.extend(std::iter::repeat_n(' ', end - i));
            i = end;
            continue;
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(text.len(), |n| i + 2 + n + 2);
            out.extend(
                text[i..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
            i = end;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The number of `#` of a raw string (`r"`, `r#"`, `br##"`…) starting `text`, if one does.
fn raw_string_start(text: &str, at_word_start: bool) -> Option<usize> {
    let rest = text.strip_prefix("br").or_else(|| text.strip_prefix('r'))?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    (at_word_start && rest[hashes..].starts_with('"')).then_some(hashes)
}

fn ident_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every crate module `text` names, with its 1-based line: the first segment after each
/// `crate::`, and every first segment of a `crate::{…}` group.
fn imports(text: &str) -> Vec<(usize, String)> {
    let code = without_comments(text);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `my_crate::`, not this crate
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item at depth one of the group.
            let mut depth = 1;
            let mut expect_item = true;
            for (offset, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_item = true,
                    c if c.is_whitespace() => {}
                    _ if depth == 1 && expect_item => {
                        expect_item = false;
                        let name = ident_at(&group[offset..]);
                        if !name.is_empty() && name != "self" {
                            let at = from + 1 + offset;
                            out.push((line_of(at), name.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                out.push((line_of(at), name.to_string()));
            }
        }
    }
    out
}

/// The top-level module a file under `src/` belongs to (`None` for the crate roots).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// What breaks the table: each problem names file:line (or the module) and the rule.
fn violations(
    table: &Table,
    modules: &BTreeSet<String>,
    files: &BTreeMap<PathBuf, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for module in modules {
        if table.allowed(module).is_none() {
            out.push(format!(
                "module `{module}` has no row in ARCHITECTURE.md's `{SECTION}` table"
            ));
        }
    }
    for (module, _) in &table.rows {
        if !modules.contains(module) {
            out.push(format!(
                "the table's row `{module}` names no module of src/"
            ));
        }
    }
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, text) in files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let shown = Path::new("src").join(path);
        let shown = shown.to_string_lossy().replace('\\', "/");
        let allowed = table.allowed(&module);
        for (line, imported) in imports(text) {
            if imported == module {
                continue;
            }
            used.insert((module.clone(), imported.clone()));
            if !modules.contains(&imported) {
                out.push(format!(
                    "{shown}:{line}: `crate::{imported}` is no top-level module of src/"
                ));
                continue;
            }
            let ok = allowed.is_some_and(|a| a.contains(&imported))
                || table
                    .exceptions
                    .contains(&(shown.clone(), imported.clone()));
            if !ok {
                let may: Vec<&str> = allowed
                    .map(|a| a.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let may = if may.is_empty() {
                    "nothing from the crate".to_string()
                } else {
                    may.join(", ")
                };
                out.push(format!(
                    "{shown}:{line}: `{module}` imports `{imported}`, which the layers do not \
                     allow (`{module}` may import: {may})"
                ));
            }
        }
    }
    // The table says what is, not what might be: an allowance nothing uses goes.
    for (module, allowed) in &table.rows {
        for a in allowed {
            if modules.contains(module) && !used.contains(&(module.clone(), a.clone())) {
                out.push(format!(
                    "the table lets `{module}` import `{a}`, which it does not: drop `{a}` \
                     from its row"
                ));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let entries = std::fs::read_dir(dir).expect("src/ is readable");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
            let relative = path.strip_prefix(root).expect("under src/").to_path_buf();
            out.insert(relative, text);
        }
    }
}

#[test]
fn every_import_in_src_runs_down_the_layers_of_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let markdown =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let table = match parse_table(&markdown) {
        Ok(t) => t,
        Err(errors) => panic!("ARCHITECTURE.md's table:\n{}", errors.join("\n")),
    };
    let src = root.join("src");
    let mut files = BTreeMap::new();
    rust_files(&src, &src, &mut files);
    let modules: BTreeSet<String> = files.keys().filter_map(|p| module_of(p)).collect();
    assert!(modules.len() > 10, "found the modules of src/: {modules:?}");
    let problems = violations(&table, &modules, &files);
    assert!(
        problems.is_empty(),
        "imports against the layers:\n{}",
        problems.join("\n")
    );
}

// The checker on small made-up trees, so it is seen to fail.

const SYNTHETIC: &str = "# A\n\n## Layers\n\n| module | may import |\n|---|---|\n\
| `low` | — |\n| `mid` | `low` |\n| `high` | `low`, `mid` |\n\n\
- `src/low/odd.rs` imports `mid`: a listed exception.\n\n## Next\n| `ignored` | `x` |\n";

fn tree(files: &[(&str, &str)]) -> (BTreeSet<String>, BTreeMap<PathBuf, String>) {
    let files: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let modules = files.keys().filter_map(|p| module_of(p)).collect();
    (modules, files)
}

#[test]
fn the_table_is_read_lowest_first_with_its_exceptions() {
    let table = parse_table(SYNTHETIC).expect("the synthetic table reads");
    let names: Vec<&str> = table.rows.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["low", "mid", "high"]);
    assert!(table.allowed("low").is_some_and(BTreeSet::is_empty));
    assert_eq!(
        table
            .allowed("high")
            .map(|a| a.iter().cloned().collect::<Vec<_>>()),
        Some(vec!["low".to_string(), "mid".to_string()])
    );
    assert!(
        table
            .exceptions
            .contains(&("src/low/odd.rs".to_string(), "mid".to_string()))
    );
    assert!(
        table.allowed("ignored").is_none(),
        "rows of later sections are not read"
    );
}

#[test]
fn a_row_importing_one_not_above_it_or_written_twice_is_refused() {
    let upward = "## Layers\n| `low` | `high` |\n| `high` | — |\n";
    let errors = parse_table(upward).expect_err("an upward row");
    assert!(errors[0].contains("`low` may import `high`, which is not a row above it"));
    let twice = "## Layers\n| `low` | — |\n| `low` | — |\n";
    let errors = parse_table(twice).expect_err("a row twice");
    assert!(errors[0].contains("`low` has two rows"));
    assert!(parse_table("# no section\n").is_err());
}

#[test]
fn imports_are_found_in_uses_groups_and_paths_but_not_comments() {
    let text = "use crate::low::A;\n\
                pub(crate) use crate::{\n    mid::{B, C},\n    self,\n    high,\n};\n\
                // use crate::commented;\n\
                /// [`crate::doc`]\n\
                fn f() { crate::inline::g(); other_crate::no(); let s = \"//\"; crate::after(); }\n\
                /* crate::block */\n\
                let q = '\\''; let r = r#\"a \" // \"#; crate::raw::x(); // crate::not\n\
                let c = '\"'; crate::chr::y(); // crate::no\n";
    let found = imports(text);
    assert_eq!(
        found,
        [
            (1, "low".to_string()),
            (3, "mid".to_string()),
            (5, "high".to_string()),
            (9, "inline".to_string()),
            (9, "after".to_string()),
            (11, "raw".to_string()),
            (12, "chr".to_string()),
        ]
    );
}

#[test]
fn an_upward_import_fails_naming_file_line_and_rule() {
    let table = parse_table(SYNTHETIC).expect("the synthetic table reads");
    let (modules, files) = tree(&[
        ("low.rs", "pub fn f() {}\n"),
        ("low/odd.rs", "use crate::mid::X;\n"),
        ("low/bad.rs", "\n\nfn g() { crate::high::h(); }\n"),
        ("mid/mod.rs", "use crate::low::f;\nuse crate::mid::Y;\n"),
        ("high.rs", "use crate::{low, mid::Z};\n"),
        ("lib.rs", "pub mod low;\n"),
    ]);
    let problems = violations(&table, &modules, &files);
    assert_eq!(
        problems,
        [
            "src/low/bad.rs:3: `low` imports `high`, which the layers do not allow \
          (`low` may import: nothing from the crate)"
        ]
    );
}

#[test]
fn a_module_without_a_row_and_a_row_without_a_module_fail() {
    let table = parse_table(SYNTHETIC).expect("the synthetic table reads");
    let (modules, files) = tree(&[
        ("low.rs", ""),
        ("mid.rs", ""),
        ("extra.rs", "use crate::low::A;\n"),
        ("mid/x.rs", "use crate::nowhere::B;\n"),
    ]);
    let problems = violations(&table, &modules, &files);
    assert_eq!(
        problems,
        [
            "module `extra` has no row in ARCHITECTURE.md's `## Layers` table",
            "the table's row `high` names no module of src/",
            "src/extra.rs:1: `extra` imports `low`, which the layers do not allow \
             (`extra` may import: nothing from the crate)",
            "src/mid/x.rs:1: `crate::nowhere` is no top-level module of src/",
            "the table lets `mid` import `low`, which it does not: drop `low` from its row",
        ]
    );
}
