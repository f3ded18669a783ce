//! The text `enteraksi make` writes, in the house style of a context crate (see any context's
//! `events.rs` and `listeners/`): an event struct with its `DomainEvent` impl, a queued or sync
//! listener with its recommended options, and for each a test skeleton that fails until written.

/// What a new event is written from: learned from the context's existing events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventSpec<'a> {
    /// The type's name, PascalCase.
    pub(crate) name: &'a str,
    /// `{entity}.{past_verb}`.
    pub(crate) event_name: &'a str,
    /// The aggregate type, as the context's other events name it.
    pub(crate) aggregate_type: &'a str,
    /// The field holding the aggregate's id, e.g. `enrollment_id`.
    pub(crate) id_field: &'a str,
    /// Its type, e.g. `EnrollmentId`.
    pub(crate) id_type: &'a str,
    /// Whether `events.rs` imports `serde_json::{Value, json}` (then the event spells out its
    /// metadata keys, as the catalog does).
    pub(crate) has_json: bool,
}

/// What a new listener is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenerSpec<'a> {
    /// The type's name, PascalCase.
    pub(crate) name: &'a str,
    /// The event type it listens to.
    pub(crate) event: &'a str,
    /// The event's name (`enrollment.created`).
    pub(crate) event_name: &'a str,
    /// The path it is imported by (`crate::events::UserEnrolled`, `course::CoursePublished`).
    pub(crate) event_path: &'a str,
    /// Queued (after commit, from a job) rather than sync (in the command's transaction).
    pub(crate) queued: bool,
}

/// `CertificateRevoked` → `certificate_revoked`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The name of the test skeleton written with the type `name`.
pub(crate) fn skeleton_test(name: &str) -> String {
    format!("{}_skeleton_is_filled_in", snake_case(name))
}

/// What `todo!` says in the skeleton of `name`: the test's failure message.
pub(crate) fn skeleton_message(name: &str) -> String {
    format!("{name} is scaffolded: write its test")
}

/// The event, appended to the context's `events.rs`, with its test module.
pub(crate) fn event(spec: &EventSpec<'_>) -> String {
    let EventSpec {
        name,
        event_name,
        aggregate_type,
        id_field,
        id_type,
        has_json,
    } = spec;
    let metadata = if *has_json {
        format!(
            "

    fn metadata(&self) -> Value {{
        json!({{
            \"{id_field}\": self.{id_field},
        }})
    }}"
        )
    } else {
        String::new()
    };
    let test = skeleton_test(name);
    let message = skeleton_message(name);
    format!(
        "
/// TODO: what happened, in the past tense (`{event_name}`), and what its listeners need to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct {name} {{
    /// The {aggregate_type} it happened to.
    pub {id_field}: {id_type},
}}

impl DomainEvent for {name} {{
    const NAME: &'static str = \"{event_name}\";
    const AGGREGATE_TYPE: &'static str = \"{aggregate_type}\";

    fn aggregate_id(&self) -> String {{
        self.{id_field}.to_string()
    }}{metadata}
}}

#[cfg(test)]
mod {snake}_tests {{
    use super::*;

    #[test]
    fn {test}() {{
        let event = {name} {{
            {id_field}: {id_type}::new(),
        }};
        assert_eq!(event.aggregate_id(), event.{id_field}.to_string());
        todo!(\"{message}: its metadata keys (the catalog's), its tags and its broadcast, if any\");
    }}
}}
",
        snake = snake_case(name),
    )
}

