//! A unit of work whose caller goes away (a timeout, a client that hung up, an aborted worker)
//! while its transaction is opening leaves nothing behind: its task may begin units of work
//! again (before, the task stayed registered as holding a write transaction, and every later
//! unit of work of that task — the next request on a kept-alive connection, the next job of a
//! worker slot — failed as nested), and no connection is left inside a transaction.

use std::sync::Arc;
use std::time::Duration;

#[macro_use]
mod common;

use common::{SCHEMA, create_item};
use shared_kernel::testing::TestDb;
use shared_kernel::{Database, DbOptions, EventBus, Registry};

/// Opens and cancels 300 units of work in one task at points from before the connection is
/// acquired to after the transaction is open, then checks that no connection is left in a
/// transaction and that the same task commits units of work and reads them back.
async fn cancelled_openings_leave_no_connection_in_a_transaction(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(Registry::builder().build().unwrap())).build();
    for i in 0..300u64 {
        let mut uow = bus.begin();
        // 0 to 2.9 ms, in steps that do not repeat a phase of the opening.
        let budget = Duration::from_micros((i * 97) % 2_900);
        let _ = tokio::time::timeout(budget, uow.conn()).await;
        drop(uow);
    }
    // Connections go back to the pool (and queued rollbacks out) in tasks of their own.
    tokio::time::sleep(Duration::from_millis(300)).await;

    if db.db().backend() == shared_kernel::Backend::Postgres {
        let (stuck,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
        )
        .fetch_one(db.db().pool())
        .await
        .unwrap();
        assert_eq!(stuck, 0, "connections left inside a transaction by a cancelled opening");
    }
    // Whatever connection each statement gets, it sees what was committed since.
    for n in 0..20 {
        create_item(&bus, &format!("after {n}")).await.unwrap();
        let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items")
            .fetch_one(db.db().pool())
            .await
            .unwrap();
        assert_eq!(seen, n + 1, "a read did not see the items committed before it");
    }
    db.cleanup().await;
}
on_both!(
    cancelled_openings_of_a_transaction,
    cancelled_openings_leave_no_connection_in_a_transaction
);

/// How long the proxy below holds each answer of the server.
const ANSWER_DELAY: Duration = Duration::from_millis(40);

/// A TCP proxy in front of the PostgreSQL server that passes what the client sends at once and
/// holds each answer of the server for [`ANSWER_DELAY`]: a statement's answer is then in flight
/// long enough to cancel its caller in the middle, every time. Once `armed`, it signals `sent_begin`
/// when the client sends a `BEGIN`.
struct SlowAnswers {
    addr: std::net::SocketAddr,
    armed: Arc<std::sync::atomic::AtomicBool>,
    sent_begin: Arc<tokio::sync::Notify>,
}

impl SlowAnswers {
    async fn start(server: &str) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        use tokio::net::{TcpListener, TcpStream};

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let sent_begin = Arc::new(tokio::sync::Notify::new());
        let server = server.to_owned();
        let (watch_armed, watch_begin) = (armed.clone(), sent_begin.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(&server).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = upstream.into_split();
                let (armed, sent_begin) = (watch_armed.clone(), watch_begin.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let begins = buf[..n].windows(5).any(|w| w == b"BEGIN");
                        if begins && armed.load(Ordering::SeqCst) {
                            sent_begin.notify_one();
                        }
                    }
                });
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        if tx.send((tokio::time::Instant::now(), buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    while let Some((read_at, bytes)) = rx.recv().await {
                        tokio::time::sleep_until(read_at + ANSWER_DELAY).await;
                        if client_write.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            armed,
            sent_begin,
        }
    }
}

/// A unit of work cancelled after its `BEGIN` went out and before the server's answer came back
/// leaves no connection inside a transaction. sqlx counts a transaction as open only once the
/// answer arrives, so, cancelled in between, it queues no `ROLLBACK`; the connection went back to
/// the pool inside the transaction, and every statement the pool later ran on it outside a
/// transaction of its own (a claim, an acknowledgement) stayed uncommitted, invisible to every
/// other connection and lost when the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cancelled_while_its_begin_is_answered_is_rolled_back_postgres() {
    let Some(direct) = TestDb::postgres("cancelled_begin_postgres", vec![]).await else {
        return;
    };
    sqlx::raw_sql(SCHEMA).execute(direct.db().writer()).await.unwrap();
    let (server, database) = direct
        .url()
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(_, rest)| rest.split_once('/'))
        .expect("a postgres://user@host:port/database URL");
    let proxy = SlowAnswers::start(server).await;
    let url = format!("postgres://postgres@{}/{database}", proxy.addr);
    // One connection, so every statement below runs on the one a cancelled opening left.
    let options = DbOptions {
        max_connections: Some(1),
        durable_bookkeeping: true,
        ..DbOptions::default()
    };
    let slow = Database::connect_with(&url, options).await.unwrap();
    let bus = EventBus::builder(slow.clone(), Arc::new(Registry::builder().build().unwrap())).build();

    for round in 0..3 {
        proxy.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut uow = bus.begin();
        tokio::select! {
            opened = uow.conn() => panic!("the transaction opened before its answer came back: {:?}", opened.err()),
            () = proxy.sent_begin.notified() => {}
        }
        // Cancelled with `BEGIN` sent and its answer still on the way.
        drop(uow);
        proxy.armed.store(false, std::sync::atomic::Ordering::SeqCst);

        // A statement outside any transaction commits at once, seen by every other connection.
        let name = format!("after cancelled opening {round}");
        sqlx::query("INSERT INTO items (id, name) VALUES ($1, $1)")
            .bind(&name)
            .execute(slow.writer())
            .await
            .unwrap();
        let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items WHERE id = $1")
            .bind(&name)
            .fetch_one(direct.db().pool())
            .await
            .unwrap();
        let (stuck,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
        )
        .fetch_one(direct.db().pool())
        .await
        .unwrap();
        assert_eq!(
            (seen, stuck),
            (1, 0),
            "round {round}: a statement run after a cancelled BEGIN stayed inside its transaction"
        );
    }
    // Units of work still commit on the connection.
    create_item(&bus, "after the cancelled openings").await.unwrap();
    slow.close().await;
    direct.cleanup().await;
}
