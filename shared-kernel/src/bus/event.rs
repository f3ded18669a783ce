//! Domain events: the [`DomainEvent`] trait a context implements for each of its events, the
//! [`Envelope`] that carries one occurrence with its identity and causality, and the type-erased
//! form the pipeline moves around.

use std::any::{Any, TypeId};
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CorrelationId, EventId, UserId};

/// A fact that happened in a bounded context, named in the past tense (`enrollment.created`).
///
/// Implementors are plain, immutable structs carrying what listeners need. They serialize to JSON
/// so a queued listener can rebuild the typed event after a restart: the JSON form is the job
/// payload, and [`DomainEvent::NAME`] is how the worker finds the type again.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    /// `{entity}.{past_verb}`, e.g. `course.published`. Unique across the system.
    const NAME: &'static str;
    /// The aggregate the event belongs to, e.g. `enrollment`.
    const AGGREGATE_TYPE: &'static str;

    /// The version of the event's fields (1 until they change). An event type that changes its
    /// fields bumps it and registers how to read the older one
    /// ([`RegistryBuilder::upcast`](crate::RegistryBuilder::upcast)); the audit log keeps each
    /// row's version with its whole payload.
    const VERSION: u32 = 1;

    /// The id of the aggregate instance, as stored in the audit log.
    fn aggregate_id(&self) -> String;

    /// The audit metadata (a JSON object). Defaults to the event's own fields; override it when
    /// the catalog names a different set of keys. Never put secrets here.
    fn metadata(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Where the event is broadcast live once its transaction has committed, if anywhere.
    fn broadcast(&self) -> Option<Broadcast> {
        None
    }

    /// Tags to find the event by (`course:{id}`, `user:{id}`): stored with its audit row and
    /// jobs; `audit --tag`, `queue failed --tag` and the API filter by them. None by default.
    fn tags(&self) -> Vec<String> {
        Vec::new()
    }

    /// The fields (JSON keys, in the event and its metadata) that hold personal data of
    /// [`data_subject`](Self::data_subject): a name, free text a person wrote. The audit log
    /// keeps them sealed with that person's key, so erasing the person erases them
    /// ([`privacy`](crate::privacy)). Ids are not personal data here: they are random.
    const PERSONAL_FIELDS: &'static [&'static str] = &[];

    /// Whose personal data [`PERSONAL_FIELDS`](Self::PERSONAL_FIELDS) hold.
    fn data_subject(&self) -> Option<crate::ids::UserId> {
        None
    }

    /// The lifecycle move this event records, when its aggregate has a state machine and the
    /// event changes its state (e.g. `enrollment.completed`: `active → completed`). The unit of
    /// work then records a [`StateTransitioned`](crate::StateTransitioned) right after it, in the
    /// same transaction. `None` (the default) for an event that changes no state; an aggregate's
    /// creation is no transition (it begins in its initial state).
    fn transition(&self) -> Option<super::system::Transition> {
        None
    }
}

/// A live broadcast of an event: the channels it goes to and the name clients listen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    channels: Vec<Channel>,
    name: &'static str,
}

impl Broadcast {
    /// A broadcast on `channels` under the name `name` (e.g. `enrollment.created`).
    pub fn new(name: &'static str, channels: Vec<Channel>) -> Self {
        Self { channels, name }
    }

    /// The channels the message goes to.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The name the message is broadcast as.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A broadcast channel: public (anyone may subscribe) or private (the subscriber must be
/// authorized, e.g. `user.{id}` only for that user).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Channel {
    /// Anyone may listen.
    Public(String),
    /// Only an authorized subscriber may listen.
    Private(String),
}

impl Channel {
    /// A public channel.
    pub fn public(name: impl Into<String>) -> Self {
        Self::Public(name.into())
    }

    /// A private channel.
    pub fn private(name: impl Into<String>) -> Self {
        Self::Private(name.into())
    }

    /// The channel's name, as clients address it (`private-` prefixed when private).
    pub fn address(&self) -> String {
        match self {
            Self::Public(name) => name.clone(),
            Self::Private(name) => format!("private-{name}"),
        }
    }
}

