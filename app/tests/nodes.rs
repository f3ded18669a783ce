//! Several `enteraksi queue work` processes on one database, as several nodes run them: killed
//! with SIGKILL every second and replaced, they still leave every effect exactly once and every
//! mail received, with a resend carrying the first send's `Message-ID`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::config::Config;
use app::workload::JOBS_BUT_REMINDERS;
use app::{Application, StartOptions};
use shared_kernel::testing::TestDb;
use sqlx::Connection;

/// Every message an SMTP client delivered: its `Message-ID` and recipients, one entry per send.
#[derive(Default)]
struct Inbox {
    sends: Vec<(String, Vec<String>)>,
}

/// A small SMTP server (plain text, no authentication) that accepts every message and records
/// it in the inbox: enough for lettre's SMTP transport, and a real socket.
fn smtp_server() -> (u16, Arc<Mutex<Inbox>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let shared = inbox.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let inbox = shared.clone();
            std::thread::spawn(move || {
                let _ = smtp_session(stream, &inbox);
            });
        }
    });
    (port, inbox)
}

fn smtp_session(stream: TcpStream, inbox: &Mutex<Inbox>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 localhost ESMTP test\r\n")?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            out.write_all(b"250 localhost\r\n")?;
        } else if command.starts_with("MAIL FROM") || command.starts_with("RSET") {
            recipients.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if command.starts_with("RCPT TO") {
            recipients.push(line.trim_end()[8..].trim().to_owned());
            out.write_all(b"250 OK\r\n")?;
        } else if command == "DATA" {
            out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            let mut message_id = None;
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                let text = line.trim_end();
                if text == "." {
                    break;
                }
                if let Some(id) = text.strip_prefix("Message-ID:") {
                    message_id.get_or_insert_with(|| id.trim().to_owned());
                }
            }
            inbox
                .lock()
                .unwrap()
                .sends
                .push((message_id.unwrap_or_default(), recipients.clone()));
            out.write_all(b"250 OK queued\r\n")?;
        } else if command.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"250 OK\r\n")?;
        }
    }
}

fn worker(url: &str, smtp: &str, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_enteraksi"))
        .env("DATABASE_URL", url)
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", smtp)
        .env("ENTERAKSI_LOG", "warn")
        .env_remove("HTTP_BIND")
        // A killed worker's jobs are claimable again soon after its last renewal: two seconds on
        // PostgreSQL, five on SQLite. With two-second leases on SQLite, one run in six buried a
        // mail job as "stopped before finishing" five times, with far fewer kills than that:
        // most likely three processes taking turns at one file's write lock (not a fair lock;
        // a waiter sleeps in its busy handler) kept a worker from renewing for over a second, so
        // running jobs were taken over. Not seen in 8 runs with five-second leases.
        .args([
            "queue",
            "work",
            "--lease",
            if url.starts_with("sqlite:") { "5" } else { "2" },
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary runs")
}

async fn count(db: &shared_kernel::Database, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db.pool())
        .await
        .unwrap();
    n
}

/// What happens to the three workers every second of the drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// One of them is killed with SIGKILL and replaced.
    Kill,
    /// The database server ends every connection of theirs (`pg_terminate_backend`), as a
    /// PostgreSQL restart or a dropped network would; they must reconnect and carry on.
    DropConnections,
}

