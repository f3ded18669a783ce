//! Draining the queues with app's **real** listeners, beside a drain of no-op listeners, on
//! SQLite and (with `ENTERAKSI_TEST_POSTGRES_URL`) PostgreSQL; interleaved rounds in one run,
//! because this machine is noisy. `cargo bench -p app --bench drain` (a bench binary printing
//! its figures; `DRAIN_LEARNERS` sets the size, default 2,000, about 34,000 jobs; `DRAIN_ROUNDS`
//! the rounds, default 3).
//!
//! Real work per learner: enrolled in a published learning path of two one-lesson courses, then
//! the first course's lesson completed. The drain then runs, with the `log` mail transport: the
//! course and path welcome notifications, the completion congratulation, the certificate, the
//! path progress (which unlocks the second course and enrolls the learner in it, whose welcome
//! follows), and one mail job per notification — about ten jobs per learner, each in its own
//! transaction. The no-op drain runs the same number of jobs through a listener that does
//! nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::config::Config;
use app::{Application, StartOptions};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::DEFAULT_SHARED_JOBS;
use shared_kernel::testing::TestDb;
use shared_kernel::{
    Database, DbOptions, DomainEvent, Envelope, EventBus, JobContext, ListenerError, QueueOptions, QueuedListener,
    Registry, Worker, WorkerOptions,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick {
    id: String,
}

impl DomainEvent for Tick {
    const NAME: &'static str = "bench.tick";
    const AGGREGATE_TYPE: &'static str = "tick";
    fn aggregate_id(&self) -> String {
        self.id.clone()
    }
}

struct Noop;

#[async_trait]
impl QueuedListener<Tick> for Noop {
    const NAME: &'static str = "Noop";
    async fn handle(&self, event: &Envelope<Tick>, _job: &mut JobContext) -> Result<(), ListenerError> {
        std::hint::black_box(event);
        Ok(())
    }
}

enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn db(&self, migrators: Vec<sqlx::migrate::Migrator>) -> TestDb {
        match self {
            Backend::Sqlite => TestDb::new(migrators).await,
            Backend::Postgres => TestDb::postgres("drain bench", migrators)
                .await
                .expect("PostgreSQL configured"),
        }
    }
}

/// Prepares `learners` learners' work with the real registration; returns the application, the
/// test database and how many jobs wait.
async fn real_work(backend: &Backend, learners: usize) -> (Application, TestDb, i64) {
    let db = backend.db(app::provider::migrators()).await;
    let url = db.url().to_owned();
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "MAIL_TRANSPORT" => Some("log".to_owned()),
        _ => None,
    })
    .unwrap();
    let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
    app::workload::path_learners(app.bus(), learners, "bench.test")
        .await
        .unwrap();
    let (jobs,): (i64,) = sqlx::query_as(app::workload::JOBS_BUT_REMINDERS)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    (app, db, jobs)
}

/// Drains every queue with one worker (default options, but `shared` jobs to a shared
/// transaction); returns (jobs run, time).
async fn drain(bus: &EventBus, queues: Vec<String>, shared: usize) -> (u64, Duration) {
    let started = Instant::now();
    let report = Worker::new(bus.clone(), WorkerOptions::new(queues).shared_transaction(shared))
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!(report.failed, 0);
    (report.processed, started.elapsed())
}

/// `jobs` no-op jobs; with `durable_bookkeeping` every queue statement waits for the WAL flush
/// (PostgreSQL; see `DbOptions::durable_bookkeeping`).
async fn noop_work(backend: &Backend, jobs: i64, durable_bookkeeping: bool) -> (EventBus, TestDb) {
    let db = backend.db(vec![]).await;
    let registry = Registry::builder()
        .listen_queued(Noop, QueueOptions::on("default"))
        .build()
        .unwrap();
    let options = DbOptions {
        durable_bookkeeping,
        ..DbOptions::default()
    };
    let handle = Database::connect_with(db.url(), options).await.unwrap();
    let bus = EventBus::builder(handle, Arc::new(registry)).build();
    let mut left = jobs;
    while left > 0 {
        let mut uow = bus.begin();
        for _ in 0..left.min(100) {
            uow.record(Tick {
                id: uuid::Uuid::now_v7().to_string(),
            });
        }
        uow.commit().await.unwrap();
        left -= 100;
    }
    (bus, db)
}

