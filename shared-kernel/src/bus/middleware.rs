//! What a queued listener may declare in its [`QueueOptions`](crate::QueueOptions) besides its
//! queue and retries: a [`Priority`] within its queue, a [`RateLimit`] across every worker, and
//! "without overlapping" by a key it derives from the event
//! ([`QueuedListener::overlap_key`](crate::QueuedListener::overlap_key)). The worker applies the
//! limits around each job (see `queue/middleware.rs`); they are kept in the database, so they hold
//! across processes and nodes.

use std::fmt;
use std::time::Duration;

/// A listener's priority within its queue: a ready job of a higher priority is claimed before
/// older ready jobs of a lower one. Queues keep their own order (`queue work --queue a,b`)
/// above it. Three levels, so that the claim reads each from its own index range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Before everything else in its queue.
    High,
    /// The default.
    #[default]
    Normal,
    /// After everything else in its queue.
    Low,
}

impl Priority {
    /// Every level, highest first: the claim's order within a queue.
    pub(crate) const LEVELS: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The value in `jobs.priority`.
    pub(crate) fn stored(self) -> i64 {
        match self {
            Priority::High => 1,
            Priority::Normal => 0,
            Priority::Low => -1,
        }
    }

    /// `high`, `normal` or `low`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// At most this many runs per interval may be declared: each is a row of `rate_limit_slots`.
pub const MAX_RATE_LIMIT_RUNS: u32 = 10_000;

/// At most `runs` starts of a listener's jobs in any `interval`, across every worker, process
/// and node. A job over the limit is released until a run frees up, counting neither a try nor
/// an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    runs: u32,
    interval: Duration,
}

/// A rate limit that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// Not `N/UNIT` (e.g. `10/s`, `600/min`, `1000/h`, `5/10s`).
    #[error("`{0}` is not a rate limit: expected N/UNIT such as 10/s, 600/min, 1000/h or 5/10s")]
    Malformed(String),
    /// Zero runs, or more than [`MAX_RATE_LIMIT_RUNS`].
    #[error("a rate limit allows 1 to {MAX_RATE_LIMIT_RUNS} runs per interval, not {0}")]
    Runs(u64),
    /// A zero interval, or one longer than a day.
    #[error("a rate limit's interval must be between 1 ms and a day")]
    Interval,
}

impl RateLimit {
    /// `runs` per `interval`.
    ///
    /// # Errors
    /// [`RateLimitError::Runs`] or [`RateLimitError::Interval`] when either is out of range.
    pub fn new(runs: u32, interval: Duration) -> Result<Self, RateLimitError> {
        if runs == 0 || runs > MAX_RATE_LIMIT_RUNS {
            return Err(RateLimitError::Runs(u64::from(runs)));
        }
        if interval < Duration::from_millis(1) || interval > Duration::from_secs(24 * 3600) {
            return Err(RateLimitError::Interval);
        }
        Ok(Self { runs, interval })
    }

    /// Parses `N/UNIT`: the unit is `ms`, `s`, `min` (or `m`) or `h`, optionally preceded by a
    /// count (`5/10s` is five per ten seconds).
    ///
    /// # Errors
    /// [`RateLimitError`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, RateLimitError> {
        let malformed = || RateLimitError::Malformed(text.to_owned());
        let (runs, per) = text.trim().split_once('/').ok_or_else(malformed)?;
        let runs: u64 = runs.trim().parse().map_err(|_| malformed())?;
        let per = per.trim();
        let digits = per.find(|c: char| !c.is_ascii_digit()).ok_or_else(malformed)?;
        let count: u64 = if digits == 0 {
            1
        } else {
            per[..digits].parse().map_err(|_| malformed())?
        };
        let unit = match &per[digits..] {
            "ms" => Duration::from_millis(1),
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(malformed()),
        };
        let interval = u32::try_from(count)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or(RateLimitError::Interval)?;
        let runs = u32::try_from(runs).map_err(|_| RateLimitError::Runs(runs))?;
        Self::new(runs, interval)
    }

    /// How many runs an interval allows.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.interval.as_millis();
        let (count, unit) = if ms.is_multiple_of(3_600_000) {
            (ms / 3_600_000, "h")
        } else if ms.is_multiple_of(60_000) {
            (ms / 60_000, "min")
        } else if ms.is_multiple_of(1000) {
            (ms / 1000, "s")
        } else {
            (ms, "ms")
        };
        if count == 1 {
            write!(f, "{}/{unit}", self.runs)
        } else {
            write!(f, "{}/{count}{unit}", self.runs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_parses_its_usual_forms_and_prints_them_back() {
        for (text, runs, interval) in [
            ("10/s", 10, Duration::from_secs(1)),
            ("600/min", 600, Duration::from_secs(60)),
            ("1000/h", 1000, Duration::from_secs(3600)),
            ("5/10s", 5, Duration::from_secs(10)),
            ("2/250ms", 2, Duration::from_millis(250)),
        ] {
            let limit = RateLimit::parse(text).unwrap();
            assert_eq!((limit.runs(), limit.interval()), (runs, interval), "{text}");
            assert_eq!(limit.to_string(), text);
        }
        assert_eq!(RateLimit::parse(" 3 / m ").unwrap().to_string(), "3/min");
    }

    #[test]
    fn a_malformed_or_impossible_rate_limit_is_refused_with_its_reason() {
        for bad in ["", "10", "ten/s", "10/", "10/fortnight", "10/s/s", "-1/s"] {
            assert_eq!(
                RateLimit::parse(bad),
                Err(RateLimitError::Malformed(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(RateLimit::parse("0/s"), Err(RateLimitError::Runs(0)));
        assert_eq!(RateLimit::parse("20000/s"), Err(RateLimitError::Runs(20_000)));
        assert_eq!(RateLimit::parse("1/0s"), Err(RateLimitError::Interval));
        assert_eq!(RateLimit::parse("1/2d"), Err(RateLimitError::Malformed("1/2d".into())));
        assert_eq!(RateLimit::parse("1/25h"), Err(RateLimitError::Interval));
    }

    #[test]
    fn priorities_are_stored_highest_first() {
        let stored: Vec<i64> = Priority::LEVELS.iter().map(|p| p.stored()).collect();
        assert_eq!(stored, [1, 0, -1]);
        assert_eq!(Priority::default(), Priority::Normal);
    }
}
