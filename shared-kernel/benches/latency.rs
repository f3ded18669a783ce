//! Enqueue-to-start latency of a queued listener under offered load, and memory per event in
//! flight (DESIGN.md §7). A bench binary that prints its figures:
//! `cargo bench -p shared-kernel --bench latency`.
//!
//! Latency: a producer commits units of work at a fixed offered rate (one tick per millisecond,
//! each unit of work recording `rate / 1000` events with one queued listener), while a worker runs
//! in the same process on the same fresh SQLite file (WAL, `synchronous=NORMAL`). For each job,
//! the time from the producer's commit returning to the listener starting is recorded; the
//! figures are percentiles over every job of the run.
//!
//! Across processes (issue 14): the same, with the worker in **another process** (this binary run
//! again as a worker, `LATENCY_WORKER_URL` set), on SQLite and, with
//! `ENTERAKSI_TEST_POSTGRES_URL`, PostgreSQL. The worker learns of commits only as a separate
//! node would: `LISTEN/NOTIFY` on PostgreSQL, `PRAGMA data_version` on SQLite (its poll
//! interval is 30 s, so polling does not help). The worker runs 2 slots, as `enteraksi queue
//! work` does by default (`LATENCY_SLOTS=1` for one). Times are wall-clock (`SystemTime`, one clock
//! for both processes on this machine): the producer's commit (stamped by a commit observer the
//! bus tells right after it, before PostgreSQL's `NOTIFY`), the listener starting.
//!
//! Memory: a counting global allocator measures the bytes held by a unit of work with 1,000
//! recorded and dispatched events (before commit), and the peak bytes a worker holds while it
//! claims and runs a batch of 1,000 jobs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    CommitObserver, Database, DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions,
    QueuedListener, Registry, SharedEnvelope, Worker, WorkerOptions, shutdown_channel,
};

/// Counts the bytes currently allocated and the peak since the last reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enrolled {
    seq: usize,
    enrollment_id: String,
    user_id: String,
    course_id: String,
}

impl DomainEvent for Enrolled {
    const NAME: &'static str = "enrollment.created";
    const AGGREGATE_TYPE: &'static str = "enrollment";
    fn aggregate_id(&self) -> String {
        self.enrollment_id.clone()
    }
}

fn event(seq: usize) -> Enrolled {
    Enrolled {
        seq,
        enrollment_id: uuid::Uuid::now_v7().to_string(),
        user_id: uuid::Uuid::now_v7().to_string(),
        course_id: uuid::Uuid::now_v7().to_string(),
    }
}

/// When each job's commit returned and when its listener started, by sequence number.
struct Stamps {
    committed: Mutex<Vec<Option<Instant>>>,
    started: Mutex<Vec<Option<Instant>>>,
}

impl Stamps {
    fn with_capacity(n: usize) -> Arc<Self> {
        Arc::new(Self {
            committed: Mutex::new(vec![None; n]),
            started: Mutex::new(vec![None; n]),
        })
    }
}

struct Stamp(Arc<Stamps>);

#[async_trait]
impl QueuedListener<Enrolled> for Stamp {
    const NAME: &'static str = "Stamp";
    async fn handle(&self, event: &Envelope<Enrolled>, _job: &mut JobContext) -> Result<(), ListenerError> {
        let now = Instant::now();
        self.0.started.lock().unwrap()[event.event().seq] = Some(now);
        Ok(())
    }
}

