//! Several processes on one database, each played by its own `Database` handle (its own pools,
//! as another process would have): a commit through one wakes an idle worker of another at once,
//! on SQLite and on PostgreSQL; on PostgreSQL a worker carries on when its connections are
//! terminated mid-drain, with every job's effect exactly once, and leases and readiness follow
//! the database's clock, not a node's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[macro_use]
mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    Clock, Database, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener,
    Registry, Worker, WorkerOptions, shutdown_channel,
};

/// Queued: marks its item through the job's unit of work (committed with the acknowledgement),
/// after `millis` of work; counts its runs.
struct Mark(Arc<AtomicUsize>, u64);

#[async_trait]
impl QueuedListener<ItemCreated> for Mark {
    const NAME: &'static str = "Mark";
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        tokio::time::sleep(Duration::from_millis(self.1)).await;
        sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, 1)")
            .bind(event.event().item_id.clone())
            .execute(job.uow().conn().await?)
            .await?;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One "process": its own handle on the database and a bus with the `Mark` listener.
fn process(db: Database, runs: &Arc<AtomicUsize>, millis: u64) -> EventBus {
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued(
            Mark(runs.clone(), millis),
            QueueOptions::on("default")
                .tries(3)
                .backoff([Duration::from_secs(1)])
                .jitter(0.0),
        )
        .build()
        .unwrap();
    EventBus::builder(db, Arc::new(registry)).build()
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await.unwrap();
    n
}

/// Waits until `done` holds, or panics after `within` naming `what`.
async fn wait_until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The worker polls only every 30 s, and nothing in its process commits: each of three jobs
/// committed by the other process while the worker is idle is done within 2 s.
async fn a_commit_in_another_process_wakes_an_idle_worker(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let committer = process(db.db().clone(), &runs, 0);
    let other = Database::connect(db.url()).await.unwrap();
    let worker = Worker::new(
        process(other.clone(), &runs, 0),
        WorkerOptions::new(["default"]).poll_interval(Duration::from_secs(30)),
    );
    let progress = worker.progress();
    let (trigger, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });

    for round in 1..=3 {
        wait_until(Duration::from_secs(10), "the worker goes idle", || {
            progress.idle_slots() == 1
        })
        .await;
        let committed = Instant::now();
        create_item(&committer, &round.to_string()).await.unwrap();
        wait_until(Duration::from_secs(2), "the job committed elsewhere is done", || {
            runs.load(Ordering::SeqCst) == round
        })
        .await;
        assert!(committed.elapsed() < Duration::from_secs(2));
    }

    trigger.trigger();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.processed, 3);
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM marks").await, 3);
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM jobs").await, 0);
    other.close().await;
    db.cleanup().await;
}
on_both!(
    a_commit_in_another_process_wakes_an_idle_worker_within_2_s_despite_a_30_s_poll,
    a_commit_in_another_process_wakes_an_idle_worker
);

/// Kills every other backend of the test database (the worker's pools and its listener).
async fn terminate_backends(admin: &Database) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(admin.writer())
    .await
    .unwrap();
    n
}

