// The guarantee tests, included by `guarantees.rs` (jobs in transactions of their own) and by
// `guarantees_shared.rs` (jobs sharing transactions): `SHARED` is defined by the includer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;


use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use serde::{Deserialize, Serialize};
use shared_kernel::testing::{EventFake, TestDb, assert_listening, drain};
use shared_kernel::{
    AuditLog, AuditQuery, DomainEvent, Envelope, EventBus, InProcessHub, JobContext, JobFailure, ListenerError,
    LogDomainEvent, ManualClock, Queue, QueueOptions, QueuedListener, Registry, RegistryBuilder, SyncListener,
    UnitOfWork, UowError, Worker, WorkerOptions, shutdown_channel,
};
use tokio::sync::Notify;

// ---- test events -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ItemShipped {
    item_id: String,
}

impl DomainEvent for ItemShipped {
    const NAME: &'static str = "item.shipped";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pinged {
    n: u32,
}

impl DomainEvent for Pinged {
    const NAME: &'static str = "ping.pinged";
    const AGGREGATE_TYPE: &'static str = "ping";
    fn aggregate_id(&self) -> String {
        "ping".into()
    }
}

// ---- test listeners ----------------------------------------------------------------------

/// Sync: every created item is shipped in the same transaction; `fail-sync` items make it fail.
struct ShipOnCreate;

#[async_trait]
impl SyncListener<ItemCreated> for ShipOnCreate {
    const NAME: &'static str = "ShipOnCreate";
    async fn handle(&self, event: &Envelope<ItemCreated>, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        if event.event().name == "fail-sync" {
            return Err(ListenerError::msg("cannot ship"));
        }
        sqlx::query("UPDATE items SET shipped = 1 WHERE id = $1")
            .bind(event.event().item_id.clone())
            .execute(uow.conn().await?)
            .await?;
        uow.record(ItemShipped {
            item_id: event.event().item_id.clone(),
        });
        Ok(())
    }
}

/// Sync: a ping records another ping, forever.
struct PingBack;

#[async_trait]
impl SyncListener<Pinged> for PingBack {
    const NAME: &'static str = "PingBack";
    async fn handle(&self, event: &Envelope<Pinged>, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        uow.record(Pinged { n: event.event().n + 1 });
        Ok(())
    }
}

#[derive(Default)]
struct Probe {
    runs: AtomicUsize,
    failed_hook: std::sync::Mutex<Vec<JobFailure>>,
    broken: AtomicBool,
    started: Notify,
    order: std::sync::Mutex<Vec<&'static str>>,
}

/// Queued: counts its runs; fails while the probe is `broken`.
struct Deliver(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for Deliver {
    const NAME: &'static str = "Deliver";
    const SHARES_TRANSACTION: bool = SHARED;
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        self.0.order.lock().unwrap().push("Deliver");
        self.0.started.notify_one();
        if self.0.broken.load(Ordering::SeqCst) {
            return Err(ListenerError::msg("the carrier is down"));
        }
        Ok(())
    }
    async fn failed(&self, _event: &Envelope<ItemCreated>, failure: &JobFailure) {
        self.0.failed_hook.lock().unwrap().push(failure.clone());
    }
}

/// Queued: another listener of the same event that always succeeds.
struct Thank(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for Thank {
    const NAME: &'static str = "Thank";
    const SHARES_TRANSACTION: bool = SHARED;
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        self.0.order.lock().unwrap().push("Thank");
        Ok(())
    }
}

/// Queued, database-writing: writes a row in the job's transaction, then fails while `broken`.
struct WriteLedger(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for WriteLedger {
    const NAME: &'static str = "WriteLedger";
    const SHARES_TRANSACTION: bool = SHARED;
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        sqlx::query("INSERT INTO ledger (event_id, item_id) VALUES ($1, $2)")
            .bind(event.event_id().to_string())
            .bind(event.event().item_id.clone())
            .execute(job.uow().conn().await?)
            .await?;
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        if self.0.broken.load(Ordering::SeqCst) {
            return Err(ListenerError::msg("failed after writing"));
        }
        Ok(())
    }
}