/// Identity and causality of one event occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    event_id: EventId,
    occurred_at: DateTime<Utc>,
    actor_id: Option<UserId>,
    correlation_id: CorrelationId,
    causation_id: Option<EventId>,
}

impl EventMeta {
    /// Meta for a new occurrence. The pipeline builds these; tests may too.
    pub fn new(
        event_id: EventId,
        occurred_at: DateTime<Utc>,
        actor_id: Option<UserId>,
        correlation_id: CorrelationId,
        causation_id: Option<EventId>,
    ) -> Self {
        Self {
            event_id,
            occurred_at,
            actor_id,
            correlation_id,
            causation_id,
        }
    }

    /// The occurrence's unique id (UUIDv7).
    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    /// When it happened (UTC).
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    /// Who caused it; `None` for the system.
    pub fn actor_id(&self) -> Option<UserId> {
        self.actor_id
    }

    /// The root request or event of the cascade this event belongs to.
    pub fn correlation_id(&self) -> CorrelationId {
        self.correlation_id
    }

    /// The event whose listener recorded this one; `None` for an event a command recorded.
    pub fn causation_id(&self) -> Option<EventId> {
        self.causation_id
    }
}

/// One occurrence of a typed event with its meta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<E> {
    meta: EventMeta,
    event: E,
}

impl<E: DomainEvent> Envelope<E> {
    /// Wraps an event with its meta.
    pub fn new(meta: EventMeta, event: E) -> Self {
        Self { meta, event }
    }

    /// The event itself.
    pub fn event(&self) -> &E {
        &self.event
    }

    /// Identity and causality.
    pub fn meta(&self) -> &EventMeta {
        &self.meta
    }

    /// Shorthand for `meta().event_id()`.
    pub fn event_id(&self) -> EventId {
        self.meta.event_id
    }

    /// Rebuilds a typed envelope from the JSON a queued job carries.
    pub fn from_json(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

/// A type-erased envelope: what the pipeline, the audit log and wildcard listeners see.
pub trait AnyEnvelope: Debug + Send + Sync + 'static {
    /// The event's name (`DomainEvent::NAME`).
    fn name(&self) -> &'static str;
    /// The aggregate type.
    fn aggregate_type(&self) -> &'static str;
    /// The aggregate id.
    fn aggregate_id(&self) -> String;
    /// Identity and causality.
    fn meta(&self) -> &EventMeta;
    /// The audit metadata object.
    fn metadata(&self) -> Value;
    /// The live broadcast, if the event has one.
    fn broadcast(&self) -> Option<Broadcast>;
    /// The event's tags.
    fn tags(&self) -> Vec<String>;
    /// The version of the event's fields (`DomainEvent::VERSION`).
    fn schema_version(&self) -> u32;
    /// The envelope as JSON (the queued job payload).
    fn to_json(&self) -> Result<String, serde_json::Error>;
    /// Whose personal data the event holds, and in which fields (none by default).
    fn personal(&self) -> Option<(String, &'static [&'static str])> {
        None
    }
    /// For downcasting to `Envelope<E>`.
    fn as_any(&self) -> &dyn Any;
    /// The `TypeId` of the event type `E` (not of the envelope).
    fn event_type_id(&self) -> TypeId;
}

impl<E: DomainEvent> AnyEnvelope for Envelope<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn aggregate_type(&self) -> &'static str {
        E::AGGREGATE_TYPE
    }
    fn aggregate_id(&self) -> String {
        self.event.aggregate_id()
    }
    fn meta(&self) -> &EventMeta {
        &self.meta
    }
    fn metadata(&self) -> Value {
        self.event.metadata()
    }
    fn broadcast(&self) -> Option<Broadcast> {
        self.event.broadcast()
    }
    fn tags(&self) -> Vec<String> {
        self.event.tags()
    }
    fn schema_version(&self) -> u32 {
        E::VERSION
    }
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
    fn personal(&self) -> Option<(String, &'static [&'static str])> {
        if E::PERSONAL_FIELDS.is_empty() {
            return None;
        }
        self.event
            .data_subject()
            .map(|subject| (subject.to_string(), E::PERSONAL_FIELDS))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn event_type_id(&self) -> TypeId {
        TypeId::of::<E>()
    }
}

