//! The `enteraksi` command line (clap). Each subcommand is a thin shell over the application
//! services; output for people goes to stdout, logs to stderr.

mod audit;
mod event;
mod export;
mod make;
mod middleware;
mod queue;
mod user;
mod webhook;

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use shared_kernel::shutdown_channel;

pub use event::render_event_list;

use crate::Application;
use crate::config::Config;

/// Enteraksi runs a learning-management system's courses, enrollments, progress, assessments and
/// learning paths on an embedded SQLite file or a PostgreSQL database. Every change is recorded
/// as an event in the same transaction; `queue work` delivers what events set off
/// (notifications, mail, certificates, path progress) with retries, and `audit` shows what
/// happened, who did it and why.
#[derive(Debug, Parser)]
#[command(
    name = "enteraksi",
    version,
    about = "Run and operate the Enteraksi learning-management system: migrate the database, \
             work the queues, inspect failed jobs and the audit log, or run the demo.",
    long_about = None,
    after_help = "Configuration comes from the environment (DATABASE_URL, MAIL_TRANSPORT, SMTP_URL, \
                  APP_URL, ENTERAKSI_LOG …; see the README). The `log` mail transport writes one log \
                  line per mail, shown with -v."
)]
pub struct Cli {
    /// Database URL (overrides DATABASE_URL). Default: sqlite:data/enteraksi.db (the demo:
    /// sqlite:data/demo.db)
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log more (repeat for even more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The log filter when `ENTERAKSI_LOG` is not set.
    pub fn default_log_filter(&self) -> &'static str {
        match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if needed and apply every migration.
    Migrate,
    /// Run the LMS demo end to end: on its own SQLite file (sqlite:data/demo.db, made anew each
    /// run) unless DATABASE_URL or --database-url names an empty database.
    Demo(crate::demo::DemoArgs),
    /// Inspect event registrations.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Run and manage the queues.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Query the audit log (domain_event_log).
    Audit(audit::AuditArgs),
    /// Add users and manage their API tokens.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Register and manage webhook endpoints: events POSTed to external URLs, signed per the
    /// Standard Webhooks spec, delivered by `queue work` (queue `webhooks`).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Serve the HTTP API, with queue workers embedded.
    Serve(ServeArgs),
    /// Scaffold a new event or listener into a context crate (source files only).
    #[command(subcommand)]
    Make(make::MakeCommand),
    /// Export past learning records from the audit log.
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// xAPI 1.0.3 statements as JSON lines on stdout, oldest first, for a one-off load into
    /// any learning record store (the same statement ids as the forwarder's).
    Xapi {
        /// Events that occurred at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Events that occurred before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (overrides HTTP_BIND; default 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<std::net::SocketAddr>,
    /// Queue worker slots run in this process; 0 for an API-only node beside `queue work`.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Seconds the requests and jobs in hand may run on after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30)]
    grace: u64,
    /// At start-up, wait for the database to answer (trying again with backoff, logging each
    /// failure) instead of exiting with an error.
    #[arg(long)]
    wait_for_db: bool,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::from_env()?;
    let setting = if cli.database_url.is_some() {
        "--database-url"
    } else {
        "DATABASE_URL"
    };
    if let Some(url) = cli.database_url {
        config.database_url = url;
        config.database_url_is_default = false;
    }
    match cli.command {
        Command::Migrate => {
            Application::start(&config).await?;
            println!("Database ready: {}", shared_kernel::redact_url(&config.database_url));
        }
        Command::Demo(args) => crate::demo::run(&config, args).await?,
        Command::Event(command) => event::run(&config, command).await?,
        Command::Queue(command) => queue::run(&config, setting, command).await?,
        Command::Audit(args) => audit::run(&config, args).await?,
        Command::User(command) => user::run(&config, command).await?,
        Command::Webhook(command) => webhook::run(&config, command).await?,
        Command::Make(command) => make::run(command)?,
        Command::Export(ExportCommand::Xapi { from, until }) => {
            let from = from.as_deref().map(|v| parse_time("from", v)).transpose()?;
            let until = until.as_deref().map(|v| parse_time("until", v)).transpose()?;
            export::xapi(&config, from, until).await?;
        }
        Command::Serve(args) => {
            let app = start_node(&config, setting, args.wait_for_db).await?;
            let (trigger, shutdown) = shutdown_channel();
            let grace = args.grace;
            tokio::spawn(async move {
                let signal = termination().await;
                eprintln!("{signal}: finishing the requests and jobs in hand (up to {grace} s)…");
                trigger.trigger();
            });
            let listener = crate::server::listen(args.bind.unwrap_or(config.http_bind)).await?;
            let report = crate::server::serve(
                &app,
                listener,
                &config.cors_origins,
                args.workers,
                Duration::from_secs(args.grace),
                shutdown,
            )
            .await?;
            eprintln!(
                "Stopped. Jobs processed {}, retried {}, failed {}, released {}.",
                report.processed, report.retried, report.failed, report.released
            );
        }
    }
    Ok(())
}

/// Starts a long-running node (`serve`, `queue work`): with `wait_for_db`, first waits until the
/// database answers; without, an unreachable database is an error naming the setting.
async fn start_node(config: &Config, setting: &str, wait_for_db: bool) -> anyhow::Result<Application> {
    if wait_for_db {
        wait_for_database(config, setting).await?;
    }
    Application::start(config).await.map_err(|e| match e {
        crate::StartError::Database(shared_kernel::DbError::Connect { .. }) => anyhow::Error::new(e).context(format!(
            "{setting}: the database does not answer; start it, correct the setting, or pass \
             --wait-for-db to wait for it"
        )),
        other => other.into(),
    })
}

/// Tries to reach the database until it answers, waiting longer after each failure (up to
/// 5 s) and logging it; SIGTERM or Ctrl-C gives up.
async fn wait_for_database(config: &Config, setting: &str) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(250);
    let mut tries = 0u32;
    loop {
        match shared_kernel::Database::connect_with(&config.database_url, config.db_options()).await {
            Ok(db) => {
                db.close().await;
                if tries > 0 {
                    tracing::warn!(tries, "the database answers; starting");
                }
                return Ok(());
            }
            Err(e @ shared_kernel::DbError::Connect { .. }) => {
                tries += 1;
                tracing::warn!(error = %e, setting, retry_in = ?delay, "waiting for the database (--wait-for-db)");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    signal = termination() => bail!("{signal} while waiting for the database"),
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(anyhow::Error::new(e).context(setting.to_owned())),
        }
    }
}

/// Waits for SIGTERM (docker, systemd, Kubernetes) or SIGINT (Ctrl-C); returns which.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

fn parse_time(setting: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("--{setting}: `{value}` is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)"))
}
