//! Benchmarks of the event pipeline (DESIGN.md §7): sync dispatch, commands through the whole
//! pipeline on SQLite, and draining queued jobs. Each database benchmark runs on a fresh
//! temporary SQLite file (WAL, synchronous=NORMAL). Run with `cargo bench -p shared-kernel`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    RegistryBuilder, SyncListener, UnitOfWork, Worker, WorkerOptions,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enrolled {
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

fn event() -> Enrolled {
    Enrolled {
        enrollment_id: uuid::Uuid::now_v7().to_string(),
        user_id: uuid::Uuid::now_v7().to_string(),
        course_id: uuid::Uuid::now_v7().to_string(),
    }
}

const NAMES: [&str; 10] = ["L0", "L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9"];

struct Noop<const N: usize>;

#[async_trait]
impl<const N: usize> SyncListener<Enrolled> for Noop<N> {
    const NAME: &'static str = NAMES[N];
    async fn handle(&self, event: &Envelope<Enrolled>, _uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        std::hint::black_box(event);
        Ok(())
    }
}

struct QueuedNoop<const N: usize>;

#[async_trait]
impl<const N: usize> QueuedListener<Enrolled> for QueuedNoop<N> {
    const NAME: &'static str = NAMES[N];
    async fn handle(&self, event: &Envelope<Enrolled>, _job: &mut JobContext) -> Result<(), ListenerError> {
        std::hint::black_box(event);
        Ok(())
    }
}

fn with_sync_listeners(n: usize) -> RegistryBuilder {
    let mut r = Registry::builder();
    macro_rules! add {
        ($($i:literal)*) => { $( if $i < n { r = r.listen_sync(Noop::<$i>); } )* };
    }
    add!(0 1 2 3 4 5 6 7 8 9);
    r
}

async fn bus(registry: RegistryBuilder) -> (TestDb, EventBus) {
    let db = TestDb::new(vec![]).await;
    sqlx::raw_sql("CREATE TABLE enrollments (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, course_id TEXT NOT NULL)")
        .execute(db.db().writer())
        .await
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry.build().unwrap())).build();
    (db, bus)
}

fn sync_dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("sync dispatch");
    for n in [1usize, 10] {
        let (_db, bus) = rt.block_on(bus(with_sync_listeners(n)));
        // Dispatch alone: the unit of work and the recorded event are set up outside the timing.
        group.bench_with_input(BenchmarkId::new("dispatch, listeners", n), &n, |b, _| {
            b.to_async(&rt).iter_batched(
                || {
                    let mut uow = bus.begin();
                    uow.record(event());
                    uow
                },
                |mut uow| async move {
                    uow.dispatch().await.unwrap();
                    uow
                },
                criterion::BatchSize::SmallInput,
            );
        });
        // Recording (ids, timestamps, the envelope) plus dispatch, on a fresh unit of work.
        let payload = event();
        group.bench_with_input(BenchmarkId::new("record + dispatch, listeners", n), &n, |b, _| {
            b.to_async(&rt).iter(|| {
                let bus = &bus;
                let payload = payload.clone();
                async move {
                    let mut uow = bus.begin();
                    uow.record(payload);
                    uow.dispatch().await.unwrap();
                }
            });
        });
    }
    group.finish();
}

/// The outbox-shaped command: one state row, one audit row, two job rows, one sync listener.
async fn command(bus: &EventBus) {
    let mut uow = bus.begin();
    command_in(&mut uow).await;
    uow.commit().await.unwrap();
}

/// The command's work inside a unit of work: its state row and its event.
async fn command_in(uow: &mut UnitOfWork) {
    let e = event();
    sqlx::query("INSERT INTO enrollments (id, user_id, course_id) VALUES ($1, $2, $3)")
        .bind(e.enrollment_id.clone())
        .bind(e.user_id.clone())
        .bind(e.course_id.clone())
        .execute(uow.conn().await.unwrap())
        .await
        .unwrap();
    uow.record(e);
}