impl dyn AnyEnvelope {
    /// The typed envelope, if this is an `E`.
    pub fn downcast<E: DomainEvent>(&self) -> Option<&Envelope<E>> {
        self.as_any().downcast_ref::<Envelope<E>>()
    }
}

/// An event that a committed unit of work dispatched, shared cheaply.
pub type SharedEnvelope = Arc<dyn AnyEnvelope>;

/// An event rebuilt from a job payload without knowing its type: name, meta and JSON body.
/// Wildcard queued listeners receive this.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEvent {
    name: String,
    meta: EventMeta,
    event: Value,
}

impl JsonEvent {
    /// Parses a job payload for the event `name`.
    pub fn from_payload(name: &str, payload: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Raw {
            meta: EventMeta,
            event: Value,
        }
        let raw: Raw = serde_json::from_str(payload)?;
        Ok(Self {
            name: name.to_owned(),
            meta: raw.meta,
            event: raw.event,
        })
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Identity and causality.
    pub fn meta(&self) -> &EventMeta {
        &self.meta
    }

    /// The event body as JSON.
    pub fn body(&self) -> &Value {
        &self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CourseId;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Published {
        course_id: CourseId,
        title: String,
    }

    impl DomainEvent for Published {
        const NAME: &'static str = "course.published";
        const AGGREGATE_TYPE: &'static str = "course";
        fn aggregate_id(&self) -> String {
            self.course_id.to_string()
        }
        fn broadcast(&self) -> Option<Broadcast> {
            Some(Broadcast::new(
                Self::NAME,
                vec![
                    Channel::public("courses"),
                    Channel::private(format!("course.{}", self.course_id)),
                ],
            ))
        }
    }

    fn meta() -> EventMeta {
        let id = EventId::new();
        EventMeta::new(id, Utc::now(), None, CorrelationId::from_uuid(id.as_uuid()), None)
    }

    #[test]
    fn an_envelope_is_rebuilt_from_its_json_by_type() {
        let env = Envelope::new(
            meta(),
            Published {
                course_id: CourseId::new(),
                title: "Rust".into(),
            },
        );
        let json = AnyEnvelope::to_json(&env).unwrap();
        let back: Envelope<Published> = Envelope::from_json(&json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn an_erased_envelope_downcasts_only_to_its_own_type() {
        let env: SharedEnvelope = Arc::new(Envelope::new(
            meta(),
            Published {
                course_id: CourseId::new(),
                title: "Rust".into(),
            },
        ));
        assert_eq!(env.name(), "course.published");
        assert!(env.downcast::<Published>().is_some());
    }

    #[test]
    fn the_default_metadata_is_the_events_fields() {
        let course_id = CourseId::new();
        let env = Envelope::new(
            meta(),
            Published {
                course_id,
                title: "Rust".into(),
            },
        );
        let metadata = AnyEnvelope::metadata(&env);
        assert_eq!(metadata["title"], "Rust");
        assert_eq!(metadata["course_id"], course_id.to_string());
    }

    #[test]
    fn a_json_event_keeps_name_meta_and_body() {
        let env = Envelope::new(
            meta(),
            Published {
                course_id: CourseId::new(),
                title: "Rust".into(),
            },
        );
        let json = AnyEnvelope::to_json(&env).unwrap();
        let raw = JsonEvent::from_payload("course.published", &json).unwrap();
        assert_eq!(raw.meta(), env.meta());
        assert_eq!(raw.body()["title"], "Rust");
    }

    #[test]
    fn a_private_channel_is_addressed_with_a_prefix() {
        assert_eq!(Channel::private("user.1").address(), "private-user.1");
        assert_eq!(Channel::public("courses").address(), "courses");
    }
}
