//! Cross-context integration tests live in `tests/`; this library only holds shared helpers.
