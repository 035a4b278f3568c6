//! Noise reduction: which alerts join an existing incident (grouping), which wait before opening
//! one (transient-alert pause), which are held open (flapping), and which are silenced.
//!
//! Pure decisions over facts the store gathers; times are passed in, so every rule is tested with
//! fixed clocks.

use super::rules::{Facts, Matcher};
use super::Millis;
use std::time::Duration;

/// How a service's alerts are grouped into incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// Alerts sharing the values of these fields (rule field names) join one incident.
    pub by: Vec<String>,
    /// ... when the incident opened less than this long ago.
    pub window: Duration,
    /// Resolve the incident when all its alerts have resolved (`true`), or at the first resolve.
    pub resolve_when_all_resolved: bool,
}

/// When an alert that keeps triggering and resolving is held open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    /// More resolve/trigger cycles than this …
    pub max_cycles: u32,
    /// … within this window make the alert flapping.
    pub window: Duration,
}

/// A service's noise-reduction settings; the default reduces nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoisePolicy {
    /// Grouping, when configured.
    pub grouping: Option<Grouping>,
    /// Wait this long before a new alert opens an incident; an alert resolved within it opens none.
    pub pause: Option<Duration>,
    /// Flap detection, when configured.
    pub flapping: Option<Flapping>,
    /// Maintenance windows `[start, end)`: the service's new alerts are silenced.
    pub maintenance: Vec<(Millis, Millis)>,
    /// Events accepted per minute per integration key (none: unlimited).
    pub rate_limit_per_minute: Option<std::num::NonZeroU32>,
}

impl NoisePolicy {
    /// The group key of an alert with these facts: the grouped fields' values, or `None` when the
    /// service does not group (or the alert lacks every grouped field).
    pub fn group_key(&self, facts: &Facts<'_>) -> Option<String> {
        let grouping = self.grouping.as_ref()?;
        let values: Vec<String> =
            grouping.by.iter().map(|f| format!("{f}={}", facts.field(f).unwrap_or_default())).collect();
        if grouping.by.iter().all(|f| facts.field(f).is_none()) {
            return None;
        }
        Some(values.join("\u{1f}"))
    }

    /// The earliest creation time of an incident a new alert at `now` may still join.
    pub fn group_since(&self, now: Millis) -> Option<Millis> {
        self.grouping.as_ref().map(|g| Millis(now.0 - g.window.as_millis() as i64))
    }

    /// Whether an alert that has triggered and resolved `cycles` times in the flapping window
    /// (this resolve included) is flapping: more than `max_cycles`.
    pub fn is_flapping(&self, cycles: u32) -> bool {
        self.flapping.is_some_and(|f| cycles > f.max_cycles)
    }

    /// The start of the flapping window ending at `now`.
    pub fn flapping_since(&self, now: Millis) -> Option<Millis> {
        self.flapping.map(|f| Millis(now.0 - f.window.as_millis() as i64))
    }

    /// Whether the service is in a maintenance window at `now`.
    pub fn in_maintenance(&self, now: Millis) -> bool {
        self.maintenance.iter().any(|(start, end)| *start <= now && now < *end)
    }

    /// When an alert received at `now` may open its incident (`None`: at once).
    pub fn opens_at(&self, now: Millis) -> Option<Millis> {
        self.pause.filter(|p| !p.is_zero()).map(|p| Millis(now.0 + p.as_millis() as i64))
    }
}

/// A silence or maintenance window: matching events are stored but open nothing and run nothing.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Its id.
    pub id: i64,
    /// Every matcher must match (fields as in rules: `service`, `source`, `custom_details.x`, …).
    pub matchers: Vec<Matcher>,
    /// From (inclusive).
    pub starts_at: Millis,
    /// Until (exclusive).
    pub ends_at: Millis,
}

impl Silence {
    /// Whether it silences an alert with these facts at `now`.
    pub fn silences(&self, facts: &Facts<'_>, now: Millis) -> bool {
        self.starts_at <= now && now < self.ends_at && self.matchers.iter().all(|m| m.matches(facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::Test;
    use crate::domain::{Severity, Trigger, Urgency};
    use serde_json::json;

    fn facts<'a>(source: Option<&'a str>, component: Option<&'a str>, details: &'a serde_json::Value) -> Facts<'a> {
        Facts {
            trigger: Trigger::Triggered,
            service: "payments",
            severity: Severity::Error,
            urgency: Urgency::High,
            summary: "s",
            source,
            component,
            group: None,
            class: None,
            dedup_key: "k",
            custom_details: Some(details),
            labels: &[],
        }
    }

    fn grouping(by: &[&str]) -> NoisePolicy {
        NoisePolicy {
            grouping: Some(Grouping {
                by: by.iter().map(|s| s.to_string()).collect(),
                window: Duration::from_secs(300),
                resolve_when_all_resolved: true,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn alerts_sharing_the_grouped_fields_share_a_key() {
        let d = json!({"cluster": "eu-1"});
        let p = grouping(&["source", "custom_details.cluster"]);
        let a = p.group_key(&facts(Some("db1"), Some("disk"), &d));
        let b = p.group_key(&facts(Some("db1"), Some("cpu"), &d));
        let c = p.group_key(&facts(Some("db2"), Some("disk"), &d));
        assert!(a.is_some());
        assert_eq!(a, b, "component is not grouped on");
        assert_ne!(a, c);
        assert_eq!(NoisePolicy::default().group_key(&facts(Some("db1"), None, &d)), None);
        let none = json!({});
        assert_eq!(grouping(&["group", "class"]).group_key(&facts(Some("x"), None, &none)), None);
    }

    #[test]
    fn windows_are_measured_from_now() {
        let p = grouping(&["source"]);
        assert_eq!(p.group_since(Millis(1_000_000)), Some(Millis(700_000)));
        let pause = NoisePolicy { pause: Some(Duration::from_secs(30)), ..Default::default() };
        assert_eq!(pause.opens_at(Millis(1_000)), Some(Millis(31_000)));
        assert_eq!(NoisePolicy::default().opens_at(Millis(1_000)), None);
    }

    #[test]
    fn flapping_needs_enough_cycles() {
        let p = NoisePolicy {
            flapping: Some(Flapping { max_cycles: 3, window: Duration::from_secs(600) }),
            ..Default::default()
        };
        assert!(!p.is_flapping(3));
        assert!(p.is_flapping(4));
        assert!(!NoisePolicy::default().is_flapping(100));
    }

    #[test]
    fn silences_match_in_their_window_only() {
        let d = json!({});
        let s = Silence {
            id: 1,
            matchers: vec![Matcher { field: "service".into(), test: Test::Equals("payments".into()) }],
            starts_at: Millis(100),
            ends_at: Millis(200),
        };
        let f = facts(Some("db1"), None, &d);
        assert!(s.silences(&f, Millis(100)));
        assert!(!s.silences(&f, Millis(200)));
        assert!(!s.silences(&f, Millis(99)));
    }
}
