//! AIAnalysis (`aianalysis.kubernaut.io/v1alpha1`): what is wrong, with which resource, how sure
//! the analysis is, and which workflow to run. Written by another controller; read only here.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::JsonMap;
use super::schema::free_form_object;

/// The spec belongs to the analysing controller: any object is kept as is.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aianalysis.kubernaut.io",
    version = "v1alpha1",
    kind = "AIAnalysis",
    plural = "aianalyses",
    namespaced,
    status = "AIAnalysisStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Workflow","type":"string","jsonPath":".status.recommendedWorkflow.name"}"#,
    printcolumn = r#"{"name":"Confidence","type":"number","jsonPath":".status.confidence"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[schemars(schema_with = "free_form_object")]
pub struct AIAnalysisSpec {
    /// Whatever the analysing controller keeps in its spec.
    #[serde(flatten)]
    pub fields: JsonMap,
}

/// The analysis result the engine reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AIAnalysisStatus {
    /// Where the analysis is; only Completed analyses are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// The workflow the analysis recommends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_workflow: Option<WorkflowRef>,
    /// The resource to remediate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource: Option<TargetResource>,
    /// How sure the analysis is, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f64>,
    /// The cause found, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// Values that fill the workflow's params of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Option<JsonMap>,
    /// Free-form observations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub metrics: Option<JsonMap>,
    /// Informative recommendations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
}

/// The phases of an analysis.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AnalysisPhase {
    /// Not started.
    Pending,
    /// Gathering data.
    Investigating,
    /// Reasoning.
    Analyzing,
    /// Done: the status may be used.
    Completed,
    /// The analysis failed: runs that reference it end with AnalysisFailed.
    Failed,
}

/// A workflow by name and optional version (no version: the newest).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WorkflowRef {
    /// The workflow name.
    pub name: String,
    /// The semantic version; absent means the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The Kubernetes object a remediation acts on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetResource {
    /// Its kind, e.g. Deployment.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace (absent for cluster-scoped kinds such as Node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its apiVersion, e.g. apps/v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// One informative recommendation of the analysis.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The action it suggests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// How risky the analysis thinks it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<String>,
    /// How likely it is to work, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effectiveness_probability: Option<f64>,
}
