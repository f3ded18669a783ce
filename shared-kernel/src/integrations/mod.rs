//! Integrations: external systems the kernel feeds with events, apart from any context.
//!
//! * [`webhooks`]: HTTP endpoints subscribed to event names, signed per Standard Webhooks.

pub mod webhooks;
