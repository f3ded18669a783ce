//! Prometheus metrics: every name Enteraksi exports, the helpers that record them, and the
//! [`MetricsExporter`] that renders them for a scrape.
//!
//! Recording goes through the `metrics` facade, so code that counts (the unit of work, the
//! worker, the HTTP layer) needs no handle; without an installed recorder (the kernel's own
//! tests) a count costs next to nothing and goes nowhere. [`install`] puts the Prometheus
//! recorder in place once per process; [`MetricsExporter::render`] reads the queue gauges from
//! the database (at most once a second) and renders the text format. Serving it is the
//! caller's: `enteraksi serve` mounts `GET /metrics`, `queue work --metrics-bind` runs a small
//! listener with the same route.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

mod exporter;
mod listeners;

pub use exporter::MetricsExporter;
pub use listeners::{ListenerFigures, listener_figures};

/// Events recorded and committed, by `event` name (counted after the commit).
pub const EVENTS_DISPATCHED: &str = "enteraksi_events_dispatched_total";
/// Listener runs, by `listener` and `mode` (`sync` or `queued`; a queued run is one try).
pub const LISTENER_RUNS: &str = "enteraksi_listener_runs_total";
/// Listener runs that failed, by `listener` and `mode`.
pub const LISTENERS_FAILED: &str = "enteraksi_listeners_failed_total";
/// How long a listener run took, by `listener` and `mode`.
pub const LISTENER_DURATION: &str = "enteraksi_listener_duration_seconds";
/// Jobs claimed by a worker, by `queue`.
pub const JOBS_CLAIMED: &str = "enteraksi_jobs_claimed_total";
/// Jobs whose listener succeeded, by `queue`.
pub const JOBS_SUCCEEDED: &str = "enteraksi_jobs_succeeded_total";
/// Failed tries scheduled for another try, by `queue`.
pub const JOBS_RETRIED: &str = "enteraksi_jobs_retried_total";
/// Failed tries (retried or buried), by `queue`.
pub const JOBS_FAILED: &str = "enteraksi_jobs_failed_total";
/// Jobs moved to `failed_jobs` (no try left, a permanent error, or no listener), by `queue`.
pub const JOBS_BURIED: &str = "enteraksi_jobs_buried_total";
/// Jobs waiting in a queue (ready, delayed for a retry, or running), by `queue`; read at scrape.
pub const QUEUE_DEPTH: &str = "enteraksi_queue_depth";
/// Jobs of delayed listeners not due yet, by `queue`; read at scrape.
pub const QUEUE_SCHEDULED: &str = "enteraksi_queue_scheduled";
/// How long the longest-waiting ready job has waited for a worker, by `queue`; read at scrape.
pub const QUEUE_OLDEST_READY_AGE: &str = "enteraksi_queue_oldest_ready_age_seconds";
/// Jobs of a queue in `failed_jobs`, by `queue`; read at scrape.
pub const QUEUE_FAILED_JOBS: &str = "enteraksi_queue_failed_jobs";
/// Commands and queued jobs that failed for a reason that is not the caller's (each also recorded
/// as a `system.action_failed` event), by `command` and `code`.
pub const ACTIONS_FAILED: &str = "enteraksi_actions_failed_total";
/// HTTP requests answered, by `route` (the template, e.g. `/api/courses/{id}`), `method` and
/// `status`.
pub const HTTP_REQUESTS: &str = "enteraksi_http_requests_total";
/// How long an HTTP request took, by `route`, `method` and `status`.
pub const HTTP_DURATION: &str = "enteraksi_http_request_duration_seconds";

/// Live broadcast subscribers of this process (SSE streams and WebSocket connections), by
/// `transport`.
pub const BROADCAST_SUBSCRIBERS: &str = "enteraksi_broadcast_subscribers";
/// Broadcast messages sent to subscribers, by `transport` (one per message and subscriber).
pub const BROADCAST_MESSAGES_SENT: &str = "enteraksi_broadcast_messages_sent_total";
/// Subscribers disconnected because they fell behind (their buffer was full).
pub const BROADCAST_SLOW_DISCONNECTS: &str = "enteraksi_broadcast_slow_disconnects_total";

/// Histogram buckets for every `…_duration_seconds` metric: 1 ms to 30 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How long queue gauges read from the database serve scrapes before they are read again.
const QUEUE_GAUGES_FRESH_FOR: Duration = Duration::from_secs(1);

/// A listener's kind, the `mode` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenerMode {
    Sync,
    Queued,
}

impl ListenerMode {
    fn label(self) -> &'static str {
        match self {
            ListenerMode::Sync => "sync",
            ListenerMode::Queued => "queued",
        }
    }
}

/// What became of a job's try, for the job counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobOutcome {
    Succeeded,
    Retried,
    Buried,
}

pub(crate) fn event_dispatched(event: &'static str) {
    ::metrics::counter!(EVENTS_DISPATCHED, "event" => event).increment(1);
}

