//! The delivery guarantees at the edges, each proved on SQLite and on PostgreSQL: batches that
//! outlive their lease, slots of one worker, successful jobs never buried, workers killed
//! mid-batch, graceful shutdown, slow and failing mail, reads inside a job, nested units of work,
//! concurrent read-then-write units of work, aggregate versions and paged failed jobs.
//!
//! Leases are milliseconds of wall time where a test needs real concurrency, and the injectable
//! clock where it needs a lease to end.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use serde::{Deserialize, Serialize};
use shared_kernel::notifications::{
    AppUrl, MailError, MailMessage, MailTransport, Notification, NotificationSender, Notifier, OutgoingMail, SendMail,
    notification_queue_options,
};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::users::{User, create_user};
use shared_kernel::{
    Database, DomainEvent, Envelope, EventBus, JobContext, JobFailure, ListenerError, LogDomainEvent, ManualClock,
    Queue, QueueError, QueueOptions, QueuedListener, Registry, RegistryBuilder, SyncListener, UnitOfWork, UowError,
    UserId, Worker, WorkerOptions, shutdown_channel,
};
use tokio::sync::Notify;

// ---- events, listeners, harness ------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ItemMarked {
    item_id: String,
    seen: i64,
}

impl DomainEvent for ItemMarked {
    const NAME: &'static str = "item.marked";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

#[derive(Default)]
struct Probe {
    runs: Mutex<Vec<String>>,
    failed_hook: AtomicUsize,
    hang: AtomicBool,
    started: Notify,
    outcome: Mutex<Option<String>>,
}

impl Probe {
    fn runs(&self) -> Vec<String> {
        self.runs.lock().unwrap().clone()
    }
}

/// Queued: takes `millis` of wall time (or hangs while `hang`), records which item it ran for.
struct Slow(Arc<Probe>, u64);

#[async_trait]
impl QueuedListener<ItemCreated> for Slow {
    const NAME: &'static str = "Slow";
    async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.runs.lock().unwrap().push(event.event().name.clone());
        self.0.started.notify_one();
        if self.0.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(self.1)).await;
        Ok(())
    }
    async fn failed(&self, _event: &Envelope<ItemCreated>, _failure: &JobFailure) {
        self.0.failed_hook.fetch_add(1, Ordering::SeqCst);
    }
}

/// Queued: always fails (for failed jobs to page through).
struct Broken;

#[async_trait]
impl QueuedListener<ItemCreated> for Broken {
    const NAME: &'static str = "Broken";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        Err(ListenerError::msg("the carrier is down"))
    }
}

/// Queued: writes through its unit of work, then reads through `bus()` while that write
/// transaction is open.
struct WriteThenRead(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for WriteThenRead {
    const NAME: &'static str = "WriteThenRead";
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        sqlx::query("UPDATE items SET shipped = 1 WHERE id = $1")
            .bind(event.event().item_id.clone())
            .execute(job.uow().conn().await?)
            .await?;
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM items").fetch_one(job.bus().db().pool()),
        )
        .await;
        *self.0.outcome.lock().unwrap() = Some(match read {
            Ok(Ok((n,))) => format!("read {n}"),
            Ok(Err(e)) => format!("error {e}"),
            Err(_) => "timed out".to_owned(),
        });
        Ok(())
    }
}

/// Queued: opens a second unit of work on the bus while its own is open.
struct NestedInJob(Arc<Probe>);

#[async_trait]
impl QueuedListener<ItemCreated> for NestedInJob {
    const NAME: &'static str = "NestedInJob";
    async fn handle(&self, _event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        job.uow().conn().await?;
        let mut other = job.bus().begin();
        let opened = tokio::time::timeout(Duration::from_secs(5), other.conn()).await;
        *self.0.outcome.lock().unwrap() = Some(match opened {
            Ok(Err(UowError::Nested)) => "nested".to_owned(),
            Ok(Err(e)) => format!("error {e}"),
            Ok(Ok(_)) => "opened".to_owned(),
            Err(_) => "hung".to_owned(),
        });
        Ok(())
    }
}

/// Sync: opens a second unit of work on the bus inside the command's.
struct NestedInSync;

