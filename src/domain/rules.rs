//! Rules: which actions run when an incident moves, or when an agent session working on it does something.
//!
//! A rule matches on the trigger (a transition or a session event, see [`Trigger`]), the service, severity and urgency, and any field of the alert
//! (summary, source, component, group, class, dedup key, `custom_details.<path>`) with equality,
//! set membership or a regex. Every matching rule fires in order unless one says `stop`, which
//! makes "first match" and "all matches" both a rule away.

use super::{Severity, Trigger, Urgency};
use serde_json::Value;

/// How one field is tested.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal to this text.
    Equals(String),
    /// Equal to one of these.
    In(Vec<String>),
    /// Matches this regex (anywhere, unless anchored).
    Regex(regex::Regex),
}

impl Test {
    fn passes(&self, value: &str) -> bool {
        match self {
            Test::Equals(want) => value == want,
            Test::In(set) => set.iter().any(|w| w == value),
            Test::Regex(re) => re.is_match(value),
        }
    }
}

/// A matcher as written in the configuration or an API body: `field` and exactly one of
/// `equals`, `in`, `regex`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherSpec {
    /// The field (see [`FIELDS`]) or `custom_details.<path>`.
    #[schema(
        pattern = r"^(summary|title|source|component|group|class|dedup_key|service|severity|urgency|labels|custom_details\..+)$"
    )]
    pub field: String,
    /// Equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// One of.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// Matches this regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl MatcherSpec {
    /// The matcher, or why it is not one.
    pub fn compile(&self) -> Result<Matcher, String> {
        if !is_known_field(&self.field) {
            return Err(format!(
                "unknown field {:?} (one of {} or custom_details.<path>)",
                self.field,
                FIELDS.join(", ")
            ));
        }
        let test = match (&self.equals, &self.one_of, &self.regex) {
            (Some(v), None, None) => Test::Equals(v.clone()),
            (None, Some(v), None) => Test::In(v.clone()),
            (None, None, Some(re)) => {
                Test::Regex(regex::Regex::new(re).map_err(|e| format!("invalid regex for {:?}: {e}", self.field))?)
            }
            _ => return Err(format!("match on {:?} needs exactly one of equals, in, regex", self.field)),
        };
        Ok(Matcher { field: self.field.clone(), test })
    }
}

/// One field test.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// `summary`, `source`, `component`, `group`, `class`, `dedup_key`, `service`, or
    /// `custom_details.<dotted.path>`.
    pub field: String,
    /// The test.
    pub test: Test,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name (part of every dispatch's identity).
    pub name: String,
    /// Transitions and session events it fires on.
    pub on: Vec<Trigger>,
    /// Only these services (empty: any).
    pub services: Vec<String>,
    /// Only these severities (empty: any).
    pub severities: Vec<Severity>,
    /// Only these urgencies (empty: any).
    pub urgencies: Vec<Urgency>,
    /// Every matcher must match.
    pub matchers: Vec<Matcher>,
    /// Actions to run, by name.
    pub actions: Vec<String>,
    /// Stop evaluating later rules when this one matches.
    pub stop: bool,
}

/// What rules look at: the incident and the alert that opened it.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The transition or session event that just happened.
    pub trigger: Trigger,
    /// The service.
    pub service: &'a str,
    /// Severity.
    pub severity: Severity,
    /// Urgency.
    pub urgency: Urgency,
    /// Summary (the incident's title).
    pub summary: &'a str,
    /// Source.
    pub source: Option<&'a str>,
    /// Component.
    pub component: Option<&'a str>,
    /// Group.
    pub group: Option<&'a str>,
    /// Class.
    pub class: Option<&'a str>,
    /// Dedup key.
    pub dedup_key: &'a str,
    /// Custom details.
    pub custom_details: Option<&'a Value>,
    /// Labels (tickets); a matcher on `labels` passes when any label passes.
    pub labels: &'a [String],
}

impl Facts<'_> {
    /// The text of a field, when it has one; numbers and booleans compare as their JSON text.
    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "summary" | "title" => Some(self.summary.to_owned()),
            "source" => self.source.map(str::to_owned),
            "component" => self.component.map(str::to_owned),
            "group" => self.group.map(str::to_owned),
            "class" => self.class.map(str::to_owned),
            "dedup_key" => Some(self.dedup_key.to_owned()),
            "service" => Some(self.service.to_owned()),
            "severity" => Some(self.severity.as_str().to_owned()),
            "urgency" => Some(self.urgency.as_str().to_owned()),
            other => {
                let path = other.strip_prefix("custom_details.")?;
                let mut v = self.custom_details?;
                for part in path.split('.') {
                    v = match v {
                        Value::Object(m) => m.get(part)?,
                        Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
        }
    }
}

