//! Setting up a scenario's cluster: the embedded cluster with its workload simulation, the
//! CRDs, the scenario's objects and `changes`, settled before the run starts.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::check::{self, ObjectKey};
use super::file::Scenario;
use super::runner::{RunError, api_message};
use crate::cluster::faults::Rules;
use crate::cluster::{Config, EmbeddedCluster, Simulation, SimulationConfig};

/// The scenario's cluster, set up and settled: the embedded cluster with its workload
/// simulation, the CRDs and the scenario's objects (and `changes`). `client` is the
/// observer's: it is not subject to the scenario's faults.
pub struct Stage {
    /// The embedded cluster.
    pub cluster: EmbeddedCluster,
    /// A client without faults, for setting up and observing.
    pub client: Client,
    pub(super) kinds: Kinds,
    pub(super) created: Vec<Created>,
    pub(super) before: BTreeMap<String, String>,
    _simulation: Simulation,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Stage {
    /// Sets up `scenario`'s cluster: pods become ready after the scenario's `podReadyDelay`
    /// divided by `speed`; the simulation looks at the cluster every `tick` (default 100 ms).
    pub async fn new(
        scenario: &Scenario,
        speed: f64,
        tick: Option<Duration>,
    ) -> Result<Stage, RunError> {
        let cluster = EmbeddedCluster::new(Config::default());
        let client = cluster.client();
        install_crds(&client).await?;
        let kinds = Kinds::discover(&client).await?;
        let mut created = Vec::new();
        for object in ordered(&scenario.objects) {
            created.push(create_object(scenario, &client, &kinds, object).await?);
        }
        let never = Duration::from_secs(365 * 24 * 3600);
        let ready = scenario
            .pod_ready_delay()?
            .map_or(never, |d| d.div_f64(speed));
        let defaults = SimulationConfig::default();
        let tick = tick.unwrap_or(defaults.tick);
        let simulation = cluster.start_simulation(SimulationConfig {
            pod_ready_delay: ready,
            nodes: scenario.simulation.nodes.unwrap_or(3),
            speed,
            tick,
            ..defaults
        });
        settle(&cluster, tick).await;
        if !scenario.changes.is_empty() {
            for (i, change) in scenario.changes.iter().enumerate() {
                apply_change(scenario, &client, &kinds, i, change).await?;
            }
            settle(&cluster, tick).await;
        }
        let before = versions(&client, &created).await;
        Ok(Stage {
            cluster,
            client,
            kinds,
            created,
            before,
            _simulation: simulation,
        })
    }
}

/// The scenario's `faults:` as the rules of a client fault plan.
pub fn fault_rules(scenario: &Scenario) -> Result<Rules, RunError> {
    let rules = Rules::default();
    for (i, fault) in scenario.faults.iter().enumerate() {
        match (fault.count, &fault.latency) {
            (Some(count), _) => rules.fail_next(&fault.verb, &fault.resource, count, fault.code),
            (None, Some(text)) => {
                let latency = scenario.duration(&format!("faults[{i}].latency"), text)?;
                rules.add_latency(&fault.verb, &fault.resource, latency);
            }
            (None, None) => {}
        }
    }
    Ok(rules)
}

pub(super) async fn install_crds(client: &Client) -> Result<(), RunError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crd::all() {
        crds.create(&PostParams::default(), &crd)
            .await
            .map_err(|e| {
                RunError::Setup(format!("cannot register the CRDs: {}", api_message(&e)))
            })?;
    }
    // The operator's namespace, as `deploy/namespace.yaml` makes it: the workflow controller
    // keeps its sealing key there, and reads the pause switch (`remedy pause`) there.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = k8s_openapi::api::core::v1::Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(crate::catalog::DEFAULT_OPERATOR_NAMESPACE.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(RunError::Setup(format!(
            "cannot create the operator's namespace: {e}"
        ))),
    }
}

/// Namespaces first, then the rest in the order written.
fn ordered(objects: &[Value]) -> Vec<&Value> {
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"));
    namespaces.into_iter().chain(rest).collect()
}

/// The kinds the cluster serves, found by kind, plural or short name.
pub(super) struct Kinds {
    discovery: Discovery,
}

