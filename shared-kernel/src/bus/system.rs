//! The kernel's own events, recorded by the pipeline rather than by a context's command:
//!
//! * [`StateTransitioned`]: every event whose [`DomainEvent::transition`] names a lifecycle move
//!   (an enrollment going `active → completed`, a course `draft → published`, …) is followed, in
//!   the same unit of work and so the same transaction, by one `StateTransitioned` caused by it.
//!   Commands write nothing for it: the event type declares its move once, and
//!   [`UnitOfWork::record`](super::UnitOfWork::record) does the rest.
//! * [`ActionFailed`]: when a command run through [`EventBus::retrying`](super::EventBus::retrying)
//!   fails for a reason that is not the caller's ([`fault_code`]), or a queued job is buried in
//!   `failed_jobs`, one `ActionFailed` is committed in a short transaction of its own, after the
//!   failed work rolled back. It names the command and a stable error code, never the input nor
//!   the error's text (which may carry personal data or a database's message).
//!
//! Both are ordinary events otherwise: audited by `LogDomainEvent`, listed by `event list`
//! (every registry declares them), not broadcast.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::event::{DomainEvent, JsonEvent};
use super::uow::{EventBus, UowError, is_conflict};
use crate::ids::{CorrelationId, EventId, UserId};

/// A lifecycle move an event records: the aggregate's state before and after, as the state
/// enum's stored names (`active`, `completed`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: &'static str,
    to: &'static str,
}

impl Transition {
    /// The move `from → to`.
    pub fn new(from: &'static str, to: &'static str) -> Self {
        Self { from, to }
    }

    /// The state before.
    pub fn from(&self) -> &'static str {
        self.from
    }

    /// The state after.
    pub fn to(&self) -> &'static str {
        self.to
    }
}

/// An aggregate with a state machine changed state: recorded by the unit of work right after the
/// event that made the change (its cause), in the same transaction.
///
/// Its audit row belongs to the aggregate's **lifecycle** (`aggregate_type` `lifecycle`,
/// `aggregate_id` `{type}:{id}`, e.g. `enrollment:0190…`), so the aggregate's own events keep
/// their version numbers and the lifecycle's versions count its transitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateTransitioned {
    /// The aggregate's type, e.g. `enrollment`.
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The state before.
    pub from_state: String,
    /// The state after.
    pub to_state: String,
    /// The name of the event that made the change, e.g. `enrollment.completed`.
    pub caused_by: String,
    /// That event's id (also this event's causation id).
    pub causing_event_id: EventId,
}

impl StateTransitioned {
    /// The aggregate type of every transition's audit row.
    pub const LIFECYCLE: &'static str = "lifecycle";
}

impl DomainEvent for StateTransitioned {
    const NAME: &'static str = "system.state_transitioned";
    const AGGREGATE_TYPE: &'static str = Self::LIFECYCLE;

    fn aggregate_id(&self) -> String {
        format!("{}:{}", self.aggregate_type, self.aggregate_id)
    }

    fn metadata(&self) -> Value {
        json!({
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "caused_by": self.caused_by,
            "causing_event_id": self.causing_event_id,
        })
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("{}:{}", self.aggregate_type, self.aggregate_id)]
    }
}

/// A command or a queued job failed for a reason that is not the caller's (see the module
/// docs). The actor and correlation id are the failed command's, in the event's meta and its
/// metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFailed {
    /// The command (`enrollment::EnrollmentService::enroll`) or, for a buried job, the listener.
    pub command: String,
    /// A stable code: `storage_failure`, `storage_unavailable`, `timeout`, `listener_failed`,
    /// `panic`, `job_buried`, …
    pub code: String,
    /// Who ran the command, if anyone.
    pub actor_id: Option<UserId>,
    /// The failed command's correlation id (the request or cascade it belonged to).
    pub correlation_id: CorrelationId,
}

impl ActionFailed {
    /// The code of a queued job moved to `failed_jobs`.
    pub const JOB_BURIED: &'static str = "job_buried";
    /// The code of a command that panicked.
    pub const PANIC: &'static str = "panic";
}

