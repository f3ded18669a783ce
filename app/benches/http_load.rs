//! The **real** HTTP server under load over loopback, on SQLite (with group commit, its default,
//! and with one commit per command, as before group commit) and (with
//! `ENTERAKSI_TEST_POSTGRES_URL`) PostgreSQL; interleaved rounds in one run, a fresh database per
//! round, because this machine is noisy. `cargo bench -p app --bench http_load` (a bench binary
//! printing its figures).
//!
//! The server is `app::server::serve` with app's real registration and its queue workers
//! embedded, as `enteraksi serve` runs it, on a runtime of its own (two threads, as
//! `#[tokio::main]` gives on this two-core machine); the clients run on a second runtime of the
//! same process and share one `reqwest::Client` (keep-alive connections, one per client task).
//! Logging is `enteraksi serve`'s default (`warn` to stderr), so server faults show with their
//! cause. Failed requests are counted by route, status and error code, never retried.
//!
//! Per round, untimed: an instructor (made directly, with a token) authors and publishes a course
//! of two content lessons over HTTP; `LOAD_LEARNERS` learners sign up over HTTP
//! (`POST /api/users`), their tokens kept.
//!
//! * **writes**: `LOAD_CLIENTS` client tasks take learners from a shared counter; for each, the
//!   learner enrolls (`POST /api/courses/{id}/enrollments`) and completes the first lesson
//!   (`POST /api/enrollments/{eid}/lessons/{lesson}/complete`): two write requests per learner,
//!   each request's latency measured from sending to the whole body received.
//! * the queue backlog the writes left (welcome notifications, mail) is drained by the embedded
//!   workers before the reads (untimed, reported).
//! * **reads**: `LOAD_CLIENTS` client tasks alternate `GET /api/courses` and
//!   `GET /api/me/enrollments`, each request with the next learner's token, for `LOAD_SECONDS`.
//!
//! Knobs: `LOAD_LEARNERS` (default 2,000), `LOAD_CLIENTS` (default 32), `LOAD_SECONDS` (default
//! 5), `LOAD_WORKERS` (embedded worker slots, default 2 as `enteraksi serve`), `LOAD_ROUNDS`
//! (default 3).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use app::config::Config;
use app::{Application, StartOptions};
use serde_json::{Value, json};
use shared_kernel::testing::TestDb;
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{ShutdownTrigger, WorkerReport, shutdown_channel};

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    async fn db(self) -> TestDb {
        match self {
            Backend::Sqlite => TestDb::new(app::provider::migrators()).await,
            Backend::Postgres => TestDb::postgres("http load bench", app::provider::migrators())
                .await
                .expect("PostgreSQL configured"),
        }
    }
}

/// A whole number from the environment, at least `least`, or `default`.
fn knob(name: &str, default: usize, least: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v >= least)
        .unwrap_or(default)
}

/// The server, running on the server runtime.
struct Served {
    app: Application,
    db: TestDb,
    base: String,
    instructor: String,
    trigger: ShutdownTrigger,
    running: tokio::task::JoinHandle<anyhow::Result<WorkerReport>>,
}

async fn start(backend: Backend, workers: usize, group_commit: Option<bool>) -> Served {
    let db = backend.db().await;
    let url = db.url().to_owned();
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "MAIL_TRANSPORT" => Some("log".to_owned()),
        _ => None,
    })
    .unwrap();
    let options = StartOptions {
        group_commit,
        ..StartOptions::default()
    };
    let app = Application::start_with(&config, options).await.unwrap();
    let mut uow = app.bus().begin();
    let now = chrono::Utc::now();
    let conn = uow.conn().await.unwrap();
    let user = create_user_with_role(conn, "Bu Ratna", "ratna@bench.test", Role::Instructor, now)
        .await
        .unwrap();
    let instructor = issue_token(conn, user.id(), now).await.unwrap().expose().to_owned();
    uow.commit().await.unwrap();

    let listener = app::server::listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = shutdown_channel();
    let served = app.clone();
    let running = tokio::spawn(async move {
        app::server::serve(&served, listener, &[], workers, Duration::from_secs(30), shutdown).await
    });
    Served {
        app,
        db,
        base,
        instructor,
        trigger,
        running,
    }
}

async fn stop(served: Served) -> WorkerReport {
    served.trigger.trigger();
    let report = served.running.await.unwrap().unwrap();
    served.app.db().close().await;
    served.db.cleanup().await;
    report
}

async fn count(app: &Application, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(app.db().pool()).await.unwrap();
    n
}

/// Waits (up to two minutes) until the embedded workers have emptied the queues; returns the
/// time it took. Without workers (`LOAD_WORKERS=0`) it does not wait.
async fn drained(app: &Application, workers: usize) -> Duration {
    let started = Instant::now();
    while workers > 0
        && count(app, app::workload::JOBS_BUT_REMINDERS).await > 0
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// One request: its status, its latency (to the whole body received) and its body.
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (reqwest::StatusCode, Duration, String) {
    let started = Instant::now();
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, started.elapsed(), text)
}

