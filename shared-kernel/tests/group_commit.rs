//! Group commit on SQLite: concurrent commands share one transaction and one commit, each in a
//! savepoint. A failing command fails alone (its row, its events, its jobs gone; the others
//! committed), every caller is answered only after the shared commit (its events are then
//! visible to any reader), a command alone commits at once, and with group commit off every
//! command commits on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    CommitObserver, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener,
    Registry, SharedEnvelope, UowError, UserId,
};

struct Noop;

#[async_trait]
impl QueuedListener<ItemCreated> for Noop {
    const NAME: &'static str = "Noop";
    async fn handle(&self, _event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        Ok(())
    }
}

/// Counts the commits it is told of, and the events.
#[derive(Default)]
struct Commits {
    commits: AtomicUsize,
    events: AtomicUsize,
}

impl CommitObserver for Commits {
    fn committed(&self, events: &[SharedEnvelope]) {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.events.fetch_add(events.len(), Ordering::SeqCst);
    }
}

async fn start(db: &TestDb, group_commit: bool) -> (EventBus, Arc<Commits>) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued::<ItemCreated, _>(Noop, QueueOptions::on("default"))
        .build()
        .unwrap();
    let commits = Arc::new(Commits::default());
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .observer(commits.clone())
        .group_commit(group_commit)
        .build();
    (bus, commits)
}

/// Inserts an item, reads how many items its transaction sees and a reader outside sees,
/// records `ItemCreated`; fails after writing when `fail`. Returns the two counts, once
/// committed, and checks that a reader outside sees its row by then.
async fn command(bus: &EventBus, name: String, fail: bool) -> Result<(i64, i64), UowError> {
    let mut uow = bus.begin().with_actor(Some(UserId::new()));
    let id = uuid::Uuid::now_v7().to_string();
    let conn = uow.conn().await?;
    sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
        .bind(id.clone())
        .bind(name.clone())
        .execute(&mut *conn)
        .await?;
    let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items")
        .fetch_one(&mut *conn)
        .await?;
    let (outside,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items")
        .fetch_one(bus.db().pool())
        .await?;
    // Let the other callers queue up behind this one.
    tokio::task::yield_now().await;
    uow.record(ItemCreated {
        item_id: id.clone(),
        name,
    });
    if fail {
        uow.rollback().await?;
        return Err(UowError::Poisoned);
    }
    uow.commit().await?;
    let (visible,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items WHERE id = $1")
        .bind(id)
        .fetch_one(bus.db().pool())
        .await
        .unwrap();
    assert_eq!(visible, 1, "answered before its commit");
    Ok((seen, outside))
}

async fn count(bus: &EventBus, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(bus.db().pool())
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_commits_and_a_failing_one_fails_alone() {
    let db = TestDb::new(vec![]).await;
    let (bus, commits) = start(&db, true).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..256 {
        let bus = bus.clone();
        // Every eighth command fails after writing; every 16th is dropped mid-way instead.
        tasks.spawn(async move {
            if i % 16 == 15 {
                let mut uow = bus.begin();
                sqlx::query("INSERT INTO items (id, name) VALUES ($1, 'dropped')")
                    .bind(uuid::Uuid::now_v7().to_string())
                    .execute(uow.conn().await.unwrap())
                    .await
                    .unwrap();
                drop(uow);
                return (i, None);
            }
            (i, Some(command(&bus, format!("item {i}"), i % 8 == 7).await))
        });
    }
    let mut ok = 0;
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (_, None) => {}
            (i, Some(Ok(_))) => {
                assert!(i % 8 != 7);
                ok += 1;
            }
            (i, Some(Err(e))) => {
                assert_eq!(i % 8, 7, "command {i} failed: {e}");
                failed += 1;
            }
        }
    }
    assert_eq!((ok, failed), (224, 16));
    // Exactly the committed commands' rows, audit rows and jobs: nothing of the failed or dropped.
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM items").await, 224);
    assert_eq!(
        count(&bus, "SELECT COUNT(*) FROM items WHERE name = 'dropped'").await,
        0
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM domain_event_log").await, 224);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM jobs").await, 224);
    assert_eq!(commits.events.load(Ordering::SeqCst), 224);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_shares_one_transaction() {
    let db = TestDb::new(vec![]).await;
    let (bus, _) = start(&db, true).await;
    // 32 callers at once: commands see the rows of the commands before them in their group,
    // which no reader sees before the group's commit.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let bus = bus.clone();
        tasks.spawn(async move { command(&bus, format!("item {i}"), false).await.unwrap() });
    }
    let mut seen = Vec::new();
    while let Some(n) = tasks.join_next().await {
        seen.push(n.unwrap());
    }
    seen.sort_unstable();
    let inside: Vec<i64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        inside,
        (1..=32).collect::<Vec<i64>>(),
        "each saw the ones before it, as if serial"
    );
    assert!(
        seen.iter().any(|(inside, outside)| inside - outside > 1),
        "some command saw another's uncommitted row: {seen:?}"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_alone_commits_at_once_and_group_commit_can_be_off() {
    let db = TestDb::new(vec![]).await;
    let (bus, commits) = start(&db, true).await;
    for i in 0..3 {
        command(&bus, format!("alone {i}"), false).await.unwrap();
    }
    assert_eq!(commits.commits.load(Ordering::SeqCst), 3);
    db.cleanup().await;

    let db = TestDb::new(vec![]).await;
    let (bus, commits) = start(&db, false).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let bus = bus.clone();
        tasks.spawn(async move { command(&bus, format!("item {i}"), i == 3).await });
    }
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        failed += usize::from(result.unwrap().is_err());
    }
    assert_eq!(failed, 1);
    assert_eq!(commits.commits.load(Ordering::SeqCst), 15);
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM items").await, 15);
    db.cleanup().await;
}

