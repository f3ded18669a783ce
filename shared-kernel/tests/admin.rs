//! The events dashboard (`/admin`) over real HTTP, on SQLite and on PostgreSQL: who may see it
//! (admins by bearer token or session cookie; others 403; a revoked token ends the session), the
//! cookie's flags, CSRF on every form (a POST without the token changes nothing), Retry and
//! Forget on failed jobs, escaping of data, the admins' broadcast channel carrying every
//! committed event (and nothing rolled back), the queue depth samples, and the audit counts the
//! page draws.

use std::sync::Arc;
use std::time::Duration;

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde::{Deserialize, Serialize};
use shared_kernel::admin::AdminState;
use shared_kernel::broadcast::{LiveHub, Tailer};
use shared_kernel::http::ApiState;
use shared_kernel::metrics::MetricsExporter;
use shared_kernel::testing::TestDb;
use shared_kernel::testing::sse::SseStream;
use shared_kernel::users::{Role, create_user_with_role, issue_token, revoke_tokens};
use shared_kernel::{
    AuditLog, AuditQuery, Clock, DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent,
    ManualClock, Queue, QueueOptions, QueuedListener, Registry, UserId,
};

const WAIT: Duration = Duration::from_secs(10);

/// A note with markup in its aggregate id and tag, as data could carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoteMade {
    id: String,
}

impl DomainEvent for NoteMade {
    const NAME: &'static str = "note.made";
    const AGGREGATE_TYPE: &'static str = "note";
    fn aggregate_id(&self) -> String {
        self.id.clone()
    }
    fn tags(&self) -> Vec<String> {
        vec!["<img src=x onerror=alert(1)>".to_owned()]
    }
}

/// A queued listener that always gives up at once.
#[derive(Debug, Clone, Copy)]
struct Refuses;

#[async_trait]
impl QueuedListener<ItemCreated> for Refuses {
    const NAME: &'static str = "Refuses";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        Err(ListenerError::permanent("the receiver said no"))
    }
}

struct Server {
    bus: EventBus,
    base: String,
    clock: Arc<ManualClock>,
    client: reqwest::Client,
    _tailer: Tailer,
    _server: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(db: &TestDb) -> Self {
        sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let registry = Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<NoteMade>()
            .listen_queued(Refuses, QueueOptions::on("default").tries(1))
            .build()
            .unwrap();
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
            .clock(clock.clone())
            .build();
        let hub = LiveHub::new(64);
        let tailer = Tailer::start(&bus, hub.clone()).await;
        let api = ApiState { bus: bus.clone() };
        let router = shared_kernel::admin::routes(AdminState::new(
            api.clone(),
            MetricsExporter::new(bus.clone(), ["default"]),
            ["default"],
        ))
        .merge(shared_kernel::broadcast::http::routes(api, hub, &[]));
        let (base, server) = shared_kernel::testing::serve_on_loopback(router).await;
        Self {
            bus,
            base,
            clock,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _tailer: tailer,
            _server: server,
        }
    }

    /// A user with `role` and their token.
    async fn person(&self, name: &str, role: Role) -> (UserId, String) {
        let mut conn = self.bus.db().writer().acquire().await.unwrap();
        let email = format!("{}@example.test", uuid::Uuid::now_v7().simple());
        let user = create_user_with_role(&mut conn, name, &email, role, chrono::Utc::now())
            .await
            .unwrap();
        let token = issue_token(&mut conn, user.id(), chrono::Utc::now()).await.unwrap();
        (user.id(), token.expose().to_owned())
    }

    async fn get(&self, path: &str, cookie: Option<&str>, bearer: Option<&str>) -> (StatusCode, Vec<String>, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, Vec<String>, String) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Signs in through the form as the holder of `token`: the session cookie's `Set-Cookie`.
    async fn sign_in(&self, token: &str) -> (StatusCode, Vec<String>) {
        let (status, cookies, page) = self.get("/admin", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the sign-in form: {page}");
        let login = cookies
            .iter()
            .find(|c| c.starts_with("enteraksi_login_csrf="))
            .expect("the form's CSRF cookie");
        let value = login["enteraksi_login_csrf=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(page.contains(&format!("value=\"{value}\"")), "the form carries it");
        let (status, cookies, _) = self
            .post(
                "/admin/login",
                &format!("enteraksi_login_csrf={value}"),
                &[("csrf", &value), ("token", token)],
            )
            .await;
        (status, cookies)
    }

    async fn failed_ids(&self) -> Vec<String> {
        let failed = Queue::new(self.bus.clone()).failed_jobs(None, 100).await.unwrap();
        failed.into_iter().map(|f| f.id).collect()
    }
}

async fn answer(response: reqwest::Response) -> (StatusCode, Vec<String>, String) {
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    (status, cookies, response.text().await.unwrap())
}

/// The `csrf` value of the page's forms.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_owned()
}

