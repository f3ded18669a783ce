//! The `enteraksi` command line (clap). Each subcommand is a thin shell over the application
//! services; output for people goes to stdout, logs to stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use shared_kernel::{
    AuditLog, AuditQuery, CorrelationId, EventId, Mode, Queue, QueueStats, UserId, Worker, WorkerOptions,
    shutdown_channel,
};

mod export;

use crate::Application;

mod middleware;
use crate::config::Config;

mod make;

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
    Event(EventCommand),
    /// Run and manage the queues.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Query the audit log (domain_event_log).
    Audit(AuditArgs),
    /// Add users and manage their API tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Register and manage webhook endpoints: events POSTed to external URLs, signed per the
    /// Standard Webhooks spec, delivered by `queue work` (queue `webhooks`).
    #[command(subcommand)]
    Webhook(WebhookCommand),
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

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user and issue their first API token: the token alone on stdout, shown only now.
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email address (unique).
        #[arg(long)]
        email: String,
        /// admin, instructor or learner.
        #[arg(long, default_value = "learner")]
        role: String,
    },
    /// Issue another API token for a user (their other tokens stay valid): the token on stdout.
    Token {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Revoke every API token of a user; they stop working on the next request.
    Revoke {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
    /// Erase a person (a right-to-erasure request): their key is deleted, so their personal
    /// fields in the audit log read as [erased] while `audit verify` still passes; their user
    /// row is anonymised and their tokens, notifications and pending mail deleted. Irreversible.
    Erase {
        /// The user's email address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Register an endpoint for some events: its signing secret alone on stdout, shown only now.
    Add {
        /// Where events are POSTed (http or https; its host must resolve to public addresses).
        url: String,
        /// The event names to deliver, comma-separated (see `enteraksi event list`).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// Allow a loopback, private or link-local address (e.g. a receiver on this network).
        #[arg(long)]
        allow_private: bool,
    },
    /// List the active endpoints with their last delivery.
    List {
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint: nothing more is delivered to it, retries included.
    Remove {
        /// The endpoint's id.
        id: String,
    },
    /// Give an endpoint a new signing secret (on stdout); the old one stops signing at once.
    RotateSecret {
        /// The endpoint's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum EventCommand {
    /// Every event with its listeners, in order, with mode and queue.
    List,
    /// Enqueue a queued listener's jobs over past events it listens to (oldest first).
    Replay {
        /// The queued listener (as `event list` names it).
        #[arg(long)]
        listener: String,
        /// Only this event.
        #[arg(long)]
        event: Option<String>,
        /// Events that occurred at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Events that occurred before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Count what would be enqueued; enqueue nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Walk the hash chain of every aggregate and name the first row changed, removed or
    /// inserted (exit 1); print the head (signed with AUDIT_HEAD_KEY when set) to keep.
    Verify {
        /// A head printed by an earlier verification: the log as it was then must match it.
        #[arg(long)]
        expect: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Run queued listeners.
    Work(WorkArgs),
    /// List failed jobs, oldest failure first, a page at a time.
    Failed {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this failed job's id (the last of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Only failed jobs of events with this tag (e.g. `course:<id>`).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Put a failed job (or `all`) back on its queue.
    Retry {
        /// A failed job's id, or `all`.
        id: String,
    },
    /// Delete one failed job.
    Forget {
        /// The failed job's id.
        id: String,
    },
    /// Delete every failed job.
    Flush,
    /// Depth and oldest-job age per queue.
    Monitor {
        /// Refresh every N seconds until interrupted.
        #[arg(long)]
        watch: Option<u64>,
        /// One JSON object per queue and line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct WorkArgs {
    /// Queues in priority order, comma-separated. Default: every registered queue.
    #[arg(long, value_delimiter = ',')]
    queue: Vec<String>,
    /// Batches run at once (at least 1).
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    concurrency: usize,
    /// Jobs claimed per batch at most (at least 1; fewer when jobs are slow).
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    batch_size: usize,
    /// Jobs of listeners that share transactions run this many to a transaction, each in a
    /// savepoint (at least 1; 1 runs every job in a transaction of its own).
    #[arg(long, default_value_t = shared_kernel::DEFAULT_SHARED_JOBS, value_parser = at_least_one)]
    shared_transaction: usize,
    /// Seconds a claim holds its jobs without renewal (renewed every third while they run): a
    /// killed worker's jobs run again this long after it died.
    #[arg(long, default_value_t = 30)]
    lease: u64,
    /// Seconds the jobs in hand may run on after SIGTERM or Ctrl-C; then they are cut short and
    /// released without counting a try.
    #[arg(long, default_value_t = 30)]
    grace: u64,
    /// Milliseconds an idle worker waits before looking again: the safety net, since a commit
    /// that enqueues jobs wakes it at once (in this process directly, from other processes
    /// through the database).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
    /// Stop once no job is ready.
    #[arg(long)]
    stop_when_empty: bool,
    /// At start-up, wait for the database to answer (trying again with backoff, logging each
    /// failure) instead of exiting with an error.
    #[arg(long)]
    wait_for_db: bool,
    /// Serve `GET /metrics` (Prometheus), `/healthz` and `/readyz` on this address while working.
    #[arg(long, value_name = "ADDR")]
    metrics_bind: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct AuditArgs {
    /// `verify`: check the log's hash chain instead of listing rows.
    #[command(subcommand)]
    action: Option<AuditAction>,
    /// Aggregate type, optionally with an id: `enrollment` or `enrollment:<uuid>`.
    #[arg(long)]
    aggregate: Option<String>,
    /// Only events caused by this user id.
    #[arg(long)]
    actor: Option<String>,
    /// Only this event name (e.g. `enrollment.created`).
    #[arg(long)]
    event: Option<String>,
    /// Only events at or after this RFC 3339 time.
    #[arg(long)]
    from: Option<String>,
    /// Only events before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// Only events of this cascade.
    #[arg(long)]
    correlation: Option<String>,
    /// Only events with this tag (e.g. `course:<id>`, `user:<id>`).
    #[arg(long)]
    tag: Option<String>,
    /// At most this many rows (a page; continue with `--after`).
    #[arg(long, default_value_t = 100, conflicts_with = "all")]
    limit: u32,
    /// Every row, however many.
    #[arg(long)]
    all: bool,
    /// Continue after this event id (the last of the previous page).
    #[arg(long)]
    after: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
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
        Command::Event(EventCommand::Replay {
            listener,
            event,
            from,
            until,
            dry_run,
        }) => {
            let filter = shared_kernel::audit::replay::ReplayFilter {
                event,
                from: from.as_deref().map(|v| parse_time("from", v)).transpose()?,
                until: until.as_deref().map(|v| parse_time("until", v)).transpose()?,
                dry_run,
            };
            let app = Application::start(&config).await?;
            let report = shared_kernel::audit::replay::replay(app.bus(), &listener, &filter, |read| {
                eprintln!("{read} past events read…");
            })
            .await?;
            let verb = if dry_run { "would enqueue" } else { "enqueued" };
            println!(
                "{listener}: {} past events matched, {verb} {} jobs ({} already delivered, {} waiting, {} failed); \
                 {} events predate whole payloads",
                report.matched,
                report.enqueued,
                report.already_delivered,
                report.already_waiting,
                report.already_failed,
                report.without_payload
            );
        }
        Command::Event(EventCommand::List) => {
            let app = Application::start(&config).await?;
            print_event_list(&app)?;
        }
        Command::Queue(command) => queue(&config, setting, command).await?,
        Command::Audit(AuditArgs {
            action: Some(AuditAction::Verify { expect }),
            ..
        }) => verify_audit(&config, expect.as_deref()).await?,
        Command::Audit(args) => audit(&config, args).await?,
        Command::User(command) => user(&config, command).await?,
        Command::Webhook(command) => webhook(&config, command).await?,
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

async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    use shared_kernel::users::{Role, create_user_with_role, find_user_by_email, issue_token, revoke_tokens};
    // Checked before anything is opened.
    let role = match &command {
        UserCommand::Add { role, .. } => Some(Role::parse(role).context("--role")?),
        _ => None,
    };
    let app = Application::start(config).await?;
    if let UserCommand::Erase { email } = &command {
        let erased = shared_kernel::privacy::erase::erase(app.bus(), email).await?;
        eprintln!(
            "Erased user {}: {} audit rows now read [erased] (the chain is unchanged), {} notifications \
             deleted, {} pending mails dropped, {} queued copies scrubbed.",
            erased.user_id, erased.sealed_audit_rows, erased.notifications, erased.mails_dropped, erased.scrubbed
        );
        return Ok(());
    }
    let mut uow = app.bus().begin();
    let now = app.bus().clock().now();
    let conn = uow.conn().await?;
    match command {
        UserCommand::Erase { .. } => unreachable!("handled above"),
        UserCommand::Add { name, email, .. } => {
            let role = role.unwrap_or(Role::Learner);
            let user = create_user_with_role(conn, &name, &email, role, now).await?;
            let token = issue_token(conn, user.id(), now).await?;
            uow.commit().await?;
            eprintln!(
                "Added {role} {} <{}> with id {}; their API token:",
                user.name(),
                user.email().as_str(),
                user.id()
            );
            println!("{}", token.expose());
        }
        UserCommand::Token { email } => {
            let user = find_user_by_email(conn, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with email `{email}`"))?;
            let token = issue_token(conn, user.id(), now).await?;
            uow.commit().await?;
            eprintln!("A new API token for {} <{}>:", user.name(), user.email().as_str());
            println!("{}", token.expose());
        }
        UserCommand::Revoke { email } => {
            let user = find_user_by_email(conn, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with email `{email}`"))?;
            let revoked = revoke_tokens(conn, user.id(), now).await?;
            uow.commit().await?;
            eprintln!(
                "Revoked {revoked} API tokens of {} <{}>.",
                user.name(),
                user.email().as_str()
            );
        }
    }
    Ok(())
}

async fn webhook(config: &Config, command: WebhookCommand) -> anyhow::Result<()> {
    use shared_kernel::WebhookEndpointId;
    use shared_kernel::integrations::webhooks::{
        EventNames, WebhookUrl, add_endpoint, list_endpoints, remove_endpoint, rotate_secret,
    };
    let app = Application::start(config).await?;
    let now = app.bus().clock().now();
    let parse_id = |id: &str| WebhookEndpointId::parse(id).context("the webhook id");
    match command {
        WebhookCommand::Add {
            url,
            events,
            allow_private,
        } => {
            let events = EventNames::parse(&events.join(","), app.bus().registry().event_names())?;
            // Resolved before the transaction opens: no lookup under the write lock.
            let url = WebhookUrl::parse(&url, allow_private).await?;
            let mut uow = app.bus().begin();
            let (id, secret) = add_endpoint(uow.conn().await?, &url, &events, allow_private, now).await?;
            uow.commit().await?;
            eprintln!(
                "Added webhook {id} for {} at {}; its signing secret:",
                events.names().join(", "),
                url.as_str()
            );
            println!("{}", secret.expose());
        }
        WebhookCommand::List { json } => {
            let endpoints = list_endpoints(&mut *app.db().pool().acquire().await?).await?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &endpoints)?;
                writeln!(out)?;
            } else if endpoints.is_empty() {
                eprintln!("No webhook endpoints.");
            }
            for e in endpoints.iter().filter(|_| !json) {
                let last = match (&e.last_status, e.last_response_status, &e.last_delivery_at) {
                    (Some(status), Some(code), Some(at)) => format!("{status} ({code}) at {at}"),
                    (Some(status), None, Some(at)) => format!("{status} (no answer) at {at}"),
                    _ => "no delivery yet".to_owned(),
                };
                let private = if e.allow_private { "  private allowed" } else { "" };
                writeln!(
                    out,
                    "{}  {}  events={}  last: {last}{private}",
                    e.id,
                    e.url,
                    e.events.join(",")
                )?;
            }
        }
        WebhookCommand::Remove { id } => {
            let id = parse_id(&id)?;
            let mut uow = app.bus().begin();
            remove_endpoint(uow.conn().await?, id, now).await?;
            uow.commit().await?;
            eprintln!("Removed webhook {id}.");
        }
        WebhookCommand::RotateSecret { id } => {
            let id = parse_id(&id)?;
            let mut uow = app.bus().begin();
            let secret = rotate_secret(uow.conn().await?, id).await?;
            uow.commit().await?;
            eprintln!("A new signing secret for webhook {id} (the old one no longer signs):");
            println!("{}", secret.expose());
        }
    }
    Ok(())
}

fn print_event_list(app: &Application) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(render_event_list(app.bus().registry()).as_bytes())?;
    Ok(())
}

/// What `enteraksi event list` prints: every event, then its listeners in the order they run,
/// each with its mode (and queue options when queued).
pub fn render_event_list(registry: &shared_kernel::Registry) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for listing in registry.listing() {
        let audited = listing.listeners.iter().any(|l| l.listener == "LogDomainEvent");
        let version = registry.version_of(listing.event).unwrap_or(1);
        let _ = writeln!(
            out,
            "{}{}{}",
            listing.event,
            if version > 1 {
                format!("  (version {version})")
            } else {
                String::new()
            },
            if audited {
                ""
            } else {
                "  (not audited: broadcast only, cannot be replayed)"
            }
        );
        if listing.listeners.is_empty() {
            let _ = writeln!(out, "    (no listeners)");
        }
        for (i, l) in listing.listeners.iter().enumerate() {
            let mode = match &l.mode {
                Mode::Sync => "sync".to_owned(),
                Mode::Queued(o) => queued_mode(o),
            };
            let wildcard = if l.wildcard { " (wildcard)" } else { "" };
            let _ = writeln!(out, "    {}. {:<40} {mode}{wildcard}", i + 1, l.listener);
        }
    }
    if !registry.jobs().is_empty() {
        let _ = writeln!(out, "jobs enqueued by listeners");
        for (kind, name, options) in registry.jobs() {
            let _ = writeln!(out, "    {:<43} {} (kind {kind})", name, queued_mode(options));
        }
    }
    out
}

/// How a queued listener runs, as one `event list` column.
fn queued_mode(o: &shared_kernel::QueueOptions) -> String {
    format!(
        "queued  queue={}{} tries={} backoff={:?} timeout={:?}{}{}",
        o.queue(),
        if o.default_delay().is_zero() {
            String::new()
        } else {
            format!(" delay={}", human_duration(o.default_delay()))
        },
        o.max_tries(),
        o.backoff_schedule(),
        o.try_timeout(),
        middleware::describe(o),
        if o.is_catch_up() { " catch-up" } else { "" }
    )
}

/// `enteraksi audit verify`: the chain, then (with `--expect`) the log as of a kept head.
async fn verify_audit(config: &Config, expect: Option<&str>) -> anyhow::Result<()> {
    use shared_kernel::audit::chain::{self, Tampering};
    let app = Application::start(config).await?;
    let key = config.audit_head_key.clone();
    let sign = |head: &str| match &key {
        Some(key) => chain::sign_head(head, key.expose()),
        None => head.to_owned(),
    };
    let found = chain::verify(app.db(), None).await?;
    if let Some(problem) = &found.problem {
        let what = match problem.tampering {
            Tampering::Changed => {
                "was changed or inserted (it does not match its hash chained from the row before)".to_owned()
            }
            Tampering::Removed { missing_version } => {
                format!("follows a removed row (version {missing_version} is missing)")
            }
            Tampering::Inserted => "was inserted (its version appears twice)".to_owned(),
        };
        bail!(
            "the audit log was tampered with: row {} ({} version {}) {what}",
            problem.event_id,
            problem.aggregate,
            problem.aggregate_version
        );
    }
    if let Some(expect) = expect {
        // `v1:<rows>:<through>:<hash>[:<signature>]`; `through` holds colons itself.
        let parts: Vec<&str> = expect.split(':').collect();
        let signed = key.is_some();
        let head_parts = if signed {
            parts.len().saturating_sub(1)
        } else {
            parts.len()
        };
        let head = parts[..head_parts].join(":");
        if signed && sign(&head) != expect {
            bail!("--expect: the head's signature does not match AUDIT_HEAD_KEY (forged, or another key)");
        }
        let through = parts
            .get(2..head_parts.saturating_sub(1))
            .map(|p| p.join(":"))
            .filter(|t| t != "-")
            .map(|t| shared_kernel::from_db_text(&t))
            .transpose()
            .context("--expect: not a head printed by `audit verify`")?;
        let then = chain::verify(app.db(), through).await?;
        if then.head != head {
            bail!(
                "the audit log no longer matches the kept head: it was {head}, the same rows now give {} \
                 (rows were removed, or rows were added and dated before the head)",
                then.head
            );
        }
    }
    println!(
        "The audit log is intact: {} rows in {} aggregates{}.",
        found.rows,
        found.aggregates,
        if found.unchained > 0 {
            format!(" ({} written before the chain existed, not verified)", found.unchained)
        } else {
            String::new()
        }
    );
    println!("head: {}", sign(&found.head));
    if key.is_none() {
        eprintln!("(set AUDIT_HEAD_KEY to sign the head; keep it outside the database)");
    }
    Ok(())
}

/// A whole number of days, hours, minutes or seconds (`3d`, `90s`), or seconds with a fraction.
fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 {
        return format!("{:?}", d);
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
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

async fn queue(config: &Config, setting: &str, command: QueueCommand) -> anyhow::Result<()> {
    let app = match &command {
        QueueCommand::Work(args) => start_node(config, setting, args.wait_for_db).await?,
        _ => Application::start(config).await?,
    };
    let queue = Queue::new(app.bus().clone());
    match command {
        QueueCommand::Work(args) => {
            let known = app.queues();
            let queues = if args.queue.is_empty() {
                known.clone()
            } else {
                args.queue
            };
            if let Some(unknown) = queues.iter().find(|q| !known.contains(q)) {
                bail!(
                    "--queue: no queue named `{unknown}`; the queues are {}",
                    known.join(", ")
                );
            }
            let options = WorkerOptions::new(queues.clone())
                .concurrency(args.concurrency)
                .batch_size(args.batch_size)
                .shared_transaction(args.shared_transaction)
                .lease(Duration::from_secs(args.lease))
                .poll_interval(Duration::from_millis(args.poll_ms))
                .grace(Duration::from_secs(args.grace))
                .stop_when_empty(args.stop_when_empty)
                .broadcast_retention(app.broadcast_retention());
            let worker = Worker::new(app.bus().clone(), options);
            let (trigger, shutdown) = shutdown_channel();
            let alive = crate::ops::WorkersAlive::default();
            let running = alive.running();
            let metrics = match args.metrics_bind {
                Some(bind) => {
                    let ops = crate::ops::Ops::new(&app, Some(alive));
                    let listener = crate::ops::listen(bind).await?;
                    Some(tokio::spawn(crate::ops::serve_routes(ops, listener, shutdown.clone())))
                }
                None => None,
            };
            let grace = args.grace;
            tokio::spawn(async move {
                let signal = termination().await;
                eprintln!("{signal}: finishing the jobs in hand (up to {grace} s), releasing the rest…");
                trigger.trigger();
            });
            eprintln!(
                "Working queues {} (SIGTERM or Ctrl-C stops gracefully)",
                queues.join(", ")
            );
            let started = std::time::Instant::now();
            let progress = args.stop_when_empty.then(|| {
                let progress = worker.progress();
                let queue = queue.clone();
                tokio::spawn(async move { show_progress(&progress, &queue, started).await })
            });
            let report = worker.run(shutdown).await;
            drop(running);
            if let Some(metrics) = metrics {
                metrics.abort();
            }
            let report = report?;
            if let Some(progress) = progress {
                progress.abort();
                if std::io::stderr().is_terminal() {
                    // The last state, whether or not the refreshing task got to run.
                    let waiting = queue.pending_count().await.unwrap_or(-1);
                    eprintln!("\r{}", progress_line(&report, waiting, started));
                }
            }
            println!(
                "Processed {} jobs, {} retries scheduled, {} failed, {} released.",
                report.processed, report.retried, report.failed, report.released
            );
        }
        QueueCommand::Failed {
            json,
            limit,
            after,
            tag,
        } => {
            if limit == 0 {
                bail!("--limit must be at least 1");
            }
            let mut failed = queue
                .failed_jobs_tagged(tag.as_deref(), after.as_deref(), limit + 1)
                .await?;
            let more = failed.len() > limit;
            failed.truncate(limit);
            if more && let Some(last) = failed.last() {
                eprintln!("More failed jobs: continue with --after {}", last.id);
            }
            let mut out = std::io::stdout().lock();
            if json {
                for job in failed {
                    writeln!(out, "{}", serde_json::to_string(&job)?)?;
                }
            } else if failed.is_empty() {
                writeln!(out, "No failed jobs.")?;
            } else {
                for job in failed {
                    writeln!(
                        out,
                        "{}  {}  {} → {}  after {} tries  at {}\n    {}",
                        job.id, job.queue, job.event_name, job.listener, job.attempts, job.failed_at, job.exception
                    )?;
                }
            }
        }
        QueueCommand::Retry { id } if id == "all" => {
            let waiting = queue.stats(&[]).await?.iter().map(|s| s.failed).sum::<i64>();
            if std::io::stderr().is_terminal() {
                eprintln!("Putting {waiting} failed jobs back on their queues…");
            }
            let n = queue.retry_all().await?;
            println!("{n} failed jobs put back on their queues.");
        }
        QueueCommand::Retry { id } => {
            queue.retry(&id).await?;
            println!("Failed job {id} put back on its queue.");
        }
        QueueCommand::Forget { id } => {
            queue.forget(&id).await?;
            println!("Failed job {id} deleted.");
        }
        QueueCommand::Flush => {
            let n = queue.flush().await?;
            println!("{n} failed jobs deleted.");
        }
        QueueCommand::Monitor { watch, json } => loop {
            let stats = queue.stats(&app.queues()).await?;
            print_stats(&stats, json)?;
            match watch {
                Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
                None => break,
            }
        },
    }
    Ok(())
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

fn print_stats(stats: &[QueueStats], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for s in stats {
            let line = serde_json::json!({
                "queue": s.queue, "depth": s.depth, "ready": s.ready, "reserved": s.reserved,
                "delayed": s.delayed, "scheduled": s.scheduled, "failed": s.failed,
                "oldest_age_seconds": s.oldest_age.map(|a| a.as_secs_f64()),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<16} {:>7} {:>7} {:>9} {:>8} {:>10} {:>7} {:>12}",
        "QUEUE", "DEPTH", "READY", "RESERVED", "DELAYED", "SCHEDULED", "FAILED", "OLDEST"
    )?;
    for s in stats {
        let oldest = s
            .oldest_age
            .map_or("-".to_owned(), |a| format!("{:.1}s", a.as_secs_f64()));
        writeln!(
            out,
            "{:<16} {:>7} {:>7} {:>9} {:>8} {:>10} {:>7} {:>12}",
            s.queue, s.depth, s.ready, s.reserved, s.delayed, s.scheduled, s.failed, oldest
        )?;
    }
    Ok(())
}

fn parse_time(setting: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("--{setting}: `{value}` is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)"))
}

/// Shows jobs done, jobs waiting and the rate on one refreshed line while a terminal watches.
async fn show_progress(progress: &shared_kernel::WorkerProgress, queue: &Queue, started: std::time::Instant) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    loop {
        let waiting = queue.pending_count().await.unwrap_or(-1);
        eprint!("\r{}", progress_line(&progress.report(), waiting, started));
        let _ = std::io::stderr().flush();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn progress_line(report: &shared_kernel::WorkerReport, waiting: i64, started: std::time::Instant) -> String {
    let rate = report.processed as f64 / started.elapsed().as_secs_f64().max(0.001);
    format!(
        "{} done, {waiting} waiting, {} retries, {} failed, {rate:.0} jobs/s   ",
        report.processed, report.retried, report.failed
    )
}

/// `--aggregate type[:id]`, checked against the registered aggregate types; an id must be a UUID.
fn parse_aggregate(value: &str, known: &[&str]) -> anyhow::Result<(String, Option<String>)> {
    let (kind, id) = match value.split_once(':') {
        Some((kind, id)) => (kind, Some(id)),
        None => (value, None),
    };
    if !known.contains(&kind) {
        bail!(
            "--aggregate: no aggregate type `{kind}`; expected `type` or `type:id` with type one of {}",
            known.join(", ")
        );
    }
    let id = match id {
        None => None,
        Some("") => bail!("--aggregate: `{value}` has no id after `:`; expected `{kind}:<uuid>`"),
        Some(id) => Some(
            uuid::Uuid::parse_str(id)
                .map_err(|_| anyhow::anyhow!("--aggregate: `{id}` is not an id (a UUID such as 0193…)"))?
                .to_string(),
        ),
    };
    Ok((kind.to_owned(), id))
}

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

async fn audit(config: &Config, args: AuditArgs) -> anyhow::Result<()> {
    let app = Application::start(config).await?;
    let registry = app.bus().registry();
    let mut query = AuditQuery::new();
    if let Some(aggregate) = &args.aggregate {
        let (kind, id) = parse_aggregate(aggregate, registry.aggregate_types())?;
        query = query.aggregate(kind, id);
    }
    if let Some(actor) = &args.actor {
        query = query.actor(UserId::parse(actor).context("--actor")?);
    }
    if let Some(event) = &args.event {
        if !registry.event_names().contains(&event.as_str()) {
            bail!(
                "--event: no event named `{event}`; the events are {}",
                registry.event_names().join(", ")
            );
        }
        query = query.event_name(event.clone());
    }
    if let Some(from) = &args.from {
        query = query.from(parse_time("from", from)?);
    }
    if let Some(until) = &args.until {
        query = query.until(parse_time("until", until)?);
    }
    if let Some(correlation) = &args.correlation {
        query = query.correlation(CorrelationId::parse(correlation).context("--correlation")?);
    }
    if let Some(tag) = &args.tag {
        query = query.tag(tag.clone());
    }
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    if let Some(after) = &args.after {
        query = query.after(EventId::parse(after).context("--after")?);
    }
    if !args.all {
        query = query.limit(args.limit.saturating_add(1));
    }
    let mut entries = AuditLog::new(app.db().clone()).query(&query).await?;
    if !args.all && entries.len() > args.limit as usize {
        entries.truncate(args.limit as usize);
        if let Some(last) = entries.last() {
            // On stderr, so `--json` output stays clean.
            eprintln!(
                "More rows: continue with --after {} (or --all for everything)",
                last.event_id
            );
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for entry in entries {
            writeln!(out, "{}", serde_json::to_string(&entry)?)?;
        }
    } else {
        for e in entries {
            writeln!(
                out,
                "{}  {:<34} {}:{}  actor={}  corr={}{}{}",
                e.occurred_at.format("%Y-%m-%d %H:%M:%S%.3f"),
                e.event_name,
                e.aggregate_type,
                e.aggregate_id,
                e.actor_id.map_or("system".to_owned(), |a| a.to_string()),
                e.correlation_id,
                e.causation_id.map_or(String::new(), |c| format!("  cause={c}")),
                if e.tags.is_empty() {
                    String::new()
                } else {
                    format!("  tags={}", e.tags.join(","))
                },
            )?;
        }
    }
    Ok(())
}