#[async_trait]
impl SyncListener<ItemCreated> for NestedInSync {
    const NAME: &'static str = "NestedInSync";
    async fn handle(&self, _event: &Envelope<ItemCreated>, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        let mut other = uow.bus().begin();
        other.conn().await?;
        Ok(())
    }
}

struct Hello;

impl Notification for Hello {
    fn notification_type(&self) -> &'static str {
        "test.hello"
    }
    fn to_mail(&self, to: &User, _app: &AppUrl) -> MailMessage {
        MailMessage::new("Halo").greeting(format!("Halo, {}!", to.name()))
    }
    fn to_database(&self, _to: &User) -> serde_json::Value {
        serde_json::json!({ "message": "Halo" })
    }
}

/// Queued: notifies the user named by the item (its `name` is the user id).
struct Greet(Arc<dyn NotificationSender>);

#[async_trait]
impl QueuedListener<ItemCreated> for Greet {
    const NAME: &'static str = "Greet";
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        let to = UserId::parse(&event.event().name).map_err(|e| ListenerError::permanent(e.to_string()))?;
        self.0.send(job, to, &Hello).await?;
        Ok(())
    }
}

/// A mail transport that holds each send until released (a mail server as slow as the test
/// wants), or fails while `down`.
#[derive(Default)]
struct TestTransport {
    gate: Option<Arc<tokio::sync::Semaphore>>,
    entered: Notify,
    down: AtomicBool,
    sent: Mutex<Vec<OutgoingMail>>,
}

#[async_trait]
impl MailTransport for TestTransport {
    fn name(&self) -> &'static str {
        "test"
    }
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(MailError::Address("mail server down".into()));
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

struct Harness {
    db: TestDb,
    bus: EventBus,
}

async fn harness(
    db: TestDb,
    clock: Option<Arc<ManualClock>>,
    register: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
) -> Harness {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let bus = bus_on(db.db().clone(), clock, register);
    Harness { db, bus }
}

fn bus_on(
    db: Database,
    clock: Option<Arc<ManualClock>>,
    register: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
) -> EventBus {
    let registry = register(Registry::builder().listen_all_sync(LogDomainEvent, &[]))
        .build()
        .unwrap();
    let builder = EventBus::builder(db, Arc::new(registry));
    match clock {
        Some(clock) => builder.clock(clock).build(),
        None => builder.build(),
    }
}

fn options() -> QueueOptions {
    QueueOptions::on("default")
        .tries(3)
        .backoff([Duration::from_secs(10)])
        .jitter(0.0)
        .timeout(Duration::from_secs(30))
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await.unwrap();
    n
}

