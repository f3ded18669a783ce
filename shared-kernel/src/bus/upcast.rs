//! Reading events stored in an older version of their fields: [`Upcaster`]s registered per
//! (event, version) are applied in turn ([`Registry::upcast`](crate::Registry::upcast)).

use std::collections::HashMap;

/// Reads an event's fields (the `event` object of its envelope) written in one version as the
/// next version's; an error says why it cannot.
pub type Upcaster = fn(serde_json::Value) -> Result<serde_json::Value, String>;

/// A stored event that cannot be read as its current version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    /// No upcaster is registered from this version to the next.
    #[error(
        "`{event}` version {version} cannot be read: no upcaster is registered from it (the event is now version {current})"
    )]
    NoUpcaster {
        /// The event name.
        event: String,
        /// The stored version.
        version: u32,
        /// The event's current version.
        current: u32,
    },
    /// The stored version is newer than this build knows (written by a later release).
    #[error("`{event}` version {version} is newer than this build's version {current}")]
    FromTheFuture {
        /// The event name.
        event: String,
        /// The stored version.
        version: u32,
        /// The event's current version.
        current: u32,
    },
    /// The registry knows no event of that name.
    #[error("no event named `{0}` is registered")]
    UnknownEvent(String),
    /// The payload is not an envelope, or an upcaster refused it.
    #[error("`{event}` version {version} is malformed: {reason}")]
    Malformed {
        /// The event name.
        event: String,
        /// The version being read.
        version: u32,
        /// Why.
        reason: String,
    },
}

/// Applies the upcasters of `event` from `version` up to `current` to a stored envelope.
pub(super) fn apply(
    upcasters: &HashMap<(&'static str, u32), Upcaster>,
    event: &str,
    version: u32,
    current: u32,
    payload: &str,
) -> Result<String, UpcastError> {
    if version == current {
        return Ok(payload.to_owned());
    }
    if version > current {
        return Err(UpcastError::FromTheFuture {
            event: event.to_owned(),
            version,
            current,
        });
    }
    let malformed = |version: u32, reason: String| UpcastError::Malformed {
        event: event.to_owned(),
        version,
        reason,
    };
    let mut envelope: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| malformed(version, e.to_string()))?;
    let mut at = version;
    while at < current {
        let upcaster = upcasters
            .iter()
            .find(|((name, from), _)| *name == event && *from == at)
            .map(|(_, f)| *f)
            .ok_or_else(|| UpcastError::NoUpcaster {
                event: event.to_owned(),
                version: at,
                current,
            })?;
        let fields = envelope
            .get_mut("event")
            .map(serde_json::Value::take)
            .ok_or_else(|| malformed(at, "the envelope has no `event` object".to_owned()))?;
        envelope["event"] = upcaster(fields).map_err(|reason| malformed(at, reason))?;
        at += 1;
    }
    Ok(envelope.to_string())
}