impl DomainEvent for ActionFailed {
    const NAME: &'static str = "system.action_failed";
    const AGGREGATE_TYPE: &'static str = "action";

    /// The correlation: a request's failures are one aggregate's sequence.
    fn aggregate_id(&self) -> String {
        self.correlation_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "command": self.command,
            "code": self.code,
            "actor_id": self.actor_id,
            "correlation_id": self.correlation_id,
        })
    }
}

/// Whether a failed command's error is a fault of the system rather than the caller's, and if so
/// its stable code. Walks the error's sources: a storage error (`sqlx::Error`) or a unit of work
/// that could not commit (a sync listener failed, a cascade too deep, …) is a fault; a
/// conflict with concurrent transactions that outlasted the retries is not (the HTTP layer answers
/// it with a retryable 409, as it answers refused rules and invalid input, which carry no such
/// cause). The same split as the HTTP error mapping: what it answers with 500 is a fault.
pub fn fault_code(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    if is_conflict(error) {
        return None;
    }
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(uow) = e.downcast_ref::<UowError>() {
            match uow {
                UowError::Database(db) => return Some(storage_code(db)),
                UowError::Listener { .. } | UowError::Poisoned => return Some("listener_failed"),
                UowError::CascadeTooDeep { .. } => return Some("cascade_too_deep"),
                UowError::Serialize { .. } => return Some("serialization_failed"),
                UowError::Nested => return Some("nested_unit_of_work"),
                UowError::LeaseLost => return Some("lease_lost"),
                UowError::SharedTransactionBroken => return Some("shared_transaction_broken"),
                UowError::GroupCommit(_) => return Some("group_commit_failed"),
            }
        }
        if let Some(db) = e.downcast_ref::<sqlx::Error>() {
            return Some(storage_code(db));
        }
        cause = e.source();
    }
    None
}

fn storage_code(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "timeout",
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            "storage_unavailable"
        }
        _ => "storage_failure",
    }
}

/// The running command's actor and correlation, as its units of work leave them (see
/// [`note_unit_of_work`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CommandScope {
    pub(crate) actor: Option<UserId>,
    pub(crate) correlation: Option<CorrelationId>,
}

tokio::task_local! {
    static COMMAND: RefCell<CommandScope>;
}

/// Runs `work` as a command: its units of work note their actor and correlation, and the scope's
/// last state is returned with the output.
pub(crate) async fn in_command<F: std::future::Future>(work: F) -> (F::Output, CommandScope) {
    COMMAND
        .scope(RefCell::new(CommandScope::default()), async move {
            let output = work.await;
            let scope = COMMAND.with(|c| *c.borrow());
            (output, scope)
        })
        .await
}

/// Whether this task runs inside a command already (an outer `retrying` records its failure).
pub(crate) fn in_a_command() -> bool {
    COMMAND.try_with(|_| ()).is_ok()
}

/// Called as a unit of work ends: the running command, if any, remembers its actor and
/// correlation for an `ActionFailed`.
pub(crate) fn note_unit_of_work(actor: Option<UserId>, correlation: Option<CorrelationId>) {
    let _ = COMMAND.try_with(|c| {
        let mut scope = c.borrow_mut();
        scope.actor = actor.or(scope.actor);
        scope.correlation = correlation.or(scope.correlation);
    });
}

/// The name of a command from the type of the closure [`EventBus::retrying`] runs:
/// `enrollment::service::EnrollmentService::enroll::{{closure}}::{{closure}}` becomes
/// `enrollment::EnrollmentService::enroll` (closures and the `service` module left out). The
/// compiler's type names are meant for diagnostics, which is what this is.
pub(crate) fn command_name(type_name: &str) -> String {
    type_name
        .split("::")
        .filter(|part| !part.starts_with('{') && *part != "service")
        .collect::<Vec<_>>()
        .join("::")
}

