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

use crate::catalog::templates::ImportedScript;
use crate::check::Diagnostic;
use crate::dsl::ast::{
    ApprovalKind, ConstraintKind, Expr, File, Item, MapLit, Step, StepItem, StringPart, Value,
    ValueKind,
};
use crate::dsl::span::{SourceFile, Span};
use crate::graph::StepGraph;
use crate::script::modules::{self, ImportError};
use crate::script::scan::{self, FieldRef};
use crate::script::{CompiledExpr, ScriptEngine, ScriptError, position};

/// Why a template could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("{}", .0.message)]
    Syntax(Diagnostic),
    /// An import cannot be read.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// An expression or an imported module does not compile (or a module fails to load).
    #[error("{error}")]
    Script {
        /// Where in the `.wf` file (the expression, or the import's path).
        span: Span,
        /// What failed.
        error: ScriptError,
    },
}

impl TemplateError {
    /// The error as a diagnostic with a place in the `.wf` file, when it has one.
    pub fn to_diagnostic(&self) -> Option<Diagnostic> {
        match self {
            TemplateError::Syntax(d) => Some(d.clone()),
            TemplateError::Script { span, error } => Some(
                Diagnostic::error("E0201", error.message(), *span)
                    .with_help("fix the rhai expression; see docs/scripting.md"),
            ),
            TemplateError::Io { .. } | TemplateError::Import(_) => None,
        }
    }
}

/// A template ready to plan: parsed, graphed, with its scripts compiled.
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
    engine: ScriptEngine,
    compiled: HashMap<Span, CompiledExpr>,
}

impl Template {
    /// Read and load a `.wf` file, with its imports from beside it.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = crate::dsl::parse(&text).map_err(TemplateError::Syntax)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let imports = file
            .workflow
            .imports()
            .map(|i| (i.alias.name.as_str(), i.path.value.as_str()));
        let modules = modules::read_imports(dir, imports)?;
        Template::build(SourceFile::new(path, text), file, modules)
    }

    /// Compile a template of the template catalog (already read, parsed and checked).
    pub fn from_catalog(
        entry: &crate::catalog::templates::Template,
    ) -> Result<Self, TemplateError> {
        let modules = entry
            .imports
            .iter()
            .map(|i| (i.alias.clone(), i.source.clone()))
            .collect();
        Template::build(
            SourceFile::new(&entry.path, entry.source.clone()),
            entry.file.clone(),
            modules,
        )
    }

    /// Load a template from text; `modules` gives each import alias its source.
    pub fn from_source(
        path: impl Into<PathBuf>,
        text: &str,
        modules: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let file = crate::dsl::parse(text).map_err(TemplateError::Syntax)?;
        Template::build(SourceFile::new(path, text), file, modules)
    }

    fn build(
        source: SourceFile,
        file: File,
        modules: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
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
            TemplateError::Script { span, error }
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
                    failure = Some(TemplateError::Script { span, error });
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
            engine,
            compiled,
        })
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

/// One piece of rhai source in a file: a `${ … }` or a bare identifier standing for one.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// The rhai source.
    pub source: &'a str,
    /// The span of that source in the file (the key of its compiled form).
    pub key: Span,
    /// The whole `${ … }` (or identifier).
    pub span: Span,
    /// True for a bare identifier value (`namespace`, shorthand for `${ namespace }`).
    pub bare: bool,
}

/// Call `f` on every script of the file, in source order.
pub fn for_each_script<'a>(file: &'a File, f: &mut dyn FnMut(Script<'a>)) {
    for item in &file.workflow.items {
        match item {
            Item::Description(d) => string_scripts(&d.text.parts, f),
            Item::Labels(l) => map_scripts(&l.map, f),
            Item::Approval(a) => {
                if let ApprovalKind::When(e) = &a.kind {
                    f(expr_script(e));
                }
            }
            Item::Param(p) => {
                if let Some(v) = &p.default {
                    value_scripts(v, f);
                }
                for c in &p.constraints {
                    match &c.kind {
                        ConstraintKind::Min(v) | ConstraintKind::Max(v) => value_scripts(v, f),
                        ConstraintKind::Enum(vs) => vs.iter().for_each(|v| value_scripts(v, f)),
                        ConstraintKind::Description(s) => string_scripts(&s.parts, f),
                        ConstraintKind::Pattern(_) => {}
                    }
                }
            }
            Item::Let(l) => value_scripts(&l.value, f),
            Item::Step(s) => step_scripts(s, f),
            Item::Parallel(p) => p.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Verify(v) => v.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Finally(x) => x.steps.iter().for_each(|s| step_scripts(s, f)),
            Item::Timeout(_) | Item::MaxParallel(_) | Item::RollbackMode(_) | Item::Import(_) => {}
        }
    }
}

