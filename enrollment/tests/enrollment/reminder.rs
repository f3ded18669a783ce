//! The inactivity reminder (a delayed listener), on SQLite and on PostgreSQL: due only after its
//! delay, and not sent to learners who started or dropped.

use std::sync::Arc;

use enrollment::Percentage;
use shared_kernel::notifications::{AppUrl, MemoryTransport};
use shared_kernel::testing::{NotificationFake, TestDb, drain};
use shared_kernel::{CourseId, UserId};

use crate::support::{Harness, REMIND_AFTER, migrators};

/// Runs a reminder scenario on SQLite and, when `ENTERAKSI_TEST_POSTGRES_URL` is set, on a
/// fresh PostgreSQL database (without it, the PostgreSQL half says that it did not run).
macro_rules! on_both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                scenario(TestDb::new(migrators()).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test = concat!(stringify!($name), "_postgres");
                if let Some(db) = TestDb::postgres(test, migrators()).await {
                    scenario(db).await;
                }
            }

            async fn scenario(db: TestDb) {
                let notifications = NotificationFake::new();
                let h = Harness::on(db, notifications.clone(), Arc::new(MemoryTransport::default())).await;
                super::$scenario(&h, &notifications).await;
                h.db.cleanup().await;
            }
        }
    };
}

on_both!(
    a_learner_who_has_not_started_is_reminded_when_the_reminder_is_due_and_only_then,
    reminded_when_due
);
async fn reminded_when_due(h: &Harness, notifications: &NotificationFake) {
    h.enrolled().await;
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    // A minute before it is due: still nothing.
    h.clock
        .advance(chrono::Duration::from_std(REMIND_AFTER).unwrap() - chrono::Duration::minutes(1));
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    h.clock.advance(chrono::Duration::minutes(2));
    let report = drain(&h.bus).await;
    assert_eq!(report.processed, 1, "the reminder job ran once it was due");
    notifications.assert_sent_to(h.learner, "enrollment.inactivity_reminder");
    notifications.assert_sent_times("enrollment.inactivity_reminder", 1);
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 1);
}

on_both!(
    a_learner_who_completed_a_lesson_or_dropped_is_not_reminded,
    not_reminded
);
async fn not_reminded(h: &Harness, notifications: &NotificationFake) {
    // Started: a lesson completed (the progress context sets the course progress).
    let (_, started) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, started, Percentage::new(50.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    // Dropped.
    let (_, dropped) = h.enrolled().await;
    h.enrollments
        .drop_out(h.learner, dropped, Some("pindah jadwal"))
        .await
        .unwrap();
    h.clock
        .advance(chrono::Duration::from_std(REMIND_AFTER).unwrap() + chrono::Duration::minutes(1));
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
        .fetch_one(&mut *h.conn().await)
        .await
        .unwrap();
    assert_eq!(pending, 0, "both reminder jobs ran and did nothing");
}

#[test]
fn the_reminder_speaks_indonesian_and_links_to_the_course() {
    use shared_kernel::notifications::Notification;
    let course = CourseId::new();
    let reminder = enrollment::InactivityReminder::new(course, "Rust Dasar", 3);
    let user = shared_kernel::users::User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap();
    let mail = reminder.to_mail(&user, &AppUrl::parse("https://lms.example.id").unwrap());
    let text = format!("{mail:?}");
    assert!(text.contains("Sudah 3 hari"), "{text}");
    assert!(text.contains(&format!("courses/{course}/learn")), "{text}");
    assert_eq!(reminder.to_database(&user)["type"], "enrollment.inactivity_reminder");
}
