//! `user add|token|revoke|erase`.

use crate::helpers::run;
use crate::support::process::{enteraksi, sqlite_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_prints_the_token_alone_and_revoke_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (output, stderr) = run(enteraksi().args([
        "--database-url",
        &url,
        "user",
        "add",
        "--name",
        "Bu Ratna",
        "--email",
        "ratna@example.id",
        "--role",
        "instructor",
    ]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout: {stdout:?}");
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("ek_") && token.len() == 67, "{token}");
    assert!(stderr.contains("instructor"), "{stderr}");

    let (output, _) = run(enteraksi().args(["--database-url", &url, "user", "token", "--email", "RATNA@example.id"]));
    let second = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_ne!(second, token);

    let db = shared_kernel::Database::connect(&url).await.unwrap();
    let mut conn = db.pool().acquire().await.unwrap();
    let caller = shared_kernel::users::authenticate(&mut conn, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.role, shared_kernel::users::Role::Instructor);
    drop(conn);

    let (output, stderr) =
        run(enteraksi().args(["--database-url", &url, "user", "revoke", "--email", "ratna@example.id"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Revoked 2"), "{stderr}");
    let mut conn = db.pool().acquire().await.unwrap();
    assert!(
        shared_kernel::users::authenticate(&mut conn, &token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        shared_kernel::users::authenticate(&mut conn, &second)
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);
    db.close().await;

    for (args, expected) in [
        (
            vec![
                "user",
                "add",
                "--name",
                "X",
                "--email",
                "x@example.id",
                "--role",
                "teacher",
            ],
            "not a role",
        ),
        (
            vec!["user", "add", "--name", "Y", "--email", "ratna@example.id"],
            "already exists",
        ),
        (
            vec!["user", "token", "--email", "nobody@example.id"],
            "no user with email",
        ),
    ] {
        let (output, stderr) = run(enteraksi().args(["--database-url", &url]).args(&args));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

// ---- user erase (issue 16) -----------------------------------------------------------------------

/// Whether `needle` occurs in the bytes of the SQLite database file or its WAL.
fn in_database_files(path: &std::path::Path, needle: &str) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let file = format!("{}{suffix}", path.display());
        std::fs::read(&file).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

#[test]
fn user_erase_shreds_a_learners_data_while_the_audit_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let file = dir.path().join("lms.db");
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "demo", "--learners", "6"]));
    assert!(output.status.success(), "{stderr}");
    let (email, name) = ("pelajar01@enteraksi.test", "Pelajar 01");
    let audit = |filter: &[&str]| {
        let mut args = vec!["--database-url", url.as_str(), "audit", "--json", "--all"];
        args.extend_from_slice(filter);
        let (output, stderr) = run(enteraksi().args(args));
        assert!(output.status.success(), "{stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Before: their name reads back through the audit log (stored sealed, revealed on reading).
    let completed = audit(&["--event", "enrollment.completed"]);
    assert!(completed.contains(name), "{completed}");
    assert!(in_database_files(&file, email), "the address is there before");

    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "user", "erase", "--email", email]));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Erased user"), "{stderr}");

    assert!(
        !in_database_files(&file, email),
        "the address is nowhere in the database's files"
    );
    let completed = audit(&["--event", "enrollment.completed"]);
    assert!(!completed.contains(name), "{completed}");
    assert!(completed.contains("[erased]"), "{completed}");
    // The other learners keep their names.
    assert!(completed.contains("Pelajar 02"), "{completed}");
    // Nothing hashed changed: the chain verifies.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "verify"]));
    assert!(output.status.success(), "{stderr}");
    // Once is enough: the address is gone.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "user", "erase", "--email", email]));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no user has the e-mail address"), "{stderr}");
}
