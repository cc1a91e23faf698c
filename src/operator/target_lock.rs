//! The per-target lock: one active run per target resource. A later run waits at Validating
//! (condition TargetBusy) and starts when the first ends.
//!
//! The lock is recomputed from the runs that exist (level-triggered): a run holds its target
//! from the moment it passes Validating until it reaches a terminal phase. Among runs still
//! at Validating on a free target, the oldest (creation time, then name) goes first.

use jiff::Timestamp;

use crate::api::{TargetResource, WorkflowPhase};

/// A resource a run acts on, as one canonical identity: API group, kind, namespace and name,
/// whatever spelling the analysis used (see [`canonical`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    /// The API group (`apps`; empty for the core group and for kinds not known here).
    pub group: String,
    /// The kind as the API spells it (`Deployment`), or lower-cased when not known here.
    pub kind: String,
    /// Its namespace, lower-case (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Its name, lower-case.
    pub name: String,
}

/// A kind the lock knows: its group, whether it is namespaced, and the other names it goes
/// by (plural, short names), as kubectl resolves them.
struct KnownKind {
    kind: &'static str,
    group: &'static str,
    namespaced: bool,
    names: &'static [&'static str],
    /// Groups that served it before (`extensions` for Deployments).
    legacy_groups: &'static [&'static str],
}

const fn known(
    kind: &'static str,
    group: &'static str,
    namespaced: bool,
    names: &'static [&'static str],
) -> KnownKind {
    KnownKind {
        kind,
        group,
        namespaced,
        names,
        legacy_groups: &[],
    }
}

/// The kinds remediations act on or name, with their groups and scopes.
const KNOWN_KINDS: &[KnownKind] = &[
    KnownKind {
        legacy_groups: &["extensions"],
        ..known("Deployment", "apps", true, &["deployments", "deploy"])
    },
    known("StatefulSet", "apps", true, &["statefulsets", "sts"]),
    KnownKind {
        legacy_groups: &["extensions"],
        ..known("DaemonSet", "apps", true, &["daemonsets", "ds"])
    },
    KnownKind {
        legacy_groups: &["extensions"],
        ..known("ReplicaSet", "apps", true, &["replicasets", "rs"])
    },
    known("Pod", "", true, &["pods", "po"]),
    known("Service", "", true, &["services", "svc"]),
    known("ConfigMap", "", true, &["configmaps", "cm"]),
    known("Secret", "", true, &["secrets"]),
    known("ServiceAccount", "", true, &["serviceaccounts", "sa"]),
    known(
        "PersistentVolumeClaim",
        "",
        true,
        &["persistentvolumeclaims", "pvc"],
    ),
    known("PersistentVolume", "", false, &["persistentvolumes", "pv"]),
    known("Node", "", false, &["nodes", "no"]),
    known("Namespace", "", false, &["namespaces", "ns"]),
    known(
        "HorizontalPodAutoscaler",
        "autoscaling",
        true,
        &["horizontalpodautoscalers", "hpa"],
    ),
    known("Job", "batch", true, &["jobs"]),
    known("CronJob", "batch", true, &["cronjobs", "cj"]),
    known(
        "PodDisruptionBudget",
        "policy",
        true,
        &["poddisruptionbudgets", "pdb"],
    ),
    known("Ingress", "networking.k8s.io", true, &["ingresses", "ing"]),
];

