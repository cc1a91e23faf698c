//! The time the operator gives the engine. Injectable, so tests and `remedy run --speed` can
//! make minutes pass in seconds: a clock says what time it is and how long to really wait.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

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

/// A clock that runs `speed` times faster than the wall clock, from the moment it was made.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    origin: Timestamp,
    started: Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock starting now, running `speed` times as fast as real time (at least 1).
    pub fn new(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed >= 1.0 {
            speed
        } else {
            1.0
        };
        ScaledClock {
            origin: Timestamp::now(),
            started: Instant::now(),
            speed,
        }
    }

    /// How many times faster than real time it runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().mul_f64(self.speed);
        let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
        self.origin.checked_add(elapsed).unwrap_or(Timestamp::MAX)
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
    fn a_speed_below_one_is_real_time() {
        assert_eq!(ScaledClock::new(0.0).speed(), 1.0);
        assert_eq!(ScaledClock::new(f64::NAN).speed(), 1.0);
    }
}