/// `learners` learners' path work (about ten jobs each), drained by three `queue work`
/// processes in `trouble` every second; returns a lower bound of the jobs run.
async fn drained_in_trouble(url: &str, learners: usize, trouble: Trouble) -> i64 {
    let (port, inbox) = smtp_server();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.to_owned()),
        "MAIL_TRANSPORT" => Some("smtp".to_owned()),
        "SMTP_URL" => Some(smtp.clone()),
        _ => None,
    })
    .unwrap();
    let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
    let workload = app::workload::path_learners(app.bus(), learners, "nodes.test")
        .await
        .unwrap();
    let db = app.db().clone();
    let queued = count(&db, JOBS_BUT_REMINDERS).await;
    let audit_before: BTreeSet<String> = sqlx::query_as::<_, (String,)>("SELECT event_id FROM domain_event_log")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect();

    let logs = tempfile::tempdir().unwrap();
    let log = |i: usize| logs.path().join(format!("worker{i}.log"));
    let mut spawned = 3;
    let mut workers: Vec<Child> = (0..3).map(|i| worker(url, &smtp, &log(i))).collect();
    let started = Instant::now();
    let mut kills = 0;
    let mut drops = 0;
    // The test's own connection, outside the pool whose connections the server ends.
    let mut observer = match trouble {
        Trouble::Kill => None,
        Trouble::DropConnections => {
            let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
            sqlx::query("SET application_name = 'enteraksi-test'")
                .execute(&mut conn)
                .await
                .unwrap();
            Some(conn)
        }
    };
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let waiting = match observer.as_mut() {
            Some(conn) => {
                sqlx::query_as::<_, (i64,)>(JOBS_BUT_REMINDERS)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap()
                    .0
            }
            None => count(&db, JOBS_BUT_REMINDERS).await,
        };
        if waiting == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the queues did not drain in 10 minutes"
        );
        match trouble {
            Trouble::Kill => {
                let victim = kills % workers.len();
                workers[victim].kill().unwrap();
                workers[victim].wait().unwrap();
                kills += 1;
                workers[victim] = worker(url, &smtp, &log(spawned));
                spawned += 1;
            }
            Trouble::DropConnections => {
                let (ended,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND application_name <> 'enteraksi-test'",
                )
                .fetch_one(&mut *observer.as_mut().expect("PostgreSQL"))
                .await
                .unwrap();
                drops += ended;
                for (i, child) in workers.iter_mut().enumerate() {
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "worker {i} exited on a lost connection"
                    );
                }
            }
        }
    }
    for mut child in workers {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let took = started.elapsed();

    // Nothing waits but each enrollment's inactivity reminder (due in days), nothing failed,
    // nobody panicked.
    assert_eq!(count(&db, JOBS_BUT_REMINDERS).await, 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM jobs").await,
        count(&db, "SELECT COUNT(*) FROM enrollments").await,
        "one reminder waits per enrollment"
    );
    let failed: Vec<(String, String, i64)> = sqlx::query_as("SELECT listener, exception, attempts FROM failed_jobs")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let mut said_lost = 0;
    for i in 0..spawned {
        let text = std::fs::read_to_string(log(i)).unwrap_or_default();
        assert!(!text.contains("panicked"), "worker {i}: {text}");
        said_lost += text.matches("connection was lost").count();
    }
    if trouble == Trouble::DropConnections {
        assert!(said_lost > 0, "the workers log each lost connection");
    }

    // Every effect exactly once: per learner the four notifications (welcome to course A and
    // to the path, the completion of A, welcome to course B), one mail delivery each, one
    // certificate, and the enrollment the path made in course B.
    let n = learners as i64;
    let per_type: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT type, COUNT(*) FROM notifications GROUP BY type")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        per_type,
        BTreeMap::from([
            ("enrollment.completed".to_owned(), n),
            ("enrollment.welcome".to_owned(), 2 * n),
            ("learning_path.welcome".to_owned(), n),
        ])
    );
    let notifications: i64 = per_type.values().sum();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM (SELECT notifiable_id, type, data FROM notifications \
             GROUP BY notifiable_id, type, data HAVING COUNT(*) > 1) twice"
        )
        .await,
        0
    );
    let deliveries = count(&db, "SELECT COUNT(*) FROM notification_deliveries").await;
    assert_eq!(deliveries, notifications, "one mail per notification");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM certificates").await, n);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT COUNT(*) FROM enrollments WHERE course_id = '{}'",
                workload.courses[1]
            )
        )
        .await,
        n
    );

    // Every mail received at least once; a resend carries the same Message-ID, to the same
    // recipient.
    let keys: Vec<(String,)> = sqlx::query_as("SELECT idempotency_key FROM notification_deliveries")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let expected: BTreeSet<String> = keys
        .into_iter()
        .map(|(key,)| shared_kernel::notifications::message_id(&key))
        .collect();
    let sends = inbox.lock().unwrap().sends.clone();
    let mut recipients: HashMap<&str, &Vec<String>> = HashMap::new();
    for (id, to) in &sends {
        assert_eq!(
            *recipients.entry(id).or_insert(to),
            to,
            "a resend of {id} went elsewhere"
        );
    }
    let received: BTreeSet<String> = sends.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(received, expected, "every mail received, under its own Message-ID");
    let resends = sends.len() - received.len();

    // The audit log: the rows from before unchanged, plus the cascade (the path progress
    // unlocking course B and enrolling the learner in it), once per learner.
    let after: Vec<(String, String)> = sqlx::query_as("SELECT event_id, event_name FROM domain_event_log")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let ids: BTreeSet<&String> = after.iter().map(|(id, _)| id).collect();
    assert!(audit_before.iter().all(|id| ids.contains(id)), "no audit row lost");
    let mut cascade: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, name) in &after {
        if !audit_before.contains(id) {
            *cascade.entry(name).or_default() += 1;
        }
    }
    assert_eq!(
        cascade,
        BTreeMap::from([("enrollment.created", n), ("learning_path.course_unlocked", n)]),
        "the cascade rows, once per learner"
    );

    // Jobs run: at least the seeded ones and one mail job per delivery (all enqueued by the
    // notification jobs during the drain); the cascade's own jobs come on top.
    let jobs = queued + deliveries;
    eprintln!(
        "{learners} learners, {trouble:?}: {queued} jobs queued, at least {jobs} run by {spawned} \
         worker processes ({kills} killed with SIGKILL, {drops} connections ended by the server) \
         in {:.1} s; {resends} mails sent twice",
        took.as_secs_f64()
    );
    app.db().close().await;
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_killed_every_second_leave_every_effect_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/nodes.db", dir.path().display());
    drained_in_trouble(&url, 60, Trouble::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_killed_every_second_leave_every_effect_once_on_postgres() {
    let Some(db) = TestDb::postgres("three_workers_killed_every_second", app::provider::migrators()).await else {
        return;
    };
    let jobs = drained_in_trouble(db.url(), 1_200, Trouble::Kill).await;
    assert!(jobs >= 10_000, "{jobs} jobs");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_whose_connections_the_server_ends_every_second_recover_and_leave_every_effect_once() {
    let Some(db) = TestDb::postgres("connections_ended_every_second", app::provider::migrators()).await else {
        return;
    };
    drained_in_trouble(db.url(), 300, Trouble::DropConnections).await;
    db.cleanup().await;
}
