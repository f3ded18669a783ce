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
//! Memory: a counting global allocator measures the bytes held by a unit of work with 1,000
//! recorded and dispatched events (before commit), and the peak bytes a worker holds while it
//! claims and runs a batch of 1,000 jobs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    Worker, WorkerOptions, shutdown_channel,
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
    rt.block_on(async {
        if wanted("latency") {
            latency(1000, 5).await;
            latency(5000, 5).await;
        }
        if wanted("memory") {
            memory().await;
        }
    });
}
