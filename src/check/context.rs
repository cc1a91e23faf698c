//! What the checker knows beyond the file itself: the action catalog, where the template
//! lives, and which namespaces are protected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::catalog::{self, ActionCatalog};
use crate::files::{self, FileError};

/// The surroundings of a template being checked.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// The action types and their schemas.
    pub actions: ActionCatalog,
    /// The directory holding the template, for resolving imports (`None`: imports unchecked).
    pub template_dir: Option<PathBuf>,
    /// Namespaces protected on top of the built-in ones (e.g. the operator's own).
    pub protected_namespaces: Vec<String>,
    /// Texts of imported files being edited and not saved yet (the language server's open
    /// buffers), read instead of the files on disk.
    pub unsaved: BTreeMap<PathBuf, String>,
}

impl CheckContext {
    /// A context with the built-in action catalog, for a template in `dir`.
    pub fn for_dir(dir: impl Into<PathBuf>) -> Self {
        CheckContext {
            template_dir: Some(dir.into()),
            ..CheckContext::default()
        }
    }

    /// The text of the imported file at `path`: its unsaved text if an editor holds one, else
    /// the disk's, read as the loader reads it (a regular UTF-8 file within the size limit,
    /// whose real path stays inside `dir`, the template's directory).
    pub fn import_text(&self, dir: &Path, path: &Path) -> Result<String, FileError> {
        match self.unsaved.get(path) {
            Some(text) => Ok(text.clone()),
            None => files::read_text_inside(dir, path, files::MAX_FILE_BYTES),
        }
    }

    /// [`Self::import_text`] in the template's directory; `None` when there is none, or the
    /// file cannot be read.
    pub fn read_import(&self, path: &Path) -> Option<String> {
        self.import_text(self.template_dir.as_ref()?, path).ok()
    }

    /// True when no remediation may touch `namespace`.
    pub fn is_protected_namespace(&self, namespace: &str) -> bool {
        catalog::is_protected_namespace(namespace)
            || self.protected_namespaces.iter().any(|n| n == namespace)
    }
}
