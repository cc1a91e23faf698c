//! The resource types the server knows: built-in kinds and those registered by CRDs.

use std::collections::BTreeMap;

use serde_json::Value;

/// Registers a built-in kind's OpenAPI schema (and every schema it refers to) in a generator
/// and answers the reference to it.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// Every verb of an ordinary resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A subresource beyond `status` and `scale`: its name, the kind it answers with, its verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    /// The path segment, e.g. `eviction`.
    pub name: &'static str,
    /// The group of the kind it takes and answers ("" for core).
    pub group: &'static str,
    /// The version of that kind.
    pub version: &'static str,
    /// The kind, e.g. `Eviction`.
    pub kind: &'static str,
    /// The verbs it serves.
    pub verbs: &'static [&'static str],
}

const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group,
        version,
        kind,
        verbs,
    }
}

/// `serviceaccounts/NAME/token`.
const SA_SUBRESOURCES: &[Subresource] = &[sub(
    "token",
    "authentication.k8s.io",
    "v1",
    "TokenRequest",
    &["create"],
)];

/// `certificatesigningrequests/NAME/approval`.
const CSR_SUBRESOURCES: &[Subresource] = &[sub(
    "approval",
    "certificates.k8s.io",
    "v1",
    "CertificateSigningRequest",
    &["get", "patch", "update"],
)];

/// The subresources of Pods served beyond `status`.
const POD_SUBRESOURCES: &[Subresource] = &[
    sub("eviction", "policy", "v1", "Eviction", &["create"]),
    sub(
        "ephemeralcontainers",
        "",
        "v1",
        "Pod",
        &["get", "patch", "update"],
    ),
    sub("log", "", "v1", "Pod", &["get"]),
    sub("exec", "", "v1", "PodExecOptions", &["create", "get"]),
    sub("attach", "", "v1", "PodAttachOptions", &["create", "get"]),
    sub(
        "portforward",
        "",
        "v1",
        "PodPortForwardOptions",
        &["create", "get"],
    ),
];

/// A printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `date`, ...).
    pub type_: String,
    /// JSONPath of the value, e.g. `.status.phase`.
    pub json_path: String,
    /// Column description.
    pub description: String,
    /// 0 for the default view, more for `-o wide`.
    pub priority: i64,
}

/// One served resource: where it lives in the API and what it supports.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// Served versions, preferred (storage) first.
    pub versions: Vec<String>,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource isolates status.
    pub status_subresource: bool,
    /// Whether a `/scale` subresource exists: (spec replicas path, status replicas path).
    pub scale: Option<(String, String, Option<String>)>,
    /// Whether this came from a CustomResourceDefinition.
    pub custom: bool,
    /// Where objects are stored when another resource holds them (events.k8s.io Events).
    pub storage: Option<ResourceKey>,
    /// The CRD's `openAPIV3Schema` per version, for validation and defaults.
    pub schemas: std::sync::Arc<BTreeMap<String, Value>>,
    /// The CRD's printer columns.
    pub printer_columns: Vec<PrinterColumn>,
    /// The verbs the resource serves.
    pub verbs: &'static [&'static str],
    /// Subresources beyond `status` and `scale`.
    pub subresources: &'static [Subresource],
    /// The OpenAPI schema of a built-in kind (custom resources carry theirs in `schemas`).
    pub schema: Option<SchemaFn>,
}

/// The key of a resource in the store: (group, plural).
pub type ResourceKey = (String, String);

