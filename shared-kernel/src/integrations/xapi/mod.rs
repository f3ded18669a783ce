//! xAPI 1.0.3: learning records as statements, for a learning record store (LRS).
//!
//! * The kernel owns the statement ([`Statement`], [`Verb`], [`XapiProfile`] for actors and
//!   activity ids) and the [`LrsClient`]; each context owns its events' mapping, by
//!   implementing [`ToXapi`] for them and listing them in an [`XapiMappings`].
//! * A statement's id is a name-based UUID (v5) of the event id and the verb
//!   ([`statement_id`]), its timestamp the event's `occurred_at`, and nothing in it depends on
//!   when it is built: the forwarder, its retries and `export xapi` all produce the same
//!   statement, which an LRS stores once (it answers an id it holds with the same content as
//!   a success and stores nothing; with other content, 409).
//! * [`ForwardToLrs`] is a queued listener of each mapped event (queue `xapi`): one job per
//!   event, whose statements are posted as one batch — all-or-nothing at the LRS. A batch the
//!   LRS rejects (400, 413, 422) is split in halves until the statement at fault is found alone
//!   ([`LrsClient::post_bisecting`]); the others are stored, and the job fails for good with
//!   the LRS's message. An unreachable or unavailable LRS (5xx, 408, 429) is retried on the
//!   job's schedule ([`xapi_queue_options`]) and ends in `failed_jobs` if it stays down.
//! * [`export_statements`] reads past events back whole from the audit log and maps them
//!   the same way.
//!
//! The actor is an account (`homePage` = `APP_URL`, `name` = the user id): no e-mail address
//! or name leaves the system.

mod client;
mod export;
mod forward;
mod statement;

pub use client::{BatchReport, LrsClient, LrsConfigError, LrsEndpoint, PostError, RejectedStatement, XAPI_VERSION};
pub use export::{ExportError, ExportReport, export_statements};
pub use forward::{
    BATCH_STATEMENTS, FORWARD_TO_LRS, ForwardToLrs, ToXapi, XAPI_QUEUE, XapiMappings, xapi_queue_options,
};
pub use statement::{
    Activity, ActivityKind, Agent, Outcome, STATEMENT_NAMESPACE, Score, Statement, Verb, XapiProfile, statement_id,
};
