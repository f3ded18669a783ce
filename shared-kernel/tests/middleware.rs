//! Listener middleware and priorities, on SQLite and PostgreSQL.
//!
//! * Across two worker **processes** (this test binary run again as a worker, selected by
//!   [`WORKER_ROLE`]): a rate limit of 5 per second holds over a run of 50 jobs, measured from the
//!   start times the jobs record; two jobs with the same overlap key never run at once while jobs
//!   with other keys do, measured from recorded start and end times.
//! * `max_exceptions` buries after that many failures, and releases by a limit count neither a
//!   try nor an exception (with the injectable clock, no sleeping).
//! * A higher-priority job of a queue is claimed before older lower-priority ones, and the
//!   order of queues still comes first.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{
    Backend, Database, Envelope, EventBus, JobContext, ListenerError, ManualClock, Priority, QueueOptions,
    QueuedListener, RateLimit, Registry, Worker, WorkerOptions, shutdown_channel,
};

/// The environment variable that makes this binary a worker process: `rate` or `overlap`.
const WORKER_ROLE: &str = "ENTERAKSI_TEST_MIDDLEWARE_WORKER";
/// The database the worker process works on.
const WORKER_DB: &str = "ENTERAKSI_TEST_MIDDLEWARE_DB";
/// How many runs the worker process waits for before it stops.
const WORKER_EXPECT: &str = "ENTERAKSI_TEST_MIDDLEWARE_EXPECT";

/// The table the listeners of the process tests record their runs in.
const RUNS: &str = "CREATE TABLE runs (item TEXT NOT NULL, lock_key TEXT NOT NULL, pid BIGINT NOT NULL, \
                    started_at BIGINT NOT NULL, ended_at BIGINT NOT NULL)";

fn wall_micros() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()).unwrap()
}

/// The overlap key of a test item: its name up to the first `-` (`k1-07` → `k1`).
fn key_of(name: &str) -> String {
    name.split('-').next().unwrap_or(name).to_owned()
}

/// Records its start time (and runs for `busy`), in the job's unit of work.
struct Recorder {
    busy: Duration,
}

