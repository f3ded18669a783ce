//! Webhooks as an operator and an admin meet them: `enteraksi webhook …` spawned as a process
//! (the secret alone on stdout, bad URLs and events refused with a message naming the problem),
//! and `/api/webhooks` on a served API whose embedded worker delivers a real enrollment to a
//! receiver on loopback.

mod support;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::api::{published_course, sign_up};
use support::process::{add_user, enteraksi, serve, sqlite_url};

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn webhook(url: &str, args: &[&str]) -> (Output, String, String) {
    run(enteraksi().args(["--database-url", url, "webhook"]).args(args))
}

#[test]
fn webhook_add_prints_only_the_secret_and_list_rotate_and_remove_manage_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);

    let (output, stdout, stderr) = webhook(
        &url,
        &[
            "add",
            "http://127.0.0.1:9/hooks/lms",
            "--events",
            "enrollment.created,enrollment.completed",
            "--allow-private",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the secret on stdout: {stdout}");
    let secret = lines[0];
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let id = stderr
        .split_whitespace()
        .find(|w| shared_kernel::WebhookEndpointId::parse(w).is_ok())
        .unwrap_or_else(|| panic!("the id is named on stderr: {stderr}"))
        .to_owned();

    let (output, listed, stderr) = webhook(&url, &["list"]);
    assert!(output.status.success(), "{stderr}");
    assert!(
        listed.contains(&id) && listed.contains("http://127.0.0.1:9/hooks/lms"),
        "{listed}"
    );
    assert!(
        listed.contains("events=enrollment.created,enrollment.completed"),
        "{listed}"
    );
    assert!(listed.contains("no delivery yet"), "{listed}");
    assert!(!listed.contains(secret), "list never shows the secret");

    let (output, rotated, stderr) = webhook(&url, &["rotate-secret", &id]);
    assert!(output.status.success(), "{stderr}");
    assert!(rotated.trim().starts_with("whsec_") && rotated.trim() != secret);

    let (output, _, stderr) = webhook(&url, &["remove", &id]);
    assert!(output.status.success(), "{stderr}");
    let (_, listed, _) = webhook(&url, &["list", "--json"]);
    assert_eq!(listed.trim(), "[]");
    let (output, stdout, stderr) = webhook(&url, &["remove", &id]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no webhook endpoint with id"), "{stderr}");
    assert!(stdout.is_empty());
}

#[test]
fn bad_urls_and_events_are_refused_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for (args, code, expected) in [
        (
            vec!["add", "ftp://93.184.215.14/x", "--events", "enrollment.created"],
            1,
            "only http and https",
        ),
        (
            vec!["add", "http://127.0.0.1:9/hook", "--events", "enrollment.created"],
            1,
            "non-public address (127.0.0.1)",
        ),
        (
            vec!["add", "http://[::1]:9/hook", "--events", "enrollment.created"],
            1,
            "non-public address (::1)",
        ),
        (
            vec!["add", "http://169.254.169.254/latest", "--events", "enrollment.created"],
            1,
            "non-public address",
        ),
        (
            vec!["add", "https://93.184.215.14/x", "--events", "enrollment.nope"],
            1,
            "`enrollment.nope` is not an event",
        ),
        (vec!["add", "https://93.184.215.14/x"], 2, "--events"),
        (vec!["remove", "not-an-id"], 1, "webhook id"),
    ] {
        let (output, stdout, stderr) = webhook(&url, &args);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let (_, listed, _) = webhook(&url, &["list", "--json"]);
    assert_eq!(listed.trim(), "[]", "nothing was registered");
}

/// What the receiver got: `webhook-id`, `webhook-timestamp`, `webhook-signature`, body.
type Delivery = (String, String, String, String);

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_register_webhooks_over_the_api_and_an_enrollment_is_delivered_signed() {
    // Arrange: a receiver on loopback, an admin, an instructor, a server with a worker.
    let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let sink = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
                sink.lock().unwrap().push((
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("webhook-signature"),
                    body,
                ));
                "ok"
            }
        }),
    );
    let (receiver_base, _receiver) = shared_kernel::testing::serve_on_loopback(receiver).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let admin = add_user(&url, "Admin", "admin@example.id", "admin");
    let instructor = add_user(&url, "Bu Ratna", "ratna@example.id", "instructor");
    let (_serve, api) = serve(&url, "127.0.0.1:0", 1);
    let api = format!("http://{api}");
    let client = reqwest::Client::new();
    let hook = format!("{receiver_base}/hook");

    // Refused: a loopback URL without allow_private, and anyone but an admin.
    let (status, body) = post(
        &client,
        format!("{api}/api/webhooks"),
        &admin,
        serde_json::json!({"url": hook, "events": ["enrollment.created"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "private_address");
    let (status, _) = post(
        &client,
        format!("{api}/api/webhooks"),
        &instructor,
        serde_json::json!({"url": hook, "events": ["enrollment.created"], "allow_private": true}),
    )
    .await;
    assert_eq!(status, 403);

    // Registered by the admin.
    let (status, created) = post(
        &client,
        format!("{api}/api/webhooks"),
        &admin,
        serde_json::json!({"url": hook, "events": ["enrollment.created"], "allow_private": true}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let endpoint = created["id"].as_str().unwrap().to_owned();

    // Act: a learner enrolls in a published course.
    let (_, learner) = sign_up(&client, &api, "Siti", "siti@example.id").await;
    let (course, _) = published_course(&client, &api, &instructor, "Rust").await;
    let (status, _) = post(
        &client,
        format!("{api}/api/courses/{course}/enrollments"),
        &learner,
        serde_json::json!({}),
    )
    .await;
    assert!(status.is_success());

    // Assert: delivered once, signed with the secret shown at registration; listed as delivered.
    let started = Instant::now();
    while received.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no delivery within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (id, timestamp, signature, body) = received.lock().unwrap()[0].clone();
    assert_eq!(
        signature,
        shared_kernel::integrations::webhooks::WebhookSecret::from_text(&secret).sign(
            &id,
            timestamp.parse().unwrap(),
            &body
        )
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "enrollment.created");
    assert_eq!(body["data"]["course_id"], course.as_str());
    let listed = loop {
        let listed: serde_json::Value = client
            .get(format!("{api}/api/webhooks"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if listed[0]["last_status"] == "delivered" || started.elapsed() > Duration::from_secs(30) {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed[0]["last_status"], "delivered", "{listed}");
    assert_eq!(listed[0]["last_response_status"], 200);

    let (status, _) = post(
        &client,
        format!("{api}/api/webhooks/{endpoint}/remove"),
        &admin,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = post(
        &client,
        format!("{api}/api/webhooks/{endpoint}/remove"),
        &admin,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "webhook_not_found");
    assert_eq!(received.lock().unwrap().len(), 1, "delivered once");
}
