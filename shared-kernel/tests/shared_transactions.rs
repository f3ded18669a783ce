//! Jobs sharing a transaction, each in a savepoint (`QueuedListener::SHARES_TRANSACTION`), on
//! SQLite and PostgreSQL: they really share one (a job sees the uncommitted writes of the jobs
//! before it, which no other connection sees), a failing job rolls back alone — its writes, its
//! events and its acknowledgement — and is retried, a permanent failure is buried alone, an
//! overlap lock is taken inside the shared transaction (a key held elsewhere releases its job,
//! untried), a lost connection runs the group again one by one (each effect once, every job
//! acknowledged), a job tried before (a worker died running it) runs alone, and with
//! `shared_transaction(1)` every job has a transaction of its own again.

use std::sync::{Arc, Mutex};

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use serde::{Deserialize, Serialize};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    Worker, WorkerOptions,
};

/// Recorded by [`Mark`] for each item it marks: its own event, whose job (`Count`) shares too.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemMarked {
    item_id: String,
}

impl DomainEvent for ItemMarked {
    const NAME: &'static str = "item.marked";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

/// What each run of [`Mark`] saw: marks visible in its own transaction, and through the pool.
#[derive(Debug, Default)]
struct Seen {
    runs: Mutex<Vec<(String, i64, i64)>>,
}

/// Marks an item (a row in `marks`) and records `ItemMarked`; fails after writing for items
/// named `fail…` (for good when named `fail-for-good`).
struct Mark(Arc<Seen>);

#[async_trait]
impl QueuedListener<ItemCreated> for Mark {
    const NAME: &'static str = "Mark";
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        let item = event.event();
        let conn = job.uow().conn().await?;
        let (inside,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM marks")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, $2)")
            .bind(item.item_id.clone())
            .bind(inside)
            .execute(&mut *conn)
            .await?;
        let (outside,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM marks")
            .fetch_one(job.bus().db().pool())
            .await?;
        self.0.runs.lock().unwrap().push((item.name.clone(), inside, outside));
        job.uow().record(ItemMarked {
            item_id: item.item_id.clone(),
        });
        match item.name.as_str() {
            "fail-for-good" => Err(ListenerError::permanent("this item cannot be marked")),
            name if name.starts_with("fail") => Err(ListenerError::msg("marking failed after writing")),
            _ => Ok(()),
        }
    }
}

/// Counts marked items in `ledger`: a second sharing listener, on the events the first records.
struct Count;

#[async_trait]
impl QueuedListener<ItemMarked> for Count {
    const NAME: &'static str = "Count";
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<ItemMarked>, job: &mut JobContext) -> Result<(), ListenerError> {
        sqlx::query("INSERT INTO ledger (event_id, item_id) VALUES ($1, $2)")
            .bind(event.event_id().to_string())
            .bind(event.event().item_id.clone())
            .execute(job.uow().conn().await?)
            .await?;
        Ok(())
    }
}

async fn setup(db: &TestDb) -> (EventBus, Arc<Seen>) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let seen = Arc::new(Seen::default());
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued::<ItemCreated, _>(Mark(seen.clone()), QueueOptions::on("default").tries(3))
        .listen_queued::<ItemMarked, _>(Count, QueueOptions::on("default"))
        .build()
        .unwrap();
    (EventBus::builder(db.db().clone(), Arc::new(registry)).build(), seen)
}

fn worker(bus: &EventBus, shared: usize) -> Worker {
    Worker::new(bus.clone(), WorkerOptions::new(["default"]).shared_transaction(shared))
}

async fn count(bus: &EventBus, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(bus.db().pool())
        .await
        .unwrap();
    n
}

