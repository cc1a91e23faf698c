//! The protocol side: open documents, when they are analysed, and every request answered
//! from an [`Analysis`].
//!
//! Typing never waits: `didChange` applies the edit and returns; the analysis of the new text
//! runs on a task of its own (on the blocking pool for a document over [`INLINE_BYTES`]),
//! shared by every request that needs it, and its diagnostics are published when it ends,
//! unless the text has changed again (then the newer analysis publishes). Requests wait
//! (asynchronously) for the analysis of the text they were sent for and compute their answer
//! (a large document's on the blocking pool too); a `$/cancelRequest` drops that wait.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::check::CheckContext;
use crate::diagnostic::Severity;
use crate::diagnostic::Span;
use crate::sync::lock;

use super::analysis::{Analysis, DocKind, Input};
use super::complete::Modules;
use super::navigate::{Target, real_path};
use super::text::{Encoding, LineIndex, apply_change};

/// The largest document the server analyses; a larger one gets one diagnostic saying so.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Documents up to this size are analysed, and answered, on the task that asks: it takes
/// well under a millisecond, less than handing the work to another thread and back.
/// Larger ones go to the blocking pool, so that they never hold up typing elsewhere.
pub const INLINE_BYTES: usize = 64 * 1024;

/// How many directories above a module are searched for the templates that import it (an
/// import path stays inside its template's directory, so importers lie in its ancestors).
pub const IMPORTER_LEVELS: usize = 4;

/// The most template files read from disk to answer one "find references" from a module.
pub const MAX_IMPORTERS_READ: usize = 512;

/// What `remedy lsp` is started with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Namespaces protected on top of the built-in ones, as `remedy lint --protect-namespace`.
    pub protected_namespaces: Vec<String>,
}

impl Modules for CheckContext {
    fn source(&self, path: &Path) -> Option<String> {
        self.read_import(path)
    }
}

type Pending = Shared<BoxFuture<'static, Option<Arc<Analysis>>>>;

/// One open document.
struct Doc {
    text: String,
    version: i32,
    /// Bumped on every change of the text or of a module it imports.
    generation: u64,
    kind: DocKind,
    path: Option<PathBuf>,
    analysis: Option<Arc<Analysis>>,
    pending: Option<(u64, Pending)>,
    /// The generation whose diagnostics were published last.
    published: u64,
}

struct State {
    config: Mutex<Config>,
    encoding: Mutex<Encoding>,
    docs: Mutex<HashMap<Uri, Doc>>,
    generations: AtomicU64,
}

/// The language server: one per connection.
pub struct Backend {
    client: Client,
    state: Arc<State>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

fn failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(-32803),
        message: message.into().into(),
        data: None,
    }
}

impl Backend {
    /// A server talking to `client`.
    pub fn new(client: Client, config: Config) -> Self {
        Backend {
            client,
            state: Arc::new(State {
                config: Mutex::new(config),
                encoding: Mutex::new(Encoding::Utf16),
                docs: Mutex::new(HashMap::new()),
                generations: AtomicU64::new(1),
            }),
        }
    }

    fn encoding(&self) -> Encoding {
        *lock(&self.state.encoding)
    }

    /// The analysis of the document's current text: the one made, the one being made, or a
    /// new one.
    async fn analysis(&self, uri: &Uri) -> Option<Arc<Analysis>> {
        let pending = {
            let mut docs = lock(&self.state.docs);
            let unsaved = unsaved_modules(&docs);
            let protected = lock(&self.state.config).protected_namespaces.clone();
            let doc = docs.get_mut(uri)?;
            if let Some(a) = &doc.analysis
                && a.generation == doc.generation
            {
                return Some(a.clone());
            }
            match &doc.pending {
                Some((g, p)) if *g == doc.generation => p.clone(),
                _ => {
                    let input = Input {
                        text: doc.text.clone(),
                        generation: doc.generation,
                        version: doc.version,
                        kind: doc.kind,
                        path: doc.path.clone(),
                        ctx: check_context(doc.path.as_deref(), protected, unsaved),
                    };
                    if input.text.len() <= INLINE_BYTES {
                        drop(docs);
                        let a = Arc::new(analyse(input));
                        let mut docs = lock(&self.state.docs);
                        if let Some(doc) = docs.get_mut(uri)
                            && doc.generation == a.generation
                        {
                            doc.analysis = Some(a.clone());
                        }
                        return Some(a);
                    }
                    let task = tokio::task::spawn_blocking(move || analyse(input));
                    let p: Pending = async move { task.await.ok().map(Arc::new) }
                        .boxed()
                        .shared();
                    doc.pending = Some((doc.generation, p.clone()));
                    p
                }
            }
        };
        let a = pending.await?;
        let mut docs = lock(&self.state.docs);
        if let Some(doc) = docs.get_mut(uri)
            && doc.generation == a.generation
        {
            doc.analysis = Some(a.clone());
            doc.pending = None;
        }
        Some(a)
    }

