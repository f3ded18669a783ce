//! The HTTP API over real HTTP on an ephemeral port, with app's real registration and the queue
//! workers embedded, on SQLite and PostgreSQL: the LMS flow as an instructor and a learner, the
//! status codes and the error shape, tokens, and request correlation.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::users::{Role, create_user_with_role, issue_token, revoke_tokens};
use shared_kernel::{AuditLog, AuditQuery, CorrelationId, ShutdownTrigger, shutdown_channel};
use tests::{TestApp, spawn_app, spawn_app_on_postgres};

struct Server {
    base: String,
    client: reqwest::Client,
    trigger: ShutdownTrigger,
    running: tokio::task::JoinHandle<anyhow::Result<shared_kernel::WorkerReport>>,
}

async fn serve(t: &TestApp) -> Server {
    let listener = app::server::listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = shutdown_channel();
    let app = t.app.clone();
    let running =
        tokio::spawn(async move { app::server::serve(&app, listener, &[], 1, Duration::from_secs(5), shutdown).await });
    Server {
        base,
        client: reqwest::Client::new(),
        trigger,
        running,
    }
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn stop(self) {
        self.trigger.trigger();
        self.running.await.unwrap().unwrap();
    }
}

async fn staff(t: &TestApp, name: &str, email: &str, role: Role) -> (shared_kernel::UserId, String) {
    let mut uow = t.app.bus().begin();
    let now = chrono::Utc::now();
    let conn = uow.conn().await.unwrap();
    let user = create_user_with_role(conn, name, email, role, now).await.unwrap();
    let token = issue_token(conn, user.id(), now).await.unwrap();
    uow.commit().await.unwrap();
    (user.id(), token.expose().to_owned())
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error body: {body}"))
}

