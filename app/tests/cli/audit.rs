//! `audit`: its filters, its pages, and `audit verify`.

use app::config::Config;

use crate::helpers::{run, welcome_jobs};
use crate::support::process::{enteraksi, sqlite_url};

#[test]
fn malformed_audit_filters_are_errors_that_say_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for (filter, expected) in [
        ("enrollment:", "no id after"),
        ("enrollment:notauuid", "is not an id"),
        ("a:b:c", "no aggregate type `a`"),
        ("foo", "no aggregate type `foo`"),
    ] {
        let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--aggregate", filter]));
        assert_eq!(output.status.code(), Some(1), "{filter}: {stderr}");
        assert!(stderr.contains(expected), "{filter}: {stderr}");
        if expected.starts_with("no aggregate type") {
            assert!(
                stderr.contains("course, enrollment, learning_path_enrollment"),
                "the known types are listed: {stderr}"
            );
        }
    }
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--event", "enrollment.nope"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("enrollment.created"),
        "the known events are listed: {stderr}"
    );
}

#[test]
fn the_audit_log_pages_by_default_and_hints_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "demo", "--learners", "8"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--json"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 100, "a page of 100 rows by default");
    assert!(lines.iter().all(|l| l.starts_with('{')), "stdout stays JSON");
    let after = stderr
        .split("--after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a hint on stderr: {stderr}"))
        .to_owned();
    let (output, _) = run(enteraksi().args([
        "--database-url",
        &url,
        "audit",
        "--json",
        "--after",
        &after,
        "--limit",
        "5",
    ]));
    let next: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(next.len(), 5);
    assert!(!lines.contains(&next[0]), "the next page continues after the last row");
    let (output, _) = run(enteraksi().args(["--database-url", &url, "audit", "--all", "--json"]));
    assert!(String::from_utf8(output.stdout).unwrap().lines().count() > 100);
}

// ---- audit verify (issue 16) ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_tampered_row_and_checks_a_kept_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
    welcome_jobs(&config, 2).await;
    let verify = |key: &str, expect: Option<&str>| {
        let mut command = enteraksi();
        command
            .args(["--database-url", &url, "audit", "verify"])
            .env("AUDIT_HEAD_KEY", key);
        if let Some(expect) = expect {
            command.args(["--expect", expect]);
        }
        run(&mut command)
    };
    let (output, stderr) = verify("s3cret", None);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("The audit log is intact"), "{stdout}");
    let head = stdout
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .expect("a head")
        .to_owned();
    let (output, stderr) = verify("s3cret", Some(&head));
    assert!(output.status.success(), "the log still matches its head: {stderr}");
    let (output, stderr) = verify("another", Some(&head));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("signature does not match"), "{stderr}");

    // The newest enrollment's audit row removed: no link breaks, the kept head does not match.
    let db = shared_kernel::Database::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM domain_event_log WHERE event_id = \
         (SELECT event_id FROM domain_event_log ORDER BY created_at DESC, event_id DESC LIMIT 1)",
    )
    .execute(db.writer())
    .await
    .unwrap();
    let (output, stderr) = verify("s3cret", Some(&head));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no longer matches the kept head"), "{stderr}");

    // A row edited in place is named.
    sqlx::query("UPDATE domain_event_log SET metadata = '{}' WHERE aggregate_type = 'course'")
        .execute(db.writer())
        .await
        .unwrap();
    db.close().await;
    let (output, stderr) = verify("s3cret", None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("was changed or inserted") && stderr.contains("course:"),
        "{stderr}"
    );
}
