//! `serve`: answering over HTTP, stopping on SIGTERM, and its metrics beside `queue work`'s.

use std::time::{Duration, Instant};

use crate::support::api::{post, published_course, sign_up};
use crate::support::process::{add_user, enteraksi, serve, signal, spawn_announcing, sqlite_url};

#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&sqlite_url(&dir), "127.0.0.1:0", 1);

    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    assert!(get("/health").starts_with("HTTP/1.1 200"));
    let unauthorized = get("/api/courses");
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
    assert!(unauthorized.contains("\"code\":\"unauthorized\""), "{unauthorized}");
    assert!(
        unauthorized.to_lowercase().contains("x-correlation-id"),
        "{unauthorized}"
    );

    signal(&child, "TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

// ---- operations: /metrics, /healthz and /readyz (issue 13) -------------------------------------

/// The value of the sample `name{labels}` (labels exactly these, in any order) in a Prometheus
/// text exposition, if present.
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    exposition.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut found: Vec<String> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        found.sort();
        (metric == name && found == wanted).then(|| value.parse().unwrap())
    })
}

/// The sum of every sample of `name` in an exposition.
fn total(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_command_on_serve_and_its_drained_jobs_on_queue_work() {
    // Arrange: a migrated database, an instructor, a server without workers.
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let instructor = add_user(&url, "Bu Ratna", "ratna@example.id", "instructor");
    let (mut serve, api) = serve(&url, "127.0.0.1:0", 0);
    let api = format!("http://{api}");
    let client = reqwest::Client::new();

    // Act: a learner signs up and enrolls in a published course; a worker drains the jobs.
    let (_, learner) = sign_up(&client, &api, "Siti", "siti@example.id").await;
    let (course, _) = published_course(&client, &api, &instructor, "Rust").await;
    post(
        &client,
        format!("{api}/api/courses/{course}/enrollments"),
        &learner,
        serde_json::json!({}),
    )
    .await;
    let (mut work, worker) = spawn_announcing(
        enteraksi().args(["--database-url", &url, "queue", "work", "--metrics-bind", "127.0.0.1:0"]),
        "Serving metrics on http://",
    );
    let worker = format!("http://{worker}");
    let scrape = |base: String| {
        let client = client.clone();
        async move {
            let response = client.get(format!("{base}/metrics")).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
            response.text().await.unwrap()
        }
    };
    // The worker's job counts are the drain's progress: wait until the welcome notification
    // and the mail it sends (two jobs of queue `notifications`) have succeeded.
    let started = Instant::now();
    let drained = loop {
        let text = scrape(worker.clone()).await;
        if sample(&text, "enteraksi_jobs_succeeded_total", &[("queue", "notifications")]) == Some(2.0) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "jobs not drained:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The queue gauges are read at scrape and cached for a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let served = scrape(api.clone()).await;

    // Assert: the command's events and requests on serve, the jobs on queue work.
    assert_eq!(
        sample(
            &served,
            "enteraksi_events_dispatched_total",
            &[("event", "enrollment.created")]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_events_dispatched_total",
            &[("event", "course.published")]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_http_requests_total",
            &[
                ("route", "/api/courses/{id}/enrollments"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_http_request_duration_seconds_count",
            &[
                ("route", "/api/courses/{id}/enrollments"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_listener_runs_total",
            &[("listener", "LogDomainEvent"), ("mode", "sync")]
        ),
        // course.published, its StateTransitioned (draft → published), enrollment.created.
        Some(3.0),
        "{served}"
    );
    assert_eq!(
        total(&served, "enteraksi_jobs_claimed_total"),
        0.0,
        "serve runs no workers"
    );
    assert_eq!(total(&served, "enteraksi_queue_depth"), 0.0, "{served}");
    assert_eq!(
        sample(&served, "enteraksi_queue_depth", &[("queue", "notifications")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&drained, "enteraksi_jobs_claimed_total", &[("queue", "notifications")]),
        Some(2.0),
        "{drained}"
    );
    for name in [
        "enteraksi_jobs_retried_total",
        "enteraksi_jobs_failed_total",
        "enteraksi_jobs_buried_total",
        "enteraksi_listeners_failed_total",
    ] {
        assert_eq!(total(&drained, name), 0.0, "{name}: {drained}");
    }
    for listener in ["SendWelcomeNotification", "SendMail"] {
        let labels = [("listener", listener), ("mode", "queued")];
        assert_eq!(
            sample(&drained, "enteraksi_listener_runs_total", &labels),
            Some(1.0),
            "{drained}"
        );
        assert_eq!(
            sample(&drained, "enteraksi_listener_duration_seconds_count", &labels),
            Some(1.0)
        );
    }

    signal(&serve, "TERM");
    signal(&work, "TERM");
    assert_eq!(serve.wait().unwrap().code(), Some(0));
    assert_eq!(work.wait().unwrap().code(), Some(0));
}
