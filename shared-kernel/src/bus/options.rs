//! [`QueueOptions`]: how a queued listener's (or job handler's) jobs run.

use std::time::Duration;

use super::middleware::{Priority, RateLimit};
use super::registry::RegistryError;

/// How a queued listener's jobs run: which queue, how long after the commit they become ready,
/// how many tries, the wait before each retry, and how long one try may take; and the
/// middleware around each job: its priority within the queue, how many failures bury it, a
/// rate limit, and whether two of its jobs with the same key may overlap.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOptions {
    queue: String,
    delay: Duration,
    tries: u32,
    backoff: Vec<Duration>,
    jitter: f64,
    timeout: Duration,
    catch_up: bool,
    priority: Priority,
    max_exceptions: Option<u32>,
    rate_limit: Option<RateLimit>,
    overlap_wait: Option<Duration>,
}

/// The longest delay a queued listener may declare (a year): anything longer is a mistake.
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 60 * 60);

impl QueueOptions {
    /// Defaults on queue `queue`: no delay, 3 tries, backoff 1 s, 5 s, 30 s with ±20 % jitter,
    /// 60 s timeout.
    pub fn on(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            delay: Duration::ZERO,
            tries: 3,
            backoff: vec![Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)],
            jitter: 0.2,
            timeout: Duration::from_secs(60),
            catch_up: false,
            priority: Priority::Normal,
            max_exceptions: None,
            rate_limit: None,
            overlap_wait: None,
        }
    }

    /// The listener's priority within its queue (default [`Priority::Normal`]): its ready jobs
    /// are claimed before older ready jobs of lower priorities in the same queue.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Buries the job in `failed_jobs` after this many failed tries (errors and timeouts), even
    /// if tries are left (at least 1, at most `tries`; default: `tries`). A try cut short by a
    /// dying worker counts as a try, not as an exception; a release by a rate limit or an
    /// overlap lock counts as neither.
    pub fn max_exceptions(mut self, n: u32) -> Self {
        self.max_exceptions = Some(n);
        self
    }

    /// At most `limit` runs of this listener's jobs per interval, across every worker, process
    /// and node (the count is kept in the database). A job over the limit is released until a
    /// run frees up, counting no try.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Two of this listener's jobs with the same key
    /// ([`QueuedListener::overlap_key`](crate::QueuedListener::overlap_key), by default the
    /// event's aggregate id) never run at once, across every worker, process and node; jobs with
    /// other keys run concurrently. A job whose key is held is released and looked at again
    /// after `wait` (or when the holder's lease ends, if that is sooner), counting no try. Jobs
    /// a listener enqueues itself ([`JobHandler`](crate::JobHandler)) have no event, hence no
    /// key: for them it has no effect.
    pub fn without_overlapping(mut self, wait: Duration) -> Self {
        self.overlap_wait = Some(wait);
        self
    }

    /// How long after the commit the job becomes ready (default: at once). A listener may compute
    /// it per event instead ([`QueuedListener::delay`](crate::QueuedListener::delay)). The
    /// delay is measured by the queue's clock (the database's on PostgreSQL), so a delayed job
    /// survives restarts and runs on whichever node is free when it is due.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How many times the job is tried before it moves to `failed_jobs` (at least 1).
    pub fn tries(mut self, tries: u32) -> Self {
        self.tries = tries;
        self
    }

    /// The wait before retry 1, 2, …; the last entry repeats for further retries.
    pub fn backoff(mut self, schedule: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = schedule.into_iter().collect();
        self
    }

    /// The random spread applied to each wait, as a fraction (0.2 = ±20 %), so that jobs failing
    /// together do not retry together.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// How long one try may run before it counts as failed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Registers the listener as *catch-up*: when workers first start with it registered, they
    /// replay to it every past audited event it listens to (through the delivery ledger, so
    /// nothing is delivered twice), then record it caught up. Switching on a new consumer —
    /// a learning record store, an analytics feed — then needs no manual `event replay`.
    pub fn catch_up(mut self) -> Self {
        self.catch_up = true;
        self
    }

    /// Whether the listener is registered as catch-up.
    pub fn is_catch_up(&self) -> bool {
        self.catch_up
    }

    /// The queue name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The delay from the commit to the job being ready (unless the listener computes one).
    pub fn default_delay(&self) -> Duration {
        self.delay
    }

    /// The number of tries.
    pub fn max_tries(&self) -> u32 {
        self.tries
    }

    /// The backoff schedule.
    pub fn backoff_schedule(&self) -> &[Duration] {
        &self.backoff
    }

    /// The timeout of one try.
    pub fn try_timeout(&self) -> Duration {
        self.timeout
    }

    /// The priority within its queue.
    pub fn job_priority(&self) -> Priority {
        self.priority
    }

    /// After how many failed tries the job is buried (`tries` unless set lower).
    pub fn exception_limit(&self) -> u32 {
        self.max_exceptions.unwrap_or(self.tries)
    }

    /// Whether `max_exceptions` was set.
    pub fn has_max_exceptions(&self) -> bool {
        self.max_exceptions.is_some()
    }

    /// The rate limit, if any.
    pub fn rate_limited(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// With "without overlapping", the wait before a job whose key is held is looked at again.
    pub fn overlap_wait(&self) -> Option<Duration> {
        self.overlap_wait
    }

    /// The wait before the retry that follows failed attempt `attempt` (1-based), jittered.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let index = (attempt.max(1) as usize - 1).min(self.backoff.len().saturating_sub(1));
        let base = self.backoff.get(index).copied().unwrap_or_default();
        if self.jitter <= 0.0 {
            return base;
        }
        let factor = 1.0 + rand::random_range(-self.jitter..=self.jitter);
        base.mul_f64(factor.max(0.0))
    }

    pub(super) fn validate(&self, listener: &str) -> Result<(), RegistryError> {
        let bad = |reason: &str| {
            Err(RegistryError::InvalidQueueOptions {
                listener: listener.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.queue.is_empty()
            || !self
                .queue
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return bad("the queue name must be non-empty lowercase letters, digits, `_` or `-`");
        }
        if self.tries == 0 {
            return bad("tries must be at least 1");
        }
        if self.backoff.is_empty() {
            return bad("the backoff schedule must have at least one entry");
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return bad("jitter must be a fraction in [0, 1)");
        }
        if self.timeout.is_zero() {
            return bad("the timeout must be positive");
        }
        if self.delay > MAX_DELAY {
            return bad("the delay must be at most a year");
        }
        if let Some(n) = self.max_exceptions
            && (n == 0 || n > self.tries)
        {
            return bad("max_exceptions must be between 1 and tries");
        }
        if let Some(wait) = self.overlap_wait
            && (wait < Duration::from_millis(1) || wait > MAX_DELAY)
        {
            return bad("the wait of without_overlapping must be between 1 ms and a year");
        }
        Ok(())
    }
}
