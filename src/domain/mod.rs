//! The pure core: what alerts, incidents and services are, and how events move them.
//!
//! Nothing here performs I/O or knows about HTTP or SQL; everything is unit-tested with fixed clocks.

pub mod alert_event;
pub mod change_event;
pub mod external;
pub mod incident;
pub mod lifecycle;
pub mod noise;
pub mod prompt;
pub mod rules;
pub mod service;
pub mod severity;
pub mod time;
pub mod trigger;

pub use alert_event::{AlertDetails, AlertEvent, DedupKey, EventAction, Image, Link, Protocol};
pub use change_event::ChangeEvent;
pub use incident::{Incident, IncidentStatus};
pub use lifecycle::{DropReason, ManualAction, Transition};
pub use service::{IntegrationKey, ServiceDirectory, ServiceRef, UrgencyRule};
pub use severity::{Severity, Urgency};
pub use time::Millis;
pub use trigger::{SessionEvent, Trigger};
