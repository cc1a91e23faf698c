//! The CustomResourceDefinitions of the three kinds, as objects and as YAML.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{AIAnalysis, KubernetesExecution, WorkflowExecution};

/// The three CRDs, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        AIAnalysis::crd(),
        WorkflowExecution::crd(),
        KubernetesExecution::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, as `remedy crds` prints and `deploy/crds/` holds.
pub fn to_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

/// The file name under `deploy/crds/` of each CRD, with its YAML.
pub fn files() -> Result<Vec<(String, String)>, serde_saphyr::ser::Error> {
    all()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
            serde_saphyr::to_string(&crd).map(|yaml| (name, yaml))
        })
        .collect()
}