async fn post_ok(client: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let (status, _, text) = call(client, reqwest::Method::POST, url, token, Some(&body)).await;
    assert!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {body}"))
        .to_owned()
}

/// What the load phases need: the course, its first lesson, the learners' tokens.
struct Setup {
    course: String,
    lesson: String,
    tokens: Vec<String>,
    signups_took: Duration,
}

/// The untimed setup, over HTTP: the course authored and published, the learners signed up
/// (`clients` at a time).
async fn setup(client: &reqwest::Client, base: &str, instructor: &str, learners: usize, clients: usize) -> Setup {
    let course = id(&post_ok(
        client,
        &format!("{base}/api/courses"),
        Some(instructor),
        json!({"title": "Rust Dasar", "description": "Dari nol"}),
    )
    .await);
    let mut lessons = Vec::new();
    for title in ["Variabel", "Fungsi"] {
        lessons.push(id(&post_ok(
            client,
            &format!("{base}/api/courses/{course}/lessons"),
            Some(instructor),
            json!({"title": title, "kind": "content"}),
        )
        .await));
    }
    post_ok(
        client,
        &format!("{base}/api/courses/{course}/publish"),
        Some(instructor),
        json!({}),
    )
    .await;
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, next, url) = (client.clone(), next.clone(), format!("{base}/api/users"));
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= learners {
                    break mine;
                }
                let body = json!({"name": format!("Pelajar {i}"), "email": format!("learner{i}@bench.test")});
                let signed = post_ok(&client, &url, None, body).await;
                mine.push(signed["token"].as_str().unwrap().to_owned());
            }
        }));
    }
    let mut tokens = Vec::with_capacity(learners);
    for task in tasks {
        tokens.extend(task.await.unwrap());
    }
    Setup {
        course,
        lesson: lessons.swap_remove(0),
        tokens,
        signups_took: started.elapsed(),
    }
}

/// A timed phase: requests answered as expected, the others, wall time, CPU time of this
/// process (server and clients), every latency.
struct Phase {
    ok: usize,
    errors: Errors,
    took: Duration,
    cpu: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn gather(results: Vec<(usize, Errors, Vec<Duration>)>, took: Duration, cpu: Duration) -> Self {
        let mut phase = Phase {
            ok: 0,
            errors: Errors::new(),
            took,
            cpu,
            latencies: Vec::new(),
        };
        for (ok, errors, latencies) in results {
            phase.ok += ok;
            for (what, n) in errors {
                *phase.errors.entry(what).or_default() += n;
            }
            phase.latencies.extend(latencies);
        }
        phase.latencies.sort_unstable();
        phase
    }

    fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64) * q).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.took.as_secs_f64()
    }

    fn describe(&self) -> String {
        format!(
            "{:>6.0} req/s ({} in {:.2} s{}), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, CPU {:.0}%",
            self.rate(),
            self.ok,
            self.took.as_secs_f64(),
            if self.errors.is_empty() {
                String::new()
            } else {
                let failed: Vec<String> = self.errors.iter().map(|(what, n)| format!("{n}× {what}")).collect();
                format!(", FAILED: {}", failed.join(", "))
            },
            ms(self.quantile(0.50)),
            ms(self.quantile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            100.0 * self.cpu.as_secs_f64() / self.took.as_secs_f64(),
        )
    }
}

/// Failed requests by route, status and error code.
type Errors = BTreeMap<String, usize>;

fn failed(errors: &mut Errors, route: &str, status: reqwest::StatusCode, text: &str) {
    let code = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|body| body["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    *errors.entry(format!("{route} {} {code}", status.as_u16())).or_default() += 1;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User and system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes the struct it is given; RUSAGE_SELF is a valid target.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The write phase: each client takes learners; enroll, then complete the first lesson.
async fn writes(client: &reqwest::Client, base: &str, setup: &Setup, clients: usize) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(setup.tokens.clone());
    let cpu = cpu_time();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, next, tokens) = (client.clone(), next.clone(), tokens.clone());
        let enroll = format!("{base}/api/courses/{}/enrollments", setup.course);
        let (base, lesson) = (base.to_owned(), setup.lesson.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0, Errors::new(), Vec::new());
            let empty = json!({});
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else {
                    break (ok, errors, latencies);
                };
                let (status, took, text) =
                    call(&client, reqwest::Method::POST, &enroll, Some(token), Some(&empty)).await;
                latencies.push(took);
                if status != reqwest::StatusCode::CREATED {
                    failed(&mut errors, "enroll", status, &text);
                    continue;
                }
                ok += 1;
                let enrollment = id(&serde_json::from_str(&text).unwrap());
                let complete = format!("{base}/api/enrollments/{enrollment}/lessons/{lesson}/complete");
                let (status, took, text) =
                    call(&client, reqwest::Method::POST, &complete, Some(token), Some(&empty)).await;
                latencies.push(took);
                if status == reqwest::StatusCode::OK {
                    ok += 1;
                } else {
                    failed(&mut errors, "complete", status, &text);
                }
            }
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    Phase::gather(results, started.elapsed(), cpu_time() - cpu)
}