/// Queued: signals that it started, then hangs until the probe is no longer `broken`.
struct Hang(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for Hang {
    const NAME: &'static str = "Hang";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        self.0.started.notify_one();
        if self.0.broken.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

// ---- harness -----------------------------------------------------------------------------

struct Harness {
    db: TestDb,
    bus: EventBus,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    clock: Arc<ManualClock>,
}

fn options() -> QueueOptions {
    QueueOptions::on("default")
        .tries(3)
        .backoff([Duration::from_secs(10), Duration::from_secs(60)])
        .jitter(0.0)
        .timeout(Duration::from_secs(5))
}

async fn harness(register: impl FnOnce(RegistryBuilder) -> RegistryBuilder) -> Harness {
    harness_on(TestDb::new(vec![]).await, register).await
}

async fn harness_on(db: TestDb, register: impl FnOnce(RegistryBuilder) -> RegistryBuilder) -> Harness {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let registry = register(Registry::builder().listen_all_sync(LogDomainEvent, &[]))
        .build()
        .unwrap();
    let fake = EventFake::new();
    let hub = Arc::new(InProcessHub::default());
    let clock = Arc::new(ManualClock::default());
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .observer(fake.clone())
        .broadcaster(hub.clone())
        .clock(clock.clone())
        .build();
    Harness {
        db,
        bus,
        fake,
        hub,
        clock,
    }
}

async fn count(h: &Harness, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(h.db.db().writer()).await.unwrap();
    n
}

// ---- atomicity ---------------------------------------------------------------------------

#[tokio::test]
async fn a_committed_event_has_one_audit_row_and_one_job_per_queued_listener() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| {
        r.listen_queued(Deliver(probe.clone()), options())
            .listen_queued(Thank(probe.clone()), options())
    })
    .await;
    let mut items = h.hub.subscribe("items");

    let id = create_item(&h.bus, "kursi").await.unwrap();

    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 1);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 2);
    let listeners: Vec<(String,)> = sqlx::query_as("SELECT listener FROM jobs ORDER BY listener")
        .fetch_all(h.db.db().writer())
        .await
        .unwrap();
    assert_eq!(listeners, vec![("Deliver".to_owned(),), ("Thank".to_owned(),)]);
    h.fake.assert_dispatched::<ItemCreated>(|e| e.item_id == id);
    let message = items.try_recv().expect("broadcast after commit");
    assert_eq!(message.event, "item.created");
    assert_eq!(message.data["item_id"], id);

    let report = drain(&h.bus).await;
    assert_eq!(report.processed, 2);
    assert_eq!(probe.runs.load(Ordering::SeqCst), 2);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn an_explicit_rollback_leaves_no_row_no_audit_no_job_and_no_broadcast() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options())).await;
    let mut items = h.hub.subscribe("items");

    let mut uow = h.bus.begin();
    sqlx::query("INSERT INTO items (id, name) VALUES ('x', 'kursi')")
        .execute(uow.conn().await.unwrap())
        .await
        .unwrap();
    uow.record(ItemCreated {
        item_id: "x".into(),
        name: "kursi".into(),
    });
    uow.dispatch().await.unwrap();
    uow.rollback().await.unwrap();

    assert_eq!(count(&h, "SELECT COUNT(*) FROM items").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
    assert!(items.try_recv().is_err());
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn dropping_a_unit_of_work_rolls_it_back() {
    let h = harness(|r| r).await;
    {
        let mut uow = h.bus.begin();
        sqlx::query("INSERT INTO items (id, name) VALUES ('x', 'kursi')")
            .execute(uow.conn().await.unwrap())
            .await
            .unwrap();
        uow.record(ItemCreated {
            item_id: "x".into(),
            name: "kursi".into(),
        });
    }
    assert_eq!(count(&h, "SELECT COUNT(*) FROM items").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 0);
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_failing_sync_listener_rolls_the_whole_command_back() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| {
        r.listen_sync(ShipOnCreate)
            .listen_queued(Deliver(probe.clone()), options())
    })
    .await;
    let mut items = h.hub.subscribe("items");

    let err = create_item(&h.bus, "fail-sync").await.unwrap_err();

    assert!(
        matches!(
            err,
            UowError::Listener {
                listener: "ShipOnCreate",
                event: "item.created",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM items").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
    assert!(items.try_recv().is_err());
    h.fake.assert_nothing_dispatched();
}

// ---- causality ---------------------------------------------------------------------------

#[tokio::test]
async fn a_cascade_carries_the_correlation_id_and_its_cause() {
    let h = harness(|r| r.listen_sync(ShipOnCreate)).await;

    let id = create_item(&h.bus, "meja").await.unwrap();

    let created = &h.fake.dispatched::<ItemCreated>()[0];
    let shipped = &h.fake.dispatched::<ItemShipped>()[0];
    assert_eq!(shipped.meta().causation_id(), Some(created.event_id()));
    assert_eq!(shipped.meta().correlation_id(), created.meta().correlation_id());
    assert_eq!(created.meta().causation_id(), None);
    assert_eq!(shipped.meta().actor_id(), created.meta().actor_id());
    let shipped_flag = count(&h, "SELECT shipped FROM items").await;
    assert_eq!(shipped_flag, 1, "the sync listener's write committed with the command");

    let trail = AuditLog::new(h.db.db().clone())
        .query(&AuditQuery::new().correlation(created.meta().correlation_id()))
        .await
        .unwrap();
    let names: Vec<&str> = trail.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(names, ["item.created", "item.shipped"]);
    assert!(trail.iter().all(|e| e.aggregate_id == id));
    assert_eq!(trail[1].causation_id, Some(trail[0].event_id));
}

#[tokio::test]
async fn a_runaway_cascade_stops_with_an_error_and_rolls_back() {
    let h = harness(|r| r.listen_sync(PingBack)).await;

    let mut uow = h.bus.begin();
    sqlx::query("INSERT INTO items (id, name) VALUES ('x', 'ping')")
        .execute(uow.conn().await.unwrap())
        .await
        .unwrap();
    uow.record(Pinged { n: 0 });
    let err = uow.commit().await.unwrap_err();

    assert!(
        matches!(
            err,
            UowError::CascadeTooDeep {
                event: "ping.pinged",
                limit: 8
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM items").await, 0);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 0);
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_unit_of_work_whose_listener_failed_cannot_be_committed() {
    let h = harness(|r| r.listen_sync(ShipOnCreate)).await;
    let mut uow = h.bus.begin();
    uow.record(ItemCreated {
        item_id: "x".into(),
        name: "fail-sync".into(),
    });
    assert!(uow.dispatch().await.is_err());
    assert!(matches!(uow.commit().await, Err(UowError::Poisoned)));
    h.fake.assert_nothing_dispatched();
}

// ---- retries, failed jobs ----------------------------------------------------------------

#[tokio::test]
async fn a_listener_failing_every_try_ends_in_failed_jobs_while_its_sibling_succeeds() {
    let failing = Arc::new(Probe::default());
    failing.broken.store(true, Ordering::SeqCst);
    let healthy = Arc::new(Probe::default());
    let h = harness(|r| {
        r.listen_queued(Deliver(failing.clone()), options())
            .listen_queued(Thank(healthy.clone()), options())
    })
    .await;
    create_item(&h.bus, "lemari").await.unwrap();

    // Try 1 fails, Thank succeeds; the retry waits 10 s, then 60 s (no sleeping: the clock moves).
    let first = drain(&h.bus).await;
    assert_eq!((first.processed, first.retried, first.failed), (1, 1, 0));
    assert_eq!(
        drain(&h.bus).await.retried,
        0,
        "nothing is ready before the backoff has passed"
    );
    let (last_error,): (String,) = sqlx::query_as("SELECT last_error FROM jobs")
        .fetch_one(h.db.db().writer())
        .await
        .unwrap();
    assert_eq!(last_error, "the carrier is down");
    h.clock.advance(chrono::Duration::seconds(11));
    assert_eq!(drain(&h.bus).await.retried, 1);
    h.clock.advance(chrono::Duration::seconds(61));
    let last = drain(&h.bus).await;
    assert_eq!(last.failed, 1);

    assert_eq!(failing.runs.load(Ordering::SeqCst), 3);
    assert_eq!(healthy.runs.load(Ordering::SeqCst), 1);
    let failed = Queue::new(h.bus.clone()).failed_jobs(None, 1000).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].listener, "Deliver");
    assert_eq!(failed[0].exception, "the carrier is down");
    assert_eq!(failed[0].attempts, 3);
    assert_eq!(
        *failing.failed_hook.lock().unwrap(),
        vec![JobFailure {
            error: "the carrier is down".into(),
            attempts: 3
        }]
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn retrying_a_failed_job_after_the_cause_is_fixed_succeeds() {
    let probe = Arc::new(Probe::default());
    probe.broken.store(true, Ordering::SeqCst);
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options().tries(1))).await;
    create_item(&h.bus, "rak").await.unwrap();
    assert_eq!(drain(&h.bus).await.failed, 1);
    let queue = Queue::new(h.bus.clone());
    let failed = queue.failed_jobs(None, 1000).await.unwrap();

    probe.broken.store(false, Ordering::SeqCst);
    queue.retry(&failed[0].id).await.unwrap();
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    assert!(queue.failed_jobs(None, 1000).await.unwrap().is_empty());
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
    assert!(matches!(
        queue.retry(&failed[0].id).await,
        Err(shared_kernel::QueueError::FailedJobNotFound(_))
    ));
}

#[tokio::test]
async fn failed_jobs_can_be_retried_all_forgotten_and_flushed() {
    let probe = Arc::new(Probe::default());
    probe.broken.store(true, Ordering::SeqCst);
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options().tries(1))).await;
    for name in ["a", "b", "c"] {
        create_item(&h.bus, name).await.unwrap();
    }
    drain(&h.bus).await;
    let queue = Queue::new(h.bus.clone());
    assert_eq!(queue.failed_jobs(None, 1000).await.unwrap().len(), 3);

    assert_eq!(queue.retry_all().await.unwrap(), 3);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 3);
    drain(&h.bus).await;
    let failed = queue.failed_jobs(None, 1000).await.unwrap();
    assert_eq!(failed.len(), 3);
    queue.forget(&failed[0].id).await.unwrap();
    assert!(queue.forget(&failed[0].id).await.is_err());
    assert_eq!(queue.flush().await.unwrap(), 2);
    assert!(queue.failed_jobs(None, 1000).await.unwrap().is_empty());
}

// ---- leases and crashes ------------------------------------------------------------------

#[tokio::test]
async fn a_job_whose_worker_crashed_runs_again_after_its_lease_expires() {
    let probe = Arc::new(Probe::default());
    probe.broken.store(true, Ordering::SeqCst); // the first run hangs until the "crash"
    let h = harness(|r| r.listen_queued(Hang(probe.clone()), options())).await;
    create_item(&h.bus, "kasur").await.unwrap();

    let worker = Worker::new(
        h.bus.clone(),
        WorkerOptions::new(["default"]).lease(Duration::from_secs(30)),
    );
    let (_trigger, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    probe.started.notified().await;
    running.abort(); // the worker dies mid-job
    let _ = running.await;
    probe.broken.store(false, Ordering::SeqCst);

    assert_eq!(drain(&h.bus).await.processed, 0, "the lease still holds the job");
    h.clock.advance(chrono::Duration::seconds(31));
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    assert_eq!(probe.runs.load(Ordering::SeqCst), 2);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn a_database_writing_listener_whose_transaction_fails_leaves_no_write_and_keeps_its_job() {
    let probe = Arc::new(Probe::default());
    probe.broken.store(true, Ordering::SeqCst);
    let h = harness(|r| r.listen_queued(WriteLedger(probe.clone()), options())).await;
    create_item(&h.bus, "bantal").await.unwrap();

    let report = drain(&h.bus).await;

    assert_eq!(report.retried, 1);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM ledger").await,
        0,
        "the write rolled back"
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 1, "the job was not lost");

    probe.broken.store(false, Ordering::SeqCst);
    h.clock.advance(chrono::Duration::seconds(11));
    assert_eq!(drain(&h.bus).await.processed, 1);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM ledger").await,
        1,
        "written exactly once"
    );
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM jobs").await,
        0,
        "acknowledged with the write"
    );
}

#[tokio::test]
async fn a_try_that_times_out_counts_as_a_failure() {
    let probe = Arc::new(Probe::default());
    probe.broken.store(true, Ordering::SeqCst);
    let h = harness(|r| {
        r.listen_queued(
            Hang(probe.clone()),
            options().tries(1).timeout(Duration::from_millis(20)),
        )
    })
    .await;
    create_item(&h.bus, "x").await.unwrap();
    assert_eq!(drain(&h.bus).await.failed, 1);
    let failed = Queue::new(h.bus.clone()).failed_jobs(None, 1000).await.unwrap();
    assert!(
        failed[0].exception.starts_with("timed out after"),
        "{}",
        failed[0].exception
    );
}

#[tokio::test]
async fn a_job_for_a_listener_no_longer_registered_fails_with_a_clear_error() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options())).await;
    create_item(&h.bus, "x").await.unwrap();
    sqlx::query("UPDATE jobs SET listener = 'Removed'")
        .execute(h.db.db().writer())
        .await
        .unwrap();
    assert_eq!(drain(&h.bus).await.failed, 1);
    let failed = Queue::new(h.bus.clone()).failed_jobs(None, 1000).await.unwrap();
    assert_eq!(
        failed[0].exception,
        "no listener `Removed` is registered for `item.created`"
    );
}

