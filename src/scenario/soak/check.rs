//! What a run under faults must have in common with the same run without them: the
//! invariants of docs/operations.md ("Faults and retries"), checked from what the run left in
//! the cluster and what reached the API server.

use std::collections::BTreeMap;
use std::time::Duration;

use super::schedule::{Injected, MAX_RESTART_DELAY, Schedule};
use crate::api::WorkflowExecution;
use crate::cluster::faults::Delivered;
use crate::reconcile::backoff::{MAX_BACKOFF, MAX_RETRY_AFTER};
use crate::scenario::Summary;

/// A step as the run ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEnd {
    /// Its phase.
    pub phase: String,
    /// Attempts made.
    pub attempts: u32,
    /// Compensation attempts made.
    pub rollback_attempts: u32,
    /// Its place in the order steps completed in, if it completed.
    pub completion_order: Option<u32>,
}

/// What one run left: its end, its executions, and the requests that reached the server.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The summary (phase, outcome, failure, steps, the scenario's checks, unfinished).
    pub summary: Summary,
    /// Each step's end, by name.
    pub steps: BTreeMap<String, StepEnd>,
    /// The run's executions at the end: name → (step, kind).
    pub executions: BTreeMap<String, (String, String)>,
    /// Executions the server created, by name, in the order it created them.
    pub creates: Vec<String>,
    /// The executor's writes the server accepted, other than to executions:
    /// `verb resource namespace/name` → how many.
    pub effects: BTreeMap<String, u32>,
    /// From the controllers' start to the run's end (clock of the runtime).
    pub took: Duration,
    /// From the controllers' start to the last fault (request fault, kill or clock step).
    pub faults_end: Duration,
    /// The faults injected.
    pub injected: Injected,
    /// Controller restarts.
    pub restarts: u32,
    /// Retries the controllers counted (every reason).
    pub retries: u64,
    /// The oldest object the running controllers had not reconciled, once the run ended.
    pub unreconciled: Duration,
}

impl Observed {
    /// Takes in the final run and the requests that reached the server.
    pub fn record(&mut self, run: Option<&WorkflowExecution>, delivered: &[Delivered]) {
        if let Some(status) = run.and_then(|r| r.status.as_ref()) {
            for step in &status.steps {
                let phase = serde_json::to_value(step.phase)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.steps.insert(
                    step.name.clone(),
                    StepEnd {
                        phase,
                        attempts: step.attempts,
                        rollback_attempts: step.rollback_attempts,
                        completion_order: step.completion_order,
                    },
                );
            }
        }
        for d in delivered {
            let accepted = (200..300).contains(&d.code);
            let r = &d.request;
            let base = r.resource.split('/').next().unwrap_or_default();
            if !accepted || !r.is_write() {
                continue;
            }
            if base == "kubernetesexecutions" {
                if r.verb == "create" {
                    self.creates.push(r.name.clone().unwrap_or_default());
                }
                continue;
            }
            if d.client.starts_with("executor") {
                let name = r.name.as_deref().unwrap_or_default();
                let name = if base == "pods" {
                    generated(name)
                } else {
                    name.to_string()
                };
                let key = format!(
                    "{} {} {}/{name}",
                    r.verb,
                    r.resource,
                    r.namespace.as_deref().unwrap_or_default(),
                );
                *self.effects.entry(key).or_default() += 1;
            }
        }
    }

    /// The steps compensated, in the order their compensations were created.
    pub fn compensations(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in &self.creates {
            if let Some((step, kind)) = self.executions.get(name)
                && kind == "rollback"
                && out.last() != Some(step)
            {
                out.push(step.clone());
            }
        }
        out
    }
}

/// A pod's name with the random suffix its controller drew (`web-5d8f7c9b4-x7k2p` →
/// `web-5d8f7c9b4-*`): the same pod of two runs has two names, so effects on pods are counted
/// by what made them.
fn generated(name: &str) -> String {
    match name.rsplit_once('-') {
        Some((stem, suffix))
            if suffix.len() == 5 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!("{stem}-*")
        }
        _ => name.to_string(),
    }
}

/// The bound on how long a run may take once faults end: what it took without faults, plus
/// the longest backoff and `Retry-After`, a restart, and the clock steps back (a step back
/// makes every wait in clock time longer), plus the observer's poll (the end is seen that
/// late) and 2 s for a relist.
pub fn liveness_bound(baseline: &Observed, schedule: &Schedule, faults_end: Duration) -> Duration {
    faults_end
        + baseline.took
        + MAX_BACKOFF
        + MAX_RETRY_AFTER
        + MAX_RESTART_DELAY
        + schedule.steps_back()
        + super::POLL
        + Duration::from_secs(2)
}

