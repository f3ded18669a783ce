//! How long jobs take, measured as they run: it sizes the next claim (about half a lease of work)
//! and how many untried jobs start together.

use std::time::Duration;

/// How much work (by the measured job time) is started ahead in one statement.
const START_AHEAD: Duration = Duration::from_millis(50);

/// The most jobs started in one statement ahead of running them.
const MOST_STARTED_AHEAD: usize = 16;

/// The running average of how long a job takes, which sizes the next claim.
#[derive(Default)]
pub(super) struct Pace {
    average: Option<Duration>,
}

impl Pace {
    pub(super) fn record(&mut self, took: Duration) {
        self.average = Some(match self.average {
            None => took,
            Some(avg) => (avg * 7 + took) / 8,
        });
    }

    /// How many untried jobs that run alone are started together: about [`START_AHEAD`] of
    /// work, at most [`MOST_STARTED_AHEAD`]; one until a job's time is known.
    pub(super) fn start_ahead(&self) -> usize {
        match self.average {
            Some(avg) if !avg.is_zero() => {
                let fit = START_AHEAD.as_nanos() / avg.as_nanos().max(1);
                usize::try_from(fit).unwrap_or(usize::MAX).clamp(1, MOST_STARTED_AHEAD)
            }
            _ => 1,
        }
    }

    /// How many jobs fit in half a lease, between 1 and `max`.
    pub(super) fn claim_size(&self, lease: Duration, max: usize) -> usize {
        match self.average {
            Some(avg) if !avg.is_zero() => {
                let fit = (lease / 2).as_nanos() / avg.as_nanos().max(1);
                usize::try_from(fit).unwrap_or(usize::MAX).clamp(1, max)
            }
            _ => max,
        }
    }
}