impl ResourceType {
    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.into(),
            versions: vec![version.into()],
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            scale: None,
            custom: false,
            storage: None,
            schemas: Default::default(),
            printer_columns: Vec::new(),
            verbs: ALL_VERBS,
            subresources: &[],
            schema: None,
        }
    }

    fn typed<T: schemars::JsonSchema>(mut self) -> Self {
        self.schema = Some(schema_of::<T>);
        self
    }

    fn verbs(mut self, verbs: &'static [&'static str]) -> Self {
        self.verbs = verbs;
        self
    }

    fn subs(mut self, subresources: &'static [Subresource]) -> Self {
        self.subresources = subresources;
        self
    }

    /// Whether the resource serves `verb`.
    pub fn serves(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Every subresource: `status`, `scale` and the others, with the kind each answers with
    /// (group, version, kind) and its verbs.
    pub fn all_subresources(&self) -> Vec<Subresource> {
        const STATUS: &[&str] = &["get", "patch", "update"];
        let mut out = Vec::new();
        if self.status_subresource {
            out.push(sub("status", "", "", "", STATUS));
        }
        if self.scale.is_some() {
            out.push(sub("scale", "autoscaling", "v1", "Scale", STATUS));
        }
        out.extend(self.subresources.iter().cloned());
        out
    }

    /// The subresource named `name`, if served.
    pub fn subresource(&self, name: &str) -> Option<Subresource> {
        self.all_subresources().into_iter().find(|s| s.name == name)
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn all(mut self) -> Self {
        self.categories = vec!["all".into()];
        self
    }

    fn status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    fn scalable(mut self) -> Self {
        self.scale = Some((
            ".spec.replicas".into(),
            ".status.replicas".into(),
            Some(".status.selector".into()),
        ));
        self
    }

    /// The identity of the resource: (group, plural).
    pub fn id(&self) -> ResourceKey {
        (self.group.clone(), self.plural.clone())
    }

    /// Where its objects are stored: its identity, or the resource that holds them.
    pub fn key(&self) -> ResourceKey {
        self.storage
            .clone()
            .unwrap_or_else(|| (self.group.clone(), self.plural.clone()))
    }

    /// `apiVersion` for a version: `v1` or `apps/v1`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The preferred version.
    pub fn preferred_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }
}

