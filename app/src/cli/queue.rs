//! `enteraksi queue …`: works the queues, and lists, retries, forgets or counts their jobs.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use shared_kernel::{Queue, QueueStats, Worker, WorkerOptions, shutdown_channel};

use super::{start_node, termination};
use crate::Application;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum QueueCommand {
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
pub(super) struct WorkArgs {
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

/// Runs a `queue` subcommand; `queue work` starts as a node (see `--wait-for-db`).
pub(super) async fn run(config: &Config, setting: &str, command: QueueCommand) -> anyhow::Result<()> {
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

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
