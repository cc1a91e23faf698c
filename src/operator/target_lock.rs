//! The per-target lock: one active run per target resource. A later run waits at Validating
//! (condition TargetBusy) and starts when the first ends.
//!
//! The lock is recomputed from the runs that exist (level-triggered): a run holds its target
//! from the moment it passes Validating until it reaches a terminal phase. Among runs still
//! at Validating on a free target, the oldest (creation time, then name) goes first.

use jiff::Timestamp;

use crate::api::WorkflowPhase;

/// A resource a run acts on: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    /// The resource kind, e.g. `Deployment`.
    pub kind: String,
    /// Its namespace (empty for cluster-scoped resources).
    pub namespace: String,
    /// Its name.
    pub name: String,
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

    #[test]
    fn runs_not_yet_planned_do_not_block() {
        let a = claim("a", WorkflowPhase::Pending, 10, "web");
        let b = claim("b", WorkflowPhase::Validating, 20, "web");
        assert_eq!(state(&b, &[a, b.clone()]), LockState::Free);
    }
}
