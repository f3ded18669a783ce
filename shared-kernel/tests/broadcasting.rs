//! Live broadcasts over real HTTP (SSE and WebSocket), each on SQLite and on PostgreSQL: only
//! committed events reach subscribers, channel authorization is exact, a client that resumes
//! with `Last-Event-ID` gets exactly what it missed, a resume older than retention gets a
//! `reset`, a late-committing transaction on PostgreSQL is not skipped, a subscriber that never
//! reads does not slow commands, and shutdown ends streams with a final event.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[macro_use]
mod common;

use common::{SCHEMA, create_item};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::broadcast::{ChannelRule, LiveHub, Tailer};
use shared_kernel::http::ApiState;
use shared_kernel::testing::TestDb;
use shared_kernel::testing::sse::SseStream;
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{Broadcast, Channel, DomainEvent, EventBus, ManualClock, Registry, UserId};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(300);

/// Something happened to a user (broadcast on their private channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserNudged {
    user_id: UserId,
    n: i64,
    /// Bulk, for the slow-subscriber test (large messages fill a socket's buffers quickly).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    padding: String,
}

impl DomainEvent for UserNudged {
    const NAME: &'static str = "user.nudged";
    const AGGREGATE_TYPE: &'static str = "user";
    fn aggregate_id(&self) -> String {
        self.user_id.to_string()
    }
    fn broadcast(&self) -> Option<Broadcast> {
        Some(Broadcast::new(
            Self::NAME,
            vec![Channel::private(format!("user.{}", self.user_id))],
        ))
    }
}

const RULES: &[ChannelRule] = &[ChannelRule::Public("items"), ChannelRule::USER];

struct Server {
    bus: EventBus,
    hub: Arc<LiveHub>,
    base: String,
    clock: Arc<ManualClock>,
    _tailer: Tailer,
    _server: tokio::task::JoinHandle<()>,
}

struct Person {
    id: UserId,
    token: String,
}

impl Server {
    async fn start(db: &TestDb) -> Self {
        sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let bus = EventBus::builder(db.db().clone(), Arc::new(Registry::builder().build().unwrap()))
            .clock(clock.clone())
            .build();
        let hub = LiveHub::new(64);
        let tailer = Tailer::start(&bus, hub.clone()).await;
        let router = shared_kernel::broadcast::http::routes(ApiState { bus: bus.clone() }, hub.clone(), RULES);
        let (base, server) = shared_kernel::testing::serve_on_loopback(router).await;
        Self {
            bus,
            hub,
            base,
            clock,
            _tailer: tailer,
            _server: server,
        }
    }

    async fn person(&self, name: &str) -> Person {
        let mut conn = self.bus.db().writer().acquire().await.unwrap();
        let email = format!("{name}-{}@example.test", uuid::Uuid::now_v7().simple());
        let user = create_user_with_role(&mut conn, name, &email, Role::Learner, chrono::Utc::now())
            .await
            .unwrap();
        let token = issue_token(&mut conn, user.id(), chrono::Utc::now()).await.unwrap();
        Person {
            id: user.id(),
            token: token.expose().to_owned(),
        }
    }

    async fn nudge(&self, user: UserId, n: i64) {
        self.nudge_with(user, n, String::new()).await;
    }

    async fn nudge_with(&self, user: UserId, n: i64, padding: String) {
        let mut uow = self.bus.begin();
        uow.record(UserNudged {
            user_id: user,
            n,
            padding,
        });
        uow.commit().await.unwrap();
    }

    fn stream_url(&self, channels: &str) -> String {
        format!("{}/api/broadcasting/stream?channels={channels}", self.base)
    }

    async fn sse(&self, person: &Person, channels: &str, last_event_id: Option<i64>) -> SseStream {
        let auth = format!("Bearer {}", person.token);
        let last = last_event_id.map(|id| id.to_string());
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(last) = &last {
            headers.push(("last-event-id", last.as_str()));
        }
        SseStream::open(&self.stream_url(channels), &headers)
            .await
            .unwrap_or_else(|(status, body)| panic!("stream refused: {status} {body}"))
    }
}

fn private(person: &Person) -> String {
    format!("private-user.{}", person.id)
}

// ---- after commit only ---------------------------------------------------------------------

on_both!(subscribers_get_committed_broadcasts_only, committed_only);
async fn committed_only(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let budi = server.person("Budi").await;
    let mut stream = server.sse(&ana, &private(&ana), None).await;

    // A rolled-back command: recorded, then dropped without commit.
    {
        let mut uow = server.bus.begin();
        uow.record(UserNudged {
            user_id: ana.id,
            n: 0,
            padding: String::new(),
        });
        uow.rollback().await.unwrap();
    }
    // Another user's event, and one of Ana's.
    server.nudge(budi.id, 1).await;
    server.nudge(ana.id, 2).await;

    let got = stream.next(WAIT).await.expect("Ana's broadcast arrives");
    assert_eq!(got.event, "user.nudged");
    assert_eq!(got.json(), json!({"user_id": ana.id.to_string(), "n": 2}));
    assert!(got.position() > 0);
    assert!(
        stream.next(QUIET).await.is_none(),
        "nothing else: not the rollback, not Budi's"
    );
    db.cleanup().await;
}

