//! `ForwardToLrs` run by a real worker, on SQLite and PostgreSQL, against a fake LRS served
//! over real HTTP that records every POST and rejects (400) any batch holding a statement about
//! an activity named `bad`:
//!
//! * jobs claimed together are posted in batches: far fewer POSTs than jobs, each statement
//!   stored once;
//! * the rejected statement fails its own job, and only it, for good, with the LRS's message;
//! * with the LRS down, the prepared batch does not get through and every job retries on its
//!   own, then succeeds once the LRS is back.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[macro_use]
mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::integrations::xapi::{
    ActivityKind, FORWARD_TO_LRS, ForwardToLrs, LrsClient, LrsEndpoint, Statement, ToXapi, Verb, XapiMappings,
    XapiProfile, xapi_queue_options,
};
use shared_kernel::testing::{TestDb, drain, serve_on_loopback};
use shared_kernel::{Envelope, EventBus, ManualClock, Registry, UserId};
use uuid::Uuid;

impl ToXapi for ItemCreated {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        let id = Uuid::parse_str(&e.item_id).expect("item ids are UUIDs");
        vec![profile.statement(
            event,
            UserId::from_uuid(id),
            Verb::COMPLETED,
            (ActivityKind::Lesson, &e.item_id, &e.name),
            id,
        )]
    }
}

/// What the fake LRS saw.
#[derive(Default)]
struct Lrs {
    /// Whether it answers at all (503 when down).
    down: bool,
    /// Each POST's statement count.
    requests: Vec<usize>,
    /// The ids stored.
    stored: HashSet<String>,
}

async fn statements(
    State(lrs): State<Arc<Mutex<Lrs>>>,
    Json(batch): Json<Vec<serde_json::Value>>,
) -> (StatusCode, String) {
    let mut lrs = lrs.lock().unwrap();
    if lrs.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance".to_owned());
    }
    lrs.requests.push(batch.len());
    if batch
        .iter()
        .any(|s| s["object"]["definition"]["name"]["en-US"] == "bad")
    {
        return (StatusCode::BAD_REQUEST, "an activity named `bad` is refused".to_owned());
    }
    let ids: Vec<String> = batch.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    lrs.stored.extend(ids.iter().cloned());
    (StatusCode::OK, serde_json::to_string(&ids).unwrap())
}

struct Harness {
    bus: EventBus,
    lrs: Arc<Mutex<Lrs>>,
    clock: Arc<ManualClock>,
}

impl Harness {
    /// How many statements the LRS stored, and each POST's statement count.
    fn seen(&self) -> (usize, Vec<usize>) {
        let lrs = self.lrs.lock().unwrap();
        (lrs.stored.len(), lrs.requests.clone())
    }
}

async fn harness(db: &TestDb) -> Harness {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let lrs = Arc::new(Mutex::new(Lrs::default()));
    let (base, _server) = serve_on_loopback(
        Router::new()
            .route("/xAPI/statements", post(statements))
            .with_state(lrs.clone()),
    )
    .await;
    let client = LrsClient::new(
        LrsEndpoint::parse(&format!("{base}/xAPI/"), "key", "secret").unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let forwarder = ForwardToLrs::new(client, XapiProfile::new("https://lms.example"));
    let registry = XapiMappings::new()
        .map::<ItemCreated>()
        .register(
            Registry::builder(),
            &forwarder,
            &xapi_queue_options(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .clock(clock.clone())
        .build();
    Harness { bus, lrs, clock }
}

async fn failed(bus: &EventBus) -> Vec<(String, String)> {
    sqlx::query_as("SELECT listener, exception FROM failed_jobs")
        .fetch_all(bus.db().pool())
        .await
        .unwrap()
}

on_both!(
    jobs_claimed_together_are_posted_in_batches_and_a_rejected_statement_fails_alone,
    batches
);
async fn batches(db: TestDb) {
    let h = harness(&db).await;
    for n in 0..40 {
        let name = if n == 17 { "bad".to_owned() } else { format!("item {n}") };
        create_item(&h.bus, &name).await.unwrap();
    }

    let report = drain(&h.bus).await;

    assert_eq!((report.processed, report.failed), (39, 1), "{report:?}");
    let (stored, requests) = h.seen();
    assert_eq!(stored, 39, "every other statement stored, once");
    // One batch of 40, split in halves until the bad statement stands alone: 2·log2(40) at most.
    assert!(
        requests.len() <= 13,
        "40 jobs took {} POSTs: {requests:?}",
        requests.len()
    );
    assert_eq!(requests[0], 40, "the first POST holds every claimed job's statement");
    let failed = failed(&h.bus).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, FORWARD_TO_LRS);
    assert!(
        failed[0].1.contains("an activity named `bad` is refused"),
        "the job fails with the LRS's message: {}",
        failed[0].1
    );
    db.cleanup().await;
}

on_both!(
    a_batch_that_does_not_get_through_leaves_each_job_to_retry_on_its_own,
    lrs_down
);
async fn lrs_down(db: TestDb) {
    let h = harness(&db).await;
    for n in 0..10 {
        create_item(&h.bus, &format!("item {n}")).await.unwrap();
    }
    h.lrs.lock().unwrap().down = true;

    let report = drain(&h.bus).await;
    assert_eq!((report.processed, report.retried), (0, 10), "{report:?}");

    h.lrs.lock().unwrap().down = false;
    h.clock.advance(chrono::Duration::minutes(1));
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 10, "{report:?}");
    let (stored, requests) = h.seen();
    assert_eq!(stored, 10);
    assert_eq!(
        requests,
        [10],
        "the retries were claimed together and posted as one batch"
    );
    assert!(failed(&h.bus).await.is_empty());
    db.cleanup().await;
}
