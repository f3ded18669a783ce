//! A learner completes a learning path of three courses, each closed by an assessment lesson,
//! two of them with open questions graded by the instructor, through app's real registration
//! and real workers — on SQLite, and on PostgreSQL with the same code.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use app::adapters::EnrollmentCountsFromEnrollments;
use assessment::{
    AnswerGraded, AssessmentGraded, AssessmentService, AssessmentSubmitted, AttemptStarted, NewAssessment, NewQuestion,
    Response,
};
use course::{CourseService, LessonKind};
use enrollment::{EnrollmentCompleted, UserEnrolled};
use learning_path::{CourseUnlockedInPath, LearningPathService, PathCompleted, PathEnrollmentCreated};
use progress::{LessonCompleted, ProgressService};
use shared_kernel::{
    AssessmentId, AuditEntry, AuditLog, AuditQuery, CourseId, DomainEvent, EventId, LessonId, QuestionId, UserId,
    Worker, WorkerOptions,
};
use tests::{TestApp, spawn_app, spawn_app_on_postgres};

async fn count(t: &TestApp, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(t.app.db().writer()).await.unwrap();
    n
}

/// Runs every queue to empty, as a worker process would.
async fn drain(t: &TestApp) {
    let report = Worker::new(t.app.bus().clone(), WorkerOptions::new(t.app.queues()))
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "no job failed");
}

/// A course with one content lesson and an assessment lesson; the assessment's questions with
/// the correct option of each multiple-choice one (`None` for an open question).
struct Built {
    course: CourseId,
    content: LessonId,
    assessment: AssessmentId,
    questions: Vec<(QuestionId, Option<usize>, i64)>,
}

/// A multiple-choice question with one correct option.
fn choice(prompt: &str, options: &[&str], correct: usize, points: i64) -> (NewQuestion, Option<usize>, i64) {
    (
        NewQuestion::multiple_choice(prompt, options, &[correct], points),
        Some(correct),
        points,
    )
}

/// An open question.
fn open(prompt: &str, points: i64) -> (NewQuestion, Option<usize>, i64) {
    (NewQuestion::open(prompt, points), None, points)
}

async fn course_with_assessment(
    t: &TestApp,
    instructor: UserId,
    title: &str,
    questions: Vec<(NewQuestion, Option<usize>, i64)>,
) -> Built {
    let courses = CourseService::new(t.app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, title, "").await.unwrap();
    let content = courses
        .add_lesson(instructor, course, "Materi", LessonKind::Content)
        .await
        .unwrap();
    let lesson = courses
        .add_lesson(instructor, course, "Ujian", LessonKind::assessment())
        .await
        .unwrap();
    let (questions, plan): (Vec<NewQuestion>, Vec<(Option<usize>, i64)>) = questions
        .into_iter()
        .map(|(q, correct, points)| (q, (correct, points)))
        .unzip();
    let id = AssessmentService::new(t.app.bus().clone())
        .create(
            instructor,
            course,
            Some(lesson),
            NewAssessment {
                title: format!("Ujian {title}"),
                passing_score: 70,
                max_attempts: 3,
                time_limit_minutes: None,
                questions,
            },
        )
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    let stored = assessment::find(&mut t.app.db().writer().acquire().await.unwrap(), id)
        .await
        .unwrap()
        .unwrap();
    let questions = stored
        .questions()
        .iter()
        .zip(plan)
        .map(|(q, (correct, points))| (q.id(), correct, points))
        .collect();
    Built {
        course,
        content,
        assessment: id,
        questions,
    }
}

