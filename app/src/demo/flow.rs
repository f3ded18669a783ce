//! The demo's scenario: workers started, people created, courses and a learning path built, learners
//! enrolling, dropping out, studying and passing, the queues drained, and what happened counted.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assessment::AssessmentService;
use course::CourseService;
use enrollment::EnrollmentService;
use learning_path::LearningPathService;
use progress::ProgressService;
use shared_kernel::{EnrollmentId, UserId, Worker, WorkerOptions, WorkerReport, shutdown_channel};

use super::DemoSummary;
use super::actions::{CourseInfo, Services, build_course};
use super::plan::COURSES;
use crate::Application;
use crate::adapters::EnrollmentCountsFromEnrollments;

struct Progress {
    step: usize,
    steps: usize,
}

impl Progress {
    fn step(&mut self, text: &str) {
        self.step += 1;
        println!("[{}/{}] {text}", self.step, self.steps);
    }

    /// A refreshed `done/total` line on a terminal; nothing otherwise (the step lines suffice).
    fn tick(&self, done: usize, total: usize) {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return;
        }
        if total > 0 && (done == total || done.is_multiple_of(10)) {
            print!("\r      {done}/{total}");
            let _ = std::io::stdout().flush();
            if done == total {
                println!();
            }
        }
    }
}