// ---- workers -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_workers_on_one_queue_run_each_job_once() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(WriteLedger(probe.clone()), options())).await;
    for i in 0..200 {
        create_item(&h.bus, &format!("item {i}")).await.unwrap();
    }

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let worker = Worker::new(h.bus.clone(), WorkerOptions::new(["default"]).batch_size(7));
        workers.spawn(async move { worker.run_until_empty().await.unwrap() });
    }
    let mut processed = 0;
    while let Some(report) = workers.join_next().await {
        processed += report.unwrap().processed;
    }

    assert_eq!(processed, 200);
    assert_eq!(probe.runs.load(Ordering::SeqCst), 200);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM ledger").await, 200);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn an_idle_worker_wakes_when_a_job_is_enqueued_in_the_same_process() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options())).await;
    // A poll interval of an hour: only the in-process wake-up can start the job in time.
    let worker = Worker::new(
        h.bus.clone(),
        WorkerOptions::new(["default"]).poll_interval(Duration::from_secs(3600)),
    );
    let (trigger, shutdown) = shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    tokio::task::yield_now().await;

    create_item(&h.bus, "x").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), probe.started.notified())
        .await
        .expect("the idle worker was woken by the commit");

    trigger.trigger();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.processed, 1);
}

#[tokio::test]
async fn workers_take_queues_in_priority_order() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| {
        r.listen_queued(Deliver(probe.clone()), options())
            .listen_queued(Thank(probe.clone()), QueueOptions::on("urgent"))
    })
    .await;
    create_item(&h.bus, "x").await.unwrap();
    create_item(&h.bus, "y").await.unwrap();

    // One job per claim, so each claim must pick the highest-priority ready job.
    Worker::new(h.bus.clone(), WorkerOptions::new(["urgent", "default"]).batch_size(1))
        .run_until_empty()
        .await
        .unwrap();

    assert_eq!(*probe.order.lock().unwrap(), ["Thank", "Thank", "Deliver", "Deliver"]);
}

