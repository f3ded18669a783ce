//! The course routes over real HTTP on an ephemeral port, on a temporary SQLite database: an
//! instructor authors a course with lessons, publishes, unpublishes and archives it, and the
//! catalog pages; plus the refusals (401, 403, 404, 409, 422) in the error shape, each storing
//! nothing.

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

struct Server {
    db: TestDb,
    bus: EventBus,
    base: String,
    client: reqwest::Client,
    running: tokio::task::JoinHandle<()>,
}

async fn serve() -> Server {
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

    /// A POST with a body that is not JSON, though it says it is.
    async fn post_raw(&self, path: &str, token: Option<&str>, body: &'static str) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(request, token).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), token).await
    }

    /// A course that must be created: its id.
    async fn course(&self, token: &str, title: &str) -> String {
        let created = self.post("/api/courses", Some(token), json!({"title": title})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// A lesson that must be added: its id.
    async fn lesson(&self, token: &str, course: &str, title: &str, kind: &str) -> String {
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
    async fn rows(&self, table: &str) -> i64 {
        let sql = match table {
            "courses" => "SELECT COUNT(*) FROM courses",
            "lessons" => "SELECT COUNT(*) FROM lessons",
            other => panic!("no table {other}"),
        };
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.bus.db().pool()).await.unwrap();
        n
    }

    /// The stored status of a course.
    async fn status_of(&self, course: &str) -> String {
        let (status,): (String,) = sqlx::query_as("SELECT status FROM courses WHERE id = $1")
            .bind(course)
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
async fn an_instructor_authors_publishes_unpublishes_and_archives_a_course_over_http() {
    let s = serve().await;
    let (budi, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;

    // Created: a draft of its instructor, without lessons, at its Location.
    let created = s
        .post(
            "/api/courses",
            Some(&instructor),
            json!({"title": "  Rust Dasar ", "description": "Belajar Rust dari nol"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.location.as_deref(), Some(format!("/api/courses/{id}").as_str()));
    assert_eq!(created.body["title"], "Rust Dasar");
    assert_eq!(created.body["description"], "Belajar Rust dari nol");
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["instructor_id"], budi.to_string());
    assert_eq!(created.body["lessons"], json!([]));
    let untitled = s
        .post("/api/courses", Some(&instructor), json!({"title": "Tanpa Deskripsi"}))
        .await;
    assert_eq!(untitled.status, StatusCode::CREATED, "{}", untitled.body);
    assert_eq!(untitled.body["description"], "");

    // Lessons, in order.
    let lessons = format!("/api/courses/{id}/lessons");
    let first = s
        .post(
            &lessons,
            Some(&instructor),
            json!({"title": "Pengenalan", "kind": "content"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.location.as_deref(), Some(format!("/api/courses/{id}").as_str()));
    assert_eq!(first.body["title"], "Pengenalan");
    assert_eq!(first.body["kind"], "content");
    assert_eq!(first.body["position"], 1);
    let quiz = s
        .post(
            &lessons,
            Some(&instructor),
            json!({"title": "Kuis", "kind": "assessment"}),
        )
        .await;
    assert_eq!(quiz.status, StatusCode::CREATED, "{}", quiz.body);
    assert_eq!(quiz.body["kind"], "assessment");
    assert_eq!(quiz.body["position"], 2);
    let shown = s.get(&format!("/api/courses/{id}"), Some(&instructor)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["id"], id.as_str());
    assert_eq!(shown.body["status"], "draft");
    assert_eq!(shown.body["lessons"], json!([first.body, quiz.body]));

    // A draft is its instructor's own: a learner does not see it.
    refused(
        &s.get(&format!("/api/courses/{id}"), Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );

    // Published: everyone with a token sees it.
    let published = s
        .post(&format!("/api/courses/{id}/publish"), Some(&instructor), json!({}))
        .await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);
    assert_eq!(published.body["status"], "published");
    assert_eq!(published.body["lessons"].as_array().unwrap().len(), 2);
    let seen = s.get(&format!("/api/courses/{id}"), Some(&learner)).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body, published.body);

    // Unpublished: a draft again, hidden from the learner; then published again.
    let unpublished = s
        .post(&format!("/api/courses/{id}/unpublish"), Some(&instructor), json!({}))
        .await;
    assert_eq!(unpublished.status, StatusCode::OK, "{}", unpublished.body);
    assert_eq!(unpublished.body["status"], "draft");
    refused(
        &s.get(&format!("/api/courses/{id}"), Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    let republished = s
        .post(&format!("/api/courses/{id}/publish"), Some(&instructor), json!({}))
        .await;
    assert_eq!(republished.body["status"], "published", "{}", republished.body);

    // Archived: its instructor still reads it, a learner no longer does; no way back.
    let archived = s
        .post(&format!("/api/courses/{id}/archive"), Some(&instructor), json!({}))
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["status"], "archived");
    assert_eq!(s.status_of(&id).await, "archived");
    let kept = s.get(&format!("/api/courses/{id}"), Some(&instructor)).await;
    assert_eq!(kept.body["status"], "archived", "{}", kept.body);
    refused(
        &s.get(&format!("/api/courses/{id}"), Some(&learner)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post(&format!("/api/courses/{id}/publish"), Some(&instructor), json!({}))
            .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    refused(
        &s.post(
            &lessons,
            Some(&instructor),
            json!({"title": "Penutup", "kind": "content"}),
        )
        .await,
        StatusCode::CONFLICT,
        "course_archived",
    );
    assert_eq!(s.rows("lessons").await, 2);

    s.stop().await;
}

#[tokio::test]
async fn refused_requests_answer_in_the_error_shape_and_store_nothing() {
    let s = serve().await;
    let (_, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, other) = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let (_, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;

    let draft = s.course(&instructor, "Rust Dasar").await;
    let published = s.course(&instructor, "Rust Lanjut").await;
    s.lesson(&instructor, &published, "Pengenalan", "content").await;
    let answer = s
        .post(
            &format!("/api/courses/{published}/publish"),
            Some(&instructor),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (courses, lessons) = (s.rows("courses").await, s.rows("lessons").await);
    assert_eq!((courses, lessons), (2, 1));
    let stored = (courses, lessons);

    // 401: no token, an unknown token, a malformed header.
    let course = json!({"title": "Rust Web"});
    refused(
        &s.post("/api/courses", None, course.clone()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post("/api/courses", Some("not-a-token"), course.clone()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let basic = s
        .send(
            s.client
                .get(format!("{}/api/courses", s.base))
                .header(reqwest::header::AUTHORIZATION, "Basic YnVkaTpzZWNyZXQ="),
            None,
        )
        .await;
    refused(&basic, StatusCode::UNAUTHORIZED, "unauthorized");
    refused(
        &s.get("/api/courses", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.get(&format!("/api/courses/{published}"), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    refused(
        &s.post(&format!("/api/courses/{draft}/publish"), None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // 403: a learner creating; another instructor (or a learner) changing a published course.
    refused(
        &s.post("/api/courses", Some(&learner), course.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    for path in ["unpublish", "archive"] {
        refused(
            &s.post(&format!("/api/courses/{published}/{path}"), Some(&other), json!({}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    refused(
        &s.post(
            &format!("/api/courses/{published}/lessons"),
            Some(&other),
            json!({"title": "Sisipan", "kind": "content"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        &s.post(&format!("/api/courses/{published}/archive"), Some(&learner), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // 404: another instructor's draft (as if it did not exist), a bad id, an unknown id.
    refused(
        &s.get(&format!("/api/courses/{draft}"), Some(&other)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post(&format!("/api/courses/{draft}/publish"), Some(&other), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post(
            &format!("/api/courses/{draft}/lessons"),
            Some(&other),
            json!({"title": "Sisipan", "kind": "content"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.get("/api/courses/not-an-id", Some(&instructor)).await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.post("/api/courses/not-an-id/archive", Some(&instructor), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );
    refused(
        &s.get(
            &format!("/api/courses/{}", shared_kernel::CourseId::new()),
            Some(&instructor),
        )
        .await,
        StatusCode::NOT_FOUND,
        "course_not_found",
    );

    // 409: publishing a course with no lessons; invalid transitions.
    refused(
        &s.post(&format!("/api/courses/{draft}/publish"), Some(&instructor), json!({}))
            .await,
        StatusCode::CONFLICT,
        "no_lessons",
    );
    refused(
        &s.post(&format!("/api/courses/{draft}/unpublish"), Some(&instructor), json!({}))
            .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    refused(
        &s.post(
            &format!("/api/courses/{published}/publish"),
            Some(&instructor),
            json!({}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );

    // 422: the body and the query.
    refused(
        &s.post_raw("/api/courses", Some(&instructor), r#"{"title": "Rust"#)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_json",
    );
    refused(
        &s.post(
            "/api/courses",
            Some(&instructor),
            json!({"title": "Rust Web", "price": 100}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post("/api/courses", Some(&instructor), json!({"description": "Tanpa judul"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post("/api/courses", Some(&instructor), json!({"title": 42})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post("/api/courses", Some(&instructor), json!({"title": "   "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_title",
    );
    refused(
        &s.post("/api/courses", Some(&instructor), json!({"title": "x".repeat(201)}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_title",
    );
    let lessons = format!("/api/courses/{draft}/lessons");
    refused(
        &s.post(&lessons, Some(&instructor), json!({"title": "Video", "kind": "video"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_lesson_kind",
    );
    refused(
        &s.post(&lessons, Some(&instructor), json!({"title": "", "kind": "content"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_title",
    );
    refused(
        &s.post(
            &lessons,
            Some(&instructor),
            json!({"title": "Pengenalan", "kind": "content", "position": 1}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    refused(
        &s.post_raw(&lessons, Some(&instructor), "title=Pengenalan").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_json",
    );
    refused(
        &s.get("/api/courses?page=2", Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    );
    refused(
        &s.get("/api/courses?limit=many", Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    );
    refused(
        &s.get("/api/courses?limit=0", Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_limit",
    );
    refused(
        &s.get("/api/courses?limit=501", Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_limit",
    );
    refused(
        &s.get("/api/courses?cursor=zz", Some(&instructor)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_cursor",
    );

    // Nothing was stored or changed by any of them.
    assert_eq!((s.rows("courses").await, s.rows("lessons").await), stored);
    assert_eq!(s.status_of(&draft).await, "draft");
    assert_eq!(s.status_of(&published).await, "published");
    let still = s.get(&format!("/api/courses/{draft}"), Some(&instructor)).await;
    assert_eq!(still.body["lessons"], json!([]), "{}", still.body);

    s.stop().await;
}

#[tokio::test]
async fn the_catalog_pages_in_creation_order_following_next_cursor() {
    let s = serve().await;
    let (_, instructor) = s.user("Budi Santoso", "budi@example.id", Role::Instructor).await;
    let (_, other) = s.user("Rina Wati", "rina@example.id", Role::Instructor).await;
    let (_, learner) = s.user("Siti Rahma", "siti@example.id", Role::Learner).await;

    // Three published courses, and a draft only its instructor lists.
    let mut published = Vec::new();
    for title in ["Rust Dasar", "Rust Lanjut", "Rust Web"] {
        let id = s.course(&instructor, title).await;
        s.lesson(&instructor, &id, "Pengenalan", "content").await;
        let answer = s
            .post(&format!("/api/courses/{id}/publish"), Some(&instructor), json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        published.push(id);
    }
    let draft = s.course(&instructor, "Rust Async").await;

    let pages = async |token: &str| {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut path = "/api/courses?limit=1".to_owned();
        loop {
            let page = s.get(&path, Some(token)).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 1, "{}", page.body);
            for item in items {
                assert_eq!(item["lessons"], json!([]), "lists carry no lessons: {}", page.body);
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            pages += 1;
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/courses?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        (seen, pages)
    };

    let (seen, count) = pages(&learner).await;
    assert_eq!(seen, published);
    assert_eq!(count, 3, "one course a page, and no empty last page");
    let (seen, _) = pages(&other).await;
    assert_eq!(seen, published);
    let (seen, count) = pages(&instructor).await;
    assert_eq!(count, 4);
    let (_, admin) = s.user("Admin", "admin@example.id", Role::Admin).await;
    assert_eq!(pages(&admin).await.0, seen, "an admin lists every course");
    let read = s.get(&format!("/api/courses/{draft}"), Some(&admin)).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let mut with_draft = published.clone();
    with_draft.push(draft.clone());
    assert_eq!(seen, with_draft);

    // One page holding everything has no next cursor.
    let all = s.get("/api/courses?limit=10", Some(&instructor)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 4);
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(all.body["items"][3]["status"], "draft");
    let default = s.get("/api/courses", Some(&learner)).await;
    assert_eq!(default.body["items"].as_array().unwrap().len(), 3, "{}", default.body);

    s.stop().await;
}
