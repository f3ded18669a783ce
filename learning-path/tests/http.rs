//! The learning-path routes over real HTTP on an ephemeral port, mounted beside the course
//! routes on a temporary SQLite database: an instructor builds and publishes a path of two
//! courses, a learner enrolls, reads the per-course state and drops; and the 401, 403, 404, 409
//! and 422 answers in the error shape.

use std::sync::Arc;

use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally,
};
use enrollment::{
    EnrollmentCompleted, SendCompletionCongratulations, SendWelcomeNotification, UserDropped, UserEnrolled,
    UserReenrolled,
};
use learning_path::{
    CourseUnlockedInPath, PathCompleted, PathDropped, PathEnrollmentCreated, SendPathCompletionCongratulations,
    SendPathEnrollmentWelcome, UpdatePathProgressOnCourseCompletion,
};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use serde_json::{Value, json};
use shared_kernel::http::ApiState;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{NotificationFake, TestDb};
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{CourseId, EventBus, LogDomainEvent, Registry};

/// What `app`'s adapter of course's port does: count through enrollment's read.
struct CountEnrollments;

#[async_trait]
impl EnrollmentCounts for CountEnrollments {
    async fn tally(
        &self,
        conn: &mut AnyConnection,
        course: CourseId,
    ) -> Result<EnrollmentTally, EnrollmentCountsError> {
        enrollment::tally(conn, course)
            .await
            .map_err(EnrollmentCountsError::new)
    }
}

fn registry() -> Registry {
    let notifier = NotificationFake::new();
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .listen_queued::<UserEnrolled, _>(
            SendWelcomeNotification::new(notifier.clone()),
            SendWelcomeNotification::queue_options(),
        )
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .listen_queued::<EnrollmentCompleted, _>(
            SendCompletionCongratulations::new(notifier.clone()),
            SendCompletionCongratulations::queue_options(),
        )
        .listen_queued::<EnrollmentCompleted, _>(
            UpdatePathProgressOnCourseCompletion::new(),
            UpdatePathProgressOnCourseCompletion::queue_options(),
        )
        .listen_queued::<PathEnrollmentCreated, _>(
            SendPathEnrollmentWelcome::new(notifier.clone()),
            SendPathEnrollmentWelcome::queue_options(),
        )
        .event::<CourseUnlockedInPath>()
        .listen_queued::<PathCompleted, _>(
            SendPathCompletionCongratulations::new(notifier),
            SendPathCompletionCongratulations::queue_options(),
        )
        .event::<PathDropped>()
        .build()
        .expect("the learning-path registry is valid")
}

