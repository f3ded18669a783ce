//! Time spent and partial progress: accumulated per lesson, broadcast but not audited, never
//! lowering a completed lesson, and refused outside its bounds.

use progress::{ProgressError, ProgressUpdated};

use crate::support::Harness;

#[tokio::test]
async fn time_spent_accumulates_per_lesson() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;

    let first = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 30)
        .await
        .unwrap();
    let second = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 45)
        .await
        .unwrap();
    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[1], 10)
        .await
        .unwrap();

    assert_eq!((first, second), (30, 75));
    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.time_spent_seconds(), 75);
    assert!(!lesson.is_completed());
    assert_eq!(
        progress::total_time_spent(&mut *h.conn().await, e.enrollment)
            .await
            .unwrap(),
        85
    );
    h.fake.assert_not_dispatched::<ProgressUpdated>();
}

#[tokio::test]
async fn time_spent_keeps_counting_on_a_completed_lesson_without_undoing_it() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 120)
        .await
        .unwrap();

    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.time_spent_seconds(), 120);
    assert!(lesson.is_completed());
}

#[tokio::test]
async fn an_impossible_time_spent_is_refused_and_writes_nothing() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.fake.clear();

    let none = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 0)
        .await
        .unwrap_err();
    let too_long = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 86_401)
        .await
        .unwrap_err();

    assert!(matches!(none, ProgressError::InvalidTimeSpent(_)));
    assert!(matches!(too_long, ProgressError::InvalidTimeSpent(_)));
    assert_eq!(h.progress_rows().await, 0);
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn partial_progress_is_broadcast_to_the_learner_and_not_audited() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));
    let audited_before = h.audit_of(e.enrollment).await.len();

    h.progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 40.0)
        .await
        .unwrap();

    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.percentage().value(), 40.0);
    h.fake.assert_dispatched::<ProgressUpdated>(|p| {
        p.lesson_id == e.lessons[0] && p.lesson_progress == 40.0 && p.course_progress == 0.0 && !p.is_completed
    });
    let message = learners_channel.try_recv().unwrap();
    assert_eq!(message.event, "progress.updated");
    assert_eq!(message.data["lesson_progress"], 40.0);
    assert_eq!(h.audit_of(e.enrollment).await.len(), audited_before);
}

#[tokio::test]
async fn partial_progress_cannot_lower_a_completed_lesson() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    h.fake.clear();

    h.progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 10.0)
        .await
        .unwrap();

    assert!(
        h.lesson_progress(e.enrollment, e.lessons[0])
            .await
            .unwrap()
            .percentage()
            .is_full()
    );
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_partial_progress_outside_zero_to_a_hundred_is_refused() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.fake.clear();

    let err = h
        .progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 120.0)
        .await
        .unwrap_err();

    assert!(matches!(err, ProgressError::InvalidPercentage(_)));
    assert_eq!(h.progress_rows().await, 0);
    h.fake.assert_nothing_dispatched();
}
