//! `enteraksi demo`: a whole LMS flow on a fresh database, through the real services, the real
//! registration and real workers, ending with a summary a person can read.
//!
//! By default the demo uses its own SQLite file, `data/demo.db`, recreated on every run. Given a
//! database explicitly (`DATABASE_URL` or `--database-url`) it refuses to touch one that already
//! holds data unless `--fresh` is passed (SQLite files only: the file is deleted first).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;
use progress::ProgressService;
use shared_kernel::{CourseId, EnrollmentId, LessonId, UserId, Worker, WorkerOptions, WorkerReport, shutdown_channel};

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
    /// Certificates issued.
    pub certificates: i64,
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

    fn tick(&self, done: usize, total: usize) {
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
    println!("Enteraksi demo on {}", config.database_url);
    let app = Application::start_with(&config, StartOptions::default()).await?;
    let (courses,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(app.db().pool())
        .await?;
    if courses > 0 {
        bail!(
            "{} already holds data; run `enteraksi demo --fresh` to delete it and start over, \
             or unset DATABASE_URL to use the demo's own data/demo.db",
            config.database_url
        );
    }
    let summary = run_flow(&app, args.learners, true).await?;
    print_summary(&summary);
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
    },
    CoursePlan {
        title: "Basis Data dengan SQL",
        description: "Merancang tabel, menulis kueri dan menjaga transaksi.",
        lessons: &["Tabel dan Kunci", "Kueri SELECT", "Transaksi"],
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
    },
];

/// The flow itself (also used by the integration tests). With `verbose`, progress is printed.
pub async fn run_flow(app: &Application, learners: usize, verbose: bool) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let bus = app.bus().clone();
    let courses = CourseService::new(bus.clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let enrollments = EnrollmentService::new(bus.clone());
    let progress = ProgressService::new(bus.clone());
    let mut out = Progress { step: 0, steps: 7 };
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

    say(&mut out, "The instructor creates and publishes courses");
    let mut catalog: Vec<(CourseId, Vec<LessonId>)> = Vec::new();
    for plan in &COURSES {
        let id = courses.create(instructor, plan.title, plan.description).await?;
        let mut lessons = Vec::new();
        for lesson in plan.lessons {
            lessons.push(courses.add_lesson(instructor, id, lesson, LessonKind::Content).await?);
        }
        courses.publish(instructor, id).await?;
        catalog.push((id, lessons));
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

    say(&mut out, "Learners enroll (some invited by the instructor)");
    let mut taken: Vec<(UserId, EnrollmentId, usize)> = Vec::new();
    for (i, learner) in people.iter().enumerate() {
        let first = i % catalog.len();
        let actor = if i % 4 == 0 { instructor } else { *learner };
        taken.push((
            *learner,
            enrollments.enroll(actor, *learner, catalog[first].0).await?,
            first,
        ));
        if i % 3 == 0 {
            let second = (i + 1) % catalog.len();
            taken.push((
                *learner,
                enrollments.enroll(*learner, *learner, catalog[second].0).await?,
                second,
            ));
        }
        if verbose {
            out.tick(i + 1, people.len());
        }
    }
    if let Some((learner, _, course)) = taken.first() {
        match enrollments.enroll(*learner, *learner, catalog[*course].0).await {
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
        "Learners study: time spent, partial progress, completed lessons",
    );
    let total = taken.len();
    for (n, (learner, enrollment, course)) in taken.iter().enumerate() {
        let lessons = &catalog[*course].1;
        // Half the enrollments finish their course; the others stop part-way.
        let finish = n % 2 == 0;
        let count = if finish { lessons.len() } else { lessons.len() / 2 };
        for (k, lesson) in lessons.iter().take(count).enumerate() {
            match progress
                .record_time_spent(*learner, *enrollment, *lesson, 300 + 60 * k as u64)
                .await
            {
                Ok(_) => {}
                // A dropped enrollment cannot make progress: that is the rule, not a failure.
                Err(progress::ProgressError::EnrollmentNotActive { .. }) => break,
                Err(e) => return Err(e.into()),
            }
            progress
                .update_lesson_progress(*learner, *enrollment, *lesson, 50.0)
                .await?;
            progress.complete_lesson(*learner, *enrollment, *lesson).await?;
        }
        if verbose {
            out.tick(n + 1, total);
        }
    }
    // Completing a lesson twice records nothing.
    if let Some((learner, enrollment, course)) = taken.iter().find(|(_, _, c)| *c == 0) {
        let _ = progress
            .complete_lesson(*learner, *enrollment, catalog[*course].1[0])
            .await;
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
    summary.certificates = count(app, "SELECT COUNT(*) FROM certificates").await?;
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

fn print_summary(s: &DemoSummary) {
    println!();
    println!("Summary");
    println!("  Events committed (audit log):");
    for (name, n) in &s.events {
        println!("    {name:<28} {n:>6}");
    }
    println!("  Jobs processed:          {:>6}", s.jobs.processed);
    println!("  Retries scheduled:       {:>6}", s.jobs.retried);
    println!("  Jobs failed:             {:>6}", s.failed_jobs);
    println!("  Notifications (database):{:>6}", s.database_notifications);
    println!("  Mails sent:              {:>6}", s.mails);
    println!("  Certificates issued:     {:>6}", s.certificates);
    if !s.refused.is_empty() {
        println!("  Rules enforced on purpose:");
        for r in &s.refused {
            println!("    {r}");
        }
    }
    println!("  Time taken:              {:.2?}", s.elapsed);
    println!();
    println!("Explore: enteraksi --database-url {DEMO_DATABASE_URL} audit --limit 20");
}
