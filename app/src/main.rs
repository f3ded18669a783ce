//! `enteraksi`: the command-line entry point. Everything it does is in the `app` library; `main`
//! only parses arguments, sets up logging and maps errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = app::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENTERAKSI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_filter())),
        )
        .with_writer(std::io::stderr)
        .init();
    match app::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line, with every URL's password replaced by `***`.
            eprintln!("error: {}", shared_kernel::redact_secrets(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
