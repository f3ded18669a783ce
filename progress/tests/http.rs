//! The progress routes over real HTTP on an ephemeral port, mounted beside course's and
//! enrollment's (to author a course and enroll in it) on a temporary SQLite database: a learner
//! completes lessons (moving the course progress up to completing the enrollment) and records
//! partial progress; plus the refusals (401, 403, 404, 409, 422) in the error shape, each
//! storing nothing.

use std::sync::Arc;

use assessment::AssessmentGraded;
use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally,
};
use enrollment::{EnrollmentCompleted, GenerateCertificate, UserDropped, UserEnrolled, UserReenrolled};
use progress::{
    CompleteLessonOnPassedAssessment, CourseProgressTracker, LessonCompleted, ProgressUpdated,
    RecalculateCourseProgress,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::http::ApiState;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::TestDb;
use shared_kernel::users::{Role, create_user_with_role, issue_token};
use shared_kernel::{CourseId, DomainEvent, EventBus, LessonId, LogDomainEvent, Registry};

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

/// Progress's own listeners as `app` wires them; the certificate is only enqueued (no worker).
fn registry() -> Registry {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[ProgressUpdated::NAME])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .event::<UserEnrolled>()
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(), GenerateCertificate::queue_options())
        .listen_sync::<LessonCompleted, _>(RecalculateCourseProgress::new(Arc::new(CourseProgressTracker::new())))
        .event::<ProgressUpdated>()
        .listen_sync::<AssessmentGraded, _>(CompleteLessonOnPassedAssessment::new())
        .build()
        .expect("the progress registry is valid")
}

struct Server {
    db: TestDb,
    bus: EventBus,
    base: String,
    client: reqwest::Client,
    running: tokio::task::JoinHandle<()>,
}

async fn serve() -> Server {
    let db = TestDb::new(vec![course::migrator(), enrollment::migrator(), progress::migrator()]).await;
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry())).build();
    let api = ApiState { bus: bus.clone() };
    let courses = CourseService::new(bus.clone(), Arc::new(CountEnrollments));
    let router = progress::http::routes(api.clone())
        .merge(course::http::routes(api.clone(), courses))
        .merge(enrollment::http::routes(api));
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
    body: Value,
}

/// A published course with its lessons, and a learner's active enrollment in it.
struct Enrolled {
    lessons: Vec<String>,
    enrollment: String,
}

