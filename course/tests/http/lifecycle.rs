//! A course's life over HTTP: authored with lessons, published, unpublished and archived, and who
//! sees it at each step.

use reqwest::StatusCode;
use serde_json::json;
use shared_kernel::users::Role;

use crate::support::{refused, serve};

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
