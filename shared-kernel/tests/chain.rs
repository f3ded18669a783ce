//! The audit log's hash chain, on SQLite and PostgreSQL: an intact log verifies; a changed row,
//! a removed row and an inserted row are each found and named; removing an aggregate's newest
//! row (which breaks no link) is found against a head kept from before.

use std::sync::Arc;

#[macro_use]
mod common;

use common::ItemCreated;
use shared_kernel::audit::chain::{Tampering, verify};
use shared_kernel::testing::TestDb;
use shared_kernel::{EventBus, LogDomainEvent, Registry};

async fn record(bus: &EventBus, item: &str, names: &[&str]) {
    for name in names {
        let mut uow = bus.begin();
        uow.conn().await.unwrap();
        uow.record(ItemCreated {
            item_id: item.into(),
            name: (*name).into(),
        });
        uow.commit().await.unwrap();
    }
}

async fn logged(db: &TestDb) -> EventBus {
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .event::<ItemCreated>()
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    record(&bus, "a", &["a1", "a2", "a3"]).await;
    record(&bus, "b", &["b1", "b2"]).await;
    // Two events of one aggregate in one commit chain too.
    let mut uow = bus.begin();
    uow.conn().await.unwrap();
    for name in ["c1", "c2"] {
        uow.record(ItemCreated {
            item_id: "c".into(),
            name: name.into(),
        });
    }
    uow.commit().await.unwrap();
    bus
}

async fn event_id(db: &TestDb, item: &str, version: i64) -> String {
    let (id,): (String,) =
        sqlx::query_as("SELECT event_id FROM domain_event_log WHERE aggregate_id = $1 AND aggregate_version = $2")
            .bind(item.to_owned())
            .bind(version)
            .fetch_one(db.db().pool())
            .await
            .unwrap();
    id
}

async fn exec(db: &TestDb, sql: &'static str, item: &str, version: i64) {
    sqlx::query(sql)
        .bind(item.to_owned())
        .bind(version)
        .execute(db.db().writer())
        .await
        .unwrap();
}

on_both!(an_intact_log_verifies_and_tampering_is_named, chain_scenario);
async fn chain_scenario(db: TestDb) {
    logged(&db).await;
    let intact = verify(db.db(), None).await.unwrap();
    assert_eq!((intact.rows, intact.aggregates, intact.unchained), (7, 3, 0));
    assert!(intact.problem.is_none(), "{intact:?}");
    assert!(intact.head.starts_with("v1:7:"), "{}", intact.head);

    // Changed: one row's metadata edited in place.
    let changed = event_id(&db, "a", 2).await;
    exec(
        &db,
        "UPDATE domain_event_log SET metadata = '{\"name\":\"forged\"}' WHERE aggregate_id = $1 AND aggregate_version = $2",
        "a",
        2,
    )
    .await;
    let found = verify(db.db(), None).await.unwrap().problem.expect("found");
    assert_eq!(
        (found.event_id.as_str(), found.tampering),
        (changed.as_str(), Tampering::Changed)
    );
    db.cleanup().await;
}

on_both!(a_removed_or_inserted_row_is_named, removal_scenario);
async fn removal_scenario(db: TestDb) {
    logged(&db).await;
    // Removed: a's second row.
    let after = event_id(&db, "a", 3).await;
    exec(
        &db,
        "DELETE FROM domain_event_log WHERE aggregate_id = $1 AND aggregate_version = $2",
        "a",
        2,
    )
    .await;
    let found = verify(db.db(), None).await.unwrap().problem.expect("found");
    assert_eq!(found.event_id, after);
    assert_eq!(found.tampering, Tampering::Removed { missing_version: 2 });

    // Inserted: a copy of c's first row given c's second version (renumbering a row).
    exec(
        &db,
        "UPDATE domain_event_log SET aggregate_version = 9 WHERE aggregate_id = $1 AND aggregate_version = $2",
        "c",
        2,
    )
    .await;
    exec(
        &db,
        "INSERT INTO domain_event_log (id, event_id, event_name, aggregate_type, aggregate_id, actor_id, metadata, \
         occurred_at, created_at, correlation_id, causation_id, aggregate_version, payload, schema_version, row_hash) \
         SELECT id || 'x', event_id || 'x', event_name, aggregate_type, aggregate_id, actor_id, metadata, occurred_at, \
         created_at, correlation_id, causation_id, 2, payload, schema_version, row_hash FROM domain_event_log \
         WHERE aggregate_id = $1 AND aggregate_version = $2",
        "c",
        1,
    )
    .await;
    exec(
        &db,
        "DELETE FROM domain_event_log WHERE aggregate_id = $1 AND aggregate_version = $2",
        "a",
        3,
    )
    .await;
    let found = verify(db.db(), None).await.unwrap().problem.expect("found");
    assert_eq!(found.aggregate, "item:c");
    assert_eq!(found.aggregate_version, 2);
    // An inserted row does not chain from the row before it: found as not matching its hash.
    assert_eq!(found.tampering, Tampering::Changed);
    db.cleanup().await;
}

on_both!(removing_the_newest_rows_is_found_against_a_kept_head, head_scenario);
async fn head_scenario(db: TestDb) {
    logged(&db).await;
    let kept = verify(db.db(), None).await.unwrap().head;
    // The newest row of b removed: no link breaks...
    exec(
        &db,
        "DELETE FROM domain_event_log WHERE aggregate_id = $1 AND aggregate_version = $2",
        "b",
        2,
    )
    .await;
    let now = verify(db.db(), None).await.unwrap();
    assert!(now.problem.is_none());
    // ...but the log no longer gives the kept head.
    assert_ne!(now.head, kept);
    db.cleanup().await;
}
