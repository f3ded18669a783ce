//! `event replay`.

use app::config::Config;

use crate::helpers::{run, welcome_jobs};
use crate::support::process::{enteraksi, sqlite_url};

// ---- event replay (issue 16) ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_replay_enqueues_a_listeners_past_events_and_says_what_it_cannot_replay() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
    welcome_jobs(&config, 3).await;
    let replay = |extra: &[&str]| {
        let mut args = vec!["--database-url", &url, "event", "replay"];
        args.extend_from_slice(extra);
        run(enteraksi().args(args))
    };

    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification", "--dry-run"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("3 past events matched, would enqueue 0 jobs (0 already delivered, 3 waiting, 0 failed)"),
        "{stdout}"
    );
    // Their welcome jobs still wait (nothing drained them): left alone.
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("enqueued 0 jobs (0 already delivered, 3 waiting, 0 failed)"),
        "{stdout}"
    );
    assert!(stderr.contains("past events read"), "progress on stderr: {stderr}");
    // Delivered: the ledger says so, and a replay enqueues nothing.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "queue", "work", "--stop-when-empty"]));
    assert!(output.status.success(), "{stderr}");
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("enqueued 0 jobs (3 already delivered, 0 waiting, 0 failed)"),
        "{stdout}"
    );

    let (output, stderr) = replay(&["--listener", "Nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no queued listener is named `Nope`") && stderr.contains("SendWelcomeNotification"),
        "{stderr}"
    );
    let (output, stderr) = replay(&["--listener", "RecalculateCourseProgress"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("sync listener"), "{stderr}");
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification", "--event", "progress.updated"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("does not listen to `progress.updated`"), "{stderr}");
}