/// The canonical identity of an analysis's target, for a run in `run_namespace`. The kind
/// is matched without regard to case, by kind, plural or short name, optionally written
/// `kind.group`; a known kind gets its group and scope (a cluster-scoped kind has no
/// namespace, whatever the analysis says; a namespaced one without a namespace is in the
/// run's). Namespace and name are lower-cased. An apiVersion or `.group` that does not serve
/// the kind is refused: it would name another object.
pub fn canonical(target: &TargetResource, run_namespace: &str) -> Result<TargetKey, String> {
    let spelled = target.kind.trim();
    let name = target.name.trim().to_ascii_lowercase();
    if spelled.is_empty() || name.is_empty() {
        return Err(format!(
            "the analysis's target `{}` `{}` needs a kind and a name",
            target.kind, target.name
        ));
    }
    let (kind_part, kind_group) = match spelled.split_once('.') {
        Some((k, g)) => (k, Some(g.to_ascii_lowercase())),
        None => (spelled, None),
    };
    let lower = kind_part.to_ascii_lowercase();
    let api_group = target.api_version.as_deref().map(|v| {
        let v = v.trim().to_ascii_lowercase();
        match v.split_once('/') {
            Some((g, _)) => g.to_string(),
            None => String::new(),
        }
    });
    let namespace = target
        .namespace
        .as_deref()
        .map(str::trim)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(run_namespace)
        .to_ascii_lowercase();
    let Some(k) = KNOWN_KINDS
        .iter()
        .find(|k| k.kind.eq_ignore_ascii_case(&lower) || k.names.contains(&lower.as_str()))
    else {
        return Ok(TargetKey {
            group: String::new(),
            kind: lower,
            namespace,
            name,
        });
    };
    for (given, what) in [(kind_group, "kind"), (api_group, "apiVersion")] {
        if let Some(g) = given
            && g != k.group
            && !k.legacy_groups.contains(&g.as_str())
        {
            let shown = if k.group.is_empty() { "core" } else { k.group };
            let written = match what {
                "kind" => target.kind.clone(),
                _ => target.api_version.clone().unwrap_or_default(),
            };
            return Err(format!(
                "the analysis's target {what} `{written}` does not serve kind {} (group {shown}): \
                 it names another object than the {} it spells",
                k.kind, k.kind
            ));
        }
    }
    Ok(TargetKey {
        group: k.group.to_string(),
        kind: k.kind.to_string(),
        namespace: if k.namespaced {
            namespace
        } else {
            String::new()
        },
        name,
    })
}

impl std::fmt::Display for TargetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What the lock needs to know of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The run's namespace and name, as `ns/name`.
    pub run: String,
    /// Its phase.
    pub phase: WorkflowPhase,
    /// When it was created.
    pub created: Option<Timestamp>,
    /// The target its pinned plan acts on.
    pub target: Option<TargetKey>,
}

/// Whether a run at Validating may go on, or which run it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// The target is free for this run (or it has no target).
    Free,
    /// Another run holds (or goes first on) the target.
    Busy {
        /// The run it waits for, `ns/name`.
        holder: String,
    },
}

/// The lock state for `me` (at Validating) among all `claims` (which may include `me`).
pub fn state(me: &Claim, claims: &[Claim]) -> LockState {
    let Some(target) = &me.target else {
        return LockState::Free;
    };
    let rivals = claims
        .iter()
        .filter(|c| c.run != me.run && c.target.as_ref() == Some(target) && !c.phase.is_terminal());
    let mut first: Option<&Claim> = None;
    for rival in rivals {
        if holds(rival.phase) {
            return LockState::Busy {
                holder: rival.run.clone(),
            };
        }
        if rival.phase == WorkflowPhase::Validating && goes_before(rival, me) {
            let earlier = first.is_none_or(|f| goes_before(rival, f));
            if earlier {
                first = Some(rival);
            }
        }
    }
    match first {
        Some(f) => LockState::Busy {
            holder: f.run.clone(),
        },
        None => LockState::Free,
    }
}

/// True for the phases in which a run holds its target.
pub fn holds(phase: WorkflowPhase) -> bool {
    matches!(
        phase,
        WorkflowPhase::AwaitingApproval
            | WorkflowPhase::Executing
            | WorkflowPhase::Monitoring
            | WorkflowPhase::RollingBack
    )
}