/// Drains the real work with `processes` `enteraksi queue work` processes (each with its
/// default slots); returns the jobs they report and the time until the queues were empty (then
/// they are sent SIGTERM). `--stop-when-empty` would not do: a process stops when nothing is
/// claimable, which a job waiting for its retry also is.
async fn drain_with_processes(app: &Application, url: &str, processes: usize) -> (u64, Duration) {
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_enteraksi"))
                .env("DATABASE_URL", url)
                .env("MAIL_TRANSPORT", "log")
                .env("ENTERAKSI_LOG", "error")
                .args(["queue", "work"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    loop {
        let (left,): (i64,) = sqlx::query_as(app::workload::JOBS_BUT_REMINDERS)
            .fetch_one(app.db().pool())
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not drained in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let mut jobs = 0;
    for child in children {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        // "Processed N jobs, …"
        let text = String::from_utf8_lossy(&output.stdout);
        jobs += text
            .lines()
            .find_map(|l| l.strip_prefix("Processed ")?.split(' ').next()?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("queue work reports what it processed: {text}"));
    }
    let (failed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM failed_jobs")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(failed, 0, "no job failed");
    (jobs, took)
}

fn rate(jobs: u64, took: Duration) -> String {
    format!(
        "{:>8.0} jobs/s ({jobs} jobs in {:.2} s)",
        jobs as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    )
}

fn main() {
    let learners: usize = std::env::var("DRAIN_LEARNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // `cargo bench -p app --bench drain -- processes`: the drain by several `queue work`
    // processes instead.
    let processes = std::env::args().skip(1).any(|a| a == "processes");
    let mut backends = vec![Backend::Sqlite];
    match std::env::var(shared_kernel::testing::POSTGRES_URL_VAR) {
        Ok(_) => backends.push(Backend::Postgres),
        Err(_) => eprintln!(
            "NOT RUN: the PostgreSQL drain; set {}",
            shared_kernel::testing::POSTGRES_URL_VAR
        ),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if processes {
        println!("drain by 1, 2 and 4 `queue work` processes, {learners} learners' work per round; rounds interleaved");
        for round in 1..=3 {
            for backend in &backends {
                let mut figures = Vec::new();
                for processes in [1, 2, 4] {
                    rt.block_on(async {
                        let (app, db, _) = real_work(backend, learners).await;
                        let (jobs, took) = drain_with_processes(&app, db.url(), processes).await;
                        app.db().close().await;
                        db.cleanup().await;
                        figures.push(format!("{processes} process(es): {}", rate(jobs, took)));
                    });
                }
                println!("round {round} {:<8} {}", backend.name(), figures.join("   "));
            }
        }
        return;
    }
    println!(
        "drain with one worker, {learners} learners' work per round: one job per transaction (before), \
         {DEFAULT_SHARED_JOBS} jobs to a shared transaction (now), no-op listener; rounds interleaved"
    );
    let rounds: usize = std::env::var("DRAIN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for round in 1..=rounds {
        for backend in &backends {
            rt.block_on(async {
                let mut figures = Vec::new();
                let mut real_jobs = 0;
                for (label, shared) in [
                    ("one job per transaction", 1),
                    ("shared transactions", DEFAULT_SHARED_JOBS),
                ] {
                    let (app, db, waiting) = real_work(backend, learners).await;
                    let queues = app.queues();
                    let (jobs, took) = drain(app.bus(), queues, shared).await;
                    app.db().close().await;
                    db.cleanup().await;
                    real_jobs = jobs;
                    figures.push(format!("{label}: {} [{waiting} waiting]", rate(jobs, took)));
                }
                // Path progress alone: the other queues drained first, untimed; then the
                // `default` queue, where the path-progress jobs wait.
                for (label, shared) in [
                    ("path progress, one per transaction", 1),
                    ("path progress, shared", DEFAULT_SHARED_JOBS),
                ] {
                    let (app, db, _) = real_work(backend, learners).await;
                    let others: Vec<String> = app.queues().into_iter().filter(|q| q != "default").collect();
                    drain(app.bus(), others, shared).await;
                    let (jobs, took) = drain(app.bus(), vec!["default".to_owned()], shared).await;
                    app.db().close().await;
                    db.cleanup().await;
                    figures.push(format!("{label}: {}", rate(jobs, took)));
                }
                let (bus, db) = noop_work(backend, i64::try_from(real_jobs).unwrap(), false).await;
                let (jobs, took) = drain(&bus, vec!["default".to_owned()], 1).await;
                bus.db().close().await;
                drop(bus);
                db.cleanup().await;
                figures.push(format!("no-op: {}", rate(jobs, took)));
                println!("round {round} {:<8} {}", backend.name(), figures.join("   "));
            });
        }
    }
}
