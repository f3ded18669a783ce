//! `enteraksi export …`: learning records out of the audit log, for a one-off load elsewhere.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use shared_kernel::integrations::xapi::{XapiProfile, export_statements};

use crate::Application;
use crate::config::Config;

/// `export xapi`: writes the xAPI statements of every past learning record that occurred in
/// `[from, until)` to stdout, one JSON object per line, oldest first — the same statements,
/// with the same ids, as `ForwardToLrs` posts (so loading both into one LRS stores each once).
/// A summary goes to stderr.
pub(super) async fn xapi(
    config: &Config,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        anyhow::bail!("--from ({from}) must be before --until ({until})");
    }
    let app = Application::start(config).await?;
    let profile = XapiProfile::new(config.app_url.as_str());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let report = export_statements(
        app.bus(),
        &crate::provider::xapi_mappings(),
        &profile,
        from,
        until,
        |statement| {
            serde_json::to_writer(&mut out, statement)?;
            out.write_all(b"\n")
        },
    )
    .await
    .context("export xapi")?;
    out.flush().context("writing the statements")?;
    eprintln!(
        "{} statements from {} past learning records{}",
        report.statements,
        report.events,
        if report.without_payload > 0 {
            format!(
                "; {} records predate whole payloads and have none",
                report.without_payload
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