/// Takes the assessment once: right answers when `pass`, wrong ones otherwise; the instructor
/// grades each open answer (full points when `pass`, none otherwise).
async fn attempt(t: &TestApp, learner: UserId, instructor: UserId, built: &Built, pass: bool) {
    let assessments = AssessmentService::new(t.app.bus().clone());
    let attempt = assessments.start_attempt(learner, built.assessment).await.unwrap();
    let answers = built
        .questions
        .iter()
        .map(|(id, correct, _)| {
            let response = match correct {
                Some(c) => Response::Choices(BTreeSet::from([if pass { *c } else { c + 1 }])),
                None => Response::Text("Karena perubahan dan event harus sama-sama jadi atau tidak.".to_owned()),
            };
            (*id, response)
        })
        .collect();
    assessments.submit(learner, attempt, answers).await.unwrap();
    for (id, correct, points) in &built.questions {
        if correct.is_none() {
            let awarded = if pass { *points } else { 0 };
            assessments
                .grade_answer(instructor, attempt, *id, awarded, Some("Dinilai"))
                .await
                .unwrap();
        }
    }
}

async fn complete_a_path_of_three_courses(t: &TestApp) {
    let instructor = t.user("Bu Ratna", "ratna@example.id").await;
    let learner = t.user("Siti Rahma", "siti@example.id").await;
    let built = [
        course_with_assessment(
            t,
            instructor,
            "Rust Dasar",
            vec![
                choice("Pemilik nilai?", &["Satu", "Dua", "Tiga"], 0, 5),
                choice("&mut aktif?", &["Nol", "Satu", "Banyak"], 1, 5),
            ],
        )
        .await,
        course_with_assessment(
            t,
            instructor,
            "Basis Data",
            vec![
                choice("A pada ACID?", &["Availability", "Atomicity", "Accuracy"], 1, 3),
                open("Mengapa outbox transaksional?", 7),
            ],
        )
        .await,
        course_with_assessment(
            t,
            instructor,
            "Arsitektur Event",
            vec![open("Rancang listener idempoten.", 6), open("Apa itu lease?", 4)],
        )
        .await,
    ];
    let paths = LearningPathService::new(t.app.bus().clone());
    let path = paths.create(instructor, "Jalur Backend", "Tiga kursus").await.unwrap();
    for b in &built {
        paths.add_course(instructor, path, b.course).await.unwrap();
    }
    paths.publish(instructor, path).await.unwrap();
    t.events.clear();

    paths.enroll(learner, learner, path).await.unwrap();
    let progress = ProgressService::new(t.app.bus().clone());
    for (k, b) in built.iter().enumerate() {
        // The path enrolled the learner in this course (the first at once, the others from the
        // queued listener that ran in the drain after the previous course was completed).
        let enrollment = enrollment::find_active(&mut t.app.db().writer().acquire().await.unwrap(), learner, b.course)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("course {k} of the path is unlocked"));
        progress
            .complete_lesson(learner, enrollment.id(), b.content)
            .await
            .unwrap();
        if k == 1 {
            // A failed attempt first: graded, not passed, the lesson stays open.
            attempt(t, learner, instructor, b, false).await;
        }
        attempt(t, learner, instructor, b, true).await;
        drain(t).await;
    }

    // Exactly one PathCompleted, and the path's courses unlocked in order.
    t.events.assert_dispatched_times::<PathCompleted>(1);
    t.events
        .assert_dispatched::<PathCompleted>(|e| e.user_id == learner && e.path_id == path);
    t.events.assert_dispatched_times::<PathEnrollmentCreated>(1);
    let unlocked: Vec<CourseId> = t
        .events
        .dispatched::<CourseUnlockedInPath>()
        .iter()
        .map(|e| e.event().course_id)
        .collect();
    assert_eq!(unlocked, built.iter().map(|b| b.course).collect::<Vec<_>>());
    let enrolled: Vec<CourseId> = t
        .events
        .dispatched::<UserEnrolled>()
        .iter()
        .map(|e| e.event().course_id)
        .collect();
    assert_eq!(enrolled, unlocked, "enrolled once in each course, in path order");
    t.events.assert_dispatched_times::<EnrollmentCompleted>(3);
    t.events.assert_dispatched_times::<AttemptStarted>(4);
    t.events.assert_dispatched_times::<AssessmentSubmitted>(4);
    t.events.assert_dispatched_times::<AnswerGraded>(1 + 1 + 2);
    let graded = t.events.dispatched::<AssessmentGraded>();
    assert_eq!(
        graded.iter().map(|g| g.event().passed).collect::<Vec<_>>(),
        [true, false, true, true]
    );

    // Causal order: every cause is logged before its effect, in the same correlation.
    let log = AuditLog::new(t.app.db().clone())
        .query(&AuditQuery::new())
        .await
        .unwrap();
    let position: HashMap<EventId, (usize, &AuditEntry)> =
        log.iter().enumerate().map(|(i, e)| (e.event_id, (i, e))).collect();
    for (i, entry) in log.iter().enumerate() {
        if let Some(cause) = entry.causation_id {
            let (at, cause) = position[&cause];
            assert!(
                at < i,
                "{} is logged after its cause {}",
                entry.event_name,
                cause.event_name
            );
            assert_eq!(
                entry.correlation_id, cause.correlation_id,
                "{} keeps its cascade's correlation",
                entry.event_name
            );
        }
    }
    let cause_of = |entry: &AuditEntry| entry.causation_id.map(|c| position[&c].1);
    // Each unlock after the first was caused by the completion of the previous course, which
    // was caused by the lesson its passed assessment completed, caused by the grading: one
    // correlation from the instructor's (or learner's) command to the next course's enrollment.
    let unlocks: Vec<&AuditEntry> = log
        .iter()
        .filter(|e| e.event_name == CourseUnlockedInPath::NAME)
        .collect();
    assert_eq!(unlocks.len(), 3);
    // The first course opens in the path enrollment's own command: same cascade, no cause.
    let created = log
        .iter()
        .find(|e| e.event_name == PathEnrollmentCreated::NAME)
        .unwrap();
    assert_eq!(unlocks[0].correlation_id, created.correlation_id);
    assert!(unlocks[0].causation_id.is_none());
    for unlock in &unlocks[1..] {
        let completed = cause_of(unlock).expect("caused");
        assert_eq!(completed.event_name, EnrollmentCompleted::NAME);
        let lesson = cause_of(completed).expect("caused");
        assert_eq!(lesson.event_name, LessonCompleted::NAME);
        let grading = cause_of(lesson).expect("caused");
        assert_eq!(grading.event_name, AssessmentGraded::NAME);
        assert_eq!(unlock.correlation_id, grading.correlation_id);
    }
    let completed_path = log.iter().find(|e| e.event_name == PathCompleted::NAME).unwrap();
    assert_eq!(cause_of(completed_path).unwrap().event_name, EnrollmentCompleted::NAME);

    // One certificate per course; every notification once, by database and by mail.
    assert_eq!(count(t, "SELECT COUNT(*) FROM certificates").await, 3);
    let expected = t.events.dispatched::<UserEnrolled>().len()
        + t.events.dispatched::<EnrollmentCompleted>().len()
        + graded.len()
        + t.events.dispatched::<PathEnrollmentCreated>().len()
        + t.events.dispatched::<PathCompleted>().len();
    assert_eq!(expected, 3 + 3 + 4 + 1 + 1);
    let (rows, recipients): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT notifiable_id) FROM notifications")
            .fetch_one(t.app.db().writer())
            .await
            .unwrap();
    assert_eq!(rows as usize, expected);
    assert_eq!(recipients, 1, "all of them to the learner");
    assert_eq!(t.mail.sent().len(), expected);
    assert!(t.mail.sent().iter().all(|m| m.to.1 == "siti@example.id"));

    // The queues end empty with nothing failed.
    assert_eq!(count(t, app::workload::JOBS_BUT_REMINDERS).await, 0);
    assert_eq!(count(t, "SELECT COUNT(*) FROM failed_jobs").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_completes_a_path_of_three_courses_with_graded_assessments() {
    let t = spawn_app().await;
    complete_a_path_of_three_courses(&t).await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_completes_a_path_of_three_courses_on_postgres() {
    let Some(t) = spawn_app_on_postgres("path_of_three_courses").await else {
        return;
    };
    complete_a_path_of_three_courses(&t).await;
    t.cleanup().await;
}
