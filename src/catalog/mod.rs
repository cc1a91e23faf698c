//! The action catalog (schemas and effects of every action type) and the protected
//! namespaces. A leaf: templates are loaded above `check`, by `template::loader`.

pub mod actions;

pub use actions::{ActionCatalog, ActionSpec, Effect, ParamKind, ParamSpec};

/// Namespaces no remediation may touch, whatever the configuration adds.
pub const BUILTIN_PROTECTED_NAMESPACES: &[&str] =
    &["kube-system", "kube-public", "kube-node-lease"];

/// The namespace the operator itself runs in by default; protected too.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "remedy-system";

/// True when `namespace` is built-in protected or the operator's own default namespace.
pub fn is_protected_namespace(namespace: &str) -> bool {
    BUILTIN_PROTECTED_NAMESPACES.contains(&namespace) || namespace == DEFAULT_OPERATOR_NAMESPACE
}
