//! The resource types the server knows: built-in kinds and those registered by CRDs.

use std::collections::BTreeMap;

use serde_json::Value;

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
        }
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
    type R = ResourceType;
    vec![
        R::builtin("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .status(),
        R::builtin("", "v1", "Node", "nodes", false)
            .short(&["no"])
            .status(),
        R::builtin("", "v1", "Pod", "pods", true)
            .short(&["po"])
            .all()
            .status(),
        R::builtin("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        R::builtin("", "v1", "Secret", "secrets", true),
        R::builtin(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .short(&["pvc"])
        .status(),
        R::builtin("", "v1", "Event", "events", true).short(&["ev"]),
        R::builtin("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .all()
            .status()
            .scalable(),
        R::builtin("apps", "v1", "ReplicaSet", "replicasets", true)
            .short(&["rs"])
            .all()
            .status()
            .scalable(),
        R::builtin("apps", "v1", "StatefulSet", "statefulsets", true)
            .short(&["sts"])
            .all()
            .status()
            .scalable(),
        R::builtin("apps", "v1", "DaemonSet", "daemonsets", true)
            .short(&["ds"])
            .all()
            .status(),
        R::builtin(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .short(&["hpa"])
        .all()
        .status(),
        R {
            storage: Some((String::new(), "events".into())),
            ..R::builtin("events.k8s.io", "v1", "Event", "events", true).short(&["ev"])
        },
        R::builtin("coordination.k8s.io", "v1", "Lease", "leases", true),
        R::builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .status(),
        R::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .status(),
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
    })
}
