//! `enteraksi`: the command-line entry point. Everything it does is in the `app` library; `main`
//! only parses arguments, sets up logging and maps errors to an exit code.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = app::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENTERAKSI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_filter())),
        )
        .with_writer(std::io::stderr)
        .init();
    app::cli::run(cli).await
}