impl Server {
    /// A user with a role: their API token.
    async fn user(&self, name: &str, email: &str, role: Role) -> String {
        let mut uow = self.bus.begin();
        let now = chrono::Utc::now();
        let conn = uow.conn().await.unwrap();
        let user = create_user_with_role(conn, name, email, role, now).await.unwrap();
        let token = issue_token(conn, user.id(), now).await.unwrap();
        uow.commit().await.unwrap();
        token.expose().to_owned()
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Answer {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body), token)
            .await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// A published course of `instructor`'s with these lessons, and `learner` enrolled in it.
    async fn enrolled(&self, instructor: &str, learner: &str, title: &str, lessons: &[&str]) -> Enrolled {
        let created = self
            .post("/api/courses", Some(instructor), json!({"title": title}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let course = created.body["id"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for lesson in lessons {
            let added = self
                .post(
                    &format!("/api/courses/{course}/lessons"),
                    Some(instructor),
                    json!({"title": lesson, "kind": "content"}),
                )
                .await;
            assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
            ids.push(added.body["id"].as_str().unwrap().to_owned());
        }
        let published = self
            .post(&format!("/api/courses/{course}/publish"), Some(instructor), json!({}))
            .await;
        assert_eq!(published.status, StatusCode::OK, "{}", published.body);
        let enrolled = self
            .post(&format!("/api/courses/{course}/enrollments"), Some(learner), json!({}))
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
        Enrolled {
            lessons: ids,
            enrollment: enrolled.body["id"].as_str().unwrap().to_owned(),
        }
    }

    /// The stored progress rows: (lesson, percentage, completed).
    async fn progress_rows(&self, enrollment: &str) -> Vec<(String, f64, bool)> {
        let rows: Vec<(String, f64, Option<String>)> = sqlx::query_as(
            "SELECT lesson_id, progress_percentage, completed_at FROM lesson_progress \
             WHERE enrollment_id = $1 ORDER BY lesson_id",
        )
        .bind(enrollment)
        .fetch_all(self.bus.db().pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(lesson, percentage, completed)| (lesson, percentage, completed.is_some()))
            .collect()
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

fn complete(enrollment: &str, lesson: &str) -> String {
    format!("/api/enrollments/{enrollment}/lessons/{lesson}/complete")
}

fn progress(enrollment: &str, lesson: &str) -> String {
    format!("/api/enrollments/{enrollment}/lessons/{lesson}/progress")
}

#[tokio::test]
async fn a_learner_completes_lessons_and_records_progress_over_http() {
    let s = serve().await;
    let instructor = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let learner = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let e = s
        .enrolled(&instructor, &learner, "Rust Dasar", &["Pengenalan", "Ownership"])
        .await;
    let (first, second) = (&e.lessons[0], &e.lessons[1]);

    // Partial progress: 204, stored.
    let partial = s
        .post(
            &progress(&e.enrollment, second),
            Some(&learner),
            json!({"percentage": 40}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::NO_CONTENT, "{}", partial.body);
    assert_eq!(partial.body, Value::String(String::new()));
    let partial = s
        .post(
            &progress(&e.enrollment, second),
            Some(&learner),
            json!({"percentage": 62.5}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::NO_CONTENT, "{}", partial.body);
    assert_eq!(
        s.progress_rows(&e.enrollment).await,
        vec![(second.clone(), 62.5, false)]
    );

    // Completing the first lesson moves the course progress to half.
    let done = s.post(&complete(&e.enrollment, first), Some(&learner), json!({})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body, json!({"completed_now": true, "course_progress": 50.0}));
    let read = s
        .get(&format!("/api/enrollments/{}", e.enrollment), Some(&learner))
        .await;
    assert_eq!(read.body["progress"], 50.0, "{}", read.body);
    assert_eq!(read.body["status"], "active");

    // Again: nothing changes, safe to retry.
    let again = s.post(&complete(&e.enrollment, first), Some(&learner), json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, json!({"completed_now": false, "course_progress": null}));
    let read = s
        .get(&format!("/api/enrollments/{}", e.enrollment), Some(&learner))
        .await;
    assert_eq!(read.body["progress"], 50.0, "{}", read.body);

    // A completed lesson stays at 100 %.
    let after = s
        .post(
            &progress(&e.enrollment, first),
            Some(&learner),
            json!({"percentage": 10}),
        )
        .await;
    assert_eq!(after.status, StatusCode::NO_CONTENT, "{}", after.body);
    let mut expected = vec![(first.clone(), 100.0, true), (second.clone(), 62.5, false)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(s.progress_rows(&e.enrollment).await, expected);

    // The last lesson completes the enrollment.
    let last = s
        .post(&complete(&e.enrollment, second), Some(&learner), json!({}))
        .await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    assert_eq!(last.body, json!({"completed_now": true, "course_progress": 100.0}));
    let read = s
        .get(&format!("/api/enrollments/{}", e.enrollment), Some(&learner))
        .await;
    assert_eq!(read.body["progress"], 100.0, "{}", read.body);
    assert_eq!(read.body["status"], "completed");

    // Nothing more is recorded on a completed enrollment.
    refused(
        &s.post(
            &progress(&e.enrollment, second),
            Some(&learner),
            json!({"percentage": 5}),
        )
        .await,
        StatusCode::CONFLICT,
        "enrollment_not_active",
    );

    s.stop().await;
}

#[tokio::test]
async fn refused_progress_requests_answer_in_the_error_shape_and_store_nothing() {
    let s = serve().await;
    let instructor = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let learner = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let stranger = s.user("Dewi Lestari", "dewi@example.id", Role::Learner).await;
    let other = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let e = s
        .enrolled(&instructor, &learner, "Rust Dasar", &["Pengenalan", "Ownership"])
        .await;
    let elsewhere = s.enrolled(&other, &learner, "Rust Lanjut", &["Async"]).await;
    let lesson = &e.lessons[0];
    let done = complete(&e.enrollment, lesson);
    let partial = progress(&e.enrollment, lesson);

    // 401.
    refused(
        &s.post(&done, None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&partial, Some("not-a-token"), json!({"percentage": 10})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // 403: the course's instructor may read the enrollment, not record for the learner.
    refused(
        &s.post(&done, Some(&instructor), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&partial, Some(&instructor), json!({"percentage": 10})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // 404: a stranger (as if it did not exist), bad and unknown ids, another course's lesson.
    refused(
        &s.post(&done, Some(&stranger), json!({})).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.post(&partial, Some(&other), json!({"percentage": 10})).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.post(&complete("not-an-id", lesson), Some(&learner), json!({})).await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.post(
            &complete(&shared_kernel::EnrollmentId::new().to_string(), lesson),
            Some(&learner),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "enrollment_not_found",
    );
    refused(
        &s.post(
            &complete(&e.enrollment, &LessonId::new().to_string()),
            Some(&learner),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "lesson_not_found",
    );
    refused(
        &s.post(&complete(&e.enrollment, "not-a-lesson"), Some(&learner), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "lesson_not_found",
    );
    refused(
        &s.post(
            &complete(&e.enrollment, &elsewhere.lessons[0]),
            Some(&learner),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "lesson_not_found",
    );
    refused(
        &s.post(
            &progress(&e.enrollment, &LessonId::new().to_string()),
            Some(&learner),
            json!({"percentage": 10}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "lesson_not_found",
    );

    // 422: the percentage and the body.
    refused(
        &s.post(&partial, Some(&learner), json!({"percentage": 150})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_percentage",
    );
    refused(
        &s.post(&partial, Some(&learner), json!({"percentage": -1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_percentage",
    );
    refused(
        &s.post(&partial, Some(&learner), json!({"percentage": "half"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post(&partial, Some(&learner), json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post(&partial, Some(&learner), json!({"percentage": 10, "seconds": 30}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let malformed = s
        .send(
            s.client
                .post(format!("{}{partial}", s.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{\"percentage\": "),
            Some(&learner),
        )
        .await;
    refused(&malformed, StatusCode::UNPROCESSABLE_ENTITY, "invalid_json");

    // None of them stored progress or moved the enrollment.
    assert_eq!(s.progress_rows(&e.enrollment).await, vec![]);
    let read = s
        .get(&format!("/api/enrollments/{}", e.enrollment), Some(&learner))
        .await;
    assert_eq!(read.body["progress"], 0.0, "{}", read.body);

    // 409: a dropped enrollment records nothing.
    let dropped = s
        .post(
            &format!("/api/enrollments/{}/drop", e.enrollment),
            Some(&learner),
            json!({}),
        )
        .await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    refused(
        &s.post(&done, Some(&learner), json!({})).await,
        StatusCode::CONFLICT,
        "enrollment_not_active",
    );
    refused(
        &s.post(&partial, Some(&learner), json!({"percentage": 10})).await,
        StatusCode::CONFLICT,
        "enrollment_not_active",
    );
    assert_eq!(s.progress_rows(&e.enrollment).await, vec![]);

    s.stop().await;
}