#[tokio::test]
async fn a_shut_down_worker_returns_and_gives_back_what_it_had_not_started() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options())).await;
    let worker = Worker::new(h.bus.clone(), WorkerOptions::new(["default"]));
    let (trigger, shutdown) = shutdown_channel();
    trigger.trigger();
    for i in 0..3 {
        create_item(&h.bus, &format!("{i}")).await.unwrap();
    }
    let report = worker.run(shutdown).await.unwrap();
    assert_eq!(report.processed, 0);
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM jobs WHERE reserved_by IS NULL").await,
        3
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs WHERE attempts = 0").await, 3);
}

// ---- registry ----------------------------------------------------------------------------

#[test]
fn the_registry_lists_listeners_in_registration_order_with_wildcards() {
    let probe = Arc::new(Probe::default());
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[Pinged::NAME])
        .event::<Pinged>()
        .listen_sync(ShipOnCreate)
        .listen_queued(Deliver(probe), QueueOptions::on("notifications"))
        .build()
        .unwrap();

    let listing = registry.listing();
    let created = listing.iter().find(|l| l.event == "item.created").unwrap();
    let names: Vec<&str> = created.listeners.iter().map(|l| l.listener).collect();
    assert_eq!(names, ["LogDomainEvent", "ShipOnCreate", "Deliver"]);
    assert!(created.listeners[0].wildcard);
    let ping = listing.iter().find(|l| l.event == "ping.pinged").unwrap();
    assert!(ping.listeners.is_empty(), "excepted from the wildcard");
    assert_listening::<ItemCreated>(&registry, "Deliver");
    assert_listening::<ItemCreated>(&registry, "LogDomainEvent");
    assert!(!registry.is_listening(Pinged::NAME, "LogDomainEvent"));
    assert_eq!(registry.queues(), ["notifications"]);
}

