//! The template catalog: a directory of `.wf` templates indexed by `name@version`.
//!
//! Loading reads every `*.wf` below a directory (recursively), parses and checks it, reads
//! its imports (relative to the template, never outside its directory), and records a digest
//! over the source and the imports' contents, so a pinned plan can tell whether the template
//! it was made from has changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::check::{self, CheckContext, Diagnostic};
use crate::dsl::ast;
use crate::dsl::span::SourceFile;

/// Why a template (or a lookup) failed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A template has a syntax error.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The template.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A template parses but the checker finds errors in it.
    #[error("{path} has {} error(s), first: {}", errors.len(), errors.first().map_or("", String::as_str))]
    Invalid {
        /// The template.
        path: PathBuf,
        /// The workflow name it declares.
        name: String,
        /// The version it declares, as written.
        version: String,
        /// Each error as `line:col: [CODE] message`.
        errors: Vec<String>,
    },
    /// An import leaves the template's directory.
    #[error("{path}: import \"{import}\" leaves the template's directory")]
    ImportOutside {
        /// The template.
        path: PathBuf,
        /// The import path as written.
        import: String,
    },
    /// An imported file could not be read.
    #[error("{path}: cannot read import \"{import}\": {source}")]
    Import {
        /// The template.
        path: PathBuf,
        /// The import path as written.
        import: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two templates declare the same `name@version`.
    #[error("{key} is declared twice: in {first} and in {second}")]
    Duplicate {
        /// `name@version`.
        key: String,
        /// The file loaded first.
        first: PathBuf,
        /// The file that repeats it.
        second: PathBuf,
    },
    /// No template has that name.
    #[error("no template named \"{name}\"")]
    UnknownName {
        /// The name asked for.
        name: String,
    },
    /// The template exists, but not in that version.
    #[error("template \"{name}\" has no version {version} (available: {})", available.join(", "))]
    UnknownVersion {
        /// The name asked for.
        name: String,
        /// The version asked for.
        version: String,
        /// The versions there are, ascending.
        available: Vec<String>,
    },
    /// A reference or version that is not `name`, `name@SEMVER` or a semantic version.
    #[error("invalid template reference \"{reference}\": {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One imported rhai file of a template.
#[derive(Debug, Clone)]
pub struct ImportedScript {
    /// The alias it is imported as.
    pub alias: String,
    /// The path as written in the template.
    pub path: String,
    /// Its contents.
    pub source: String,
}

/// One loaded template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The workflow name.
    pub name: String,
    /// The workflow version.
    pub version: semver::Version,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The parsed file.
    pub file: ast::File,
    /// The source text.
    pub source: String,
    /// Its imports, in declared order, with their contents.
    pub imports: Vec<ImportedScript>,
    /// `sha256:<hex>` over the source and the imports' contents.
    pub digest: String,
    /// The checker's warnings (errors make loading fail).
    pub warnings: Vec<Diagnostic>,
}

