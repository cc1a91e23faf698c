//! A loaded template: the parsed file, its step graph, its imported modules, its digest, and
//! every `${ … }` compiled once. Planning and the interpreter evaluate the compiled forms.
//!
//! ```
//! use remedy::template::Template;
//!
//! let t = Template::from_source("ok.wf", r#"workflow "ok" version "1.0.0" {
//!   param replicas: int = ${ 1 + 2 }
//!   step s { action "notify_only" with { message: "x" } }
//! }"#, Default::default()).unwrap();
//! assert_eq!(t.graph.nodes().len(), 1);
//! assert!(t.digest.starts_with("sha256:"));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::diagnostic::{SourceFile, Span};
use crate::dsl::ast::{Expr, File, Value};
use crate::files::FileError;
use crate::graph::StepGraph;
use crate::script::scan::{self, FieldRef};
use crate::script::{CompiledExpr, ScriptEngine, ScriptError, position};

pub use crate::dsl::scripts::{Script, for_each_script, value_scripts};

pub mod catalog;
pub mod loader;

pub use catalog::TemplateCatalog;

/// Why a template could not be loaded or found.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file was not read: missing, unreadable, outside the template directory, not a
    /// regular file, or too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The template has errors (syntax, checker, or a script that does not compile), each
    /// with its place.
    #[error("{}", invalid_message(file, diagnostics))]
    Invalid {
        /// The file (its text may be empty when it was not read).
        file: SourceFile,
        /// The errors, sorted by position.
        diagnostics: Vec<Diagnostic>,
        /// `name@version` as the file declares it, when it parses.
        key: Option<String>,
    },
    /// Two files declare the same `name@version`; neither is served.
    #[error(
        "{key} is declared twice, in {} and in {}: neither is served (give one a new version, \
         or remove it)",
        first.display(), second.display()
    )]
    Duplicate {
        /// `name@version`.
        key: String,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The template's file was found but left out (it has errors, or is a duplicate).
    #[error("template {key} is not served: {reason}")]
    NotServed {
        /// `name@version`.
        key: String,
        /// Why: the loader's error.
        reason: String,
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

fn invalid_message(file: &SourceFile, diagnostics: &[Diagnostic]) -> String {
    let Some(first) = diagnostics.first() else {
        return format!("{} is not a valid template", file.path().display());
    };
    let at = file.line_col(first.span.start);
    let more = match diagnostics.len() {
        1 => String::new(),
        n => format!(
            " (and {} more error{})",
            n - 1,
            if n == 2 { "" } else { "s" }
        ),
    };
    format!(
        "{}:{}:{}: error[{}]: {}{more}",
        file.path().display(),
        at.line,
        at.col,
        first.code,
        first.message
    )
}

impl TemplateError {
    /// The errors with a place in the template, for rendering with its source.
    pub fn diagnostics(&self) -> Option<(&SourceFile, &[Diagnostic])> {
        match self {
            TemplateError::Invalid {
                file, diagnostics, ..
            } => Some((file, diagnostics)),
            _ => None,
        }
    }

    fn invalid(file: &SourceFile, diagnostic: Diagnostic, key: Option<String>) -> Self {
        TemplateError::Invalid {
            file: file.clone(),
            diagnostics: vec![diagnostic],
            key,
        }
    }
}

/// A template ready to plan: read through the [`loader`] (checked, its imports read from
/// inside its directory), graphed, with its scripts compiled.
#[derive(Debug)]
pub struct Template {
    /// The source text, known by its path.
    pub source: SourceFile,
    /// The syntax tree.
    pub file: File,
    /// The step graph.
    pub graph: StepGraph,
    /// Imported modules: alias → rhai source.
    pub modules: BTreeMap<String, String>,
    /// `sha256:…` of the source and its imports.
    pub digest: String,
    /// The checker's warnings (a template with errors does not load).
    pub warnings: Vec<Diagnostic>,
    engine: ScriptEngine,
    compiled: HashMap<Span, CompiledExpr>,
}

impl Template {
    /// Read, check and load a `.wf` file, with its imports from beside it: the
    /// [`loader`]'s way, with the file's directory as the template directory.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let dir = crate::files::parent_dir(path);
        loader::load_file(dir, path, &crate::check::CheckContext::default()).into_result()
    }

    /// Load a template from text, unchecked and without touching the disk (tests, fuzzing);
    /// `modules` gives each import alias its source.
    pub fn from_source(
        path: impl Into<PathBuf>,
        text: &str,
        modules: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let source = SourceFile::new(path, text);
        let file = crate::dsl::parse(text).map_err(|d| TemplateError::invalid(&source, d, None))?;
        Template::build(source, file, modules, Vec::new())
    }

    /// Graph and compile a parsed (and, from the loader, checked) template.
    fn build(
        source: SourceFile,
        file: File,
        modules: BTreeMap<String, String>,
        warnings: Vec<Diagnostic>,
    ) -> Result<Self, TemplateError> {
        let key = || {
            Some(format!(
                "{}@{}",
                file.workflow.name.value, file.workflow.version.value
            ))
        };
        let import_span = |alias: &str| {
            file.workflow
                .imports()
                .find(|i| i.alias.name == alias)
                .map_or(file.workflow.name.span, |i| i.path.span)
        };
        let engine = ScriptEngine::new(&modules).map_err(|error| {
            let span = match &error {
                ScriptError::Module { alias, .. } => import_span(alias),
                _ => file.workflow.name.span,
            };
            TemplateError::invalid(&source, script_diagnostic(span, &error), key())
        })?;
        let mut compiled = HashMap::new();
        let mut failure = None;
        for_each_script(&file, &mut |script| {
            if failure.is_some() {
                return;
            }
            match engine.compile(script.source) {
                Ok(c) => {
                    compiled.insert(script.key, c);
                }
                Err(error) => {
                    let span = position::span_in_file(script.source, script.key, error.position());
                    failure = Some(TemplateError::invalid(
                        &source,
                        script_diagnostic(span, &error),
                        key(),
                    ));
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let digest = digest(&source, &file, &modules);
        Ok(Template {
            graph: StepGraph::build(&file.workflow),
            source,
            file,
            modules,
            digest,
            warnings,
            engine,
            compiled,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// `name@version`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name(), self.version())
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.file.workflow.name.value
    }

    /// The template's version.
    pub fn version(&self) -> &str {
        &self.file.workflow.version.value
    }

    /// The engine the template's scripts run on (its modules loaded).
    pub fn engine(&self) -> &ScriptEngine {
        &self.engine
    }

    /// The compiled form of an expression of this template.
    pub fn compiled(&self, expr: &Expr) -> Option<&CompiledExpr> {
        self.compiled.get(&expr.source_span)
    }

    /// The compiled form of a bare identifier value of this template (`namespace`).
    pub fn compiled_ident(&self, ident_span: Span) -> Option<&CompiledExpr> {
        self.compiled.get(&ident_span)
    }
}

/// The run-time names a value reads: `steps.X`, `self…`, `workflow.phase`/`workflow.failed`.
pub fn runtime_refs(value: &Value) -> Vec<FieldRef> {
    let mut out = Vec::new();
    value_scripts(value, &mut |s| {
        out.extend(scan::field_refs(s.source).into_iter().filter(is_runtime));
    });
    out
}

/// True for a reference only the running workflow can answer.
pub fn is_runtime(r: &FieldRef) -> bool {
    match r.root {
        "steps" | "self" => true,
        "workflow" => matches!(r.field.as_str(), "phase" | "failed"),
        _ => false,
    }
}

/// A script that does not compile, as a diagnostic at its place.
fn script_diagnostic(span: Span, error: &ScriptError) -> Diagnostic {
    Diagnostic::error("E0201", error.message(), span)
        .with_help("fix the rhai expression; see docs/scripting.md")
}

/// The template's digest: `sha256:<hex>` over the source and each import in declared order
/// (its path as written and its contents, each length-prefixed).
fn digest(source: &SourceFile, file: &File, modules: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    part(source.text().as_bytes());
    for import in file.workflow.imports() {
        part(import.path.value.as_bytes());
        part(
            modules
                .get(&import.alias.name)
                .map_or(&[][..], |m| m.as_bytes()),
        );
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    const WF: &str = r#"workflow "t" version "1.0.0" {
  import "lib/m.rhai" as m
  param a: int = ${ m::one() }
  step s {
    action "notify_only"
    with { message: "x ${a} ${ analysis.q.output }" }
  }
}"#;

    fn modules(src: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("m".to_string(), src.to_string())])
    }

    #[test]
    fn compiles_every_expression_once() {
        let t = Template::from_source("t.wf", WF, modules("fn one() { 1 }")).expect("loads");
        assert_eq!(t.compiled.len(), 3);
        let mut sources = Vec::new();
        for_each_script(&t.file, &mut |s| sources.push(s.source.trim().to_string()));
        assert_eq!(sources, ["m::one()", "a", "analysis.q.output"]);
    }

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Template>();
    }

    #[test]
    fn digest_covers_imports() {
        let a = Template::from_source("t.wf", WF, modules("fn one() { 1 }")).expect("loads");
        let b = Template::from_source("t.wf", WF, modules("fn one() { 2 }")).expect("loads");
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn the_digest_is_the_same_from_disk_and_from_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
        std::fs::write(dir.path().join("lib/m.rhai"), "fn one() { 1 }").expect("write");
        let path = dir.path().join("t.wf");
        std::fs::write(&path, WF).expect("write");
        let loaded = Template::load(&path).expect("loads");
        let from_text =
            Template::from_source("t.wf", WF, modules("fn one() { 1 }")).expect("loads");
        assert_eq!(loaded.digest, from_text.digest);
        assert_eq!(
            loaded.digest,
            "sha256:fa5cc963ae5547bdbc4fe2d55f0d24adab7974fa6530e4748e396b5e7c39b6f8",
            "the digest of a template never changes between versions of Remedy"
        );
    }

    #[test]
    fn a_rhai_syntax_error_points_into_the_file() {
        let text = WF.replace("m::one()", "m::one() +");
        let err = Template::from_source("t.wf", &text, modules("fn one() { 1 }"))
            .expect_err("syntax error");
        let (_, d) = err.diagnostics().expect("has a place");
        let d = &d[0];
        let at = text.find("m::one() +").expect("present");
        assert!(d.span.start >= at && d.span.start <= at + 12, "{d:?}");
    }

    #[test]
    fn a_broken_module_points_at_its_import() {
        let err = Template::from_source("t.wf", WF, modules("fn one( { 1 }")).expect_err("bad");
        let (_, d) = err.diagnostics().expect("has a place");
        let d = &d[0];
        assert_eq!(&WF[d.span.start..d.span.end], "\"lib/m.rhai\"");
        assert!(d.message.contains("in module `m`"), "{}", d.message);
    }
}