on_both!(
    the_dashboard_is_for_admins_and_its_forms_need_the_csrf_token,
    dashboard_scenario
);
async fn dashboard_scenario(db: TestDb) {
    // Arrange: an admin, a learner, two items whose listener gives up (two failed jobs), a note
    // with markup in its data.
    let server = Server::start(&db).await;
    let (_, admin) = server.person("Ana <Admin>", Role::Admin).await;
    let (_, learner) = server.person("Lia", Role::Learner).await;
    create_item(&server.bus, "one").await.unwrap();
    create_item(&server.bus, "two").await.unwrap();
    let mut uow = server.bus.begin();
    uow.record(NoteMade {
        id: "<script>alert(1)</script>".into(),
    });
    uow.commit().await.unwrap();
    shared_kernel::testing::drain(&server.bus).await;
    let failed = server.failed_ids().await;
    assert_eq!(failed.len(), 2);

    // Anyone but an admin is refused, by bearer token or by session cookie.
    let (status, _, _) = server.get("/admin", None, Some(&learner)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = server
        .get("/admin", Some(&format!("enteraksi_session={learner}")), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, cookies) = server.sign_in(&learner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !cookies.iter().any(|c| c.starts_with("enteraksi_session=")),
        "{cookies:?}"
    );
    // Signing in without the form's CSRF value sets no session.
    let (status, cookies, _) = server
        .post("/admin/login", "", &[("csrf", "x"), ("token", &admin)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !cookies.iter().any(|c| c.starts_with("enteraksi_session=")),
        "{cookies:?}"
    );

    // The admin signs in: the session cookie is HttpOnly and SameSite=Strict.
    let (status, cookies) = server.sign_in(&admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("enteraksi_session="))
        .expect("a session cookie");
    let flags: Vec<&str> = session.split(';').map(str::trim).collect();
    assert!(
        flags.contains(&"HttpOnly") && flags.contains(&"SameSite=Strict") && flags.contains(&"Path=/"),
        "{session}"
    );
    let cookie = flags[0].to_owned();

    // The dashboard: the events, the queue, the failed jobs; data escaped.
    let (status, _, page) = server.get("/admin", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("<tr data-event=\"item.created\"><td>item.created</td><td class=\"n\">2</td>"),
        "{page}"
    );
    assert!(page.contains("data-queue=\"default\""));
    assert!(page.contains("Ana &lt;Admin&gt;"));
    for id in &failed {
        assert!(page.contains(&format!("id=\"failed-{id}\"")));
    }
    assert!(
        !page.contains("<script>alert") && !page.contains("<img src=x"),
        "markup in data is escaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && page.contains("&lt;img src=x onerror=alert(1)&gt;")
    );
    let (_, _, bearer_page) = server.get("/admin?tag=%3Cb%3E", None, Some(&admin)).await;
    assert!(
        bearer_page.contains("value=\"&lt;b&gt;\""),
        "filters echoed escaped, bearer tokens work too"
    );
    let token = csrf(&page);

    // Without the CSRF token (or with another), Retry and Forget change nothing.
    for form in [vec![], vec![("csrf", "0".repeat(64))]] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for action in ["retry", "forget"] {
            let (status, _, body) = server
                .post(&format!("/admin/failed-jobs/{}/{action}", failed[0]), &cookie, &form)
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("data-code=\"csrf_failed\""), "{body}");
        }
    }
    assert_eq!(server.failed_ids().await, failed, "nothing changed");

    // Forget deletes one; Retry puts the other back on its queue.
    let (status, _, _) = server
        .post(
            &format!("/admin/failed-jobs/{}/forget", failed[0]),
            &cookie,
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = server
        .post(
            &format!("/admin/failed-jobs/{}/retry", failed[1]),
            &cookie,
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(server.failed_ids().await.is_empty());
    let (waiting,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE listener = 'Refuses'")
        .fetch_one(server.bus.db().pool())
        .await
        .unwrap();
    assert_eq!(waiting, 1, "the retried job waits for a worker");
    let (status, _, body) = server
        .post(
            &format!("/admin/failed-jobs/{}/retry", failed[1]),
            &cookie,
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("failed_job_not_found"));

    // A bad filter is named; a revoked token ends the session at the next request.
    let (status, _, body) = server.get("/admin?actor=nobody", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("actor: `nobody` is not a user id"), "{body}");
    let admin_id = {
        let mut conn = server.bus.db().pool().acquire().await.unwrap();
        shared_kernel::users::authenticate(&mut conn, &admin)
            .await
            .unwrap()
            .unwrap()
            .user
            .id()
    };
    let mut conn = server.bus.db().writer().acquire().await.unwrap();
    revoke_tokens(&mut conn, admin_id, chrono::Utc::now()).await.unwrap();
    drop(conn);
    let (status, cookies, page) = server.get("/admin", Some(&cookie), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("session has ended"), "{page}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("enteraksi_session=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    db.cleanup().await;
}

on_both!(
    the_admins_channel_carries_every_committed_event_to_admins_only,
    channel_scenario
);
async fn channel_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let (_, admin) = server.person("Ana", Role::Admin).await;
    let (_, learner) = server.person("Lia", Role::Learner).await;
    let url = format!("{}/api/broadcasting/stream?channels=private-admin.events", server.base);
    let refused = SseStream::open(&url, &[("cookie", &format!("enteraksi_session={learner}"))]).await;
    assert_eq!(
        refused.err().map(|(status, _)| status),
        Some(403),
        "a learner may not listen"
    );
    // The dashboard's session cookie authenticates the stream.
    let mut stream = SseStream::open(&url, &[("cookie", &format!("enteraksi_session={admin}"))])
        .await
        .unwrap_or_else(|(status, body)| panic!("{status} {body}"));

    // A rolled-back event is never broadcast; a committed one (broadcast or not) is, once.
    let mut uow = server.bus.begin();
    uow.record(NoteMade {
        id: "rolled-back".into(),
    });
    uow.rollback().await.unwrap();
    let item = create_item(&server.bus, "one").await.unwrap();
    let mut uow = server.bus.begin();
    uow.record(NoteMade { id: "kept".into() });
    uow.commit().await.unwrap();

    let got = stream.take(2, WAIT).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].event, "item.created");
    let data = got[0].json();
    assert_eq!(data["name"], "item.created");
    assert_eq!(data["aggregate_type"], "item");
    assert_eq!(data["aggregate_id"], item.as_str());
    assert!(
        data["id"].as_str().is_some() && data["occurred_at"].as_str().is_some(),
        "{data}"
    );
    assert!(
        data.get("name").is_some() && data.get("metadata").is_none(),
        "no payload: {data}"
    );
    assert_eq!(got[1].json()["aggregate_id"], "kept");
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "nothing else");

    // One extra row per event: the item's own broadcast plus the admins' row.
    let rows: Vec<(String,)> = sqlx::query_as("SELECT channel FROM broadcast_log WHERE event_id IN (SELECT event_id FROM domain_event_log WHERE aggregate_id = $1) ORDER BY channel")
        .bind(item)
        .fetch_all(server.bus.db().pool())
        .await
        .unwrap();
    assert_eq!(rows, vec![("items".to_owned(),), ("private-admin.events".to_owned(),)]);
    db.cleanup().await;
}

