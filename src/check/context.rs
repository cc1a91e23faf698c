//! What the checker knows beyond the file itself: the action catalog, where the template
//! lives, and which namespaces are protected.

use std::path::PathBuf;

use crate::catalog::{self, ActionCatalog};

/// The surroundings of a template being checked.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// The action types and their schemas.
    pub actions: ActionCatalog,
    /// The directory holding the template, for resolving imports (`None`: imports unchecked).
    pub template_dir: Option<PathBuf>,
    /// Namespaces protected on top of the built-in ones (e.g. the operator's own).
    pub protected_namespaces: Vec<String>,
}

impl CheckContext {
    /// A context with the built-in action catalog, for a template in `dir`.
    pub fn for_dir(dir: impl Into<PathBuf>) -> Self {
        CheckContext {
            template_dir: Some(dir.into()),
            ..CheckContext::default()
        }
    }

    /// True when no remediation may touch `namespace`.
    pub fn is_protected_namespace(&self, namespace: &str) -> bool {
        catalog::is_protected_namespace(namespace)
            || self.protected_namespaces.iter().any(|n| n == namespace)
    }
}
