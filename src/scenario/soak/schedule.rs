//! A fault schedule drawn from a seed, and the fault plan that applies it to the controllers'
//! requests. The schedule is a pure function of the seed; which request meets which fault is
//! a function of the seed, the client (controller and incarnation) and the request's ordinal
//! in that client, so a replay on the same code meets the same faults as long as the
//! controllers send the same requests in the same order.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use jiff::SignedDuration;
use tokio::time::Instant;

use crate::cluster::faults::{Fault, FaultKind, FaultPlan, RequestInfo};
use crate::sync;

/// SplitMix64: a small, fast generator whose every output is a function of the seed and the
/// position; enough for drawing fault schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator for a seed and a label (for independent streams).
    pub fn derived(seed: u64, label: &str, n: u64) -> Self {
        let mut h = seed ^ 0x6a09_e667_f3bc_c909;
        for b in label.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut rng = Rng(h ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A duration in [lo, hi).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + (hi.saturating_sub(lo)).mul_f64(self.unit())
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let n = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let i = usize::try_from(self.below(n)).unwrap_or_default();
        items.get(i).copied()
    }
}

/// A controller of the system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    /// The WorkflowExecution controller.
    Workflow,
    /// The executor.
    Executor,
}

impl Controller {
    /// Its name in metrics and client names.
    pub fn as_str(self) -> &'static str {
        match self {
            Controller::Workflow => "workflow",
            Controller::Executor => "executor",
        }
    }
}

/// Something the schedule does at a time rather than to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Kill the controller (whatever it is doing); it is restarted.
    Kill(Controller),
    /// Step the controller's clock.
    Jump(Controller, SignedDuration),
}

/// The faults of one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The seed it was drawn from.
    pub seed: u64,
    /// Faults happen only in this much time after the controllers start.
    pub window: Duration,
    /// The chance that a request in the window meets a fault.
    pub density: f64,
    /// The chance that a request in the window kills its client.
    pub kill_density: f64,
    /// How many clients a request may kill at most (each kill restarts a controller).
    pub max_request_kills: u32,
    /// Timed kills and clock jumps, by time after the controllers start.
    pub events: Vec<(Duration, Event)>,
}

/// The longest a fault window lasts: shorter than every library step's timeout (1 minute),
/// so that faults that end leave every attempt time to finish.
pub const MAX_WINDOW: Duration = Duration::from_secs(30);

/// The longest clock step: a few seconds, as NTP steps a clock.
pub const MAX_JUMP: Duration = Duration::from_secs(5);

/// The longest a killed controller stays down.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(1);

/// The longest injected delay of one request.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// The longest `Retry-After` injected with a 429.
pub const MAX_INJECTED_RETRY_AFTER: u32 = 2;

impl Schedule {
    /// The schedule of `seed`.
    pub fn from_seed(seed: u64) -> Schedule {
        let mut rng = Rng::derived(seed, "schedule", 0);
        let window = rng.between(Duration::from_secs(1), MAX_WINDOW);
        let density = rng.pick(&[0.01, 0.03, 0.1, 0.2, 0.3]).unwrap_or(0.1);
        let kill_density = rng.pick(&[0.0, 0.0, 0.005, 0.02]).unwrap_or(0.0);
        let max_request_kills = u32::try_from(rng.below(4)).unwrap_or(0);
        let mut events = Vec::new();
        for _ in 0..rng.below(3) {
            let controller = rng
                .pick(&[Controller::Workflow, Controller::Executor])
                .unwrap_or(Controller::Workflow);
            events.push((rng.between(Duration::ZERO, window), Event::Kill(controller)));
        }
        for _ in 0..rng.below(4) {
            let controller = rng
                .pick(&[Controller::Workflow, Controller::Executor])
                .unwrap_or(Controller::Workflow);
            let by = rng.between(Duration::from_millis(100), MAX_JUMP);
            let by = SignedDuration::try_from(by).unwrap_or_default();
            let by = if rng.unit() < 0.5 { -by } else { by };
            events.push((
                rng.between(Duration::ZERO, window),
                Event::Jump(controller, by),
            ));
        }
        events.sort_by_key(|(at, _)| *at);
        Schedule {
            seed,
            window,
            density,
            kill_density,
            max_request_kills,
            events,
        }
    }

