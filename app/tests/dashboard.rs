//! The events dashboard (`/admin`) in a real, headless Chromium against a live `enteraksi serve`
//! after `enteraksi demo`, on SQLite and on PostgreSQL: an admin signs in through the form, sees
//! the demo's events and the queues, presses **Retry** on a failed webhook delivery (it leaves
//! the list and is delivered) and **Forget** on another, and watches an enrollment made through
//! the API arrive in the live tail without a reload. The SQLite run leaves a screenshot in
//! `$CARGO_TARGET_TMPDIR/dashboard.png` (and at `ENTERAKSI_DASHBOARD_SCREENSHOT` when set: how
//! `docs/dashboard.png` is made).
//!
//! Failed jobs come from a real failure: a webhook endpoint whose receiver answers 400 (a
//! permanent failure: `failed_jobs` at once) until the test lets it answer 200.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::api::{post, published_course, sign_up};
use support::cdp::{Browser, chromium_or_fail};
use support::process::{add_user, enteraksi, serve, sqlite_url};

const WAIT: Duration = Duration::from_secs(30);

/// A webhook receiver that answers 400 while `failing`, 200 after; counts what it got.
struct Receiver {
    url: String,
    failing: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

async fn receiver() -> Receiver {
    let failing = Arc::new(AtomicBool::new(true));
    let received = Arc::new(AtomicUsize::new(0));
    let (fail, count) = (failing.clone(), received.clone());
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (fail, count) = (fail.clone(), count.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                if fail.load(Ordering::SeqCst) {
                    (axum::http::StatusCode::BAD_REQUEST, "not today")
                } else {
                    (axum::http::StatusCode::OK, "ok")
                }
            }
        }),
    );
    let (base, task) = shared_kernel::testing::serve_on_loopback(router).await;
    Receiver {
        url: format!("{base}/hook"),
        failing,
        received,
        _task: task,
    }
}

