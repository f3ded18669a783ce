//! `enteraksi`: the command-line entry point. Everything it does is in the `app` library; `main`
//! only parses arguments, sets up logging and maps errors to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    restore_sigpipe();
    let cli = app::cli::Cli::parse();
    let default_filter = default_filter(&cli);
    let filter = match std::env::var("ENTERAKSI_LOG") {
        Ok(text) if !text.trim().is_empty() => match tracing_subscriber::EnvFilter::try_new(&text) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!(
                    "warning: ENTERAKSI_LOG=`{text}` is not a log filter ({e}); using `{}` \
                     (e.g. ENTERAKSI_LOG=info or ENTERAKSI_LOG=shared_kernel=debug)",
                    cli.default_log_filter()
                );
                tracing_subscriber::EnvFilter::new(&default_filter)
            }
        },
        _ => tracing_subscriber::EnvFilter::new(&default_filter),
    };
    // Colour only on a terminal, and never with NO_COLOR set (https://no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
    match app::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message chain on one line (never a backtrace, whatever RUST_BACKTRACE says),
            // with every URL's password replaced by `***`.
            eprintln!("error: {}", shared_kernel::redact_secrets(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// The verbosity's filter, without PostgreSQL's `there is no transaction in progress` warnings:
/// when `COMMIT` fails with a serialization failure (a conflict the unit of work runs again),
/// PostgreSQL has already ended the transaction but sqlx still counts it open and sends a
/// `ROLLBACK` when it is dropped, which the server answers with that notice. Under concurrent
/// writes that is one warning per conflict, about nothing. `ENTERAKSI_LOG` shows them again
/// (e.g. `ENTERAKSI_LOG=warn`).
fn default_filter(cli: &app::cli::Cli) -> String {
    format!("{},sqlx::postgres::notice=error", cli.default_log_filter())
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`enteraksi audit | head -1`) is an error
/// or a panic. Restore the default, as every Unix tool has it: a closed pipe ends the program
/// quietly.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread is started; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