    /// How long a killed controller stays down before its `n`-th restart.
    pub fn restart_delay(&self, controller: Controller, n: u32) -> Duration {
        Rng::derived(self.seed, controller.as_str(), u64::from(n))
            .between(Duration::ZERO, MAX_RESTART_DELAY)
    }

    /// How far back the clocks are stepped in all (a step back makes a run wait longer).
    pub fn steps_back(&self) -> Duration {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Jump(_, by) if by.is_negative() => Duration::try_from(by.abs()).ok(),
                _ => None,
            })
            .sum()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "window {:.1}s, density {}, kills per request {} (at most {}), events [",
            self.window.as_secs_f64(),
            self.density,
            self.kill_density,
            self.max_request_kills
        )?;
        for (i, (at, event)) in self.events.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            match event {
                Event::Kill(c) => write!(f, "{:.2}s kill {}", at.as_secs_f64(), c.as_str())?,
                Event::Jump(c, by) => write!(
                    f,
                    "{:.2}s {} clock {:+.1}s",
                    at.as_secs_f64(),
                    c.as_str(),
                    by.as_secs_f64()
                )?,
            }
        }
        write!(f, "]")
    }
}

/// What a plan injected, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injected {
    /// Requests answered with an error they never sent (by code).
    pub failed: HashMap<u16, u64>,
    /// Requests carried out whose answer was lost.
    pub lost_answers: u64,
    /// Requests delayed.
    pub delayed: u64,
    /// Watches cut.
    pub cut_watches: u64,
    /// Clients killed by a request.
    pub kills: u64,
}

impl Injected {
    /// Every fault counted.
    pub fn total(&self) -> u64 {
        self.failed.values().sum::<u64>()
            + self.lost_answers
            + self.delayed
            + self.cut_watches
            + self.kills
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Injected) {
        for (code, n) in &other.failed {
            *self.failed.entry(*code).or_default() += n;
        }
        self.lost_answers += other.lost_answers;
        self.delayed += other.delayed;
        self.cut_watches += other.cut_watches;
        self.kills += other.kills;
    }
}

#[derive(Debug, Default)]
struct PlanState {
    /// Requests seen per client (the ordinal of the next one).
    ordinals: HashMap<String, u64>,
    injected: Injected,
    /// When the last fault was injected, after the start.
    last_fault: Duration,
}

/// A [`Schedule`]'s faults applied to requests.
#[derive(Debug)]
pub struct SeededPlan {
    schedule: Schedule,
    started: Instant,
    state: Mutex<PlanState>,
}

impl SeededPlan {
    /// The plan of `schedule`, its window starting now.
    pub fn new(schedule: Schedule) -> Self {
        SeededPlan {
            schedule,
            started: Instant::now(),
            state: Mutex::new(PlanState::default()),
        }
    }

    /// What was injected so far.
    pub fn injected(&self) -> Injected {
        sync::lock(&self.state).injected.clone()
    }

    /// How long after the start the last request fault was injected.
    pub fn last_fault(&self) -> Duration {
        sync::lock(&self.state).last_fault
    }

    /// When the window started.
    pub fn started(&self) -> Instant {
        self.started
    }

    fn draw(&self, rng: &mut Rng, request: &RequestInfo, kills_left: bool) -> Fault {
        let mut fault = Fault::PASS;
        if kills_left && rng.unit() < self.schedule.kill_density {
            fault.kind = FaultKind::Kill {
                sent: rng.unit() < 0.5,
            };
            return fault;
        }
        if rng.unit() >= self.schedule.density {
            return fault;
        }
        let delay = rng.between(Duration::from_millis(1), MAX_DELAY);
        let throttled = FaultKind::Fail {
            code: 429,
            retry_after: Some(1 + u32::try_from(rng.below(2)).unwrap_or(0)),
        };
        let fail = |code| FaultKind::Fail {
            code,
            retry_after: None,
        };
        match request.verb {
            "watch" => match rng.below(4) {
                0 | 1 => {
                    fault.kind = FaultKind::CutWatch {
                        after: rng.between(Duration::ZERO, Duration::from_secs(5)),
                    }
                }
                2 => fault.kind = fail(rng.pick(&[500, 503]).unwrap_or(500)),
                _ => fault.delay = delay,
            },
            "get" | "list" => match rng.below(6) {
                0 => fault.kind = throttled,
                1 => fault.kind = fail(500),
                2 => fault.kind = fail(503),
                3 => fault.kind = fail(504),
                _ => fault.delay = delay,
            },
            verb => {
                let optimistic = matches!(verb, "update" | "patch");
                match rng.below(8) {
                    0 => fault.kind = throttled,
                    1 => fault.kind = fail(500),
                    2 => fault.kind = fail(503),
                    3 => fault.kind = fail(504),
                    4 if optimistic => fault.kind = fail(409),
                    4 | 5 => {
                        fault.kind = FaultKind::LoseAnswer {
                            code: rng.pick(&[500, 504]).unwrap_or(504),
                        }
                    }
                    _ => fault.delay = delay,
                }
            }
        }
        fault
    }
}