fn expr_script(e: &Expr) -> Script<'_> {
    Script {
        source: &e.source,
        key: e.source_span,
        span: e.span,
        bare: false,
    }
}

fn step_scripts<'a>(step: &'a Step, f: &mut dyn FnMut(Script<'a>)) {
    for item in &step.items {
        step_item_scripts(item, f);
    }
}

fn step_item_scripts<'a>(item: &'a StepItem, f: &mut dyn FnMut(Script<'a>)) {
    match item {
        StepItem::Description(d) => string_scripts(&d.text.parts, f),
        StepItem::With(w) => map_scripts(&w.map, f),
        StepItem::When(w) => f(expr_script(&w.expr)),
        StepItem::Rollback(r) => r.items.iter().for_each(|i| step_item_scripts(i, f)),
        StepItem::Action(_)
        | StepItem::Timeout(_)
        | StepItem::Retry(_)
        | StepItem::OnFailure(_) => {}
    }
}

fn map_scripts<'a>(map: &'a MapLit, f: &mut dyn FnMut(Script<'a>)) {
    for entry in &map.entries {
        value_scripts(&entry.value, f);
    }
}

fn string_scripts<'a>(parts: &'a [StringPart], f: &mut dyn FnMut(Script<'a>)) {
    for part in parts {
        if let StringPart::Expr(e) = part {
            f(expr_script(e));
        }
    }
}

/// Call `f` on every script inside a value.
pub fn value_scripts<'a>(value: &'a Value, f: &mut dyn FnMut(Script<'a>)) {
    match &value.kind {
        ValueKind::String(s) => string_scripts(&s.parts, f),
        ValueKind::List(items) => items.iter().for_each(|v| value_scripts(v, f)),
        ValueKind::Map(m) => map_scripts(m, f),
        ValueKind::Expr(e) => f(expr_script(e)),
        ValueKind::Ident(i) => f(Script {
            source: &i.name,
            key: i.span,
            span: i.span,
            bare: true,
        }),
        ValueKind::Int(_)
        | ValueKind::Float(..)
        | ValueKind::Bool(_)
        | ValueKind::Null
        | ValueKind::Duration(_) => {}
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

/// The template catalog's digest (so a plan's digest names the catalog entry it came from).
fn digest(source: &SourceFile, file: &File, modules: &BTreeMap<String, String>) -> String {
    let imports: Vec<ImportedScript> = file
        .workflow
        .imports()
        .map(|i| ImportedScript {
            alias: i.alias.name.clone(),
            path: i.path.value.clone(),
            source: modules.get(&i.alias.name).cloned().unwrap_or_default(),
        })
        .collect();
    crate::catalog::templates::digest(source.text(), &imports)
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
    fn the_digest_is_the_catalogs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
        std::fs::write(dir.path().join("lib/m.rhai"), "fn one() { 1 }").expect("write");
        let path = dir.path().join("t.wf");
        std::fs::write(&path, WF).expect("write");
        let entry = crate::catalog::templates::load_file(&path).expect("catalog entry");
        let from_catalog = Template::from_catalog(&entry).expect("compiles");
        let loaded = Template::load(&path).expect("loads");
        assert_eq!(from_catalog.digest, entry.digest);
        assert_eq!(loaded.digest, entry.digest);
    }

    #[test]
    fn a_rhai_syntax_error_points_into_the_file() {
        let text = WF.replace("m::one()", "m::one() +");
        let err = Template::from_source("t.wf", &text, modules("fn one() { 1 }"))
            .expect_err("syntax error");
        let d = err.to_diagnostic().expect("has a place");
        let at = text.find("m::one() +").expect("present");
        assert!(d.span.start >= at && d.span.start <= at + 12, "{d:?}");
    }

    #[test]
    fn a_broken_module_points_at_its_import() {
        let err = Template::from_source("t.wf", WF, modules("fn one( { 1 }")).expect_err("bad");
        let d = err.to_diagnostic().expect("has a place");
        assert_eq!(&WF[d.span.start..d.span.end], "\"lib/m.rhai\"");
        assert!(d.message.contains("in module `m`"), "{}", d.message);
    }
}
