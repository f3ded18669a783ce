//! `enteraksi audit`: lists the audit log's rows by aggregate, actor, event, time, cascade or
//! tag, and `audit verify` checks its hash chain.

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use shared_kernel::{AuditLog, AuditQuery, CorrelationId, EventId, UserId};

use super::parse_time;
use crate::Application;
use crate::config::Config;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct AuditArgs {
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

/// Runs `audit`: lists rows, or with `verify` checks the hash chain.
pub(super) async fn run(config: &Config, args: AuditArgs) -> anyhow::Result<()> {
    match &args.action {
        Some(AuditAction::Verify { expect }) => verify_audit(config, expect.as_deref()).await,
        None => list(config, args).await,
    }
}

/// `enteraksi audit`: the rows that match the filters, a page at a time.
async fn list(config: &Config, args: AuditArgs) -> anyhow::Result<()> {
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