/// Runs workers until the jobs table is empty (or 30 s pass), then stops them; returns the
/// total processed.
async fn run_until_jobs_done(h: &Harness, workers: Vec<Worker>) -> u64 {
    let (trigger, shutdown) = shutdown_channel();
    let mut running = tokio::task::JoinSet::new();
    for (i, worker) in workers.into_iter().enumerate() {
        let shutdown = shutdown.clone();
        running.spawn(async move {
            // The second worker comes in after the first one's original lease has ended.
            tokio::time::sleep(Duration::from_millis(70 * i as u64)).await;
            worker.run(shutdown).await.unwrap()
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(h.db.db(), "SELECT COUNT(*) FROM jobs").await > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    trigger.trigger();
    let mut processed = 0;
    while let Some(report) = running.join_next().await {
        processed += report.unwrap().processed;
    }
    processed
}

async fn cleanup(h: Harness) {
    let Harness { db, bus, .. } = h;
    drop(bus);
    db.cleanup().await;
}

// ---- 1, 2: batches that outlive their lease ------------------------------------------------

/// Four jobs of 40 ms under a 60 ms lease, a second worker claiming from 70 ms on: each job runs
/// once, by one worker, and nothing is buried even with one try.
async fn overrun_batch_runs_each_job_once(db: TestDb) {
    let probe = Arc::new(Probe::default());
    let h = harness(db, None, |r| {
        r.listen_queued(Slow(probe.clone(), 40), options().tries(1))
    })
    .await;
    for i in 1..=4 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    let worker = || {
        Worker::new(
            h.bus.clone(),
            WorkerOptions::new(["default"])
                .lease(Duration::from_millis(60))
                .batch_size(4)
                .poll_interval(Duration::from_millis(5)),
        )
    };

    let processed = run_until_jobs_done(&h, vec![worker(), worker()]).await;

    let runs = probe.runs();
    assert_eq!(runs.len(), 4, "run order {runs:?}");
    assert_eq!(runs.iter().collect::<HashSet<_>>().len(), 4, "run order {runs:?}");
    assert_eq!(processed, 4);
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(
        probe.failed_hook.load(Ordering::SeqCst),
        0,
        "no successful job is buried"
    );
    cleanup(h).await;
}
on_both!(
    a_batch_outliving_its_lease_runs_each_job_once_and_buries_none,
    overrun_batch_runs_each_job_once
);

/// One worker's three slots over six 40 ms jobs under a 60 ms lease: no slot runs another's job.
async fn slots_of_one_worker_do_not_share_jobs(db: TestDb) {
    let probe = Arc::new(Probe::default());
    let h = harness(db, None, |r| {
        r.listen_queued(Slow(probe.clone(), 40), options().tries(1))
    })
    .await;
    for i in 1..=6 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    let worker = Worker::new(
        h.bus.clone(),
        WorkerOptions::new(["default"])
            .concurrency(3)
            .lease(Duration::from_millis(60))
            .batch_size(6)
            .poll_interval(Duration::from_millis(5)),
    );

    let processed = run_until_jobs_done(&h, vec![worker]).await;

    let runs = probe.runs();
    assert_eq!(runs.len(), 6, "run order {runs:?}");
    assert_eq!(runs.iter().collect::<HashSet<_>>().len(), 6, "run order {runs:?}");
    assert_eq!(processed, 6);
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM failed_jobs").await, 0);
    cleanup(h).await;
}
on_both!(
    slots_of_one_worker_never_run_the_same_job,
    slots_of_one_worker_do_not_share_jobs
);

// ---- 8: killed workers cost the started job a try, and nothing else --------------------------

/// A worker claims 8 jobs, hangs on the first and is killed, five times over: only the job that
/// started used tries; the other seven then run, and the hanging one is buried for its five
/// starts that never finished.
async fn killed_workers_use_tries_only_of_started_jobs(db: TestDb) {
    let probe = Arc::new(Probe::default());
    probe.hang.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::default());
    let h = harness(db, Some(clock.clone()), |r| {
        r.listen_queued(Slow(probe.clone(), 0), options().tries(5))
    })
    .await;
    for i in 1..=8 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    for _ in 0..5 {
        let worker = Worker::new(
            h.bus.clone(),
            WorkerOptions::new(["default"])
                .batch_size(8)
                .lease(Duration::from_secs(30)),
        );
        let (_trigger, shutdown) = shutdown_channel();
        let started = probe.started.notified();
        let running = tokio::spawn(async move { worker.run(shutdown).await });
        started.await;
        running.abort(); // killed mid-job
        let _ = running.await;
        clock.advance(chrono::Duration::seconds(31));
    }
    let attempts: Vec<(i64,)> = sqlx::query_as("SELECT attempts FROM jobs ORDER BY attempts DESC")
        .fetch_all(h.db.db().pool())
        .await
        .unwrap();
    let jobs: Vec<(String, i64, Option<String>, i64)> =
        sqlx::query_as("SELECT id, attempts, reserved_by, available_at FROM jobs ORDER BY id")
            .fetch_all(h.db.db().pool())
            .await
            .unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [5, 0, 0, 0, 0, 0, 0, 0],
        "listener runs {:?}; jobs (id, attempts, reserved by, available at) {jobs:?}",
        probe.runs()
    );

    probe.hang.store(false, Ordering::SeqCst);
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 7);
    assert_eq!(report.failed, 1);
    let failed = Queue::new(h.bus.clone()).failed_jobs(None, 10).await.unwrap();
    assert!(
        failed[0].exception.contains("stopped before finishing"),
        "{}",
        failed[0].exception
    );
    cleanup(h).await;
}
on_both!(
    killed_workers_use_up_tries_only_of_jobs_that_started,
    killed_workers_use_tries_only_of_started_jobs
);

