//! What every test here shares: [`serve`] (the course routes on an ephemeral port over a
//! temporary database), the [`Server`]'s request helpers, and [`refused`] for the error shape.

use std::sync::Arc;

use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentTally, MockEnrollmentCounts,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::http::ApiState;
use shared_kernel::testing::TestDb;
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{EventBus, LogDomainEvent, Registry, UserId};

fn registry() -> Registry {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .build()
        .expect("the course registry is valid")
}

/// `course` cannot count enrollments itself (`app` adapts enrollment's read): a course with no
/// enrollments, however often it is asked.
fn no_enrollments() -> MockEnrollmentCounts {
    let mut counts = MockEnrollmentCounts::new();
    counts.expect_tally().returning(|_, _| Ok(EnrollmentTally::default()));
    counts
}

pub(crate) struct Server {
    db: TestDb,
    bus: EventBus,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    running: tokio::task::JoinHandle<()>,
}

pub(crate) async fn serve() -> Server {
    let db = TestDb::new(vec![course::migrator()]).await;
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry())).build();
    let api = ApiState { bus: bus.clone() };
    let courses = CourseService::new(bus.clone(), Arc::new(no_enrollments()));
    let router = course::http::routes(api, courses);
    let (base, running) = shared_kernel::testing::serve_on_loopback(router).await;
    Server {
        db,
        bus,
        base,
        client: reqwest::Client::new(),
        running,
    }
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) body: Value,
}

impl Server {
    /// A user with a role, and their API token.
    pub(crate) async fn user(&self, name: &str, email: &str, role: Role) -> (UserId, String) {
        let mut uow = self.bus.begin();
        let now = chrono::Utc::now();
        let conn = uow.conn().await.unwrap();
        let user = create_user_with_role(conn, name, email, role, now).await.unwrap();
        let token = issue_token(conn, user.id(), now).await.unwrap();
        uow.commit().await.unwrap();
        (user.id(), token.expose().to_owned())
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Answer {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        Answer {
            status,
            location,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body), token)
            .await
    }

    /// A POST with a body that is not JSON, though it says it is.
    pub(crate) async fn post_raw(&self, path: &str, token: Option<&str>, body: &'static str) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(request, token).await
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// A course that must be created: its id.
    pub(crate) async fn course(&self, token: &str, title: &str) -> String {
        let created = self.post("/api/courses", Some(token), json!({"title": title})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// A lesson that must be added: its id.
    pub(crate) async fn lesson(&self, token: &str, course: &str, title: &str, kind: &str) -> String {
        let added = self
            .post(
                &format!("/api/courses/{course}/lessons"),
                Some(token),
                json!({"title": title, "kind": kind}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        added.body["id"].as_str().unwrap().to_owned()
    }

    /// How many rows `table` holds.
    pub(crate) async fn rows(&self, table: &str) -> i64 {
        let sql = match table {
            "courses" => "SELECT COUNT(*) FROM courses",
            "lessons" => "SELECT COUNT(*) FROM lessons",
            other => panic!("no table {other}"),
        };
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.bus.db().pool()).await.unwrap();
        n
    }

    /// The stored status of a course.
    pub(crate) async fn status_of(&self, course: &str) -> String {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM courses WHERE id = $1")
            .bind(course)
            .fetch_one(self.bus.db().pool())
            .await
            .unwrap();
        status
    }

    pub(crate) async fn stop(self) {
        self.running.abort();
        self.db.cleanup().await;
    }
}

/// Asserts an error answer: its status and stable code.
#[track_caller]
pub(crate) fn refused(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].is_string(), "{}", answer.body);
}
