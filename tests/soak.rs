//! The seeded fault soak (docs/operations.md, "Faults and retries"): every example scenario,
//! run by both real controllers on the embedded cluster under a random fault schedule drawn
//! from a seed (429 with Retry-After, 500, 503, 504, 409, lost answers, slowness, cut watches,
//! controllers killed between and inside reconciles, clock steps), must end as it does
//! without faults: same outcome and steps, each execution created once, no effect applied
//! twice, compensations in reverse completion order, and no wait past the maximum backoff
//! once the faults end.
//!
//! `cargo test --test soak` runs a bounded number of seeds and replays every seed that ever
//! failed (`tests/soak/regressions.txt`). `scripts/soak` runs as many as asked. Environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `REMEDY_SOAK_SEEDS` | how many seeds (default 48: about a minute on one core) |
//! | `REMEDY_SOAK_FROM` | the first seed (default 1) |
//! | `REMEDY_SOAK_SEED` | run only this seed, and print what it did (a replay) |
//! | `REMEDY_SOAK_THREADS` | seeds run at once (default: 1; each seed runs on one thread) |
//! | `REMEDY_SOAK_SCENARIO` | only scenarios whose file name contains this |
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use remedy::scenario::soak::schedule::{Injected, Rng};
use remedy::scenario::soak::{self, Observed, Schedule};
use remedy::scenario::{self, Scenario};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// An example scenario, and a template directory holding only its template (and `lib/`): the
/// workflow controller reads and checks every template at each start, which would cost more
/// than a short run.
struct Case {
    name: String,
    scenario: Scenario,
    templates: tempfile::TempDir,
}

fn templates_of(scenario: &Scenario) -> tempfile::TempDir {
    let workflow = scenario.analysis.status["recommendedWorkflow"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = format!("{workflow}.wf");
    std::fs::copy(root().join("workflows").join(&file), dir.path().join(&file)).unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    for entry in std::fs::read_dir(root().join("workflows/lib")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("lib").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    dir
}

/// The example scenarios, by file name.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let filter = std::env::var("REMEDY_SOAK_SCENARIO").unwrap_or_default();
        let mut out = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "yaml") || p.join("scenario.yaml").exists()
            })
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.contains(&filter) {
                let scenario = scenario::load(&path).unwrap();
                let templates = templates_of(&scenario);
                out.push(Case {
                    name,
                    scenario,
                    templates,
                });
            }
        }
        assert!(!out.is_empty(), "no scenario matches {filter:?}");
        out
    })
}

/// Runs `f` on a current-thread runtime with paused time, on a thread of its own; gives up
/// after `real` seconds of real time (a busy loop never lets simulated time pass).
fn paused<T: Send + 'static>(
    real: Duration,
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let out = runtime.block_on(f());
        runtime.shutdown_background();
        let _ = tx.send(out);
    });
    rx.recv_timeout(real).ok()
}

/// How long one run may take in real time before it counts as stuck.
const REAL_LIMIT: Duration = Duration::from_secs(120);

/// The run of scenario `i` without faults, computed once.
fn baseline(i: usize) -> Arc<Observed> {
    static BASELINES: OnceLock<Vec<OnceLock<Arc<Observed>>>> = OnceLock::new();
    let cell = &BASELINES.get_or_init(|| cases().iter().map(|_| OnceLock::new()).collect())[i];
    cell.get_or_init(|| {
        let Case {
            name,
            scenario,
            templates,
        } = &cases()[i];
        let (scenario, templates) = (scenario.clone(), templates.path().to_path_buf());
        let observed = paused(REAL_LIMIT, move || {
            Box::pin(async move { soak::observe(&scenario, &templates, None).await })
        })
        .unwrap_or_else(|| panic!("{name} without faults: no end in real time"))
        .unwrap_or_else(|e| panic!("{name} without faults: {e}"));
        assert_eq!(
            observed.summary.unfinished, None,
            "{name} without faults: {:#?}",
            observed.summary
        );
        assert!(
            observed.summary.checks.iter().all(|c| c.passed),
            "{name} without faults: {:#?}",
            observed.summary.checks
        );
        Arc::new(observed)
    })
    .clone()
}

