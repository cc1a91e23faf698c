//! Go to definition, find references and rename, for steps, params, lets, import aliases and
//! module functions.

use std::path::{Path, PathBuf};

use crate::check::rules::reserved_because;
use crate::diagnostic::Span;

use super::analysis::{Analysis, Sym};
use super::complete::Modules;

/// A place a name stands: in this document, or in another file (a module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A span of this document.
    Here(Span),
    /// A span of another file's text (`None`: the file's start).
    File(PathBuf, Option<(Span, String)>),
}

/// Where the name at `offset` is declared.
pub fn definition(a: &Analysis, offset: usize, modules: &dyn Modules) -> Option<Target> {
    if let Some(import) = a
        .imports
        .iter()
        .find(|i| i.span.start <= offset && offset <= i.span.end)
    {
        return import.file.clone().map(|f| Target::File(f, None));
    }
    let o = a.index.at(offset)?;
    match &o.sym {
        Sym::ModuleFn(alias, name) => module_fn(a, alias, name, modules),
        sym => a.index.definition(sym).map(|d| Target::Here(d.span)),
    }
}

fn module_fn(a: &Analysis, alias: &str, name: &str, modules: &dyn Modules) -> Option<Target> {
    let import = a.imports.iter().find(|i| i.alias == alias)?;
    let file = import.file.clone()?;
    let source = modules.source(&file)?;
    let f = super::modules::functions(&source)
        .into_iter()
        .find(|f| f.name == name)?;
    Some(Target::File(file, Some((f.span, source))))
}

/// Every place the name at `offset` stands (its declaration too when `declaration`).
pub fn references(
    a: &Analysis,
    offset: usize,
    declaration: bool,
    modules: &dyn Modules,
) -> Vec<Target> {
    let Some(o) = a.index.at(offset) else {
        return Vec::new();
    };
    let sym = o.sym.clone();
    let mut out: Vec<Target> = a
        .index
        .of(&sym)
        .filter(|x| declaration || !x.def)
        .map(|x| Target::Here(x.span))
        .collect();
    if declaration
        && let Sym::ModuleFn(alias, name) = &sym
        && let Some(t) = module_fn(a, alias, name, modules)
    {
        out.push(t);
    }
    out
}

/// Where the template `a` calls the function `name` of `module` (its real path, symlinks
/// resolved), under whatever alias it imports it: the other direction of [`references`],
/// asked from inside the module.
pub fn module_fn_uses(a: &Analysis, module: &Path, name: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for import in &a.imports {
        if import
            .file
            .as_deref()
            .is_some_and(|f| real_path(f) == module)
        {
            let sym = Sym::ModuleFn(import.alias.clone(), name.to_string());
            out.extend(a.index.of(&sym).filter(|o| !o.def).map(|o| o.span));
        }
    }
    out.sort_by_key(|s| s.start);
    out.dedup();
    out
}

/// A path with its symlinks resolved, or as given when it cannot be.
pub fn real_path(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The span of the name `offset` would rename, or why it cannot be renamed.
pub fn prepare_rename(a: &Analysis, offset: usize) -> Result<(Span, String), String> {
    let o = a
        .index
        .at(offset)
        .ok_or_else(|| "there is no step, param or let here to rename".to_string())?;
    match &o.sym {
        Sym::Step(n) | Sym::Value(n) => Ok((o.span, n.clone())),
        _ => Err("only steps, params and lets can be renamed".to_string()),
    }
}

/// The edits renaming the name at `offset` to `new`, or why they would be wrong: the file
/// does not parse, the name is not a valid name, is reserved, or is taken.
pub fn rename(a: &Analysis, offset: usize, new: &str) -> Result<Vec<(Span, String)>, String> {
    let (_, old) = prepare_rename(a, offset)?;
    let sym = a
        .index
        .at(offset)
        .map(|o| o.sym.clone())
        .ok_or("nothing to rename")?;
    if !a.parses {
        return Err("the file does not parse: fix the syntax error before renaming".to_string());
    }
    if !valid_name(new) {
        return Err(format!(
            "`{new}` is not a valid name: lowercase letters, digits and `_`, starting with a letter"
        ));
    }
    if let Some(why) = reserved_because(new) {
        return Err(format!("`{new}` {why}"));
    }
    if new == old {
        return Ok(Vec::new());
    }
    let tree = a.tree.as_ref().ok_or("the file has no syntax tree")?;
    let wf = &tree.workflow;
    let taken = match sym {
        Sym::Step(_) => wf
            .all_steps()
            .any(|s| s.name.name == new)
            .then_some("a step"),
        _ => {
            if wf.params().any(|p| p.name.name == new) {
                Some("a param")
            } else if wf.lets().any(|l| l.name.name == new) {
                Some("a let")
            } else if wf.imports().any(|i| i.alias.name == new) {
                Some("an import alias")
            } else {
                None
            }
        }
    };
    if let Some(what) = taken {
        return Err(format!("`{new}` is already {what} of this workflow"));
    }
    Ok(a.index
        .of(&sym)
        .map(|o| {
            if o.shorthand {
                // `with { old }` passes the value under the key `old`: keep the key.
                (o.span, format!("{old}: {new}"))
            } else {
                (o.span, new.to_string())
            }
        })
        .collect())
}

/// True for a name of the language: `[a-z][a-z0-9_]*`.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