#[test]
fn registrations_that_could_not_work_are_rejected_at_startup() {
    use shared_kernel::RegistryError;
    let probe = Arc::new(Probe::default());
    let twice = Registry::builder()
        .listen_sync(ShipOnCreate)
        .listen_sync(ShipOnCreate)
        .build();
    assert!(matches!(twice, Err(RegistryError::Duplicate { .. })));

    let wildcard_and_specific = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_all_sync(LogDomainEvent, &[])
        .build();
    assert!(matches!(wildcard_and_specific, Err(RegistryError::Duplicate { .. })));

    let typo = Registry::builder()
        .listen_all_sync(LogDomainEvent, &["item.craeted"])
        .build();
    assert!(matches!(typo, Err(RegistryError::UnknownException { .. })));

    let zero_tries = Registry::builder()
        .listen_queued(Deliver(probe.clone()), QueueOptions::on("default").tries(0))
        .build();
    assert!(matches!(zero_tries, Err(RegistryError::InvalidQueueOptions { .. })));

    let bad_queue = Registry::builder()
        .listen_queued(Deliver(probe), QueueOptions::on("Not A Queue"))
        .build();
    assert!(matches!(bad_queue, Err(RegistryError::InvalidQueueOptions { .. })));
}

// ---- audit queries -----------------------------------------------------------------------

