//! Webhooks end to end, on SQLite and on PostgreSQL, against a real HTTP receiver on loopback
//! that checks every signature with its own Standard Webhooks verification: each subscribed
//! endpoint gets each event once, a 503 is retried with the same `webhook-id`, a `Retry-After`
//! sets the retry's time, a 400 fails at once, a hanging receiver is cut off, and a removed
//! endpoint gets nothing. The queue runs with a manual clock, so retries need no sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[macro_use]
mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ItemCreated, SCHEMA, create_item};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared_kernel::integrations::webhooks::{
    DeliverWebhook, EventNames, FanOutWebhooks, WebhookUrl, add_endpoint, list_endpoints, remove_endpoint,
};
use shared_kernel::testing::{TestDb, drain, serve_on_loopback};
use shared_kernel::{
    Clock as _, DomainEvent, EventBus, LogDomainEvent, ManualClock, Queue, QueueOptions, Registry, WebhookEndpointId,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ItemArchived {
    item_id: String,
}

impl DomainEvent for ItemArchived {
    const NAME: &'static str = "item.archived";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

// ---- the receiver ---------------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// What each path answers, in order (then 200), and what came in.
#[derive(Default)]
struct Receiver {
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    received: Mutex<Vec<Received>>,
}

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    RetryAfter(u16, u64),
    Hang,
}

impl Receiver {
    fn script(&self, path: &str, answers: &[Answer]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_owned(), answers.iter().copied().collect());
    }

    fn at(&self, path: &str) -> Vec<Received> {
        let received = self.received.lock().unwrap();
        received.iter().filter(|r| r.path == path).cloned().collect()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    receiver.received.lock().unwrap().push(Received {
        path: path.clone(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    });
    let answer = receiver
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::RetryAfter(code, seconds) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Hang => {
            // Longer than the delivery timeout of the harness: the sender gives up first.
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Standard Webhooks verification, written apart from the kernel's signing: the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the base64-decoded key after `whsec_`, base64-encoded, must be
/// one of the space-separated `v1,` signatures.
fn verify(secret: &str, received: &Received) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = BASE64.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

// ---- harness ----------------------------------------------------------------------------------

struct Harness {
    db: TestDb,
    bus: EventBus,
    clock: Arc<ManualClock>,
    receiver: Arc<Receiver>,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn new(db: TestDb) -> Self {
        sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
        let registry = Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<ItemCreated>()
            .event::<ItemArchived>()
            .listen_all_queued(FanOutWebhooks, QueueOptions::on("webhooks"), &[])
            .job(
                DeliverWebhook::new(Duration::from_millis(500)),
                QueueOptions::on("webhooks")
                    .tries(3)
                    .backoff([Duration::from_secs(10)])
                    .jitter(0.0),
            )
            .build()
            .unwrap();
        let clock = Arc::new(ManualClock::default());
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
            .clock(clock.clone())
            .build();
        let receiver = Arc::new(Receiver::default());
        let router = axum::Router::new()
            .route("/hooks/{path}", axum::routing::post(receive))
            .with_state(receiver.clone());
        let (base, server) = serve_on_loopback(router).await;
        Self {
            db,
            bus,
            clock,
            receiver,
            base,
            _server: server,
        }
    }

    /// Registers `/hooks/{path}` for `events`; its id and secret.
    async fn endpoint(&self, path: &str, events: &str) -> (WebhookEndpointId, String) {
        let url = WebhookUrl::parse(&format!("{}/hooks/{path}", self.base), true)
            .await
            .unwrap();
        let events = EventNames::parse(events, self.bus.registry().event_names()).unwrap();
        let mut uow = self.bus.begin();
        let (id, secret) = add_endpoint(uow.conn().await.unwrap(), &url, &events, true, self.clock.now())
            .await
            .unwrap();
        uow.commit().await.unwrap();
        (id, secret.expose().to_owned())
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.db.db().pool()).await.unwrap();
        n
    }

    async fn archive(&self, item_id: &str) {
        let mut uow = self.bus.begin();
        uow.conn().await.unwrap();
        uow.record(ItemArchived {
            item_id: item_id.to_owned(),
        });
        uow.commit().await.unwrap();
    }
}

// ---- scenarios --------------------------------------------------------------------------------

on_both!(
    each_subscribed_endpoint_gets_each_event_once,
    each_subscribed_endpoint_gets_each_event_once_scenario
);
on_both!(
    a_503_is_retried_with_the_same_id_and_a_400_fails_at_once,
    retry_and_permanent_failure_scenario
);
on_both!(retry_after_sets_the_time_of_the_retry, retry_after_scenario);
on_both!(a_hanging_receiver_is_cut_off_and_retried, hanging_receiver_scenario);
on_both!(a_removed_endpoint_gets_nothing, removed_endpoint_scenario);

async fn each_subscribed_endpoint_gets_each_event_once_scenario(db: TestDb) {
    let h = Harness::new(db).await;
    let (a, secret_a) = h.endpoint("a", "item.created").await;
    let (b, secret_b) = h.endpoint("b", "item.created,item.archived").await;
    let (_, _secret_c) = h.endpoint("c", "item.archived").await;

    let first = create_item(&h.bus, "first").await.unwrap();
    create_item(&h.bus, "second").await.unwrap();
    drain(&h.bus).await;

    for (path, secret) in [("a", &secret_a), ("b", &secret_b)] {
        let got = h.receiver.at(path);
        assert_eq!(got.len(), 2, "{path} gets each of the two events once");
        for r in &got {
            assert!(verify(secret, r), "the signature to {path} verifies");
            assert_eq!(r.timestamp, h.clock.now().timestamp().to_string());
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["type"], "item.created");
            assert!(r.id.starts_with("msg_"));
            assert!(body["event_id"].is_string() && body["correlation_id"].is_string());
        }
        let mut names: Vec<String> = got
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["data"]["name"].to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["\"first\"", "\"second\""]);
    }
    assert!(h.receiver.at("c").is_empty(), "an endpoint not subscribed gets nothing");
    // One id per (event, endpoint): the same event has different ids at a and b.
    assert_ne!(h.receiver.at("a")[0].id, h.receiver.at("b")[0].id);
    // A key of another endpoint does not verify.
    assert!(!verify(&secret_b, &h.receiver.at("a")[0]));

    h.archive(&first).await;
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("a").len(), 2);
    assert_eq!(h.receiver.at("b").len(), 3);
    assert_eq!(h.receiver.at("c").len(), 1);

    let listed = list_endpoints(&mut h.db.db().pool().acquire().await.unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    let of = |id| listed.iter().find(|e| e.id == id).unwrap();
    assert_eq!(of(a).last_status.as_deref(), Some("delivered"));
    assert_eq!(of(a).last_response_status, Some(200));
    assert_eq!(of(b).events, ["item.created", "item.archived"]);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'")
            .await,
        6
    );

    drain(&h.bus).await;
    assert_eq!(
        h.receiver.received.lock().unwrap().len(),
        6,
        "nothing is delivered twice"
    );
    h.db.cleanup().await;
}

