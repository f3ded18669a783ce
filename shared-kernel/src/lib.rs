//! # shared-kernel
//!
//! What every Enteraksi bounded context stands on, and knows nothing of any context:
//!
//! * [`ids`]: UUIDv7 newtypes for every entity;
//! * [`DomainEvent`], [`Envelope`]: typed, serializable events with identity and causality;
//! * [`Registry`]: explicit, ordered listener registration, sync or queued, plus wildcards;
//! * [`EventBus`] / [`UnitOfWork`]: one command = one transaction, whose sync listeners run
//!   inside it and whose audit rows and jobs (the transactional outbox) commit with it;
//! * [`Worker`] / [`Queue`]: the durable queue with leases, retries, backoff and failed jobs;
//! * [`LogDomainEvent`] / [`AuditLog`]: the audit trail and its queries;
//! * [`broadcast`]: live broadcasts from a log written with each commit, over SSE and WebSocket;
//! * [`metrics`]: the Prometheus metrics (names, recording, rendering with the queue gauges);
//! * [`admin`]: the events dashboard (`GET /admin`), drawn from the queries above;
//! * [`notifications`], [`users`]: database and mail notifications to the people events name;
//! * [`integrations`]: external systems fed by events ([`integrations::webhooks`],
//!   [`integrations::xapi`]);
//! * `testing` (feature `testing`): fakes, a temporary database and a queue drainer.
//!
//! A context defines its events (`impl DomainEvent`), its listeners (`impl SyncListener<E>` /
//! `impl QueuedListener<E>`) and its commands, which look like:
//!
//! ```text
//! let mut uow = bus.begin().with_actor(Some(actor));
//! let course = repository::load(uow.conn().await?, course_id).await?;
//! let published = course.publish()?;            // the domain rule; a typed error writes nothing
//! repository::save(uow.conn().await?, &published).await?;
//! uow.record(CoursePublished { .. });
//! uow.commit().await?;                           // listeners, audit, outbox, commit, broadcast
//! ```

pub mod admin;
pub mod http;
pub mod ids;
pub mod integrations;
pub mod metrics;
pub mod notifications;
pub mod privacy;
pub mod users;

pub mod audit;
pub mod broadcast;
mod bus;
mod clock;
mod db;
mod queue;

#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditEntry, AuditError, AuditLog, AuditQuery, LogDomainEvent, query_with as query_audit_with};
#[cfg(any(test, feature = "mocks"))]
pub use broadcast::MockBroadcaster;
pub use broadcast::{BroadcastMessage, Broadcaster, InProcessHub, NullBroadcaster};
pub use bus::{
    ActionFailed, AnyEnvelope, Broadcast, CONFLICT_RETRIES, Channel, CommitObserver, Committed, DomainEvent, Envelope,
    EventBus, EventBusBuilder, EventListing, EventMeta, EventSubscriber, JobContext, JobFailure, JobHandler, JsonEvent,
    ListenerError, ListenerListing, MAX_RATE_LIMIT_RUNS, Mode, Priority, QueueOptions, QueuedListener, RateLimit,
    RateLimitError, Registry, RegistryBuilder, RegistryError, SharedEnvelope, StateTransitioned, SyncListener,
    Transition, UnitOfWork, UowError, UpcastError, Upcaster, WildcardQueuedListener, WildcardSyncListener, fault_code,
    in_correlation, is_conflict,
};
pub use clock::{Clock, ManualClock, SystemClock, from_db_text, from_micros, to_db_text, to_micros};
pub use db::{Backend, Database, DbError, DbOptions, migrator, redact_secrets, redact_url, shared_migrator};
pub use ids::{
    AssessmentId, AttemptId, CertificateId, CorrelationId, CourseId, EnrollmentId, EventId, IdParseError,
    LearningPathId, LessonId, NotificationId, PathEnrollmentId, QuestionId, UserId, WebhookEndpointId,
};
pub use queue::{
    DEFAULT_BROADCAST_RETENTION, DEFAULT_SHARED_JOBS, DEPTH_HISTORY_RETENTION, DepthSample, FailedJob, Queue,
    QueueError, QueueStats, Shutdown, ShutdownTrigger, Worker, WorkerOptions, WorkerProgress, WorkerReport,
    shutdown_channel,
};

/// Re-exported so contexts name the same sqlx types the kernel uses.
pub use sqlx;
