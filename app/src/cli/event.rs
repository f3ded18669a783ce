//! `enteraksi event …`: lists the registered events with their listeners, and replays past
//! events into a queued listener.

use std::io::Write;

use clap::Subcommand;
use shared_kernel::Mode;

use super::{middleware, parse_time};
use crate::Application;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum EventCommand {
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

/// Runs an `event` subcommand.
pub(super) async fn run(config: &Config, command: EventCommand) -> anyhow::Result<()> {
    match command {
        EventCommand::Replay {
            listener,
            event,
            from,
            until,
            dry_run,
        } => {
            let filter = shared_kernel::audit::replay::ReplayFilter {
                event,
                from: from.as_deref().map(|v| parse_time("from", v)).transpose()?,
                until: until.as_deref().map(|v| parse_time("until", v)).transpose()?,
                dry_run,
            };
            let app = Application::start(config).await?;
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
        EventCommand::List => {
            let app = Application::start(config).await?;
            print_event_list(&app)?;
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
