//! The template directory as the operator sees it: loaded at start, reloaded when its files
//! change (a mounted ConfigMap changes by swapping a symlink, so the directory is polled).
//! Reloading never touches a running workflow: its plan is pinned in status.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures::Stream;

use super::planning::Rejected;
use crate::files;
use crate::sync;
use crate::template::TemplateCatalog;

/// The current template catalog of a directory.
#[derive(Debug)]
pub struct TemplateSource {
    dir: PathBuf,
    catalog: RwLock<Arc<TemplateCatalog>>,
    /// The templates the last load left out, so that a run asking for one is told why.
    rejected: RwLock<Arc<Vec<Rejected>>>,
    fingerprint: RwLock<Fingerprint>,
}

/// What the poller compares: every template and script file with its size and mtime.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

impl TemplateSource {
    /// Loads `dir`; bad templates are logged and left out, the good ones are served (each
    /// built once: every run of a template plans from one build, its scripts compiled once).
    pub fn load(dir: &Path) -> Self {
        let source = TemplateSource {
            dir: dir.to_path_buf(),
            catalog: RwLock::new(Arc::new(TemplateCatalog::default())),
            rejected: RwLock::new(Arc::new(Vec::new())),
            fingerprint: RwLock::new(Vec::new()),
        };
        source.reload();
        source
    }

    /// The catalog as last loaded.
    pub fn current(&self) -> Arc<TemplateCatalog> {
        sync::read(&self.catalog).clone()
    }

    /// The templates the last load left out, with why.
    pub fn rejected(&self) -> Arc<Vec<Rejected>> {
        sync::read(&self.rejected).clone()
    }

    /// Reloads when the files changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let now = fingerprint(&self.dir);
        let same = *sync::read(&self.fingerprint) == now;
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
        *sync::write(&self.catalog) = Arc::new(catalog);
        *sync::write(&self.rejected) = Arc::new(errors.iter().map(Rejected::from_error).collect());
        *sync::write(&self.fingerprint) = print;
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
    // The loader's walk: hidden entries skipped (`..data` and `..<timestamp>` are a mounted
    // ConfigMap's internals; the visible symlinks point into them), each directory once.
    let walk = files::walk(dir, &|p| {
        files::has_extension(p, "wf") || files::has_extension(p, "rhai")
    });
    walk.files
        .into_iter()
        .filter_map(|path| {
            let meta = std::fs::metadata(&path).ok()?;
            Some((path, meta.len(), meta.modified().ok()))
        })
        .collect()
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
        let first = source.current().get("tiny", None).unwrap().clone();
        assert!(Arc::ptr_eq(
            &first,
            source.current().get("tiny", None).unwrap()
        ));
        std::fs::write(dir.path().join("tiny.wf"), WF.replace("\"hi\"", "\"ho\"")).unwrap();
        assert!(source.reload_if_changed());
        let changed = source.current().get("tiny", None).unwrap().clone();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(changed.source.text().contains("\"ho\""));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_an_ancestor_does_not_hang_the_poller() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.wf"), WF).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/up")).unwrap();
        let source = TemplateSource::load(dir.path());
        assert_eq!(source.current().len(), 1);
        assert_eq!(fingerprint(dir.path()).len(), 1);
    }
}
