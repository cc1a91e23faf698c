//! The template directory as the operator sees it: loaded at start, reloaded when its files
//! change (a mounted ConfigMap changes by swapping a symlink, so the directory is polled).
//! Reloading never touches a running workflow: its plan is pinned in status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use futures::Stream;

use super::planning::Rejected;
use crate::catalog::templates::{self, TemplateCatalog};
use crate::template::{Template, TemplateError};

/// The current template catalog of a directory.
#[derive(Debug)]
pub struct TemplateSource {
    dir: PathBuf,
    catalog: RwLock<Arc<TemplateCatalog>>,
    /// The templates the last load left out, so that a run asking for one is told why.
    rejected: RwLock<Arc<Vec<Rejected>>>,
    fingerprint: RwLock<Fingerprint>,
    /// Loaded templates by file, with the texts they were built from: every run of a
    /// template plans from one build (its scripts compiled once).
    built: Mutex<HashMap<PathBuf, (Texts, Arc<Template>)>>,
}

/// A template's source and its imports' (alias, source).
type Texts = (String, Vec<(String, String)>);

fn texts(entry: &templates::Template) -> Texts {
    (
        entry.source.clone(),
        entry
            .imports
            .iter()
            .map(|i| (i.alias.clone(), i.source.clone()))
            .collect(),
    )
}

/// What the poller compares: every template and script file with its size and mtime.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

impl TemplateSource {
    /// Loads `dir`; bad templates are logged and left out, the good ones are served.
    pub fn load(dir: &Path) -> Self {
        let source = TemplateSource {
            dir: dir.to_path_buf(),
            catalog: RwLock::new(Arc::new(TemplateCatalog::default())),
            rejected: RwLock::new(Arc::new(Vec::new())),
            fingerprint: RwLock::new(Vec::new()),
            built: Mutex::new(HashMap::new()),
        };
        source.reload();
        source
    }

    /// The catalog as last loaded.
    pub fn current(&self) -> Arc<TemplateCatalog> {
        match self.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The templates the last load left out, with why.
    pub fn rejected(&self) -> Arc<Vec<Rejected>> {
        match self.rejected.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The loaded template of a catalog entry, built on first use and kept while its texts
    /// stay the same.
    pub fn built(&self, entry: &templates::Template) -> Result<Arc<Template>, TemplateError> {
        let same = |(source, imports): &Texts| {
            *source == entry.source
                && imports.len() == entry.imports.len()
                && imports
                    .iter()
                    .zip(&entry.imports)
                    .all(|((alias, text), i)| *alias == i.alias && *text == i.source)
        };
        if let Ok(built) = self.built.lock()
            && let Some((texts, template)) = built.get(&entry.path)
            && same(texts)
        {
            return Ok(template.clone());
        }
        let template = Arc::new(Template::from_catalog(entry)?);
        if let Ok(mut built) = self.built.lock() {
            built.insert(entry.path.clone(), (texts(entry), template.clone()));
        }
        Ok(template)
    }

    /// Reloads when the files changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let now = fingerprint(&self.dir);
        let same = self.fingerprint.read().map(|f| *f == now).unwrap_or(false);
        if same {
            return false;
        }
        self.reload();
        true
    }

    fn reload(&self) {
        let print = fingerprint(&self.dir);
        let (catalog, errors) = TemplateCatalog::load_dir_lenient(&self.dir);
        for e in &errors {
            tracing::error!(error = %e, "template left out");
        }
        tracing::info!(dir = %self.dir.display(), templates = catalog.len(), rejected = errors.len(), "templates loaded");
        if let Ok(mut c) = self.catalog.write() {
            *c = Arc::new(catalog);
        }
        if let Ok(mut r) = self.rejected.write() {
            *r = Arc::new(errors.iter().map(Rejected::from_error).collect());
        }
        if let Ok(mut f) = self.fingerprint.write() {
            *f = print;
        }
        if let Ok(mut built) = self.built.lock() {
            built.clear();
        }
    }

    /// A stream that yields once each time the directory changed and was reloaded, polling
    /// every `every`, until `stop` turns true.
    pub fn changes(
        self: &Arc<Self>,
        every: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> impl Stream<Item = ()> + Send + 'static {
        let source = self.clone();
        futures::stream::unfold((source, stop), move |(source, mut stop)| async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    changed = stop.changed() => if changed.is_err() || *stop.borrow() { return None },
                }
                let probe = source.clone();
                let changed = tokio::task::spawn_blocking(move || probe.reload_if_changed())
                    .await
                    .unwrap_or(false);
                if changed {
                    return Some(((), (source, stop)));
                }
            }
        })
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    collect(dir, &mut out, 0);
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Fingerprint, depth: usize) {
    // Bounded depth: a symlink loop in a mounted directory must not hang the poller.
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // `..data` and `..<timestamp>` are a mounted ConfigMap's internals; the visible
        // symlinks point into them.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            collect(&path, out, depth + 1);
        } else if path.extension().is_some_and(|e| e == "wf" || e == "rhai") {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = r#"workflow "tiny" version "1.0.0" {
  step tell {
    action "notify_only"
    with { message: "hi" }
  }
}
"#;

    #[test]
    fn a_change_in_the_directory_reloads_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let source = TemplateSource::load(dir.path());
        assert!(source.current().is_empty());
        assert!(!source.reload_if_changed());
        std::fs::write(dir.path().join("tiny.wf"), WF).unwrap();
        assert!(source.reload_if_changed());
        assert_eq!(source.current().len(), 1);
        assert!(!source.reload_if_changed());
    }

    #[test]
    fn a_template_is_built_once_until_its_text_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.wf"), WF).unwrap();
        let source = TemplateSource::load(dir.path());
        let catalog = source.current();
        let entry = catalog.get("tiny", None).unwrap();
        let first = source.built(entry).unwrap();
        assert!(Arc::ptr_eq(&first, &source.built(entry).unwrap()));
        std::fs::write(dir.path().join("tiny.wf"), WF.replace("\"hi\"", "\"ho\"")).unwrap();
        assert!(source.reload_if_changed());
        let catalog = source.current();
        let changed = source.built(catalog.get("tiny", None).unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(changed.source.text().contains("\"ho\""));
    }
}
