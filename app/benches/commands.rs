//! Commands per second with app's **real** registration: enrolling learners in a published
//! course (`EnrollmentService::enroll`: the enrollment row, `UserEnrolled` and its state
//! transition, their audit rows, and the jobs of the welcome, the inactivity reminder and the
//! webhook fan-out), from 1 and 32 concurrent callers in process, with group commit off (one
//! transaction per command: the figure before it) and on, interleaved in each round because this
//! machine is noisy. On PostgreSQL (with `ENTERAKSI_TEST_POSTGRES_URL`) group commit is off by
//! default; its figures are shown beside. `cargo bench -p app --bench commands`
//! (`COMMAND_LEARNERS` per run, default 4,000; `COMMAND_ROUNDS`, default 3).
//!
//! `cargo bench -p app --bench commands -- floor`: the experiment behind the floor of one
//! command per transaction on SQLite — how many statements one enroll sends to the database (a
//! layer counting sqlx's statement events; a text of several statements is one), what one round
//! trip to sqlx's SQLite worker thread costs (`SELECT 1` on the write connection), and the
//! command's measured time beside their product.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use app::config::Config;
use app::{Application, StartOptions};
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;
use shared_kernel::testing::TestDb;
use shared_kernel::users::create_user;
use shared_kernel::{CourseId, EventBus, UserId};

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A started application on a fresh database, a published course and `learners` users.
async fn setup(backend: Backend, learners: usize, group_commit: bool) -> (Application, TestDb, CourseId, Vec<UserId>) {
    let migrators = app::provider::migrators();
    let db = match backend {
        Backend::Sqlite => TestDb::new(migrators).await,
        Backend::Postgres => TestDb::postgres("commands bench", migrators)
            .await
            .expect("PostgreSQL configured"),
    };
    let url = db.url().to_owned();
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "MAIL_TRANSPORT" => Some("log".to_owned()),
        _ => None,
    })
    .unwrap();
    let options = StartOptions {
        group_commit: Some(group_commit),
        ..StartOptions::default()
    };
    let app = Application::start_with(&config, options).await.unwrap();
    let bus = app.bus();
    let instructor = user(bus, "instructor").await;
    let courses = CourseService::new(bus.clone(), Arc::new(app::adapters::EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Kursus", "").await.unwrap();
    courses
        .add_lesson(instructor, course, "Bab 1", LessonKind::Content)
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    let mut users = Vec::with_capacity(learners);
    for i in 0..learners {
        users.push(user(bus, &format!("learner{i}")).await);
    }
    (app, db, course, users)
}

async fn user(bus: &EventBus, name: &str) -> UserId {
    let mut uow = bus.begin();
    let user = create_user(uow.conn().await.unwrap(), name, &format!("{name}@bench.test"), "id")
        .await
        .unwrap();
    uow.commit().await.unwrap();
    user.id()
}

/// Enrolls every learner from `callers` concurrent tasks; returns (commands/s, p50, p99).
async fn run(
    bus: &EventBus,
    course: CourseId,
    learners: Arc<Vec<UserId>>,
    callers: usize,
) -> (f64, Duration, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let (bus, learners, next) = (bus.clone(), learners.clone(), next.clone());
        tasks.spawn(async move {
            let service = EnrollmentService::new(bus);
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&learner) = learners.get(i) else { break };
                let sent = Instant::now();
                service.enroll(learner, learner, course).await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.unwrap());
    }
    let took = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (latencies.len() as f64 / took.as_secs_f64(), at(0.5), at(0.99))
}

/// Counts sqlx's statement events (one per statement text sent, i.e. per round trip).
struct CountStatements(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn floor(rt: &tokio::runtime::Runtime) {
    use tracing_subscriber::layer::SubscriberExt;
    let statements = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(CountStatements(statements.clone()))
        .with(tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::DEBUG));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    const N: usize = 2000;
    for round in 1..=3 {
        rt.block_on(async {
            let (app, db, course, users) = setup(Backend::Sqlite, N, false).await;
            // One round trip: `SELECT 1` on the held write connection, one at a time; and the
            // smallest write transaction (BEGIN IMMEDIATE, one INSERT, COMMIT).
            let mut conn = app.db().writer().acquire().await.unwrap();
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS floor_probe (n BIGINT)")
                .execute(&mut *conn)
                .await
                .unwrap();
            let started = Instant::now();
            for _ in 0..N {
                sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
            }
            let round_trip = started.elapsed() / N as u32;
            let started = Instant::now();
            for i in 0..N {
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await.unwrap();
                sqlx::query("INSERT INTO floor_probe (n) VALUES ($1)")
                    .bind(i as i64)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
            }
            let smallest_transaction = started.elapsed() / N as u32;
            drop(conn);
            let before = statements.load(Ordering::Relaxed);
            let (rate, p50, _) = run(app.bus(), course, Arc::new(users), 1).await;
            let per_command = (statements.load(Ordering::Relaxed) - before) as f64 / N as f64;
            app.db().close().await;
            db.cleanup().await;
            // Besides its logged statements an enroll sends BEGIN and COMMIT (not logged): the
            // smallest transaction stands for BEGIN + one statement + COMMIT.
            let predicted = smallest_transaction.as_secs_f64() + round_trip.as_secs_f64() * (per_command - 1.0);
            let measured = 1.0 / rate;
            println!(
                "round {round}: round trip {:.0} µs; smallest write transaction {:.0} µs; {per_command:.1} statements \
                 per enroll → database floor {:.0} µs (at most {:.0} commands/s); measured {:.0} µs per enroll \
                 ({rate:.0} commands/s, p50 {:.0} µs), {:.0} µs of it outside the database round trips",
                round_trip.as_secs_f64() * 1e6,
                smallest_transaction.as_secs_f64() * 1e6,
                predicted * 1e6,
                1.0 / predicted,
                measured * 1e6,
                p50.as_secs_f64() * 1e6,
                (measured - predicted) * 1e6
            );
        });
    }
}

fn main() {
    let learners: usize = std::env::var("COMMAND_LEARNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rounds: usize = std::env::var("COMMAND_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let postgres = std::env::var(shared_kernel::testing::POSTGRES_URL_VAR).is_ok();
    if !postgres {
        eprintln!(
            "NOT RUN: the PostgreSQL figures; set {}",
            shared_kernel::testing::POSTGRES_URL_VAR
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().skip(1).any(|a| a == "floor") {
        floor(&rt);
        return;
    }
    println!("enroll commands, {learners} per run; rounds interleaved");
    for round in 1..=rounds {
        let mut runs = vec![("sqlite", Backend::Sqlite, false), ("sqlite", Backend::Sqlite, true)];
        if postgres {
            runs.push(("postgres", Backend::Postgres, false));
        }
        for (name, backend, group_commit) in runs {
            let mut figures = Vec::new();
            for callers in [1, 32] {
                rt.block_on(async {
                    let (app, db, course, users) = setup(backend, learners, group_commit).await;
                    let (rate, p50, p99) = run(app.bus(), course, Arc::new(users), callers).await;
                    app.db().close().await;
                    db.cleanup().await;
                    figures.push(format!(
                        "{callers:>2} caller(s): {rate:>6.0} commands/s (p50 {:.2} ms, p99 {:.2} ms)",
                        p50.as_secs_f64() * 1e3,
                        p99.as_secs_f64() * 1e3
                    ));
                });
            }
            let mode = if group_commit {
                "group commit"
            } else {
                "one commit each"
            };
            println!("round {round} {name:<8} {mode:<15} {}", figures.join("   "));
        }
    }
}
