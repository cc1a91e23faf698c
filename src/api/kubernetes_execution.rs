//! KubernetesExecution (`kubernetesexecution.kubernaut.io/v1alpha1`, short name `kex`): one
//! attempt of one step, created by the workflow interpreter and performed by the executor.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::JsonMap;
use super::schema::free_form_object;
use super::workflow_execution::ObjectRef;

/// One attempt of one step's action.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kubernetesexecution.kubernaut.io",
    version = "v1alpha1",
    kind = "KubernetesExecution",
    plural = "kubernetesexecutions",
    shortname = "kex",
    namespaced,
    status = "KubernetesExecutionStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Action","type":"string","jsonPath":".spec.action.type"}"#,
    printcolumn = r#"{"name":"Step","type":"string","jsonPath":".spec.step"}"#,
    printcolumn = r#"{"name":"Attempt","type":"integer","jsonPath":".spec.attempt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = super::rules::attempt_from_one(),
    validation = super::rules::execution_completed_when_finished()
)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesExecutionSpec {
    /// The run this attempt belongs to.
    pub workflow_execution_ref: ObjectRef,
    /// The step name.
    pub step: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// What to do.
    pub action: ActionCall,
    /// The attempt's deadline, as a duration such as `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Run with the API server's dry run: check everything, persist nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// An action type with its resolved parameters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ActionCall {
    /// The action type from the catalog.
    #[serde(rename = "type")]
    pub action_type: String,
    /// Its parameters, resolved.
    #[serde(default)]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: JsonMap,
}

/// What happened to the attempt.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesExecutionStatus {
    /// Where the attempt is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ExecutionPhase>,
    /// When the executor started acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// The result, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ExecutionResult>,
}

/// The phases of an attempt.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExecutionPhase {
    /// Created, not yet picked up.
    Pending,
    /// The executor is acting.
    Running,
    /// The action succeeded.
    Succeeded,
    /// The action failed.
    Failed,
}

impl ExecutionPhase {
    /// True for the phases an attempt never leaves (`Succeeded`, `Failed`).
    pub fn is_finished(self) -> bool {
        matches!(self, ExecutionPhase::Succeeded | ExecutionPhase::Failed)
    }
}

impl KubernetesExecution {
    /// Whether its status shows it finished.
    pub fn is_finished(&self) -> bool {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(ExecutionPhase::is_finished)
    }
}

/// The result of an attempt.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResult {
    /// Whether the action succeeded.
    pub success: bool,
    /// What a compensation or a later step may read.
    #[serde(default)]
    #[schemars(schema_with = "free_form_object")]
    pub output: JsonMap,
    /// A message a person can act on (empty on success).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The class of error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorReason>,
    /// The objects the action changed, with before → after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources_affected: Vec<ResourceChange>,
}

/// The classes of action errors.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ErrorReason {
    /// The executor may not do it (RBAC).
    Forbidden,
    /// The target does not exist.
    NotFound,
    /// Someone else changed the target meanwhile.
    Conflict,
    /// The attempt ran past its timeout.
    Timeout,
    /// The parameters or the resulting object are invalid.
    Invalid,
    /// The target is in a protected namespace.
    Protected,
    /// The execution is not one the workflow controller created for a run's pinned plan
    /// (no controlling run, a digest that does not verify, a step, attempt, action or
    /// parameters the plan does not hold, a run not approved): nothing was done.
    Untrusted,
    /// Anything else.
    Unknown,
}

/// One object an action changed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceChange {
    /// Its kind.
    pub kind: String,
    /// Its namespace, if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// What changed, e.g. `scaled 2→3`.
    pub change: String,
}

/// What an execution does for its run (the `…/kind` label).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionKind {
    /// An attempt of a main step.
    Step,
    /// An attempt of a compensation.
    Rollback,
    /// An attempt of a verify step.
    Verify,
    /// An attempt of a finally step.
    Finally,
}

impl ExecutionKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionKind::Step => "step",
            ExecutionKind::Rollback => "rollback",
            ExecutionKind::Verify => "verify",
            ExecutionKind::Finally => "finally",
        }
    }
}

/// Longest name an execution may have: a DNS label's 63, so that the name is also a valid
/// label value.
const MAX_NAME: usize = super::names::MAX_LABEL;

/// The deterministic name of an execution: `<wfe>-<step>-<attempt>`, or
/// `<wfe>-<step>-rb-<attempt>` for a compensation. Underscores become dashes; a name longer
/// than 63 characters (or not a valid name) is cut and suffixed with a short hash of the full
/// name, so it stays valid and unique.
pub fn execution_name(
    workflow_execution: &str,
    step: &str,
    kind: ExecutionKind,
    attempt: u32,
) -> String {
    let full = match kind {
        ExecutionKind::Rollback => format!("{workflow_execution}-{step}-rb-{attempt}"),
        _ => format!("{workflow_execution}-{step}-{attempt}"),
    };
    super::names::dns_name(&full, MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        assert_eq!(
            execution_name("wfe-a", "scale_out", ExecutionKind::Step, 1),
            "wfe-a-scale-out-1"
        );
        assert_eq!(
            execution_name("wfe-a", "scale_out", ExecutionKind::Rollback, 2),
            "wfe-a-scale-out-rb-2"
        );
        assert_eq!(
            execution_name("wfe-a", "healthy", ExecutionKind::Verify, 3),
            "wfe-a-healthy-3"
        );
    }

    #[test]
    fn long_names_are_cut_unique_and_valid() {
        let wfe = "a".repeat(50);
        let a = execution_name(&wfe, "first_long_step_name", ExecutionKind::Step, 1);
        let b = execution_name(&wfe, "first_long_step_name", ExecutionKind::Step, 2);
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(!a.starts_with('-') && !a.ends_with('-'));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn names_from_names_a_real_cluster_refuses_are_valid_all_the_same() {
        // The embedded cluster does not check a run's name; a real one would. Whatever the
        // run is called, its executions get names a real cluster accepts, without panicking
        // on a multi-byte character where the name is cut.
        for wfe in [
            "Web-OOM".to_string(),
            format!("{}é{}", "a".repeat(53), "b".repeat(20)),
            format!("{}.{}", "a".repeat(60), "b".repeat(60)),
            "x".repeat(253),
        ] {
            let name = execution_name(&wfe, "scale_out", ExecutionKind::Rollback, 1);
            assert!(crate::api::names::is_dns1123_label(&name), "{wfe} → {name}");
        }
    }
}