/// 300 jobs of 2 ms drained by a worker of another process whose connections are all
/// terminated twice mid-drain: the worker carries on (no error, no exit), the jobs table and
/// `failed_jobs` end empty, every item is marked exactly once, and afterwards a new job still
/// wakes the idle worker at once (its listener connection came back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_connections_are_terminated_mid_drain_carries_on_and_runs_each_job_once() {
    let Some(db) = TestDb::postgres("terminated_mid_drain", vec![]).await else {
        return;
    };
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let committer = process(db.db().clone(), &runs, 2);
    let jobs: i64 = 300;
    for i in 0..jobs {
        create_item(&committer, &i.to_string()).await.unwrap();
    }
    let other = Database::connect(db.url()).await.unwrap();
    let worker = Worker::new(
        process(other.clone(), &runs, 2),
        WorkerOptions::new(["default"])
            .concurrency(2)
            .batch_size(20)
            .poll_interval(Duration::from_secs(30)),
    );
    let progress = worker.progress();
    let (trigger, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });

    for at in [50, 150] {
        wait_until(Duration::from_secs(30), "the drain gets going", || {
            runs.load(Ordering::SeqCst) >= at
        })
        .await;
        assert!(terminate_backends(db.db()).await > 0);
    }
    let started = Instant::now();
    while count(db.db(), "SELECT COUNT(*) FROM jobs").await > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the drain did not finish");
        assert!(!running.is_finished(), "the worker stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until(Duration::from_secs(10), "the worker goes idle", || {
        progress.idle_slots() == 2
    })
    .await;
    let committed = Instant::now();
    create_item(&committer, "after").await.unwrap();
    while count(db.db(), "SELECT COUNT(*) FROM marks").await <= jobs {
        assert!(
            committed.elapsed() < Duration::from_secs(5),
            "a new job did not wake the worker"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    trigger.trigger();
    running.await.unwrap().unwrap();
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM marks").await, jobs + 1);
    assert_eq!(
        count(db.db(), "SELECT COUNT(DISTINCT item_id) FROM marks").await,
        jobs + 1
    );
    other.close().await;
    db.cleanup().await;
}

/// A node whose clock runs 60 s ahead of the database's.
struct Ahead;

impl Clock for Ahead {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(60)
    }
}

/// Queued: for an item named `hang`, says it started and never finishes; for any other, fails
/// its first try (its retry waits 30 s) and succeeds after. Counts runs per item name.
#[derive(Default)]
struct Gate {
    runs: std::sync::Mutex<Vec<String>>,
    started: tokio::sync::Notify,
}

struct GateListener(Arc<Gate>);

#[async_trait]
impl QueuedListener<ItemCreated> for GateListener {
    const NAME: &'static str = "Gate";
    async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        let name = event.event().name.clone();
        let first = {
            let mut runs = self.0.runs.lock().unwrap();
            runs.push(name.clone());
            runs.iter().filter(|r| **r == name).count() == 1
        };
        if name == "hang" {
            self.0.started.notify_one();
            std::future::pending::<()>().await;
        }
        if first {
            return Err(ListenerError::msg("the first try fails"));
        }
        Ok(())
    }
}

/// On PostgreSQL the queue follows the database's clock: a worker whose node clock is 60 s
/// ahead neither takes a job another worker holds under a live 30 s lease, nor runs a job whose
/// retry is due in 30 s (both would be due by its own clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_clock_is_60_s_ahead_neither_takes_a_live_lease_nor_runs_a_job_early() {
    let Some(db) = TestDb::postgres("clock_60_s_ahead", vec![]).await else {
        return;
    };
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let gate = Arc::new(Gate::default());
    let bus = |db: Database, clock: Option<Arc<dyn Clock>>| {
        let registry = Registry::builder()
            .listen_queued(
                GateListener(gate.clone()),
                QueueOptions::on("default")
                    .tries(3)
                    .backoff([Duration::from_secs(30)])
                    .jitter(0.0),
            )
            .build()
            .unwrap();
        let builder = EventBus::builder(db, Arc::new(registry));
        match clock {
            Some(clock) => builder.clock(clock).build(),
            None => builder.build(),
        }
    };
    let here = bus(db.db().clone(), None);
    let options = || WorkerOptions::new(["default"]).lease(Duration::from_secs(30));
    // A job whose first try failed: its retry is due in 30 s.
    create_item(&here, "retry").await.unwrap();
    let report = Worker::new(here.clone(), options()).run_until_empty().await.unwrap();
    assert_eq!(report.retried, 1);
    // A job running under a live 30 s lease.
    create_item(&here, "hang").await.unwrap();
    let holder = Worker::new(here.clone(), options());
    let started = gate.started.notified();
    let (_trigger, shutdown) = shutdown_channel();
    let holding = tokio::spawn(async move { holder.run(shutdown).await });
    started.await;

    let other = Database::connect(db.url()).await.unwrap();
    let ahead = Worker::new(bus(other.clone(), Some(Arc::new(Ahead))), options());
    let report = tokio::time::timeout(Duration::from_secs(10), ahead.run_until_empty())
        .await
        .expect("the worker ahead ran a job it should not have taken")
        .unwrap();

    assert_eq!(report.processed + report.retried + report.failed, 0, "{report:?}");
    assert_eq!(*gate.runs.lock().unwrap(), ["retry", "hang"]);
    holding.abort();
    let _ = holding.await;
    other.close().await;
    db.cleanup().await;
}

