//! Event tags and subscribers, on SQLite and PostgreSQL. Tags are written in the event's
//! transaction (none for a rolled-back one), shown on audit rows, and filter the audit log and
//! the failed jobs. A subscriber's handlers are listeners of their own: listed apart, failing
//! alone.

use std::sync::Arc;

#[macro_use]
mod common;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{
    AuditLog, AuditQuery, DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, Queue,
    QueueOptions, QueuedListener, Registry,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shipped {
    order: String,
    customer: String,
}

impl DomainEvent for Shipped {
    const NAME: &'static str = "order.shipped";
    const AGGREGATE_TYPE: &'static str = "order";
    fn aggregate_id(&self) -> String {
        self.order.clone()
    }
    fn tags(&self) -> Vec<String> {
        vec![
            format!("order:{}", self.order),
            format!("customer:{}", self.customer),
            format!("customer:{}", self.customer),
        ]
    }
}

/// Fails for good on every event.
struct Refuse;

#[async_trait]
impl QueuedListener<Shipped> for Refuse {
    const NAME: &'static str = "Refuse";
    async fn handle(&self, _event: &Envelope<Shipped>, _job: &mut JobContext) -> Result<(), ListenerError> {
        Err(ListenerError::permanent("refused"))
    }
}

async fn ship(bus: &EventBus, order: &str, customer: &str, commit: bool) {
    let mut uow = bus.begin();
    uow.conn().await.unwrap();
    uow.record(Shipped {
        order: order.into(),
        customer: customer.into(),
    });
    if commit {
        uow.commit().await.unwrap();
    } else {
        uow.rollback().await.unwrap();
    }
}

on_both!(tags_filter_the_audit_log_and_the_failed_jobs, tags_scenario);
async fn tags_scenario(db: TestDb) {
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued::<Shipped, _>(Refuse, QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    ship(&bus, "o1", "ana", true).await;
    ship(&bus, "o2", "budi", true).await;
    ship(&bus, "o3", "ana", false).await;

    let audit = AuditLog::new(db.db().clone());
    let anas = audit.query(&AuditQuery::new().tag("customer:ana")).await.unwrap();
    assert_eq!(anas.len(), 1, "the rolled-back order left no tag: {anas:?}");
    assert_eq!(anas[0].aggregate_id, "o1");
    assert_eq!(anas[0].tags, ["customer:ana", "order:o1"], "sorted, each once");
    assert!(
        audit
            .query(&AuditQuery::new().tag("customer:carla"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit.query(&AuditQuery::new()).await.unwrap().len(), 2);
    let (tags,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM event_tags")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(tags, 4);

    drain(&bus).await;
    let queue = Queue::new(bus.clone());
    assert_eq!(queue.failed_jobs(None, 10).await.unwrap().len(), 2);
    let budis = queue.failed_jobs_tagged(Some("customer:budi"), None, 10).await.unwrap();
    assert_eq!(budis.len(), 1);
    assert_eq!(budis[0].listener, "Refuse");
    let first = queue.failed_jobs_tagged(Some("order:o1"), None, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        queue
            .failed_jobs_tagged(Some("order:o1"), Some(&first[0].id), 10)
            .await
            .unwrap()
            .is_empty(),
        "paging with a tag"
    );
    db.cleanup().await;
}

// ---- subscribers -------------------------------------------------------------------------------

/// Succeeds on every event, counting.
#[derive(Clone, Default)]
struct Count(Arc<std::sync::atomic::AtomicUsize>);

#[async_trait]
impl QueuedListener<Shipped> for Count {
    const NAME: &'static str = "Count";
    async fn handle(&self, _event: &Envelope<Shipped>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// One concern's two handlers, registered together.
struct OrderHandlers {
    count: Count,
}

impl shared_kernel::EventSubscriber for OrderHandlers {
    fn subscribe(self, registry: shared_kernel::RegistryBuilder) -> shared_kernel::RegistryBuilder {
        registry
            .listen_queued::<Shipped, _>(Refuse, QueueOptions::on("default"))
            .listen_queued::<Shipped, _>(self.count, QueueOptions::on("default"))
    }
}

on_both!(a_subscribers_handlers_are_listed_and_fail_alone, subscriber_scenario);
async fn subscriber_scenario(db: TestDb) {
    let count = Count::default();
    let registry = Registry::builder()
        .subscribe(OrderHandlers { count: count.clone() })
        .build()
        .unwrap();
    let listing = registry.listing();
    let names: Vec<&str> = listing[0].listeners.iter().map(|l| l.listener).collect();
    assert_eq!(names, ["Refuse", "Count"], "each handler is a listener of its own");
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    ship(&bus, "o1", "ana", true).await;
    drain(&bus).await;
    assert_eq!(
        count.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "Count ran though Refuse failed"
    );
    let failed = Queue::new(bus.clone()).failed_jobs(None, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].listener, "Refuse");
    db.cleanup().await;
}
