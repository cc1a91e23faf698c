//! CronJob schedules: the five-field cron syntax Kubernetes accepts (minute, hour, day of
//! month, month, day of week; `*`, `?`, lists, ranges, steps, month and weekday names) and the
//! `@hourly`-style descriptors, and the latest scheduled minute in a window.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A parsed schedule: the minutes, hours, days, months and weekdays it runs at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day of month and day of week both restricted: either may match (as in Vixie cron).
    either_day: bool,
}

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How far back `latest_between` looks, in steps: a window longer than this finds nothing.
const MAX_STEPS: u32 = 200_000;

/// One field's allowed values, as a bit set from `min` to `max`.
fn field(text: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<u64, CronError> {
    let value = |s: &str| -> Result<u32, CronError> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + min);
        }
        let n: u32 = s
            .parse()
            .map_err(|_| CronError(format!("failed to parse int from {s}: invalid syntax")))?;
        if n < min || n > max {
            return Err(CronError(format!(
                "{what} {n} is out of range ({min}-{max})"
            )));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| {
                    CronError(format!("failed to parse int from {s}: invalid syntax"))
                })?;
                if step == 0 {
                    return Err(CronError(format!("step of {what} must be positive")));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None => {
                    let a = value(r)?;
                    (a, if step.is_some() { max } else { a })
                }
            },
        };
        if lo > hi {
            return Err(CronError(format!(
                "beginning of range ({lo}) beyond end of range ({hi}) in {what}"
            )));
        }
        // A step as large as u32 allows must end the loop, not wrap around.
        let mut v = Some(lo);
        while let Some(n) = v.filter(|n| *n <= hi) {
            bits |= 1 << n;
            v = n.checked_add(step.unwrap_or(1));
        }
    }
    Ok(bits)
}

fn starred(text: &str) -> bool {
    text.starts_with('*') || text.starts_with('?')
}

impl Schedule {
    /// Parses a schedule as the Kubernetes API server does; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Schedule, CronError> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => {
                return Err(CronError(format!("unrecognized descriptor: {t}")));
            }
            t if t.starts_with("TZ=") || t.starts_with("CRON_TZ=") => {
                return Err(CronError(
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into(),
                ));
            }
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError(format!(
                "expected exactly 5 fields, found {}: {expanded}",
                fields.len()
            )));
        }
        let weekdays = field(fields[4], 0, 7, &WEEKDAYS, "day of week")?;
        // 7 is Sunday too.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        Ok(Schedule {
            minutes: field(fields[0], 0, 59, &[], "minute")?,
            hours: field(fields[1], 0, 23, &[], "hour")? as u32,
            days: field(fields[2], 1, 31, &[], "day of month")? as u32,
            months: field(fields[3], 1, 12, &MONTHS, "month")? as u16,
            weekdays: weekdays as u8,
            either_day: !starred(fields[2]) && !starred(fields[4]),
        })
    }

    fn day_matches(&self, day: i8, weekday: i8) -> bool {
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The latest minute in (`after`, `until`] the schedule runs at, read in `tz`; `None`
    /// when there is none (or the window is too long to search).
    pub fn latest_between(
        &self,
        after: Timestamp,
        until: Timestamp,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        let floor = after.as_second().div_euclid(60);
        let mut minute = until.as_second().div_euclid(60);
        for _ in 0..MAX_STEPS {
            if minute <= floor {
                return None;
            }
            let ts = Timestamp::from_second(minute * 60).ok()?;
            let dt = ts.to_zoned(tz.clone()).datetime();
            let into_day = i64::from(dt.hour()) * 60 + i64::from(dt.minute());
            if self.months & (1 << dt.month()) == 0 {
                minute -= (i64::from(dt.day()) - 1) * 1440 + into_day + 1;
            } else if !self.day_matches(dt.day(), dt.weekday().to_sunday_zero_offset()) {
                minute -= into_day + 1;
            } else if self.hours & (1 << dt.hour()) == 0 {
                minute -= i64::from(dt.minute()) + 1;
            } else if self.minutes & (1 << dt.minute()) == 0 {
                minute -= 1;
            } else {
                return Some(ts);
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn latest(schedule: &str, after: &str, until: &str) -> Option<String> {
        Schedule::parse(schedule)
            .unwrap()
            .latest_between(at(after), at(until), &TimeZone::UTC)
            .map(|t| t.to_string())
    }

    #[test]
    fn finds_the_latest_scheduled_minute_in_a_window() {
        assert_eq!(
            latest(
                "*/15 * * * *",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:07:30Z"
            )
            .as_deref(),
            Some("2026-01-01T01:00:00Z")
        );
        assert_eq!(
            latest("0 3 * * *", "2026-01-01T00:00:00Z", "2026-01-03T02:59:00Z").as_deref(),
            Some("2026-01-02T03:00:00Z")
        );
        // The window's start is excluded, its end included.
        assert_eq!(
            latest("30 * * * *", "2026-01-01T00:30:00Z", "2026-01-01T01:29:59Z"),
            None
        );
        assert_eq!(
            latest("30 * * * *", "2026-01-01T00:29:00Z", "2026-01-01T00:30:00Z").as_deref(),
            Some("2026-01-01T00:30:00Z")
        );
        // 2026-03-02 is a Monday; day of month or day of week.
        assert_eq!(
            latest(
                "0 0 15 * MON",
                "2026-03-01T00:00:00Z",
                "2026-03-10T00:00:00Z"
            )
            .as_deref(),
            Some("2026-03-09T00:00:00Z")
        );
        assert_eq!(
            latest("@monthly", "2025-12-15T00:00:00Z", "2026-02-10T00:00:00Z").as_deref(),
            Some("2026-02-01T00:00:00Z")
        );
        assert_eq!(
            latest(
                "0 12 * JAN-MAR 7",
                "2025-06-01T00:00:00Z",
                "2026-01-10T00:00:00Z"
            )
            .as_deref(),
            Some("2026-01-04T12:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (bad, says) in [
            ("* * * *", "expected exactly 5 fields"),
            ("61 * * * *", "minute 61 is out of range"),
            ("*/0 * * * *", "must be positive"),
            ("5-1 * * * *", "beyond end of range"),
            ("* * * FOO *", "failed to parse int from FOO"),
            ("@fortnightly", "unrecognized descriptor"),
            ("TZ=UTC * * * * *", "use timeZone field"),
            (
                "99999999999 * * * *",
                "failed to parse int from 99999999999",
            ),
            (
                "* * * * */99999999999",
                "failed to parse int from 99999999999",
            ),
        ] {
            let e = Schedule::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_largest_steps_and_impossible_dates_end() {
        // A step past the end of u32 from the last minute: one minute, no wrap-around.
        let s = Schedule::parse("59/4294967295 * * * *").unwrap();
        assert_eq!(s.minutes, 1 << 59);
        // February 30th never comes: the search gives up after its bound.
        assert_eq!(
            latest("0 0 30 2 *", "2000-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            None
        );
        // A long list is only as costly as its length.
        let many = vec!["7"; 10_000].join(",");
        assert_eq!(
            Schedule::parse(&format!("{many} * * * *")).unwrap().minutes,
            1 << 7
        );
    }
}