    /// Analyse the document (after a pause for a slow one) and publish its diagnostics if
    /// its text is still the same.
    fn schedule(&self, uri: Uri) {
        let me = Backend {
            client: self.client.clone(),
            state: self.state.clone(),
        };
        tokio::spawn(async move {
            let (generation, slow) = {
                let docs = lock(&me.state.docs);
                let Some(doc) = docs.get(&uri) else { return };
                let slow = doc
                    .analysis
                    .as_ref()
                    .is_some_and(|a| a.cost > Duration::from_millis(20));
                (doc.generation, slow)
            };
            if slow {
                // A large document: let a burst of keystrokes end before analysing it.
                tokio::time::sleep(Duration::from_millis(30)).await;
                if lock(&me.state.docs)
                    .get(&uri)
                    .is_none_or(|d| d.generation != generation)
                {
                    return;
                }
            }
            let Some(a) = me.analysis(&uri).await else {
                return;
            };
            {
                let mut docs = lock(&me.state.docs);
                let Some(doc) = docs.get_mut(&uri) else {
                    return;
                };
                if doc.generation != a.generation || doc.published >= a.generation {
                    return;
                }
                doc.published = a.generation;
            }
            let diagnostics = lsp_diagnostics(&uri, &a, me.encoding());
            me.client
                .publish_diagnostics(uri, diagnostics, Some(a.version))
                .await;
        });
    }

    /// Mark every open template importing `module` as changed, and re-check it.
    fn recheck_importers(&self, module: &Path) {
        let uris: Vec<Uri> = {
            let mut docs = lock(&self.state.docs);
            let mut out = Vec::new();
            for (uri, doc) in docs.iter_mut() {
                let imports = doc
                    .analysis
                    .as_ref()
                    .is_some_and(|a| a.imports.iter().any(|i| i.file.as_deref() == Some(module)));
                if doc.kind == DocKind::Template && imports {
                    doc.generation = self.state.generations.fetch_add(1, Ordering::Relaxed);
                    out.push(uri.clone());
                }
            }
            out
        };
        for uri in uris {
            self.schedule(uri);
        }
    }