/// The listener's module, `listeners/{snake}.rs`.
pub(crate) fn listener(spec: &ListenerSpec<'_>) -> String {
    let ListenerSpec {
        name,
        event,
        event_name,
        event_path,
        queued,
    } = spec;
    let test = skeleton_test(name);
    let message = skeleton_message(name);
    if *queued {
        format!(
            "//! {name}: TODO what it does once a `{event_name}` has committed.

use std::time::Duration;

use async_trait::async_trait;
use shared_kernel::{{Envelope, JobContext, ListenerError, QueueOptions, QueuedListener}};

use {event_path};

/// TODO: what it does with each `{event_name}`, after the commit, on queue `default`. Its writes
/// go through `job.uow()`, so they commit with the job's acknowledgement; a second run of the job
/// must change nothing more.
#[derive(Debug, Default, Clone, Copy)]
pub struct {name};

impl {name} {{
    /// The listener.
    pub fn new() -> Self {{
        Self
    }}

    /// Queue `default`, 3 tries, backoff 10 s then 1 min, 30 s per try.
    pub fn queue_options() -> QueueOptions {{
        QueueOptions::on(\"default\")
            .tries(3)
            .backoff([Duration::from_secs(10), Duration::from_secs(60)])
            .timeout(Duration::from_secs(30))
    }}
}}

#[async_trait]
impl QueuedListener<{event}> for {name} {{
    const NAME: &'static str = \"{name}\";

    async fn handle(&self, event: &Envelope<{event}>, _job: &mut JobContext) -> Result<(), ListenerError> {{
        // Until it is written, a job fails for good (and shows in `queue failed`).
        Err(ListenerError::permanent(format!(
            \"{name} is not written yet (event {{}})\",
            event.event_id()
        )))
    }}
}}

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn {test}() {{
        assert_eq!(<{name} as QueuedListener<{event}>>::NAME, \"{name}\");
        todo!(\"{message}: what it does with a {event}, and that a second run changes nothing\");
    }}
}}
"
        )
    } else {
        format!(
            "//! {name}: TODO what it does in the transaction of each `{event_name}`.

use async_trait::async_trait;
use shared_kernel::{{Envelope, ListenerError, SyncListener, UnitOfWork}};

use {event_path};

/// TODO: what it does with each `{event_name}`, inside the command's transaction (an error rolls
/// the whole command back; events it records join the cascade).
#[derive(Debug, Default, Clone, Copy)]
pub struct {name};

impl {name} {{
    /// The listener.
    pub fn new() -> Self {{
        Self
    }}
}}

#[async_trait]
impl SyncListener<{event}> for {name} {{
    const NAME: &'static str = \"{name}\";

    async fn handle(&self, event: &Envelope<{event}>, _uow: &mut UnitOfWork) -> Result<(), ListenerError> {{
        // Until it is written, the commands that record its event fail (and roll back).
        Err(ListenerError::permanent(format!(
            \"{name} is not written yet (event {{}})\",
            event.event_id()
        )))
    }}
}}

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn {test}() {{
        assert_eq!(<{name} as SyncListener<{event}>>::NAME, \"{name}\");
        todo!(\"{message}: what it does with a {event} in the command's transaction\");
    }}
}}
"
        )
    }
}

/// A new `listeners/mod.rs`, for a context that had no listener yet.
pub(crate) fn listeners_mod(context: &str) -> String {
    format!(
        "//! The {context} context's listeners. Each queued one offers its recommended
//! [`QueueOptions`](shared_kernel::QueueOptions) as `queue_options()` for `app` to register it with.
"
    )
}

/// The line to add to `app/src/provider.rs` to register an event (so `event list` shows it).
pub(crate) fn provider_event_line(krate: &str, name: &str) -> String {
    format!(".event::<{krate}::{name}>()")
}

/// The line to add to `app/src/provider.rs` to register a listener.
pub(crate) fn provider_listener_line(krate: &str, name: &str, event_type_path: &str, queued: bool) -> String {
    if queued {
        format!(".listen_queued::<{event_type_path}, _>({krate}::{name}::new(), {krate}::{name}::queue_options())")
    } else {
        format!(".listen_sync::<{event_type_path}, _>({krate}::{name}::new())")
    }
}

/// The event's row for the event catalog (DESIGN.md §5, the README's system events).
pub(crate) fn catalog_row(spec: &EventSpec<'_>) -> String {
    format!(
        "| {} | {} | {} | {} | — | LogDomainEvent |",
        spec.name, spec.event_name, spec.aggregate_type, spec.id_field
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EventSpec<'static> {
        EventSpec {
            name: "CertificateRevoked",
            event_name: "enrollment.certificate_revoked",
            aggregate_type: "enrollment",
            id_field: "enrollment_id",
            id_type: "EnrollmentId",
            has_json: true,
        }
    }

    #[test]
    fn names_become_snake_case_and_name_the_skeleton_test() {
        assert_eq!(snake_case("CertificateRevoked"), "certificate_revoked");
        assert_eq!(snake_case("Sent2Fa"), "sent2_fa");
        assert_eq!(skeleton_test("SendWelcome"), "send_welcome_skeleton_is_filled_in");
    }

    #[test]
    fn an_event_is_written_with_its_domain_event_impl_and_a_failing_test() {
        let text = event(&spec());
        assert!(text.contains("pub struct CertificateRevoked {\n    /// The enrollment it happened to.\n    pub enrollment_id: EnrollmentId,\n}"));
        assert!(text.contains("const NAME: &'static str = \"enrollment.certificate_revoked\";"));
        assert!(text.contains("const AGGREGATE_TYPE: &'static str = \"enrollment\";"));
        assert!(text.contains("\"enrollment_id\": self.enrollment_id,"));
        assert!(text.contains("fn certificate_revoked_skeleton_is_filled_in() {"));
        assert!(text.contains("todo!(\"CertificateRevoked is scaffolded: write its test"));
    }

    #[test]
    fn an_event_without_json_imports_keeps_the_default_metadata() {
        let text = event(&EventSpec {
            has_json: false,
            ..spec()
        });
        assert!(!text.contains("fn metadata"));
    }

    #[test]
    fn a_queued_listener_has_options_a_loud_placeholder_and_a_failing_test() {
        let text = listener(&ListenerSpec {
            name: "NotifyAuditor",
            event: "UserDropped",
            event_name: "enrollment.dropped",
            event_path: "crate::events::UserDropped",
            queued: true,
        });
        assert!(text.contains("use crate::events::UserDropped;"));
        assert!(text.contains("impl QueuedListener<UserDropped> for NotifyAuditor {"));
        assert!(text.contains("pub fn queue_options() -> QueueOptions {"));
        assert!(text.contains("Err(ListenerError::permanent("));
        assert!(text.contains("fn notify_auditor_skeleton_is_filled_in() {"));
        assert!(text.contains("todo!(\"NotifyAuditor is scaffolded: write its test"));
    }

    #[test]
    fn a_sync_listener_takes_the_unit_of_work() {
        let text = listener(&ListenerSpec {
            name: "CountDrops",
            event: "UserDropped",
            event_name: "enrollment.dropped",
            event_path: "enrollment::UserDropped",
            queued: false,
        });
        assert!(text.contains("impl SyncListener<UserDropped> for CountDrops {"));
        assert!(text.contains("_uow: &mut UnitOfWork"));
        assert!(!text.contains("queue_options"));
    }

    #[test]
    fn provider_lines_name_the_crate_paths() {
        assert_eq!(
            provider_event_line("enrollment", "CertificateRevoked"),
            ".event::<enrollment::CertificateRevoked>()"
        );
        assert_eq!(
            provider_listener_line("enrollment", "NotifyAuditor", "enrollment::UserDropped", true),
            ".listen_queued::<enrollment::UserDropped, _>(enrollment::NotifyAuditor::new(), \
             enrollment::NotifyAuditor::queue_options())"
        );
        assert_eq!(
            catalog_row(&spec()),
            "| CertificateRevoked | enrollment.certificate_revoked | enrollment | enrollment_id | — | LogDomainEvent |"
        );
    }
}