impl FaultPlan for SeededPlan {
    fn decide(&self, client: &str, request: &RequestInfo) -> Fault {
        let elapsed = self.started.elapsed();
        if elapsed >= self.schedule.window {
            return Fault::PASS;
        }
        let mut state = sync::lock(&self.state);
        let ordinal = state.ordinals.entry(client.to_string()).or_default();
        let n = *ordinal;
        *ordinal += 1;
        let mut rng = Rng::derived(self.schedule.seed, client, n);
        let kills_left = state.injected.kills < u64::from(self.schedule.max_request_kills);
        let fault = self.draw(&mut rng, request, kills_left);
        let counted = &mut state.injected;
        match &fault.kind {
            FaultKind::Pass if fault.delay.is_zero() => return fault,
            FaultKind::Pass => counted.delayed += 1,
            FaultKind::Fail { code, .. } => *counted.failed.entry(*code).or_default() += 1,
            FaultKind::LoseAnswer { .. } => counted.lost_answers += 1,
            FaultKind::CutWatch { .. } => counted.cut_watches += 1,
            FaultKind::Kill { .. } => counted.kills += 1,
        }
        state.last_fault = elapsed + fault.delay;
        fault
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_a_function_of_its_seed() {
        for seed in 0..200 {
            let a = Schedule::from_seed(seed);
            assert_eq!(a, Schedule::from_seed(seed));
            assert!(a.window <= MAX_WINDOW);
            assert!(a.events.iter().all(|(at, _)| *at <= a.window));
            assert!(a.events.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(a.steps_back() <= MAX_JUMP * 4);
        }
        assert_ne!(Schedule::from_seed(1), Schedule::from_seed(2));
    }

    #[test]
    fn the_generator_is_spread_and_repeatable() {
        let mut rng = Rng::new(7);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert_eq!(
            Rng::derived(1, "workflow#0", 5).next_u64(),
            Rng::derived(1, "workflow#0", 5).next_u64()
        );
        assert_ne!(
            Rng::derived(1, "workflow#0", 5).next_u64(),
            Rng::derived(1, "workflow#1", 5).next_u64()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_plan_injects_within_its_window_only_and_counts_what_it_did() {
        let mut schedule = Schedule::from_seed(3);
        schedule.density = 1.0;
        schedule.kill_density = 0.0;
        schedule.window = Duration::from_secs(10);
        let plan = SeededPlan::new(schedule);
        let update = RequestInfo {
            verb: "update",
            resource: "kubernetesexecutions/status".into(),
            namespace: Some("shop".into()),
            name: Some("run-a-1".into()),
        };
        let faults: Vec<Fault> = (0..200)
            .map(|_| plan.decide("executor#0", &update))
            .collect();
        assert!(faults.iter().all(|f| *f != Fault::PASS));
        let injected = plan.injected();
        assert_eq!(injected.total(), 200);
        assert!(injected.failed.contains_key(&409), "{injected:?}");
        assert!(injected.lost_answers > 0, "{injected:?}");
        // A watch is cut, never answered 409 or lost.
        let watch = RequestInfo {
            verb: "watch",
            ..update.clone()
        };
        for _ in 0..100 {
            let f = plan.decide("workflow#0", &watch);
            assert!(!matches!(
                f.kind,
                FaultKind::LoseAnswer { .. } | FaultKind::Fail { code: 409, .. }
            ));
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(plan.decide("executor#0", &update), Fault::PASS);
    }
}
