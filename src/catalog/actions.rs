//! The action catalog: every action type the executor can perform, with its parameter schema
//! and its effect on the cluster.
//!
//! The linter checks `with { … }` against these schemas, the operator re-checks resolved values
//! at Validating, and the executor validates again before it acts.

use std::collections::BTreeMap;
use std::fmt;

/// What an action does to the cluster, which decides the safety rules that apply.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Changes nothing the remediation targets (reads, notifies, waits, backs up).
    ReadOnly,
    /// Changes the cluster in a way a compensation can undo.
    Reversible,
    /// Changes the cluster in a way nothing can undo; needs `approval`.
    Irreversible,
}

impl Effect {
    /// `read_only`, `reversible` or `irreversible`, as the spec names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::ReadOnly => "read_only",
            Effect::Reversible => "reversible",
            Effect::Irreversible => "irreversible",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::units::ParamKind;

/// The schema of one action parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The key in `with { … }`.
    pub name: &'static str,
    /// Its type.
    pub kind: ParamKind,
    /// Whether the action needs it.
    pub required: bool,
    /// The values allowed, when the set is closed (empty: any value of the type).
    pub allowed: &'static [&'static str],
    /// One line for authors.
    pub doc: &'static str,
}

/// One key of the map an action returns in its result's `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The key in `output`.
    pub name: &'static str,
    /// One line for authors.
    pub doc: &'static str,
}

/// An action type: what it does, what it takes, what it returns, and its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    /// The type name used in `action "…"`.
    pub name: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Its effect on the cluster.
    pub effect: Effect,
    /// The kind of object it acts on (`Deployment`, `Node`, …), or `-` for none.
    pub target_kind: &'static str,
    /// Its parameters.
    pub params: Vec<ParamSpec>,
    /// What its `output` holds (what a compensation or a later step may read).
    pub outputs: Vec<OutputSpec>,
    /// How to undo it, for the docs (empty for read-only actions).
    pub compensation: &'static str,
}

impl ActionSpec {
    /// The schema of a parameter, if the action has it.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The required parameters.
    pub fn required_params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.params.iter().filter(|p| p.required)
    }

    /// True when the action takes a `namespace` parameter (and so may target a protected one).
    pub fn is_namespaced(&self) -> bool {
        self.param("namespace").is_some()
    }
}

/// The set of action types the engine knows, by name.
#[derive(Debug, Clone)]
pub struct ActionCatalog {
    actions: BTreeMap<&'static str, ActionSpec>,
}

impl ActionCatalog {
    /// The actions built into Remedy.
    pub fn builtin() -> Self {
        let actions = builtin_actions().into_iter().map(|a| (a.name, a)).collect();
        ActionCatalog { actions }
    }

    /// The action of that type, if any.
    pub fn get(&self, name: &str) -> Option<&ActionSpec> {
        self.actions.get(name)
    }

    /// Every action, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &ActionSpec> {
        self.actions.values()
    }

    /// Every action name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.actions.keys().copied()
    }

    /// The known name closest to `name` (for "did you mean …?"), if one is close.
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        closest(name, self.names())
    }
}

impl Default for ActionCatalog {
    fn default() -> Self {
        ActionCatalog::builtin()
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

const fn req(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: true,
        allowed: &[],
        doc,
    }
}

const fn opt(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
        allowed: &[],
        doc,
    }
}

const fn out(name: &'static str, doc: &'static str) -> OutputSpec {
    OutputSpec { name, doc }
}

const NAMESPACE: ParamSpec = req(
    "namespace",
    ParamKind::String,
    "namespace of the target object",
);
const DEPLOYMENT: ParamSpec = req("deployment", ParamKind::String, "name of the Deployment");
const NODE: ParamSpec = req("node", ParamKind::String, "name of the Node");
const POD: ParamSpec = req("pod", ParamKind::String, "name of the Pod");
const PAUSED: ParamSpec = opt(
    "paused",
    ParamKind::Bool,
    "the state to set instead (default: the action's own); the compensation passes `was_paused`, so a rollout paused before stays paused",
);
const SUSPENDED: ParamSpec = opt(
    "suspended",
    ParamKind::Bool,
    "the state to set instead (default: the action's own); the compensation passes `was_suspended`, so a CronJob suspended before stays suspended",
);
const RESTARTED_AT: ParamSpec = opt(
    "restarted_at",
    ParamKind::String,
    "the restart stamp to set (default: the attempt's start time; \"\": remove it, which the compensation uses)",
);
const MAX_DELETE: ParamSpec = req(
    "max",
    ParamKind::Int,
    "the most objects one attempt deletes (1 to 1000); the oldest go first",
);
const SELECTOR: ParamSpec = opt(
    "selector",
    ParamKind::String,
    "a label selector, e.g. \"app=report,tier!=web\" (default: every object)",
);

