//! The enrollment routes over real HTTP on an ephemeral port, mounted beside course's (to create
//! and publish courses) on a temporary SQLite database: learners enroll themselves, an instructor
//! enrolls someone else, enrollments are read, dropped and resumed, a learner's enrollments page,
//! certificates are verified without a token; plus the refusals (401, 403, 404, 409, 422) in the
//! error shape, each storing nothing.

use std::sync::Arc;

use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally,
};
use enrollment::{
    EnrollmentCompleted, GenerateCertificate, SendCompletionCongratulations, SendWelcomeNotification, UserDropped,
    UserEnrolled, UserReenrolled,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::http::ApiState;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{NotificationFake, TestDb};
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{CourseId, EventBus, LogDomainEvent, Registry, UserId};

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

/// The queued listeners only enqueue here: no worker runs, and notifications go to a fake.
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
            SendCompletionCongratulations::new(notifier),
            SendCompletionCongratulations::queue_options(),
        )
        .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(), GenerateCertificate::queue_options())
        .build()
        .expect("the enrollment registry is valid")
}

struct Server {
    db: TestDb,
    bus: EventBus,
    base: String,
    client: reqwest::Client,
    running: tokio::task::JoinHandle<()>,
}

async fn serve() -> Server {
    let db = TestDb::new(vec![course::migrator(), enrollment::migrator()]).await;
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry())).build();
    let api = ApiState { bus: bus.clone() };
    let courses = CourseService::new(bus.clone(), Arc::new(CountEnrollments));
    let router = enrollment::http::routes(api.clone()).merge(course::http::routes(api, courses));
    let (base, running) = shared_kernel::testing::serve_on_loopback(router).await;
    Server {
        db,
        bus,
        base,
        client: reqwest::Client::new(),
        running,
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl Server {
    /// A user with a role, and their API token.
    async fn user(&self, name: &str, email: &str, role: Role) -> (UserId, String) {
        let mut uow = self.bus.begin();
        let now = chrono::Utc::now();
        let conn = uow.conn().await.unwrap();
        let user = create_user_with_role(conn, name, email, role, now).await.unwrap();
        let token = issue_token(conn, user.id(), now).await.unwrap();
        uow.commit().await.unwrap();
        (user.id(), token.expose().to_owned())
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Answer {
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

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body), token)
            .await
    }

    /// A POST without a body.
    async fn post_empty(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.base)), token).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// A course by `token`'s instructor with one lesson, published or left a draft: its id.
    async fn course(&self, token: &str, title: &str, publish: bool) -> String {
        let created = self.post("/api/courses", Some(token), json!({"title": title})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let lesson = self
            .post(
                &format!("/api/courses/{id}/lessons"),
                Some(token),
                json!({"title": "Pengenalan", "kind": "content"}),
            )
            .await;
        assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.body);
        if publish {
            let published = self
                .post(&format!("/api/courses/{id}/publish"), Some(token), json!({}))
                .await;
            assert_eq!(published.status, StatusCode::OK, "{}", published.body);
        }
        id
    }

    /// An enrollment that must be created: its id.
    async fn enroll(&self, token: &str, course: &str) -> String {
        let enrolled = self
            .post_empty(&format!("/api/courses/{course}/enrollments"), Some(token))
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
        enrolled.body["id"].as_str().unwrap().to_owned()
    }

    async fn enrollments(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM enrollments")
            .fetch_one(self.bus.db().pool())
            .await
            .unwrap();
        n
    }

    async fn status_of(&self, enrollment: &str) -> String {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM enrollments WHERE id = $1")
            .bind(enrollment)
            .fetch_one(self.bus.db().pool())
            .await
            .unwrap();
        status
    }

    async fn stop(self) {
        self.running.abort();
        self.db.cleanup().await;
    }
}

/// Asserts an error answer: its status and stable code.
#[track_caller]
fn refused(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].is_string(), "{}", answer.body);
}

