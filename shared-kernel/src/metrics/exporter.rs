//! [`MetricsExporter`]: renders the recorded metrics with the queue gauges read from the database.

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;

use super::{QUEUE_DEPTH, QUEUE_FAILED_JOBS, QUEUE_GAUGES_FRESH_FOR, QUEUE_OLDEST_READY_AGE, QUEUE_SCHEDULED, install};
use crate::queue::Queue;
use crate::{EventBus, QueueError};

/// Renders the metrics for a scrape, with the queue gauges read from `bus`'s database. Cheap to
/// clone; clones share the one-second cache of the queue gauges.
#[derive(Clone)]
pub struct MetricsExporter {
    handle: PrometheusHandle,
    queue: Queue,
    queues: Arc<[String]>,
    cache: Arc<tokio::sync::Mutex<GaugeCache>>,
}

#[derive(Debug, Default)]
struct GaugeCache {
    /// When the queue gauges were last read.
    read_at: Option<Instant>,
    /// Every queue shown so far, so that one whose last job went away drops to 0 instead of
    /// keeping its last depth.
    shown: Vec<String>,
}

impl std::fmt::Debug for MetricsExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExporter")
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl MetricsExporter {
    /// An exporter for `bus`'s database, installing the recorder if no one has yet. `queues`
    /// are shown even while empty (depth 0).
    pub fn new(bus: EventBus, queues: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            handle: install(),
            queue: Queue::new(bus),
            queues: queues.into_iter().map(Into::into).collect(),
            cache: Arc::default(),
        }
    }

    /// The metrics in the Prometheus text format. When the database cannot be read the queue
    /// gauges keep their last values (the error is logged) and the rest is rendered anyway.
    pub async fn render(&self) -> String {
        if let Err(e) = self.refresh_queue_gauges().await {
            tracing::warn!(error = %e, "reading the queue gauges failed; /metrics shows their last values");
        }
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Each listener's runs, failures, mean and 95th-percentile duration in this process, from
    /// the series `/metrics` renders (the events dashboard's listener table).
    pub fn listener_figures(&self) -> Vec<super::ListenerFigures> {
        super::listener_figures(&self.handle.render())
    }

    #[tracing::instrument(name = "read the queue gauges", skip(self), level = "debug")]
    async fn refresh_queue_gauges(&self) -> Result<(), QueueError> {
        let mut cache = self.cache.lock().await;
        if cache.read_at.is_some_and(|t| t.elapsed() < QUEUE_GAUGES_FRESH_FOR) {
            return Ok(());
        }
        let mut known = self.queues.to_vec();
        known.extend(cache.shown.iter().cloned());
        let stats = self.queue.stats(&known).await?;
        cache.shown = stats.iter().map(|s| s.queue.clone()).collect();
        for s in stats {
            let ready_age = s.oldest_ready_age.unwrap_or_default().as_secs_f64();
            ::metrics::gauge!(QUEUE_DEPTH, "queue" => s.queue.clone()).set(s.depth as f64);
            ::metrics::gauge!(QUEUE_SCHEDULED, "queue" => s.queue.clone()).set(s.scheduled as f64);
            ::metrics::gauge!(QUEUE_OLDEST_READY_AGE, "queue" => s.queue.clone()).set(ready_age);
            ::metrics::gauge!(QUEUE_FAILED_JOBS, "queue" => s.queue).set(s.failed as f64);
        }
        cache.read_at = Some(Instant::now());
        Ok(())
    }
}
