//! Replaying the audit log into a queued listener, on SQLite and PostgreSQL: a listener added
//! later gets every past event it listens to, oldest first, through the normal queue; a dry run
//! counts what it would enqueue; a job already waiting is left alone; the delivery ledger keeps
//! a second replay, or two at once, from enqueuing anything already delivered or taken; events written in an older version are
//! upcast, and one without an upcaster is a typed error naming the event and version; a sync or
//! unknown listener, an event it does not listen to and an unaudited event are refused.

use std::sync::{Arc, Mutex};

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use serde::{Deserialize, Serialize};
use shared_kernel::audit::replay::{ReadError, ReplayError, ReplayFilter, replay};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    RegistryBuilder, UpcastError,
};

/// Records what it saw.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl QueuedListener<ItemCreated> for Recorder {
    const NAME: &'static str = "Recorder";
    async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(event.event().name.clone());
        Ok(())
    }
}

/// An item was renamed, as version 1 wrote it (`name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RenamedV1 {
    item_id: String,
    name: String,
}

impl DomainEvent for RenamedV1 {
    const NAME: &'static str = "item.renamed";
    const AGGREGATE_TYPE: &'static str = "item";
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

/// The same event in version 2 (`title`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Renamed {
    item_id: String,
    title: String,
}

impl DomainEvent for Renamed {
    const NAME: &'static str = "item.renamed";
    const AGGREGATE_TYPE: &'static str = "item";
    const VERSION: u32 = 2;
    fn aggregate_id(&self) -> String {
        self.item_id.clone()
    }
}

#[derive(Clone, Default)]
struct Titles(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl QueuedListener<Renamed> for Titles {
    const NAME: &'static str = "Titles";
    async fn handle(&self, event: &Envelope<Renamed>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(event.event().title.clone());
        Ok(())
    }
}

fn name_to_title(mut fields: serde_json::Value) -> Result<serde_json::Value, String> {
    let name = fields
        .as_object_mut()
        .and_then(|o| o.remove("name"))
        .ok_or("no `name`")?;
    fields["title"] = name;
    Ok(fields)
}

fn bus(db: &TestDb, registry: RegistryBuilder) -> EventBus {
    EventBus::builder(db.db().clone(), Arc::new(registry.build().unwrap())).build()
}

async fn jobs(db: &TestDb) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    n
}

on_both!(a_new_listener_gets_the_history_through_the_queue, history_scenario);
async fn history_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    // Yesterday: no one listened.
    let before = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<ItemCreated>(),
    );
    for name in ["a", "b", "c"] {
        create_item(&before, name).await.unwrap();
    }
    // Today: a new listener.
    let recorder = Recorder::default();
    let now = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<ItemCreated, _>(recorder.clone(), QueueOptions::on("default")),
    );
    let dry = ReplayFilter {
        dry_run: true,
        ..ReplayFilter::default()
    };
    let counted = replay(&now, "Recorder", &dry, |_| {}).await.unwrap();
    assert_eq!(
        (counted.matched, counted.enqueued),
        (3, 3),
        "a dry run counts what it would enqueue"
    );
    assert_eq!(jobs(&db).await, 0, "a dry run enqueues nothing");

    let mut seen = Vec::new();
    let report = replay(&now, "Recorder", &ReplayFilter::default(), |read| seen.push(read))
        .await
        .unwrap();
    assert_eq!((report.matched, report.enqueued, report.already_waiting), (3, 3, 0));
    assert_eq!(seen, [3], "progress after each batch");
    let again = replay(&now, "Recorder", &ReplayFilter::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.enqueued, again.already_waiting),
        (0, 3),
        "waiting jobs are left alone"
    );

    drain(&now).await;
    assert_eq!(*recorder.0.lock().unwrap(), ["a", "b", "c"], "oldest first, each once");

    // Live traffic after the listener's registration, delivered as usual.
    create_item(&now, "d").await.unwrap();
    drain(&now).await;
    assert_eq!(*recorder.0.lock().unwrap(), ["a", "b", "c", "d"]);

    // The delivery ledger: neither the replayed events nor the live one are enqueued again.
    let counted = replay(&now, "Recorder", &dry, |_| {}).await.unwrap();
    assert_eq!(
        (counted.matched, counted.enqueued, counted.already_delivered),
        (4, 0, 4)
    );
    let third = replay(&now, "Recorder", &ReplayFilter::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            third.matched,
            third.enqueued,
            third.already_delivered,
            third.already_waiting
        ),
        (4, 0, 4, 0),
        "a second replay enqueues nothing already delivered"
    );
    assert_eq!(jobs(&db).await, 0);
    db.cleanup().await;
}