/// A worker whose lease ended 31 s ago (on the injectable clock) frees its jobs by default.
async fn default_lease_frees_a_killed_workers_jobs_within_30_s(db: TestDb) {
    let probe = Arc::new(Probe::default());
    probe.hang.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::default());
    let h = harness(db, Some(clock.clone()), |r| {
        r.listen_queued(Slow(probe.clone(), 0), options())
    })
    .await;
    create_item(&h.bus, "1").await.unwrap();
    let worker = Worker::new(h.bus.clone(), WorkerOptions::new(["default"]));
    let (_trigger, shutdown) = shutdown_channel();
    let started = probe.started.notified();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    started.await;
    running.abort();
    let _ = running.await;
    probe.hang.store(false, Ordering::SeqCst);

    clock.advance(chrono::Duration::seconds(29));
    assert_eq!(drain(&h.bus).await.processed, 0, "the lease still holds");
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(drain(&h.bus).await.processed, 1);
    cleanup(h).await;
}
on_both!(
    the_default_lease_frees_a_killed_workers_jobs_within_30_seconds,
    default_lease_frees_a_killed_workers_jobs_within_30_s
);

// ---- 7: graceful shutdown ----------------------------------------------------------------------

/// Shutdown mid-batch with a 50 ms grace: the hanging job is cut short, it and the unstarted
/// rest are released, and none of them used a try.
async fn shutdown_releases_without_using_tries(db: TestDb) {
    let probe = Arc::new(Probe::default());
    probe.hang.store(true, Ordering::SeqCst);
    let h = harness(db, None, |r| r.listen_queued(Slow(probe.clone(), 0), options())).await;
    for i in 1..=3 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    let worker = Worker::new(
        h.bus.clone(),
        WorkerOptions::new(["default"]).grace(Duration::from_millis(50)),
    );
    let (trigger, shutdown) = shutdown_channel();
    let started = probe.started.notified();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    started.await;
    trigger.trigger();
    let report = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops within its grace period")
        .unwrap()
        .unwrap();

    assert_eq!(report.released, 3);
    assert_eq!(report.processed, 0);
    let held: Vec<(i64, Option<String>)> = sqlx::query_as("SELECT attempts, reserved_by FROM jobs")
        .fetch_all(h.db.db().pool())
        .await
        .unwrap();
    assert_eq!(held, vec![(0, None); 3]);
    probe.hang.store(false, Ordering::SeqCst);
    assert_eq!(drain(&h.bus).await.processed, 3, "released jobs are ready at once");
    cleanup(h).await;
}
on_both!(
    a_shutdown_mid_batch_releases_what_it_holds_without_using_tries,
    shutdown_releases_without_using_tries
);

// ---- 3, 9: mail outside the write lock, channels on their own ---------------------------------

async fn user(h: &Harness) -> UserId {
    let mut uow = h.bus.begin();
    let user = create_user(uow.conn().await.unwrap(), "Siti", "siti@example.id", "id")
        .await
        .unwrap();
    uow.commit().await.unwrap();
    user.id()
}

fn notifier(transport: Arc<TestTransport>) -> Arc<dyn NotificationSender> {
    Arc::new(Notifier::new(
        transport,
        AppUrl::parse("https://lms.example.id").unwrap(),
        "Enteraksi",
        "noreply@example.id",
    ))
}

/// While the mail server takes its time (here: until released), a command on a second
/// connection (another process's) commits, and the in-app notification is already visible.
async fn slow_mail_holds_no_write_lock(db: TestDb) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let transport = Arc::new(TestTransport {
        gate: Some(gate.clone()),
        ..TestTransport::default()
    });
    let h = harness(db, None, |r| {
        r.listen_queued(Greet(notifier(transport.clone())), notification_queue_options())
            .job(SendMail::new(transport.clone()), notification_queue_options())
    })
    .await;
    let to = user(&h).await;
    create_item(&h.bus, &to.to_string()).await.unwrap();
    let worker = Worker::new(h.bus.clone(), WorkerOptions::new(["notifications"]));
    let entered = transport.entered.notified();
    let draining = tokio::spawn(async move { worker.run_until_empty().await });
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .expect("the mail is being sent");

    // A second connection, as another process would have.
    let other = Database::connect(h.db.url()).await.unwrap();
    let other_bus = bus_on(other.clone(), None, |r| r);
    let committed = tokio::time::timeout(Duration::from_secs(5), create_item(&other_bus, "beside the mail")).await;
    assert!(
        matches!(committed, Ok(Ok(_))),
        "a command waited for the mail: {committed:?}"
    );
    assert_eq!(count(&other, "SELECT COUNT(*) FROM notifications").await, 1);

    gate.add_permits(1);
    let report = draining.await.unwrap().unwrap();
    assert_eq!(report.processed, 2, "the notification job and the mail job");
    assert_eq!(transport.sent.lock().unwrap().len(), 1);
    assert_eq!(
        count(h.db.db(), "SELECT COUNT(*) FROM notification_deliveries").await,
        1
    );
    other.close().await;
    cleanup(h).await;
}
on_both!(a_slow_mail_server_holds_no_database_lock, slow_mail_holds_no_write_lock);

