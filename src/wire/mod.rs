//! Wire formats: bytes from senders in, typed domain values (or the protocol's own error body) out.
//!
//! One module per protocol. Nothing here touches storage.

pub mod change_v2;
pub mod events_v1;
pub mod events_v2;
pub mod fields;
pub mod pagerduty_v3;
pub mod response;
pub mod signature;
pub mod tickets;
pub mod unified;

pub use fields::InvalidEvent;

use crate::domain::{AlertEvent, ChangeEvent, IntegrationKey};

/// An alert event with the integration key it was sent with.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedAlert {
    /// The sender's `routing_key` / `service_key` (or the unified path's `integration_key`).
    pub integration_key: IntegrationKey,
    /// The normalised event.
    pub event: AlertEvent,
}

/// A change event with the integration key it was sent with.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedChange {
    /// The sender's `routing_key`.
    pub integration_key: IntegrationKey,
    /// The normalised event.
    pub event: ChangeEvent,
}

/// PagerDuty's request size limit for the Events APIs.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
