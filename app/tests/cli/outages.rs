//! `queue work` and `serve` when their database is not there yet or loses its connections.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use app::config::Config;
use shared_kernel::testing::TestDb;

use crate::helpers::{run, welcome_jobs};
use crate::support::process::{enteraksi, signal, spawn_announcing};

// ---- several nodes: a database that is not there yet (issue 14) -------------------------------

#[test]
fn queue_work_and_serve_on_an_unreachable_database_name_host_and_setting_and_exit_non_zero() {
    for command in [
        &["queue", "work", "--stop-when-empty"][..],
        &["serve", "--bind", "127.0.0.1:0"][..],
    ] {
        let started = Instant::now();
        let (output, stderr) = run(enteraksi()
            .env("DATABASE_URL", "postgres://postgres:S3CR3T@127.0.0.1:1/x")
            .args(command));

        assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{command:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{command:?}: {stderr}");
        assert!(stderr.contains("--wait-for-db"), "{command:?}: {stderr}");
        assert!(!stderr.contains("S3CR3T"), "{command:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{command:?}");
    }
    let (output, stderr) =
        run(enteraksi().args(["--database-url", "postgres://postgres@127.0.0.1:1/x", "queue", "work"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
}

/// Forwards every connection to `listener` to `target` (a database server coming up).
fn forward(listener: TcpListener, target: String) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let pairs = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ];
            for (mut from, mut into) in pairs {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// `queue work --wait-for-db` started while nothing answers on the database's port waits,
/// logging, and works once the database answers there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_work_with_wait_for_db_waits_until_the_database_answers() {
    let Some(db) = TestDb::postgres("wait_for_db", app::provider::migrators()).await else {
        return;
    };
    let (head, rest) = db.url().split_once("://").unwrap();
    let (authority, name) = rest.split_once('/').unwrap();
    let (user, server) = authority.rsplit_once('@').map_or(("", authority), |(u, s)| (u, s));
    // A port nothing listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let url = format!("{head}://{at}127.0.0.1:{port}/{name}");

    let mut child = enteraksi()
        .env("DATABASE_URL", &url)
        .args(["queue", "work", "--wait-for-db", "--stop-when-empty"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, stderr) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l: &String| l.contains("waiting for the database")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no waiting logged: {seen:?}"),
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "it exited instead of waiting: {seen:?}"
    );

    forward(TcpListener::bind(("127.0.0.1", port)).unwrap(), server.to_owned());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "queue work did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    seen.extend(stderr.try_iter());

    assert_eq!(status.code(), Some(0), "stdout {stdout:?} stderr {seen:?}");
    assert!(stdout.iter().any(|l| l.contains("Processed 0 jobs")), "{stdout:?}");
    db.cleanup().await;
}

async fn count(db: &shared_kernel::Database, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await.unwrap();
    n
}

/// `queue work` drains 300 welcome notifications and their 300 mails while every other backend
/// of its database is terminated twice: it logs the lost connections and carries on (no exit),
/// the jobs and failed jobs end empty, every notification and mail delivery record exists once,
/// and every mail was written at least once with one `Message-ID` per mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_work_carries_on_when_its_connections_are_terminated_mid_drain() {
    let Some(db) = TestDb::postgres("queue_work_terminated", app::provider::migrators()).await else {
        return;
    };
    let mail = tempfile::tempdir().unwrap();
    let mail_dir = mail.path().display().to_string();
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(db.url().to_owned()),
        "MAIL_TRANSPORT" => Some("file".to_owned()),
        "MAIL_FILE_DIR" => Some(mail_dir.clone()),
        _ => None,
    })
    .unwrap();
    let learners: i64 = 300;
    welcome_jobs(&config, learners as usize).await;

    let mut child = enteraksi()
        .env("DATABASE_URL", db.url())
        .env("MAIL_TRANSPORT", "file")
        .env("MAIL_FILE_DIR", &mail_dir)
        .args(["queue", "work", "--concurrency", "2", "--batch-size", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let admin = db.db();
    for at in [40, 200] {
        let started = Instant::now();
        while count(admin, "SELECT COUNT(*) FROM notifications").await < at {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the drain did not get going"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(admin.writer())
        .await
        .unwrap();
        assert!(killed > 0);
    }
    let started = Instant::now();
    while count(admin, app::workload::JOBS_BUT_REMINDERS).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "the drain did not finish");
        assert!(child.try_wait().unwrap().is_none(), "queue work exited mid-drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "queue work exited");
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let stderr: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();

    assert_eq!(status.code(), Some(0), "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("was lost")), "{stderr:?}");
    assert_eq!(count(admin, "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(count(admin, "SELECT COUNT(*) FROM notifications").await, learners);
    assert_eq!(
        count(admin, "SELECT COUNT(*) FROM notification_deliveries").await,
        learners
    );
    let mut message_ids = std::collections::HashSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(mail.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        files += 1;
        let id = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .expect("every mail has a Message-ID")
            .to_owned();
        message_ids.insert(id);
    }
    assert!(files >= learners, "{files} mails written");
    assert_eq!(message_ids.len() as i64, learners, "one Message-ID per mail");
    db.cleanup().await;
}

/// `serve` on PostgreSQL keeps answering authenticated requests (which read the database) after
/// every other backend of its database was terminated, and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_again_after_its_database_connections_are_terminated() {
    let Some(db) = TestDb::postgres("serve_terminated", app::provider::migrators()).await else {
        return;
    };
    let (added, stderr) = run(enteraksi().env("DATABASE_URL", db.url()).args([
        "user",
        "add",
        "--name",
        "Ratna",
        "--email",
        "ratna@example.id",
        "--role",
        "instructor",
    ]));
    assert_eq!(added.status.code(), Some(0), "{stderr}");
    let token = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    let (mut child, address) = spawn_announcing(
        enteraksi()
            .env("DATABASE_URL", db.url())
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"]),
        "http://",
    );
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!(
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    let before = get("/api/courses");
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    let (killed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(db.db().writer())
    .await
    .unwrap();
    assert!(killed > 0);
    let after = get("/api/courses");

    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert!(child.try_wait().unwrap().is_none(), "serve exited");
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    db.cleanup().await;
}