fn goes_before(a: &Claim, b: &Claim) -> bool {
    // A run without a creation time sorts last; ties are broken by name.
    let key = |c: &Claim| (c.created.is_none(), c.created, c.run.clone());
    key(a) < key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Option<TargetKey> {
        Some(TargetKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: name.into(),
        })
    }

    fn claim(run: &str, phase: WorkflowPhase, secs: i64, on: &str) -> Claim {
        Claim {
            run: format!("shop/{run}"),
            phase,
            created: Timestamp::from_second(secs).ok(),
            target: target(on),
        }
    }

    #[test]
    fn a_running_run_blocks_a_later_one() {
        let a = claim("a", WorkflowPhase::Executing, 10, "web");
        let b = claim("b", WorkflowPhase::Validating, 20, "web");
        let all = [a.clone(), b.clone()];
        assert_eq!(
            state(&b, &all),
            LockState::Busy {
                holder: "shop/a".into()
            }
        );
    }

    #[test]
    fn a_running_run_blocks_even_an_older_one() {
        let a = claim("a", WorkflowPhase::Validating, 10, "web");
        let b = claim("b", WorkflowPhase::Monitoring, 20, "web");
        assert_eq!(
            state(&a, &[a.clone(), b]),
            LockState::Busy {
                holder: "shop/b".into()
            }
        );
    }

    #[test]
    fn the_oldest_validating_run_goes_first() {
        let a = claim("a", WorkflowPhase::Validating, 10, "web");
        let b = claim("b", WorkflowPhase::Validating, 20, "web");
        let c = claim("c", WorkflowPhase::Validating, 30, "web");
        let all = [c.clone(), b.clone(), a.clone()];
        assert_eq!(state(&a, &all), LockState::Free);
        assert_eq!(
            state(&b, &all),
            LockState::Busy {
                holder: "shop/a".into()
            }
        );
        assert_eq!(
            state(&c, &all),
            LockState::Busy {
                holder: "shop/a".into()
            }
        );
    }

    #[test]
    fn ended_runs_and_other_targets_do_not_block() {
        let a = claim("a", WorkflowPhase::RolledBack, 10, "web");
        let b = claim("b", WorkflowPhase::Executing, 15, "api");
        let c = claim("c", WorkflowPhase::Validating, 20, "web");
        assert_eq!(state(&c, &[a, b, c.clone()]), LockState::Free);
    }

    fn spelled(kind: &str, ns: Option<&str>, name: &str, api: Option<&str>) -> TargetResource {
        TargetResource {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(Into::into),
            api_version: api.map(Into::into),
        }
    }

    #[test]
    fn every_spelling_of_one_object_is_one_identity() {
        let web = canonical(&spelled("Deployment", Some("shop"), "web", None), "shop").unwrap();
        assert_eq!(web.to_string(), "Deployment shop/web");
        for t in [
            spelled("deployment", Some("shop"), "web", None),
            spelled("DEPLOYMENTS", Some("Shop"), "Web", None),
            spelled("deploy", None, "web", Some("apps/v1")),
            spelled("Deployment.apps", Some("shop"), " web ", None),
            spelled(
                "Deployment",
                Some("shop"),
                "web",
                Some("extensions/v1beta1"),
            ),
        ] {
            assert_eq!(canonical(&t, "shop").unwrap(), web, "{t:?}");
        }
        // A cluster-scoped kind has no namespace, whatever the analysis says.
        let node = canonical(&spelled("Node", None, "n1", None), "shop").unwrap();
        assert_eq!(
            canonical(&spelled("nodes", Some("shop"), "N1", Some("v1")), "other").unwrap(),
            node
        );
        assert_eq!(node.namespace, "");
    }

    #[test]
    fn a_forged_api_version_or_group_is_refused() {
        for t in [
            spelled("Deployment", Some("shop"), "web", Some("evil.io/v1")),
            spelled("Deployment.evil.io", Some("shop"), "web", None),
            spelled("Pod", Some("shop"), "p", Some("apps/v1")),
        ] {
            let e = canonical(&t, "shop").unwrap_err();
            assert!(e.contains("does not serve kind"), "{e}");
        }
        assert!(canonical(&spelled("", Some("shop"), "web", None), "shop").is_err());
    }

    #[test]
    fn unknown_kinds_ignore_their_group_and_case() {
        let a = canonical(
            &spelled("Database", Some("shop"), "db", Some("a.io/v1")),
            "shop",
        );
        let b = canonical(&spelled("database", None, "DB", None), "shop");
        assert_eq!(a, b);
    }

    #[test]
    fn mis_spelled_targets_share_the_lock() {
        let key = |kind: &str| canonical(&spelled(kind, Some("shop"), "web", None), "shop").ok();
        let a = Claim {
            target: key("Deployment"),
            ..claim("a", WorkflowPhase::Executing, 10, "web")
        };
        let b = Claim {
            target: key("deployment"),
            ..claim("b", WorkflowPhase::Validating, 20, "web")
        };
        assert_eq!(
            state(&b, &[a, b.clone()]),
            LockState::Busy {
                holder: "shop/a".into()
            }
        );
    }

    #[test]
    fn runs_not_yet_planned_do_not_block() {
        let a = claim("a", WorkflowPhase::Pending, 10, "web");
        let b = claim("b", WorkflowPhase::Validating, 20, "web");
        assert_eq!(state(&b, &[a, b.clone()]), LockState::Free);
    }
}