    /// "Find references" on a function of an open module: its `fn` (when `declaration`), and
    /// every call of it in the templates that import the module: the open ones from their
    /// current analysis, the others as they are on disk (see [`importers_on_disk`]).
    async fn module_references(
        &self,
        uri: &Uri,
        pos: Position,
        declaration: bool,
    ) -> Option<Vec<Location>> {
        let enc = self.encoding();
        let (text, module, open, protected, unsaved) = {
            let docs = lock(&self.state.docs);
            let doc = docs.get(uri)?;
            let open: Vec<(Uri, Option<PathBuf>)> = docs
                .iter()
                .filter(|(_, d)| d.kind == DocKind::Template)
                .map(|(u, d)| (u.clone(), d.path.clone()))
                .collect();
            let protected = lock(&self.state.config).protected_namespaces.clone();
            (
                doc.text.clone(),
                doc.path.clone()?,
                open,
                protected,
                unsaved_modules(&docs),
            )
        };
        let lines = LineIndex::new(&text);
        let offset = lines.offset(&text, pos, enc);
        let f = super::modules::functions(&text)
            .into_iter()
            .find(|f| f.span.start <= offset && offset <= f.span.end)?;
        let module = real_path(&module);
        let mut found = Vec::new();
        if declaration {
            found.push(Location::new(uri.clone(), lines.range(&text, f.span, enc)));
        }
        let uses = |found: &mut Vec<Location>, t_uri: &Uri, a: &Analysis| {
            for span in super::navigate::module_fn_uses(a, &module, &f.name) {
                found.push(Location::new(
                    t_uri.clone(),
                    a.lines.range(&a.text, span, enc),
                ));
            }
        };
        let mut open_paths = Vec::new();
        for (t_uri, t_path) in open {
            if let Some(a) = self.analysis(&t_uri).await {
                uses(&mut found, &t_uri, &a);
            }
            open_paths.extend(t_path.as_deref().map(real_path));
        }
        let disk = {
            let module = module.clone();
            tokio::task::spawn_blocking(move || {
                importers_on_disk(&module, &open_paths)
                    .into_iter()
                    .map(|(t_uri, t_text, t_path)| {
                        let ctx = check_context(Some(&t_path), protected.clone(), unsaved.clone());
                        let a = Analysis::new(Input {
                            text: t_text,
                            generation: 0,
                            version: 0,
                            kind: DocKind::Template,
                            ctx,
                            path: Some(t_path),
                        });
                        (t_uri, a)
                    })
                    .collect::<Vec<_>>()
            })
        };
        for (t_uri, a) in disk.await.unwrap_or_default() {
            uses(&mut found, &t_uri, &a);
        }
        (!found.is_empty()).then_some(found)
    }

    /// Run `f` on the document's current analysis, on the blocking pool.
    async fn answer<T, F>(&self, uri: &Uri, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Analysis, Encoding) -> T + Send + 'static,
    {
        let a = self.analysis(uri).await?;
        let enc = self.encoding();
        if a.text.len() <= INLINE_BYTES {
            return Some(f(&a, enc));
        }
        tokio::task::spawn_blocking(move || f(&a, enc)).await.ok()
    }
}

/// Analyse one document version; a document over [`MAX_DOCUMENT_BYTES`] gets only a
/// diagnostic.
fn analyse(input: Input) -> Analysis {
    if input.text.len() > MAX_DOCUMENT_BYTES {
        let mut a = Analysis::new(Input {
            text: String::new(),
            ..input.clone()
        });
        a.version = input.version;
        a.diagnostics = vec![crate::diagnostic::Diagnostic::error(
            "E0001",
            format!(
                "the file has {} bytes; the language server analyses files up to {} bytes",
                input.text.len(),
                MAX_DOCUMENT_BYTES
            ),
            Span::new(0, 0),
        )];
        return a;
    }
    Analysis::new(input)
}

/// The open modules' texts, by path.
fn unsaved_modules(docs: &HashMap<Uri, Doc>) -> BTreeMap<PathBuf, String> {
    docs.values()
        .filter(|d| d.kind == DocKind::Module)
        .filter_map(|d| d.path.clone().map(|p| (p, d.text.clone())))
        .collect()
}

/// The checker's context for a template at `path`: its directory, the protected namespaces
/// and the open modules' unsaved texts.
fn check_context(
    path: Option<&Path>,
    protected_namespaces: Vec<String>,
    unsaved: BTreeMap<PathBuf, String>,
) -> CheckContext {
    CheckContext {
        template_dir: path.and_then(Path::parent).map(Path::to_path_buf),
        protected_namespaces,
        unsaved,
        ..CheckContext::default()
    }
}

/// The templates on disk that may import `module` (a real path), leaving out those at
/// `open` (real paths): the `.wf` files of the module's directory and of up to
/// [`IMPORTER_LEVELS`] directories above it (an import stays inside its template's directory),
/// read as `remedy lint` reads them (regular files inside their directory, at most
/// [`crate::files::MAX_FILE_BYTES`]), at most [`MAX_IMPORTERS_READ`] of them. A file that
/// cannot be read is left out. Which of them really import the module is for the caller to
/// check.
fn importers_on_disk(module: &Path, open: &[PathBuf]) -> Vec<(Uri, String, PathBuf)> {
    let mut out = Vec::new();
    let mut read = 0;
    for dir in module.ancestors().skip(1).take(IMPORTER_LEVELS + 1) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| crate::files::has_extension(p, "wf"))
            .collect();
        paths.sort();
        for path in paths {
            if read >= MAX_IMPORTERS_READ {
                return out;
            }
            if open.contains(&real_path(&path)) {
                continue;
            }
            read += 1;
            let Ok(text) = crate::files::read_text_inside(dir, &path, crate::files::MAX_FILE_BYTES)
            else {
                continue;
            };
            if let Some(uri) = Uri::from_file_path(&path) {
                out.push((uri, text, path));
            }
        }
    }
    out
}

