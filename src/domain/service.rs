//! Services own integration keys; an incident belongs to the service whose key opened it.

use super::{Severity, Urgency};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// An integration key (PagerDuty's `routing_key` / `service_key`). It grants the right to page,
/// so it is never printed whole.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IntegrationKey(String);

impl IntegrationKey {
    /// Wraps a key taken from a request or the config (non-empty, checked by the caller).
    pub fn new(key: impl Into<String>) -> Self {
        IntegrationKey(key.into())
    }

    /// The key itself, for lookups and storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A stable, non-reversible name for the key (`key-` and 8 hex digits of its SHA-256).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("key-{hex}")
    }
}

impl fmt::Debug for IntegrationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntegrationKey({})", self.fingerprint())
    }
}

/// How a service sets the urgency of its new incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UrgencyRule {
    /// Always high (PagerDuty's default).
    #[default]
    High,
    /// Always low.
    Low,
    /// `critical` and `error` are high, `warning` and `info` low.
    Severity,
}

impl UrgencyRule {
    /// The urgency of a new incident of this severity.
    pub fn urgency_for(self, severity: Severity) -> Urgency {
        match self {
            UrgencyRule::High => Urgency::High,
            UrgencyRule::Low => Urgency::Low,
            UrgencyRule::Severity => match severity {
                Severity::Critical | Severity::Error => Urgency::High,
                Severity::Warning | Severity::Info => Urgency::Low,
            },
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UrgencyRule::High => "high",
            UrgencyRule::Low => "low",
            UrgencyRule::Severity => "severity",
        }
    }
}

/// The service an event is for, as the intake resolved it from the integration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// Unique service name.
    pub name: String,
    /// How its incidents get their urgency.
    pub urgency: UrgencyRule,
    /// How its alerts' noise is reduced.
    pub noise: std::sync::Arc<super::noise::NoisePolicy>,
}

impl ServiceRef {
    /// A service without noise reduction.
    pub fn new(name: impl Into<String>, urgency: UrgencyRule) -> Self {
        ServiceRef { name: name.into(), urgency, noise: Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_based_urgency_splits_between_error_and_warning() {
        let rule = UrgencyRule::Severity;
        assert_eq!(rule.urgency_for(Severity::Critical), Urgency::High);
        assert_eq!(rule.urgency_for(Severity::Error), Urgency::High);
        assert_eq!(rule.urgency_for(Severity::Warning), Urgency::Low);
        assert_eq!(rule.urgency_for(Severity::Info), Urgency::Low);
        assert_eq!(UrgencyRule::Low.urgency_for(Severity::Critical), Urgency::Low);
    }

    #[test]
    fn bodies_show_fingerprints_instead_of_keys() {
        let mut v =
            serde_json::json!({"routing_key": "secret-key", "service_key": "other", "payload": {"summary": "x"}});
        redact_integration_keys(&mut v);
        assert_eq!(v["routing_key"], IntegrationKey::new("secret-key").fingerprint());
        assert_eq!(v["service_key"], IntegrationKey::new("other").fingerprint());
        assert_eq!(v["payload"]["summary"], "x");
        assert!(!v.to_string().contains("secret-key"));
    }

    #[test]
    fn keys_never_print_themselves() {
        let key = IntegrationKey::new("0123456789abcdef0123456789abcdef");
        let shown = format!("{key:?} {}", key.fingerprint());
        assert!(!shown.contains("0123456789abcdef"));
        assert_eq!(key.fingerprint(), IntegrationKey::new("0123456789abcdef0123456789abcdef").fingerprint());
        assert_ne!(key.fingerprint(), IntegrationKey::new("other").fingerprint());
    }
}

/// Replaces the integration keys of a received event body (`routing_key`, `service_key`,
/// `integration_key`) with their fingerprints, so a timeline shows `key-1a2b3c4d`, never the key.
pub fn redact_integration_keys(body: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = body {
        for field in ["routing_key", "service_key", "integration_key"] {
            if let Some(serde_json::Value::String(key)) = map.get_mut(field) {
                *key = IntegrationKey::new(key.as_str()).fingerprint();
            }
        }
    }
}

/// Which integration keys are accepted, and the service each belongs to.
#[derive(Debug, Clone)]
pub enum ServiceDirectory {
    /// No configuration: every key is accepted and becomes a service of its own, named by the
    /// key's fingerprint (never by the key itself).
    Open,
    /// Only configured keys are accepted.
    Configured {
        /// Service by integration key.
        by_key: std::collections::HashMap<String, ServiceRef>,
        /// Every configured service, in configuration order.
        services: Vec<ServiceRef>,
    },
}

impl ServiceDirectory {
    /// The service an integration key belongs to, or `None` when the key is unknown.
    pub fn resolve(&self, key: &IntegrationKey) -> Option<ServiceRef> {
        match self {
            ServiceDirectory::Open => Some(ServiceRef::new(key.fingerprint(), UrgencyRule::High)),
            ServiceDirectory::Configured { by_key, .. } => by_key.get(key.expose()).cloned(),
        }
    }

    /// Whether any key is accepted.
    pub fn is_open(&self) -> bool {
        matches!(self, ServiceDirectory::Open)
    }

    /// The configured services (none in open mode).
    pub fn services(&self) -> &[ServiceRef] {
        match self {
            ServiceDirectory::Open => &[],
            ServiceDirectory::Configured { services, .. } => services,
        }
    }
}

#[cfg(test)]
mod directory_tests {
    use super::*;

    #[test]
    fn open_mode_accepts_any_key_as_its_own_service() {
        let d = ServiceDirectory::Open;
        let a = d.resolve(&IntegrationKey::new("a")).unwrap();
        let b = d.resolve(&IntegrationKey::new("b")).unwrap();
        assert_ne!(a.name, b.name);
        assert_eq!(a, d.resolve(&IntegrationKey::new("a")).unwrap());
    }

    #[test]
    fn configured_mode_knows_only_its_keys() {
        let svc = ServiceRef::new("payments", UrgencyRule::Severity);
        let d = ServiceDirectory::Configured {
            by_key: [("k1".to_owned(), svc.clone())].into_iter().collect(),
            services: vec![svc.clone()],
        };
        assert_eq!(d.resolve(&IntegrationKey::new("k1")), Some(svc));
        assert_eq!(d.resolve(&IntegrationKey::new("k2")), None);
    }
}
