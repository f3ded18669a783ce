//! Delayed queued listeners, on SQLite and PostgreSQL, with the injectable clock (no sleeping):
//! a job is not claimed before its delay has passed and is claimed after; a listener may compute
//! the delay per event; `Queue::stats` counts jobs not due yet as scheduled, apart from the
//! depth.

use std::sync::{Arc, Mutex};
use std::time::Duration;

#[macro_use]
mod common;

use async_trait::async_trait;
use common::{ItemCreated, SCHEMA, create_item};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{
    Envelope, EventBus, JobContext, ListenerError, ManualClock, Queue, QueueOptions, QueuedListener, Registry,
};

/// Records the items it saw.
#[derive(Clone, Default)]
struct Later(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl QueuedListener<ItemCreated> for Later {
    const NAME: &'static str = "Later";
    async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(event.event().name.clone());
        Ok(())
    }
}

/// Waits as many minutes as the item's name is long (a delay computed from the event).
#[derive(Clone, Default)]
struct PerEvent(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl QueuedListener<ItemCreated> for PerEvent {
    const NAME: &'static str = "PerEvent";
    async fn handle(&self, event: &Envelope<ItemCreated>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(event.event().name.clone());
        Ok(())
    }
    fn delay(&self, event: &Envelope<ItemCreated>) -> Option<Duration> {
        Some(Duration::from_secs(60 * event.event().name.len() as u64))
    }
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

on_both!(a_delayed_job_runs_only_once_its_delay_has_passed, delayed_scenario);
async fn delayed_scenario(db: TestDb) {
    sqlx::raw_sql(SCHEMA).execute(db.db().writer()).await.unwrap();
    let later = Later::default();
    let per_event = PerEvent::default();
    let registry = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            later.clone(),
            QueueOptions::on("default").delay(Duration::from_secs(600)),
        )
        .listen_queued::<ItemCreated, _>(per_event.clone(), QueueOptions::on("default"))
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
        .clock(clock.clone())
        .build();
    create_item(&bus, "abc").await.unwrap(); // PerEvent: 3 minutes
    let queue = Queue::new(bus.clone());

    assert_eq!(drain(&bus).await.processed, 0, "nothing is due at the commit");
    let stats = &queue.stats(&["default".to_owned()]).await.unwrap()[0];
    assert_eq!((stats.depth, stats.ready, stats.scheduled), (0, 0, 2), "{stats:?}");

    clock.advance(minutes(2));
    assert_eq!(drain(&bus).await.processed, 0, "2 minutes in, neither is due");
    clock.advance(minutes(2));
    assert_eq!(
        drain(&bus).await.processed,
        1,
        "4 minutes in, the per-event delay of 3 has passed"
    );
    assert_eq!(*per_event.0.lock().unwrap(), ["abc"]);
    assert!(later.0.lock().unwrap().is_empty());

    clock.advance(minutes(5));
    assert_eq!(
        drain(&bus).await.processed,
        0,
        "9 minutes in, the 10-minute delay has not passed"
    );
    clock.advance(minutes(2));
    assert_eq!(drain(&bus).await.processed, 1, "11 minutes in, it has");
    assert_eq!(*later.0.lock().unwrap(), ["abc"]);
    let stats = &queue.stats(&["default".to_owned()]).await.unwrap()[0];
    assert_eq!((stats.depth, stats.scheduled), (0, 0));
    db.cleanup().await;
}

#[test]
fn a_delay_longer_than_a_year_is_refused_at_registration() {
    let refused = Registry::builder()
        .listen_queued::<ItemCreated, _>(
            Later::default(),
            QueueOptions::on("default").delay(Duration::from_secs(400 * 24 * 3600)),
        )
        .build();
    assert!(refused.is_err());
}