on_both!(running_workers_sample_each_queue_once_a_minute, samples_scenario);
async fn samples_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let queue = Queue::new(server.bus.clone());
    let start = server.clock.now();
    create_item(&server.bus, "one").await.unwrap();
    let known = ["default".to_owned(), "idle".to_owned()];

    // Two workers sampling in one minute write one row per queue.
    assert_eq!(queue.sample_depths(&known).await.unwrap(), 2);
    assert_eq!(queue.sample_depths(&known).await.unwrap(), 0);
    server.clock.advance(chrono::Duration::minutes(1));
    create_item(&server.bus, "two").await.unwrap();
    assert_eq!(queue.sample_depths(&known).await.unwrap(), 2);

    let history = queue.depth_history(start).await.unwrap();
    let default: Vec<i64> = history
        .iter()
        .filter(|s| s.queue == "default")
        .map(|s| s.depth)
        .collect();
    assert_eq!(default, vec![1, 2]);
    assert!(history.iter().filter(|s| s.queue == "idle").all(|s| s.depth == 0));
    assert!(history.windows(2).all(|w| w[0].minute <= w[1].minute), "oldest first");

    // Pruning before the second minute deletes the first minute's samples only.
    let second = chrono::DurationRound::duration_trunc(start, chrono::Duration::minutes(1)).unwrap()
        + chrono::Duration::minutes(1);
    let pruned = queue.prune_depth_history(second).await.unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(queue.depth_history(start).await.unwrap().len(), 2);
    db.cleanup().await;
}

on_both!(
    the_audit_log_counts_per_name_and_minute_and_lists_the_latest,
    audit_scenario
);
async fn audit_scenario(db: TestDb) {
    let server = Server::start(&db).await;
    let start = server.clock.now();
    for name in ["a", "b", "c"] {
        create_item(&server.bus, name).await.unwrap();
    }
    server.clock.advance(chrono::Duration::minutes(1));
    let last = create_item(&server.bus, "d").await.unwrap();
    let audit = AuditLog::new(server.bus.db().clone());

    let counts = audit.count_per_minute(&AuditQuery::new().from(start)).await.unwrap();
    let counts: Vec<(String, i64)> = counts.into_iter().map(|c| (c.event_name, c.count)).collect();
    assert_eq!(
        counts,
        vec![("item.created".to_owned(), 3), ("item.created".to_owned(), 1)]
    );
    let filtered = audit
        .count_per_minute(&AuditQuery::new().event_name("note.made"))
        .await
        .unwrap();
    assert!(filtered.is_empty());

    let latest = audit.query(&AuditQuery::new().latest(2)).await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        latest[1].aggregate_id, last,
        "still in occurrence order, ending with the newest"
    );
    assert!(latest[0].occurred_at <= latest[1].occurred_at);
    db.cleanup().await;
}
