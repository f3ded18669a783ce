//! `migrate` run by several processes at once on a new database.

use std::process::{Child, Stdio};

use shared_kernel::testing::TestDb;

use crate::support::process::{enteraksi, sqlite_url};

#[test]
fn processes_starting_at_once_on_a_new_sqlite_file_all_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let children: Vec<Child> = (0..4)
        .map(|_| {
            enteraksi()
                .args(["--database-url", &url, "migrate"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_at_once_on_a_new_postgres_database_all_migrate() {
    let Some(db) = TestDb::postgres("processes_starting_at_once_on_postgres", vec![]).await else {
        return;
    };
    let children: Vec<Child> = (0..4)
        .map(|_| {
            enteraksi()
                .args(["--database-url", db.url(), "migrate"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    db.cleanup().await;
}
