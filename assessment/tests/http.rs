//! The assessment routes over real HTTP on an ephemeral port, mounted beside course's and
//! enrollment's on a temporary SQLite database: an instructor authors an assessment with a
//! multiple-choice and an open question, a learner takes it, the instructor grades the open answer
//! from the grading queue and the learner reads the result; plus the refusals (401, 403, 404,
//! 409, 422) in the error shape.

use std::sync::Arc;

use assessment::{AnswerGraded, AssessmentGraded, AssessmentSubmitted, AttemptStarted};
use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally,
};
use enrollment::{EnrollmentCompleted, UserDropped, UserEnrolled, UserReenrolled};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::http::ApiState;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::TestDb;
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

fn migrators() -> Vec<sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator(), assessment::migrator()]
}

fn registry() -> Registry {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .event::<UserEnrolled>()
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .event::<EnrollmentCompleted>()
        .event::<AttemptStarted>()
        .event::<AssessmentSubmitted>()
        .event::<AnswerGraded>()
        .event::<AssessmentGraded>()
        .build()
        .expect("the registry is valid")
}

struct Server {
    db: TestDb,
    bus: EventBus,
    base: String,
    client: reqwest::Client,
    running: tokio::task::JoinHandle<()>,
}

async fn serve() -> Server {
    let db = TestDb::new(migrators()).await;
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry())).build();
    let api = ApiState { bus: bus.clone() };
    let courses = CourseService::new(bus.clone(), Arc::new(CountEnrollments));
    let router = assessment::http::routes(api.clone())
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
    location: Option<String>,
    body: Value,
}