fn kind_of(uri: &Uri) -> DocKind {
    if uri.as_str().ends_with(".rhai") {
        DocKind::Module
    } else {
        DocKind::Template
    }
}

fn path_of(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

/// A diagnostic as the protocol carries it: code, severity, the help appended to the message,
/// labels as related information.
pub fn lsp_diagnostics(uri: &Uri, a: &Analysis, enc: Encoding) -> Vec<Diagnostic> {
    a.diagnostics
        .iter()
        .map(|d| {
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .labels
                .iter()
                .map(|l| DiagnosticRelatedInformation {
                    location: Location::new(uri.clone(), a.lines.range(&a.text, l.span, enc)),
                    message: l.message.clone(),
                })
                .collect();
            Diagnostic {
                range: a.lines.range(&a.text, d.span, enc),
                severity: Some(match d.severity {
                    Severity::Error => DiagnosticSeverity::ERROR,
                    Severity::Warning => DiagnosticSeverity::WARNING,
                }),
                code: Some(NumberOrString::String(d.code.to_string())),
                source: Some("remedy".to_string()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                tags: (d.code == "W0102").then(|| vec![DiagnosticTag::UNNECESSARY]),
                ..Diagnostic::default()
            }
        })
        .collect()
}

fn location(uri: &Uri, a: &Analysis, enc: Encoding, target: Target) -> Option<Location> {
    match target {
        Target::Here(span) => Some(Location::new(
            uri.clone(),
            a.lines.range(&a.text, span, enc),
        )),
        Target::File(path, span) => {
            let uri = Uri::from_file_path(&path)?;
            let range = match span {
                Some((span, text)) => LineIndex::new(&text).range(&text, span, enc),
                None => Range::default(),
            };
            Some(Location::new(uri, range))
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
        let enc = if utf8 {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        *lock(&self.state.encoding) = enc;
        if let Some(extra) = params
            .initialization_options
            .as_ref()
            .and_then(|o| o.get("protectNamespaces"))
            .and_then(|v| v.as_array())
        {
            lock(&self.state.config)
                .protected_namespaces
                .extend(extra.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "remedy".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(if utf8 {
                    PositionEncodingKind::UTF8
                } else {
                    PositionEncodingKind::UTF16
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), ":".into(), "\"".into(), "/".into()]),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_symbol_provider: Some(OneOf::Left(true)),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: super::tokens::legend(),
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            range: None,
                            work_done_progress_options: WorkDoneProgressOptions::default(),
                        },
                    ),
                ),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..CodeActionOptions::default()
                    },
                )),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // Hear of module files changed outside the editor, when the client can watch them.
        let options = DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![FileSystemWatcher {
                glob_pattern: GlobPattern::String("**/*.rhai".to_string()),
                kind: None,
            }],
        };
        let registration = Registration {
            id: "remedy-modules".to_string(),
            method: "workspace/didChangeWatchedFiles".to_string(),
            register_options: serde_json::to_value(options).ok(),
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = client.register_capability(vec![registration]).await;
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let uri = params.text_document.uri;
        let kind = kind_of(&uri);
        let path = path_of(&uri);
        {
            let generation = self.state.generations.fetch_add(1, Ordering::Relaxed);
            lock(&self.state.docs).insert(
                uri.clone(),
                Doc {
                    text: params.text_document.text,
                    version: params.text_document.version,
                    generation,
                    kind,
                    path: path.clone(),
                    analysis: None,
                    pending: None,
                    published: 0,
                },
            );
        }
        self.schedule(uri);
        if kind == DocKind::Module
            && let Some(p) = path
        {
            self.recheck_importers(&p);
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let enc = self.encoding();
        let module = {
            let mut docs = lock(&self.state.docs);
            let Some(doc) = docs.get_mut(&uri) else {
                return;
            };
            for change in &params.content_changes {
                apply_change(&mut doc.text, change.range, &change.text, enc);
            }
            doc.version = params.text_document.version;
            doc.generation = self.state.generations.fetch_add(1, Ordering::Relaxed);
            (doc.kind == DocKind::Module)
                .then(|| doc.path.clone())
                .flatten()
        };
        self.schedule(uri);
        if let Some(p) = module {
            self.recheck_importers(&p);
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if let Some(p) = path_of(&params.text_document.uri)
            && kind_of(&params.text_document.uri) == DocKind::Module
        {
            self.recheck_importers(&p);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        let removed = lock(&self.state.docs).remove(&uri);
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
        if let Some(doc) = removed
            && doc.kind == DocKind::Module
            && let Some(p) = doc.path
        {
            // Its unsaved text is gone: importers read the file again.
            self.recheck_importers(&p);
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        for change in params.changes {
            if kind_of(&change.uri) == DocKind::Module
                && let Some(p) = path_of(&change.uri)
            {
                self.recheck_importers(&p);
            }
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let pos = params.text_document_position_params.position;
        Ok(self
            .answer(&uri, move |a, enc| {
                let offset = a.lines.offset(&a.text, pos, enc);
                super::hover::hover(a, offset, &a.ctx).map(|(text, span)| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: Some(a.lines.range(&a.text, span, enc)),
                })
            })
            .await
            .flatten())
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let uri = params.text_document_position.text_document.uri;
        let pos = params.text_document_position.position;
        Ok(self
            .answer(&uri, move |a, enc| {
                if a.kind != DocKind::Template {
                    return None;
                }
                let offset = a.lines.offset(&a.text, pos, enc);
                let items = super::complete::complete(a, offset, enc, &a.ctx);
                Some(CompletionResponse::Array(items))
            })
            .await
            .flatten())
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let uri = params.text_document_position_params.text_document.uri;
        let pos = params.text_document_position_params.position;
        let u = uri.clone();
        Ok(self
            .answer(&uri, move |a, enc| {
                let offset = a.lines.offset(&a.text, pos, enc);
                let target = super::navigate::definition(a, offset, &a.ctx)?;
                location(&u, a, enc, target).map(GotoDefinitionResponse::Scalar)
            })
            .await
            .flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let uri = params.text_document_position.text_document.uri;
        let pos = params.text_document_position.position;
        let declaration = params.context.include_declaration;
        if kind_of(&uri) == DocKind::Module {
            return Ok(self.module_references(&uri, pos, declaration).await);
        }
        let u = uri.clone();
        Ok(self
            .answer(&uri, move |a, enc| {
                let offset = a.lines.offset(&a.text, pos, enc);
                let found: Vec<Location> =
                    super::navigate::references(a, offset, declaration, &a.ctx)
                        .into_iter()
                        .filter_map(|t| location(&u, a, enc, t))
                        .collect();
                (!found.is_empty()).then_some(found)
            })
            .await
            .flatten())
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let uri = params.text_document.uri;
        let pos = params.position;
        let answer = self
            .answer(&uri, move |a, enc| {
                let offset = a.lines.offset(&a.text, pos, enc);
                super::navigate::prepare_rename(a, offset).map(|(span, name)| {
                    PrepareRenameResponse::RangeWithPlaceholder {
                        range: a.lines.range(&a.text, span, enc),
                        placeholder: name,
                    }
                })
            })
            .await;
        match answer {
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(why)) => Err(failed(why)),
            None => Ok(None),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let uri = params.text_document_position.text_document.uri;
        let pos = params.text_document_position.position;
        let new = params.new_name;
        let u = uri.clone();
        let answer = self
            .answer(&uri, move |a, enc| {
                let offset = a.lines.offset(&a.text, pos, enc);
                super::navigate::rename(a, offset, &new).map(|edits| {
                    let edits = edits
                        .into_iter()
                        .map(|(span, text)| TextEdit::new(a.lines.range(&a.text, span, enc), text))
                        .collect();
                    WorkspaceEdit::new(HashMap::from([(u, edits)]))
                })
            })
            .await;
        match answer {
            Some(Ok(edit)) => Ok(Some(edit)),
            Some(Err(why)) => Err(failed(why)),
            None => Ok(None),
        }
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri;
        Ok(self
            .answer(&uri, |a, enc| {
                DocumentSymbolResponse::Nested(super::outline::symbols(a, enc))
            })
            .await)
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let uri = params.text_document.uri;
        Ok(self.answer(&uri, |a, _| super::outline::folding(a)).await)
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let uri = params.text_document.uri;
        Ok(self
            .answer(&uri, |a, enc| {
                SemanticTokensResult::Tokens(SemanticTokens {
                    result_id: None,
                    data: super::tokens::semantic_tokens(a, enc),
                })
            })
            .await)
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let uri = params.text_document.uri;
        let answer = self
            .answer(&uri, |a, enc| {
                if a.kind != DocKind::Template {
                    return Ok(None);
                }
                let tree = match (&a.tree, a.parses) {
                    (Some(tree), true) => tree,
                    _ => {
                        let why = a.diagnostics.first().map(|d| {
                            let p = a.lines.position(&a.text, d.span.start, Encoding::Utf8);
                            format!("{}:{}: {}", p.line + 1, p.character + 1, d.message)
                        });
                        return Err(format!(
                            "the file does not parse, so it is left as it is ({})",
                            why.unwrap_or_default()
                        ));
                    }
                };
                let formatted = crate::dsl::format(tree);
                Ok(minimal_edit(&a.text, &formatted).map(|(span, text)| {
                    vec![TextEdit::new(a.lines.range(&a.text, span, enc), text)]
                }))
            })
            .await;
        match answer {
            Some(Ok(edits)) => Ok(Some(edits.unwrap_or_default())),
            Some(Err(why)) => Err(failed(why)),
            None => Ok(None),
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let range = params.range;
        let u = uri.clone();
        Ok(self
            .answer(&uri, move |a, enc| {
                let (Some(tree), true) = (&a.tree, a.parses) else {
                    return Vec::new();
                };
                let wanted = a.lines.span(&a.text, range, enc);
                let lsp = lsp_diagnostics(&u, a, enc);
                let mut out = Vec::new();
                for (d, ld) in a.diagnostics.iter().zip(lsp) {
                    if d.span.end < wanted.start || d.span.start > wanted.end {
                        continue;
                    }
                    let fixes = crate::check::fix::fixes(tree, &a.text, d, &a.ctx);
                    let single = fixes.len() == 1;
                    for f in fixes {
                        let edits = f
                            .edits
                            .iter()
                            .map(|e| {
                                TextEdit::new(a.lines.range(&a.text, e.span, enc), e.text.clone())
                            })
                            .collect();
                        out.push(CodeActionOrCommand::CodeAction(CodeAction {
                            title: f.title,
                            kind: Some(CodeActionKind::QUICKFIX),
                            diagnostics: Some(vec![ld.clone()]),
                            edit: Some(WorkspaceEdit::new(HashMap::from([(u.clone(), edits)]))),
                            is_preferred: Some(single),
                            ..CodeAction::default()
                        }));
                    }
                }
                out
            })
            .await)
    }
}

/// One edit turning `old` into `new`: the differing middle, or `None` when they are equal.
fn minimal_edit(old: &str, new: &str) -> Option<(Span, String)> {
    if old == new {
        return None;
    }
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    Some((
        Span::new(prefix, old.len() - suffix),
        new[prefix..new.len() - suffix].to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_edits_replace_only_the_difference() {
        let (span, text) = minimal_edit("a  b c", "a b c").unwrap_or_default();
        assert_eq!(
            crate::check::fix::apply("a  b c", &[crate::check::fix::Edit { span, text }]),
            "a b c"
        );
        assert_eq!(minimal_edit("same", "same"), None);
        let (span, text) = minimal_edit("é1é", "é2é").unwrap_or_default();
        assert_eq!((span, text.as_str()), (Span::new(2, 3), "2"));
    }
}
