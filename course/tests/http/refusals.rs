//! The refusals (401, 403, 404, 409, 422) in the error shape, each storing nothing.

use reqwest::StatusCode;
use serde_json::json;
use shared_kernel::users::Role;

use crate::support::{refused, serve};

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