/// The fields a matcher may name (besides `custom_details.<path>`).
pub const FIELDS: [&str; 11] = [
    "summary",
    "title",
    "source",
    "component",
    "group",
    "class",
    "dedup_key",
    "service",
    "severity",
    "urgency",
    "labels",
];

/// Whether `name` is a field rules can test.
pub fn is_known_field(name: &str) -> bool {
    FIELDS.contains(&name) || name.strip_prefix("custom_details.").is_some_and(|p| !p.is_empty())
}

impl Matcher {
    /// Whether the matcher passes for these facts (absent fields never pass).
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        if self.field == "labels" {
            return facts.labels.iter().any(|label| self.test.passes(label));
        }
        facts.field(&self.field).is_some_and(|value| self.test.passes(&value))
    }
}

impl Rule {
    /// Whether the rule applies to these facts.
    pub fn matches(&self, f: &Facts<'_>) -> bool {
        self.on.contains(&f.trigger)
            && (self.services.is_empty() || self.services.iter().any(|s| s == f.service))
            && (self.severities.is_empty() || self.severities.contains(&f.severity))
            && (self.urgencies.is_empty() || self.urgencies.contains(&f.urgency))
            && self.matchers.iter().all(|m| m.matches(f))
    }
}

/// The configured rules, in order, and how long what they dispatch is retried.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Evaluated top to bottom.
    pub rules: Vec<Rule>,
    /// A dispatch still failing this long after it was created is dead-lettered.
    pub dispatch_max_age: std::time::Duration,
}

/// PagerDuty retries webhooks for 48 hours; so do we by default.
pub const DEFAULT_DISPATCH_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet { rules: Vec::new(), dispatch_max_age: DEFAULT_DISPATCH_MAX_AGE }
    }
}

impl RuleSet {
    /// Whether any rule fires on this trigger at all (lets callers skip gathering facts).
    pub fn watches(&self, trigger: Trigger) -> bool {
        self.rules.iter().any(|r| r.on.contains(&trigger))
    }

    /// The (rule, action) pairs to dispatch, in order, without duplicates.
    pub fn select(&self, facts: &Facts<'_>) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for rule in &self.rules {
            if !rule.matches(facts) {
                continue;
            }
            for action in &rule.actions {
                if !out.iter().any(|(r, a)| *r == rule.name && *a == action) {
                    out.push((&rule.name, action));
                }
            }
            if rule.stop {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_field_pattern_is_is_known_field() {
        let schema = serde_json::to_value(<MatcherSpec as utoipa::PartialSchema>::schema()).unwrap();
        let pattern = regex::Regex::new(schema["properties"]["field"]["pattern"].as_str().unwrap()).unwrap();
        let others = ["custom_details.a.b", "custom_details.", "custom_details", "nope", "", "summary ", "Summary"];
        for name in FIELDS.iter().copied().chain(others) {
            assert_eq!(pattern.is_match(name), is_known_field(name), "{name:?}");
        }
    }

    fn facts<'a>(details: &'a Value) -> Facts<'a> {
        Facts {
            trigger: Trigger::Triggered,
            service: "payments",
            severity: Severity::Critical,
            urgency: Urgency::High,
            summary: "Disk full on db1",
            source: Some("db1.prod"),
            component: Some("postgres"),
            group: None,
            class: Some("disk"),
            dedup_key: "db1/disk",
            custom_details: Some(details),
            labels: &[],
        }
    }

    fn rule(name: &str, matchers: Vec<Matcher>) -> Rule {
        Rule {
            name: name.into(),
            on: vec![Trigger::Triggered],
            services: vec![],
            severities: vec![],
            urgencies: vec![],
            matchers,
            actions: vec![format!("{name}-action")],
            stop: false,
        }
    }

    fn m(field: &str, test: Test) -> Matcher {
        Matcher { field: field.into(), test }
    }

