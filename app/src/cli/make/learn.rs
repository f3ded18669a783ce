//! What is learned from a context's existing `events.rs`: the events it defines, and the
//! aggregate a new event of the context follows.

use std::path::Path;

use super::ScaffoldError;

/// An event of a context: its type and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KnownEvent {
    pub(super) ty: String,
    pub(super) name: String,
}

/// The events an `events.rs` defines (`impl DomainEvent for X` with its `NAME`).
pub(super) fn events_in(text: &str) -> Vec<KnownEvent> {
    let mut found = Vec::new();
    for (i, m) in text.match_indices("impl DomainEvent for ") {
        let rest = &text[i + m.len()..];
        let ty: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let name = rest
            .find("const NAME: &'static str = \"")
            .map(|j| &rest[j + "const NAME: &'static str = \"".len()..])
            .and_then(|r| r.split('"').next());
        if let Some(name) = name {
            found.push(KnownEvent {
                ty,
                name: name.to_owned(),
            });
        }
    }
    found
}

/// What a new event of this context is written from, learned from its first existing event:
/// the aggregate type, the id field and its type, the event-name prefix.
pub(super) fn learn_aggregate(path: &Path, text: &str) -> Result<(String, String, String, String), ScaffoldError> {
    let unrecognized = |reason: &str| ScaffoldError::Unrecognized {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let first = events_in(text)
        .into_iter()
        .next()
        .ok_or_else(|| unrecognized("it has no event to follow (impl DomainEvent for …)"))?;
    let block = &text[text
        .find(&format!("impl DomainEvent for {} ", first.ty))
        .ok_or_else(|| unrecognized("its first event's impl is not where expected"))?..];
    let aggregate = block
        .split_once("const AGGREGATE_TYPE: &'static str = ")
        .and_then(|(_, r)| r.split_once(';'))
        .map(|(value, _)| value.trim())
        .ok_or_else(|| unrecognized("its first event has no AGGREGATE_TYPE"))?;
    let aggregate = match aggregate.strip_prefix('"') {
        Some(literal) => literal.trim_end_matches('"').to_owned(),
        // A constant of the file, e.g. `const AGGREGATE: &str = "assessment_attempt";`.
        None => text
            .split_once(&format!("const {aggregate}: &str = \""))
            .and_then(|(_, r)| r.split('"').next())
            .ok_or_else(|| unrecognized("its AGGREGATE_TYPE constant is not a string in the file"))?
            .to_owned(),
    };
    let id_field: String = block
        .split_once("fn aggregate_id(&self) -> String {")
        .and_then(|(_, r)| r.split_once("self."))
        .map(|(_, r)| {
            r.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .ok_or_else(|| unrecognized("its first event's aggregate_id() does not read a field"))?;
    let id_type: String = text
        .split_once(&format!("pub struct {} {{", first.ty))
        .and_then(|(_, r)| r.split_once(&format!("pub {id_field}: ")))
        .map(|(_, r)| {
            r.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .ok_or_else(|| unrecognized("the type of its first event's id field is not found"))?;
    let prefix = first.name.split('.').next().unwrap_or(&aggregate).to_owned();
    Ok((aggregate, id_field, id_type, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregate_is_learned_from_the_first_event_even_through_a_constant() {
        let text = "const AGGREGATE: &str = \"assessment_attempt\";\n\
                    pub struct AttemptStarted {\n    pub attempt_id: AttemptId,\n}\n\
                    impl DomainEvent for AttemptStarted {\n    const NAME: &'static str = \"assessment.attempt.started\";\n    \
                    const AGGREGATE_TYPE: &'static str = AGGREGATE;\n    fn aggregate_id(&self) -> String {\n        \
                    self.attempt_id.to_string()\n    }\n}\n";
        let learned = learn_aggregate(Path::new("events.rs"), text).unwrap();
        assert_eq!(
            learned,
            (
                "assessment_attempt".to_owned(),
                "attempt_id".to_owned(),
                "AttemptId".to_owned(),
                "assessment".to_owned()
            )
        );
        assert!(matches!(
            learn_aggregate(Path::new("events.rs"), "//! nothing\n"),
            Err(ScaffoldError::Unrecognized { .. })
        ));
    }
}