async fn retry_and_permanent_failure_scenario(db: TestDb) {
    let h = Harness::new(db).await;
    let (_, secret_r) = h.endpoint("r", "item.created").await;
    let (p, _) = h.endpoint("p", "item.created").await;
    h.receiver.script("r", &[Answer::Status(503)]);
    h.receiver.script("p", &[Answer::Status(400)]);

    create_item(&h.bus, "x").await.unwrap();
    let report = drain(&h.bus).await;
    assert_eq!((report.retried, report.failed), (1, 1));
    assert_eq!(h.receiver.at("r").len(), 1);
    assert_eq!(h.receiver.at("p").len(), 1);
    let failed = Queue::new(h.bus.clone()).failed_jobs(None, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "the 400 fails at once");
    assert_eq!(failed[0].listener, "DeliverWebhook");
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0].exception.contains("400"), "{}", failed[0].exception);
    assert!(failed[0].event_id.contains(&p.as_uuid().simple().to_string()));

    // Not before the backoff…
    h.clock.advance(chrono::Duration::seconds(9));
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("r").len(), 1);
    // …and then once more, with the same id, signed anew.
    h.clock.advance(chrono::Duration::seconds(2));
    drain(&h.bus).await;
    let got = h.receiver.at("r");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "a retry carries the same webhook-id");
    assert_eq!(got[0].body, got[1].body);
    assert!(got.iter().all(|r| verify(&secret_r, r)));
    assert_eq!(h.receiver.at("p").len(), 1, "a permanent failure is not retried");

    let statuses: Vec<(String, Option<i64>, i64)> =
        sqlx::query_as("SELECT status, response_status, attempts FROM webhook_deliveries ORDER BY status")
            .fetch_all(h.db.db().pool())
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            ("delivered".to_owned(), Some(200), 2),
            ("failed".to_owned(), Some(400), 1)
        ]
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM failed_jobs").await, 1);
    h.db.cleanup().await;
}

async fn retry_after_scenario(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("t", "item.created").await;
    h.receiver.script("t", &[Answer::RetryAfter(429, 120)]);

    create_item(&h.bus, "x").await.unwrap();
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("t").len(), 1);
    // The schedule says 10 s; the receiver said 120 s.
    h.clock.advance(chrono::Duration::seconds(100));
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("t").len(), 1);
    h.clock.advance(chrono::Duration::seconds(21));
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("t").len(), 2);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'")
            .await,
        1
    );
    h.db.cleanup().await;
}

async fn hanging_receiver_scenario(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("h", "item.created").await;
    h.receiver.script("h", &[Answer::Hang]);

    create_item(&h.bus, "x").await.unwrap();
    let report = drain(&h.bus).await;
    assert_eq!(report.retried, 1);
    let (status, error): (String, Option<String>) = sqlx::query_as("SELECT status, last_error FROM webhook_deliveries")
        .fetch_one(h.db.db().pool())
        .await
        .unwrap();
    assert_eq!(status, "retrying");
    assert!(error.unwrap_or_default().contains("timed out"));

    h.clock.advance(chrono::Duration::seconds(11));
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("h").len(), 2);
    h.db.cleanup().await;
}

async fn removed_endpoint_scenario(db: TestDb) {
    let h = Harness::new(db).await;
    h.endpoint("kept", "item.created").await;
    let (gone, _) = h.endpoint("gone", "item.created").await;
    h.receiver.script("gone", &[Answer::Status(500)]);

    create_item(&h.bus, "before").await.unwrap();
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("gone").len(), 1);
    // Removed while its retry waits: the retry is dropped, as is every later event.
    let mut uow = h.bus.begin();
    remove_endpoint(uow.conn().await.unwrap(), gone, h.clock.now())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    create_item(&h.bus, "after").await.unwrap();
    h.clock.advance(chrono::Duration::seconds(11));
    drain(&h.bus).await;
    assert_eq!(h.receiver.at("gone").len(), 1);
    assert_eq!(h.receiver.at("kept").len(), 2);
    assert_eq!(h.count("SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM failed_jobs").await, 0);
    let listed = list_endpoints(&mut h.db.db().pool().acquire().await.unwrap())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    h.db.cleanup().await;
}