#[tokio::test]
async fn learners_enroll_and_an_instructor_enrolls_someone_else_over_http() {
    let s = serve().await;
    let (budi, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, other) = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let (siti, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let (andi, second) = s.user("Andi Wijaya", "andi@example.id", Role::Learner).await;
    let (dewi, stranger) = s.user("Dewi Lestari", "dewi@example.id", Role::Learner).await;
    let course = s.course(&instructor, "Rust Dasar", true).await;
    let draft = s.course(&instructor, "Rust Lanjut", false).await;
    let enrollments = format!("/api/courses/{course}/enrollments");

    // Refusals first, none of which stores an enrollment.
    refused(
        &s.post_empty(&enrollments, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post_empty(&enrollments, Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&enrollments, Some(&learner), json!({"user_id": andi})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&enrollments, Some(&other), json!({"user_id": andi})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post_empty(&format!("/api/courses/{draft}/enrollments"), Some(&learner))
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post_empty("/api/courses/not-an-id/enrollments", Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post_empty(&format!("/api/courses/{}/enrollments", CourseId::new()), Some(&learner))
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post(&enrollments, Some(&instructor), json!({"user_id": UserId::new()}))
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
    refused(
        &s.post(
            &format!("/api/courses/{draft}/enrollments"),
            Some(&instructor),
            json!({"user_id": siti}),
        )
        .await,
        StatusCode::CONFLICT,
        "course_not_published",
    );
    refused(
        &s.post(&enrollments, Some(&learner), json!({"course": course})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post(&enrollments, Some(&learner), json!({"user_id": "someone"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let malformed = s
        .send(
            s.client
                .post(format!("{}{enrollments}", s.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{"),
            Some(&learner),
        )
        .await;
    refused(&malformed, StatusCode::UNPROCESSABLE_ENTITY, "invalid_json");
    assert_eq!(s.enrollments().await, 0);

    // A learner enrolls themselves, without a body.
    let enrolled = s.post_empty(&enrollments, Some(&learner)).await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    let id = enrolled.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        enrolled.location.as_deref(),
        Some(format!("/api/enrollments/{id}").as_str())
    );
    assert_eq!(enrolled.body["user_id"], siti.to_string());
    assert_eq!(enrolled.body["course_id"], course.as_str());
    assert_eq!(enrolled.body["status"], "active");
    assert_eq!(enrolled.body["progress"], 0.0);
    assert_eq!(enrolled.body["invited_by"], Value::Null);
    refused(
        &s.post_empty(&enrollments, Some(&learner)).await,
        StatusCode::CONFLICT,
        "already_enrolled",
    );
    refused(
        &s.post(&enrollments, Some(&instructor), json!({"user_id": siti})).await,
        StatusCode::CONFLICT,
        "already_enrolled",
    );

    // An empty object, or one's own id, is enrolling oneself too.
    let own = s.post(&enrollments, Some(&stranger), json!({"user_id": dewi})).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["user_id"], dewi.to_string());
    assert_eq!(own.body["invited_by"], Value::Null);

    // The course's instructor enrolls someone else: invited by them.
    let invited = s.post(&enrollments, Some(&instructor), json!({"user_id": andi})).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["user_id"], andi.to_string());
    assert_eq!(invited.body["invited_by"], budi.to_string());
    assert_eq!(invited.body["status"], "active");
    let invited = invited.body["id"].as_str().unwrap().to_owned();
    let read = s.get(&format!("/api/enrollments/{invited}"), Some(&second)).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["invited_by"], budi.to_string());
    assert_eq!(s.enrollments().await, 3);

    // Reading: its learner and the course's instructor; others as if it did not exist.
    let path = format!("/api/enrollments/{id}");
    let by_learner = s.get(&path, Some(&learner)).await;
    assert_eq!(by_learner.status, StatusCode::OK, "{}", by_learner.body);
    assert_eq!(by_learner.body, enrolled.body);
    let by_instructor = s.get(&path, Some(&instructor)).await;
    assert_eq!(by_instructor.status, StatusCode::OK, "{}", by_instructor.body);
    assert_eq!(by_instructor.body, enrolled.body);
    refused(
        &s.get(&path, Some(&stranger)).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.get(&path, Some(&other)).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(&s.get(&path, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    refused(
        &s.get("/api/enrollments/not-an-id", Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.get(
            &format!("/api/enrollments/{}", shared_kernel::EnrollmentId::new()),
            Some(&learner),
        )
        .await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );

    s.stop().await;
}

#[tokio::test]
async fn a_learner_drops_and_reenrolls_over_http() {
    let s = serve().await;
    let (_, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let (_, stranger) = s.user("Dewi Lestari", "dewi@example.id", Role::Learner).await;
    let course = s.course(&instructor, "Rust Dasar", true).await;
    let id = s.enroll(&learner, &course).await;
    let drop = format!("/api/enrollments/{id}/drop");
    let reenroll = format!("/api/enrollments/{id}/reenroll");

    // Only its learner changes it: 403 for the course's instructor, 404 for anyone else.
    refused(
        &s.post(&drop, Some(&instructor), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&drop, Some(&stranger), json!({})).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.post_empty(&drop, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&drop, Some(&learner), json!({"reason": "x".repeat(501)})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_too_long",
    );
    refused(
        &s.post(&drop, Some(&learner), json!({"why": "sibuk"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post_empty(&reenroll, Some(&learner)).await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    assert_eq!(s.status_of(&id).await, "active");

    // Dropped, with a reason; not twice.
    let dropped = s.post(&drop, Some(&learner), json!({"reason": "Sedang sibuk"})).await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    assert_eq!(dropped.body["id"], id.as_str());
    assert_eq!(dropped.body["status"], "dropped");
    assert_eq!(s.status_of(&id).await, "dropped");
    refused(
        &s.post_empty(&drop, Some(&learner)).await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );

    // Resumed: the same enrollment, active again; only by its learner.
    refused(
        &s.post_empty(&reenroll, Some(&instructor)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post_empty(&reenroll, Some(&stranger)).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    assert_eq!(s.status_of(&id).await, "dropped");
    let resumed = s.post_empty(&reenroll, Some(&learner)).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["id"], id.as_str());
    assert_eq!(resumed.body["status"], "active");
    let read = s.get(&format!("/api/enrollments/{id}"), Some(&learner)).await;
    assert_eq!(read.body["status"], "active", "{}", read.body);
    assert_eq!(s.enrollments().await, 1);
    refused(
        &s.post_empty(&format!("/api/courses/{course}/enrollments"), Some(&learner))
            .await,
        StatusCode::CONFLICT,
        "already_enrolled",
    );

    // Dropped again (no body needed), the learner may enroll anew; the old enrollment then
    // cannot be resumed beside the new one.
    let dropped = s.post_empty(&drop, Some(&learner)).await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    assert_eq!(dropped.body["status"], "dropped");
    let anew = s.enroll(&learner, &course).await;
    assert_ne!(anew, id);
    refused(
        &s.post_empty(&reenroll, Some(&learner)).await,
        StatusCode::CONFLICT,
        "already_enrolled",
    );
    assert_eq!(s.status_of(&id).await, "dropped");
    assert_eq!(s.status_of(&anew).await, "active");
    assert_eq!(s.enrollments().await, 2);

    s.stop().await;
}

#[tokio::test]
async fn a_learners_enrollments_page_newest_first_and_certificates_verify_without_a_token() {
    let s = serve().await;
    let (_, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let (_, stranger) = s.user("Dewi Lestari", "dewi@example.id", Role::Learner).await;
    let mut mine = Vec::new();
    for title in ["Rust Dasar", "Rust Lanjut", "Rust Web"] {
        let course = s.course(&instructor, title, true).await;
        mine.push(s.enroll(&learner, &course).await);
    }
    mine.reverse();

    // Newest first, one a page, following next_cursor.
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/api/me/enrollments?limit=1".to_owned();
    loop {
        let page = s.get(&path, Some(&learner)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", page.body);
        assert_eq!(items[0]["status"], "active");
        seen.push(items[0]["id"].as_str().unwrap().to_owned());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/me/enrollments?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, mine);
    assert_eq!(pages, 3);
    let all = s.get("/api/me/enrollments", Some(&learner)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let ids: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, mine);
    assert_eq!(all.body["next_cursor"], Value::Null);

    // Only the caller's own.
    let theirs = s.get("/api/me/enrollments", Some(&stranger)).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert_eq!(theirs.body["items"], json!([]));
    assert_eq!(theirs.body["next_cursor"], Value::Null);
    refused(
        &s.get("/api/me/enrollments", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.get("/api/me/enrollments?limit=0", Some(&learner)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_limit",
    );
    refused(
        &s.get("/api/me/enrollments?status=active", Some(&learner)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    );
    refused(
        &s.get("/api/me/enrollments?cursor=zz", Some(&learner)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_cursor",
    );

    // Certificates: public, an unknown code is 404 (so is the mail's link before issuing).
    refused(
        &s.get("/api/certificates/NO-SUCH-CODE", None).await,
        StatusCode::NOT_FOUND,
        "certificate_not_found",
    );
    refused(
        &s.get("/api/certificates/NO-SUCH-CODE", Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "certificate_not_found",
    );
    let link = s
        .send(s.client.get(format!("{}/certificates/{}", s.base, mine[0])), None)
        .await;
    refused(&link, StatusCode::NOT_FOUND, "certificate_not_found");

    s.stop().await;
}
