//! The one template loader: `lint`, `test`, `plan`, `run`, `serve` and the operator read
//! templates only through it.
//!
//! A template file is read only from inside its template directory, as a regular file of at
//! most [`MAX_FILE_BYTES`](crate::files::MAX_FILE_BYTES) (see [`crate::files`]); it is
//! parsed and checked (the checker reads its imports the same way: from inside the
//! template's own directory, regular, bounded, UTF-8), and a template without errors is
//! graphed and compiled into a [`Template`] with one digest. A directory is walked without
//! hidden entries and without looping, and two files declaring the same `name@version` are
//! both refused.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::check::{self, CheckContext};
use crate::diagnostic::Diagnostic;
use crate::diagnostic::{SourceFile, Span};
use crate::files::{self, FileError, MAX_FILE_BYTES};

use super::{Template, TemplateError};

/// The code of a file the loader refuses to read (outside the template directory, not a
/// regular file, too large); documented in [`check::rules::LOADER_CODES`].
pub const REFUSED_FILE: &str = "E0005";
/// The code of a `name@version` that two files declare; documented with [`REFUSED_FILE`].
pub const DUPLICATE_TEMPLATE: &str = "E0006";

/// One template file as the loader saw it.
#[derive(Debug)]
pub struct Loaded {
    /// The file as given, with its text (empty when it was not read).
    pub source: SourceFile,
    /// Why it was not read, if it was not.
    pub refused: Option<FileError>,
    /// Every finding, sorted by position: syntax, checker errors and warnings, scripts that do
    /// not compile, a duplicate `name@version`.
    pub diagnostics: Vec<Diagnostic>,
    /// The template, when the file has no error.
    pub template: Option<Template>,
    /// `name@version` and the span of the version, when the file parses.
    key: Option<(String, Span)>,
}

impl Loaded {
    fn new(source: SourceFile) -> Self {
        Loaded {
            source,
            refused: None,
            diagnostics: Vec::new(),
            template: None,
            key: None,
        }
    }

    /// `name@version`, when the file parses.
    pub fn key(&self) -> Option<&str> {
        self.key.as_ref().map(|(k, _)| k.as_str())
    }