struct Server {
    base: String,
    client: reqwest::Client,
    bus: EventBus,
    running: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(db: &TestDb) -> Self {
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry())).build();
        let api = ApiState { bus: bus.clone() };
        let courses = CourseService::new(bus.clone(), Arc::new(CountEnrollments));
        let router = learning_path::http::routes(api.clone()).merge(course::http::routes(api, courses));
        let (base, running) = shared_kernel::testing::serve_on_loopback(router).await;
        Self {
            base,
            client: reqwest::Client::new(),
            bus,
            running,
        }
    }

    /// A user with a role and an API token.
    async fn user(&self, name: &str, email: &str, role: Role) -> String {
        let mut uow = self.bus.begin();
        let now = chrono::Utc::now();
        let conn = uow.conn().await.unwrap();
        let user = create_user_with_role(conn, name, email, role, now).await.unwrap();
        let token = issue_token(conn, user.id(), now).await.unwrap();
        uow.commit().await.unwrap();
        token.expose().to_owned()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(reqwest::Method::POST, path, Some(token), Some(body)).await;
        (status, body)
    }

    /// A POST that must create: its body and `Location`.
    async fn create(&self, path: &str, token: &str, body: Value) -> (Value, String) {
        let (status, headers, body) = self.call(reqwest::Method::POST, path, Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_else(|| panic!("POST {path} answers a Location"))
            .to_owned();
        (body, location)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (status, _, body) = self.call(reqwest::Method::GET, path, token, None).await;
        (status, body)
    }

    /// A published course with one lesson, by `token`'s instructor.
    async fn published_course(&self, token: &str, title: &str) -> String {
        let (course, _) = self
            .create("/api/courses", token, json!({"title": title, "description": "Kursus"}))
            .await;
        let id = course["id"].as_str().unwrap().to_owned();
        self.create(
            &format!("/api/courses/{id}/lessons"),
            token,
            json!({"title": "Pengenalan", "kind": "content"}),
        )
        .await;
        let (status, body) = self.post(&format!("/api/courses/{id}/publish"), token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    fn stop(self) {
        self.running.abort();
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error body: {body}"))
}

fn migrators() -> Vec<sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator(), learning_path::migrator()]
}

#[tokio::test]
async fn a_path_is_built_published_enrolled_in_and_dropped_over_http() {
    let db = TestDb::new(migrators()).await;
    let server = Server::start(&db).await;
    let ratna = server.user("Bu Ratna", "ratna@example.id", Role::Instructor).await;
    let joko = server.user("Pak Joko", "joko@example.id", Role::Instructor).await;
    let siti = server.user("Siti Rahma", "siti@example.id", Role::Learner).await;

    // The instructor authors two published courses and a path of both, then publishes it.
    let first = server.published_course(&ratna, "Rust Dasar").await;
    let second = server.published_course(&ratna, "Rust Lanjut").await;
    let (path, location) = server
        .create(
            "/api/paths",
            &ratna,
            json!({"title": "Jalur Rust", "description": "Dari dasar sampai mahir"}),
        )
        .await;
    let path_id = path["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/paths/{path_id}"));
    assert_eq!(path["status"], "draft");
    assert_eq!(path["courses"], json!([]));

    // A draft is the author's own: another instructor gets 404, and it is not in their list.
    let (status, body) = server.get(&format!("/api/paths/{path_id}"), Some(&joko)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "path_not_found"));
    let (status, list) = server.get("/api/paths", Some(&joko)).await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (_, list) = server.get("/api/paths", Some(&ratna)).await;
    assert_eq!(list["items"][0]["id"], path_id.as_str());

    // Publishing an empty path is an invalid value: 422.
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/publish"), &ratna, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "empty_path"));

    for course in [&first, &second] {
        let (status, body) = server
            .post(
                &format!("/api/paths/{path_id}/courses"),
                &ratna,
                json!({"course_id": course}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The same course twice is a state conflict: 409.
    let (status, body) = server
        .post(
            &format!("/api/paths/{path_id}/courses"),
            &ratna,
            json!({"course_id": first}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "duplicate_course"));
    let (status, path) = server
        .post(&format!("/api/paths/{path_id}/publish"), &ratna, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(path["status"], "published");
    assert_eq!(path["courses"], json!([first, second]));
    assert!(path["published_at"].is_string());

    // Published: everyone sees it; another instructor may read it but not change it (403).
    let (status, seen) = server.get(&format!("/api/paths/{path_id}"), Some(&joko)).await;
    assert_eq!((status, &seen["id"]), (StatusCode::OK, &json!(path_id)));
    let (_, list) = server.get("/api/paths", Some(&joko)).await;
    assert_eq!(list["items"][0]["status"], "published");
    assert_eq!(list["items"][0]["published_at"], path["published_at"]);
    assert_eq!(list["next_cursor"], Value::Null);
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/publish"), &joko, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/publish"), &ratna, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "already_published"));

    // The learner enrolls: the first course is active (and enrolled in), the second locked.
    let (enrollment, location) = server
        .create(&format!("/api/paths/{path_id}/enrollments"), &siti, json!({}))
        .await;
    let enrollment_id = enrollment["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/path-enrollments/{enrollment_id}"));
    let (status, read) = server.get(&location, Some(&siti)).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read, enrollment);
    assert_eq!(read["status"], "active");
    assert_eq!(read["current_course_id"], first.as_str());
    let states: Vec<_> = read["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["course_id"].as_str().unwrap().to_owned(),
                c["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (first.clone(), "active".to_owned()),
            (second.clone(), "locked".to_owned())
        ]
    );
    assert!(read["courses"][0]["enrollment_id"].is_string(), "{read}");
    assert_eq!(read["courses"][1]["enrollment_id"], Value::Null);

    // Enrolling twice is a conflict; the author may read the enrollment, another may not (404),
    // and the author may not drop it (403).
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/enrollments"), &siti, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "already_enrolled"));
    let (status, _) = server.get(&location, Some(&ratna)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get(&location, Some(&joko)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "path_enrollment_not_found")
    );
    let (status, body) = server.post(&format!("{location}/drop"), &ratna, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // The learner drops out with a reason (too long a one is 422); dropping again is 409.
    let (status, body) = server
        .post(&format!("{location}/drop"), &siti, json!({"reason": "x".repeat(501)}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "reason_too_long")
    );
    let (status, dropped) = server
        .post(&format!("{location}/drop"), &siti, json!({"reason": "Sibuk kerja"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{dropped}");
    assert_eq!(dropped["status"], "dropped");
    assert_eq!(dropped["drop_reason"], "Sibuk kerja");
    assert!(dropped["dropped_at"].is_string());
    let (status, body) = server.post(&format!("{location}/drop"), &siti, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "invalid_transition"));

    server.stop();
    db.cleanup().await;
}

#[tokio::test]
async fn bad_requests_get_the_error_shape() {
    let db = TestDb::new(migrators()).await;
    let server = Server::start(&db).await;
    let ratna = server.user("Bu Ratna", "ratna@example.id", Role::Instructor).await;
    let siti = server.user("Siti Rahma", "siti@example.id", Role::Learner).await;

    // 401 without a token or with an unknown one.
    let (status, body) = server.get("/api/paths", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, body) = server.get("/api/paths", Some("nope")).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));

    // 403: a learner does not author paths.
    let (status, body) = server
        .post("/api/paths", &siti, json!({"title": "Jalur", "description": ""}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // 422: an invalid title, an unknown field, a wrong type, a bad limit, an unknown course.
    let (status, body) = server.post("/api/paths", &ratna, json!({"title": "  "})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_title")
    );
    let (status, body) = server
        .post("/api/paths", &ratna, json!({"title": "Jalur", "owner_id": "x"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let (status, body) = server.post("/api/paths", &ratna, json!({"title": 7})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let (status, body) = server.get("/api/paths?limit=0", Some(&ratna)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit")
    );
    let (path, _) = server.create("/api/paths", &ratna, json!({"title": "Jalur"})).await;
    let path_id = path["id"].as_str().unwrap().to_owned();
    let unknown = CourseId::new().to_string();
    let (status, body) = server
        .post(
            &format!("/api/paths/{path_id}/courses"),
            &ratna,
            json!({"course_id": unknown}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_course")
    );
    let (status, body) = server
        .post(
            &format!("/api/paths/{path_id}/courses"),
            &ratna,
            json!({"course_id": "not-an-id"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let (status, body) = server
        .post(
            &format!("/api/paths/{path_id}/enrollments"),
            &siti,
            json!({"user_id": "x"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );

    // 404: no such path or path enrollment, malformed ids, and a draft the caller did not author.
    let (status, body) = server.get("/api/paths/not-an-id", Some(&ratna)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "path_not_found"));
    let missing = learning_path_id();
    let (status, body) = server.get(&format!("/api/paths/{missing}"), Some(&ratna)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "path_not_found"));
    let (status, body) = server.get("/api/path-enrollments/nope", Some(&siti)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "path_enrollment_not_found")
    );
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/enrollments"), &siti, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "path_not_found"));

    // 409: the author enrolling in their own draft finds it not published.
    let (status, body) = server
        .post(&format!("/api/paths/{path_id}/enrollments"), &ratna, json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "path_not_published"));
    // A draft course does not go into a path.
    let (draft, _) = server.create("/api/courses", &ratna, json!({"title": "Draf"})).await;
    let (status, body) = server
        .post(
            &format!("/api/paths/{path_id}/courses"),
            &ratna,
            json!({"course_id": draft["id"]}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "course_not_published"));

    server.stop();
    db.cleanup().await;
}

#[tokio::test]
async fn an_admin_builds_and_publishes_another_instructors_path() {
    let db = TestDb::new(migrators()).await;
    let server = Server::start(&db).await;
    let ratna = server.user("Bu Ratna", "ratna@example.id", Role::Instructor).await;
    let joko = server.user("Pak Joko", "joko@example.id", Role::Instructor).await;
    let admin = server.user("Admin", "admin@example.id", Role::Admin).await;
    let course = server.published_course(&ratna, "Rust Dasar").await;
    let (path, _) = server
        .create("/api/paths", &ratna, json!({"title": "Jalur Rust"}))
        .await;
    let path_id = path["id"].as_str().unwrap().to_owned();
    let courses = format!("/api/paths/{path_id}/courses");

    // Another instructor may not even see the draft; an admin sees and changes it.
    let (status, body) = server.post(&courses, &joko, json!({"course_id": course})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "path_not_found"));
    let (status, body) = server.post(&courses, &admin, json!({"course_id": course})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, path) = server
        .post(&format!("/api/paths/{path_id}/publish"), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(path["status"], "published");
    assert_eq!(path["courses"], json!([course]));
    // Still the instructor's path.
    let (owner,): (String,) = shared_kernel::sqlx::query_as("SELECT id FROM users WHERE email = 'ratna@example.id'")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(path["owner_id"], owner.as_str());

    server.stop();
    db.cleanup().await;
}

fn learning_path_id() -> shared_kernel::LearningPathId {
    shared_kernel::LearningPathId::new()
}
