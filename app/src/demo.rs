//! `enteraksi demo`: a whole LMS flow on a fresh database, through the real services, the real
//! registration and real workers, ending with a summary a person can read.
//!
//! By default the demo uses its own SQLite file, `data/demo.db`, recreated on every run. Given a
//! database explicitly (`DATABASE_URL` or `--database-url`) it refuses to touch one that already
//! holds data unless `--fresh` is passed (SQLite files only: the file is deleted first).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assessment::{AssessmentService, NewAssessment, NewQuestion, Response};
use clap::Args;
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;
use learning_path::LearningPathService;
use progress::ProgressService;
use shared_kernel::{
    AssessmentId, CourseId, EnrollmentId, LessonId, QuestionId, UserId, Worker, WorkerOptions, WorkerReport,
    shutdown_channel,
};

use crate::adapters::EnrollmentCountsFromEnrollments;
use crate::config::Config;
use crate::{Application, StartOptions};

/// The demo's own database when none is configured.
pub const DEMO_DATABASE_URL: &str = "sqlite:data/demo.db";

/// Flags of `enteraksi demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many learners take part.
    #[arg(long, default_value_t = 20)]
    pub learners: usize,
    /// Delete the configured SQLite database first (it is never touched otherwise if it holds data).
    #[arg(long)]
    pub fresh: bool,
}

/// What the demo did, for the summary and for tests.
#[derive(Debug, Default, Clone)]
pub struct DemoSummary {
    /// Committed events per name (from the audit log, plus broadcast-only events counted live).
    pub events: Vec<(String, i64)>,
    /// What the workers did.
    pub jobs: WorkerReport,
    /// Jobs left in `failed_jobs`.
    pub failed_jobs: i64,
    /// Rows in the database notification channel.
    pub database_notifications: i64,
    /// Mails delivered through the transport.
    pub mails: i64,
    /// Mails still waiting to be sent (their jobs are queued, most likely after a failed try).
    pub mails_waiting: i64,
    /// Mails that gave up (their jobs are in `failed_jobs`).
    pub mails_undeliverable: i64,
    /// The last error of a mail that failed a try, if any: delivery is failing.
    pub mail_error: Option<String>,
    /// Jobs still queued when the demo ended.
    pub jobs_waiting: i64,
    /// Of those, jobs deferred after a failed try.
    pub jobs_deferred: i64,
    /// Jobs of delayed listeners not due yet (the inactivity reminders, due days later), apart
    /// from `jobs_waiting`.
    pub jobs_scheduled: i64,
    /// Certificates issued.
    pub certificates: i64,
    /// Learning paths completed.
    pub paths_completed: i64,
    /// Rule violations the demo provoked on purpose, with the error each produced.
    pub refused: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

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

/// Runs the demo from the command line.
pub async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    let mut config = config.clone();
    if config.database_url_is_default {
        config.database_url = DEMO_DATABASE_URL.to_owned();
        remove_sqlite_file(&config.database_url)?;
    } else if args.fresh {
        if !config.database_url.starts_with("sqlite:") {
            bail!(
                "--fresh only deletes SQLite files; for {} drop the tables yourself",
                config.database_url
            );
        }
        remove_sqlite_file(&config.database_url)?;
    }
    println!("Enteraksi demo on {}", shared_kernel::redact_url(&config.database_url));
    let app = Application::start_with(&config, StartOptions::default()).await?;
    let (courses,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(app.db().pool())
        .await?;
    if courses > 0 {
        let url = shared_kernel::redact_url(&config.database_url);
        if config.database_url.starts_with("sqlite:") {
            bail!(
                "{url} already holds data; run `enteraksi demo --fresh` to delete it and start over, \
                 or unset DATABASE_URL to use the demo's own {DEMO_DATABASE_URL}"
            );
        }
        bail!(
            "{url} already holds data; point DATABASE_URL at an empty database (e.g. `createdb \
             enteraksi_demo`), or unset DATABASE_URL to use the demo's own {DEMO_DATABASE_URL}"
        );
    }
    let summary = run_flow(&app, args.learners, true).await?;
    print_summary(&summary, &config);
    if let Some(error) = &summary.mail_error {
        bail!(
            "mail delivery is failing ({error}): {} mails wait for a retry and {} gave up",
            summary.mails_waiting,
            summary.mails_undeliverable
        );
    }
    if summary.failed_jobs > 0 {
        bail!(
            "{} jobs failed for good; see `enteraksi queue failed`",
            summary.failed_jobs
        );
    }
    Ok(())
}

fn remove_sqlite_file(url: &str) -> anyhow::Result<()> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {file}")),
        }
    }
    Ok(())
}