async fn bus_with(stamps: Arc<Stamps>) -> (TestDb, EventBus) {
    let db = TestDb::new(vec![]).await;
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued(Stamp(stamps), QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    (db, bus)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Offers `rate` jobs/s for `seconds`, then waits for every job to start.
async fn latency(rate: usize, seconds: u64) {
    let per_tick = rate / 1000;
    let total = per_tick * 1000 * seconds as usize;
    let stamps = Stamps::with_capacity(total);
    let (_db, bus) = bus_with(stamps.clone()).await;
    let (trigger, shutdown) = shutdown_channel();
    let worker = Worker::new(bus.clone(), WorkerOptions::new(["default"]));
    let running = tokio::spawn(async move { worker.run(shutdown).await });

    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut seq = 0;
    while seq < total {
        ticks.tick().await;
        let mut uow = bus.begin();
        let first = seq;
        for _ in 0..per_tick {
            uow.record(event(seq));
            seq += 1;
        }
        uow.commit().await.unwrap();
        let now = Instant::now();
        let mut committed = stamps.committed.lock().unwrap();
        for slot in &mut committed[first..seq] {
            *slot = Some(now);
        }
    }
    let offered_for = start.elapsed();
    // Wait for the worker to start every job.
    let deadline = Instant::now() + Duration::from_secs(120);
    while stamps.started.lock().unwrap().iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "the worker did not run every job in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trigger.trigger();
    running.await.unwrap().unwrap();

    let committed = stamps.committed.lock().unwrap();
    let started = stamps.started.lock().unwrap();
    let mut latencies: Vec<Duration> = committed
        .iter()
        .zip(started.iter())
        .map(|(c, s)| s.unwrap().saturating_duration_since(c.unwrap()))
        .collect();
    latencies.sort();
    println!(
        "latency/sqlite: offered {rate:>5} jobs/s ({per_tick} per commit, 1 commit/ms): achieved {:>5.0} jobs/s over {total} jobs; \
         enqueue-to-start p50 {}, p90 {}, p99 {}, max {}",
        total as f64 / offered_for.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
}

/// Wall-clock nanoseconds since the epoch: comparable between processes on one machine.
fn wall() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// Records when each job started, in wall-clock time; the worker process prints them.
struct WallStamp(Arc<Mutex<Vec<Option<u128>>>>);

#[async_trait]
impl QueuedListener<Enrolled> for WallStamp {
    const NAME: &'static str = "Stamp";
    async fn handle(&self, event: &Envelope<Enrolled>, _job: &mut JobContext) -> Result<(), ListenerError> {
        let now = wall();
        self.0.lock().unwrap()[event.event().seq] = Some(now);
        Ok(())
    }
}

/// Stamps the wall-clock time each job's unit of work committed, by sequence number.
struct CommitStamp(Arc<Mutex<Vec<u128>>>);

impl CommitObserver for CommitStamp {
    fn committed(&self, events: &[SharedEnvelope]) {
        let now = wall();
        let mut committed = self.0.lock().unwrap();
        for event in events {
            if let Some(enrolled) = event.downcast::<Enrolled>() {
                committed[enrolled.event().seq] = now;
            }
        }
    }
}

/// The worker process's slots: `LATENCY_SLOTS`, by default 2 as `enteraksi queue work` runs.
fn worker_slots() -> usize {
    std::env::var("LATENCY_SLOTS").map_or(2, |s| s.parse().expect("LATENCY_SLOTS is a number"))
}

/// The worker process: runs `LATENCY_JOBS` jobs on `LATENCY_WORKER_URL` with a 30 s poll
/// interval, then prints `seq nanos` per job.
async fn worker_process(url: &str) {
    let total: usize = std::env::var("LATENCY_JOBS").unwrap().parse().unwrap();
    let started = Arc::new(Mutex::new(vec![None; total]));
    let db = Database::connect(url).await.unwrap();
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued(WallStamp(started.clone()), QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db, Arc::new(registry)).build();
    let (trigger, shutdown) = shutdown_channel();
    let worker = Worker::new(
        bus,
        WorkerOptions::new(["default"])
            .concurrency(worker_slots())
            .poll_interval(Duration::from_secs(30)),
    );
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    // Give the worker its first claim and its LISTEN connection before the producer starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("ready");
    std::io::stdout().flush().unwrap();
    while started.lock().unwrap().iter().any(Option::is_none) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trigger.trigger();
    running.await.unwrap().unwrap();
    for (seq, at) in started.lock().unwrap().iter().enumerate() {
        println!("{seq} {}", at.unwrap());
    }
}

/// Offers `rate` jobs/s for `seconds` on `db` to a worker in another process.
async fn latency_across_processes(backend: &str, db: &TestDb, rate: usize, seconds: u64) {
    let per_tick = rate / 1000;
    let total = per_tick * 1000 * seconds as usize;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("LATENCY_WORKER_URL", db.url())
        .env("LATENCY_JOBS", total.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // The producer's registry knows the listener (so it enqueues its jobs) but runs no worker.
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued(WallStamp(Arc::new(Mutex::new(Vec::new()))), QueueOptions::on("default"))
        .build()
        .unwrap();
    // Each job's time is its commit's, stamped by an observer the bus tells right after the
    // commit (before the `NOTIFY` that follows it on PostgreSQL, and before `commit` returns to
    // a task that may then wait for the runtime).
    let committed = Arc::new(Mutex::new(vec![0u128; total]));
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .observer(Arc::new(CommitStamp(committed.clone())))
        .build();
    // One unit of work per millisecond, each in its own task, so that a commit slower than a
    // millisecond (PostgreSQL's round trips) does not lower the offered rate.
    let mut commits = tokio::task::JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut seq = 0;
    while seq < total {
        ticks.tick().await;
        let first = seq;
        seq += per_tick;
        let bus = bus.clone();
        commits.spawn(async move {
            // As every command does: a serialization conflict on PostgreSQL runs it again.
            bus.retrying(|| async {
                let mut uow = bus.begin();
                for n in first..first + per_tick {
                    uow.record(event(n));
                }
                uow.commit().await
            })
            .await
            .unwrap();
        });
    }
    commits.join_all().await;
    let committed = committed.lock().unwrap().clone();
    let offered_for = start.elapsed();
    let mut latencies: Vec<Duration> = lines
        .map(Result::unwrap)
        .map(|line| {
            let (seq, at) = line.split_once(' ').unwrap();
            let (seq, at): (usize, u128) = (seq.parse().unwrap(), at.parse().unwrap());
            Duration::from_nanos(at.saturating_sub(committed[seq]) as u64)
        })
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(latencies.len(), total);
    latencies.sort();
    println!(
        "latency/{backend}, worker in another process ({} slots): offered {rate:>5} jobs/s: achieved {:>5.0} jobs/s over {total} jobs; \
         enqueue-to-start p50 {}, p90 {}, p99 {}, max {}",
        worker_slots(),
        total as f64 / offered_for.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
}

async fn memory() {
    const EVENTS: usize = 1000;
    let stamps = Stamps::with_capacity(EVENTS);
    let (_db, bus) = bus_with(stamps).await;

    // A unit of work holding 1,000 recorded and dispatched events (their audit rows included).
    let before = CURRENT.load(Ordering::Relaxed);
    let mut uow = bus.begin();
    for seq in 0..EVENTS {
        uow.record(event(seq));
    }
    uow.dispatch().await.unwrap();
    let held = CURRENT.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "memory: a unit of work with {EVENTS} recorded and dispatched events holds {:.0} KB ({:.2} MB per 1,000 events)",
        held as f64 / 1024.0,
        held as f64 / EVENTS as f64 / 1024.0 / 1024.0 * 1000.0
    );
    uow.commit().await.unwrap();

    // A worker claiming and running those 1,000 jobs in one batch.
    let worker = Worker::new(bus.clone(), WorkerOptions::new(["default"]).batch_size(EVENTS));
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let report = worker.run_until_empty().await.unwrap();
    assert_eq!(report.processed, EVENTS as u64);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "memory: a worker running a batch of {EVENTS} jobs peaks at {:.0} KB above its idle state ({:.2} MB per 1,000 jobs)",
        peak as f64 / 1024.0,
        peak as f64 / EVENTS as f64 / 1024.0 / 1024.0 * 1000.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter after `--` selects latency or memory.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(url) = std::env::var("LATENCY_WORKER_URL") {
        rt.block_on(worker_process(&url));
        return;
    }
    rt.block_on(async {
        if wanted("latency") {
            latency(1000, 5).await;
            latency(5000, 5).await;
        }
        if wanted("processes") {
            for rate in [1000, 5000] {
                let db = TestDb::new(vec![]).await;
                latency_across_processes("sqlite", &db, rate, 5).await;
                db.cleanup().await;
                match TestDb::postgres("latency across processes", vec![]).await {
                    Some(db) => {
                        latency_across_processes("postgres", &db, rate, 5).await;
                        db.cleanup().await;
                    }
                    None => println!("latency/postgres, worker in another process: NOT RUN (no PostgreSQL)"),
                }
            }
        }
        if wanted("memory") {
            memory().await;
        }
    });
}