// ---- exact authorization -------------------------------------------------------------------

fn refused_spellings(person: &Person, other: &Person) -> Vec<String> {
    let u = person.id.to_string();
    vec![
        format!("private-user.{}", other.id),
        format!("private-user.{u}x"),
        format!("private-user.{u}.x"),
        format!("private-user.{u}%20"),
        format!("PRIVATE-USER.{u}"),
        format!("private-user.{}", u.to_uppercase()),
        format!("private-user.%7B{u}%7D"),
        "private-user.*".to_owned(),
        format!("user.{u}"),
        "no-such-channel".to_owned(),
        format!("items,private-user.{}", other.id),
    ]
}

on_both!(
    every_refused_spelling_is_refused_on_sse_and_websocket,
    refused_spellings_scenario
);
async fn refused_spellings_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let budi = server.person("Budi").await;
    for channels in refused_spellings(&ana, &budi) {
        let url = server.stream_url(&channels);
        for query_token in [false, true] {
            let url = if query_token {
                format!("{url}&token={}", ana.token)
            } else {
                url.clone()
            };
            let auth = format!("Bearer {}", ana.token);
            let headers: Vec<(&str, &str)> = if query_token {
                vec![]
            } else {
                vec![("authorization", &auth)]
            };
            let response = reqwest::Client::new()
                .get(&url)
                .headers(
                    headers
                        .iter()
                        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                        .collect(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{channels} must be refused");
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "{channels}: refused before any byte of stream"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden", "{channels}: {body}");
        }
    }
    // No token, a bad token, no channel.
    let no_token = reqwest::get(server.stream_url("items")).await.unwrap();
    assert_eq!(no_token.status(), 401);
    let bad = reqwest::get(format!("{}&token=nope", server.stream_url("items")))
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let none = reqwest::get(format!("{}/api/broadcasting/stream?token={}", server.base, ana.token))
        .await
        .unwrap();
    assert_eq!(none.status(), 422);

    // Over WebSocket: each refused channel is an error naming it; the allowed one works.
    let url = format!(
        "{}/api/broadcasting/ws?token={}",
        server.base.replace("http", "ws"),
        ana.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut asked: Vec<String> = refused_spellings(&ana, &budi)
        .into_iter()
        .filter(|c| !c.contains(',') && !c.contains('%'))
        .collect();
    asked.push(format!("private-user.{} ", ana.id));
    asked.push(format!("private-user.{{{}}}", ana.id));
    asked.push(private(&ana));
    socket
        .send(Message::text(json!({"subscribe": asked}).to_string()))
        .await
        .unwrap();
    let mut refused = Vec::new();
    let subscribed = loop {
        let reply = next_json(&mut socket).await;
        match reply["type"].as_str() {
            Some("error") => {
                assert_eq!(reply["code"], "forbidden_channel", "{reply}");
                refused.push(reply["channel"].as_str().unwrap().to_owned());
            }
            Some("subscribed") => break reply,
            _ => panic!("unexpected {reply}"),
        }
    };
    assert_eq!(
        refused,
        asked[..asked.len() - 1].to_vec(),
        "every spelling but the exact one refused"
    );
    assert_eq!(subscribed["channels"], json!([private(&ana)]));
    server.nudge(ana.id, 7).await;
    let message = next_json(&mut socket).await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["channel"], private(&ana));
    assert_eq!(message["event"], "user.nudged");
    assert_eq!(message["data"]["n"], 7);
    db.cleanup().await;
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a WebSocket message in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

// ---- resume --------------------------------------------------------------------------------

on_both!(a_resuming_client_gets_exactly_what_it_missed_in_order, resume_scenario);
async fn resume_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let channels = format!("items,{}", private(&ana));
    let mut stream = server.sse(&ana, &channels, None).await;
    server.nudge(ana.id, 1).await;
    let first = stream.next(WAIT).await.unwrap();
    drop(stream);

    // Missed while away: Ana's, the public channel's, and another user's (not hers to get).
    server.nudge(ana.id, 2).await;
    create_item(&server.bus, "kettle").await.unwrap();
    server.nudge(UserId::new(), 99).await;
    server.nudge(ana.id, 3).await;

    let mut resumed = server.sse(&ana, &channels, Some(first.position())).await;
    let got = resumed.take(3, WAIT).await;
    let names: Vec<(&str, Value)> = got
        .iter()
        .map(|e| (e.event.as_str(), e.json().get("n").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(
        names,
        vec![
            ("user.nudged", json!(2)),
            ("item.created", Value::Null),
            ("user.nudged", json!(3))
        ]
    );
    let positions: Vec<i64> = got.iter().map(|e| e.position()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order: {positions:?}");
    assert!(positions[0] > first.position());
    // Then live, without duplicates.
    server.nudge(ana.id, 4).await;
    let live = resumed.next(WAIT).await.unwrap();
    assert_eq!(live.json()["n"], 4);
    assert!(resumed.next(QUIET).await.is_none(), "no duplicate of a missed message");

    // The same through `?last_event_id=` (a page reload, where EventSource cannot send it).
    let url = format!("{}&last_event_id={}", server.stream_url(&channels), first.position());
    let auth = format!("Bearer {}", ana.token);
    let mut reloaded = SseStream::open(&url, &[("authorization", &auth)]).await.unwrap();
    assert_eq!(reloaded.take(4, WAIT).await.len(), 4);

    // A malformed id is refused.
    let bad = SseStream::open(
        &server.stream_url("items"),
        &[("authorization", &auth), ("last-event-id", "x")],
    )
    .await;
    assert_eq!(bad.unwrap_err().0, 422);
    db.cleanup().await;
}

on_both!(a_resume_older_than_retention_gets_a_reset, reset_scenario);
async fn reset_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let mut stream = server.sse(&ana, &private(&ana), None).await;
    server.nudge(ana.id, 1).await;
    let old = stream.next(WAIT).await.unwrap();
    drop(stream);
    server.nudge(ana.id, 2).await;
    // A day later the worker prunes what is older than its retention.
    server.clock.advance(chrono::Duration::hours(25));
    let worker = shared_kernel::Worker::new(
        server.bus.clone(),
        shared_kernel::WorkerOptions::new(["default"]).poll_interval(Duration::from_millis(20)),
    );
    let (trigger, shutdown) = shared_kernel::shutdown_channel();
    let running = tokio::spawn(async move { worker.run(shutdown).await });
    let pruned = wait_until(|| async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM broadcast_log")
            .fetch_one(server.bus.db().pool())
            .await
            .unwrap();
        n == 0
    })
    .await;
    trigger.trigger();
    running.await.unwrap().unwrap();
    assert!(pruned, "the worker pruned the log");

    let mut resumed = server.sse(&ana, &private(&ana), Some(old.position())).await;
    let reset = resumed.next(WAIT).await.unwrap();
    assert_eq!(reset.event, "reset");
    assert!(reset.position() > old.position());
    server.nudge(ana.id, 3).await;
    assert_eq!(resumed.next(WAIT).await.unwrap().json()["n"], 3, "live after the reset");
    // An id this log never gave is a reset too.
    let mut future = server.sse(&ana, &private(&ana), Some(1_000_000)).await;
    assert_eq!(future.next(WAIT).await.unwrap().event, "reset");
    db.cleanup().await;
}

async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

// ---- out-of-order commits on PostgreSQL ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_committed_late_is_not_skipped_on_postgres() {
    let Some(db) = TestDb::postgres("broadcast_late_commit", vec![]).await else {
        return;
    };
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let mut stream = server.sse(&ana, &private(&ana), None).await;
    // A transaction writes Ana's broadcast first and commits last.
    let mut late = db.db().writer().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO broadcast_log (id, channel, event, event_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(private(&ana))
    .bind("user.nudged")
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(json!({"n": "late"}).to_string())
    .bind(0_i64)
    .execute(&mut *late)
    .await
    .unwrap();
    server.nudge(ana.id, 1).await;
    let early = stream.next(WAIT).await.unwrap();
    assert_eq!(early.json()["n"], 1);
    late.commit().await.unwrap();
    sqlx::query("SELECT pg_notify('enteraksi_broadcasts', '')")
        .execute(db.db().writer())
        .await
        .unwrap();
    let after = stream
        .next(WAIT)
        .await
        .expect("the late commit is delivered, not skipped");
    assert_eq!(after.json()["n"], "late");
    assert!(after.position() > early.position(), "its position follows its commit");
    db.cleanup().await;
}

// ---- slow subscribers ----------------------------------------------------------------------

/// How many commands [`bulk`] runs.
const BULK: usize = 300;

/// Runs [`BULK`] commands broadcasting 64 KiB each to `user` (far more than sockets and the
/// hub's buffer of 64 hold); how long they took.
async fn bulk(server: &Server, user: UserId) -> Duration {
    let started = Instant::now();
    for n in 0..BULK {
        server.nudge_with(user, n as i64, "x".repeat(64 * 1024)).await;
    }
    started.elapsed()
}

on_both!(
    a_subscriber_that_never_reads_does_not_slow_commands,
    slow_subscriber_scenario
);
async fn slow_subscriber_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let alone = bulk(&server, ana.id).await;
    // A client that opens the stream and never reads a byte (its socket buffers fill, then the
    // hub's buffer of 64 messages, and it is dropped).
    // A small receive buffer, as a phone on a bad network has: the kernel cannot hide the stall.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut raw = socket
        .connect(server.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let request = format!(
        "GET /api/broadcasting/stream?channels={} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        private(&ana),
        ana.token
    );
    tokio::io::AsyncWriteExt::write_all(&mut raw, request.as_bytes())
        .await
        .unwrap();
    assert!(wait_until(|| async { server.hub.subscribers() == 1 }).await);
    let with_stalled = bulk(&server, ana.id).await;
    assert!(
        wait_until(|| async { server.hub.subscribers() == 0 }).await,
        "the stalled subscriber was dropped"
    );
    eprintln!("{BULK} commands: {alone:?} alone, {with_stalled:?} beside a stalled subscriber");
    assert!(
        with_stalled < alone * 3 + Duration::from_millis(500),
        "a stalled subscriber slowed commands: {alone:?} alone, {with_stalled:?} beside it"
    );
    drop(raw);
    db.cleanup().await;
}

// ---- shutdown ------------------------------------------------------------------------------

on_both!(closing_the_hub_ends_streams_with_a_final_event, closing_scenario);
async fn closing_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let mut stream = server.sse(&ana, "items", None).await;
    let url = format!(
        "{}/api/broadcasting/ws?token={}",
        server.base.replace("http", "ws"),
        ana.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::text(json!({"subscribe": ["items"]}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "subscribed");
    server.hub.close();
    let last = stream.next(WAIT).await.unwrap();
    assert_eq!(last.event, "shutdown");
    assert!(stream.ended_within(WAIT).await, "the stream ends after its final event");
    assert_eq!(next_json(&mut socket).await["type"], "shutdown");
    db.cleanup().await;
}

// ---- WebSocket subscribe, since and unsubscribe --------------------------------------------

on_both!(websocket_subscribe_resume_and_unsubscribe, websocket_scenario);
async fn websocket_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let mut stream = server.sse(&ana, &private(&ana), None).await;
    server.nudge(ana.id, 1).await;
    let first = stream.next(WAIT).await.unwrap().position();
    server.nudge(ana.id, 2).await;
    server.nudge(ana.id, 3).await;

    let url = format!("{}/api/broadcasting/ws", server.base.replace("http", "ws"));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", ana.token).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            json!({"subscribe": [private(&ana)], "since": first}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "subscribed");
    let missed: Vec<Value> = vec![next_json(&mut socket).await, next_json(&mut socket).await];
    assert_eq!(missed[0]["data"]["n"], 2);
    assert_eq!(missed[1]["data"]["n"], 3);
    server.nudge(ana.id, 4).await;
    assert_eq!(next_json(&mut socket).await["data"]["n"], 4);

    socket
        .send(Message::text(json!({"unsubscribe": [private(&ana)]}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "unsubscribed");
    server.nudge(ana.id, 5).await;
    socket.send(Message::text("not json".to_owned())).await.unwrap();
    let reply = next_json(&mut socket).await;
    assert_eq!(
        reply["code"], "invalid_message",
        "nothing of n=5 after unsubscribing: {reply}"
    );

    // Without a WebSocket handshake the route says so.
    let plain = reqwest::Client::new()
        .get(format!("{}/api/broadcasting/ws", server.base))
        .bearer_auth(&ana.token)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 426);
    db.cleanup().await;
}

on_both!(
    a_websocket_that_never_reads_is_cut_off_without_slowing_commands,
    slow_websocket_scenario
);
async fn slow_websocket_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let ana = server.person("Ana").await;
    let url = format!(
        "{}/api/broadcasting/ws?token={}",
        server.base.replace("http", "ws"),
        ana.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::text(json!({"subscribe": [private(&ana)]}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "subscribed");
    // From now on the client reads nothing.
    let took = bulk(&server, ana.id).await;
    assert!(
        wait_until(|| async { server.hub.subscribers() == 0 }).await,
        "the stalled WebSocket was cut off"
    );
    eprintln!("{BULK} commands beside a stalled WebSocket: {took:?}");
    // What it had buffered, then a `too_slow` error (when it reads again), then the end.
    let mut last = Value::Null;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, socket.next()).await {
        if let Message::Text(text) = message {
            last = serde_json::from_str(&text).unwrap();
        }
    }
    assert_eq!(last["code"], "too_slow", "{last}");
    db.cleanup().await;
}
