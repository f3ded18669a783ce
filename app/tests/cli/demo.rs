//! `demo`: a mail outage said plainly, and a PostgreSQL database named.

use std::net::TcpListener;

use shared_kernel::testing::TestDb;

use crate::helpers::run;
use crate::support::process::{enteraksi, sqlite_url};

#[test]
fn a_mail_outage_is_said_plainly_by_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", sqlite_url(&dir))
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .args(["demo", "--learners", "3"]));
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains('\r'), "plain lines when not on a terminal");
    assert!(stdout.contains("MAIL DELIVERY IS FAILING"), "{stdout}");
    assert!(stdout.contains("Mails waiting to be sent:"), "{stdout}");
    assert!(stderr.contains("mail delivery is failing"), "{stderr}");
    let waiting = stdout
        .lines()
        .find(|l| l.contains("Mails waiting to be sent:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap();
    assert!(waiting > 0, "{stdout}");
    let stored = stdout
        .lines()
        .find(|l| l.contains("Notifications (database):"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap();
    assert!(stored > 0, "in-app notifications are not withheld: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_postgres_names_its_database_and_gives_advice_that_works_when_it_holds_data() {
    let Some(db) = TestDb::postgres("the_demo_on_postgres", vec![]).await else {
        return;
    };
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", db.url())
        .args(["demo", "--learners", "2"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Explore: enteraksi audit --limit 20"), "{stdout}");
    assert!(!stdout.contains("demo.db"), "{stdout}");

    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", db.url())
        .args(["demo", "--learners", "2"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already holds data") && stderr.contains("empty database"),
        "{stderr}"
    );
    assert!(!stderr.contains("--fresh"), "advice that works on PostgreSQL: {stderr}");
    db.cleanup().await;
}