struct CoursePlan {
    title: &'static str,
    description: &'static str,
    lessons: &'static [&'static str],
    quiz: QuizPlan,
}

/// The assessment lesson that closes a course.
struct QuizPlan {
    title: &'static str,
    passing_score: i64,
    max_attempts: i64,
    time_limit_minutes: Option<i64>,
    questions: &'static [QuestionPlan],
}

/// A question: multiple choice (options, the correct one) or open.
enum QuestionPlan {
    Choice {
        prompt: &'static str,
        options: &'static [&'static str],
        correct: usize,
        points: i64,
    },
    Open {
        prompt: &'static str,
        points: i64,
    },
}

const COURSES: [CoursePlan; 3] = [
    CoursePlan {
        title: "Dasar Pemrograman Rust",
        description: "Kepemilikan, peminjaman dan tipe data di Rust.",
        lessons: &[
            "Pengenalan Rust",
            "Kepemilikan",
            "Peminjaman",
            "Enum dan Pattern Matching",
        ],
        // Auto-graded: the grade is known at submission.
        quiz: QuizPlan {
            title: "Kuis Kepemilikan",
            passing_score: 70,
            max_attempts: 3,
            time_limit_minutes: Some(30),
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Berapa pemilik yang dimiliki sebuah nilai pada satu waktu?",
                    options: &["Satu", "Dua", "Tak terbatas"],
                    correct: 0,
                    points: 4,
                },
                QuestionPlan::Choice {
                    prompt: "Apa yang terjadi saat pemilik keluar dari cakupan?",
                    options: &["Nilai disalin", "Nilai di-drop", "Tidak terjadi apa-apa"],
                    correct: 1,
                    points: 3,
                },
                QuestionPlan::Choice {
                    prompt: "Berapa referensi &mut yang boleh aktif bersamaan?",
                    options: &["Nol", "Satu", "Banyak"],
                    correct: 1,
                    points: 3,
                },
            ],
        },
    },
    CoursePlan {
        title: "Basis Data dengan SQL",
        description: "Merancang tabel, menulis kueri dan menjaga transaksi.",
        lessons: &["Tabel dan Kunci", "Kueri SELECT", "Transaksi"],
        // With an open question: the attempt waits for the instructor.
        quiz: QuizPlan {
            title: "Ujian Transaksi",
            passing_score: 60,
            max_attempts: 2,
            time_limit_minutes: None,
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Huruf A pada ACID berarti?",
                    options: &["Availability", "Atomicity", "Accuracy"],
                    correct: 1,
                    points: 3,
                },
                QuestionPlan::Open {
                    prompt: "Jelaskan mengapa event ditulis dalam transaksi yang sama dengan perubahan data.",
                    points: 7,
                },
            ],
        },
    },
    CoursePlan {
        title: "Arsitektur Berbasis Event",
        description: "Event domain, outbox transaksional dan antrean.",
        lessons: &[
            "Event Domain",
            "Outbox Transaksional",
            "Antrean dan Worker",
            "Idempotensi",
            "Observabilitas",
        ],
        quiz: QuizPlan {
            title: "Proyek Akhir: Outbox",
            passing_score: 70,
            max_attempts: 3,
            time_limit_minutes: Some(60),
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Kapan listener antrean menerima sebuah event?",
                    options: &["Sebelum commit", "Setelah commit", "Tidak pasti"],
                    correct: 1,
                    points: 2,
                },
                QuestionPlan::Open {
                    prompt: "Rancang listener yang aman dijalankan dua kali.",
                    points: 5,
                },
                QuestionPlan::Open {
                    prompt: "Bagaimana worker menangani lease yang kedaluwarsa?",
                    points: 3,
                },
            ],
        },
    },
];