/// The scenario a seed runs.
fn case_of(seed: u64) -> usize {
    let n = u64::try_from(cases().len()).unwrap();
    usize::try_from(Rng::derived(seed, "scenario", 0).below(n)).unwrap()
}

/// One seed's result.
struct SeedRun {
    seed: u64,
    case: usize,
    scenario: String,
    schedule: Schedule,
    observed: Option<Observed>,
    violations: Vec<String>,
}

/// Runs `seed`'s schedule on scenario `case` (by default the one the seed picks).
fn run_seed(seed: u64, case: Option<usize>) -> SeedRun {
    let i = case.unwrap_or_else(|| case_of(seed));
    let case = &cases()[i];
    let base = baseline(i);
    let schedule = Schedule::from_seed(seed);
    let (s, sch) = (case.scenario.clone(), schedule.clone());
    let templates = case.templates.path().to_path_buf();
    let observed = paused(REAL_LIMIT, move || {
        Box::pin(async move { soak::observe(&s, &templates, Some(&sch)).await })
    });
    let (observed, violations) = match observed {
        None => (
            None,
            vec![format!(
                "no end within {REAL_LIMIT:?} of real time: a busy loop?"
            )],
        ),
        Some(Err(e)) => (None, vec![format!("could not run: {e}")]),
        Some(Ok(o)) => {
            let v = soak::violations(&base, &o, &schedule);
            (Some(o), v)
        }
    };
    SeedRun {
        seed,
        case: i,
        scenario: case.name.clone(),
        schedule,
        observed,
        violations,
    }
}

/// The command that replays `seed` on `scenario` (named, so that new examples, which change
/// the scenario a seed picks, do not change the replay).
fn replay_command(seed: u64, scenario: &str) -> String {
    format!(
        "REMEDY_SOAK_SEED={seed} REMEDY_SOAK_SCENARIO={scenario} cargo test --test soak soak -- --nocapture  (or scripts/soak --seed {seed} --scenario {scenario})"
    )
}

fn describe(run: &SeedRun) -> String {
    let mut out = format!("seed {} ({}): {}\n", run.seed, run.scenario, run.schedule);
    if let Some(o) = &run.observed {
        out.push_str(&format!(
            "  took {:.1}s (faults until {:.1}s), {} faults injected {:?}, {} restarts, {} retries\n",
            o.took.as_secs_f64(),
            o.faults_end.as_secs_f64(),
            o.injected.total(),
            o.injected,
            o.restarts,
            o.retries
        ));
    }
    for v in &run.violations {
        out.push_str(&format!("  violated: {v}\n"));
    }
    out
}

/// What a batch of seeds did.
struct Totals {
    failures: Vec<SeedRun>,
    injected: Injected,
    restarts: u64,
}

