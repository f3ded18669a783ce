//! The listener registry: what app's EventServiceProvider builds, explicitly and in order.
//!
//! Each registration is sync (in the command's transaction) or queued (after commit, with
//! [`QueueOptions`]). Wildcard registrations apply to every event, including events the registry
//! was never told about. Listeners of an event run in registration order, so a wildcard
//! registered first (the audit log) runs first everywhere. Mistakes that could only surface at
//! dispatch (a duplicate registration, two event types sharing a name, an exception naming an
//! unknown event, impossible queue options) are rejected by [`RegistryBuilder::build`].

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::event::{AnyEnvelope, DomainEvent, Envelope, SharedEnvelope};
use super::listener::{
    QueuedHandler, QueuedListener, SyncHandler, SyncListener, TypedQueued, TypedSync, WildQueued, WildSync,
    WildcardQueuedListener, WildcardSyncListener,
};
pub use super::options::QueueOptions;
use super::upcast::{self, UpcastError, Upcaster};

/// How a registered listener runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// In the command's transaction, before commit.
    Sync,
    /// After commit, from a durable job.
    Queued(QueueOptions),
}

/// A registration that cannot work, found at startup.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// The same listener is registered twice for one event (or as a wildcard twice).
    #[error("listener `{listener}` is registered twice for `{event}`")]
    Duplicate {
        /// The event name (`*` for wildcards).
        event: String,
        /// The listener name.
        listener: String,
    },
    /// Two event types claim the same name, so a job could not be rebuilt unambiguously.
    #[error("two event types are both named `{0}`")]
    NameClash(String),
    /// A wildcard exception names an event the registry does not know (likely a typo).
    #[error("wildcard listener `{listener}` excepts unknown event `{event}`")]
    UnknownException {
        /// The wildcard listener.
        listener: String,
        /// The unknown event name.
        event: String,
    },
    /// Queue options that could never run.
    #[error("listener `{listener}` has invalid queue options: {reason}")]
    InvalidQueueOptions {
        /// The listener.
        listener: String,
        /// What is wrong.
        reason: String,
    },
}

type Decoder = fn(&str) -> Result<SharedEnvelope, serde_json::Error>;

fn decode<E: DomainEvent>(payload: &str) -> Result<SharedEnvelope, serde_json::Error> {
    Envelope::<E>::from_json(payload).map(|e| Arc::new(e) as SharedEnvelope)
}

