//! Which events become statements ([`ToXapi`], collected in [`XapiMappings`]) and the queued
//! listener that posts them ([`ForwardToLrs`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{LrsClient, PostError, RejectedStatement, Statement, XapiProfile};
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

/// The queued listener that posts an event's statements to the LRS: one job per event, so each
/// event is retried and fails on its own. A worker that claims several of its jobs together lets
/// it [`prepare`](QueuedListener::prepare) them: their statements go in batches of up to
/// [`BATCH_STATEMENTS`] (whole events, one POST each; a batch the LRS rejects is split until the
/// bad statements are found alone), and each job then only takes its outcome: stored, or
/// rejected. A job whose batch did not get through (the LRS unreachable or unavailable, the
/// worker stopping) posts its own statements. Retried like any job while the LRS is
/// unreachable or unavailable; a statement the LRS rejects fails its job, and only its job, for
/// good (`failed_jobs`), with the LRS's message. Register it with [`XapiMappings::register`].
#[derive(Debug, Clone)]
pub struct ForwardToLrs {
    client: LrsClient,
    profile: Arc<XapiProfile>,
    prepared: Arc<PreparedEvents>,
}

impl ForwardToLrs {
    /// Posts through `client`, naming people and activities per `profile`.
    pub fn new(client: LrsClient, profile: XapiProfile) -> Self {
        Self {
            client,
            profile: Arc::new(profile),
            prepared: Arc::default(),
        }
    }
}

/// How many statements a prepared batch holds at most (whole events: one event's statements are
/// never split between two batches).
pub const BATCH_STATEMENTS: usize = 100;

/// How long a prepared outcome waits for its job (one that was claimed but never ran, e.g. its
/// worker stopped, is dropped after this; its job then posts again, which the LRS answers as
/// stored).
const PREPARED_KEPT: Duration = Duration::from_secs(600);

/// What a prepared batch did with one event's statements, until its job takes it.
#[derive(Debug, Clone, PartialEq)]
enum Prepared {
    /// The LRS stored them (or held them already).
    Stored,
    /// The LRS rejected some of them: the job fails for good with this message.
    Rejected(String),
}

/// The outcomes of prepared batches by event, shared by the listener's clones (one per event
/// type it is registered for).
#[derive(Debug, Default)]
struct PreparedEvents(Mutex<HashMap<EventId, (Instant, Prepared)>>);

impl PreparedEvents {
    fn put(&self, outcomes: impl IntoIterator<Item = (EventId, Prepared)>) {
        let now = Instant::now();
        let mut held = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.retain(|_, (at, _)| now.duration_since(*at) < PREPARED_KEPT);
        held.extend(outcomes.into_iter().map(|(id, outcome)| (id, (now, outcome))));
    }

    /// Whether `event`'s outcome is held, waiting for its job (which a claim gave back and
    /// another took again: it is not posted twice).
    fn holds(&self, event: EventId) -> bool {
        let held = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get(&event).is_some_and(|(at, _)| at.elapsed() < PREPARED_KEPT)
    }

    fn take(&self, event: EventId) -> Option<Prepared> {
        let mut held = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.remove(&event)
            .filter(|(at, _)| at.elapsed() < PREPARED_KEPT)
            .map(|(_, outcome)| outcome)
    }
}

/// The listener's name, as `event list` and `failed_jobs` show it.
pub const FORWARD_TO_LRS: &str = "ForwardToLrs";

#[async_trait]
impl<E: ToXapi> QueuedListener<E> for ForwardToLrs {
    const NAME: &'static str = FORWARD_TO_LRS;

    const PREPARES_BATCHES: bool = true;

    async fn handle(&self, event: &Envelope<E>, _job: &mut JobContext) -> Result<(), ListenerError> {
        match self.prepared.take(event.event_id()) {
            Some(Prepared::Stored) => Ok(()),
            Some(Prepared::Rejected(message)) => Err(ListenerError::permanent(message)),
            None => {
                let statements = E::statements(event, &self.profile);
                forward(&self.client, &statements, E::NAME, event.event_id()).await
            }
        }
    }

    /// Posts the statements of `events` in batches of whole events and keeps each event's
    /// outcome for its job; stops at the first batch that does not get through (its jobs and
    /// the rest post on their own).
    async fn prepare(&self, events: &[Envelope<E>]) {
        let mut batches: Vec<Vec<(EventId, Vec<Statement>)>> = vec![Vec::new()];
        let mut size = 0;
        // Jobs given back by a claim (a shutdown, a lost lease) and claimed again find theirs.
        for event in events.iter().filter(|e| !self.prepared.holds(e.event_id())) {
            let statements = E::statements(event, &self.profile);
            if size > 0 && size + statements.len() > BATCH_STATEMENTS {
                batches.push(Vec::new());
                size = 0;
            }
            size += statements.len();
            batches
                .last_mut()
                .expect("one batch at least")
                .push((event.event_id(), statements));
        }
        for batch in batches {
            let statements: Vec<Statement> = batch.iter().flat_map(|(_, s)| s.iter().cloned()).collect();
            let report = match self.client.post_bisecting(&statements).await {
                Ok(report) => report,
                Err(e) => {
                    tracing::debug!(error = %e, "a prepared batch of statements did not get through; its jobs post their own");
                    return;
                }
            };
            self.prepared.put(batch.into_iter().map(|(id, own)| {
                let rejected: Vec<&RejectedStatement> = report
                    .rejected
                    .iter()
                    .filter(|r| own.iter().any(|s| s.id() == r.id))
                    .collect();
                let outcome = match rejected.is_empty() {
                    true => Prepared::Stored,
                    false => Prepared::Rejected(rejection(E::NAME, id, &rejected, own.len())),
                };
                (id, outcome)
            }));
        }
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
            let rejected: Vec<&RejectedStatement> = report.rejected.iter().collect();
            Err(ListenerError::permanent(rejection(
                event,
                id,
                &rejected,
                statements.len(),
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

/// The message of a job whose statements the LRS rejected (some of its `total`).
fn rejection(event: &str, id: EventId, rejected: &[&RejectedStatement], total: usize) -> String {
    let refused: Vec<String> = rejected
        .iter()
        .map(|r| format!("statement {} ({}): {}", r.id, r.status, r.message))
        .collect();
    format!(
        "the LRS rejected {} of the {total} statements of `{event}` event {id}: {}",
        rejected.len(),
        refused.join("; ")
    )
}
