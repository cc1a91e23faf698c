//! The time the controllers give the engine and the executor. A leaf. Injectable, so tests and `remedy run --speed` can
//! make minutes pass in seconds: a clock says what time it is and how long to really wait.
//!
//! Every delay the controllers choose (requeues, error backoffs, a throttled request's
//! `Retry-After`, the executor's polls and deadlines) is a span of clock time turned into a
//! real wait by [`Clock::real_delay`], so at any speed a backoff is as long in clock time as
//! it is on a real cluster. Clocks measure elapsed time with `tokio::time::Instant`, so a
//! runtime with paused time (the soak) drives them too.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// A source of the current time and of real delays.
pub trait Clock: Send + Sync + Debug {
    /// The current time as the engine sees it.
    fn now(&self) -> Timestamp;
    /// How long to really wait for `span` of this clock's time to pass.
    fn real_delay(&self, span: Duration) -> Duration;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn real_delay(&self, span: Duration) -> Duration {
        span
    }
}

/// The slowest speed a scaled clock runs at: real time.
pub const MIN_SPEED: f64 = 1.0;

/// The fastest speed a scaled clock runs at. Above it a millisecond of real work (one API
/// request) is more than a second of clock time, and step timeouts stop meaning anything.
pub const MAX_SPEED: f64 = 1000.0;

/// Why a speed is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("speed must be a number from {MIN_SPEED} to {MAX_SPEED} (got {0})")]
pub struct SpeedError(pub f64);

/// Checks a clock speed: a finite number from [`MIN_SPEED`] to [`MAX_SPEED`].
pub fn check_speed(speed: f64) -> Result<f64, SpeedError> {
    if speed.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err(SpeedError(speed))
    }
}

/// A clock that runs `speed` times faster than the wall clock, from the moment it was made,
/// and that can be stepped like a wall clock under NTP ([`ScaledClock::jump`]).
#[derive(Debug)]
pub struct ScaledClock {
    origin: Timestamp,
    started: Instant,
    speed: f64,
    /// Steps taken by `jump`, in nanoseconds.
    offset: AtomicI64,
}

impl ScaledClock {
    /// A clock starting now, running `speed` times as fast as real time; a speed outside
    /// [`MIN_SPEED`]..=[`MAX_SPEED`] (or not a number) is brought into it. Callers that take
    /// a speed from a user check it first with [`check_speed`].
    pub fn new(speed: f64) -> Self {
        ScaledClock::starting_at(Timestamp::now(), speed)
    }

    /// A clock that reads `origin` now and runs `speed` times as fast as real time.
    pub fn starting_at(origin: Timestamp, speed: f64) -> Self {
        let speed = if speed.is_nan() {
            MIN_SPEED
        } else {
            speed.clamp(MIN_SPEED, MAX_SPEED)
        };
        ScaledClock {
            origin,
            started: Instant::now(),
            speed,
            offset: AtomicI64::new(0),
        }
    }

    /// How many times faster than real time it runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Steps the clock by `by` (forwards or backwards), as a wall clock stepped by NTP; the
    /// simulations use it to check that a jump harms no run.
    pub fn jump(&self, by: SignedDuration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(if by.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        let _ = self
            .offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(nanos))
            });
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let scaled = self.started.elapsed().as_secs_f64() * self.speed;
        let elapsed = Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX);
        let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
        let offset = SignedDuration::from_nanos(self.offset.load(Ordering::SeqCst));
        self.origin
            .checked_add(elapsed.saturating_add(offset))
            .unwrap_or(if offset.is_negative() {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
    }

    fn real_delay(&self, span: Duration) -> Duration {
        span.div_f64(self.speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_faster_and_shortens_waits() {
        let clock = ScaledClock::new(100.0);
        let before = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let passed = clock.now().duration_since(before);
        assert!(passed >= SignedDuration::from_secs(2), "{passed:?}");
        assert_eq!(
            clock.real_delay(Duration::from_secs(100)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn speeds_out_of_range_are_refused_and_clamped() {
        assert_eq!(check_speed(1.0), Ok(1.0));
        assert_eq!(check_speed(MAX_SPEED), Ok(MAX_SPEED));
        for bad in [0.0, 0.5, -3.0, 1e30, f64::INFINITY, f64::NAN] {
            assert!(check_speed(bad).is_err(), "{bad}");
        }
        assert_eq!(ScaledClock::new(0.0).speed(), 1.0);
        assert_eq!(ScaledClock::new(f64::NAN).speed(), 1.0);
        assert_eq!(ScaledClock::new(1e30).speed(), MAX_SPEED);
    }

    #[test]
    fn a_huge_speed_never_panics_the_clock() {
        // The speed is clamped; even so, time far in the future saturates instead of panicking.
        let clock = ScaledClock::starting_at(Timestamp::MAX, 1e30);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), Timestamp::MAX);
        assert!(clock.real_delay(Duration::MAX) > Duration::ZERO);
    }

    #[test]
    fn jumps_step_the_clock_both_ways() {
        let origin = Timestamp::from_second(1_700_000_000).unwrap();
        let clock = ScaledClock::starting_at(origin, 1.0);
        clock.jump(SignedDuration::from_secs(30));
        let ahead = clock.now().duration_since(origin);
        assert!(ahead >= SignedDuration::from_secs(30), "{ahead:?}");
        assert!(ahead < SignedDuration::from_secs(31), "{ahead:?}");
        clock.jump(SignedDuration::from_secs(-60));
        assert!(clock.now() < origin);
        // Absurd steps saturate (about 292 years either way) instead of panicking.
        clock.jump(SignedDuration::MIN);
        clock.jump(SignedDuration::MIN);
        assert!(clock.now() < Timestamp::from_second(-5_000_000_000).unwrap());
    }
}