fn builtin_actions() -> Vec<ActionSpec> {
    use Effect::*;
    use ParamKind::*;
    vec![
        ActionSpec {
            name: "scale_deployment",
            summary: "Set the replica count of a Deployment (through its scale subresource)",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![
                NAMESPACE,
                DEPLOYMENT,
                req(
                    "replicas",
                    Int,
                    "the desired number of replicas (0 or more)",
                ),
            ],
            outputs: vec![
                out("previous_replicas", "replicas before the change"),
                out("replicas", "replicas after the change"),
            ],
            compensation: "scale_deployment back to `self.output.previous_replicas`",
        },
        ActionSpec {
            name: "scale_statefulset",
            summary: "Set the replica count of a StatefulSet (through its scale subresource)",
            effect: Reversible,
            target_kind: "StatefulSet",
            params: vec![
                NAMESPACE,
                req("statefulset", String, "name of the StatefulSet"),
                req(
                    "replicas",
                    Int,
                    "the desired number of replicas (0 or more)",
                ),
            ],
            outputs: vec![
                out("previous_replicas", "replicas before the change"),
                out("replicas", "replicas after the change"),
            ],
            compensation: "scale_statefulset back to `self.output.previous_replicas`",
        },
        ActionSpec {
            name: "restart_deployment",
            summary: "Roll every pod of a Deployment, like `kubectl rollout restart`",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![NAMESPACE, DEPLOYMENT],
            outputs: vec![
                out(
                    "previous_revision",
                    "the Deployment's revision before the restart",
                ),
                out("revision", "the revision the restart created"),
            ],
            compensation: "rollback_deployment to `self.output.previous_revision`",
        },
        ActionSpec {
            name: "restart_pod",
            summary: "Delete one pod so that its controller recreates it",
            effect: Irreversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                req("pod", String, "name of the Pod"),
                opt(
                    "grace_period_seconds",
                    Int,
                    "termination grace period (default: the pod's own)",
                ),
            ],
            outputs: vec![out("owner", "the controller that will recreate the pod")],
            compensation: "",
        },
        ActionSpec {
            name: "delete_pod",
            summary: "Delete a pod",
            effect: Irreversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                req("pod", String, "name of the Pod"),
                opt(
                    "grace_period_seconds",
                    Int,
                    "termination grace period (default: the pod's own)",
                ),
            ],
            outputs: vec![out("deleted", "the name of the deleted pod")],
            compensation: "",
        },
        ActionSpec {
            name: "increase_resources",
            summary: "Set container resource limits and requests of a Deployment (a new rollout)",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![
                NAMESPACE,
                DEPLOYMENT,
                opt(
                    "container",
                    String,
                    "the container to change (default: every container)",
                ),
                opt("memory", Quantity, "new memory limit, e.g. \"1Gi\""),
                opt("cpu", Quantity, "new CPU limit, e.g. \"500m\""),
                opt("memory_request", Quantity, "new memory request"),
                opt("cpu_request", Quantity, "new CPU request"),
            ],
            outputs: vec![
                out(
                    "previous_resources",
                    "each changed container's resources before the change",
                ),
                out(
                    "previous_revision",
                    "the Deployment's revision before the change",
                ),
            ],
            compensation: "rollback_deployment to `self.output.previous_revision`",
        },
        ActionSpec {
            name: "rollback_deployment",
            summary: "Roll a Deployment back to an earlier revision, like `kubectl rollout undo`",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![
                NAMESPACE,
                DEPLOYMENT,
                opt(
                    "revision",
                    Int,
                    "the revision to return to (0 or absent: the previous one)",
                ),
            ],
            outputs: vec![
                out("previous_revision", "the revision before the rollback"),
                out("revision", "the revision rolled back to"),
            ],
            compensation: "rollback_deployment to `self.output.previous_revision`",
        },
        ActionSpec {
            name: "update_hpa",
            summary: "Change the replica bounds of a HorizontalPodAutoscaler",
            effect: Reversible,
            target_kind: "HorizontalPodAutoscaler",
            params: vec![
                NAMESPACE,
                req("hpa", String, "name of the HorizontalPodAutoscaler"),
                opt("min_replicas", Int, "new minimum replicas"),
                opt("max_replicas", Int, "new maximum replicas"),
            ],
            outputs: vec![
                out("previous_min_replicas", "minReplicas before the change"),
                out("previous_max_replicas", "maxReplicas before the change"),
            ],
            compensation: "update_hpa back to the previous bounds",
        },
        ActionSpec {
            name: "cordon_node",
            summary: "Mark a node unschedulable",
            effect: Reversible,
            target_kind: "Node",
            params: vec![NODE],
            outputs: vec![out(
                "was_unschedulable",
                "whether the node was already cordoned",
            )],
            compensation: "uncordon_node",
        },
        ActionSpec {
            name: "uncordon_node",
            summary: "Mark a node schedulable again",
            effect: Reversible,
            target_kind: "Node",
            params: vec![NODE],
            outputs: vec![out("was_unschedulable", "whether the node was cordoned")],
            compensation: "cordon_node",
        },
        ActionSpec {
            name: "drain_node",
            summary: "Cordon a node and evict its pods (DaemonSet pods stay)",
            effect: Irreversible,
            target_kind: "Node",
            params: vec![
                NODE,
                opt(
                    "grace_period_seconds",
                    Int,
                    "termination grace period for evicted pods",
                ),
                opt(
                    "delete_emptydir_data",
                    Bool,
                    "also evict pods using emptyDir volumes (default false)",
                ),
            ],
            outputs: vec![
                out("evicted", "the pods evicted, as namespace/name"),
                out("was_unschedulable", "whether the node was already cordoned"),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "taint_node",
            summary: "Add (or replace) a taint on a node",
            effect: Reversible,
            target_kind: "Node",
            params: vec![
                NODE,
                req("key", String, "the taint key"),
                opt("value", String, "the taint value"),
                ParamSpec {
                    allowed: &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                    ..req("effect", String, "the taint effect")
                },
            ],
            outputs: vec![out(
                "previous_taint",
                "the taint with that key before, if any",
            )],
            compensation: "untaint_node with the same key",
        },
        ActionSpec {
            name: "untaint_node",
            summary: "Remove a taint from a node",
            effect: Reversible,
            target_kind: "Node",
            params: vec![
                NODE,
                req("key", String, "the taint key"),
                ParamSpec {
                    allowed: &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                    ..opt(
                        "effect",
                        String,
                        "only the taint with this effect (default: any)",
                    )
                },
            ],
            outputs: vec![out("removed", "the taints removed")],
            compensation: "taint_node with the removed taint",
        },
        ActionSpec {
            name: "expand_pvc",
            summary: "Raise the storage request of a PersistentVolumeClaim (volumes never shrink)",
            effect: Irreversible,
            target_kind: "PersistentVolumeClaim",
            params: vec![
                NAMESPACE,
                req("pvc", String, "name of the PersistentVolumeClaim"),
                req(
                    "size",
                    Quantity,
                    "the new size, e.g. \"20Gi\"; must be larger",
                ),
            ],
            outputs: vec![
                out("previous_size", "the storage request before"),
                out("size", "the storage request after"),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "patch_configmap",
            summary: "Set (or remove) keys of a ConfigMap's data",
            effect: Reversible,
            target_kind: "ConfigMap",
            params: vec![
                NAMESPACE,
                req("configmap", String, "name of the ConfigMap"),
                opt("data", Map, "keys to set, with their new string values"),
                opt("remove", List, "keys to remove"),
            ],
            outputs: vec![out(
                "previous_data",
                "the changed keys' values before (null: absent)",
            )],
            compensation: "patch_configmap with `data: ${ self.output.previous_data }`",
        },
        ActionSpec {
            name: "verify_deployment",
            summary: "Succeed when a Deployment has enough available, updated replicas",
            effect: ReadOnly,
            target_kind: "Deployment",
            params: vec![
                NAMESPACE,
                DEPLOYMENT,
                opt(
                    "min_available",
                    Int,
                    "available replicas needed (default: spec.replicas)",
                ),
            ],
            outputs: vec![
                out("available_replicas", "available replicas seen"),
                out("ready_replicas", "ready replicas seen"),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "collect_diagnostics",
            summary: "Record a resource's state, conditions and recent events in the output",
            effect: ReadOnly,
            target_kind: "-",
            params: vec![
                NAMESPACE,
                req(
                    "resource",
                    String,
                    "the object as kind/name, e.g. \"deployment/web\"",
                ),
                opt("events", Bool, "include recent events (default true)"),
            ],
            outputs: vec![
                out("summary", "a short description of the object's state"),
                out("events", "recent events about it"),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "backup_data",
            summary: "Copy a resource's spec (or a ConfigMap's data) into a backup ConfigMap",
            effect: ReadOnly,
            target_kind: "-",
            params: vec![
                NAMESPACE,
                req(
                    "resource",
                    String,
                    "the object as kind/name, e.g. \"deployment/web\"",
                ),
                opt(
                    "destination",
                    String,
                    "name of the backup ConfigMap (default: derived from the execution)",
                ),
            ],
            outputs: vec![out("backup", "the name of the backup ConfigMap")],
            compensation: "",
        },
        ActionSpec {
            name: "notify_only",
            summary: "Publish a Kubernetes Event with a message; changes nothing",
            effect: ReadOnly,
            target_kind: "-",
            params: vec![
                req("message", String, "what to say"),
                ParamSpec {
                    allowed: &["info", "warning"],
                    ..opt("severity", String, "info (default) or warning")
                },
            ],
            outputs: vec![out("event", "the name of the Event created")],
            compensation: "",
        },
        ActionSpec {
            name: "wait",
            summary: "Wait for a while (e.g. to let metrics settle)",
            effect: ReadOnly,
            target_kind: "-",
            params: vec![req("duration", Duration, "how long to wait")],
            outputs: vec![],
            compensation: "",
        },
        ActionSpec {
            name: "quarantine_pod",
            summary: "Take a pod out of its controller's and its Services' selectors, keeping it for forensics",
            effect: Reversible,
            target_kind: "Pod",
            params: vec![NAMESPACE, POD],
            outputs: vec![
                out(
                    "previous_labels",
                    "the labels removed from the pod, with their values",
                ),
                out(
                    "owner",
                    "the controller that replaces the pod, as Kind/name (null: none)",
                ),
            ],
            compensation: "release_pod with `labels: ${ self.output.previous_labels }`",
        },
        ActionSpec {
            name: "release_pod",
            summary: "Give a quarantined pod its labels back, so its controller and Services select it again",
            effect: Reversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                POD,
                req(
                    "labels",
                    Map,
                    "the labels to put back (quarantine_pod's previous_labels)",
                ),
            ],
            outputs: vec![out("restored", "the labels put back")],
            compensation: "quarantine_pod",
        },
        ActionSpec {
            name: "isolate_pod",
            summary: "Deny a pod's network traffic with a NetworkPolicy that selects only that pod",
            effect: Reversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                POD,
                ParamSpec {
                    allowed: &["both", "ingress", "egress"],
                    ..opt(
                        "direction",
                        String,
                        "the traffic denied: both (default), ingress or egress",
                    )
                },
            ],
            outputs: vec![out(
                "network_policy",
                "the name of the NetworkPolicy that isolates the pod",
            )],
            compensation: "update_network_policy with `network_policy: ${ self.output.network_policy }, state: \"absent\"`",
        },
        ActionSpec {
            name: "update_network_policy",
            summary: "Create, replace the spec of, or delete a NetworkPolicy",
            effect: Reversible,
            target_kind: "NetworkPolicy",
            params: vec![
                NAMESPACE,
                req("network_policy", String, "name of the NetworkPolicy"),
                opt(
                    "spec",
                    Map,
                    "the NetworkPolicy's whole spec (needed when state is present)",
                ),
                ParamSpec {
                    allowed: &["present", "absent"],
                    ..opt(
                        "state",
                        String,
                        "present (default): the policy has `spec`; absent: it is deleted",
                    )
                },
            ],
            outputs: vec![
                out(
                    "previous_spec",
                    "the policy's spec before (null: it did not exist)",
                ),
                out("previous_state", "present or absent, before the change"),
            ],
            compensation: "update_network_policy with `spec: ${ self.output.previous_spec }, state: ${ self.output.previous_state }`",
        },
        ActionSpec {
            name: "restart_statefulset",
            summary: "Roll every pod of a StatefulSet, like `kubectl rollout restart`",
            effect: Reversible,
            target_kind: "StatefulSet",
            params: vec![
                NAMESPACE,
                req("statefulset", String, "name of the StatefulSet"),
                RESTARTED_AT,
            ],
            outputs: vec![
                out(
                    "previous_restarted_at",
                    "the pod template's restart stamp before (\"\": none)",
                ),
                out("restarted_at", "the restart stamp set (\"\": removed)"),
            ],
            compensation: "restart_statefulset with `restarted_at: ${ self.output.previous_restarted_at }`",
        },
        ActionSpec {
            name: "restart_daemonset",
            summary: "Roll every pod of a DaemonSet, like `kubectl rollout restart`",
            effect: Reversible,
            target_kind: "DaemonSet",
            params: vec![
                NAMESPACE,
                req("daemonset", String, "name of the DaemonSet"),
                RESTARTED_AT,
            ],
            outputs: vec![
                out(
                    "previous_restarted_at",
                    "the pod template's restart stamp before (\"\": none)",
                ),
                out("restarted_at", "the restart stamp set (\"\": removed)"),
            ],
            compensation: "restart_daemonset with `restarted_at: ${ self.output.previous_restarted_at }`",
        },
        ActionSpec {
            name: "pause_rollout",
            summary: "Pause a Deployment's rollout, like `kubectl rollout pause`",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![NAMESPACE, DEPLOYMENT, PAUSED],
            outputs: vec![out("was_paused", "whether the rollout was already paused")],
            compensation: "resume_rollout with `paused: ${ self.output.was_paused }`",
        },
        ActionSpec {
            name: "resume_rollout",
            summary: "Resume a Deployment's paused rollout, like `kubectl rollout resume`",
            effect: Reversible,
            target_kind: "Deployment",
            params: vec![NAMESPACE, DEPLOYMENT, PAUSED],
            outputs: vec![out("was_paused", "whether the rollout was paused")],
            compensation: "pause_rollout with `paused: ${ self.output.was_paused }`",
        },
        ActionSpec {
            name: "suspend_cronjob",
            summary: "Suspend a CronJob: it creates no more Jobs (those running go on)",
            effect: Reversible,
            target_kind: "CronJob",
            params: vec![
                NAMESPACE,
                req("cronjob", String, "name of the CronJob"),
                SUSPENDED,
            ],
            outputs: vec![out(
                "was_suspended",
                "whether the CronJob was already suspended",
            )],
            compensation: "resume_cronjob with `suspended: ${ self.output.was_suspended }`",
        },
        ActionSpec {
            name: "resume_cronjob",
            summary: "Resume a suspended CronJob",
            effect: Reversible,
            target_kind: "CronJob",
            params: vec![
                NAMESPACE,
                req("cronjob", String, "name of the CronJob"),
                SUSPENDED,
            ],
            outputs: vec![out("was_suspended", "whether the CronJob was suspended")],
            compensation: "suspend_cronjob with `suspended: ${ self.output.was_suspended }`",
        },
        ActionSpec {
            name: "cleanup_pods",
            summary: "Delete finished (Failed, Evicted or Succeeded) pods, at most `max` of them",
            effect: Irreversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                SELECTOR,
                ParamSpec {
                    allowed: &["failed", "evicted", "succeeded", "finished"],
                    ..opt(
                        "state",
                        String,
                        "which pods: failed (default; evicted ones included), evicted, succeeded, finished",
                    )
                },
                MAX_DELETE,
            ],
            outputs: vec![
                out("deleted", "the names of the pods deleted"),
                out(
                    "remaining",
                    "how many matching pods were left (beyond `max`)",
                ),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "cleanup_jobs",
            summary: "Delete Jobs (finished ones by default) and their pods, at most `max` of them",
            effect: Irreversible,
            target_kind: "Job",
            params: vec![
                NAMESPACE,
                SELECTOR,
                opt("cronjob", String, "only the Jobs this CronJob created"),
                ParamSpec {
                    allowed: &["finished", "failed", "succeeded", "active", "any"],
                    ..opt(
                        "state",
                        String,
                        "which Jobs: finished (default: complete or failed), failed, succeeded, active, any",
                    )
                },
                MAX_DELETE,
            ],
            outputs: vec![
                out("deleted", "the names of the Jobs deleted"),
                out(
                    "remaining",
                    "how many matching Jobs were left (beyond `max`)",
                ),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "migrate_workload",
            summary: "Evict a workload's pods from one node, one at a time, respecting PodDisruptionBudgets, without cordoning it",
            effect: Irreversible,
            target_kind: "Pod",
            params: vec![
                NAMESPACE,
                req(
                    "workload",
                    String,
                    "the workload as kind/name: deployment/web, statefulset/db or replicaset/web-7c9",
                ),
                NODE,
                opt(
                    "grace_period_seconds",
                    Int,
                    "termination grace period for evicted pods",
                ),
            ],
            outputs: vec![
                out("evicted", "the pods evicted, as names"),
                out(
                    "returned",
                    "replacements the scheduler placed on the node again, as names",
                ),
            ],
            compensation: "",
        },
        ActionSpec {
            name: "rotate_secret_consumers",
            summary: "Roll the Deployments, StatefulSets and DaemonSets whose pods use a Secret (never reading it)",
            effect: Reversible,
            target_kind: "-",
            params: vec![
                NAMESPACE,
                req("secret", String, "name of the Secret that changed"),
                opt(
                    "restarted_at",
                    Map,
                    "per consumer (Kind/name), the stamp to set instead (\"\": remove it); the compensation",
                ),
            ],
            outputs: vec![
                out("restarted", "the workloads rolled, as Kind/name"),
                out(
                    "previous_restarted_at",
                    "per workload rolled, its restart stamp before (\"\": none)",
                ),
            ],
            compensation: "rotate_secret_consumers with `restarted_at: ${ self.output.previous_restarted_at }`",
        },
        ActionSpec {
            name: "verify_rollout",
            summary: "Succeed when a Deployment's, StatefulSet's, DaemonSet's or ReplicaSet's pods are updated and available",
            effect: ReadOnly,
            target_kind: "-",
            params: vec![
                NAMESPACE,
                req(
                    "workload",
                    String,
                    "the workload as kind/name: deployment/web, statefulset/db, daemonset/agent or replicaset/web-7c9",
                ),
                opt(
                    "min_available",
                    Int,
                    "available pods needed (default: all it wants)",
                ),
            ],
            outputs: vec![
                out("desired", "the pods the workload wants"),
                out("updated", "the pods of its current template"),
                out("available", "the available pods seen"),
            ],
            compensation: "",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_action_exists_with_effect() {
        let catalog = ActionCatalog::builtin();
        for (name, effect) in [
            ("scale_deployment", Effect::Reversible),
            ("delete_pod", Effect::Irreversible),
            ("drain_node", Effect::Irreversible),
            ("verify_deployment", Effect::ReadOnly),
            ("notify_only", Effect::ReadOnly),
            ("cordon_node", Effect::Reversible),
            ("quarantine_pod", Effect::Reversible),
            ("isolate_pod", Effect::Reversible),
            ("cleanup_jobs", Effect::Irreversible),
            ("cleanup_pods", Effect::Irreversible),
            ("migrate_workload", Effect::Irreversible),
            ("rotate_secret_consumers", Effect::Reversible),
            ("verify_rollout", Effect::ReadOnly),
        ] {
            assert_eq!(catalog.get(name).map(|a| a.effect), Some(effect), "{name}");
        }
        assert_eq!(catalog.iter().count(), 35);
    }

    #[test]
    fn every_reversible_action_names_a_compensation_the_catalog_has() {
        let catalog = ActionCatalog::builtin();
        for action in catalog.iter() {
            match action.effect {
                Effect::Reversible => {
                    let first = action.compensation.split_whitespace().next().unwrap_or("");
                    assert!(
                        catalog.get(first).is_some(),
                        "{}: compensation `{}` names no action",
                        action.name,
                        action.compensation
                    );
                }
                _ => assert_eq!(action.compensation, "", "{}", action.name),
            }
        }
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let catalog = ActionCatalog::builtin();
        assert_eq!(
            catalog.suggest("scale_deploymnet"),
            Some("scale_deployment")
        );
        assert_eq!(catalog.suggest("cordon_nod"), Some("cordon_node"));
        assert_eq!(catalog.suggest("launch_rocket"), None);
    }
}
