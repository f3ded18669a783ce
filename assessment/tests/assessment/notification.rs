//! The learner's notification of the grade, sent once the grading has committed, and only once.

use std::sync::Arc;

use assessment::{AssessmentGraded, NotifyUserOfGradedAssessment};
use shared_kernel::notifications::{AppUrl, MemoryTransport, Notifier, notifications_of};
use shared_kernel::testing::drain;
use shared_kernel::{JobContext, QueuedListener};

use crate::support::{Harness, choice_quiz, choices, harness, waiting};

#[tokio::test]
async fn the_learner_is_notified_of_the_grade_once_the_grading_has_committed() {
    let (h, notifications) = harness().await;
    let (quiz, attempt) = waiting(&h).await;
    notifications.assert_nothing_sent();

    h.assessments
        .grade_answer(h.instructor, attempt, quiz.q(1), 3, Some("Bagus"))
        .await
        .unwrap();
    notifications.assert_nothing_sent();
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    notifications.assert_sent_to(h.learner, "assessment.graded");
    notifications.assert_sent_times("assessment.graded", 1);
}

#[tokio::test]
async fn the_graded_notification_is_stored_and_mailed_once_even_if_the_job_runs_twice() {
    let mail = Arc::new(MemoryTransport::default());
    let notifier = Arc::new(Notifier::new(
        mail.clone(),
        AppUrl::parse("https://lms.example.id").unwrap(),
        "Enteraksi",
        "noreply@example.id",
    ));
    let h = Harness::new(notifier.clone(), mail.clone()).await;
    let quiz = h.create(choice_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.assessments
        .submit(
            h.learner,
            attempt,
            vec![(quiz.q(0), choices(&[0])), (quiz.q(1), choices(&[0, 2]))],
        )
        .await
        .unwrap();
    drain(&h.bus).await;

    // The job delivered again (a worker crashed after sending, before acknowledging).
    let event = h.fake.dispatched::<AssessmentGraded>().pop().unwrap();
    let mut job = JobContext::standalone(&h.bus, NotifyUserOfGradedAssessment::NAME, event.meta());
    NotifyUserOfGradedAssessment::new(notifier)
        .handle(&event, &mut job)
        .await
        .unwrap();
    job.finish().await.unwrap();

    let stored = notifications_of(&mut *h.conn().await, h.learner, true).await.unwrap();
    let graded: Vec<_> = stored.iter().filter(|n| n.kind == "assessment.graded").collect();
    assert_eq!(graded.len(), 1);
    assert_eq!(
        graded[0].data["message"],
        "Penilaian \"Kuis Tipe Data\" telah dinilai: 10/10 (lulus)"
    );
    let sent: Vec<_> = mail
        .sent()
        .into_iter()
        .filter(|m| m.subject == "Penilaian Anda: Kuis Tipe Data")
        .collect();
    assert_eq!(sent.len(), 1);
}