fn run_ok(args: &[&str]) -> String {
    let output = enteraksi().args(args).output().expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The failed jobs' ids, oldest failure first, as `queue failed --json` lists them.
fn failed_jobs(url: &str) -> Vec<String> {
    run_ok(&["--database-url", url, "queue", "failed", "--json"])
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_watches_and_repairs_the_event_flow_in_a_real_browser_on_sqlite() {
    let test = "an_admin_watches_and_repairs_the_event_flow_in_a_real_browser_on_sqlite";
    let Some(chromium) = chromium_or_fail(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    scenario(&chromium, &sqlite_url(&dir), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_watches_and_repairs_the_event_flow_in_a_real_browser_on_postgres() {
    let test = "an_admin_watches_and_repairs_the_event_flow_in_a_real_browser_on_postgres";
    let Some(chromium) = chromium_or_fail(test) else {
        return;
    };
    // An empty database (no migrations): the demo migrates it and fills it.
    let Some(db) = shared_kernel::testing::TestDb::postgres(test, vec![]).await else {
        return;
    };
    scenario(&chromium, db.url(), false).await;
    db.cleanup().await;
}

async fn scenario(chromium: &std::path::Path, url: &str, screenshot: bool) {
    // Arrange: the demo, an admin, a webhook endpoint that refuses, a server with a worker.
    run_ok(&["--database-url", url, "demo", "--learners", "4"]);
    let admin = add_user(url, "Admin Ops", "ops@example.id", "admin");
    let instructor = add_user(url, "Bu Ratna", "ratna@example.id", "instructor");
    let hook = receiver().await;
    run_ok(&[
        "--database-url",
        url,
        "webhook",
        "add",
        &hook.url,
        "--events",
        "enrollment.created",
        "--allow-private",
    ]);
    let (_server, address) = serve(url, "127.0.0.1:0", 1);
    let api = format!("http://{address}");
    let client = reqwest::Client::new();

    // Two enrollments through the API: their webhook deliveries fail for good.
    let (course, _) = published_course(&client, &api, &instructor, "Observabilitas").await;
    for (name, email) in [("Siti", "siti@example.id"), ("Budi", "budi@example.id")] {
        let (_, learner) = sign_up(&client, &api, name, email).await;
        post(
            &client,
            format!("{api}/api/courses/{course}/enrollments"),
            &learner,
            json!({}),
        )
        .await;
    }
    let started = Instant::now();
    let failed = loop {
        let failed = failed_jobs(url);
        if failed.len() >= 2 {
            break failed;
        }
        assert!(started.elapsed() < WAIT, "two failed deliveries: {failed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed.len(), 2, "{failed:?}");

    // Act: the admin signs in through the form.
    let browser = Browser::launch(chromium).await.expect("chromium starts");
    let page = browser.open(&format!("{api}/admin")).await.expect("the page opens");
    page.wait_for("document.getElementById('login')", WAIT)
        .await
        .expect("the sign-in form");
    page.eval(&format!(
        "document.querySelector('input[name=token]').value = {}; document.getElementById('login').submit(); true",
        json!(admin)
    ))
    .await
    .unwrap();
    page.wait_for("document.getElementById('recent')", WAIT)
        .await
        .expect("the dashboard after signing in");
    assert_eq!(
        page.eval("document.cookie").await.unwrap(),
        json!(""),
        "the session cookie is out of scripts' reach (HttpOnly)"
    );

    // The demo's events and the queues are shown.
    let shown = page
        .eval(
            "({ names: [...document.querySelectorAll('#per-name tr[data-event]')].map(r => r.dataset.event), \
               recent: document.querySelectorAll('#recent tr[data-event-id]').length, \
               queues: [...document.querySelectorAll('#queues tr[data-queue]')].map(r => r.dataset.queue), \
               bars: document.querySelectorAll('#events-chart rect').length, \
               failed: [...document.querySelectorAll('#failed tr[data-job]')].map(r => r.dataset.job) })",
        )
        .await
        .unwrap();
    let names: Vec<&str> = shown["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for event in [
        "course.published",
        "enrollment.created",
        "enrollment.completed",
        "lesson.completed",
    ] {
        assert!(names.contains(&event), "{event} in the last hour's counts: {names:?}");
    }
    assert!(
        shown["recent"].as_u64().unwrap() >= 10,
        "the latest events are listed: {shown}"
    );
    let queues: Vec<&str> = shown["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap())
        .collect();
    for queue in ["default", "notifications", "webhooks"] {
        assert!(queues.contains(&queue), "{queue}: {queues:?}");
    }
    assert!(shown["bars"].as_u64().unwrap() >= 1, "the events chart has bars");
    assert_eq!(shown["failed"], json!(failed));

    // Retry: the receiver works again; the job leaves the list and is delivered.
    hook.failing.store(false, Ordering::SeqCst);
    let before = hook.received.load(Ordering::SeqCst);
    page.eval(&format!(
        "document.querySelector('#failed-{} .retry').click(); true",
        failed[0]
    ))
    .await
    .unwrap();
    page.wait_for(
        &format!(
            "document.getElementById('notice') && document.getElementById('notice').textContent.includes('{0}') \
             && !document.getElementById('failed-{0}')",
            failed[0]
        ),
        WAIT,
    )
    .await
    .expect("the retried job leaves the list");
    until("the retried delivery", || hook.received.load(Ordering::SeqCst) > before).await;

    // Forget: the other leaves the list and the table.
    page.eval(&format!(
        "document.querySelector('#failed-{} .forget').click(); true",
        failed[1]
    ))
    .await
    .unwrap();
    page.wait_for(
        &format!(
            "document.getElementById('notice') && document.getElementById('notice').textContent.includes('{0}') \
             && !document.getElementById('failed-{0}')",
            failed[1]
        ),
        WAIT,
    )
    .await
    .expect("the forgotten job leaves the list");
    until("no failed job left", || failed_jobs(url).is_empty()).await;

    // The live tail: an enrollment made through the API appears without a reload.
    page.wait_for("window.tailOpened >= 1", WAIT)
        .await
        .expect("the live tail connects");
    page.eval("window.sameDocument = true").await.unwrap();
    let (_, learner) = sign_up(&client, &api, "Dewi", "dewi@example.id").await;
    let enrollment = post(
        &client,
        format!("{api}/api/courses/{course}/enrollments"),
        &learner,
        json!({}),
    )
    .await;
    let enrollment = enrollment["id"].as_str().unwrap().to_owned();
    page.wait_for(
        &format!(
            "window.tail.some(e => e.name === 'enrollment.created' && e.aggregate_id === '{enrollment}') \
             && [...document.querySelectorAll('#tail li')].some(li => li.textContent.includes('{enrollment}'))"
        ),
        WAIT,
    )
    .await
    .expect("the new enrollment in the live tail");
    assert_eq!(
        page.eval("window.sameDocument").await.unwrap(),
        json!(true),
        "no reload"
    );

    if screenshot {
        let png = page.screenshot(1400).await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(format!("{}/dashboard.png", env!("CARGO_TARGET_TMPDIR")), &png).unwrap();
        if let Some(path) = std::env::var_os("ENTERAKSI_DASHBOARD_SCREENSHOT") {
            std::fs::write(path, &png).unwrap();
        }
    }
}