async fn a_failing_job_rolls_back_alone_and_is_retried(db: TestDb) {
    let (bus, seen) = setup(&db).await;
    for name in ["a", "b", "fail-once", "c", "d"] {
        create_item(&bus, name).await.unwrap();
    }
    let report = worker(&bus, 32).run_until_empty().await.unwrap();
    // Four marks and their four counts committed; the failing job waits for its retry.
    assert_eq!(report.processed, 4 + 4, "{report:?}");
    assert_eq!(report.retried, 1, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");

    // The five Mark jobs shared one transaction: each saw the marks of the jobs before it (the
    // failed one's rolled back), none of which the pool saw before the commit.
    let runs = seen.runs.lock().unwrap().clone();
    let inside: Vec<i64> = runs.iter().map(|r| r.1).collect();
    assert_eq!(inside, vec![0, 1, 2, 2, 3], "{runs:?}");
    assert!(
        runs.iter().all(|r| r.2 == 0),
        "the pool sees nothing before the commit: {runs:?}"
    );

    assert_eq!(count(&bus, "SELECT COUNT(*) FROM marks").await, 4);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM ledger").await, 4);
    // Its write, its event and its acknowledgement were rolled back; its try counted.
    assert_eq!(
        count(
            &bus,
            "SELECT COUNT(*) FROM marks m JOIN items i ON i.id = m.item_id WHERE i.name = 'fail-once'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &bus,
            "SELECT COUNT(*) FROM domain_event_log WHERE event_name = 'item.marked'"
        )
        .await,
        4
    );
    let left: Vec<(String, i64, i64, Option<String>)> =
        sqlx::query_as("SELECT listener, attempts, exceptions, last_error FROM jobs")
            .fetch_all(bus.db().pool())
            .await
            .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, "Mark");
    assert_eq!((left[0].1, left[0].2), (1, 1));
    assert!(
        left[0].3.as_deref().unwrap_or("").contains("marking failed"),
        "{left:?}"
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM failed_jobs").await, 0);
    db.cleanup().await;
}
on_both!(
    failing_job_rolls_back_alone,
    a_failing_job_rolls_back_alone_and_is_retried
);

async fn a_job_tried_before_runs_alone(db: TestDb) {
    let (bus, seen) = setup(&db).await;
    for name in ["a", "b", "c"] {
        create_item(&bus, name).await.unwrap();
    }
    // b's job was tried before: a worker died running it (maybe because of it).
    sqlx::query("UPDATE jobs SET attempts = 1 WHERE listener = 'Mark' AND payload LIKE '%\"name\":\"b\"%'")
        .execute(bus.db().writer())
        .await
        .unwrap();
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM jobs WHERE attempts = 1").await, 1);
    let report = worker(&bus, 32).run_until_empty().await.unwrap();
    assert_eq!((report.processed, report.failed), (3 + 3, 0), "{report:?}");
    // a and c shared a transaction (c saw a's mark, the pool saw neither); b ran alone in its
    // own, after their commit (it sees exactly what the pool sees).
    let runs = seen.runs.lock().unwrap().clone();
    assert_eq!(
        runs,
        vec![("a".to_owned(), 0, 0), ("c".to_owned(), 1, 0), ("b".to_owned(), 2, 2)]
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM marks").await, 3);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM jobs").await, 0);
    db.cleanup().await;
}
on_both!(tried_job_runs_alone, a_job_tried_before_runs_alone);

async fn a_permanent_failure_is_buried_alone(db: TestDb) {
    let (bus, _seen) = setup(&db).await;
    for name in ["a", "fail-for-good", "b"] {
        create_item(&bus, name).await.unwrap();
    }
    let report = worker(&bus, 32).run_until_empty().await.unwrap();
    assert_eq!((report.processed, report.failed), (2 + 2, 1), "{report:?}");
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM jobs").await, 0);
    let buried: Vec<(String, String)> = sqlx::query_as("SELECT listener, exception FROM failed_jobs")
        .fetch_all(bus.db().pool())
        .await
        .unwrap();
    assert_eq!(buried.len(), 1);
    assert_eq!(buried[0].0, "Mark");
    assert!(buried[0].1.contains("cannot be marked"), "{buried:?}");
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM marks").await, 2);
    db.cleanup().await;
}
on_both!(permanent_failure_buried_alone, a_permanent_failure_is_buried_alone);

async fn one_job_per_transaction_when_asked(db: TestDb) {
    let (bus, seen) = setup(&db).await;
    for name in ["a", "b", "c"] {
        create_item(&bus, name).await.unwrap();
    }
    let report = worker(&bus, 1).run_until_empty().await.unwrap();
    assert_eq!(report.processed, 6, "{report:?}");
    // Each job committed before the next began: the pool saw the marks before it.
    let runs = seen.runs.lock().unwrap().clone();
    let outside: Vec<i64> = runs.iter().map(|r| r.2).collect();
    assert_eq!(outside, vec![0, 1, 2], "{runs:?}");
    db.cleanup().await;
}
on_both!(one_job_per_transaction, one_job_per_transaction_when_asked);

