//! Change events: deploys, config changes and the like, kept per service as context for incidents.

use super::{Link, Millis};

/// One change event.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// What changed, at most 1024 characters.
    pub summary: String,
    /// Where it changed.
    pub source: Option<String>,
    /// When it happened, if the sender said.
    pub timestamp: Option<Millis>,
    /// Free-form details.
    pub custom_details: Option<serde_json::Value>,
    /// Attached links.
    pub links: Vec<Link>,
}