/// A published course as the demo uses it.
struct CourseInfo {
    id: CourseId,
    content: Vec<LessonId>,
    quiz: Quiz,
}

struct Quiz {
    id: AssessmentId,
    questions: Vec<(QuestionId, &'static QuestionPlan)>,
}

/// The services the flow drives, and the instructor who grades.
struct Services {
    app_bus: shared_kernel::EventBus,
    enrollments: EnrollmentService,
    progress: ProgressService,
    assessments: AssessmentService,
    instructor: UserId,
}

impl Services {
    /// Studies the content lessons of a course (all, or the first half): time spent, partial
    /// progress, completion. Returns whether the enrollment is still active.
    async fn study(
        &self,
        learner: UserId,
        enrollment: EnrollmentId,
        course: &CourseInfo,
        all: bool,
    ) -> anyhow::Result<bool> {
        let count = if all {
            course.content.len()
        } else {
            course.content.len() / 2
        };
        for (k, lesson) in course.content.iter().take(count).enumerate() {
            match self
                .progress
                .record_time_spent(learner, enrollment, *lesson, 300 + 60 * k as u64)
                .await
            {
                Ok(_) => {}
                // A dropped enrollment cannot make progress: that is the rule, not a failure.
                Err(progress::ProgressError::EnrollmentNotActive { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            self.progress
                .update_lesson_progress(learner, enrollment, *lesson, 50.0)
                .await?;
            self.progress.complete_lesson(learner, enrollment, *lesson).await?;
        }
        Ok(true)
    }

    /// Takes the course's assessment until it is passed: a first attempt that fails when
    /// `fail_first`, then one that passes. Open answers are graded by the instructor right
    /// after submission. Passing completes the assessment lesson, and so the course.
    async fn pass_quiz(&self, learner: UserId, quiz: &Quiz, fail_first: bool) -> anyhow::Result<()> {
        if fail_first {
            self.attempt(learner, quiz, false).await?;
        }
        self.attempt(learner, quiz, true).await
    }

    async fn attempt(&self, learner: UserId, quiz: &Quiz, pass: bool) -> anyhow::Result<()> {
        let attempt = self.assessments.start_attempt(learner, quiz.id).await?;
        let answers = quiz
            .questions
            .iter()
            .map(|(id, question)| {
                let response = match question {
                    QuestionPlan::Choice { options, correct, .. } => {
                        let chosen = if pass { *correct } else { (*correct + 1) % options.len() };
                        Response::Choices(BTreeSet::from([chosen]))
                    }
                    QuestionPlan::Open { .. } if pass => {
                        Response::Text("Jawaban lengkap dengan contoh dan alasannya.".to_owned())
                    }
                    QuestionPlan::Open { .. } => Response::Text("Belum tahu.".to_owned()),
                };
                (*id, response)
            })
            .collect();
        self.assessments.submit(learner, attempt, answers).await?;
        for (id, question) in &quiz.questions {
            if let QuestionPlan::Open { points, .. } = question {
                let (awarded, feedback) = if pass {
                    (*points, "Bagus, lengkap dan jelas.")
                } else {
                    (0, "Belum menjawab pertanyaan; pelajari lagi materinya.")
                };
                self.assessments
                    .grade_answer(self.instructor, attempt, *id, awarded, Some(feedback))
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits until the learning path has enrolled `learner` in `course` (a queued listener does
    /// it once the previous course is completed), and returns the enrollment.
    async fn unlocked(&self, learner: UserId, course: CourseId) -> anyhow::Result<EnrollmentId> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = {
                let mut conn = self.app_bus.db().pool().acquire().await?;
                enrollment::find_active(&mut conn, learner, course).await?
            };
            if let Some(found) = found {
                return Ok(found.id());
            }
            if Instant::now() > deadline {
                bail!("the learning path did not unlock course {course} for {learner} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
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

/// Creates a course with its content lessons and an assessment lesson linked to its
/// assessment, then publishes it.
async fn build_course(
    app: &Application,
    courses: &CourseService,
    assessments: &AssessmentService,
    instructor: UserId,
    plan: &'static CoursePlan,
) -> anyhow::Result<CourseInfo> {
    let id = courses.create(instructor, plan.title, plan.description).await?;
    let mut content = Vec::new();
    for lesson in plan.lessons {
        content.push(courses.add_lesson(instructor, id, lesson, LessonKind::Content).await?);
    }
    let quiz_lesson = courses
        .add_lesson(instructor, id, plan.quiz.title, LessonKind::assessment())
        .await?;
    let questions = plan
        .quiz
        .questions
        .iter()
        .map(|q| match q {
            QuestionPlan::Choice {
                prompt,
                options,
                correct,
                points,
            } => NewQuestion::multiple_choice(prompt, options, &[*correct], *points),
            QuestionPlan::Open { prompt, points } => NewQuestion::open(prompt, *points),
        })
        .collect();
    let quiz = assessments
        .create(
            instructor,
            id,
            Some(quiz_lesson),
            NewAssessment {
                title: plan.quiz.title.to_owned(),
                passing_score: plan.quiz.passing_score,
                max_attempts: plan.quiz.max_attempts,
                time_limit_minutes: plan.quiz.time_limit_minutes,
                questions,
            },
        )
        .await?;
    courses.publish(instructor, id).await?;
    let stored = {
        let mut conn = app.db().pool().acquire().await?;
        assessment::find(&mut conn, quiz)
            .await?
            .context("the assessment just created is missing")?
    };
    let questions = stored
        .questions()
        .iter()
        .map(|q| q.id())
        .zip(plan.quiz.questions.iter())
        .collect();
    Ok(CourseInfo {
        id,
        content,
        quiz: Quiz { id: quiz, questions },
    })
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

fn print_summary(s: &DemoSummary, config: &Config) {
    println!();
    println!("Summary");
    println!("  Events committed (audit log):");
    let width = s.events.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, n) in &s.events {
        println!("    {name:<width$} {n:>6}");
    }
    println!("  Jobs processed:          {:>6}", s.jobs.processed);
    println!("  Retries scheduled:       {:>6}", s.jobs.retried);
    println!("  Jobs failed:             {:>6}", s.failed_jobs);
    println!(
        "  Jobs still waiting:      {:>6}  ({} deferred after a failed try)",
        s.jobs_waiting, s.jobs_deferred
    );
    println!(
        "  Jobs scheduled:          {:>6}  (inactivity reminders, due INACTIVITY_REMINDER_DAYS after enrolling)",
        s.jobs_scheduled
    );
    println!("  Notifications (database):{:>6}", s.database_notifications);
    println!("  Mails sent:              {:>6}", s.mails);
    println!("  Mails waiting to be sent:{:>6}", s.mails_waiting);
    println!("  Mails undeliverable:     {:>6}", s.mails_undeliverable);
    if let Some(error) = &s.mail_error {
        println!("  MAIL DELIVERY IS FAILING: {error}");
        println!("    The in-app notifications are stored; the mails are retried by `enteraksi queue work`");
        println!("    once the mail server is reachable (see `enteraksi queue failed` for those that gave up).");
    }
    println!("  Certificates issued:     {:>6}", s.certificates);
    println!("  Learning paths completed:{:>6}", s.paths_completed);
    if !s.refused.is_empty() {
        println!("  Rules enforced on purpose:");
        for r in &s.refused {
            println!("    {r}");
        }
    }
    println!("  Time taken:              {:.2?}", s.elapsed);
    println!();
    if config.database_url.starts_with("sqlite:") {
        println!(
            "Explore: enteraksi --database-url {} audit --limit 20",
            config.database_url
        );
    } else {
        println!("Explore: enteraksi audit --limit 20   (with the same DATABASE_URL)");
    }
}
