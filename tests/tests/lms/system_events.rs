//! The kernel's system events through app's real registration, on SQLite and PostgreSQL:
//! `StateTransitioned` for every state change of the LMS flow, in its cause's transaction, and
//! `ActionFailed` for a command that failed for a reason that is not the caller's (and a job
//! buried in `failed_jobs`), never for a refused rule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use app::adapters::EnrollmentCountsFromEnrollments;
use app::demo::run_flow;
use course::{CourseService, LessonKind};
use enrollment::{EnrollmentError, EnrollmentService, UserDropped};
use shared_kernel::{
    ActionFailed, CourseId, DomainEvent, StateTransitioned, UserId, Worker, WorkerOptions, from_db_text,
};
use tests::{TestApp, spawn_app, spawn_app_on_postgres};

/// One `system.state_transitioned` row: its lifecycle version, its metadata, its event id, its
/// causation id and the commit time it shares with the rest of its transaction.
struct TransitionRow {
    version: i64,
    metadata: serde_json::Value,
    causation: Option<String>,
    created_at: String,
}

async fn transitions(t: &TestApp) -> HashMap<(String, String), Vec<TransitionRow>> {
    let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
        "SELECT aggregate_version, metadata, causation_id, created_at FROM domain_event_log \
         WHERE event_name = $1 ORDER BY aggregate_id, aggregate_version",
    )
    .bind(StateTransitioned::NAME)
    .fetch_all(t.app.db().writer())
    .await
    .unwrap();
    let mut by_aggregate: HashMap<(String, String), Vec<TransitionRow>> = HashMap::new();
    for (version, metadata, causation, created_at) in rows {
        let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
        let key = (
            metadata["aggregate_type"].as_str().unwrap().to_owned(),
            metadata["aggregate_id"].as_str().unwrap().to_owned(),
        );
        by_aggregate.entry(key).or_default().push(TransitionRow {
            version,
            metadata,
            causation,
            created_at,
        });
    }
    by_aggregate
}

/// `(aggregate type, table, initial state)` of every aggregate with a state machine.
const MACHINES: [(&str, &str, &str); 4] = [
    ("course", "courses", "draft"),
    ("enrollment", "enrollments", "active"),
    ("assessment_attempt", "assessment_attempts", "in_progress"),
    ("learning_path_enrollment", "path_enrollments", "active"),
];

