//! The event log as a source (issue 16): how long `audit verify` takes over a large log, and
//! how fast a replay feeds past events into a new queued listener. Each runs on a fresh SQLite
//! file and, when `ENTERAKSI_TEST_POSTGRES_URL` is set, a fresh PostgreSQL database.
//!
//! `cargo bench -p shared-kernel --bench log` — sizes from `ENTERAKSI_BENCH_LOG_ROWS` (default
//! 1,000,000 rows to verify) and `ENTERAKSI_BENCH_REPLAY_EVENTS` (default 100,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::audit::chain;
use shared_kernel::audit::replay::{ReplayFilter, replay};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    Worker, WorkerOptions,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enrolled {
    enrollment_id: String,
    user_id: String,
    course_id: String,
}

impl DomainEvent for Enrolled {
    const NAME: &'static str = "enrollment.created";
    const AGGREGATE_TYPE: &'static str = "enrollment";
    fn aggregate_id(&self) -> String {
        self.enrollment_id.clone()
    }
}

/// The new consumer: counts what it is given.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

#[async_trait]
impl QueuedListener<Enrolled> for Counter {
    const NAME: &'static str = "Counter";
    async fn handle(&self, event: &Envelope<Enrolled>, _job: &mut JobContext) -> Result<(), ListenerError> {
        std::hint::black_box(event);
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn size(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `rows` audited events through the real outbox (hash chain included), 500 per commit,
/// over `rows / 4` aggregates (four versions each).
async fn history(bus: &EventBus, rows: u64) {
    let aggregates: Vec<String> = (0..rows.div_ceil(4))
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let mut written = 0u64;
    'outer: for version in 0..4 {
        for chunk in aggregates.chunks(500) {
            let mut uow = bus.begin();
            for id in chunk {
                if written == rows {
                    break;
                }
                uow.record(Enrolled {
                    enrollment_id: id.clone(),
                    user_id: uuid::Uuid::now_v7().to_string(),
                    course_id: format!("course-{version}"),
                });
                written += 1;
            }
            uow.commit().await.expect("history commit");
            if written == rows {
                break 'outer;
            }
        }
    }
}

async fn run(label: &str, db: TestDb, rows: u64, replayed: u64) {
    let before = Arc::new(
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<Enrolled>()
            .build()
            .unwrap(),
    );
    let bus = EventBus::builder(db.db().clone(), before).build();
    let started = Instant::now();
    history(&bus, rows).await;
    eprintln!("{label}: wrote {rows} chained audit rows in {:.1?}", started.elapsed());

    let started = Instant::now();
    let verified = chain::verify(db.db(), None).await.unwrap();
    let took = started.elapsed();
    assert!(verified.problem.is_none());
    assert_eq!(verified.rows, rows);
    println!(
        "{label}: audit verify of {rows} rows: {:.2} s ({:.0} rows/s)",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );

    // A new consumer over the first `replayed` events.
    let counter = Counter::default();
    let after = Arc::new(
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<Enrolled, _>(counter.clone(), QueueOptions::on("default"))
            .build()
            .unwrap(),
    );
    let bus = EventBus::builder(db.db().clone(), after).build();
    let (until,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT occurred_at FROM domain_event_log ORDER BY occurred_at, event_id LIMIT 1 OFFSET {}",
        replayed.min(rows) - 1
    )))
    .fetch_one(db.db().pool())
    .await
    .unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap().to_utc() + chrono::Duration::microseconds(1);
    let filter = ReplayFilter {
        until: Some(until),
        ..ReplayFilter::default()
    };
    let started = Instant::now();
    let report = replay(&bus, "Counter", &filter, |_| {}).await.unwrap();
    let enqueue = started.elapsed();
    let worker = Worker::new(
        bus.clone(),
        WorkerOptions::new(["default"]).concurrency(2).batch_size(200),
    );
    worker.run_until_empty().await.unwrap();
    let total = started.elapsed();
    assert_eq!(counter.0.load(Ordering::Relaxed), report.enqueued);
    println!(
        "{label}: replay of {} events: enqueued at {:.0} events/s; delivered to the listener at {:.0} events/s end to end",
        report.enqueued,
        report.enqueued as f64 / enqueue.as_secs_f64(),
        report.enqueued as f64 / total.as_secs_f64()
    );
    db.cleanup().await;
}

fn main() {
    let rows = size("ENTERAKSI_BENCH_LOG_ROWS", 1_000_000);
    let replayed = size("ENTERAKSI_BENCH_REPLAY_EVENTS", 100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        run("SQLite", TestDb::new(vec![]).await, rows, replayed).await;
        match TestDb::postgres("bench_log", vec![]).await {
            Some(db) => run("PostgreSQL", db, rows, replayed).await,
            None => println!("PostgreSQL: not run (ENTERAKSI_TEST_POSTGRES_URL is not set)"),
        }
    });
}