impl Kinds {
    async fn discover(client: &Client) -> Result<Kinds, RunError> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| RunError::Setup(format!("discovery failed: {}", api_message(&e))))?;
        Ok(Kinds { discovery })
    }

    /// The resource of `apiVersion` + `kind`.
    fn exact(&self, api_version: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        self.discovery.resolve_gvk(&gvk)
    }

    /// The resource a check names: kind, plural or short name, any case, preferred version.
    pub(super) fn named(&self, word: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let word = word.to_lowercase();
        for group in self.discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if ar.kind.to_lowercase() == word
                    || ar.plural == word
                    || check::short_name(&ar.kind) == word
                {
                    return Some((ar, caps));
                }
            }
        }
        None
    }
}

/// An object the scenario created: how to read it again.
pub(super) struct Created {
    key: String,
    resource: ApiResource,
    namespace: Option<String>,
    name: String,
}

pub(super) fn api_for(
    client: &Client,
    ar: &ApiResource,
    caps: &ApiCapabilities,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    match (caps.scope.clone(), ns) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

async fn create_object(
    scenario: &Scenario,
    client: &Client,
    kinds: &Kinds,
    object: &Value,
) -> Result<Created, RunError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |message: String| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("{kind} {name}"),
        message,
    };
    let (ar, caps) = kinds.exact(api_version, kind).ok_or_else(|| {
        fail(format!(
            "the cluster serves no kind {kind} in {api_version}"
        ))
    })?;
    let namespace = match caps.scope {
        Scope::Namespaced => Some(
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&scenario.namespace)
                .to_string(),
        ),
        Scope::Cluster => None,
    };
    let api = api_for(client, &ar, &caps, namespace.as_deref());
    let obj: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|e| fail(e.to_string()))?;
    let created = Created {
        key: format!(
            "{kind} {}",
            match &namespace {
                Some(ns) => format!("{ns}/{name}"),
                None => name.clone(),
            }
        ),
        resource: ar.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
    };
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        // The built-in namespaces exist already.
        Err(kube::Error::Api(e)) if e.code == 409 && kind == "Namespace" => return Ok(created),
        Err(e) => return Err(fail(api_message(&e))),
    }
    if let Some(status) = object.get("status") {
        // The API server ignores status on create: write it through the status subresource.
        let patch = json!({ "status": status });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(fail(format!("status: {}", api_message(&e)))),
        }
    }
    Ok(created)
}

async fn apply_change(
    scenario: &Scenario,
    client: &Client,
    kinds: &Kinds,
    index: usize,
    change: &super::file::Change,
) -> Result<(), RunError> {
    let fail = |message: String| RunError::Object {
        path: scenario.path.display().to_string(),
        object: format!("changes[{index}] ({})", change.object),
        message,
    };
    let key = ObjectKey::parse(&change.object).ok_or_else(|| fail("not KIND NS/NAME".into()))?;
    let (ar, caps) = kinds
        .named(&key.kind)
        .ok_or_else(|| fail(format!("the cluster serves no kind {}", key.kind)))?;
    let api = api_for(client, &ar, &caps, key.namespace.as_deref());
    let mut patch = change.patch.clone();
    // Status goes through the status subresource (the main resource ignores it).
    let status = patch.as_object_mut().and_then(|p| p.remove("status"));
    if patch.as_object().is_some_and(|p| !p.is_empty()) {
        api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| fail(api_message(&e)))?;
    }
    if let Some(status) = status {
        let patch = json!({ "status": status });
        api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| fail(format!("status: {}", api_message(&e))))?;
    }
    Ok(())
}

/// Waits until the simulation stops writing for three of its ticks (300 ms at the default
/// tick; at most 5 s or 20 ticks): the cluster is in its steady state.
async fn settle(cluster: &EmbeddedCluster, tick: Duration) {
    let quiet = tick * 3;
    let deadline = Instant::now() + Duration::from_secs(5).max(tick * 20);
    let mut last = cluster.resource_version();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = cluster.resource_version();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= quiet {
            return;
        }
    }
}

pub(super) async fn versions(client: &Client, created: &[Created]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in created {
        let api: Api<DynamicObject> = match &c.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &c.resource),
            None => Api::all_with(client.clone(), &c.resource),
        };
        let rv = match api.get_opt(&c.name).await {
            Ok(Some(obj)) => obj.resource_version().unwrap_or_default(),
            _ => String::new(),
        };
        out.insert(c.key.clone(), rv);
    }
    out
}