/// Marks items without overlapping (its key: the item), sharing transactions.
struct MarkAlone;

#[async_trait]
impl QueuedListener<ItemCreated> for MarkAlone {
    const NAME: &'static str = "MarkAlone";
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        mark(job, &event.event().item_id).await
    }
}

/// A mark for `item`, in the job's unit of work.
async fn mark(job: &mut JobContext, item: &str) -> Result<(), ListenerError> {
    sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, 0)")
        .bind(item.to_owned())
        .execute(job.uow().conn().await?)
        .await?;
    Ok(())
}

async fn an_overlap_lock_is_taken_inside_the_shared_transaction(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let registry = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            MarkAlone,
            QueueOptions::on("default").without_overlapping(std::time::Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    let mut items = Vec::new();
    for name in ["a", "b", "held", "c"] {
        items.push(create_item(&bus, name).await.unwrap());
    }
    // Another worker holds the key of "held" (a live lock, committed).
    sqlx::query("INSERT INTO overlap_locks (listener, lock_key, holder, expires_at) VALUES ('MarkAlone', $1, 'another worker', $2)")
        .bind(items[2].clone())
        .bind(i64::MAX / 2)
        .execute(bus.db().writer())
        .await
        .unwrap();
    let report = worker(&bus, 32).run_until_empty().await.unwrap();
    assert_eq!(
        (report.processed, report.retried, report.failed),
        (3, 0, 0),
        "{report:?}"
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM marks").await, 3);
    // The held one waits, untried, for the listener's wait; the shared transaction left no lock.
    let left: Vec<(i64, i64)> = sqlx::query_as("SELECT attempts, exceptions FROM jobs")
        .fetch_all(bus.db().pool())
        .await
        .unwrap();
    assert_eq!(left, vec![(0, 0)]);
    let locks: Vec<(String,)> = sqlx::query_as("SELECT holder FROM overlap_locks")
        .fetch_all(bus.db().pool())
        .await
        .unwrap();
    assert_eq!(locks, vec![("another worker".to_owned(),)]);
    db.cleanup().await;
}
on_both!(
    overlap_lock_inside_shared_transaction,
    an_overlap_lock_is_taken_inside_the_shared_transaction
);

/// Writes a mark, but the first time it sees an item named `lost` its connection "is lost" (as
/// a database restart would): what a savepoint cannot isolate.
struct LoseOnce(std::sync::atomic::AtomicBool);

#[async_trait]
impl QueuedListener<ItemCreated> for LoseOnce {
    const NAME: &'static str = "LoseOnce";
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        mark(job, &event.event().item_id).await?;
        if event.event().name == "lost" && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(sqlx::Error::PoolTimedOut.into());
        }
        Ok(())
    }
}

/// Shares and writes nothing: acknowledged with the others of its transaction.
struct Quiet;

#[async_trait]
impl QueuedListener<ItemCreated> for Quiet {
    const NAME: &'static str = "Quiet";
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        Ok(())
    }
}

async fn a_lost_connection_runs_the_group_again_one_by_one(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let registry = Registry::builder()
        .listen_queued::<ItemCreated, _>(LoseOnce(Default::default()), QueueOptions::on("default"))
        .listen_queued::<ItemCreated, _>(Quiet, QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    for name in ["a", "b", "lost", "c"] {
        create_item(&bus, name).await.unwrap();
    }
    let report = worker(&bus, 32).run_until_empty().await.unwrap();
    // The shared transaction rolled back as a whole; each job then ran alone, once more, with
    // no further try counted: every mark once, every job (the quiet ones too) acknowledged.
    assert_eq!(
        (report.processed, report.retried, report.failed),
        (8, 0, 0),
        "{report:?}"
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM marks").await, 4);
    assert_eq!(count(&bus, "SELECT COUNT(DISTINCT item_id) FROM marks").await, 4);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM job_deliveries").await, 8);
    db.cleanup().await;
}
on_both!(
    lost_connection_runs_group_again,
    a_lost_connection_runs_the_group_again_one_by_one
);
