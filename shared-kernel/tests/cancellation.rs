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
use shared_kernel::{EventBus, Registry};

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