    /// True when the file has errors (or was not read).
    pub fn has_errors(&self) -> bool {
        self.refused.is_some() || self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The template, or why there is none.
    pub fn into_result(self) -> Result<Template, TemplateError> {
        if let Some(refused) = self.refused {
            return Err(TemplateError::File(refused));
        }
        match self.template {
            Some(t) if !self.diagnostics.iter().any(Diagnostic::is_error) => Ok(t),
            _ => Err(TemplateError::Invalid {
                key: self.key.map(|(k, _)| k),
                file: self.source,
                diagnostics: self
                    .diagnostics
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect(),
            }),
        }
    }
}

/// Load one `.wf` file of the template directory `root`: read it (inside `root`, regular,
/// bounded), parse and check it with `ctx` (its imports resolved beside it), and build it when
/// it has no error.
pub fn load_file(root: &Path, path: &Path, ctx: &CheckContext) -> Loaded {
    let bytes = match files::read_inside(root, path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(refused) => {
            let mut loaded = Loaded::new(SourceFile::new(path, String::new()));
            loaded.refused = Some(refused);
            return loaded;
        }
    };
    let mut loaded = Loaded::new(SourceFile::new(
        path,
        String::from_utf8_lossy(&bytes).into_owned(),
    ));
    let file = match crate::dsl::parse_bytes(&bytes) {
        Ok(file) => file,
        Err(d) => {
            loaded.diagnostics.push(d);
            return loaded;
        }
    };
    let w = &file.workflow;
    let version = semver::Version::parse(&w.version.value)
        .map_or_else(|_| w.version.value.clone(), |v| v.to_string());
    loaded.key = Some((format!("{}@{version}", w.name.value), w.version.span));
    let dir = files::parent_dir(path);
    let ctx = CheckContext {
        template_dir: Some(dir.to_path_buf()),
        ..ctx.clone()
    };
    loaded.diagnostics = check::check(&file, &ctx);
    if loaded.has_errors() {
        return loaded;
    }
    let mut modules = BTreeMap::new();
    for import in file.workflow.imports() {
        // The checker read each import the same way; a file changed since is an error too.
        match files::read_text_inside(dir, &dir.join(&import.path.value), MAX_FILE_BYTES) {
            Ok(source) => {
                modules.insert(import.alias.name.clone(), source);
            }
            Err(e) => {
                loaded.diagnostics.push(Diagnostic::error(
                    "E0116",
                    format!("import \"{}\": {e}", import.path.value),
                    import.path.span,
                ));
                return loaded;
            }
        }
    }
    let warnings = loaded.diagnostics.clone();
    match Template::build(loaded.source.clone(), file, modules, warnings) {
        Ok(t) => loaded.template = Some(t),
        Err(e) => {
            if let Some((_, ds)) = e.diagnostics() {
                loaded.diagnostics.extend(ds.iter().cloned());
                check::sort(&mut loaded.diagnostics);
            }
        }
    }
    loaded
}

/// Every `*.wf` below `dir` (see [`files::walk`]), loaded with `ctx`, in path order, with a
/// duplicate `name@version` marked on each of its files; and the directories that could not
/// be walked.
pub fn load_dir(dir: &Path, ctx: &CheckContext) -> (Vec<Loaded>, Vec<FileError>) {
    let walk = files::walk(dir, &|p| files::has_extension(p, "wf"));
    let mut loaded: Vec<Loaded> = walk
        .files
        .iter()
        .map(|path| load_file(dir, path, ctx))
        .collect();
    mark_duplicates(&mut loaded);
    (loaded, walk.errors)
}

/// Give every file whose `name@version` another file also declares an error (E0006) naming
/// the other files, and drop its template: neither copy is served.
pub fn mark_duplicates(loaded: &mut [Loaded]) {
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, l) in loaded.iter().enumerate() {
        if let Some(key) = l.key() {
            by_key.entry(key.to_string()).or_default().push(i);
        }
    }
    for (key, indexes) in by_key {
        if indexes.len() < 2 {
            continue;
        }
        let paths: Vec<PathBuf> = indexes
            .iter()
            .map(|&i| loaded[i].source.path().to_path_buf())
            .collect();
        for &i in &indexes {
            let l = &mut loaded[i];
            let others: Vec<String> = paths
                .iter()
                .filter(|p| p.as_path() != l.source.path())
                .map(|p| p.display().to_string())
                .collect();
            let span = l.key.as_ref().map_or(Span::default(), |(_, s)| *s);
            l.diagnostics.push(
                Diagnostic::error(
                    DUPLICATE_TEMPLATE,
                    format!(
                        "{key} is also declared in {}: neither is served",
                        others.join(", ")
                    ),
                    span,
                )
                .with_help("give one of them a new version, or remove the stray file"),
            );
            check::sort(&mut l.diagnostics);
            l.template = None;
        }
    }
}

/// A refused file as a diagnostic of its own file (E0005), for lint's reports.
pub fn refused_diagnostic(refused: &FileError) -> Diagnostic {
    Diagnostic::error(REFUSED_FILE, refused.to_string(), Span::default()).with_help(match refused {
        FileError::Outside { .. } => {
            "keep templates and their modules inside the template directory (a symlink may \
             point only within it)"
        }
        FileError::TooLarge { .. } => "split the template, or move logic into a module",
        _ => "templates and modules must be regular files",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_documented() {
        let documented: Vec<&str> = check::rules::LOADER_CODES.iter().map(|c| c.0).collect();
        assert_eq!(documented, [REFUSED_FILE, DUPLICATE_TEMPLATE]);
    }
}