/// With the mail server down, the in-app notification is stored at once; the mail is retried on
/// its own schedule and sent once it is back, with a Message-ID from its idempotency key.
async fn mail_down_withholds_nothing_else(db: TestDb) {
    let transport = Arc::new(TestTransport::default());
    transport.down.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::default());
    let h = harness(db, Some(clock.clone()), |r| {
        r.listen_queued(Greet(notifier(transport.clone())), notification_queue_options())
            .job(SendMail::new(transport.clone()), notification_queue_options())
    })
    .await;
    let to = user(&h).await;
    create_item(&h.bus, &to.to_string()).await.unwrap();

    let report = drain(&h.bus).await;

    assert_eq!((report.processed, report.retried), (1, 1));
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM notifications").await, 1);
    let (listener, attempts, error): (String, i64, Option<String>) =
        sqlx::query_as("SELECT listener, attempts, last_error FROM jobs")
            .fetch_one(h.db.db().pool())
            .await
            .unwrap();
    assert_eq!((listener.as_str(), attempts), ("SendMail", 1));
    assert!(error.unwrap().contains("mail server down"));

    transport.down.store(false, Ordering::SeqCst);
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(drain(&h.bus).await.processed, 1);
    let sent = transport.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].idempotency_key.ends_with(&format!("Greet:{to}:mail")));
    let message = String::from_utf8(sent[0].to_message().unwrap().formatted()).unwrap();
    assert!(message.contains("Message-ID: <"), "{message}");
    assert_eq!(
        count(h.db.db(), "SELECT COUNT(*) FROM notification_deliveries").await,
        1
    );
    cleanup(h).await;
}
on_both!(
    a_mail_server_that_is_down_withholds_no_in_app_notification,
    mail_down_withholds_nothing_else
);

// ---- 5: reads inside a job, nested units of work ----------------------------------------------

async fn reads_inside_a_job_do_not_wait(db: TestDb) {
    let probe = Arc::new(Probe::default());
    let h = harness(db, None, |r| r.listen_queued(WriteThenRead(probe.clone()), options())).await;
    create_item(&h.bus, "1").await.unwrap();

    assert_eq!(drain(&h.bus).await.processed, 1);

    assert_eq!(probe.outcome.lock().unwrap().as_deref(), Some("read 1"));
    cleanup(h).await;
}
on_both!(
    a_read_through_the_jobs_bus_does_not_wait_for_its_own_transaction,
    reads_inside_a_job_do_not_wait
);

async fn nested_units_of_work_fail_at_once(db: TestDb) {
    let h = harness(db, None, |r| r.listen_sync(NestedInSync)).await;

    let result = tokio::time::timeout(Duration::from_secs(5), create_item(&h.bus, "1"))
        .await
        .expect("a nested unit of work in a sync listener hung");
    let err = result.unwrap_err();
    assert!(
        matches!(&err, UowError::Listener { source, .. } if source.to_string().contains("inside another")),
        "{err:?}"
    );
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM items").await, 0);
    cleanup(h).await;
}
on_both!(
    a_nested_unit_of_work_in_a_sync_listener_is_an_immediate_typed_error,
    nested_units_of_work_fail_at_once
);

async fn nested_unit_of_work_in_a_job_fails_at_once(db: TestDb) {
    let probe = Arc::new(Probe::default());
    let h = harness(db, None, |r| r.listen_queued(NestedInJob(probe.clone()), options())).await;
    create_item(&h.bus, "2").await.unwrap();
    drain(&h.bus).await;
    assert_eq!(probe.outcome.lock().unwrap().as_deref(), Some("nested"));
    cleanup(h).await;
}
on_both!(
    a_nested_unit_of_work_in_a_job_is_an_immediate_typed_error,
    nested_unit_of_work_in_a_job_fails_at_once
);

