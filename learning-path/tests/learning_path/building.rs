//! Building a path: its courses in order, each at most once, published ones only, and its
//! course list frozen once the path is published.

use course::CourseStatus;
use learning_path::{PathError, PathStatus};
use shared_kernel::CourseId;

use crate::support::Harness;

#[tokio::test]
async fn a_path_keeps_its_courses_in_the_order_they_were_added_and_publishes() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h
        .paths
        .create(h.instructor, "  Jalur Rust ", "Dari dasar")
        .await
        .unwrap();
    for course in [courses[2], courses[0], courses[1]] {
        h.paths.add_course(h.instructor, path, course).await.unwrap();
    }
    h.paths.remove_course(h.instructor, path, courses[0]).await.unwrap();

    h.paths.publish(h.instructor, path).await.unwrap();

    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.title(), "Jalur Rust");
    assert_eq!(found.courses(), [courses[2], courses[1]]);
    assert_eq!(found.status(), PathStatus::Published);
    assert_eq!(found.owner_id(), h.instructor);
    assert!(found.published_at().is_some());
}

#[tokio::test]
async fn adding_an_unpublished_course_is_refused_and_leaves_the_path_as_it_was() {
    let h = Harness::new().await;
    let draft = h.course("Draf", CourseStatus::Draft).await;
    let archived = h.course("Arsip", CourseStatus::Archived).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    h.fake.clear();

    let err = h.paths.add_course(h.instructor, path, draft).await.unwrap_err();
    assert!(matches!(
        err,
        PathError::CourseNotPublished { course, status: CourseStatus::Draft } if course == draft
    ));
    let err = h.paths.add_course(h.instructor, path, archived).await.unwrap_err();
    assert!(matches!(
        err,
        PathError::CourseNotPublished {
            status: CourseStatus::Archived,
            ..
        }
    ));
    let err = h
        .paths
        .add_course(h.instructor, path, CourseId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PathError::CourseNotFound(_)));

    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert!(found.courses().is_empty());
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_course_appears_once_per_path() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    h.paths.add_course(h.instructor, path, courses[0]).await.unwrap();

    let err = h.paths.add_course(h.instructor, path, courses[0]).await.unwrap_err();

    assert!(matches!(err, PathError::DuplicateCourse { path: p, course } if p == path && course == courses[0]));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.courses(), [courses[0]]);
}

#[tokio::test]
async fn publishing_an_empty_path_is_refused_and_it_stays_a_draft() {
    let h = Harness::new().await;
    let path = h.paths.create(h.instructor, "Jalur Kosong", "").await.unwrap();

    let err = h.paths.publish(h.instructor, path).await.unwrap_err();

    assert!(matches!(err, PathError::EmptyPath(p) if p == path));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.status(), PathStatus::Draft);
}

#[tokio::test]
async fn a_path_whose_course_was_unpublished_meanwhile_cannot_be_published() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    for course in &courses {
        h.paths.add_course(h.instructor, path, *course).await.unwrap();
    }
    h.courses.unpublish(h.instructor, courses[1]).await.unwrap();

    let err = h.paths.publish(h.instructor, path).await.unwrap_err();

    assert!(matches!(err, PathError::CourseNotPublished { course, .. } if course == courses[1]));
}

#[tokio::test]
async fn a_published_paths_course_list_is_frozen_and_only_its_owner_changes_a_path() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses[..1]).await;

    let err = h.paths.add_course(h.instructor, path, courses[1]).await.unwrap_err();
    assert!(matches!(err, PathError::CourseListFrozen(p) if p == path));
    let err = h.paths.remove_course(h.instructor, path, courses[0]).await.unwrap_err();
    assert!(matches!(err, PathError::CourseListFrozen(_)));
    let err = h.paths.publish(h.instructor, path).await.unwrap_err();
    assert!(matches!(err, PathError::AlreadyPublished(_)));

    let draft = h.paths.create(h.instructor, "Jalur Lain", "").await.unwrap();
    let err = h.paths.add_course(h.learner, draft, courses[0]).await.unwrap_err();
    assert!(matches!(err, PathError::NotOwner { actor, .. } if actor == h.learner));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.courses(), [courses[0]]);
}

#[tokio::test]
async fn a_blank_title_is_refused_before_anything_is_written() {
    let h = Harness::new().await;
    let err = h.paths.create(h.instructor, "   ", "").await.unwrap_err();
    assert!(matches!(err, PathError::InvalidTitle { .. }));
}
