#![allow(dead_code)] // each test file uses a part of it
//! What the kernel's integration tests share: the test event, its table and the command that
//! records it.

use serde::{Deserialize, Serialize};
use shared_kernel::{Broadcast, Channel, DomainEvent, EventBus, UowError, UserId};

/// An item was created (the test event; broadcast on the public `items` channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemCreated {
    pub item_id: String,
    pub name: String,
}

impl DomainEvent for ItemCreated {
    const NAME: &'static str = "item.created";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
    fn broadcast(&self) -> Option<Broadcast> {
        Some(Broadcast::new(Self::NAME, vec![Channel::public("items")]))
    }
}

/// The tables the test commands and listeners write.
pub const SCHEMA: &str = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, shipped BIGINT NOT NULL DEFAULT 0); \
                          CREATE TABLE ledger (event_id TEXT PRIMARY KEY, item_id TEXT NOT NULL); \
                          CREATE TABLE marks (item_id TEXT NOT NULL, n BIGINT NOT NULL);";

/// The command every test runs: insert an item and record `ItemCreated`.
pub async fn create_item(bus: &EventBus, name: &str) -> Result<String, UowError> {
    let mut uow = bus.begin().with_actor(Some(UserId::new()));
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
        .bind(id.clone())
        .bind(name.to_owned())
        .execute(uow.conn().await?)
        .await?;
    uow.record(ItemCreated {
        item_id: id.clone(),
        name: name.into(),
    });
    uow.commit().await?;
    Ok(id)
}

/// Each scenario (an `async fn(TestDb)` beside the call) as a SQLite test and a PostgreSQL test.
#[allow(unused_macros)] // guarantees.rs has no scenario on both
macro_rules! on_both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(shared_kernel::testing::TestDb::new(vec![]).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test = concat!(stringify!($name), "_postgres");
                if let Some(db) = shared_kernel::testing::TestDb::postgres(test, vec![]).await {
                    super::$scenario(db).await;
                }
            }
        }
    };
}