    #[test]
    fn fields_and_custom_detail_paths_are_tested() {
        let d = json!({"region": "eu", "host": {"cpu": 97}, "tags": ["a", "b"]});
        let f = facts(&d);
        assert!(rule("r", vec![m("source", Test::Equals("db1.prod".into()))]).matches(&f));
        assert!(rule("r", vec![m("custom_details.region", Test::In(vec!["us".into(), "eu".into()]))]).matches(&f));
        assert!(rule("r", vec![m("custom_details.host.cpu", Test::Equals("97".into()))]).matches(&f));
        assert!(rule("r", vec![m("custom_details.tags.1", Test::Equals("b".into()))]).matches(&f));
        assert!(rule("r", vec![m("summary", Test::Regex(regex::Regex::new("(?i)disk").unwrap()))]).matches(&f));
        assert!(!rule("r", vec![m("group", Test::Equals("x".into()))]).matches(&f), "absent fields never match");
        assert!(!rule("r", vec![m("custom_details.nope", Test::Regex(regex::Regex::new(".*").unwrap()))]).matches(&f));
    }

    #[test]
    fn transition_service_severity_and_urgency_filter() {
        let d = json!({});
        let f = facts(&d);
        let mut r = rule("r", vec![]);
        assert!(r.matches(&f));
        r.on = vec![Trigger::Resolved];
        assert!(!r.matches(&f));
        let mut r = rule("r", vec![]);
        r.services = vec!["checkout".into()];
        assert!(!r.matches(&f));
        let mut r = rule("r", vec![]);
        r.severities = vec![Severity::Warning, Severity::Info];
        assert!(!r.matches(&f));
        let mut r = rule("r", vec![]);
        r.urgencies = vec![Urgency::High];
        assert!(r.matches(&f));
    }

    #[test]
    fn all_matches_fire_unless_a_rule_stops() {
        let d = json!({});
        let f = facts(&d);
        let mut first = rule("first", vec![]);
        let second = rule("second", vec![]);
        let set = RuleSet { rules: vec![first.clone(), second.clone()], ..RuleSet::default() };
        assert_eq!(set.select(&f), vec![("first", "first-action"), ("second", "second-action")]);
        first.stop = true;
        let set = RuleSet { rules: vec![first, second], ..RuleSet::default() };
        assert_eq!(set.select(&f), vec![("first", "first-action")]);
        assert!(set.watches(Trigger::Triggered));
        assert!(!set.watches(Trigger::Resolved));
    }

    #[test]
    fn session_events_fire_only_the_rules_watching_them_with_the_same_matchers() {
        let d = json!({"region": "eu"});
        let labels = ["customer-facing".to_owned()];
        let mut f = facts(&d);
        f.labels = &labels;
        let mut on_pr = rule("pr", vec![m("custom_details.region", Test::Equals("eu".into()))]);
        on_pr.on = vec![Trigger::PullRequestOpened, Trigger::PostmortemReady];
        on_pr.severities = vec![Severity::Critical];
        let transitions = rule("page", vec![]);
        let set = RuleSet { rules: vec![transitions, on_pr.clone()], ..RuleSet::default() };

        f.trigger = Trigger::PullRequestOpened;
        assert_eq!(set.select(&f), vec![("pr", "pr-action")], "a transition rule never fires on a session event");
        f.trigger = Trigger::PostmortemReady;
        assert_eq!(set.select(&f), vec![("pr", "pr-action")]);
        f.trigger = Trigger::SessionStarted;
        assert!(set.select(&f).is_empty(), "not watched");
        f.trigger = Trigger::Triggered;
        assert_eq!(set.select(&f), vec![("page", "page-action")], "a session-event rule never fires on a transition");

        f.trigger = Trigger::PullRequestOpened;
        let mut by_label = on_pr.clone();
        by_label.matchers = vec![m("labels", Test::Equals("customer-facing".into()))];
        assert!(by_label.matches(&f));
        let mut other_service = on_pr.clone();
        other_service.services = vec!["checkout".into()];
        assert!(!other_service.matches(&f), "session events are matched against the incident's facts");
        let mut warning_only = on_pr;
        warning_only.severities = vec![Severity::Warning];
        assert!(!warning_only.matches(&f));

        assert!(set.watches(Trigger::PullRequestOpened) && set.watches(Trigger::PostmortemReady));
        assert!(!set.watches(Trigger::SessionStarted));
    }
}