/// Why a claim failed: the name is taken, or the unit of work failed.
#[derive(Debug, thiserror::Error)]
enum ClaimError {
    #[error("the name is taken")]
    Taken,
    #[error(transparent)]
    Uow(#[from] UowError),
}

impl From<sqlx::Error> for ClaimError {
    fn from(e: sqlx::Error) -> Self {
        Self::Uow(e.into())
    }
}

/// A command whose rule rests on what it reads: claims `name` unless an item has it. With
/// `orphan`, it also leaves a row whose deferred foreign key fails the commit.
async fn claim(
    bus: &EventBus,
    name: &str,
    orphan: bool,
    pause: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), ClaimError> {
    let mut pause = pause;
    bus.retrying(|| {
        let pause = pause.take();
        async move {
            let mut uow = bus.begin().with_actor(Some(UserId::new()));
            let conn = uow.conn().await?;
            let (taken,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items WHERE name = $1")
                .bind(name.to_owned())
                .fetch_one(&mut *conn)
                .await?;
            if taken > 0 {
                return Err(ClaimError::Taken);
            }
            let id = uuid::Uuid::now_v7().to_string();
            sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
                .bind(id.clone())
                .bind(name.to_owned())
                .execute(&mut *conn)
                .await?;
            if orphan {
                sqlx::query("INSERT INTO children (id, parent) VALUES ($1, 'nobody')")
                    .bind(id.clone())
                    .execute(&mut *conn)
                    .await?;
            }
            uow.record(ItemCreated {
                item_id: id,
                name: name.to_owned(),
            });
            if let Some(pause) = pause {
                // Let the test queue another command behind this one, so this one stages in a
                // group rather than committing alone.
                let _ = pause.send(());
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            uow.commit().await?;
            Ok(())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_resting_on_a_group_is_answered_after_its_commit() {
    let db = TestDb::new(vec![]).await;
    let (bus, _) = start(&db, true).await;
    // 16 callers claim one name at once: one wins; each refused caller is answered only once the
    // winner's row has committed (a refusal never rests on work a reader cannot see).
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let bus = bus.clone();
        tasks.spawn(async move {
            let outcome = claim(&bus, "only", false, None).await;
            let visible = count(&bus, "SELECT COUNT(*) FROM items WHERE name = 'only'").await;
            (outcome.map_err(|e| e.to_string()), visible)
        });
    }
    let mut won = 0;
    while let Some(joined) = tasks.join_next().await {
        let (outcome, visible) = joined.unwrap();
        match outcome {
            Ok(()) => won += 1,
            Err(e) => assert_eq!(e, "the name is taken"),
        }
        assert_eq!(visible, 1, "answered before the row it rests on committed");
    }
    assert_eq!(won, 1);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_resting_on_a_failed_group_runs_again() {
    let db = TestDb::new(vec![]).await;
    let (bus, _) = start(&db, true).await;
    sqlx::raw_sql(
        "CREATE TABLE parents (id TEXT PRIMARY KEY); \
         CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(bus.db().writer())
    .await
    .unwrap();
    // The first claim stages in a group whose commit then fails (its orphan row); the second,
    // refused inside that group because of the first's row, runs again and wins.
    let (paused, pausing) = tokio::sync::oneshot::channel();
    let first = tokio::spawn({
        let bus = bus.clone();
        async move { claim(&bus, "contested", true, Some(paused)).await }
    });
    pausing.await.unwrap();
    let second = claim(&bus, "contested", false, None).await;
    let first = first.await.unwrap();
    assert!(
        matches!(first, Err(ClaimError::Uow(UowError::GroupCommit(_)))),
        "the first staged in a group whose commit failed: {first:?}"
    );
    second.expect("the refusal rested on a commit that failed: the second ran again and won");
    assert_eq!(
        count(&bus, "SELECT COUNT(*) FROM items WHERE name = 'contested'").await,
        1
    );
    assert_eq!(count(&bus, "SELECT COUNT(*) FROM domain_event_log").await, 1);
    db.cleanup().await;
}
