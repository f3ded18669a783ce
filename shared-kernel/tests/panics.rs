//! A listener that panics is a failed try of its own job, nothing more: the worker slot that ran
//! it goes on with the other jobs, the job is retried and buried like any failure (its failed
//! hook run), and the jobs it shared a transaction with commit. Before, the panic ended the slot:
//! one job that panics on every try took a slot of every worker it reached, and a worker whose
//! slots had all ended stopped working while its process lived on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    Envelope, EventBus, JobContext, JobFailure, ListenerError, Queue, QueueOptions, QueuedListener, Registry, Worker,
    WorkerOptions,
};

#[derive(Default)]
struct Counts {
    tries: AtomicUsize,
    failed_hooks: AtomicUsize,
    prepared: AtomicUsize,
}

/// Panics on every try (and, with `PANICS_EVERYWHERE`, in its prepare and failed hooks too).
struct Panics<const SHARES: bool, const EVERYWHERE: bool>(Arc<Counts>);

#[async_trait]
impl<const SHARES: bool, const EVERYWHERE: bool> QueuedListener<ItemCreated> for Panics<SHARES, EVERYWHERE> {
    const NAME: &'static str = "Panics";
    const SHARES_TRANSACTION: bool = SHARES;
    const PREPARES_BATCHES: bool = EVERYWHERE;

    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.tries.fetch_add(1, Ordering::SeqCst);
        // A write first: it must roll back with the try.
        sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, -1)")
            .bind(&event.event().item_id)
            .execute(job.uow().conn().await?)
            .await?;
        panic!("the listener's bug for {}", event.event().name);
    }

    async fn prepare(&self, _events: &[Envelope<ItemCreated>]) {
        self.0.prepared.fetch_add(1, Ordering::SeqCst);
        panic!("the prepare hook's bug");
    }

    async fn failed(&self, _event: &Envelope<ItemCreated>, _failure: &JobFailure) {
        self.0.failed_hooks.fetch_add(1, Ordering::SeqCst);
        if EVERYWHERE {
            panic!("the failed hook's bug");
        }
    }
}

/// Marks its item: the well-behaved neighbour.
struct Marks<const SHARES: bool>;

#[async_trait]
impl<const SHARES: bool> QueuedListener<ItemCreated> for Marks<SHARES> {
    const NAME: &'static str = "Marks";
    const SHARES_TRANSACTION: bool = SHARES;

    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, 1)")
            .bind(&event.event().item_id)
            .execute(job.uow().conn().await?)
            .await?;
        Ok(())
    }
}

fn options() -> QueueOptions {
    QueueOptions::on("default")
        .tries(2)
        .backoff([Duration::ZERO])
        .jitter(0.0)
        .timeout(Duration::from_secs(30))
}

/// Three items, each with a job that panics on both its tries and one that marks the item, run
/// by a worker with a single slot until no job is ready.
async fn a_panicking_listener_fails_its_own_job_only<const SHARES: bool, const EVERYWHERE: bool>(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let counts = Arc::new(Counts::default());
    let registry = Registry::builder()
        .listen_queued(Panics::<SHARES, EVERYWHERE>(counts.clone()), options())
        .listen_queued(Marks::<SHARES>, options())
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    for i in 0..3 {
        create_item(&bus, &format!("item {i}")).await.unwrap();
    }

    let worker = Worker::new(bus.clone(), WorkerOptions::new(["default"]).concurrency(1));
    let report = tokio::time::timeout(Duration::from_secs(60), worker.run_until_empty())
        .await
        .expect("the worker finished")
        .expect("the worker ran");

    assert_eq!(
        (report.processed, report.failed),
        (3, 3),
        "the marks succeed, the panicking jobs are buried: {report:?}"
    );
    assert_eq!(
        counts.tries.load(Ordering::SeqCst),
        6,
        "each panicking job ran both its tries"
    );
    assert_eq!(counts.failed_hooks.load(Ordering::SeqCst), 3);
    if EVERYWHERE {
        assert!(counts.prepared.load(Ordering::SeqCst) >= 1, "the prepare hook ran");
    }
    let (marks, undone): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN n = -1 THEN 1 ELSE 0 END) AS BIGINT) FROM marks",
    )
    .fetch_one(db.db().pool())
    .await
    .unwrap();
    assert_eq!(
        (marks, undone),
        (3, 0),
        "every mark committed; no panicking try's write did"
    );
    let (waiting,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(waiting, 0);
    let failed = Queue::new(bus.clone()).failed_jobs(None, 10).await.unwrap();
    assert_eq!(failed.len(), 3);
    for job in &failed {
        assert_eq!(job.listener, "Panics");
        assert!(
            job.exception.contains("panicked") && job.exception.contains("the listener's bug for item"),
            "{}",
            job.exception
        );
    }
    db.cleanup().await;
}

async fn alone(db: TestDb) {
    a_panicking_listener_fails_its_own_job_only::<false, false>(db).await;
}
on_both!(a_job_run_alone_that_panics_is_a_failed_try, alone);

async fn sharing(db: TestDb) {
    a_panicking_listener_fails_its_own_job_only::<true, false>(db).await;
}
on_both!(a_job_that_panics_in_a_shared_transaction_rolls_back_alone, sharing);

async fn everywhere(db: TestDb) {
    a_panicking_listener_fails_its_own_job_only::<false, true>(db).await;
}
on_both!(panicking_prepare_and_failed_hooks_stop_nothing, everywhere);