// ---- 4: concurrent read-then-write units of work; aggregate versions ---------------------------

/// Eight units of work each add a mark to one item and record how many marks they saw: with
/// conflicts retried, they see 1 to 8, each once, and the item's events get versions 1 to 9.
async fn read_then_write_is_serializable(db: TestDb) {
    let h = harness(db, None, |r| r.event::<ItemMarked>()).await;
    let item = create_item(&h.bus, "marked").await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let bus = h.bus.clone();
        let item = item.clone();
        tasks.spawn(async move {
            let (bus, item) = (&bus, &item);
            bus.retrying(|| async move {
                let mut uow = bus.begin();
                let conn = uow.conn().await?;
                sqlx::query("INSERT INTO marks (item_id, n) VALUES ($1, 1)")
                    .bind(item.clone())
                    .execute(&mut *conn)
                    .await?;
                let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM marks WHERE item_id = $1")
                    .bind(item.clone())
                    .fetch_one(&mut *conn)
                    .await?;
                uow.record(ItemMarked {
                    item_id: item.clone(),
                    seen,
                });
                uow.commit().await?;
                Ok::<_, UowError>(seen)
            })
            .await
            .unwrap()
        });
    }
    let mut seen = Vec::new();
    while let Some(n) = tasks.join_next().await {
        seen.push(n.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=8).collect::<Vec<i64>>());

    let versions: Vec<(i64, String)> = sqlx::query_as(
        "SELECT aggregate_version, metadata FROM domain_event_log WHERE aggregate_id = $1 ORDER BY aggregate_version",
    )
    .bind(item)
    .fetch_all(h.db.db().pool())
    .await
    .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.0).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<i64>>()
    );
    cleanup(h).await;
}
on_both!(
    concurrent_read_then_write_units_of_work_serialize_and_version_their_aggregate,
    read_then_write_is_serializable
);

// ---- 10: paging --------------------------------------------------------------------------------

async fn failed_jobs_page(db: TestDb) {
    let h = harness(db, None, |r| r.listen_queued(Broken, options().tries(1))).await;
    for i in 0..5 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    assert_eq!(drain(&h.bus).await.failed, 5);
    let queue = Queue::new(h.bus.clone());

    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = queue.failed_jobs(after.as_deref(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|j| j.id.clone());
        pages.push(page.len());
    }

    assert_eq!(pages, [2, 2, 1]);
    let all = queue.failed_jobs(None, 100).await.unwrap();
    assert_eq!(all.iter().map(|j| &j.id).collect::<HashSet<_>>().len(), 5);
    assert!(matches!(
        queue.failed_jobs(Some("no-such-id"), 2).await,
        Err(QueueError::FailedJobNotFound(_))
    ));
    // Retrying all of them is two statements for their one (event, listener).
    assert_eq!(queue.retry_all().await.unwrap(), 5);
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM jobs").await, 5);
    assert_eq!(count(h.db.db(), "SELECT COUNT(*) FROM failed_jobs").await, 0);
    cleanup(h).await;
}
on_both!(failed_jobs_come_a_page_at_a_time, failed_jobs_page);

async fn audit_pages(db: TestDb) {
    let h = harness(db, None, |r| r).await;
    for i in 0..5 {
        create_item(&h.bus, &i.to_string()).await.unwrap();
    }
    let log = shared_kernel::AuditLog::new(h.db.db().clone());
    let all = log.query(&shared_kernel::AuditQuery::new()).await.unwrap();
    assert_eq!(all.len(), 5);

    let mut seen = Vec::new();
    let mut query = shared_kernel::AuditQuery::new().limit(2);
    loop {
        let page = log.query(&query).await.unwrap();
        let Some(last) = page.last() else { break };
        query = shared_kernel::AuditQuery::new().limit(2).after(last.event_id);
        seen.extend(page.iter().map(|e| e.event_id));
    }

    assert_eq!(seen, all.iter().map(|e| e.event_id).collect::<Vec<_>>());
    cleanup(h).await;
}
on_both!(the_audit_log_comes_a_page_at_a_time, audit_pages);