#[async_trait]
impl QueuedListener<ItemCreated> for Recorder {
    const NAME: &'static str = "Recorder";
    async fn handle(&self, event: &Envelope<ItemCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        let started = wall_micros();
        tokio::time::sleep(self.busy).await;
        let ended = wall_micros();
        sqlx::query("INSERT INTO runs (item, lock_key, pid, started_at, ended_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(event.event().name.clone())
            .bind(key_of(&event.event().name))
            .bind(i64::from(std::process::id()))
            .bind(started)
            .bind(ended)
            .execute(job.uow().conn().await?)
            .await?;
        Ok(())
    }
    fn overlap_key(&self, event: &Envelope<ItemCreated>) -> String {
        key_of(&event.event().name)
    }
}

fn process_registry(role: &str) -> Registry {
    let options = QueueOptions::on("default");
    let (options, busy) = match role {
        "rate" => (
            options.rate_limit(RateLimit::new(5, Duration::from_secs(1)).unwrap()),
            Duration::ZERO,
        ),
        "overlap" => (
            options.without_overlapping(Duration::from_millis(20)),
            Duration::from_millis(150),
        ),
        other => panic!("unknown worker role `{other}`"),
    };
    Registry::builder()
        .listen_queued::<ItemCreated, _>(Recorder { busy }, options)
        .build()
        .unwrap()
}

/// The entry point of the worker processes the process tests start: it does nothing unless
/// [`WORKER_ROLE`] is set. Then it works the `default` queue with two slots until the `runs`
/// table holds [`WORKER_EXPECT`] rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process_entry_point() {
    let Ok(role) = std::env::var(WORKER_ROLE) else { return };
    let url = std::env::var(WORKER_DB).unwrap();
    let expect: i64 = std::env::var(WORKER_EXPECT).unwrap().parse().unwrap();
    let db = Database::connect(&url).await.unwrap();
    let bus = EventBus::builder(db.clone(), Arc::new(process_registry(&role))).build();
    let (trigger, shutdown) = shutdown_channel();
    let worker = Worker::new(
        bus,
        WorkerOptions::new(["default"])
            .concurrency(2)
            .batch_size(4)
            .poll_interval(Duration::from_millis(10)),
    );
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    loop {
        let (done,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        if done >= expect {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    trigger.trigger();
    running.await.unwrap().unwrap();
}

/// Starts this test binary as a worker process of `role` on `url`.
fn spawn_worker(role: &str, url: &str, expect: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "worker_process_entry_point",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ROLE, role)
        .env(WORKER_DB, url)
        .env(WORKER_EXPECT, expect.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start a worker process")
}

/// Waits for both worker processes (at most two minutes) and checks they succeeded.
fn wait_for(mut children: Vec<Child>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    for child in &mut children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a worker process failed: {status}");
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("a worker process did not finish in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

type Run = (String, String, i64, i64, i64);

async fn runs(db: &TestDb) -> Vec<Run> {
    sqlx::query_as("SELECT item, lock_key, pid, started_at, ended_at FROM runs ORDER BY started_at")
        .fetch_all(db.db().pool())
        .await
        .unwrap()
}

on_both!(a_rate_limit_holds_across_two_worker_processes, rate_scenario);
async fn rate_scenario(db: TestDb) {
    sqlx::raw_sql(RUNS).execute(db.db().writer()).await.unwrap();
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(process_registry("rate"))).build();
    for i in 0..50 {
        create_item(&bus, &format!("r-{i:02}")).await.unwrap();
    }

    wait_for(vec![
        spawn_worker("rate", db.url(), 50),
        spawn_worker("rate", db.url(), 50),
    ]);

    let runs = runs(&db).await;
    assert_eq!(runs.len(), 50, "every job ran once");
    let starts: Vec<i64> = runs.iter().map(|r| r.3).collect();
    // Every window of one second that begins at a start holds at most 5 starts (a window
    // holding more would hold more from its first start in it on).
    for (i, first) in starts.iter().enumerate() {
        let within = starts[i..].iter().take_while(|s| **s < first + 1_000_000).count();
        assert!(
            within <= 5,
            "{within} starts within a second from the {i}th: {starts:?}"
        );
    }
    let span = starts[49] - starts[0];
    assert!(
        span >= 9_000_000,
        "50 runs at 5 per second take at least 9 s, took {span} µs"
    );
    let pids: std::collections::HashSet<i64> = runs.iter().map(|r| r.2).collect();
    assert_eq!(pids.len(), 2, "both worker processes ran jobs");
    let (attempts, left): (Option<i64>, i64) = sqlx::query_as("SELECT MAX(attempts), COUNT(*) FROM jobs")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!((attempts, left), (None, 0), "every job acknowledged");
    db.cleanup().await;
}

on_both!(
    jobs_with_one_overlap_key_never_run_at_once_across_two_processes,
    overlap_scenario
);
async fn overlap_scenario(db: TestDb) {
    sqlx::raw_sql(RUNS).execute(db.db().writer()).await.unwrap();
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(process_registry("overlap"))).build();
    for i in 0..4 {
        for key in ["k1", "k2", "k3"] {
            create_item(&bus, &format!("{key}-{i}")).await.unwrap();
        }
    }

    wait_for(vec![
        spawn_worker("overlap", db.url(), 12),
        spawn_worker("overlap", db.url(), 12),
    ]);

    let runs = runs(&db).await;
    assert_eq!(runs.len(), 12, "every job ran once");
    let overlaps = |a: &Run, b: &Run| a.3 < b.4 && b.3 < a.4;
    let mut other_keys_overlapped = false;
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            if a.1 == b.1 {
                assert!(!overlaps(a, b), "{a:?} and {b:?} share a key and overlapped");
            } else if overlaps(a, b) {
                other_keys_overlapped = true;
            }
        }
    }
    assert!(
        other_keys_overlapped,
        "jobs with other keys ran at the same time: {runs:?}"
    );
    let pids: std::collections::HashSet<i64> = runs.iter().map(|r| r.2).collect();
    assert_eq!(pids.len(), 2, "both worker processes ran jobs");
    let (locks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM overlap_locks")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(locks, 0, "every lock was given back");
    db.cleanup().await;
}

/// Fails every time, counting its runs.
#[derive(Clone, Default)]
struct Failing(Arc<Mutex<u32>>);

#[async_trait]
impl QueuedListener<ItemCreated> for Failing {
    const NAME: &'static str = "Failing";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        *self.0.lock().unwrap() += 1;
        Err(ListenerError::msg("the provider is down"))
    }
    fn overlap_key(&self, _event: &Envelope<ItemCreated>) -> String {
        "provider".to_owned()
    }
}

/// Counts its runs, rate-limited to one per minute.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<u32>>);

#[async_trait]
impl QueuedListener<ItemCreated> for Counting {
    const NAME: &'static str = "Counting";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

/// Holds the overlap lock of `key` for `listener` as another worker would, for an hour of queue
/// time (the kernel clock on SQLite, the database's clock plus the clock's offset on PostgreSQL).
async fn hold_lock(db: &Database, clock: &ManualClock, listener: &str, key: &str) {
    use shared_kernel::Clock as _;
    let hour = 3_600_000_000_i64;
    let (sql, at) = match db.backend() {
        Backend::Sqlite => (
            "INSERT INTO overlap_locks (listener, lock_key, holder, expires_at) VALUES ($1, $2, 'elsewhere', $3)",
            clock.now().timestamp_micros() + hour,
        ),
        Backend::Postgres => (
            "INSERT INTO overlap_locks (listener, lock_key, holder, expires_at) VALUES ($1, $2, 'elsewhere', \
             CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT) + $3)",
            clock.database_offset().num_microseconds().unwrap() + hour,
        ),
    };
    sqlx::query(sql)
        .bind(listener.to_owned())
        .bind(key.to_owned())
        .bind(at)
        .execute(db.writer())
        .await
        .unwrap();
}

async fn job_counts(db: &Database, listener: &str) -> Option<(i64, i64)> {
    sqlx::query_as("SELECT attempts, exceptions FROM jobs WHERE listener = $1")
        .bind(listener.to_owned())
        .fetch_optional(db.pool())
        .await
        .unwrap()
}

on_both!(
    max_exceptions_buries_after_failures_not_after_releases,
    exceptions_scenario
);
async fn exceptions_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let failing = Failing::default();
    let counting = Counting::default();
    let registry = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            failing.clone(),
            QueueOptions::on("default")
                .tries(10)
                .max_exceptions(2)
                .backoff([Duration::from_secs(60)])
                .jitter(0.0)
                .without_overlapping(Duration::from_secs(60)),
        )
        .listen_queued::<ItemCreated, _>(
            counting.clone(),
            QueueOptions::on("default")
                .tries(1)
                .rate_limit(RateLimit::new(1, Duration::from_secs(3600)).unwrap()),
        )
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .clock(clock.clone())
        .build();
    create_item(&bus, "first").await.unwrap();
    hold_lock(db.db(), &clock, "Failing", "provider").await;