enum Target {
    Event { type_id: TypeId, name: &'static str },
    Wildcard { except: Vec<&'static str> },
}

enum Handler {
    Sync(SyncHandler),
    Queued(QueuedHandler, Arc<QueueOptions>),
}

struct Entry {
    listener: &'static str,
    target: Target,
    handler: Handler,
}

/// Builds a [`Registry`]; see the module docs.
#[derive(Default)]
pub struct RegistryBuilder {
    events: Vec<(TypeId, &'static str, Decoder)>,
    versions: HashMap<&'static str, u32>,
    upcasters: HashMap<(&'static str, u32), Upcaster>,
    aggregate_types: Vec<&'static str>,
    entries: Vec<Entry>,
    jobs: Vec<JobEntry>,
}

/// A registered [`JobHandler`](crate::JobHandler): jobs a listener enqueues, not an event.
#[derive(Clone)]
struct JobEntry {
    kind: &'static str,
    name: &'static str,
    handler: QueuedHandler,
    options: Arc<QueueOptions>,
}

/// Groups a context's related handlers in one type that registers them itself, as Laravel's
/// event subscribers do, so `app` registers one subscriber per concern instead of one line per
/// handler. Each handler stays a listener of its own: its own job per event, its own retries and
/// failures, its own line in `event list`.
pub trait EventSubscriber {
    /// Registers every handler of the subscriber on `registry`.
    fn subscribe(self, registry: RegistryBuilder) -> RegistryBuilder;
}

impl RegistryBuilder {
    /// Registers how to read event `event`'s fields written in version `from` as version
    /// `from + 1` (see [`DomainEvent::VERSION`](crate::DomainEvent::VERSION)).
    pub fn upcast(mut self, event: &'static str, from: u32, upcaster: Upcaster) -> Self {
        self.upcasters.insert((event, from), upcaster);
        self
    }

    /// Lets `subscriber` register its handlers (see [`EventSubscriber`]).
    pub fn subscribe(self, subscriber: impl EventSubscriber) -> Self {
        subscriber.subscribe(self)
    }

    /// Declares an event type, so it is listed (and gets the wildcard listeners resolved ahead of
    /// time) even with no listener of its own.
    pub fn event<E: DomainEvent>(mut self) -> Self {
        self.declare::<E>();
        self
    }

    /// Registers a sync listener for `E`.
    pub fn listen_sync<E: DomainEvent, L: SyncListener<E>>(mut self, listener: L) -> Self {
        self.declare::<E>();
        self.entries.push(Entry {
            listener: L::NAME,
            target: Target::Event {
                type_id: TypeId::of::<E>(),
                name: E::NAME,
            },
            handler: Handler::Sync(Arc::new(TypedSync(listener, PhantomData::<fn(E)>))),
        });
        self
    }

    /// Registers a queued listener for `E`.
    pub fn listen_queued<E: DomainEvent, L: QueuedListener<E>>(mut self, listener: L, options: QueueOptions) -> Self {
        self.declare::<E>();
        self.entries.push(Entry {
            listener: L::NAME,
            target: Target::Event {
                type_id: TypeId::of::<E>(),
                name: E::NAME,
            },
            handler: Handler::Queued(Arc::new(TypedQueued(listener, PhantomData::<fn(E)>)), Arc::new(options)),
        });
        self
    }

    /// Registers a sync listener for every event except those named in `except`.
    pub fn listen_all_sync<L: WildcardSyncListener>(mut self, listener: L, except: &[&'static str]) -> Self {
        self.entries.push(Entry {
            listener: L::NAME,
            target: Target::Wildcard {
                except: except.to_vec(),
            },
            handler: Handler::Sync(Arc::new(WildSync(listener))),
        });
        self
    }

    /// Registers a queued listener for every event except those named in `except`.
    pub fn listen_all_queued<L: WildcardQueuedListener>(
        mut self,
        listener: L,
        options: QueueOptions,
        except: &[&'static str],
    ) -> Self {
        self.entries.push(Entry {
            listener: L::NAME,
            target: Target::Wildcard {
                except: except.to_vec(),
            },
            handler: Handler::Queued(Arc::new(WildQueued(listener)), Arc::new(options)),
        });
        self
    }

    /// Registers the handler of jobs that listeners enqueue themselves (not one per event), such
    /// as [`SendMail`](crate::notifications::SendMail): each runs on its own with its own tries.
    pub fn job<H: super::listener::JobHandler>(mut self, handler: H, options: QueueOptions) -> Self {
        self.jobs.push(JobEntry {
            kind: H::KIND,
            name: H::NAME,
            handler: Arc::new(super::listener::DirectJob(handler)),
            options: Arc::new(options),
        });
        self
    }

    fn declare<E: DomainEvent>(&mut self) {
        if !self.aggregate_types.contains(&E::AGGREGATE_TYPE) {
            self.aggregate_types.push(E::AGGREGATE_TYPE);
        }
        let type_id = TypeId::of::<E>();
        if !self.events.iter().any(|(t, _, _)| *t == type_id) {
            self.events.push((type_id, E::NAME, decode::<E>));
            self.versions.insert(E::NAME, E::VERSION);
        }
    }

    /// Checks every registration and freezes the registry. The kernel's own events
    /// ([`StateTransitioned`](crate::StateTransitioned), [`ActionFailed`](crate::ActionFailed))
    /// are declared in every registry, so they are listed and a wildcard may except them.
    pub fn build(mut self) -> Result<Registry, RegistryError> {
        self.declare::<super::system::StateTransitioned>();
        self.declare::<super::system::ActionFailed>();
        let mut names = HashSet::new();
        for (_, name, _) in &self.events {
            if !names.insert(*name) {
                return Err(RegistryError::NameClash((*name).to_owned()));
            }
        }
        let mut seen = HashSet::new();
        for entry in &self.entries {
            let key = match &entry.target {
                Target::Event { name, .. } => (*name, entry.listener),
                Target::Wildcard { except } => {
                    if let Some(unknown) = except.iter().find(|e| !names.contains(*e)) {
                        return Err(RegistryError::UnknownException {
                            listener: entry.listener.to_owned(),
                            event: (*unknown).to_owned(),
                        });
                    }
                    ("*", entry.listener)
                }
            };
            if !seen.insert(key) {
                return Err(RegistryError::Duplicate {
                    event: key.0.to_owned(),
                    listener: key.1.to_owned(),
                });
            }
            if let Handler::Queued(_, options) = &entry.handler {
                options.validate(entry.listener)?;
            }
        }
        for job in &self.jobs {
            if names.contains(job.kind) || !seen.insert((job.kind, job.name)) {
                return Err(RegistryError::Duplicate {
                    event: job.kind.to_owned(),
                    listener: job.name.to_owned(),
                });
            }
            job.options.validate(job.name)?;
        }
        // A wildcard and a specific registration of the same listener on one event would run it twice.
        for entry in &self.entries {
            if let Target::Event { name, .. } = entry.target
                && self.entries.iter().any(|other| {
                    other.listener == entry.listener
                        && matches!(&other.target, Target::Wildcard { except } if !except.contains(&name))
                })
            {
                return Err(RegistryError::Duplicate {
                    event: name.to_owned(),
                    listener: entry.listener.to_owned(),
                });
            }
        }

        let mut aggregate_types = self.aggregate_types.clone();
        aggregate_types.sort_unstable();
        let mut registry = Registry {
            aggregate_types,
            events: self.events.iter().map(|(_, n, _)| *n).collect(),
            decoders: self.events.iter().map(|(_, n, d)| (*n, *d)).collect(),
            versions: self.versions.clone(),
            upcasters: self.upcasters.clone(),
            sync: HashMap::new(),
            queued: HashMap::new(),
            handlers: HashMap::new(),
            wildcard_handlers: HashMap::new(),
            preparing: HashSet::new(),
            sharing: HashSet::new(),
            entries: Vec::new(),
            jobs: Vec::new(),
        };
        for job in &self.jobs {
            registry
                .handlers
                .entry(job.kind)
                .or_default()
                .insert(job.name, (job.handler.clone(), job.options.clone()));
        }
        registry.jobs = self
            .jobs
            .iter()
            .map(|j| (j.kind, j.name, (*j.options).clone()))
            .collect();
        for (type_id, name, _) in &self.events {
            let applying: Vec<&Entry> = self.entries.iter().filter(|e| applies(e, *type_id, name)).collect();
            registry.sync.insert(*type_id, sync_list(&applying));
            registry.queued.insert(*type_id, queued_list(&applying));
            for entry in &applying {
                if let (Target::Event { .. }, Handler::Queued(handler, options)) = (&entry.target, &entry.handler) {
                    registry
                        .handlers
                        .entry(*name)
                        .or_default()
                        .insert(entry.listener, (handler.clone(), options.clone()));
                }
            }
        }
        for entry in &self.entries {
            if let (Target::Wildcard { .. }, Handler::Queued(handler, options)) = (&entry.target, &entry.handler) {
                registry
                    .wildcard_handlers
                    .insert(entry.listener, (handler.clone(), options.clone()));
            }
        }
        // Preparing or sharing a transaction would go around middleware that limits runs.
        let unlimited = |options: &QueueOptions| options.rate_limited().is_none() && options.overlap_wait().is_none();
        let all_handlers = || {
            registry
                .handlers
                .values()
                .flatten()
                .chain(registry.wildcard_handlers.iter())
        };
        let preparing = all_handlers()
            .filter(|(_, (handler, options))| handler.prepares_batches() && unlimited(options))
            .map(|(listener, _)| *listener)
            .collect();
        // An overlap lock is taken inside the shared transaction, in the job's savepoint.
        let sharing = all_handlers()
            .filter(|(_, (handler, options))| handler.shares_transaction() && options.rate_limited().is_none())
            .map(|(listener, _)| *listener)
            .collect();
        registry.preparing = preparing;
        registry.sharing = sharing;
        registry.entries = self
            .entries
            .into_iter()
            .map(|e| RegisteredEntry {
                listener: e.listener,
                target: match e.target {
                    Target::Event { name, .. } => RegisteredTarget::Event(name),
                    Target::Wildcard { except } => RegisteredTarget::Wildcard(except),
                },
                handler: e.handler,
            })
            .collect();
        Ok(registry)
    }
}

fn applies(entry: &Entry, type_id: TypeId, name: &str) -> bool {
    match &entry.target {
        Target::Event { type_id: t, .. } => *t == type_id,
        Target::Wildcard { except } => !except.contains(&name),
    }
}

fn sync_list(entries: &[&Entry]) -> Arc<[(&'static str, SyncHandler)]> {
    entries
        .iter()
        .filter_map(|e| match &e.handler {
            Handler::Sync(h) => Some((e.listener, h.clone())),
            Handler::Queued(..) => None,
        })
        .collect()
}

fn queued_list(entries: &[&Entry]) -> Arc<[QueuedTarget]> {
    entries
        .iter()
        .filter_map(|e| match &e.handler {
            Handler::Queued(h, o) => Some(QueuedTarget {
                listener: e.listener,
                handler: h.clone(),
                options: o.clone(),
            }),
            Handler::Sync(_) => None,
        })
        .collect()
}

enum RegisteredTarget {
    Event(&'static str),
    Wildcard(Vec<&'static str>),
}

struct RegisteredEntry {
    listener: &'static str,
    target: RegisteredTarget,
    handler: Handler,
}

#[derive(Clone)]
pub(crate) struct QueuedTarget {
    pub(crate) listener: &'static str,
    pub(crate) handler: QueuedHandler,
    pub(crate) options: Arc<QueueOptions>,
}

/// The frozen set of registrations. Cheap to share behind an `Arc`.
pub struct Registry {
    aggregate_types: Vec<&'static str>,
    events: Vec<&'static str>,
    decoders: HashMap<&'static str, Decoder>,
    versions: HashMap<&'static str, u32>,
    upcasters: HashMap<(&'static str, u32), Upcaster>,
    sync: HashMap<TypeId, Arc<[(&'static str, SyncHandler)]>>,
    queued: HashMap<TypeId, Arc<[QueuedTarget]>>,
    handlers: HashMap<&'static str, HashMap<&'static str, (QueuedHandler, Arc<QueueOptions>)>>,
    wildcard_handlers: HashMap<&'static str, (QueuedHandler, Arc<QueueOptions>)>,
    /// The queued listeners a worker lets prepare their claimed jobs together: those that
    /// declare it and have no middleware limiting their runs (preparing would go around it).
    preparing: HashSet<&'static str>,
    /// The listeners whose jobs a worker runs several to a transaction, each in a savepoint: those
    /// that declare it and have no rate limit (an overlap lock is taken in the job's savepoint).
    sharing: HashSet<&'static str>,
    entries: Vec<RegisteredEntry>,
    jobs: Vec<(&'static str, &'static str, QueueOptions)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// One line of the registry's listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerListing {
    /// The listener's name.
    pub listener: &'static str,
    /// Sync or queued (with its options).
    pub mode: Mode,
    /// Whether it came from a wildcard registration.
    pub wildcard: bool,
}

/// An event with its listeners, in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventListing {
    /// The event's name.
    pub event: &'static str,
    /// Its listeners, in order.
    pub listeners: Vec<ListenerListing>,
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// Every declared event with its listeners in order (for `enteraksi event list`).
    pub fn listing(&self) -> Vec<EventListing> {
        self.events
            .iter()
            .map(|name| EventListing {
                event: name,
                listeners: self
                    .entries
                    .iter()
                    .filter(|e| match &e.target {
                        RegisteredTarget::Event(n) => n == name,
                        RegisteredTarget::Wildcard(except) => !except.contains(name),
                    })
                    .map(|e| ListenerListing {
                        listener: e.listener,
                        mode: match &e.handler {
                            Handler::Sync(_) => Mode::Sync,
                            Handler::Queued(_, o) => Mode::Queued((**o).clone()),
                        },
                        wildcard: matches!(e.target, RegisteredTarget::Wildcard(_)),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The names of every declared event, in declaration order.
    pub fn event_names(&self) -> &[&'static str] {
        &self.events
    }

    /// The aggregate types of the declared events, sorted (e.g. `course`, `enrollment`).
    pub fn aggregate_types(&self) -> &[&'static str] {
        &self.aggregate_types
    }

    /// Whether `listener` is registered for the event named `event` (wildcards included).
    pub fn is_listening(&self, event: &str, listener: &str) -> bool {
        self.entries.iter().any(|e| {
            e.listener == listener
                && match &e.target {
                    RegisteredTarget::Event(n) => *n == event,
                    RegisteredTarget::Wildcard(except) => !except.contains(&event),
                }
        })
    }

    /// Rebuilds a typed event from its name and the JSON of its envelope (a job payload), for
    /// any event type the registry knows. `None`: no such event is registered.
    pub fn rebuild(&self, name: &str, payload: &str) -> Option<Result<SharedEnvelope, serde_json::Error>> {
        self.decoders.get(name).map(|decode| decode(payload))
    }

    /// The current version of the event named `event`, if it is registered.
    pub fn version_of(&self, event: &str) -> Option<u32> {
        self.versions.get(event).copied()
    }

    /// An envelope of `event` stored as JSON in `version`, as the JSON of its current version:
    /// each registered upcaster from `version` on is applied to its `event` object in turn.
    ///
    /// # Errors
    /// [`UpcastError`]: a missing upcaster names the event and version.
    pub fn upcast(&self, event: &str, version: u32, payload: &str) -> Result<String, UpcastError> {
        let current = self
            .version_of(event)
            .ok_or_else(|| UpcastError::UnknownEvent(event.to_owned()))?;
        upcast::apply(&self.upcasters, event, version, current, payload)
    }

    /// The registered job handlers: (kind, name, options), e.g. (`mail`, `SendMail`, …).
    pub fn jobs(&self) -> &[(&'static str, &'static str, QueueOptions)] {
        &self.jobs
    }

    /// The options of the job handler (`kind`, `name`), if registered.
    pub fn job_options(&self, kind: &str, name: &str) -> Option<&QueueOptions> {
        self.jobs
            .iter()
            .find(|(k, n, _)| *k == kind && *n == name)
            .map(|(_, _, o)| o)
    }

    /// Every queue a registration names, sorted.
    pub fn queues(&self) -> Vec<String> {
        let mut queues: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| match &e.handler {
                Handler::Queued(_, o) => Some(o.queue().to_owned()),
                Handler::Sync(_) => None,
            })
            .chain(self.jobs.iter().map(|(_, _, o)| o.queue().to_owned()))
            .collect();
        queues.sort();
        queues.dedup();
        queues
    }

    /// The sync listeners of an event, in order.
    pub(crate) fn sync_for(&self, event: &dyn AnyEnvelope) -> Arc<[(&'static str, SyncHandler)]> {
        match self.sync.get(&event.event_type_id()) {
            Some(list) => list.clone(),
            None => self.unknown_event(event.name(), |h| match h {
                Handler::Sync(h) => Some(h.clone()),
                Handler::Queued(..) => None,
            }),
        }
    }

    /// The queued listeners that want a job for this event, in order.
    pub(crate) fn queued_for(&self, event: &dyn AnyEnvelope) -> Vec<QueuedTarget> {
        let all = match self.queued.get(&event.event_type_id()) {
            Some(list) => list.to_vec(),
            None => self
                .entries
                .iter()
                .filter_map(|e| match (&e.target, &e.handler) {
                    (RegisteredTarget::Wildcard(except), Handler::Queued(h, o)) if !except.contains(&event.name()) => {
                        Some(QueuedTarget {
                            listener: e.listener,
                            handler: h.clone(),
                            options: o.clone(),
                        })
                    }
                    _ => None,
                })
                .collect(),
        };
        all.into_iter().filter(|t| t.handler.wants(event)).collect()
    }

    /// Whether a worker lets `listener` prepare its claimed jobs together (see
    /// [`QueuedListener::prepare`](crate::QueuedListener::prepare)).
    pub(crate) fn prepares_batches(&self, listener: &str) -> bool {
        self.preparing.contains(listener)
    }

    /// Whether a worker may run `listener`'s jobs several to a transaction (see
    /// [`QueuedListener::SHARES_TRANSACTION`](crate::QueuedListener::SHARES_TRANSACTION)).
    pub(crate) fn shares_transaction(&self, listener: &str) -> bool {
        self.sharing.contains(listener)
    }

    /// Whether any listener prepares its claimed jobs together.
    pub(crate) fn any_prepares_batches(&self) -> bool {
        !self.preparing.is_empty()
    }

    /// The handler a worker runs for a job of (`event`, `listener`).
    pub(crate) fn handler(&self, event: &str, listener: &str) -> Option<(QueuedHandler, Arc<QueueOptions>)> {
        self.handlers
            .get(event)
            .and_then(|by_listener| by_listener.get(listener))
            .or_else(|| self.wildcard_handlers.get(listener))
            .cloned()
    }

    fn unknown_event<T>(&self, name: &str, pick: impl Fn(&Handler) -> Option<T>) -> Arc<[(&'static str, T)]> {
        self.entries
            .iter()
            .filter(|e| matches!(&e.target, RegisteredTarget::Wildcard(except) if !except.contains(&name)))
            .filter_map(|e| pick(&e.handler).map(|h| (e.listener, h)))
            .collect()
    }
}