#[tokio::test]
async fn the_audit_log_filters_by_aggregate_actor_name_time_and_correlation() {
    let h = harness(|r| r.listen_sync(ShipOnCreate)).await;
    let a = create_item(&h.bus, "a").await.unwrap();
    h.clock.advance(chrono::Duration::seconds(60));
    let b = create_item(&h.bus, "b").await.unwrap();
    let log = AuditLog::new(h.db.db().clone());

    let all = log.query(&AuditQuery::new()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].occurred_at <= w[1].occurred_at));

    let of_a = log
        .query(&AuditQuery::new().aggregate("item", Some(a.clone())))
        .await
        .unwrap();
    assert_eq!(of_a.len(), 2);
    let shipped = log.query(&AuditQuery::new().event_name("item.shipped")).await.unwrap();
    assert_eq!(
        shipped.iter().map(|e| e.aggregate_id.clone()).collect::<Vec<_>>(),
        [a.clone(), b.clone()]
    );
    let actor = all[2].actor_id.unwrap();
    let by_actor = log.query(&AuditQuery::new().actor(actor)).await.unwrap();
    assert!(by_actor.iter().all(|e| e.aggregate_id == b));
    let later = log.query(&AuditQuery::new().from(all[2].occurred_at)).await.unwrap();
    assert_eq!(later.len(), 2);
    let earlier = log.query(&AuditQuery::new().until(all[2].occurred_at)).await.unwrap();
    assert_eq!(earlier.len(), 2);
    let cascade = log
        .query(&AuditQuery::new().correlation(all[0].correlation_id))
        .await
        .unwrap();
    assert_eq!(cascade.len(), 2);
    assert_eq!(all[0].metadata["name"], "a");
    assert_eq!(log.query(&AuditQuery::new().limit(1)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_queued_jobs_payload_is_rebuilt_into_its_typed_event_by_name() {
    let probe = Arc::new(Probe::default());
    let h = harness(|r| r.listen_queued(Deliver(probe.clone()), options())).await;
    let id = create_item(&h.bus, "kursi").await.unwrap();
    let (name, payload): (String, String) = sqlx::query_as("SELECT event_name, payload FROM jobs")
        .fetch_one(h.db.db().writer())
        .await
        .unwrap();

    let rebuilt = h
        .bus
        .registry()
        .rebuild(&name, &payload)
        .expect("a known event")
        .unwrap();

    let typed = rebuilt.downcast::<ItemCreated>().expect("the original type");
    assert_eq!(typed.event().item_id, id);
    assert_eq!(typed.meta(), h.fake.dispatched::<ItemCreated>()[0].meta());
    assert!(h.bus.registry().rebuild("no.such", &payload).is_none());
    assert!(h.bus.registry().rebuild(&name, "{}").unwrap().is_err());
}

// ---- PostgreSQL --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_and_queue_guarantees_hold_on_postgres() {
    let Some(db) = TestDb::postgres("the_outbox_and_queue_guarantees_hold_on_postgres", vec![]).await else {
        return;
    };
    let ledger = Arc::new(Probe::default());
    let failing = Arc::new(Probe::default());
    failing.broken.store(true, Ordering::SeqCst);
    let h = harness_on(db, |r| {
        r.listen_sync(ShipOnCreate)
            .listen_queued(WriteLedger(ledger.clone()), options())
            .listen_queued(Deliver(failing.clone()), options().tries(1))
    })
    .await;

    // Commit: state, audit rows (the cascade too) and one job per queued listener, atomically.
    for i in 0..60 {
        create_item(&h.bus, &format!("item {i}")).await.unwrap();
    }
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 120);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 120);
    // A failing sync listener leaves nothing.
    assert!(create_item(&h.bus, "fail-sync").await.is_err());
    assert_eq!(count(&h, "SELECT COUNT(*) FROM items").await, 60);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM domain_event_log").await, 120);

    // Ten workers claim with FOR UPDATE SKIP LOCKED: every job runs once.
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let worker = Worker::new(h.bus.clone(), WorkerOptions::new(["default"]).batch_size(5));
        workers.spawn(async move { worker.run_until_empty().await.unwrap() });
    }
    let mut failed = 0;
    while let Some(report) = workers.join_next().await {
        failed += report.unwrap().failed;
    }
    // Each job's effect once. Sharing transactions, a group that loses a conflict on PostgreSQL
    // rolls back and its jobs run again one by one: the listener is called again, its effect —
    // rolled back with the group — is not repeated.
    let runs = ledger.runs.load(Ordering::SeqCst);
    if SHARED {
        assert!(runs >= 60, "{runs}");
    } else {
        assert_eq!(runs, 60);
    }
    assert_eq!(count(&h, "SELECT COUNT(*) FROM ledger").await, 60);
    assert_eq!(failed, 60);
    assert_eq!(failing.failed_hook.lock().unwrap().len(), 60);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 0);

    // Fixed, the failed jobs are retried and succeed.
    failing.broken.store(false, Ordering::SeqCst);
    let queue = Queue::new(h.bus.clone());
    assert_eq!(queue.retry_all().await.unwrap(), 60);
    assert_eq!(drain(&h.bus).await.processed, 60);
    assert!(queue.failed_jobs(None, 1000).await.unwrap().is_empty());
    let trail = AuditLog::new(h.db.db().clone())
        .query(&AuditQuery::new().limit(2))
        .await
        .unwrap();
    assert_eq!(trail[1].causation_id, Some(trail[0].event_id));

    let Harness { db, bus, .. } = h;
    drop(bus);
    db.cleanup().await;
}

