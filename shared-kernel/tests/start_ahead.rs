//! Untried jobs that run alone are started together, a few at a time (one statement counts
//! their tries), and what a stopping worker started but did not run goes back without its try.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    Database, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    ShutdownTrigger, Worker, WorkerOptions, shutdown_channel,
};

/// Runs alone (it does not share transactions). At each run, notes how many of its jobs have a
/// try counted but have not finished (itself included: the batch acknowledges the finished ones
/// at its end); at its `stop_at`th run, triggers the worker's shutdown.
struct Peek {
    db: Database,
    runs: AtomicUsize,
    most_started: AtomicI64,
    stop_at: usize,
    stop: Mutex<Option<ShutdownTrigger>>,
}

#[async_trait]
impl QueuedListener<ItemCreated> for Peek {
    const NAME: &'static str = "Peek";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        let (started,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE listener = 'Peek' AND attempts > 0")
            .fetch_one(self.db.pool())
            .await?;
        let finished = self.runs.load(Ordering::SeqCst) as i64;
        self.most_started.fetch_max(started - finished, Ordering::SeqCst);
        if self.runs.fetch_add(1, Ordering::SeqCst) + 1 == self.stop_at
            && let Some(stop) = self.stop.lock().unwrap().take()
        {
            stop.trigger();
        }
        Ok(())
    }
}

async fn setup(db: &TestDb, jobs: usize, stop_at: usize) -> (EventBus, Arc<Peek>) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let peek = Arc::new(Peek {
        db: db.db().clone(),
        runs: AtomicUsize::new(0),
        most_started: AtomicI64::new(0),
        stop_at,
        stop: Mutex::new(None),
    });
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued(SharedPeek(peek.clone()), QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    for n in 0..jobs {
        create_item(&bus, &n.to_string()).await.unwrap();
    }
    (bus, peek)
}

/// `Peek` behind an `Arc`, so the test reads what it saw.
struct SharedPeek(Arc<Peek>);

#[async_trait]
impl QueuedListener<ItemCreated> for SharedPeek {
    const NAME: &'static str = "Peek";
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.handle(event, job).await
    }
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await.unwrap();
    n
}

/// 60 jobs in one claim: once a job's time is known, the next ones are started together (a job
/// sees others with a try counted that have not run yet), at most 16 at once; each runs once.
async fn untried_jobs_running_alone_start_together(db: TestDb) {
    let (bus, peek) = setup(&db, 60, usize::MAX).await;
    let report = Worker::new(bus.clone(), WorkerOptions::new(["default"]).batch_size(100))
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!((report.processed, report.failed), (60, 0), "{report:?}");
    assert_eq!(peek.runs.load(Ordering::SeqCst), 60);
    let most = peek.most_started.load(Ordering::SeqCst);
    assert!(
        (2..=16).contains(&most),
        "{most} jobs were started and not finished at once"
    );
    assert_eq!(count(bus.db(), "SELECT COUNT(*) FROM jobs").await, 0);
    db.cleanup().await;
}
on_both!(start_together, untried_jobs_running_alone_start_together);

/// The worker stops at the 5th job: the jobs it had started ahead but not run go back with no
/// try counted, free for the next worker, which runs each of the 60 exactly once in all.
async fn jobs_started_ahead_go_back_untried_on_shutdown(db: TestDb) {
    let (bus, peek) = setup(&db, 60, 5).await;
    let (trigger, shutdown) = shutdown_channel();
    *peek.stop.lock().unwrap() = Some(trigger);
    let worker = Worker::new(
        bus.clone(),
        WorkerOptions::new(["default"])
            .batch_size(100)
            .poll_interval(Duration::from_secs(30)),
    );
    let first = worker.run(shutdown).await.unwrap();
    assert_eq!(first.processed, 5, "{first:?}");
    assert_eq!(count(bus.db(), "SELECT COUNT(*) FROM jobs").await, 55);
    assert_eq!(
        count(
            bus.db(),
            "SELECT COUNT(*) FROM jobs WHERE attempts > 0 OR reserved_by IS NOT NULL"
        )
        .await,
        0,
        "a job given back kept a try or its lease"
    );
    let rest = Worker::new(bus.clone(), WorkerOptions::new(["default"]))
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!(rest.processed, 55);
    assert_eq!(peek.runs.load(Ordering::SeqCst), 60);
    db.cleanup().await;
}
on_both!(
    started_ahead_go_back_untried,
    jobs_started_ahead_go_back_untried_on_shutdown
);
