//! The full LMS flow through app's real registration on SQLite (one test binary for every
//! cross-context test).

use std::collections::{HashMap, HashSet};

use app::cli::render_event_list;
use app::demo::run_flow;
use enrollment::{EnrollmentCompleted, UserEnrolled};
use progress::ProgressUpdated;
use shared_kernel::testing::assert_listening;
use shared_kernel::{AuditLog, AuditQuery, DomainEvent, EventId, JobContext, QueuedListener, UserId};
use tests::{spawn_app, spawn_app_on_postgres};

#[path = "lms/learning_path_flow.rs"]
mod learning_path_flow;
#[path = "lms/system_events.rs"]
mod system_events;

async fn count(t: &tests::TestApp, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(t.app.db().writer()).await.unwrap();
    n
}

async fn email_of(t: &tests::TestApp, user: UserId) -> String {
    let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(user.to_string())
        .fetch_one(t.app.db().writer())
        .await
        .unwrap();
    email
}

/// How many notifications the committed events call for: welcome and completion of course
/// enrollments, graded assessments, path enrollment and path completion, one each.
fn notified_events(t: &tests::TestApp) -> usize {
    t.events.dispatched::<UserEnrolled>().len()
        + t.events.dispatched::<EnrollmentCompleted>().len()
        + t.events.dispatched::<assessment::AssessmentGraded>().len()
        + t.events.dispatched::<learning_path::PathEnrollmentCreated>().len()
        + t.events.dispatched::<learning_path::PathCompleted>().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_flow_keeps_every_guarantee_through_the_real_registration() {
    let t = spawn_app().await;

    let summary = run_flow(&t.app, 12, false).await.expect("the flow runs");

    // Audit rows match committed events one to one; ProgressUpdated is not audited.
    let committed = t.events.all();
    let audited: Vec<_> = committed.iter().filter(|e| e.name() != ProgressUpdated::NAME).collect();
    let log = AuditLog::new(t.app.db().clone())
        .query(&AuditQuery::new())
        .await
        .unwrap();
    assert_eq!(log.len(), audited.len());
    let logged: HashSet<EventId> = log.iter().map(|e| e.event_id).collect();
    let expected: HashSet<EventId> = audited.iter().map(|e| e.meta().event_id()).collect();
    assert_eq!(logged, expected);
    assert!(
        !t.events.dispatched::<ProgressUpdated>().is_empty(),
        "progress updates were broadcast"
    );
    assert!(log.iter().all(|e| e.event_name != ProgressUpdated::NAME));

    // Per aggregate, the audit log's order is the commit order.
    let mut committed_order: HashMap<(String, String), Vec<EventId>> = HashMap::new();
    for e in &audited {
        committed_order
            .entry((e.aggregate_type().to_owned(), e.aggregate_id()))
            .or_default()
            .push(e.meta().event_id());
    }
    for ((kind, id), order) in &committed_order {
        let rows = AuditLog::new(t.app.db().clone())
            .query(&AuditQuery::new().aggregate(kind.clone(), Some(id.clone())))
            .await
            .unwrap();
        let logged_order: Vec<EventId> = rows.iter().map(|e| e.event_id).collect();
        assert_eq!(&logged_order, order, "order of {kind} {id}");
    }

    // Welcome and completion notifications: once each on the database channel and by mail.
    let mails = t.mail.sent();
    for enrolled in t.events.dispatched::<UserEnrolled>() {
        let e = enrolled.event();
        let (rows,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM notifications WHERE notifiable_id = $1 AND type = 'enrollment.welcome' \
             AND data LIKE $2",
        )
        .bind(e.user_id.to_string())
        .bind(format!("%{}%", e.course_id))
        .fetch_one(t.app.db().writer())
        .await
        .unwrap();
        assert_eq!(rows, 1, "one welcome row for {}", e.enrollment_id);
        let address = email_of(&t, e.user_id).await;
        let subject = format!("Selamat bergabung di {}", e.course_title);
        let sent = mails
            .iter()
            .filter(|m| m.to.1 == address && m.subject == subject)
            .count();
        assert_eq!(sent, 1, "one welcome mail for {}", e.enrollment_id);
    }
    let completed = t.events.dispatched::<EnrollmentCompleted>();
    assert!(!completed.is_empty(), "some learners finished a course");
    for done in &completed {
        let e = done.event();
        let address = email_of(&t, e.user_id).await;
        let subject = format!("Selamat! Anda telah menyelesaikan {}", e.course_title);
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.to.1 == address && m.subject == subject)
                .count(),
            1
        );
        let (certificates,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM certificates WHERE enrollment_id = $1")
            .bind(e.enrollment_id.to_string())
            .fetch_one(t.app.db().writer())
            .await
            .unwrap();
        assert_eq!(certificates, 1, "one certificate for {}", e.enrollment_id);
    }
    let welcome_rows = count(
        &t,
        "SELECT COUNT(*) FROM notifications WHERE type = 'enrollment.welcome'",
    )
    .await;
    let completion_rows = count(
        &t,
        "SELECT COUNT(*) FROM notifications WHERE type = 'enrollment.completed'",
    )
    .await;
    assert_eq!(welcome_rows as usize, t.events.dispatched::<UserEnrolled>().len());
    assert_eq!(completion_rows as usize, completed.len());
    // Every notification of the flow, once: by mail and in the database alike.
    let notified = notified_events(&t);
    assert_eq!(mails.len(), notified);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM notifications").await as usize, notified);
    assert!(summary.paths_completed > 0, "some learners completed the learning path");
    assert_eq!(
        summary.paths_completed as usize,
        t.events.dispatched::<learning_path::PathCompleted>().len()
    );
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM certificates").await as usize,
        completed.len()
    );

    // The queues end empty with nothing failed.
    assert_eq!(count(&t, app::workload::JOBS_BUT_REMINDERS).await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(summary.jobs.failed, 0);
    assert_eq!(
        summary.refused.len(),
        4,
        "the draft and duplicate enrollments, the attempt without enrollment and the second path enrollment \
         were refused: {:?}",
        summary.refused
    );
}