impl Template {
    /// `name@version`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Every template of a directory, by name and version.
#[derive(Debug, Clone, Default)]
pub struct TemplateCatalog {
    templates: BTreeMap<String, BTreeMap<semver::Version, Template>>,
}

impl TemplateCatalog {
    /// Load every `*.wf` below `dir`; any bad template or duplicate fails the whole load.
    pub fn load_dir(dir: &Path) -> Result<Self, TemplateError> {
        let (catalog, mut errors) = Self::load_dir_lenient(dir);
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors.remove(0))
        }
    }

    /// Load every good `*.wf` below `dir`, and return the errors of the others.
    ///
    /// Files are read in path order, so with a duplicate `name@version` the first path wins.
    pub fn load_dir_lenient(dir: &Path) -> (Self, Vec<TemplateError>) {
        let mut errors = Vec::new();
        let mut files = Vec::new();
        walk(dir, &mut files, &mut errors);
        files.sort();
        let mut catalog = TemplateCatalog::default();
        for path in files {
            match load_file(&path) {
                Ok(t) => {
                    if let Err(e) = catalog.insert(t) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (catalog, errors)
    }

    /// Add a template; a second template with the same `name@version` is an error.
    pub fn insert(&mut self, template: Template) -> Result<(), TemplateError> {
        let versions = self.templates.entry(template.name.clone()).or_default();
        if let Some(first) = versions.get(&template.version) {
            return Err(TemplateError::Duplicate {
                key: template.key(),
                first: first.path.clone(),
                second: template.path,
            });
        }
        versions.insert(template.version.clone(), template);
        Ok(())
    }

    /// The template `name` in `version`, or (no version) its highest release: the highest
    /// version without a pre-release part, or the highest pre-release if there is no release.
    pub fn get(&self, name: &str, version: Option<&str>) -> Result<&Template, TemplateError> {
        let versions = self
            .templates
            .get(name)
            .ok_or_else(|| TemplateError::UnknownName { name: name.into() })?;
        let found = match version {
            Some(v) => {
                let wanted = semver::Version::parse(v.trim_start_matches('v')).map_err(|e| {
                    TemplateError::InvalidReference {
                        reference: format!("{name}@{v}"),
                        reason: e.to_string(),
                    }
                })?;
                versions.get(&wanted)
            }
            None => versions
                .values()
                .rev()
                .find(|t| t.version.pre.is_empty())
                .or_else(|| versions.values().next_back()),
        };
        found.ok_or_else(|| TemplateError::UnknownVersion {
            name: name.into(),
            version: version.unwrap_or("").into(),
            available: versions.keys().map(ToString::to_string).collect(),
        })
    }

    /// Look up `name` or `name@version`.
    pub fn resolve(&self, reference: &str) -> Result<&Template, TemplateError> {
        match reference.split_once('@') {
            Some((name, version)) => self.get(name, Some(version)),
            None => self.get(reference, None),
        }
    }

    /// Every template, by name then ascending version.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.values().flat_map(BTreeMap::values)
    }

    /// The number of templates (all versions).
    pub fn len(&self) -> usize {
        self.templates.values().map(BTreeMap::len).sum()
    }

    /// True when no template is loaded.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

/// Read, parse, check and digest one template file.
pub fn load_file(path: &Path) -> Result<Template, TemplateError> {
    let bytes = std::fs::read(path).map_err(|source| TemplateError::Io {
        path: path.into(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let source_file = SourceFile::new(path, text.clone());
    let file = crate::dsl::parse_bytes(&bytes).map_err(|d| {
        let at = source_file.line_col(d.span.start);
        TemplateError::Parse {
            path: path.into(),
            line: at.line,
            column: at.col,
            message: d.message,
        }
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let imports = read_imports(path, dir, &file)?;
    let diagnostics = check::check(&file, &CheckContext::for_dir(dir));
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics.into_iter().partition(|d| d.is_error());
    if !errors.is_empty() {
        return Err(TemplateError::Invalid {
            path: path.into(),
            name: file.workflow.name.value.clone(),
            version: file.workflow.version.value.clone(),
            errors: errors
                .iter()
                .map(|d| {
                    let at = source_file.line_col(d.span.start);
                    format!("{}:{}: [{}] {}", at.line, at.col, d.code, d.message)
                })
                .collect(),
        });
    }
    let w = &file.workflow;
    let version =
        semver::Version::parse(&w.version.value).map_err(|e| TemplateError::InvalidReference {
            reference: w.version.value.clone(),
            reason: e.to_string(),
        })?;
    let digest = digest(&text, &imports);
    Ok(Template {
        name: w.name.value.clone(),
        version,
        path: path.into(),
        source: text,
        imports,
        digest,
        warnings,
        file,
    })
}

/// `sha256:<hex>` over the source and each import (path and contents, length-prefixed).
pub fn digest(source: &str, imports: &[ImportedScript]) -> String {
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    part(source.as_bytes());
    for import in imports {
        part(import.path.as_bytes());
        part(import.source.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn read_imports(
    path: &Path,
    dir: &Path,
    file: &ast::File,
) -> Result<Vec<ImportedScript>, TemplateError> {
    let mut out = Vec::new();
    for import in file.workflow.imports() {
        let written = &import.path.value;
        let outside = || TemplateError::ImportOutside {
            path: path.into(),
            import: written.clone(),
        };
        if !check::rules::import_stays_inside(Path::new(written)) {
            return Err(outside());
        }
        let full = dir.join(written);
        let read_err = |source| TemplateError::Import {
            path: path.into(),
            import: written.clone(),
            source,
        };
        // A symlink may still point elsewhere: compare real paths.
        let real_dir = dir.canonicalize().map_err(read_err)?;
        let real = full.canonicalize().map_err(read_err)?;
        if !real.starts_with(&real_dir) {
            return Err(outside());
        }
        let source = std::fs::read_to_string(&real).map_err(read_err)?;
        out.push(ImportedScript {
            alias: import.alias.name.clone(),
            path: written.clone(),
            source,
        });
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<TemplateError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(TemplateError::Io {
                path: dir.into(),
                source,
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Hidden entries are skipped: a mounted ConfigMap keeps a second copy of every file
        // under `..<timestamp>/`, which would load each template twice.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found, errors),
            Ok(_) if path.extension().is_some_and(|e| e == "wf") => found.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn template(name: &str, version: &str, extra: &str) -> String {
        format!(
            "workflow \"{name}\" version \"{version}\" {{\n{extra}\n  step tell {{\n    action \"notify_only\"\n    with {{ message: \"hi\" }}\n  }}\n}}\n"
        )
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn skips_the_hidden_copies_of_a_mounted_configmap() {
        let dir = tempfile::tempdir().unwrap();
        let text = template("oom", "1.0.0", "");
        write(dir.path(), "..2026_11_25_19_00_00.123/oom.wf", &text);
        write(dir.path(), "oom.wf", &text);
        let catalog = TemplateCatalog::load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 1);
    }

    #[test]
    fn loads_recursively_and_picks_the_highest_release() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/oom-v1.wf", &template("oom", "1.0.0", ""));
        write(dir.path(), "a/b/oom-v1-2.wf", &template("oom", "1.2.0", ""));
        write(dir.path(), "oom-v10.wf", &template("oom", "1.10.0", ""));
        write(
            dir.path(),
            "oom-next.wf",
            &template("oom", "2.0.0-rc.1", ""),
        );
        write(
            dir.path(),
            "other.wf",
            &template("other", "0.1.0-alpha", ""),
        );
        write(dir.path(), "notes.txt", "not a template");
        let catalog = TemplateCatalog::load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 5);
        assert_eq!(
            catalog.get("oom", None).unwrap().version.to_string(),
            "1.10.0"
        );
        assert_eq!(
            catalog
                .get("oom", Some("1.2.0"))
                .unwrap()
                .version
                .to_string(),
            "1.2.0"
        );
        assert_eq!(
            catalog
                .resolve("oom@2.0.0-rc.1")
                .unwrap()
                .version
                .pre
                .as_str(),
            "rc.1"
        );
        assert_eq!(catalog.resolve("other").unwrap().key(), "other@0.1.0-alpha");
        assert!(matches!(
            catalog.get("oom", Some("3.0.0")),
            Err(TemplateError::UnknownVersion { available, .. }) if available.len() == 4
        ));
        assert!(matches!(
            catalog.get("nope", None),
            Err(TemplateError::UnknownName { .. })
        ));
        assert!(matches!(
            catalog.get("oom", Some("latest")),
            Err(TemplateError::InvalidReference { .. })
        ));
    }

    #[test]
    fn digest_covers_source_and_imports() {
        let dir = tempfile::tempdir().unwrap();
        let text = template("oom", "1.0.0", "  import \"lib/m.rhai\" as m");
        let path = write(dir.path(), "oom.wf", &text);
        write(dir.path(), "lib/m.rhai", "fn f() { 1 }");
        let first = load_file(&path).unwrap();
        assert!(first.digest.starts_with("sha256:"));
        assert_eq!(first.digest.len(), "sha256:".len() + 64);
        assert_eq!(first.imports[0].alias, "m");
        assert_eq!(load_file(&path).unwrap().digest, first.digest, "stable");
        write(dir.path(), "lib/m.rhai", "fn f() { 2 }");
        let changed = load_file(&path).unwrap();
        assert_ne!(
            changed.digest, first.digest,
            "an import change changes the digest"
        );
        write(dir.path(), "oom.wf", &format!("// comment\n{text}"));
        assert_ne!(load_file(&path).unwrap().digest, changed.digest);
    }

    #[test]
    fn duplicate_name_and_version_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.wf", &template("oom", "1.0.0", ""));
        write(dir.path(), "b.wf", &template("oom", "1.0.0", ""));
        let err = TemplateCatalog::load_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("oom@1.0.0 is declared twice"), "{text}");
        assert!(text.contains("a.wf") && text.contains("b.wf"), "{text}");
        let (catalog, errors) = TemplateCatalog::load_dir_lenient(dir.path());
        assert_eq!((catalog.len(), errors.len()), (1, 1));
    }

    #[test]
    fn imports_must_exist_and_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "outside.rhai", "fn f() { 1 }");
        let escaping = write(
            dir.path(),
            "t/a.wf",
            &template("a", "1.0.0", "  import \"../outside.rhai\" as o"),
        );
        assert!(matches!(
            load_file(&escaping),
            Err(TemplateError::ImportOutside { .. })
        ));
        let missing = write(
            dir.path(),
            "t/b.wf",
            &template("b", "1.0.0", "  import \"lib/none.rhai\" as n"),
        );
        assert!(matches!(
            load_file(&missing),
            Err(TemplateError::Import { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                dir.path().join("outside.rhai"),
                dir.path().join("t/link.rhai"),
            )
            .unwrap();
            let linked = write(
                dir.path(),
                "t/c.wf",
                &template("c", "1.0.0", "  import \"link.rhai\" as l"),
            );
            assert!(matches!(
                load_file(&linked),
                Err(TemplateError::ImportOutside { .. })
            ));
        }
    }

    #[test]
    fn syntax_and_check_errors_fail_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let broken = write(
            dir.path(),
            "broken.wf",
            "workflow \"x\" version \"1.0.0\" {\n  oops\n}\n",
        );
        match load_file(&broken) {
            Err(TemplateError::Parse { line, column, .. }) => assert_eq!((line, column), (2, 3)),
            other => panic!("{other:?}"),
        }
        let invalid = write(
            dir.path(),
            "invalid.wf",
            &template("x", "1.0.0", "  max_parallel 0"),
        );
        match load_file(&invalid) {
            Err(TemplateError::Invalid { errors, .. }) => {
                assert_eq!(errors.len(), 1);
                assert!(errors[0].starts_with("2:16: [E0119]"), "{}", errors[0]);
            }
            other => panic!("{other:?}"),
        }
        let warned = write(
            dir.path(),
            "warned.wf",
            &template(
                "w",
                "1.0.0",
                "  step c {\n    action \"cordon_node\"\n    with { node: \"n1\" }\n  }",
            ),
        );
        assert_eq!(load_file(&warned).unwrap().warnings[0].code, "W0101");
    }
}
