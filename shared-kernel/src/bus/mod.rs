//! The event bus: typed domain events and their envelopes, the listener traits, explicit
//! registration, and the unit of work that runs sync listeners and writes the transactional
//! outbox. Listeners, the registry and the unit of work refer to one another (a sync listener
//! is handed the unit of work that dispatches to it), so they live together here; everything
//! else — the queue, the audit log, notifications — depends on this module, never the reverse.

pub(crate) mod audit_row;
pub(crate) mod broadcast_rows;
mod broadcaster;
pub(crate) mod event;
mod event_bus;
pub(crate) mod group_commit;
mod job;
pub(crate) mod ledger;
pub(crate) mod listener;
mod middleware;
mod options;
pub(crate) mod outbox;
pub(crate) mod registry;
pub(crate) mod shared_tx;
pub(crate) mod system;
pub(crate) mod uow;
mod upcast;

pub(crate) use broadcast_rows::ADMIN_EVENTS_CHANNEL;
#[cfg(any(test, feature = "mocks"))]
pub use broadcaster::MockBroadcaster;
pub use broadcaster::{BroadcastMessage, Broadcaster, NullBroadcaster};
pub use event::{AnyEnvelope, Broadcast, Channel, DomainEvent, Envelope, EventMeta, JsonEvent, SharedEnvelope};
pub use event_bus::in_correlation;
pub use event_bus::{IdempotencyClaim, in_idempotency};
pub use job::JobContext;
pub(crate) use job::JobIdentity;
pub use listener::{
    JobFailure, JobHandler, ListenerError, QueuedListener, SyncListener, WildcardQueuedListener, WildcardSyncListener,
};
pub use middleware::{MAX_RATE_LIMIT_RUNS, Priority, RateLimit, RateLimitError};
pub use registry::{
    EventListing, EventSubscriber, ListenerListing, Mode, QueueOptions, Registry, RegistryBuilder, RegistryError,
};
pub use system::{ActionFailed, StateTransitioned, Transition, fault_code};
pub(crate) use uow::conflict_backoff;
pub use uow::{
    CONFLICT_RETRIES, CommitObserver, Committed, EventBus, EventBusBuilder, UnitOfWork, UowError, is_conflict,
};
pub use upcast::{UpcastError, Upcaster};
