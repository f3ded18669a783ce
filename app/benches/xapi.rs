//! Statements per second forwarded to a real Ralph LRS (PyPI `ralph-malph`, file-system
//! backend, started here from `ENTERAKSI_TEST_RALPH` as the tests do).
//!
//! A history is made first with the LMS demo flow (`XAPI_BENCH_LEARNERS`, default 30) on an
//! application with no LRS configured. Then, with the LRS configured:
//!
//! * **forwarder**: `ForwardToLrs` is replayed over the whole history (one job per learning
//!   record) and the `xapi` queue is drained by a worker with 2 slots, as `queue work` would:
//!   the jobs a slot claims together are posted in prepared batches of up to 100 statements
//!   (`QueuedListener::prepare`), each job then taking its outcome;
//! * **bulk**: the same statements, as `export xapi` gives them, posted to a second, empty
//!   Ralph in batches of `XAPI_BENCH_BATCH` (default 100) with the bisecting poster.
//!
//! `cargo bench -p app --bench xapi`. Ralph's file-system store re-reads its file to check a
//! batch's ids on every POST, so its per-request cost grows with what it holds: the figures
//! are for a store of a few thousand statements.

#[path = "../tests/support/ralph.rs"]
mod ralph;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::Application;
use app::config::Config;
use shared_kernel::audit::replay::{ReplayFilter, replay};
use shared_kernel::integrations::xapi::{LrsClient, LrsEndpoint, Statement, XapiProfile, export_statements};
use shared_kernel::testing::TestDb;
use shared_kernel::{Worker, WorkerOptions};

const APP_URL: &str = "https://lms.example";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn config(database_url: &str, lrs: Option<&str>) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("APP_URL", APP_URL.to_owned()),
    ]);
    if let Some(lrs) = lrs {
        vars.insert("XAPI_LRS_URL", lrs.to_owned());
        vars.insert("XAPI_LRS_KEY", ralph::KEY.to_owned());
        vars.insert("XAPI_LRS_SECRET", ralph::SECRET.to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("the bench's configuration")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

/// One forwarder run on a fresh database and a fresh Ralph: the demo's history, replayed to
/// `ForwardToLrs` and drained by a worker with 2 slots claiming `batch_size` jobs at a time
/// (1: each job posts its own statements, as before batches were prepared). Returns the
/// statements (for the bulk run) and the statements per second.
async fn forwarder(bin: &std::path::Path, learners: usize, batch_size: usize) -> (Vec<Statement>, f64) {
    let db = TestDb::new(app::provider::migrators()).await;
    // The history, forwarded nowhere.
    let quiet = Application::start(&config(db.url(), None)).await.unwrap();
    app::demo::run_flow(&quiet, learners, false).await.unwrap();
    drop(quiet);

    let forwarded = ralph::Ralph::start(bin.to_owned());
    let app = Application::start(&config(db.url(), Some(&forwarded.base())))
        .await
        .unwrap();
    let mut statements = Vec::new();
    export_statements(
        app.bus(),
        &app::provider::xapi_mappings(),
        &XapiProfile::new(APP_URL),
        None,
        None,
        |s| {
            statements.push(s.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    let replayed = replay(app.bus(), "ForwardToLrs", &ReplayFilter::default(), |_| {})
        .await
        .unwrap();
    let started = Instant::now();
    let report = Worker::new(
        app.bus().clone(),
        WorkerOptions::new(["xapi"]).concurrency(2).batch_size(batch_size),
    )
    .run_until_empty()
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let held = forwarded.statements().await.len();
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(held, statements.len(), "Ralph holds each statement once");
    let rate = statements.len() as f64 / elapsed.as_secs_f64();
    println!(
        "forwarder, claims of {batch_size:>3}: {} jobs, {} statements in {:.2} s: {rate:.0} statements/s ({learners} learners' history)",
        replayed.enqueued,
        statements.len(),
        elapsed.as_secs_f64(),
    );
    drop(app);
    db.cleanup().await;
    (statements, rate)
}

async fn bench() {
    let learners = knob("XAPI_BENCH_LEARNERS", 30);
    let batch = knob("XAPI_BENCH_BATCH", 100);
    let rounds = knob("XAPI_BENCH_ROUNDS", 2);
    let bin = ralph::ralph_or_fail("the xAPI benchmark");

    // A/B, interleaved: one job per claim (each job posts alone) against the default claims,
    // whose jobs are prepared together in batches.
    let mut statements = Vec::new();
    for _ in 0..rounds {
        forwarder(&bin, learners, 1).await;
        statements = forwarder(&bin, learners, 100).await.0;
    }

    // Bulk: the export, in batches, to an empty Ralph.
    let bulk = ralph::Ralph::start(bin);
    let client = LrsClient::new(
        LrsEndpoint::parse(&bulk.base(), ralph::KEY, ralph::SECRET).unwrap(),
        Duration::from_secs(30),
    )
    .unwrap();
    let started = Instant::now();
    let mut requests = 0;
    for chunk in statements.chunks(batch) {
        let report = client.post_bisecting(chunk).await.unwrap();
        assert!(report.rejected.is_empty(), "{report:?}");
        requests += report.requests;
    }
    let elapsed = started.elapsed();
    assert_eq!(bulk.statements().await.len(), statements.len());
    println!(
        "bulk: {} statements in {requests} POSTs of up to {batch} in {:.2} s: {:.0} statements/s",
        statements.len(),
        elapsed.as_secs_f64(),
        statements.len() as f64 / elapsed.as_secs_f64()
    );
}
