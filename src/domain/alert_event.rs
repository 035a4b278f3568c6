//! One alert event as every protocol is normalised to: an action on the alert named by a dedup key.

use super::{Millis, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What an alert event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    /// Open an alert, or add a trigger to the open one.
    Trigger,
    /// Someone is working on it.
    Acknowledge,
    /// The problem is gone.
    Resolve,
}

impl EventAction {
    /// Every action, in the order PagerDuty lists them in its error messages.
    pub const ALL: [EventAction; 3] = [EventAction::Trigger, EventAction::Acknowledge, EventAction::Resolve];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Trigger => "trigger",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Resolve => "resolve",
        }
    }
}

impl fmt::Display for EventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventAction {
    type Err = super::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| super::severity::UnknownValue(s.to_owned()))
    }
}

/// The wire protocol an event arrived by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Events API v2 alert events.
    V2,
    /// Events API v1 (generic).
    V1,
    /// Events API v2 change events.
    Change,
    /// Firehouse's own REST API (manual acknowledge / resolve).
    Api,
    /// PagerDuty Generic Webhooks v3 (mirrored incidents).
    PagerDuty,
    /// A ticket tracker's webhook.
    Ticket,
}

impl Protocol {
    /// The stored and exported spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V2 => "v2",
            Protocol::V1 => "v1",
            Protocol::Change => "change",
            Protocol::Api => "api",
            Protocol::PagerDuty => "pagerduty",
            Protocol::Ticket => "ticket",
        }
    }
}

impl FromStr for Protocol {
    type Err = super::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v2" => Ok(Protocol::V2),
            "v1" => Ok(Protocol::V1),
            "change" => Ok(Protocol::Change),
            "api" => Ok(Protocol::Api),
            "pagerduty" => Ok(Protocol::PagerDuty),
            "ticket" => Ok(Protocol::Ticket),
            other => Err(super::severity::UnknownValue(other.to_owned())),
        }
    }
}

/// A dedup key: non-empty, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DedupKey(String);

impl DedupKey {
    /// PagerDuty's limit, in characters.
    pub const MAX_CHARS: usize = 255;

    /// Accepts a sender's key, or says why not.
    pub fn parse(s: &str) -> Result<Self, DedupKeyError> {
        if s.is_empty() {
            Err(DedupKeyError::Empty)
        } else if s.chars().count() > Self::MAX_CHARS {
            Err(DedupKeyError::TooLong)
        } else {
            Ok(DedupKey(s.to_owned()))
        }
    }

    /// A fresh key for a trigger that came without one: a UUID in PagerDuty's 32-hex-digit form.
    pub fn generate() -> Self {
        DedupKey(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a dedup key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupKeyError {
    /// The empty string.
    Empty,
    /// Over [`DedupKey::MAX_CHARS`] characters.
    TooLong,
}

/// A link attached to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    /// Where it points.
    pub href: String,
    /// What it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An image attached to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The image URL.
    pub src: String,
    /// Where clicking it leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Alternative text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// The descriptive part of an alert event (PD-CEF): always present on triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDetails {
    /// One-line summary, at most 1024 characters.
    pub summary: String,
    /// The affected system (v1 events carry none).
    pub source: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// When the sender saw it, if it said.
    pub timestamp: Option<Millis>,
    /// Component of the source.
    pub component: Option<String>,
    /// Logical group of components.
    pub group: Option<String>,
    /// Class or type of the event.
    pub class: Option<String>,
    /// Free-form details.
    pub custom_details: Option<serde_json::Value>,
}

impl AlertDetails {
    /// PagerDuty's limit on the summary, in characters.
    pub const SUMMARY_MAX_CHARS: usize = 1024;
}

/// One alert event, whatever protocol it came by.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// What to do.
    pub action: EventAction,
    /// Which alert.
    pub dedup_key: DedupKey,
    /// Description; required for triggers, optional otherwise.
    pub details: Option<AlertDetails>,
    /// The sending tool's name.
    pub client: Option<String>,
    /// The sending tool's URL for this event.
    pub client_url: Option<String>,
    /// Attached links.
    pub links: Vec<Link>,
    /// Attached images.
    pub images: Vec<Image>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keys_are_bounded_in_characters_not_bytes() {
        assert!(DedupKey::parse(&"é".repeat(255)).is_ok());
        assert_eq!(DedupKey::parse(&"a".repeat(256)), Err(DedupKeyError::TooLong));
        assert_eq!(DedupKey::parse(""), Err(DedupKeyError::Empty));
    }

    #[test]
    fn generated_keys_are_unique_32_hex_digits() {
        let a = DedupKey::generate();
        let b = DedupKey::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn actions_parse_only_their_wire_names() {
        assert_eq!("resolve".parse::<EventAction>().unwrap(), EventAction::Resolve);
        assert!("close".parse::<EventAction>().is_err());
    }
}
