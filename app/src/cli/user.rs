//! `enteraksi user …`: adds users, issues and revokes their API tokens, and erases a person.

use anyhow::Context;
use clap::Subcommand;

use crate::Application;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
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

/// Runs a `user` subcommand.
pub(super) async fn run(config: &Config, command: UserCommand) -> anyhow::Result<()> {
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