/// The flow itself (also used by the integration tests). With `verbose`, progress is printed.
pub async fn run_flow(app: &Application, learners: usize, verbose: bool) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let bus = app.bus().clone();
    let courses = CourseService::new(bus.clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let paths = LearningPathService::new(bus.clone());
    let mut out = Progress { step: 0, steps: 9 };
    let mut summary = DemoSummary::default();
    let say = |out: &mut Progress, text: &str| {
        if verbose {
            out.step(text);
        }
    };

    // Workers run alongside the flow, as they would in production.
    let worker = Worker::new(
        bus.clone(),
        WorkerOptions::new(app.queues())
            .concurrency(2)
            .poll_interval(Duration::from_millis(200)),
    );
    let (trigger, shutdown) = shutdown_channel();
    let workers = tokio::spawn(async move { worker.run(shutdown).await });

    say(&mut out, "Creating the instructor and learners");
    let instructor = create_user(app, "Bu Ratna Instruktur", "ratna@enteraksi.test").await?;
    let mut people = Vec::with_capacity(learners);
    for i in 0..learners {
        people.push(
            create_user(
                app,
                &format!("Pelajar {:02}", i + 1),
                &format!("pelajar{:02}@enteraksi.test", i + 1),
            )
            .await?,
        );
        if verbose {
            out.tick(i + 1, learners);
        }
    }
    let services = Services {
        app_bus: bus.clone(),
        enrollments: EnrollmentService::new(bus.clone()),
        progress: ProgressService::new(bus.clone()),
        assessments: AssessmentService::new(bus.clone()),
        instructor,
    };
    let enrollments = &services.enrollments;

    say(
        &mut out,
        "The instructor creates courses, each closed by an assessment lesson, and publishes them",
    );
    let mut catalog: Vec<CourseInfo> = Vec::new();
    for plan in &COURSES {
        catalog.push(build_course(app, &courses, &services.assessments, instructor, plan).await?);
    }
    // A draft course nobody may enroll in yet: the rule is shown being enforced.
    let draft = courses
        .create(instructor, "Kelas Lanjutan (draf)", "Belum diterbitkan.")
        .await?;
    if let Some(learner) = people.first() {
        match enrollments.enroll(*learner, *learner, draft).await {
            Err(e) => summary.refused.push(format!("enroll in a draft course: {e}")),
            Ok(_) => bail!("enrolling in a draft course was accepted"),
        }
    }

    say(
        &mut out,
        "The instructor publishes a learning path of the three courses",
    );
    let path = paths
        .create(
            instructor,
            "Jalur Pengembang Backend",
            "Dari Rust dasar sampai arsitektur berbasis event.",
        )
        .await?;
    for course in &catalog {
        paths.add_course(instructor, path, course.id).await?;
    }
    paths.publish(instructor, path).await?;

    // One learner in three follows the path; the others enroll in courses directly.
    type Numbered = Vec<(usize, UserId)>;
    let (path_learners, direct_learners): (Numbered, Numbered) =
        people.iter().copied().enumerate().partition(|(i, _)| i % 3 == 1);

    say(&mut out, "Learners enroll in courses (some invited by the instructor)");
    let mut taken: Vec<(UserId, EnrollmentId, usize)> = Vec::new();
    for (n, (i, learner)) in direct_learners.iter().enumerate() {
        let first = i % catalog.len();
        let actor = if i % 4 == 0 { instructor } else { *learner };
        taken.push((
            *learner,
            enrollments.enroll(actor, *learner, catalog[first].id).await?,
            first,
        ));
        if i % 3 == 0 {
            let second = (i + 1) % catalog.len();
            taken.push((
                *learner,
                enrollments.enroll(*learner, *learner, catalog[second].id).await?,
                second,
            ));
        }
        if verbose {
            out.tick(n + 1, direct_learners.len());
        }
    }
    if let Some((learner, _, course)) = taken.first() {
        match enrollments.enroll(*learner, *learner, catalog[*course].id).await {
            Err(e) => summary.refused.push(format!("enroll twice: {e}")),
            Ok(_) => bail!("a duplicate enrollment was accepted"),
        }
    }

    say(&mut out, "Some learners drop out, and some of them come back");
    for (n, (learner, enrollment, _)) in taken.iter().enumerate().filter(|(n, _)| n % 5 == 2) {
        enrollments
            .drop_out(*learner, *enrollment, Some("Sedang sibuk dengan pekerjaan"))
            .await?;
        if n % 2 == 0 {
            enrollments.reenroll(*learner, *enrollment).await?;
        }
    }

    say(
        &mut out,
        "Learners study, take assessments (some fail and retry) and the instructor grades open answers",
    );
    let total = taken.len();
    for (n, (learner, enrollment, course)) in taken.iter().enumerate() {
        let course = &catalog[*course];
        // Half the enrollments finish their course; the others stop part-way.
        let finish = n % 2 == 0;
        if services.study(*learner, *enrollment, course, finish).await? && finish {
            services.pass_quiz(*learner, &course.quiz, n % 4 == 0).await?;
        }
        if verbose {
            out.tick(n + 1, total);
        }
    }
    // Completing a lesson twice records nothing.
    if let Some((learner, enrollment, course)) = taken.iter().find(|(_, _, c)| *c == 0) {
        let _ = services
            .progress
            .complete_lesson(*learner, *enrollment, catalog[*course].content[0])
            .await;
    }
    // An assessment is for enrolled learners only.
    if let Some((learner, _, course)) = taken.first() {
        let other = &catalog[(*course + 2) % catalog.len()];
        let mut conn = app.db().pool().acquire().await?;
        if enrollment::find_active(&mut conn, *learner, other.id).await?.is_none() {
            drop(conn);
            match services.assessments.start_attempt(*learner, other.quiz.id).await {
                Err(e) => summary.refused.push(format!("attempt without enrollment: {e}")),
                Ok(_) => bail!("an attempt without enrollment was accepted"),
            }
        }
    }

    say(&mut out, "Learners follow the learning path course by course");
    let last = path_learners.len().saturating_sub(1);
    for (n, (i, learner)) in path_learners.iter().enumerate() {
        paths.enroll(*learner, *learner, path).await?;
        if n == 0 {
            // A learner on the path cannot join it a second time while it is active.
            match paths.enroll(*learner, *learner, path).await {
                Err(e) => summary.refused.push(format!("enroll in a path twice: {e}")),
                Ok(_) => bail!("a second enrollment in the same path was accepted"),
            }
        }
        for (k, course) in catalog.iter().enumerate() {
            let enrollment = services.unlocked(*learner, course.id).await?;
            services.study(*learner, enrollment, course, true).await?;
            services.pass_quiz(*learner, &course.quiz, (i + k) % 3 == 0).await?;
            // The last path learner stops after the first course and leaves the path.
            if n == last && n > 0 && k == 0 {
                let enrolled = services.unlocked(*learner, catalog[1].id).await?;
                enrollments
                    .drop_out(*learner, enrolled, Some("Pindah ke jalur lain"))
                    .await?;
                let mut conn = app.db().pool().acquire().await?;
                let mine = learning_path::enrollments_of(&mut conn, *learner).await?;
                drop(conn);
                if let Some(active) = mine.first() {
                    paths
                        .drop_out(*learner, active.id(), Some("Pindah ke jalur lain"))
                        .await?;
                }
                break;
            }
        }
        if verbose {
            out.tick(n + 1, path_learners.len());
        }
    }
    say(&mut out, "Workers drain the queues");
    trigger.trigger();
    let during = workers.await.context("the workers stopped")??;
    let after = Worker::new(bus.clone(), WorkerOptions::new(app.queues()))
        .run_until_empty()
        .await?;
    summary.jobs = WorkerReport {
        processed: during.processed + after.processed,
        retried: during.retried + after.retried,
        failed: during.failed + after.failed,
        released: during.released + after.released,
        empty_claims: during.empty_claims + after.empty_claims,
    };

    say(&mut out, "Counting what happened");
    let pool = app.db().pool();
    summary.events =
        sqlx::query_as("SELECT event_name, COUNT(*) FROM domain_event_log GROUP BY event_name ORDER BY event_name")
            .fetch_all(pool)
            .await?;
    summary.failed_jobs = count(app, "SELECT COUNT(*) FROM failed_jobs").await?;
    summary.database_notifications = count(app, "SELECT COUNT(*) FROM notifications").await?;
    summary.mails = count(
        app,
        "SELECT COUNT(*) FROM notification_deliveries WHERE channel = 'mail'",
    )
    .await?;
    summary.mails_waiting = count(app, "SELECT COUNT(*) FROM jobs WHERE listener = 'SendMail'").await?;
    summary.mails_undeliverable = count(app, "SELECT COUNT(*) FROM failed_jobs WHERE listener = 'SendMail'").await?;
    summary.mail_error = sqlx::query_as::<_, (String,)>(
        "SELECT last_error FROM jobs WHERE listener = 'SendMail' AND last_error IS NOT NULL \
         UNION ALL SELECT exception FROM failed_jobs WHERE listener = 'SendMail' LIMIT 1",
    )
    .fetch_optional(pool)
    .await?
    .map(|(e,)| e);
    let stats = shared_kernel::Queue::new(app.bus().clone())
        .stats(&app.queues())
        .await?;
    summary.jobs_waiting = stats.iter().map(|s| s.depth).sum();
    summary.jobs_scheduled = stats.iter().map(|s| s.scheduled).sum();
    summary.jobs_deferred = count(app, "SELECT COUNT(*) FROM jobs WHERE last_error IS NOT NULL").await?;
    summary.certificates = count(app, "SELECT COUNT(*) FROM certificates").await?;
    summary.paths_completed = count(
        app,
        "SELECT COUNT(*) FROM domain_event_log WHERE event_name = 'learning_path.completed'",
    )
    .await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn count(app: &Application, sql: &'static str) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(app.db().pool()).await?;
    Ok(n)
}

async fn create_user(app: &Application, name: &str, email: &str) -> anyhow::Result<UserId> {
    let mut uow = app.bus().begin();
    let user = shared_kernel::users::create_user(uow.conn().await?, name, email, "id").await?;
    uow.commit().await?;
    Ok(user.id())
}