async fn every_state_change_has_its_transition(t: TestApp) {
    let instructor = t.user("Bu Ratna", "ratna.sys@example.id").await;
    run_flow(&t.app, 6, false).await.expect("the flow runs");
    // The flow never unpublishes or archives: one course goes through every course move.
    let courses = CourseService::new(t.app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Rust Lanjutan", "").await.unwrap();
    courses
        .add_lesson(instructor, course, "Materi", LessonKind::Content)
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    courses.unpublish(instructor, course).await.unwrap();
    courses.archive(instructor, course).await.unwrap();

    let transitions = transitions(&t).await;
    let mut checked = HashMap::new();
    for (kind, table, initial) in MACHINES {
        let sql = format!("SELECT id, status FROM {table}");
        let stored: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(t.app.db().writer())
            .await
            .unwrap();
        assert!(!stored.is_empty(), "the flow made {kind}s");
        let mut moved = 0;
        for (id, status) in stored {
            // The lifecycle starts in the initial state; each transition starts where the one
            // before ended, numbered 1, 2, …; the last ends in the stored state. A state change
            // without its transition breaks the chain or ends it elsewhere.
            let mut state = initial.to_owned();
            for (i, row) in transitions
                .get(&(kind.to_owned(), id.clone()))
                .into_iter()
                .flatten()
                .enumerate()
            {
                assert_eq!(row.version, i as i64 + 1, "{kind} {id}: transitions numbered in order");
                assert_eq!(row.metadata["from_state"], state.as_str(), "{kind} {id}: chain");
                state = row.metadata["to_state"].as_str().unwrap().to_owned();
                moved += 1;
            }
            assert_eq!(state, status, "{kind} {id}: its transitions end in its stored state");
        }
        checked.insert(kind, moved);
    }
    for (kind, _, _) in MACHINES {
        assert!(checked[kind] > 0, "some {kind} changed state in the flow: {checked:?}");
    }
    assert_eq!(
        transitions
            .keys()
            .filter(|(k, _)| !MACHINES.iter().any(|(m, _, _)| m == k))
            .count(),
        0,
        "no transition of an aggregate without a state machine"
    );

    // Each transition was committed with its cause: the causing event's row exists, it is the
    // transition's causation, and both carry their commit's one `created_at`.
    let causes: HashMap<String, (String, String)> =
        sqlx::query_as::<_, (String, String, String)>("SELECT event_id, event_name, created_at FROM domain_event_log")
            .fetch_all(t.app.db().writer())
            .await
            .unwrap()
            .into_iter()
            .map(|(id, name, created)| (id, (name, created)))
            .collect();
    let mut caused = HashSet::new();
    for row in transitions.values().flatten() {
        let cause = row.metadata["causing_event_id"].as_str().unwrap();
        assert_eq!(row.causation.as_deref(), Some(cause));
        let (name, created_at) = &causes[cause];
        assert_eq!(row.metadata["caused_by"], name.as_str());
        assert_eq!(
            from_db_text(created_at).unwrap(),
            from_db_text(&row.created_at).unwrap(),
            "committed together"
        );
        assert!(caused.insert(cause.to_owned()), "one transition per cause");
    }
    assert_eq!(
        t.events.dispatched::<StateTransitioned>().len(),
        caused.len(),
        "every committed transition is audited"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_of_the_lms_flow_has_its_transition_in_the_same_transaction() {
    every_state_change_has_its_transition(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_of_the_lms_flow_has_its_transition_in_the_same_transaction_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("sys_transitions").await {
        every_state_change_has_its_transition(t).await;
    }
}

async fn published_course(t: &TestApp, instructor: UserId) -> CourseId {
    let courses = CourseService::new(t.app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Rust Dasar", "").await.unwrap();
    courses
        .add_lesson(instructor, course, "Materi", LessonKind::Content)
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    course
}

async fn action_failures(t: &TestApp) -> Vec<(serde_json::Value, Option<String>, String)> {
    sqlx::query_as::<_, (String, Option<String>, String)>(
        "SELECT metadata, actor_id, correlation_id FROM domain_event_log WHERE event_name = $1",
    )
    .bind(ActionFailed::NAME)
    .fetch_all(t.app.db().writer())
    .await
    .unwrap()
    .into_iter()
    .map(|(m, actor, correlation)| (serde_json::from_str(&m).unwrap(), actor, correlation))
    .collect()
}

async fn audit_rows(t: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM domain_event_log")
        .fetch_one(t.app.db().writer())
        .await
        .unwrap();
    n
}

async fn failures_are_recorded_only_when_not_the_callers(t: TestApp) {
    let instructor = t.user("Bu Ratna", "ratna.fail@example.id").await;
    let learner = t.user("Siti Rahma", "siti.fail@example.id").await;
    let course = published_course(&t, instructor).await;
    let enrollments = EnrollmentService::new(t.app.bus().clone());
    let enrollment = enrollments.enroll(learner, learner, course).await.unwrap();

    // A refused rule (a second enrollment) is the caller's: nothing at all is recorded.
    let before = audit_rows(&t).await;
    let refused = enrollments.enroll(learner, learner, course).await.unwrap_err();
    assert!(
        matches!(refused, EnrollmentError::AlreadyEnrolled { .. }),
        "{refused:?}"
    );
    assert_eq!(audit_rows(&t).await, before);
    assert!(action_failures(&t).await.is_empty());

    // Storage fails at the commit, after the command recorded UserDropped and its transition:
    // the event tags' table is gone.
    let committed_before = t.events.all().len();
    let db = t.app.db().writer();
    sqlx::query("ALTER TABLE event_tags RENAME TO event_tags_gone")
        .execute(db)
        .await
        .unwrap();
    let failed = enrollments.drop_out(learner, enrollment, Some("Sibuk")).await;
    sqlx::query("ALTER TABLE event_tags_gone RENAME TO event_tags")
        .execute(db)
        .await
        .unwrap();
    assert!(matches!(failed, Err(EnrollmentError::UnitOfWork(_))), "{failed:?}");

    // Exactly one row more: the ActionFailed, none of the command's own events.
    assert_eq!(audit_rows(&t).await, before + 1);
    let failures = action_failures(&t).await;
    assert_eq!(failures.len(), 1);
    let (metadata, actor, correlation) = &failures[0];
    assert_eq!(metadata["command"], "enrollment::EnrollmentService::drop_out");
    assert_eq!(metadata["code"], "storage_failure");
    assert_eq!(actor.as_deref(), Some(learner.to_string().as_str()));
    assert_eq!(metadata["correlation_id"], correlation.as_str());
    assert!(
        !metadata.to_string().contains("Sibuk"),
        "no input in the record: {metadata}"
    );
    let committed: Vec<&'static str> = t.events.all()[committed_before..].iter().map(|e| e.name()).collect();
    assert_eq!(committed, [ActionFailed::NAME]);
    assert!(t.events.dispatched::<UserDropped>().is_empty());
    let (status,): (String,) = sqlx::query_as("SELECT status FROM enrollments WHERE id = $1")
        .bind(enrollment.to_string())
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(status, "active", "the drop rolled back");

    // The same command with the table back succeeds and records its transition.
    enrollments.drop_out(learner, enrollment, None).await.unwrap();
    assert_eq!(
        t.events
            .dispatched::<StateTransitioned>()
            .iter()
            .filter(|e| e.event().caused_by == UserDropped::NAME)
            .count(),
        1
    );
    assert_eq!(action_failures(&t).await.len(), 1);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_leaves_one_action_failed_and_a_refused_rule_none() {
    failures_are_recorded_only_when_not_the_callers(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_leaves_one_action_failed_and_a_refused_rule_none_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("sys_action_failed").await {
        failures_are_recorded_only_when_not_the_callers(t).await;
    }
}

async fn a_buried_job_is_recorded(t: TestApp) {
    let instructor = t.user("Bu Ratna", "ratna.bury@example.id").await;
    let learner = t.user("Siti Rahma", "siti.bury@example.id").await;
    let course = published_course(&t, instructor).await;
    let enrollments = EnrollmentService::new(t.app.bus().clone());
    let enrollment = enrollments.enroll(learner, learner, course).await.unwrap();
    enrollments.complete(instructor, enrollment, 60).await.unwrap();
    // Undo the completion behind the pipeline's back: GenerateCertificate then refuses the
    // enrollment for good (a permanent error buries its job at once).
    sqlx::query("UPDATE enrollments SET status = 'active' WHERE id = $1")
        .bind(enrollment.to_string())
        .execute(t.app.db().writer())
        .await
        .unwrap();
    let completed = t.events.dispatched::<enrollment::EnrollmentCompleted>();
    let correlation = completed[0].meta().correlation_id().to_string();

    let report = Worker::new(t.app.bus().clone(), WorkerOptions::new(t.app.queues()))
        .run_until_empty()
        .await
        .unwrap();

    assert_eq!(report.failed, 1, "{report:?}");
    let failures = action_failures(&t).await;
    assert_eq!(failures.len(), 1);
    let (metadata, actor, recorded_correlation) = &failures[0];
    assert_eq!(metadata["command"], "GenerateCertificate");
    assert_eq!(metadata["code"], ActionFailed::JOB_BURIED);
    assert_eq!(
        actor.as_deref(),
        Some(instructor.to_string().as_str()),
        "the event's actor"
    );
    assert_eq!(recorded_correlation, &correlation, "the event's correlation");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_buried_in_failed_jobs_leaves_one_action_failed() {
    a_buried_job_is_recorded(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_buried_in_failed_jobs_leaves_one_action_failed_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("sys_buried").await {
        a_buried_job_is_recorded(t).await;
    }
}