#[tokio::test]
async fn a_welcome_job_that_runs_twice_notifies_once() {
    let t = spawn_app().await;
    run_flow(&t.app, 1, false).await.unwrap();
    let enrolled = t.events.dispatched::<UserEnrolled>().remove(0);
    let mails_before = t.mail.sent().len();
    let rows_before = count(&t, "SELECT COUNT(*) FROM notifications").await;
    let notifier: std::sync::Arc<dyn shared_kernel::notifications::NotificationSender> =
        std::sync::Arc::new(shared_kernel::notifications::Notifier::new(
            t.mail.clone(),
            shared_kernel::notifications::AppUrl::parse("https://lms.example.id").unwrap(),
            "Enteraksi",
            "noreply@enteraksi.test",
        ));
    let listener = enrollment::SendWelcomeNotification::new(notifier);

    // The worker already ran it once; a redelivery (same event, same listener) changes nothing.
    let mut job = JobContext::standalone(t.app.bus(), enrollment::SendWelcomeNotification::NAME, enrolled.meta());
    listener.handle(&enrolled, &mut job).await.unwrap();
    job.finish().await.unwrap();

    assert_eq!(t.mail.sent().len(), mails_before);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM notifications").await, rows_before);
}

#[tokio::test]
async fn event_list_shows_the_catalog_in_order_with_the_audit_log_first() {
    let t = spawn_app().await;
    let registry = t.app.bus().registry();

    let listing = render_event_list(registry);

    let completed = listing
        .split("enrollment.completed\n")
        .nth(1)
        .expect("enrollment.completed is listed");
    let block: Vec<&str> = completed.lines().take_while(|l| l.starts_with("    ")).collect();
    assert!(
        block[0].contains("1. LogDomainEvent") && block[0].contains("sync"),
        "{listing}"
    );
    assert!(block[1].contains("2. SendCompletionCongratulations") && block[1].contains("queue=notifications"));
    assert!(block[2].contains("3. GenerateCertificate") && block[2].contains("queue=certificates"));
    assert!(
        block[3].contains("4. UpdatePathProgressOnCourseCompletion")
            && block[3].contains("queue=default")
            && block[3].contains("without_overlapping(wait=200ms)"),
        "{listing}"
    );
    assert!(block[4].contains("5. FanOutWebhooks") && block[4].contains("queue=webhooks"));
    assert_eq!(block.len(), 5, "{listing}");
    for audited in registry.listing().iter().filter(|l| l.event != ProgressUpdated::NAME) {
        assert_eq!(audited.listeners[0].listener, "LogDomainEvent", "{}", audited.event);
    }
    assert!(
        listing.contains("progress.updated  (not audited: broadcast only, cannot be replayed)\n    (no listeners)")
    );
    assert_listening::<UserEnrolled>(registry, "SendWelcomeNotification");
    assert_listening::<UserEnrolled>(registry, "RemindInactiveLearner");
    let reminder = listing
        .lines()
        .find(|l| l.contains("RemindInactiveLearner"))
        .expect("the reminder is listed");
    assert!(reminder.contains("queue=notifications delay=3d"), "{reminder}");
    assert_listening::<progress::LessonCompleted>(registry, "RecalculateCourseProgress");
    assert_listening::<assessment::AssessmentGraded>(registry, "NotifyUserOfGradedAssessment");
    assert_listening::<assessment::AssessmentGraded>(registry, "CompleteLessonOnPassedAssessment");
    assert_listening::<learning_path::PathEnrollmentCreated>(registry, "SendPathEnrollmentWelcome");
    assert_listening::<learning_path::PathCompleted>(registry, "SendPathCompletionCongratulations");
    assert_listening::<EnrollmentCompleted>(registry, "UpdatePathProgressOnCourseCompletion");
    // Every event of the catalog is registered, in the catalog's order.
    let events: Vec<&str> = registry.listing().iter().map(|l| l.event).collect();
    assert_eq!(
        events,
        [
            "course.published",
            "course.unpublished",
            "course.archived",
            "enrollment.created",
            "enrollment.reenrolled",
            "enrollment.completed",
            "enrollment.dropped",
            "lesson.completed",
            "progress.updated",
            "assessment.attempt.started",
            "assessment.submitted",
            "assessment.answer.graded",
            "assessment.graded",
            "learning_path.enrollment.created",
            "learning_path.course_unlocked",
            "learning_path.completed",
            "learning_path.dropped",
            // The kernel's system events, declared by every registry.
            "system.state_transitioned",
            "system.action_failed",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_flow_runs_on_postgres_with_the_same_code() {
    let Some(t) = spawn_app_on_postgres("the_lms_flow_runs_on_postgres_with_the_same_code").await else {
        return;
    };

    let summary = run_flow(&t.app, 8, false).await.expect("the flow runs on PostgreSQL");

    let audited = t
        .events
        .all()
        .iter()
        .filter(|e| e.name() != ProgressUpdated::NAME)
        .count();
    let log = AuditLog::new(t.app.db().clone())
        .query(&AuditQuery::new())
        .await
        .unwrap();
    assert_eq!(log.len(), audited);
    let completed = t.events.dispatched::<EnrollmentCompleted>().len();
    assert!(completed > 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM certificates").await as usize, completed);
    let notified = notified_events(&t);
    assert_eq!(t.mail.sent().len(), notified);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM notifications").await as usize, notified);
    assert!(summary.paths_completed > 0);
    assert_eq!(count(&t, app::workload::JOBS_BUT_REMINDERS).await, 0);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(summary.jobs.failed, 0);
    t.cleanup().await;
}