/// The invariants a run under faults breaks, compared with its `baseline` (the same scenario
/// without faults); empty when it holds them all.
pub fn violations(baseline: &Observed, run: &Observed, schedule: &Schedule) -> Vec<String> {
    let mut out = Vec::new();
    let (b, r) = (&baseline.summary, &run.summary);
    if let Some(why) = &r.unfinished {
        out.push(format!("the run did not end: {why}"));
    }
    if (&b.phase, &b.outcome) != (&r.phase, &r.outcome) {
        out.push(format!(
            "ended {:?}/{:?}; without faults {:?}/{:?}",
            r.phase, r.outcome, b.phase, b.outcome
        ));
    }
    let reason = |s: &Summary| s.failure.as_ref().map(|f| f.reason.clone());
    if reason(b) != reason(r) {
        out.push(format!(
            "failure reason {:?}; without faults {:?}",
            reason(r),
            reason(b)
        ));
    }
    // Steps that run in parallel may complete in another order: the order is checked below,
    // where it matters (compensations).
    let end = |s: &StepEnd| (s.phase.clone(), s.attempts, s.rollback_attempts);
    for (name, want) in &baseline.steps {
        let got = run.steps.get(name).map(end);
        if got.as_ref() != Some(&end(want)) {
            out.push(format!(
                "step {name}: {got:?}; without faults {:?}",
                end(want)
            ));
        }
    }
    let held = |s: &Summary| -> Vec<(String, bool)> {
        s.checks
            .iter()
            .map(|c| (c.what.clone(), c.passed))
            .collect()
    };
    if held(b) != held(r) {
        out.push(format!(
            "expectations {:?}; without faults {:?}",
            held(r),
            held(b)
        ));
    }
    // Every (step, attempt) created at most once, and the same ones as without faults.
    let mut created: BTreeMap<&str, u32> = BTreeMap::new();
    for name in &run.creates {
        *created.entry(name).or_default() += 1;
    }
    for (name, n) in &created {
        if *n > 1 {
            out.push(format!("execution {name} created {n} times"));
        }
    }
    let names = |o: &Observed| o.executions.keys().cloned().collect::<Vec<_>>();
    if names(baseline) != names(run) {
        out.push(format!(
            "executions {:?}; without faults {:?}",
            names(run),
            names(baseline)
        ));
    }
    // Every effect at most once per attempt: no more writes than without faults.
    for (key, n) in &run.effects {
        let allowed = baseline.effects.get(key).copied().unwrap_or(0);
        if *n > allowed {
            out.push(format!(
                "{key}: {n} writes accepted; without faults {allowed}"
            ));
        }
    }
    // Compensations only of completed steps, latest completed first.
    let order = run.compensations();
    let mut last = u32::MAX;
    for step in &order {
        match run.steps.get(step).and_then(|s| s.completion_order) {
            None => out.push(format!("{step} was compensated but never completed")),
            Some(n) if n >= last => out.push(format!(
                "{step} (completed #{n}) compensated after a step completed before it"
            )),
            Some(n) => last = n,
        }
    }
    if order != baseline.compensations() {
        out.push(format!(
            "compensations {order:?}; without faults {:?}",
            baseline.compensations()
        ));
    }
    let bound = liveness_bound(baseline, schedule, run.faults_end);
    if run.took > bound {
        out.push(format!(
            "ended {:.1}s after the start, faults ended at {:.1}s: more than the bound {:.1}s (without faults it took {:.1}s)",
            run.took.as_secs_f64(),
            run.faults_end.as_secs_f64(),
            bound.as_secs_f64(),
            baseline.took.as_secs_f64()
        ));
    }
    if run.unreconciled > MAX_BACKOFF {
        out.push(format!(
            "an object still waited for a reconcile {:.1}s after the run ended",
            run.unreconciled.as_secs_f64()
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::cluster::faults::RequestInfo;
    use crate::scenario::summary::FailureRow;

    fn step(phase: &str, attempts: u32, order: Option<u32>) -> StepEnd {
        StepEnd {
            phase: phase.into(),
            attempts,
            rollback_attempts: u32::from(phase.starts_with("Compensat")),
            completion_order: order,
        }
    }

    /// A rolled-back run: a and b completed (in that order) and were compensated, c failed.
    fn rolled_back() -> Observed {
        let mut o = Observed {
            summary: Summary {
                phase: Some("RolledBack".into()),
                outcome: Some("RolledBack".into()),
                failure: Some(FailureRow {
                    step: Some("c".into()),
                    reason: "StepFailed".into(),
                    message: String::new(),
                }),
                ..Summary::default()
            },
            took: Duration::from_secs(20),
            ..Observed::default()
        };
        o.steps.insert("a".into(), step("Compensated", 1, Some(1)));
        o.steps.insert("b".into(), step("Compensated", 1, Some(2)));
        o.steps.insert("c".into(), step("Failed", 1, None));
        for (name, step, kind) in [
            ("r-a-1", "a", "step"),
            ("r-b-1", "b", "step"),
            ("r-c-1", "c", "step"),
            ("r-b-rb-1", "b", "rollback"),
            ("r-a-rb-1", "a", "rollback"),
        ] {
            o.executions.insert(name.into(), (step.into(), kind.into()));
            o.creates.push(name.into());
        }
        o.effects
            .insert("patch deployments/scale shop/web".into(), 2);
        o
    }

    fn delivered(
        client: &str,
        verb: &'static str,
        resource: &str,
        name: &str,
        code: u16,
    ) -> Delivered {
        Delivered {
            client: client.into(),
            request: RequestInfo {
                verb,
                resource: resource.into(),
                namespace: Some("shop".into()),
                name: Some(name.into()),
            },
            code,
        }
    }

    fn quiet() -> Schedule {
        Schedule {
            seed: 0,
            window: Duration::from_secs(10),
            density: 0.0,
            kill_density: 0.0,
            max_request_kills: 0,
            events: Vec::new(),
        }
    }

    #[test]
    fn the_same_run_holds_every_invariant() {
        let base = rolled_back();
        assert_eq!(
            violations(&base, &base.clone(), &quiet()),
            Vec::<String>::new()
        );
        assert_eq!(base.compensations(), ["b", "a"]);
    }

    #[test]
    fn each_broken_invariant_is_reported() {
        let base = rolled_back();
        let schedule = quiet();
        let broken = |change: &dyn Fn(&mut Observed), expect: &str| {
            let mut run = base.clone();
            change(&mut run);
            let found = violations(&base, &run, &schedule);
            assert!(
                found.iter().any(|v| v.contains(expect)),
                "expected `{expect}` in {found:#?}"
            );
        };
        broken(
            &|r| r.summary.outcome = Some("Failed".into()),
            "without faults",
        );
        broken(
            &|r| r.summary.unfinished = Some("stuck".into()),
            "did not end",
        );
        broken(&|r| r.creates.push("r-c-1".into()), "r-c-1 created 2 times");
        broken(
            &|r| {
                r.executions
                    .insert("r-c-2".into(), ("c".into(), "step".into()));
            },
            "executions",
        );
        broken(
            &|r| {
                r.steps
                    .insert("c".into(), step("Failed", 2, None))
                    .map(|_| ())
                    .unwrap_or(())
            },
            "step c",
        );
        broken(
            &|r| {
                r.effects
                    .insert("patch deployments/scale shop/web".into(), 3);
            },
            "3 writes accepted; without faults 2",
        );
        broken(
            &|r| {
                r.effects.insert("delete pods shop/web-1".into(), 1);
            },
            "without faults 0",
        );
        // Compensated a before b: a completed first, so it must be undone last.
        broken(
            &|r| {
                r.creates.retain(|n| !n.contains("-rb-"));
                r.creates.push("r-a-rb-1".into());
                r.creates.push("r-b-rb-1".into());
            },
            "compensated after a step completed before it",
        );
        broken(
            &|r| {
                r.steps.insert("b".into(), step("Compensated", 1, None));
            },
            "compensated but never completed",
        );
        broken(
            &|r| {
                r.faults_end = Duration::from_secs(5);
                r.took = liveness_bound(&base, &schedule, r.faults_end) + Duration::from_secs(1);
            },
            "more than the bound",
        );
        broken(
            &|r| r.unreconciled = Duration::from_secs(30),
            "still waited",
        );
    }

    #[test]
    fn only_accepted_writes_count_as_effects() {
        let mut o = Observed::default();
        o.record(
            None,
            &[
                delivered("executor#0", "patch", "deployments/scale", "web", 200),
                delivered("executor#1", "patch", "deployments/scale", "web", 409),
                delivered("executor#1", "get", "deployments", "web", 200),
                delivered(
                    "executor#1",
                    "update",
                    "kubernetesexecutions/status",
                    "r-a-1",
                    200,
                ),
                delivered("workflow#0", "create", "kubernetesexecutions", "r-a-1", 201),
                delivered("workflow#1", "create", "kubernetesexecutions", "r-a-1", 409),
                delivered("workflow#0", "create", "events", "r.1", 201),
                delivered(
                    "executor#0",
                    "create",
                    "pods/eviction",
                    "web-5d8f-x7k2p",
                    201,
                ),
                delivered(
                    "executor#0",
                    "create",
                    "pods/eviction",
                    "web-5d8f-a1b2c",
                    201,
                ),
            ],
        );
        assert_eq!(o.creates, ["r-a-1"]);
        assert_eq!(
            o.effects.into_iter().collect::<Vec<_>>(),
            [
                ("create pods/eviction shop/web-5d8f-*".to_string(), 2),
                ("patch deployments/scale shop/web".to_string(), 1)
            ]
        );
    }
}
