//! The catalog: pages in creation order following `next_cursor`, drafts listed only to their
//! instructor and admins.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_kernel::users::Role;

use crate::support::serve;

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
