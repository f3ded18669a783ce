//! `enteraksi demo`: a whole LMS flow on a fresh database, through the real services, the real
//! registration and real workers, ending with a summary a person can read.
//!
//! By default the demo uses its own SQLite file, `data/demo.db`, recreated on every run. Given a
//! database explicitly (`DATABASE_URL` or `--database-url`) it refuses to touch one that already
//! holds data unless `--fresh` is passed (SQLite files only: the file is deleted first).

mod actions;
mod flow;
mod plan;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use shared_kernel::WorkerReport;

pub use flow::run_flow;

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