impl Server {
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

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// A published course "Rust Dasar" of `instructor` with one content lesson, `learner`
    /// enrolled in it; its id.
    async fn published_course_with_learner(&self, instructor: &str, learner: &str) -> String {
        let course = self
            .post(
                "/api/courses",
                Some(instructor),
                json!({"title": "Rust Dasar", "description": "Dari nol"}),
            )
            .await;
        assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
        let course = course.body["id"].as_str().unwrap().to_owned();
        let lesson = self
            .post(
                &format!("/api/courses/{course}/lessons"),
                Some(instructor),
                json!({"title": "Variabel", "kind": "content"}),
            )
            .await;
        assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.body);
        let published = self
            .post(&format!("/api/courses/{course}/publish"), Some(instructor), json!({}))
            .await;
        assert_eq!(published.status, StatusCode::OK, "{}", published.body);
        let enrolled = self
            .post(&format!("/api/courses/{course}/enrollments"), Some(learner), json!({}))
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
        course
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

fn quiz() -> Value {
    json!({
        "title": "Kuis Ownership",
        "passing_score": 70,
        "max_attempts": 2,
        "time_limit_minutes": 30,
        "questions": [
            {"prompt": "Tipe teks milik sendiri?", "kind": "multiple_choice",
             "options": ["String", "&str", "i32"], "correct": [0], "points": 6},
            {"prompt": "Jelaskan ownership.", "kind": "open", "points": 4}
        ]
    })
}

#[tokio::test]
async fn an_assessment_is_authored_taken_graded_and_read_over_http() {
    let s = serve().await;
    let instructor = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let other = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let learner = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let outsider = s.user("Andi Wijaya", "andi@example.id", Role::Learner).await;

    // A published course with a lesson, the learner enrolled; and a draft only its author sees.
    let course = s.published_course_with_learner(&instructor, &learner).await;
    let draft = s
        .post("/api/courses", Some(&instructor), json!({"title": "Rust Lanjut"}))
        .await;
    let draft = draft.body["id"].as_str().unwrap().to_owned();

    // Authoring: refusals first.
    let create = format!("/api/courses/{course}/assessments");
    refused(
        &s.post(&create, None, quiz()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&create, Some("not-a-token"), quiz()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&create, Some(&other), quiz()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&create, Some(&learner), quiz()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&format!("/api/courses/{draft}/assessments"), Some(&other), quiz())
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post("/api/courses/nonsense/assessments", Some(&instructor), quiz())
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    let mut unknown_field = quiz();
    unknown_field["shuffle"] = json!(true);
    refused(
        &s.post(&create, Some(&instructor), unknown_field).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let mut bad_score = quiz();
    bad_score["passing_score"] = json!(150);
    refused(
        &s.post(&create, Some(&instructor), bad_score).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_passing_score",
    );
    let mut bad_kind = quiz();
    bad_kind["questions"][1]["kind"] = json!("essay");
    refused(
        &s.post(&create, Some(&instructor), bad_kind).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_question_kind",
    );
    let mut bad_question = quiz();
    bad_question["questions"][0]["correct"] = json!([7]);
    refused(
        &s.post(&create, Some(&instructor), bad_question).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_question",
    );
    let mut no_questions = quiz();
    no_questions["questions"] = json!([]);
    refused(
        &s.post(&create, Some(&instructor), no_questions).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_questions",
    );

    // Created, with its correct options shown to its instructor.
    let created = s.post(&create, Some(&instructor), quiz()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/api/assessments/{id}").as_str())
    );
    assert_eq!(created.body["max_score"], 10);
    assert_eq!(created.body["time_limit_minutes"], 30);
    assert_eq!(created.body["questions"][0]["correct"], json!([0]));
    let choice = created.body["questions"][0]["id"].as_str().unwrap().to_owned();
    let open = created.body["questions"][1]["id"].as_str().unwrap().to_owned();

    // The learner sees it without the correct options.
    let shown = s.get(&format!("/api/assessments/{id}"), Some(&learner)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["questions"][0]["options"], json!(["String", "&str", "i32"]));
    assert!(shown.body["questions"][0].get("correct").is_none(), "{}", shown.body);
    assert!(!shown.body.to_string().contains("correct"), "{}", shown.body);
    let shown = s.get(&format!("/api/assessments/{id}"), Some(&instructor)).await;
    assert_eq!(shown.body["questions"][0]["correct"], json!([0]));
    refused(
        &s.get("/api/assessments/not-an-id", Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "assessment_not_found",
    );
    refused(
        &s.get(&format!("/api/assessments/{id}"), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Attempts: only an enrolled learner, one at a time.
    let attempts = format!("/api/assessments/{id}/attempts");
    refused(
        &s.post(&attempts, Some(&outsider), json!({})).await,
        StatusCode::FORBIDDEN,
        "not_enrolled",
    );
    let started = s.post(&attempts, Some(&learner), json!({})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let attempt = started.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        started.location.as_deref(),
        Some(format!("/api/attempts/{attempt}").as_str())
    );
    assert_eq!(started.body["status"], "in_progress");
    assert_eq!(started.body["attempt_number"], 1);
    assert!(started.body["deadline"].is_string(), "{}", started.body);
    refused(
        &s.post(&attempts, Some(&learner), json!({})).await,
        StatusCode::CONFLICT,
        "attempt_in_progress",
    );

    // Submitting: the learner only, with well-formed answers.
    let submit = format!("/api/attempts/{attempt}/submit");
    let answers = json!({"answers": [
        {"question_id": choice, "choices": [0]},
        {"question_id": open, "text": "Setiap nilai punya satu pemilik."}
    ]});
    refused(
        &s.post(&submit, Some(&outsider), answers.clone()).await,
        StatusCode::NOT_FOUND,
        "attempt_not_found",
    );
    refused(
        &s.post(&submit, Some(&instructor), answers.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(
            &submit,
            Some(&learner),
            json!({"answers": [{"question_id": choice, "text": "String"}]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_response_kind",
    );
    refused(
        &s.post(
            &submit,
            Some(&learner),
            json!({"answers": [{"question_id": choice, "choices": [0], "text": "String"}]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_answer",
    );
    refused(
        &s.post(&submit, Some(&learner), json!({"answers": "all of them"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let submitted = s.post(&submit, Some(&learner), answers.clone()).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(submitted.body["status"], "submitted");
    assert_eq!(submitted.body["ungraded"], 1);
    assert_eq!(submitted.body["score"], Value::Null);
    refused(
        &s.post(&submit, Some(&learner), answers).await,
        StatusCode::CONFLICT,
        "already_submitted",
    );

    // The grading queue: the course's instructor's.
    let queue = format!("/api/courses/{course}/grading");
    let waiting = s.get(&queue, Some(&instructor)).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    assert_eq!(waiting.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(waiting.body["items"][0]["id"], attempt.as_str());
    assert_eq!(waiting.body["next_cursor"], Value::Null);
    refused(&s.get(&queue, Some(&learner)).await, StatusCode::FORBIDDEN, "forbidden");
    refused(
        &s.get(&format!("{queue}?limit=0"), Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_limit",
    );
    refused(
        &s.get(&format!("{queue}?page=2"), Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    );

    // Grading the open answer.
    let grade = |question: &str| format!("/api/attempts/{attempt}/answers/{question}/grade");
    refused(
        &s.post(&grade(&open), Some(&learner), json!({"points": 4})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&grade(&open), Some(&other), json!({"points": 4})).await,
        StatusCode::NOT_FOUND,
        "attempt_not_found",
    );
    refused(
        &s.post(&grade(&choice), Some(&instructor), json!({"points": 4})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_an_open_question",
    );
    refused(
        &s.post(&grade(&open), Some(&instructor), json!({"points": 99})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "points_out_of_range",
    );
    refused(
        &s.post(&grade("garbage"), Some(&instructor), json!({"points": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_question",
    );
    let graded = s
        .post(
            &grade(&open),
            Some(&instructor),
            json!({"points": 3, "feedback": "Bagus, tambahkan contoh."}),
        )
        .await;
    assert_eq!(graded.status, StatusCode::OK, "{}", graded.body);
    assert_eq!(graded.body["status"], "graded");
    refused(
        &s.post(&grade(&open), Some(&instructor), json!({"points": 4})).await,
        StatusCode::CONFLICT,
        "already_graded",
    );
    let waiting = s.get(&queue, Some(&instructor)).await;
    assert_eq!(waiting.body["items"], json!([]));

    // The learner reads the result; others may not see it.
    let result = s.get(&format!("/api/attempts/{attempt}"), Some(&learner)).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert_eq!(result.body["status"], "graded");
    assert_eq!(result.body["score"], 9);
    assert_eq!(result.body["max_score"], 10);
    assert_eq!(result.body["percentage"], 90.0);
    assert_eq!(result.body["passed"], true);
    assert_eq!(result.body["ungraded"], 0);
    let answers = result.body["answers"].as_array().unwrap();
    let open_answer = answers.iter().find(|a| a["question_id"] == open.as_str()).unwrap();
    assert_eq!(open_answer["points"], 3);
    assert_eq!(open_answer["feedback"], "Bagus, tambahkan contoh.");
    assert_eq!(open_answer["text"], "Setiap nilai punya satu pemilik.");
    let choice_answer = answers.iter().find(|a| a["question_id"] == choice.as_str()).unwrap();
    assert_eq!(choice_answer["points"], 6);
    assert_eq!(choice_answer["choices"], json!([0]));
    let by_instructor = s.get(&format!("/api/attempts/{attempt}"), Some(&instructor)).await;
    assert_eq!(by_instructor.status, StatusCode::OK, "{}", by_instructor.body);
    refused(
        &s.get(&format!("/api/attempts/{attempt}"), Some(&outsider)).await,
        StatusCode::NOT_FOUND,
        "attempt_not_found",
    );
    refused(
        &s.get(&format!("/api/attempts/{attempt}"), Some(&other)).await,
        StatusCode::NOT_FOUND,
        "attempt_not_found",
    );

    // The second and last attempt, then none left.
    let second = s.post(&attempts, Some(&learner), json!({})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["attempt_number"], 2);
    let second = second.body["id"].as_str().unwrap().to_owned();
    let auto = s
        .post(
            &format!("/api/attempts/{second}/submit"),
            Some(&learner),
            json!({"answers": [{"question_id": choice, "choices": [1]}]}),
        )
        .await;
    assert_eq!(auto.status, StatusCode::OK, "{}", auto.body);
    assert_eq!(auto.body["status"], "graded");
    assert_eq!(auto.body["score"], 0);
    assert_eq!(auto.body["passed"], false);
    refused(
        &s.post(&attempts, Some(&learner), json!({})).await,
        StatusCode::CONFLICT,
        "no_attempts_left",
    );

    s.stop().await;
}

#[tokio::test]
async fn assessments_link_to_assessment_lessons_and_the_grading_queue_pages() {
    let s = serve().await;
    let instructor = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let learners = [
        s.user("Siti Rahma", "siti@example.id", Role::Learner).await,
        s.user("Andi Wijaya", "andi@example.id", Role::Learner).await,
        s.user("Dewi Lestari", "dewi@example.id", Role::Learner).await,
    ];
    let course = s
        .post("/api/courses", Some(&instructor), json!({"title": "Rust Dasar"}))
        .await;
    let course = course.body["id"].as_str().unwrap().to_owned();
    let lesson = |kind: &'static str| {
        let s = &s;
        let instructor = &instructor;
        let course = &course;
        async move {
            let lesson = s
                .post(
                    &format!("/api/courses/{course}/lessons"),
                    Some(instructor),
                    json!({"title": "Kuis", "kind": kind}),
                )
                .await;
            assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.body);
            lesson.body["id"].as_str().unwrap().to_owned()
        }
    };
    let content = lesson("content").await;
    let quiz_lesson = lesson("assessment").await;
    let published = s
        .post(&format!("/api/courses/{course}/publish"), Some(&instructor), json!({}))
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);

    // Linking: only to an assessment lesson of the course, once.
    let create = format!("/api/courses/{course}/assessments");
    let mut on_content = quiz();
    on_content["lesson_id"] = json!(content);
    refused(
        &s.post(&create, Some(&instructor), on_content).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_an_assessment_lesson",
    );
    let mut linked = quiz();
    linked["lesson_id"] = json!(quiz_lesson);
    let created = s.post(&create, Some(&instructor), linked.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["lesson_id"], quiz_lesson.as_str());
    refused(
        &s.post(&create, Some(&instructor), linked).await,
        StatusCode::CONFLICT,
        "assessment_already_linked",
    );
    let id = created.body["id"].as_str().unwrap().to_owned();
    let open = created.body["questions"][1]["id"].as_str().unwrap().to_owned();

    // Three learners submit open answers: the queue pages through them, oldest first.
    let mut submitted = Vec::new();
    for learner in &learners {
        let enrolled = s
            .post(&format!("/api/courses/{course}/enrollments"), Some(learner), json!({}))
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
        let started = s
            .post(&format!("/api/assessments/{id}/attempts"), Some(learner), json!({}))
            .await;
        let attempt = started.body["id"].as_str().unwrap().to_owned();
        let done = s
            .post(
                &format!("/api/attempts/{attempt}/submit"),
                Some(learner),
                json!({"answers": [{"question_id": open, "text": "Pemilik tunggal."}]}),
            )
            .await;
        assert_eq!(done.body["status"], "submitted", "{}", done.body);
        submitted.push(attempt);
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/courses/{course}/grading?limit=2");
    loop {
        let page = s.get(&path, Some(&instructor)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/courses/{course}/grading?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, submitted);
    refused(
        &s.get(&format!("/api/courses/{course}/grading?cursor=zz"), Some(&instructor))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_cursor",
    );

    s.stop().await;
}

#[tokio::test]
async fn an_admin_authors_and_grades_an_assessment_of_another_instructors_course() {
    let s = serve().await;
    let instructor = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let other = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let admin = s.user("Admin", "admin@example.id", Role::Admin).await;
    let learner = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;
    let course = s.published_course_with_learner(&instructor, &learner).await;

    // Another instructor may not author it; an admin may.
    let create = format!("/api/courses/{course}/assessments");
    refused(
        &s.post(&create, Some(&other), quiz()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let created = s.post(&create, Some(&admin), quiz()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let choice = created.body["questions"][0]["id"].as_str().unwrap().to_owned();
    let open = created.body["questions"][1]["id"].as_str().unwrap().to_owned();

    let started = s
        .post(&format!("/api/assessments/{id}/attempts"), Some(&learner), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let attempt = started.body["id"].as_str().unwrap().to_owned();
    let submitted = s
        .post(
            &format!("/api/attempts/{attempt}/submit"),
            Some(&learner),
            json!({"answers": [
                {"question_id": choice, "choices": [0]},
                {"question_id": open, "text": "Setiap nilai punya satu pemilik."}
            ]}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);

    // Another instructor may not grade it; an admin may, and is recorded as the grader.
    let grade = format!("/api/attempts/{attempt}/answers/{open}/grade");
    refused(
        &s.post(&grade, Some(&other), json!({"points": 4})).await,
        StatusCode::NOT_FOUND,
        "attempt_not_found",
    );
    let graded = s.post(&grade, Some(&admin), json!({"points": 4})).await;
    assert_eq!(graded.status, StatusCode::OK, "{}", graded.body);
    assert_eq!(graded.body["status"], "graded");
    assert_eq!(graded.body["score"], 10);
    let mut conn = s.bus.db().pool().acquire().await.unwrap();
    let (actor,): (Option<String>,) =
        shared_kernel::sqlx::query_as("SELECT actor_id FROM domain_event_log WHERE event_name = 'assessment.graded'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let (admin_id,): (String,) = shared_kernel::sqlx::query_as("SELECT id FROM users WHERE email = 'admin@example.id'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(actor, Some(admin_id));
    drop(conn);
    s.stop().await;
}