/// The built-in kinds served at start.
pub fn builtins() -> Vec<ResourceType> {
    use k8s_openapi::api::{
        apps, authentication, autoscaling, batch, certificates, coordination, core, events,
        networking, policy, rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
    type R = ResourceType;
    const RBAC: &str = "rbac.authorization.k8s.io";
    vec![
        R::builtin("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .status()
            .typed::<core::v1::Namespace>(),
        R::builtin("", "v1", "Node", "nodes", false)
            .short(&["no"])
            .status()
            .typed::<core::v1::Node>(),
        R::builtin("", "v1", "Pod", "pods", true)
            .short(&["po"])
            .all()
            .status()
            .subs(POD_SUBRESOURCES)
            .typed::<core::v1::Pod>(),
        R::builtin("", "v1", "ConfigMap", "configmaps", true)
            .short(&["cm"])
            .typed::<core::v1::ConfigMap>(),
        R::builtin("", "v1", "Secret", "secrets", true).typed::<core::v1::Secret>(),
        R::builtin("", "v1", "Service", "services", true)
            .short(&["svc"])
            .all()
            .status()
            .typed::<core::v1::Service>(),
        R::builtin("", "v1", "ServiceAccount", "serviceaccounts", true)
            .short(&["sa"])
            .subs(SA_SUBRESOURCES)
            .typed::<core::v1::ServiceAccount>(),
        R::builtin(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .short(&["pvc"])
        .status()
        .typed::<core::v1::PersistentVolumeClaim>(),
        R::builtin("", "v1", "Event", "events", true)
            .short(&["ev"])
            .typed::<core::v1::Event>(),
        R::builtin("", "v1", "ComponentStatus", "componentstatuses", false)
            .short(&["cs"])
            .verbs(&["get", "list"])
            .typed::<core::v1::ComponentStatus>(),
        R::builtin("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .all()
            .status()
            .scalable()
            .typed::<apps::v1::Deployment>(),
        R::builtin("apps", "v1", "ReplicaSet", "replicasets", true)
            .short(&["rs"])
            .all()
            .status()
            .scalable()
            .typed::<apps::v1::ReplicaSet>(),
        R::builtin("apps", "v1", "StatefulSet", "statefulsets", true)
            .short(&["sts"])
            .all()
            .status()
            .scalable()
            .typed::<apps::v1::StatefulSet>(),
        R::builtin("apps", "v1", "DaemonSet", "daemonsets", true)
            .short(&["ds"])
            .all()
            .status()
            .typed::<apps::v1::DaemonSet>(),
        R::builtin("batch", "v1", "Job", "jobs", true)
            .all()
            .status()
            .typed::<batch::v1::Job>(),
        R::builtin("batch", "v1", "CronJob", "cronjobs", true)
            .short(&["cj"])
            .all()
            .status()
            .typed::<batch::v1::CronJob>(),
        R::builtin(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .short(&["netpol"])
        .typed::<networking::v1::NetworkPolicy>(),
        R::builtin(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .short(&["hpa"])
        .all()
        .status()
        .typed::<autoscaling::v2::HorizontalPodAutoscaler>(),
        R {
            storage: Some((String::new(), "events".into())),
            ..R::builtin("events.k8s.io", "v1", "Event", "events", true)
                .short(&["ev"])
                .typed::<events::v1::Event>()
        },
        R::builtin("coordination.k8s.io", "v1", "Lease", "leases", true)
            .typed::<coordination::v1::Lease>(),
        R::builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .status()
        .typed::<policy::v1::PodDisruptionBudget>(),
        R::builtin(RBAC, "v1", "Role", "roles", true).typed::<rbac::v1::Role>(),
        R::builtin(RBAC, "v1", "RoleBinding", "rolebindings", true)
            .typed::<rbac::v1::RoleBinding>(),
        R::builtin(RBAC, "v1", "ClusterRole", "clusterroles", false)
            .typed::<rbac::v1::ClusterRole>(),
        R::builtin(
            RBAC,
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        )
        .typed::<rbac::v1::ClusterRoleBinding>(),
        R::builtin(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
            false,
        )
        .short(&["csr"])
        .status()
        .subs(CSR_SUBRESOURCES)
        .typed::<certificates::v1::CertificateSigningRequest>(),
        R::builtin(
            "authentication.k8s.io",
            "v1",
            "TokenReview",
            "tokenreviews",
            false,
        )
        .verbs(&["create"])
        .typed::<authentication::v1::TokenReview>(),
        R::builtin(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            false,
        )
        .status()
        .typed::<apiregistration::v1::APIService>(),
        R::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .status()
        .typed::<apiextensions::v1::CustomResourceDefinition>(),
    ]
}

/// Builds the resource type a CustomResourceDefinition object declares, or says why it cannot.
pub fn from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let group = s(spec.get("group")).ok_or("spec.group: Required value")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = s(names.get("plural")).ok_or("spec.names.plural: Required value")?;
    let kind = s(names.get("kind")).ok_or("spec.names.kind: Required value")?;
    let singular = s(names.get("singular")).unwrap_or_else(|| kind.to_lowercase());
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let scope = s(spec.get("scope")).unwrap_or_else(|| "Namespaced".into());
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("spec.versions: Required value")?;
    let mut served = Vec::new();
    let mut schemas = BTreeMap::new();
    let mut status_subresource = false;
    let mut scale = None;
    let mut printer_columns = Vec::new();
    // The storage version goes first so it is the preferred version.
    let mut ordered: Vec<&Value> = versions.iter().collect();
    ordered.sort_by_key(|v| !v.get("storage").and_then(Value::as_bool).unwrap_or(false));
    for v in ordered {
        if !v.get("served").and_then(Value::as_bool).unwrap_or(true) {
            continue;
        }
        let name = s(v.get("name")).ok_or("spec.versions[].name: Required value")?;
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            schemas.insert(name.clone(), schema.clone());
        }
        if served.is_empty() {
            if let Some(sub) = v.get("subresources") {
                status_subresource = sub.get("status").is_some();
                if let Some(sc) = sub.get("scale") {
                    let spec_path =
                        s(sc.get("specReplicasPath")).unwrap_or_else(|| ".spec.replicas".into());
                    let status_path = s(sc.get("statusReplicasPath"))
                        .unwrap_or_else(|| ".status.replicas".into());
                    scale = Some((spec_path, status_path, s(sc.get("labelSelectorPath"))));
                }
            }
            printer_columns = match v.get("additionalPrinterColumns").and_then(Value::as_array) {
                Some(cols) => cols
                    .iter()
                    .map(|c| PrinterColumn {
                        name: s(c.get("name")).unwrap_or_default(),
                        type_: s(c.get("type")).unwrap_or_else(|| "string".into()),
                        json_path: s(c.get("jsonPath")).unwrap_or_default(),
                        description: s(c.get("description")).unwrap_or_default(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    })
                    .collect(),
                None => vec![PrinterColumn {
                    name: "Age".into(),
                    type_: "date".into(),
                    json_path: ".metadata.creationTimestamp".into(),
                    description: String::new(),
                    priority: 0,
                }],
            };
        }
        served.push(name);
    }
    if served.is_empty() {
        return Err("spec.versions: no served version".into());
    }
    Ok(ResourceType {
        group,
        versions: served,
        kind,
        plural,
        singular,
        namespaced: scope != "Cluster",
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status_subresource,
        scale,
        custom: true,
        storage: None,
        schemas: std::sync::Arc::new(schemas),
        printer_columns,
        verbs: ALL_VERBS,
        subresources: &[],
        schema: None,
    })
}