fn command_registry() -> RegistryBuilder {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_sync(Noop::<0>)
        .listen_queued(QueuedNoop::<1>, QueueOptions::on("notifications"))
        .listen_queued(QueuedNoop::<2>, QueueOptions::on("default"))
}

fn commands(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("commands");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("sqlite: state + audit + 2 jobs, one transaction each", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let (_db, bus) = bus(command_registry()).await;
            let start = Instant::now();
            for _ in 0..iters {
                command(&bus).await;
            }
            start.elapsed()
        });
    });
    // The same commands grouped 100 to a unit of work (a bulk operation: one BEGIN, one outbox
    // write and one COMMIT for all of them), like BASELINE.md's "100 commands per transaction".
    const GROUP: u64 = 100;
    group.throughput(Throughput::Elements(GROUP));
    group.bench_function("sqlite: state + audit + 2 jobs, 100 per unit of work", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let (_db, bus) = bus(command_registry()).await;
            let start = Instant::now();
            for _ in 0..iters {
                let mut uow = bus.begin();
                for _ in 0..GROUP {
                    command_in(&mut uow).await;
                }
                uow.commit().await.unwrap();
            }
            start.elapsed()
        });
    });
    group.finish();
}

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("drain");
    const JOBS: u64 = 10_000;
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    group.bench_function("sqlite: 10k jobs, listener dispatch and acknowledgement", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let registry = Registry::builder().listen_queued(QueuedNoop::<0>, QueueOptions::on("default"));
                let (_db, bus) = bus(registry).await;
                // Enqueue through the real outbox, 500 events per unit of work.
                for _ in 0..JOBS / 500 {
                    let mut uow = bus.begin();
                    for _ in 0..500 {
                        uow.record(event());
                    }
                    uow.commit().await.unwrap();
                }
                let worker = Worker::new(bus.clone(), WorkerOptions::new(["default"]).batch_size(500));
                let start = Instant::now();
                let report = worker.run_until_empty().await.unwrap();
                total += start.elapsed();
                assert_eq!(report.processed, JOBS);
            }
            total
        });
    });
    group.finish();
}

/// The same drain on PostgreSQL (a fresh database per sample on the server named by
/// `ENTERAKSI_TEST_POSTGRES_URL`), with 1 and 4 concurrent claimers in one worker: `FOR UPDATE
/// SKIP LOCKED` lets them claim side by side. Without the variable it says it was not run.
fn drain_postgres(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(shared_kernel::testing::POSTGRES_URL_VAR).is_err() {
        eprintln!(
            "NOT RUN: drain/postgres needs PostgreSQL; set {}",
            shared_kernel::testing::POSTGRES_URL_VAR
        );
        return;
    }
    let mut group = c.benchmark_group("drain");
    const JOBS: u64 = 10_000;
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    for concurrency in [1usize, 4] {
        group.bench_with_input(
            BenchmarkId::new("postgres: 10k jobs, concurrency", concurrency),
            &concurrency,
            |b, &concurrency| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let registry = Registry::builder()
                            .listen_queued(QueuedNoop::<0>, QueueOptions::on("default"))
                            .build()
                            .unwrap();
                        let db = TestDb::postgres("drain/postgres", vec![]).await.unwrap();
                        let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
                        for _ in 0..JOBS / 500 {
                            let mut uow = bus.begin();
                            for _ in 0..500 {
                                uow.record(event());
                            }
                            uow.commit().await.unwrap();
                        }
                        let worker = Worker::new(
                            bus.clone(),
                            WorkerOptions::new(["default"]).batch_size(500).concurrency(concurrency),
                        );
                        let start = Instant::now();
                        let report = worker.run_until_empty().await.unwrap();
                        total += start.elapsed();
                        assert_eq!(report.processed, JOBS);
                        db.cleanup().await;
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, sync_dispatch, commands, drain, drain_postgres);
criterion_main!(benches);
