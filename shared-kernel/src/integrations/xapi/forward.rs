//! Which events become statements ([`ToXapi`], collected in [`XapiMappings`]) and the queued
//! listener that posts them ([`ForwardToLrs`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{LrsClient, PostError, Statement, XapiProfile};
use crate::QueueOptions;
use crate::bus::{
    AnyEnvelope, DomainEvent, Envelope, JobContext, JobFailure, ListenerError, QueuedListener, RegistryBuilder,
};
use crate::ids::EventId;

/// The queue statements are forwarded on.
pub const XAPI_QUEUE: &str = "xapi";

/// How forwarding runs: queue `xapi`, 8 tries over about a day (10 s, 1 min, 5 min, 30 min, 2 h,
/// 6 h, 12 h, ±20 %), so an LRS down for hours loses nothing; each try allowed `http_timeout`
/// (times the few requests a split batch takes) plus time to record.
pub fn xapi_queue_options(http_timeout: Duration) -> QueueOptions {
    QueueOptions::on(XAPI_QUEUE)
        .tries(8)
        .backoff([10, 60, 300, 1800, 7200, 21_600, 43_200].map(Duration::from_secs))
        .timeout(http_timeout * 4 + Duration::from_secs(30))
        // Switched on later, the LRS still gets the history: workers replay it once.
        .catch_up()
}

/// An event that is a learning record: the context that owns it says which xAPI statements it
/// stands for, from the event alone (no lookup), so that the forwarder and `export xapi` give
/// the same statements today and in a year.
pub trait ToXapi: DomainEvent {
    /// The statements `event` stands for; none when it says nothing to an LRS.
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement>;
}

type MapFn = fn(&dyn AnyEnvelope, &XapiProfile) -> Option<Vec<Statement>>;
type ListenFn = fn(RegistryBuilder, ForwardToLrs, QueueOptions) -> RegistryBuilder;

/// The events that map to statements, as each context declares them
/// (`mappings.map::<LessonCompleted>()`); used to register [`ForwardToLrs`] for each and to
/// map events read back from the audit log.
#[derive(Clone, Default)]
pub struct XapiMappings {
    entries: Vec<(&'static str, MapFn, ListenFn)>,
}

impl std::fmt::Debug for XapiMappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(name, ..)| name))
            .finish()
    }
}

fn map_one<E: ToXapi>(event: &dyn AnyEnvelope, profile: &XapiProfile) -> Option<Vec<Statement>> {
    event.downcast::<E>().map(|typed| E::statements(typed, profile))
}

fn listen_one<E: ToXapi>(builder: RegistryBuilder, forwarder: ForwardToLrs, options: QueueOptions) -> RegistryBuilder {
    builder.listen_queued::<E, ForwardToLrs>(forwarder, options)
}

impl XapiMappings {
    /// No event mapped yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps event `E` (once; mapping it again changes nothing).
    pub fn map<E: ToXapi>(mut self) -> Self {
        if !self.entries.iter().any(|(name, ..)| *name == E::NAME) {
            self.entries.push((E::NAME, map_one::<E>, listen_one::<E>));
        }
        self
    }

    /// The names of the mapped events, in the order mapped.
    pub fn events(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(name, ..)| *name).collect()
    }

    /// The statements of `event`; `None` when its type is not mapped.
    pub fn statements(&self, event: &dyn AnyEnvelope, profile: &XapiProfile) -> Option<Vec<Statement>> {
        let (_, map, _) = self.entries.iter().find(|(name, ..)| *name == event.name())?;
        map(event, profile)
    }

    /// Registers `forwarder` as a queued listener of every mapped event, with `options`.
    pub fn register(
        &self,
        mut builder: RegistryBuilder,
        forwarder: &ForwardToLrs,
        options: &QueueOptions,
    ) -> RegistryBuilder {
        for (_, _, listen) in &self.entries {
            builder = listen(builder, forwarder.clone(), options.clone());
        }
        builder
    }
}

/// The queued listener that posts an event's statements to the LRS: one job per event, its
/// statements one batch (one POST; split only if the LRS rejects it). Retried like any job while
/// the LRS is unreachable or unavailable; a statement the LRS rejects fails the job for good
/// (`failed_jobs`), with the LRS's message. Register it with [`XapiMappings::register`].
#[derive(Debug, Clone)]
pub struct ForwardToLrs {
    client: LrsClient,
    profile: Arc<XapiProfile>,
}

impl ForwardToLrs {
    /// Posts through `client`, naming people and activities per `profile`.
    pub fn new(client: LrsClient, profile: XapiProfile) -> Self {
        Self {
            client,
            profile: Arc::new(profile),
        }
    }
}

/// The listener's name, as `event list` and `failed_jobs` show it.
pub const FORWARD_TO_LRS: &str = "ForwardToLrs";

#[async_trait]
impl<E: ToXapi> QueuedListener<E> for ForwardToLrs {
    const NAME: &'static str = FORWARD_TO_LRS;

    async fn handle(&self, event: &Envelope<E>, _job: &mut JobContext) -> Result<(), ListenerError> {
        let statements = E::statements(event, &self.profile);
        forward(&self.client, &statements, E::NAME, event.event_id()).await
    }

    async fn failed(&self, event: &Envelope<E>, failure: &JobFailure) {
        tracing::error!(
            event = E::NAME,
            event_id = %event.event_id(),
            error = %failure.error,
            attempts = failure.attempts,
            "xAPI statements not forwarded; see `queue failed`"
        );
    }
}

/// Posts one event's statements as one batch; see [`ForwardToLrs`].
async fn forward(client: &LrsClient, statements: &[Statement], event: &str, id: EventId) -> Result<(), ListenerError> {
    if statements.is_empty() {
        return Ok(());
    }
    match client.post_bisecting(statements).await {
        Ok(report) if report.rejected.is_empty() => Ok(()),
        Ok(report) => {
            let refused: Vec<String> = report
                .rejected
                .iter()
                .map(|r| format!("statement {} ({}): {}", r.id, r.status, r.message))
                .collect();
            Err(ListenerError::permanent(format!(
                "the LRS rejected {} of the {} statements of `{event}` event {id}: {}",
                report.rejected.len(),
                statements.len(),
                refused.join("; ")
            )))
        }
        Err(e @ PostError::Unavailable { retry_after, .. }) => {
            let error = ListenerError::new(e);
            Err(match retry_after {
                Some(wait) => error.retry_after(wait),
                None => error,
            })
        }
        Err(e @ PostError::Unreachable(_)) => Err(ListenerError::new(e)),
        Err(e) => Err(ListenerError::permanent(format!("`{event}` event {id}: {e}"))),
    }
}