/// On PostgreSQL a job is ready from its commit by the database's clock: one committed by a node
/// whose clock is 60 s ahead runs at once on a node with a correct clock (by the committing
/// node's clock it would wait a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_committed_by_a_node_60_s_ahead_is_ready_at_once() {
    let Some(db) = TestDb::postgres("job_from_a_node_60_s_ahead", vec![]).await else {
        return;
    };
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let registry = Registry::builder()
        .listen_queued(Mark(runs.clone(), 0), QueueOptions::on("default"))
        .build()
        .unwrap();
    let ahead = EventBus::builder(db.db().clone(), Arc::new(registry))
        .clock(Arc::new(Ahead))
        .build();
    create_item(&ahead, "from the future").await.unwrap();
    let here = process(Database::connect(db.url()).await.unwrap(), &runs, 0);
    let report = Worker::new(here.clone(), WorkerOptions::new(["default"]))
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!(report.processed, 1, "{report:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    here.db().close().await;
    db.cleanup().await;
}

/// A commit wakes every idle slot of a worker, but one claim begun after it sees its jobs: the
/// other slots stand aside rather than each running an empty claim (a write transaction on
/// SQLite, a round trip on PostgreSQL), and a slot that took every ready job waits rather than
/// claiming again at once. Four slots, 20 jobs committed one at a time, each done before the
/// next. Without the rule: 221 empty claims on SQLite, 155 on PostgreSQL (every slot woken by
/// the commit, and again by each echo of this process's own writes through the watch for other
/// processes: `PRAGMA data_version`, or the commit's own `NOTIFY`). With it: 62 and 24, the
/// rest being those echoes. Every job still runs, and at once.
async fn idle_slots_woken_by_a_commit_leave_its_claim_to_one(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let bus = process(db.db().clone(), &runs, 0);
    let worker = Worker::new(
        bus.clone(),
        WorkerOptions::new(["default"])
            .concurrency(4)
            .poll_interval(Duration::from_secs(30)),
    );
    let slots = 4.min(db.db().max_worker_slots());
    let progress = worker.progress();
    let (trigger, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    let jobs = 20;
    for n in 1..=jobs {
        wait_until(Duration::from_secs(10), "every slot goes idle", || {
            progress.idle_slots() == slots
        })
        .await;
        create_item(&bus, &n.to_string()).await.unwrap();
        wait_until(Duration::from_secs(2), "the job is done", || {
            runs.load(Ordering::SeqCst) == n
        })
        .await;
    }
    trigger.trigger();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.processed, jobs as u64);
    assert_eq!(count(db.db(), "SELECT COUNT(*) FROM marks").await, jobs as i64);
    println!("{slots} slots, {jobs} jobs: {} empty claims", report.empty_claims);
    assert!(
        report.empty_claims <= 5 * jobs as u64,
        "{} empty claims for {jobs} jobs",
        report.empty_claims
    );
    db.cleanup().await;
}
on_both!(
    idle_slots_woken_by_a_commit_leave_its_claim_to_one_slot,
    idle_slots_woken_by_a_commit_leave_its_claim_to_one
);