/// Concurrent commands on unrelated aggregates do not fail each other: 32 callers committing
/// 20 commands of five new aggregates' events each at once, every one with `retrying` as the
/// services run them, all commit, each aggregate's event with version 1. (Reading the aggregate
/// versions inside the SERIALIZABLE transaction made such commits serialization conflicts often
/// enough to exhaust the retries.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_unrelated_aggregates_all_commit_on_postgres() {
    let Some(db) = TestDb::postgres("concurrent_commands_on_unrelated_aggregates", vec![]).await else {
        return;
    };
    let h = harness_on(db, |r| {
        r.listen_queued(WriteLedger(Arc::new(Probe::default())), options())
    })
    .await;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let bus = h.bus.clone();
        callers.spawn(async move {
            for _ in 0..20 {
                bus.retrying(|| async {
                    let mut uow = bus.begin();
                    for _ in 0..5 {
                        uow.record(ItemCreated {
                            item_id: uuid::Uuid::now_v7().to_string(),
                            name: "item".into(),
                        });
                    }
                    uow.commit().await
                })
                .await?;
            }
            Ok::<_, shared_kernel::UowError>(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM domain_event_log WHERE aggregate_version = 1").await,
        3200
    );
    assert_eq!(count(&h, "SELECT COUNT(*) FROM jobs").await, 3200);
    h.db.cleanup().await;
}