/// Commits one [`ActionFailed`] in a unit of work of its own (joining `correlation`, or the
/// current request's), retrying conflicts, and counts it in metrics. A failure to record it is
/// logged: the store that failed the command may well fail this too.
pub(crate) async fn record_action_failed(
    bus: &EventBus,
    command: String,
    code: &'static str,
    actor: Option<UserId>,
    correlation: Option<CorrelationId>,
) {
    crate::metrics::action_failed(&command, code);
    let mut uow = bus.begin().with_actor(actor).system();
    let correlation = correlation.or(uow.correlation()).unwrap_or_else(|| {
        let id = EventId::new();
        CorrelationId::from_uuid(id.as_uuid())
    });
    drop(uow);
    let failure = ActionFailed {
        command,
        code: code.to_owned(),
        actor_id: actor,
        correlation_id: correlation,
    };
    let mut tries = 0;
    loop {
        uow = bus.begin().with_actor(actor).with_correlation(correlation).system();
        uow.record(failure.clone());
        match uow.commit().await {
            Ok(_) => return,
            Err(e) if tries < super::CONFLICT_RETRIES && e.is_conflict() => {
                tries += 1;
                tokio::time::sleep(super::conflict_backoff(tries)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, command = %failure.command, code, "could not record ActionFailed");
                return;
            }
        }
    }
}

/// Records the [`ActionFailed`] of a job moved to `failed_jobs`: the listener as the command, the
/// actor and correlation of the event it handled (when its payload says).
pub(crate) async fn record_job_buried(bus: &EventBus, listener: &str, event_name: &str, payload: &str) {
    let meta = JsonEvent::from_payload(event_name, payload)
        .ok()
        .map(|e| e.meta().clone());
    record_action_failed(
        bus,
        listener.to_owned(),
        ActionFailed::JOB_BURIED,
        meta.as_ref().and_then(|m| m.actor_id()),
        meta.map(|m| m.correlation_id()),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_named_by_its_function_without_closures_or_the_service_module() {
        assert_eq!(
            command_name("enrollment::service::EnrollmentService::enroll::{{closure}}::{{closure}}"),
            "enrollment::EnrollmentService::enroll"
        );
        assert_eq!(command_name("guarantees::main::{{closure}}"), "guarantees::main");
    }

    #[test]
    fn storage_failures_are_faults_and_refusals_are_not() {
        let refused = std::io::Error::other("already enrolled");
        assert_eq!(fault_code(&refused), None);
        let storage = UowError::Database(sqlx::Error::RowNotFound);
        assert_eq!(fault_code(&storage), Some("storage_failure"));
        assert_eq!(
            fault_code(&UowError::Database(sqlx::Error::PoolTimedOut)),
            Some("timeout")
        );
        assert_eq!(
            fault_code(&UowError::CascadeTooDeep { event: "x", limit: 8 }),
            Some("cascade_too_deep")
        );
    }

    #[test]
    fn a_storage_error_below_a_contexts_error_is_a_fault() {
        #[derive(Debug, thiserror::Error)]
        #[error("the command failed")]
        struct ContextError(#[source] sqlx::Error);
        assert_eq!(
            fault_code(&ContextError(sqlx::Error::PoolClosed)),
            Some("storage_unavailable")
        );
    }

    #[test]
    fn a_transition_is_audited_under_its_aggregates_lifecycle() {
        let event = StateTransitioned {
            aggregate_type: "enrollment".into(),
            aggregate_id: "e1".into(),
            from_state: "active".into(),
            to_state: "completed".into(),
            caused_by: "enrollment.completed".into(),
            causing_event_id: EventId::new(),
        };
        assert_eq!(event.aggregate_id(), "enrollment:e1");
        assert_eq!(event.metadata()["from_state"], "active");
        assert_eq!(event.metadata()["to_state"], "completed");
    }

    #[test]
    fn an_action_failure_carries_no_more_than_its_code_command_actor_and_correlation() {
        let failure = ActionFailed {
            command: "enrollment::EnrollmentService::enroll".into(),
            code: "storage_failure".into(),
            actor_id: None,
            correlation_id: CorrelationId::from_uuid(EventId::new().as_uuid()),
        };
        let mut keys: Vec<String> = failure.metadata().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["actor_id", "code", "command", "correlation_id"]);
    }
}
