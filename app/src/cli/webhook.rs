//! `enteraksi webhook …`: registers, lists, removes and re-keys the endpoints that `queue work`
//! delivers events to.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;

use crate::Application;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum WebhookCommand {
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

/// Runs a `webhook` subcommand.
pub(super) async fn run(config: &Config, command: WebhookCommand) -> anyhow::Result<()> {
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
