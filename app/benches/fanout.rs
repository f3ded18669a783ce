//! Broadcast fan-out: `FANOUT_SUBSCRIBERS` (default 1,000) concurrent SSE subscribers of the
//! public `courses` channel over loopback, on the **real** server (`app::server::serve`, app's
//! registration, the broadcast log and tailer), while courses are published through the real
//! service at `FANOUT_RATE` per second (default 50) for `FANOUT_PUBLISHES` (default 200)
//! publications. Each publication is one `course.published` message to every subscriber.
//!
//! Reported per round: commit-to-delivery latency (from the command's return, i.e. its commit, to
//! the message read by the subscriber's socket) p50/p99/max over every delivery, messages
//! delivered per second, and deliveries missing (must be 0). SQLite and (with
//! `ENTERAKSI_TEST_POSTGRES_URL`) PostgreSQL rounds interleave, `FANOUT_ROUNDS` (default 2) each.
//! `cargo bench -p app --bench fanout`.
//!
//! The server has a runtime of its own (two threads, as `enteraksi serve` on this two-core
//! machine); the subscribers (raw TCP clients parsing the stream) and the publisher share a
//! second one, so the figures include the clients' own work on the same two cores.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use app::adapters::EnrollmentCountsFromEnrollments;
use app::config::Config;
use app::{Application, StartOptions};
use course::{CourseService, LessonKind};
use shared_kernel::testing::TestDb;
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{CourseId, UserId, shutdown_channel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// When each course's publication committed, by course id.
type Published = Arc<RwLock<HashMap<String, Instant>>>;

struct Round {
    latencies: Vec<Duration>,
    delivered: usize,
    expected: usize,
    elapsed: Duration,
    subscribers: usize,
}

async fn subscriber(address: String, token: String, published: Published, want: usize) -> Vec<Duration> {
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /api/broadcasting/stream?channels=courses HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut latencies = Vec::with_capacity(want);
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    while latencies.len() < want {
        let read = match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        let at = Instant::now();
        buffer.extend_from_slice(&chunk[..read]);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
                continue;
            };
            let Some(course) = value.get("course_id").and_then(|c| c.as_str()) else {
                continue;
            };
            // The command returns after its commit; a delivery may beat the return by a hair.
            let committed = published.read().unwrap().get(course).copied();
            latencies.push(committed.map_or(Duration::ZERO, |c| at.saturating_duration_since(c)));
        }
    }
    latencies
}

async fn round(
    server: &tokio::runtime::Handle,
    db: TestDb,
    subscribers: usize,
    publishes: usize,
    rate: usize,
) -> Round {
    let url = db.url().to_owned();
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
    let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
    let now = chrono::Utc::now();
    let mut uow = app.bus().begin();
    let conn = uow.conn().await.unwrap();
    let user = create_user_with_role(conn, "Bu Ratna", "ratna@fanout.test", Role::Instructor, now)
        .await
        .unwrap();
    let token = issue_token(conn, user.id(), now).await.unwrap().expose().to_owned();
    uow.commit().await.unwrap();
    let instructor: UserId = user.id();
    let courses = CourseService::new(app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let mut drafts: Vec<CourseId> = Vec::with_capacity(publishes);
    for i in 0..publishes {
        let course = courses.create(instructor, &format!("Kursus {i}"), "").await.unwrap();
        courses
            .add_lesson(instructor, course, "Bab 1", LessonKind::Content)
            .await
            .unwrap();
        drafts.push(course);
    }

    // The listener is made on the server's runtime, whose reactor then serves it.
    let listener = server
        .spawn(app::server::listen("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (trigger, shutdown) = shutdown_channel();
    let served = app.clone();
    let running = server
        .spawn(async move { app::server::serve(&served, listener, &[], 0, Duration::from_secs(5), shutdown).await });

    let published: Published = Arc::new(RwLock::new(HashMap::new()));
    let connected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (address, token, published, connected) =
            (address.clone(), token.clone(), published.clone(), connected.clone());
        clients.push(tokio::spawn(async move {
            connected.fetch_add(1, Ordering::Relaxed);
            subscriber(address, token, published, publishes).await
        }));
    }
    // Every subscriber is registered with the hub before the first publication.
    let started = Instant::now();
    while app.live().subscribers() < subscribers && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let subscribed = app.live().subscribers();

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let first = Instant::now();
    for (i, course) in drafts.iter().enumerate() {
        let due = first + interval * u32::try_from(i).unwrap();
        tokio::time::sleep_until(due.into()).await;
        courses.publish(instructor, *course).await.unwrap();
        published.write().unwrap().insert(course.to_string(), Instant::now());
    }
    let mut latencies = Vec::with_capacity(subscribers * publishes);
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = first.elapsed();
    trigger.trigger();
    running.await.unwrap().unwrap();
    app.db().close().await;
    db.cleanup().await;
    Round {
        delivered: latencies.len(),
        expected: subscribers * publishes,
        latencies,
        elapsed,
        subscribers: subscribed,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let subscribers = knob("FANOUT_SUBSCRIBERS", 1_000);
    let publishes = knob("FANOUT_PUBLISHES", 200);
    let rate = knob("FANOUT_RATE", 50);
    let rounds = knob("FANOUT_ROUNDS", 2);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let postgres = std::env::var("ENTERAKSI_TEST_POSTGRES_URL").is_ok();
    println!(
        "fan-out: {subscribers} SSE subscribers of `courses`, {publishes} publications at {rate}/s, {rounds} rounds per backend"
    );
    for n in 1..=rounds {
        for backend in ["sqlite", "postgres"] {
            if backend == "postgres" && !postgres {
                if n == 1 {
                    println!("postgres: not run (ENTERAKSI_TEST_POSTGRES_URL is not set)");
                }
                continue;
            }
            let result = clients.block_on(async {
                let db = match backend {
                    "sqlite" => TestDb::new(app::provider::migrators()).await,
                    _ => TestDb::postgres("fanout bench", app::provider::migrators())
                        .await
                        .unwrap(),
                };
                round(server.handle(), db, subscribers, publishes, rate).await
            });
            let mut sorted = result.latencies.clone();
            sorted.sort();
            println!(
                "round {n} {backend:8}: {} subscribed, {}/{} delivered ({} missing) in {:.2} s = {:.0} messages/s; \
                 commit-to-delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                result.subscribers,
                result.delivered,
                result.expected,
                result.expected - result.delivered,
                result.elapsed.as_secs_f64(),
                result.delivered as f64 / result.elapsed.as_secs_f64(),
                percentile(&sorted, 0.50).as_secs_f64() * 1000.0,
                percentile(&sorted, 0.99).as_secs_f64() * 1000.0,
                sorted.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
            );
        }
    }
}