/// The read phase: each client alternates the catalog and the caller's enrollments, with the
/// next learner's token each time, until `seconds` have passed.
async fn reads(client: &reqwest::Client, base: &str, setup: &Setup, clients: usize, seconds: u64) -> Phase {
    let tokens = Arc::new(setup.tokens.clone());
    let urls = Arc::new([format!("{base}/api/courses"), format!("{base}/api/me/enrollments")]);
    let cpu = cpu_time();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for task in 0..clients {
        let (client, tokens, urls) = (client.clone(), tokens.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0, Errors::new(), Vec::new());
            let mut k = 0usize;
            while Instant::now() < deadline {
                let token = &tokens[(task + k * clients) % tokens.len()];
                let (status, took, text) = call(&client, reqwest::Method::GET, &urls[k % 2], Some(token), None).await;
                latencies.push(took);
                if status == reqwest::StatusCode::OK {
                    ok += 1;
                } else {
                    failed(&mut errors, ["catalog", "mine"][k % 2], status, &text);
                }
                k += 1;
            }
            (ok, errors, latencies)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    Phase::gather(results, started.elapsed(), cpu_time() - cpu)
}

fn main() {
    let learners = knob("LOAD_LEARNERS", 2000, 1);
    let clients = knob("LOAD_CLIENTS", 32, 1);
    let seconds = knob("LOAD_SECONDS", 5, 1) as u64;
    let workers = knob("LOAD_WORKERS", 2, 0);
    let rounds = knob("LOAD_ROUNDS", 3, 1);
    // Logging as `enteraksi serve` sets it up by default: warnings and errors on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,sqlx::postgres::notice=error"))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    // SQLite with its default (group commit on) and with one commit per command (the server
    // before group commit), interleaved; PostgreSQL (group commit off there).
    let mut backends = vec![
        (Backend::Sqlite, None, "sqlite"),
        (Backend::Sqlite, Some(false), "sqlite, one commit per command"),
    ];
    match std::env::var(shared_kernel::testing::POSTGRES_URL_VAR) {
        Ok(_) => backends.push((Backend::Postgres, None, "postgres")),
        Err(_) => eprintln!(
            "NOT RUN: the PostgreSQL HTTP load; set {}",
            shared_kernel::testing::POSTGRES_URL_VAR
        ),
    }
    // The server's runtime, as `#[tokio::main]` builds it on this machine, and the clients' own.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .unwrap();
    println!(
        "HTTP load over loopback: {clients} clients, {learners} learners (2 write requests each), \
         reads for {seconds} s; server with {workers} embedded worker slots; {} cores; rounds interleaved",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for round in 1..=rounds {
        for &(backend, group_commit, label) in &backends {
            let served = server_rt.block_on(start(backend, workers, group_commit));
            let client = client_rt.block_on(async {
                reqwest::Client::builder()
                    .pool_max_idle_per_host(usize::MAX)
                    .tcp_nodelay(true)
                    .build()
                    .unwrap()
            });
            let setup = client_rt.block_on(setup(&client, &served.base, &served.instructor, learners, clients));
            // The welcome jobs of the sign-ups, out of the way of the timed phases.
            server_rt.block_on(drained(&served.app, workers));
            let write = client_rt.block_on(writes(&client, &served.base, &setup, clients));
            let (backlog, drain, enrolled, failed) = server_rt.block_on(async {
                let backlog = count(&served.app, app::workload::JOBS_BUT_REMINDERS).await;
                let drain = drained(&served.app, workers).await;
                let enrolled = count(&served.app, "SELECT COUNT(*) FROM enrollments").await;
                let failed = count(&served.app, "SELECT COUNT(*) FROM failed_jobs").await;
                (backlog, drain, enrolled, failed)
            });
            let read = client_rt.block_on(reads(&client, &served.base, &setup, clients, seconds));
            drop(client);
            let report = server_rt.block_on(stop(served));
            println!(
                "round {round} {label}\n                 writes: {}\n                 reads:  {}\n                 \
                 (sign-ups {:.0}/s untimed; {enrolled} enrollments; {backlog} jobs waiting after the writes, \
                 drained in {:.2} s; worker processed {}, failed jobs {failed})",
                write.describe(),
                read.describe(),
                learners as f64 / setup.signups_took.as_secs_f64(),
                drain.as_secs_f64(),
                report.processed,
            );
        }
    }
}