/// Runs `seeds` on `threads` threads; answers the failures and totals, and prints the figures.
fn soak_seeds(seeds: Vec<(u64, Option<usize>)>, threads: usize) -> Totals {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let injected = Mutex::new(Injected::default());
    let (restarts, retries, ran) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let extra = Mutex::new(Duration::ZERO);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some((seed, case)) =
                    seeds.get(next.fetch_add(1, Ordering::SeqCst)).copied()
                {
                    let run = run_seed(seed, case);
                    ran.fetch_add(1, Ordering::SeqCst);
                    if let Some(o) = &run.observed {
                        injected.lock().unwrap().add(&o.injected);
                        restarts.fetch_add(u64::from(o.restarts), Ordering::SeqCst);
                        retries.fetch_add(o.retries, Ordering::SeqCst);
                        let base = baseline(run.case);
                        let mut e = extra.lock().unwrap();
                        *e = (*e).max(o.took.saturating_sub(base.took));
                    }
                    if !run.violations.is_empty() {
                        eprint!("FAIL {}", describe(&run));
                        failures.lock().unwrap().push(run);
                    }
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let ran = ran.load(Ordering::SeqCst);
    let injected = injected.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "soak: {ran} seeds in {secs:.1}s ({:.2} seeds/s), {} faults injected ({} failed requests {:?}, {} lost answers, {} delays, {} cut watches, {} kills by request), {} controller restarts, {} retries, longest extra time over the run without faults {:.1}s, {} seeds violated an invariant",
        ran as f64 / secs,
        injected.total(),
        injected.failed.values().sum::<u64>(),
        {
            let mut by_code: Vec<_> = injected.failed.iter().collect();
            by_code.sort();
            by_code
        },
        injected.lost_answers,
        injected.delayed,
        injected.cut_watches,
        injected.kills,
        restarts.load(Ordering::SeqCst),
        retries.load(Ordering::SeqCst),
        extra.into_inner().unwrap().as_secs_f64(),
        failures.len()
    );
    Totals {
        failures,
        injected,
        restarts: restarts.load(Ordering::SeqCst),
    }
}

#[test]
fn soak() {
    if let Ok(seed) = std::env::var("REMEDY_SOAK_SEED") {
        let seed: u64 = seed.trim().parse().expect("REMEDY_SOAK_SEED: a number");
        let run = run_seed(seed, None);
        eprint!("{}", describe(&run));
        assert!(
            run.violations.is_empty(),
            "seed {seed} violated an invariant"
        );
        return;
    }
    let from = env_u64("REMEDY_SOAK_FROM", 1);
    let count = env_u64("REMEDY_SOAK_SEEDS", 48);
    let threads = usize::try_from(env_u64("REMEDY_SOAK_THREADS", 1))
        .unwrap()
        .max(1);
    let totals = soak_seeds((from..from + count).map(|s| (s, None)).collect(), threads);
    if let Some(first) = totals.failures.iter().min_by_key(|r| r.seed) {
        panic!(
            "{} of {count} seeds violated an invariant; the first: {}replay it with {}\nand add it to tests/soak/regressions.txt",
            totals.failures.len(),
            describe(first),
            replay_command(first.seed, &first.scenario)
        );
    }
    // Not a vacuous soak: over a few dozen seeds, every kind of fault was met.
    if count >= 40 {
        let i = &totals.injected;
        for code in [409, 429, 500, 503, 504] {
            assert!(
                i.failed.get(&code).copied().unwrap_or(0) > 0,
                "no {code} injected: {i:?}"
            );
        }
        assert!(
            i.lost_answers > 0 && i.delayed > 0 && i.cut_watches > 0 && i.kills > 0,
            "{i:?}"
        );
        assert!(totals.restarts > 0, "no controller restarted");
    }
}

/// Every seed that ever failed, replayed on the scenario it failed on.
#[test]
fn regressions() {
    let text = std::fs::read_to_string(root().join("tests/soak/regressions.txt")).unwrap();
    let seeds: Vec<(u64, Option<usize>)> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (seed, scenario) = l
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("regressions.txt: {l:?} is not `SEED SCENARIO`"));
            let seed = seed
                .parse()
                .unwrap_or_else(|_| panic!("regressions.txt: {seed:?} is not a seed"));
            let case = cases()
                .iter()
                .position(|c| c.name == scenario.trim())
                .unwrap_or_else(|| panic!("regressions.txt: no example {scenario:?}"));
            (seed, Some(case))
        })
        .collect();
    assert!(!seeds.is_empty(), "regressions.txt lists no seed");
    let totals = soak_seeds(seeds, 1);
    if let Some(first) = totals.failures.first() {
        panic!(
            "regression seed {} fails again: {}replay it with {}",
            first.seed,
            describe(first),
            replay_command(first.seed, &first.scenario)
        );
    }
}