async fn the_flow_over_http(t: TestApp) {
    let server = serve(&t).await;
    let (_, ratna) = staff(&t, "Bu Ratna", "ratna@example.id", Role::Instructor).await;
    let (_, joko) = staff(&t, "Pak Joko", "joko@example.id", Role::Instructor).await;

    // A learner signs up.
    let (status, signed) = server
        .post(
            "/api/users",
            None,
            json!({"name": "Siti Rahma", "email": "siti@example.id"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let siti = signed["token"].as_str().unwrap().to_owned();
    let (status, me) = server.get("/api/me", Some(&siti)).await;
    assert_eq!((status, me["role"].as_str()), (StatusCode::OK, Some("learner")));

    // The instructor authors and publishes a course.
    let (status, course) = server
        .post(
            "/api/courses",
            Some(&ratna),
            json!({"title": "Rust Dasar", "description": "Dari nol"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{course}");
    let course_id = course["id"].as_str().unwrap().to_owned();
    let mut lessons = Vec::new();
    for title in ["Variabel", "Fungsi"] {
        let (status, lesson) = server
            .post(
                &format!("/api/courses/{course_id}/lessons"),
                Some(&ratna),
                json!({"title": title, "kind": "content"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{lesson}");
        lessons.push(lesson["id"].as_str().unwrap().to_owned());
    }
    // The instructor puts the lessons in another order, then back.
    let (status, reordered) = server
        .post(
            &format!("/api/courses/{course_id}/lessons/order"),
            Some(&ratna),
            json!({"lesson_ids": [lessons[1], lessons[0]]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    assert_eq!(reordered["lessons"][0]["id"], lessons[1].as_str());
    let (status, body) = server
        .post(
            &format!("/api/courses/{course_id}/lessons/order"),
            Some(&ratna),
            json!({"lesson_ids": [lessons[0]]}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_a_permutation")
    );
    server
        .post(
            &format!("/api/courses/{course_id}/lessons/order"),
            Some(&ratna),
            json!({"lesson_ids": [lessons[0], lessons[1]]}),
        )
        .await;
    // Before publishing, another instructor cannot see the draft: 404, as if it did not exist.
    let (status, body) = server.get(&format!("/api/courses/{course_id}"), Some(&joko)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "course_not_found"));
    let (status, body) = server
        .post(&format!("/api/courses/{course_id}/publish"), Some(&ratna), json!({}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("published")),
        "{body}"
    );
    // Published, another instructor may read it but not change it: 403.
    let (status, body) = server
        .post(&format!("/api/courses/{course_id}/archive"), Some(&joko), json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // A learner may not author: 403.
    let (status, body) = server
        .post("/api/courses", Some(&siti), json!({"title": "Kursus Saya"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));

    // The learner finds the course and enrolls, with a request id that becomes the correlation.
    let (status, catalog) = server.get("/api/courses", Some(&siti)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == course_id.as_str())
    );
    let request_id = uuid::Uuid::now_v7().to_string();
    let response = server
        .client
        .post(format!("{}/api/courses/{course_id}/enrollments", server.base))
        .bearer_auth(&siti)
        .header("x-request-id", &request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    assert_eq!(response.headers()["x-correlation-id"], request_id.as_str());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let enrollment: Value = response.json().await.unwrap();
    let enrollment_id = enrollment["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/enrollments/{enrollment_id}"));
    let trail = AuditLog::new(t.app.db().clone())
        .query(&AuditQuery::new().correlation(CorrelationId::parse(&request_id).unwrap()))
        .await
        .unwrap();
    assert_eq!(trail.first().map(|e| e.event_name.as_str()), Some("enrollment.created"));
    // Twice is a conflict.
    let (status, body) = server
        .post(&format!("/api/courses/{course_id}/enrollments"), Some(&siti), json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "already_enrolled"));
    // Someone else's enrollment does not exist for them.
    let (status, body) = server
        .get(&format!("/api/enrollments/{enrollment_id}"), Some(&joko))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "enrollment_not_found"));

    // Time spent on a lesson adds up; a negative number of seconds is refused.
    let time = format!("/api/enrollments/{enrollment_id}/lessons/{}/time", lessons[0]);
    let (status, spent) = server.post(&time, Some(&siti), json!({"seconds": 30})).await;
    assert_eq!((status, spent["total_seconds"].as_u64()), (StatusCode::OK, Some(30)));
    let (_, spent) = server.post(&time, Some(&siti), json!({"seconds": 15})).await;
    assert_eq!(spent["total_seconds"].as_u64(), Some(45));
    let (status, body) = server.post(&time, Some(&siti), json!({"seconds": -5})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );

    // The learner completes both lessons; the enrollment completes and a certificate is issued.
    for (i, lesson) in lessons.iter().enumerate() {
        let (status, done) = server
            .post(
                &format!("/api/enrollments/{enrollment_id}/lessons/{lesson}/complete"),
                Some(&siti),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["course_progress"].as_f64(), Some(50.0 * (i + 1) as f64));
    }
    let (_, enrollment) = server
        .get(&format!("/api/enrollments/{enrollment_id}"), Some(&siti))
        .await;
    assert_eq!(enrollment["status"], "completed");
    let mut certificate = None;
    for _ in 0..200 {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT verification_code FROM certificates WHERE enrollment_id = $1")
                .bind(enrollment_id.clone())
                .fetch_optional(t.app.db().pool())
                .await
                .unwrap();
        if let Some((code,)) = row {
            certificate = Some(code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let certificate = certificate.expect("the embedded worker issued the certificate");
    // Verified publicly, with no token.
    let (status, verified) = server.get(&format!("/api/certificates/{certificate}"), None).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(
        (verified["holder"].as_str(), verified["course_title"].as_str()),
        (Some("Siti Rahma"), Some("Rust Dasar"))
    );
    let (status, body) = server.get("/api/certificates/NOPE-NOPE", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "certificate_not_found"));
    let (status, mine) = server.get("/api/me/enrollments", Some(&siti)).await;
    assert_eq!(
        (status, mine["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );

    server.stop().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_with_the_bearer_scheme() {
    let t = spawn_app().await;
    let server = serve(&t).await;
    let (status, doc) = server.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/users",
        "/api/me",
        "/api/me/notifications",
        "/api/events",
        "/api/courses",
        "/api/courses/{id}/enrollments",
        "/api/enrollments/{id}/lessons/{lesson_id}/complete",
        "/api/certificates/{code}",
        "/api/courses/{id}/assessments",
        "/api/attempts/{id}/answers/{question_id}/grade",
        "/api/paths",
        "/api/path-enrollments/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    let mut ids = std::collections::HashSet::new();
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(ids.insert(id.to_owned()), "operationId {id} is unique");
            }
        }
    }
    assert_eq!(doc["components"]["schemas"]["ErrorBody"]["type"], "object");
    server.stop().await;
    t.cleanup().await;
}

async fn ready_until_migrations_or_the_database_go_missing(t: TestApp) {
    let server = serve(&t).await;
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = server.get("/readyz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready")),
        "{body}"
    );

    // A migration that is no longer recorded as applied: the node is not ready.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(t.app.db().writer())
        .await
        .unwrap();
    let (status, body) = server.get("/readyz", None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "migrations_pending"),
        "{body}"
    );

    // The database goes away (its pools closed): not ready, and the reason says so without
    // any database text; the process itself still answers.
    t.app.db().close().await;
    let (status, body) = server.get("/readyz", None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "database_unreachable"),
        "{body}"
    );
    assert_eq!(body["error"]["message"], "the database does not answer");
    let (status, _) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);

    // Its workers cannot reach the database either; only the probes' answers are under test.
    server.trigger.trigger();
    let _ = server.running.await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_with_the_reason_once_migrations_or_the_database_go_missing_on_sqlite() {
    ready_until_migrations_or_the_database_go_missing(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_with_the_reason_once_migrations_or_the_database_go_missing_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("readyz_is_503_once_the_database_goes_missing").await {
        ready_until_migrations_or_the_database_go_missing(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_flow_over_http_on_sqlite() {
    the_flow_over_http(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_flow_over_http_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("the_lms_flow_over_http_on_postgres").await {
        the_flow_over_http(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_error_shape_and_change_nothing() {
    let t = spawn_app().await;
    let server = serve(&t).await;
    let (ratna_id, ratna) = staff(&t, "Bu Ratna", "ratna@example.id", Role::Instructor).await;

    // 401: no token, a garbage token, a revoked token.
    let (status, body) = server.get("/api/courses", None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, _) = server.get("/api/courses", Some("ek_nope")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // 422: malformed JSON, a wrong type, an unknown field, an invalid value.
    for (raw, expected) in [
        ("{\"title\": ", "invalid_json"),
        ("{\"title\": 5}", "invalid_body"),
        ("{\"title\": \"Rust\", \"price\": 10}", "invalid_body"),
        ("{\"title\": \"\"}", "invalid_title"),
    ] {
        let response = server
            .client
            .post(format!("{}/api/courses", server.base))
            .bearer_auth(&ratna)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{raw}"
        );
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(t.app.db().pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing was stored");
    // 409: publishing a course without lessons.
    let (_, course) = server
        .post("/api/courses", Some(&ratna), json!({"title": "Kosong"}))
        .await;
    let id = course["id"].as_str().unwrap();
    let (status, body) = server
        .post(&format!("/api/courses/{id}/publish"), Some(&ratna), json!({}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "no_lessons"));
    // 422 for query parameters too: an unknown one, a limit out of range.
    let (status, body) = server.get("/api/courses?colour=red", Some(&ratna)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query")
    );
    let (status, body) = server.get("/api/courses?limit=501", Some(&ratna)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit")
    );
    // 404: an unknown route, an id that is not one.
    let (status, body) = server.get("/api/nothing", Some(&ratna)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "route_not_found"));
    let (status, body) = server.get("/api/courses/not-an-id", Some(&ratna)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "course_not_found"));
    // A revoked token stops working on the next request.
    let mut uow = t.app.bus().begin();
    revoke_tokens(uow.conn().await.unwrap(), ratna_id, chrono::Utc::now())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let (status, _) = server.get("/api/courses", Some(&ratna)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signing up twice with one email is a conflict; a bad email is invalid.
    let (status, _) = server
        .post("/api/users", None, json!({"name": "A", "email": "a@example.id"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .post("/api/users", None, json!({"name": "A", "email": "A@example.id"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "email_taken"));
    let (status, body) = server
        .post("/api/users", None, json!({"name": "B", "email": "nope"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );

    server.stop().await;
    t.cleanup().await;
}

async fn course_ready(server: &Server, token: &str, title: &str) -> String {
    let (_, course) = server.post("/api/courses", Some(token), json!({"title": title})).await;
    let id = course["id"].as_str().unwrap().to_owned();
    server
        .post(
            &format!("/api/courses/{id}/lessons"),
            Some(token),
            json!({"title": "Bab 1", "kind": "content"}),
        )
        .await;
    let (status, _) = server
        .post(&format!("/api/courses/{id}/publish"), Some(token), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    id
}

async fn post_with_key(
    server: &Server,
    path: &str,
    token: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let response = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, response.json().await.unwrap())
}

async fn retried_posts_record_once(t: TestApp) {
    let server = serve(&t).await;
    let (_, ratna) = staff(&t, "Bu Ratna", "ratna@example.id", Role::Instructor).await;
    let (_, siti) = staff(&t, "Siti", "siti@example.id", Role::Learner).await;
    let first = course_ready(&server, &ratna, "Rust Dasar").await;
    let second = course_ready(&server, &ratna, "Rust Lanjut").await;
    let enrolled = async |t: &TestApp| {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM domain_event_log WHERE event_name = 'enrollment.created'")
                .fetch_one(t.app.db().pool())
                .await
                .unwrap();
        n
    };

    // A retry with the same key and body: the first answer again, one enrollment, one event.
    let path = format!("/api/courses/{first}/enrollments");
    let (status, replayed, body) = post_with_key(&server, &path, &siti, "key-1", json!({})).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, None), "{body}");
    let (again, replayed, repeat) = post_with_key(&server, &path, &siti, "key-1", json!({})).await;
    assert_eq!((again, replayed.as_deref()), (StatusCode::CREATED, Some("true")));
    assert_eq!(repeat, body);
    assert_eq!(enrolled(&t).await, 1);
    // The same key for another request is refused.
    let (status, _, refused) = post_with_key(
        &server,
        &format!("/api/courses/{second}/enrollments"),
        &siti,
        "key-1",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    // A refusal records nothing: its retry is refused again, not replayed.
    let (status, replayed, _) = post_with_key(&server, &path, &siti, "key-2", json!({})).await;
    assert_eq!((status, replayed), (StatusCode::CONFLICT, None));
    let (status, replayed, _) = post_with_key(&server, &path, &siti, "key-2", json!({})).await;
    assert_eq!((status, replayed), (StatusCode::CONFLICT, None));

    // Two copies of one request at once: one enrollment, and both answered with it.
    let second_path = format!("/api/courses/{second}/enrollments");
    let (a, b) = tokio::join!(
        post_with_key(&server, &second_path, &siti, "key-3", json!({})),
        post_with_key(&server, &second_path, &siti, "key-3", json!({}))
    );
    assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED), "{a:?} {b:?}");
    assert_eq!(a.2["id"], b.2["id"]);
    assert_eq!(enrolled(&t).await, 2);

    server.stop().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_with_an_idempotency_key_records_once_on_sqlite() {
    retried_posts_record_once(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_with_an_idempotency_key_records_once_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("idempotency_keys_on_postgres").await {
        retried_posts_record_once(t).await;
    }
}
