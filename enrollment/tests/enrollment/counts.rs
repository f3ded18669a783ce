//! Counts and real notifications: a course's tally by state, and the real notifier storing and
//! mailing the welcome.

use std::sync::Arc;

use course::{CourseStatus, EnrollmentTally};
use shared_kernel::notifications::{AppUrl, MemoryTransport, Notifier, notifications_of};
use shared_kernel::testing::drain;

use crate::support::{Harness, harness};

#[tokio::test]
async fn a_course_tally_counts_enrollments_by_state() {
    let (h, _) = harness().await;
    let (course, dropped) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, dropped, None).await.unwrap();
    let completed = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    h.enrollments.complete(h.learner, completed, 0).await.unwrap();
    h.enrollments.enroll(h.instructor, h.instructor, course).await.unwrap();

    let tally = enrollment::tally(&mut *h.conn().await, course).await.unwrap();

    assert_eq!(
        tally,
        EnrollmentTally {
            active: 1,
            completed: 1,
            total: 3
        }
    );
}

#[tokio::test]
async fn the_real_notifier_stores_the_welcome_with_the_seeds_payload_and_mails_it() {
    let mail = Arc::new(MemoryTransport::default());
    let notifier = Notifier::new(
        mail.clone(),
        AppUrl::parse("https://lms.example.id").unwrap(),
        "Enteraksi",
        "noreply@example.id",
    );
    let h = Harness::new(Arc::new(notifier), mail.clone()).await;
    let course = h.course(CourseStatus::Published).await;
    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();

    drain(&h.bus).await;

    let stored = notifications_of(&mut *h.conn().await, h.learner, true).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].kind, "enrollment.welcome");
    assert_eq!(
        stored[0].data["message"],
        "Anda berhasil mendaftar di kursus \"Rust Dasar\""
    );
    let sent = mail.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Selamat bergabung di Rust Dasar");
}