on_both!(two_replays_at_once_enqueue_each_event_once, concurrent_replays_scenario);
async fn concurrent_replays_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let before = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<ItemCreated>(),
    );
    for i in 0..1_200 {
        create_item(&before, &format!("item-{i}")).await.unwrap();
    }
    let recorder = Recorder::default();
    let now = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<ItemCreated, _>(recorder.clone(), QueueOptions::on("default")),
    );
    // Two replays (two operators, or two workers catching up) and a worker draining meanwhile.
    let filter = ReplayFilter::default();
    let (a, b, ()) = tokio::join!(
        replay(&now, "Recorder", &filter, |_| {}),
        replay(&now, "Recorder", &filter, |_| {}),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            drain(&now).await;
        }
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.enqueued + b.enqueued, 1_200, "{a:?} {b:?}");
    drain(&now).await;
    let mut seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1_200);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1_200, "each event delivered once");
    db.cleanup().await;
}

on_both!(older_versions_are_upcast_or_refused_by_name, versions_scenario);
async fn versions_scenario(db: TestDb) {
    let v1 = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<RenamedV1>(),
    );
    let mut uow = v1.begin();
    uow.conn().await.unwrap();
    uow.record(RenamedV1 {
        item_id: "i1".into(),
        name: "Kettle".into(),
    });
    uow.commit().await.unwrap();

    let titles = Titles::default();
    let without = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<Renamed, _>(titles.clone(), QueueOptions::on("default")),
    );
    match replay(&without, "Titles", &ReplayFilter::default(), |_| {}).await {
        Err(ReplayError::Read(ReadError::Version {
            source:
                UpcastError::NoUpcaster {
                    event,
                    version,
                    current,
                },
            ..
        })) => assert_eq!((event.as_str(), version, current), ("item.renamed", 1, 2)),
        other => panic!("expected a missing upcaster, got {other:?}"),
    }
    let with = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<Renamed, _>(titles.clone(), QueueOptions::on("default"))
            .upcast("item.renamed", 1, name_to_title),
    );
    let report = replay(&with, "Titles", &ReplayFilter::default(), |_| {}).await.unwrap();
    assert_eq!(report.enqueued, 1);
    drain(&with).await;
    assert_eq!(*titles.0.lock().unwrap(), ["Kettle"]);
    db.cleanup().await;
}

#[tokio::test]
async fn what_cannot_be_replayed_is_refused_with_the_reason() {
    let db = TestDb::new(vec![]).await;
    let recorder = Recorder::default();
    let titles = Titles::default();
    let bus = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &["item.renamed"])
            .listen_queued::<ItemCreated, _>(recorder, QueueOptions::on("default"))
            .listen_queued::<Renamed, _>(titles, QueueOptions::on("default")),
    );
    let any = ReplayFilter::default();
    match replay(&bus, "Nobody", &any, |_| {}).await {
        Err(e @ ReplayError::UnknownListener { .. }) => {
            assert!(e.to_string().contains("Recorder, Titles"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        replay(&bus, "LogDomainEvent", &any, |_| {}).await,
        Err(ReplayError::Sync(_))
    ));
    let renamed = ReplayFilter {
        event: Some("item.renamed".into()),
        ..ReplayFilter::default()
    };
    assert!(matches!(
        replay(&bus, "Recorder", &renamed, |_| {}).await,
        Err(ReplayError::NotListening { .. })
    ));
    let refused = replay(&bus, "Titles", &renamed, |_| {}).await.unwrap_err();
    assert!(matches!(refused, ReplayError::NotAudited(_)), "{refused}");
    assert!(refused.to_string().contains("not audited"), "{refused}");
}

on_both!(
    a_catch_up_listener_gets_the_history_when_first_started,
    catch_up_scenario
);
async fn catch_up_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let before = bus(
        &db,
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<ItemCreated>(),
    );
    for name in ["a", "b"] {
        create_item(&before, name).await.unwrap();
    }
    // Switched on: one listener registered as catch-up, one not.
    let caught = Recorder::default();
    let plain = Titles::default();
    let registry = || {
        Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .listen_queued::<ItemCreated, _>(caught.clone(), QueueOptions::on("default").catch_up())
            .listen_queued::<Renamed, _>(plain.clone(), QueueOptions::on("default"))
    };
    let now = bus(&db, registry());
    create_item(&now, "c").await.unwrap();
    drain(&now).await;
    assert_eq!(
        *caught.0.lock().unwrap(),
        ["c", "a", "b"],
        "live at once; the history when a worker starts, oldest first"
    );
    let registered: Vec<(String, bool)> =
        sqlx::query_as("SELECT listener, caught_up_at FROM listener_registrations ORDER BY listener")
            .fetch_all(db.db().pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(l, c): (String, Option<String>)| (l, c.is_some()))
            .collect();
    assert_eq!(
        registered,
        [("Recorder".to_owned(), true), ("Titles".to_owned(), false)],
        "every queued listener's first appearance is recorded; only catch-up ones catch up"
    );
    // Restarted workers replay nothing more, even if the mark were lost: the ledger holds.
    drain(&bus(&db, registry())).await;
    sqlx::query("UPDATE listener_registrations SET caught_up_at = NULL")
        .execute(db.db().writer())
        .await
        .unwrap();
    drain(&bus(&db, registry())).await;
    assert_eq!(caught.0.lock().unwrap().len(), 3, "each event once");
    assert!(plain.0.lock().unwrap().is_empty());
    db.cleanup().await;
}