pub(crate) fn listener_ran(listener: &str, mode: ListenerMode, took: Duration, failed: bool) {
    let labels = [("listener", listener.to_owned()), ("mode", mode.label().to_owned())];
    ::metrics::counter!(LISTENER_RUNS, &labels).increment(1);
    if failed {
        ::metrics::counter!(LISTENERS_FAILED, &labels).increment(1);
    }
    ::metrics::histogram!(LISTENER_DURATION, &labels).record(took.as_secs_f64());
}

pub(crate) fn job_claimed(queue: &str) {
    ::metrics::counter!(JOBS_CLAIMED, "queue" => queue.to_owned()).increment(1);
}

pub(crate) fn job_finished(queue: &str, outcome: JobOutcome) {
    let queue = queue.to_owned();
    match outcome {
        JobOutcome::Succeeded => ::metrics::counter!(JOBS_SUCCEEDED, "queue" => queue).increment(1),
        JobOutcome::Retried => {
            ::metrics::counter!(JOBS_FAILED, "queue" => queue.clone()).increment(1);
            ::metrics::counter!(JOBS_RETRIED, "queue" => queue).increment(1);
        }
        JobOutcome::Buried => {
            ::metrics::counter!(JOBS_FAILED, "queue" => queue.clone()).increment(1);
            ::metrics::counter!(JOBS_BURIED, "queue" => queue).increment(1);
        }
    }
}

/// A command or job failed for a reason that is not the caller's.
pub(crate) fn action_failed(command: &str, code: &'static str) {
    ::metrics::counter!(ACTIONS_FAILED, "command" => command.to_owned(), "code" => code).increment(1);
}

/// A broadcast subscriber connected (`+1`) or left (`-1`).
pub(crate) fn broadcast_subscribers(transport: &'static str, change: f64) {
    ::metrics::gauge!(BROADCAST_SUBSCRIBERS, "transport" => transport).increment(change);
}

/// One broadcast message written to a subscriber.
pub(crate) fn broadcast_sent(transport: &'static str) {
    ::metrics::counter!(BROADCAST_MESSAGES_SENT, "transport" => transport).increment(1);
}

/// A subscriber that fell behind was disconnected.
pub(crate) fn broadcast_slow_disconnect() {
    ::metrics::counter!(BROADCAST_SLOW_DISCONNECTS).increment(1);
}

/// Counts one answered HTTP request. `route` is the matched template, not the path, so ids do
/// not multiply the series.
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    ::metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    ::metrics::histogram!(HTTP_DURATION, &labels).record(took.as_secs_f64());
}

/// Installs the Prometheus recorder for this process, the first time only, and returns its
/// handle. A process holds one global recorder, so a second server in the same process (the
/// tests) shares the first one's counts. If another recorder was installed first, the handle
/// renders nothing of ours and a warning says so.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), DURATION_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = ::metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics shows none of Enteraksi's counts");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS_DISPATCHED, "Events committed, by event name.");
    describe_counter!(
        ACTIONS_FAILED,
        "Commands and jobs that failed for a reason that is not the caller's, by command and code."
    );
    describe_counter!(
        LISTENER_RUNS,
        "Listener runs (a queued run is one try), by listener and mode."
    );
    describe_counter!(LISTENERS_FAILED, "Listener runs that failed, by listener and mode.");
    describe_histogram!(
        LISTENER_DURATION,
        Unit::Seconds,
        "Listener run duration, by listener and mode."
    );
    describe_counter!(JOBS_CLAIMED, "Jobs claimed by workers, by queue.");
    describe_counter!(JOBS_SUCCEEDED, "Jobs whose listener succeeded, by queue.");
    describe_counter!(JOBS_RETRIED, "Failed tries scheduled again, by queue.");
    describe_counter!(JOBS_FAILED, "Failed tries, retried or buried, by queue.");
    describe_counter!(JOBS_BURIED, "Jobs moved to failed_jobs, by queue.");
    describe_gauge!(QUEUE_DEPTH, "Jobs waiting in the queue (ready, delayed or running).");
    describe_gauge!(QUEUE_SCHEDULED, "Jobs of delayed listeners not due yet.");
    describe_gauge!(
        QUEUE_OLDEST_READY_AGE,
        Unit::Seconds,
        "Age of the longest-waiting ready job."
    );
    describe_gauge!(QUEUE_FAILED_JOBS, "Jobs of the queue in failed_jobs.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by route template, method and status.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration, by route, method and status."
    );
    describe_gauge!(
        BROADCAST_SUBSCRIBERS,
        "Live broadcast subscribers of this process, by transport."
    );
    describe_counter!(
        BROADCAST_MESSAGES_SENT,
        "Broadcast messages sent to subscribers, by transport."
    );
    describe_counter!(
        BROADCAST_SLOW_DISCONNECTS,
        "Broadcast subscribers disconnected for falling behind."
    );
}