    // `Failing`'s key is held elsewhere; `Counting` runs once and then its limit is reached.
    drain(&bus).await;
    assert_eq!(*counting.0.lock().unwrap(), 1);
    create_item(&bus, "second").await.unwrap();
    for _ in 0..5 {
        drain(&bus).await;
        clock.advance(chrono::Duration::seconds(61));
    }
    assert_eq!(*failing.0.lock().unwrap(), 0, "the held key kept it from running");
    assert_eq!(*counting.0.lock().unwrap(), 1, "the limit kept the second from running");
    assert_eq!(
        job_counts(db.db(), "Counting").await,
        Some((0, 0)),
        "five releases by the rate limit used no try"
    );
    let (failing_jobs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE listener = 'Failing' AND attempts = 0 AND exceptions = 0")
            .fetch_one(db.db().pool())
            .await
            .unwrap();
    assert_eq!(
        failing_jobs, 2,
        "releases by the overlap lock counted neither tries nor exceptions"
    );

    // An hour on, the lock has expired and the limit frees: the second `Counting` job succeeds
    // with its only try; `Failing` fails twice per job and is buried, with 8 tries unused.
    clock.advance(chrono::Duration::hours(1));
    for _ in 0..3 {
        drain(&bus).await;
        clock.advance(chrono::Duration::seconds(61));
    }
    assert_eq!(*counting.0.lock().unwrap(), 2);
    assert_eq!(job_counts(db.db(), "Counting").await, None, "acknowledged");
    assert_eq!(*failing.0.lock().unwrap(), 4, "two failures for each of the two jobs");
    let buried: Vec<(String, i64)> = sqlx::query_as("SELECT listener, attempts FROM failed_jobs ORDER BY id")
        .fetch_all(db.db().pool())
        .await
        .unwrap();
    assert_eq!(buried, [("Failing".to_owned(), 2), ("Failing".to_owned(), 2)]);
    db.cleanup().await;
}

/// Records which listener ran for which item, in order.
#[derive(Clone)]
struct Ordered(&'static str, Arc<Mutex<Vec<String>>>);

macro_rules! ordered_listener {
    ($name:ident) => {
        struct $name(Ordered);

        #[async_trait]
        impl QueuedListener<ItemCreated> for $name {
            const NAME: &'static str = stringify!($name);
            async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
                let Ordered(tag, seen) = &self.0;
                seen.lock().unwrap().push(format!("{tag}:{}", event.event().name));
                Ok(())
            }
        }
    };
}

ordered_listener!(Urgent);
ordered_listener!(Usual);
ordered_listener!(Whenever);
ordered_listener!(Elsewhere);

on_both!(
    a_higher_priority_job_is_claimed_before_older_lower_priority_ones,
    priority_scenario
);
async fn priority_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            Whenever(Ordered("low", seen.clone())),
            QueueOptions::on("default").priority(Priority::Low),
        )
        .listen_queued::<ItemCreated, _>(Usual(Ordered("normal", seen.clone())), QueueOptions::on("default"))
        .listen_queued::<ItemCreated, _>(
            Urgent(Ordered("high", seen.clone())),
            QueueOptions::on("default").priority(Priority::High),
        )
        .listen_queued::<ItemCreated, _>(
            Elsewhere(Ordered("later-queue", seen.clone())),
            QueueOptions::on("later").priority(Priority::High),
        )
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .clock(clock.clone())
        .build();
    for name in ["a", "b", "c"] {
        create_item(&bus, name).await.unwrap();
        clock.advance(chrono::Duration::seconds(1));
    }

    // One job per claim, so the claim's order is the run order.
    Worker::new(bus.clone(), WorkerOptions::new(["default", "later"]).batch_size(1))
        .run_until_empty()
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "high:a",
            "high:b",
            "high:c",
            "normal:a",
            "normal:b",
            "normal:c",
            "low:a",
            "low:b",
            "low:c",
            "later-queue:a",
            "later-queue:b",
            "later-queue:c"
        ],
        "priority within a queue, the queues' order above it"
    );
    db.cleanup().await;
}

#[test]
fn max_exceptions_above_tries_or_zero_is_refused_at_registration() {
    for bad in [0, 4] {
        let refused = Registry::builder()
            .listen_queued::<ItemCreated, _>(
                Counting::default(),
                QueueOptions::on("default").tries(3).max_exceptions(bad),
            )
            .build();
        assert!(refused.is_err(), "max_exceptions {bad}");
    }
    let zero_wait = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            Counting::default(),
            QueueOptions::on("default").without_overlapping(Duration::ZERO),
        )
        .build();
    assert!(zero_wait.is_err());
}
