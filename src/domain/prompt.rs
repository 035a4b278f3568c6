//! Prompts: what an agent is told about an incident, rendered from a template.
//!
//! [`PromptContext`] is the incident, its timeline and its service's recent change events, flattened to plain strings
//! so a template never has to format a time or test for null: an absent value is `""` (false in an `if`). Templates
//! are [MiniJinja](https://docs.rs/minijinja) with strict undefined behaviour, so a misspelt variable is an error, not
//! a silent blank; [`check`] renders a template against a [`PromptContext::sample`] so configuration checks catch it.
//!
//! Pure: no I/O. The default templates live in `src/responders/templates/` and are compiled in.

use crate::dispatch::DispatchContext;
use crate::domain::{Incident, Millis, Severity, Urgency};
use crate::store::{StoredChange, TimelineEntry};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// The triage prompt of Devin's PagerDuty bridge: title, service, urgency, URL and four investigation steps.
pub const DEFAULT_TRIAGE: &str = include_str!("templates/triage.j2");
/// The postmortem prompt of Devin's postmortem bridge, plus the incident's real timeline and the change events
/// before it.
pub const DEFAULT_POSTMORTEM: &str = include_str!("templates/postmortem.j2");
/// The message sent to an agent's running session when its incident resolves.
pub const DEFAULT_RESOLVE_MESSAGE: &str = include_str!("templates/resolve_message.j2");

/// The ticket auto-fix prompt (seed 003's handler): the ticket, and how to report back on it.
pub const DEFAULT_TICKET: &str = include_str!("templates/ticket.j2");
/// The default session title.
pub const DEFAULT_TITLE: &str = "[{{ incident.severity }}] {{ incident.title }}";

/// Everything a prompt template can use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptContext {
    /// The incident.
    pub incident: IncidentFacts,
    /// Its events, oldest first.
    pub timeline: Vec<TimelineFacts>,
    /// Its service's change events shortly before it opened, oldest first.
    pub changes: Vec<ChangeFacts>,
    /// The transition being dispatched: `triggered`, `acknowledged` or `resolved`.
    pub transition: String,
    /// The rule that matched.
    pub rule: String,
    /// The action being run.
    pub action: String,
}

/// The incident, as text. Absent values are `""`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentFacts {
    /// UUID.
    pub id: String,
    /// Sequence number.
    pub number: i64,
    /// Title (the first alert's summary).
    pub title: String,
    /// Service name.
    pub service: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// `high` or `low`.
    pub urgency: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    /// Dedup key of the alert that opened it.
    pub dedup_key: String,
    /// Affected system.
    pub source: String,
    /// Component.
    pub component: String,
    /// Group.
    pub group: String,
    /// Class.
    pub class: String,
    /// Events received.
    pub event_count: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC, or `""`.
    pub acknowledged_at: String,
    /// RFC 3339, UTC, or `""`.
    pub resolved_at: String,
    /// Link to the incident: in the system it mirrors (PagerDuty, the tracker), else in Firehouse; or `""`.
    pub url: String,
    /// `events`, `pagerduty` or `ticket`.
    pub origin: String,
    /// Its id in the other system (PagerDuty incident id, ticket id), or `""`.
    pub external_id: String,
    /// Description (tickets), or `""`.
    pub description: String,
    /// Labels (tickets).
    pub labels: Vec<String>,
    /// From creation to resolution in words (`46 minutes`), or `""` while open.
    pub duration: String,
}

/// One timeline event, as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineFacts {
    /// When Firehouse received it, RFC 3339 UTC.
    pub time: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub action: String,
    /// `opened`, `appended`, `acknowledged`, `resolved` or `unchanged`.
    pub outcome: String,
    /// Its summary, or `""`.
    pub summary: String,
    /// Its severity, or `""`.
    pub severity: String,
}

/// One change event, as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFacts {
    /// When it happened, RFC 3339 UTC.
    pub time: String,
    /// What changed.
    pub summary: String,
    /// Where, or `""`.
    pub source: String,
}

/// A template that does not compile or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PromptError(String);

impl PromptError {
    /// MiniJinja's message (`undefined value (in template:2)`) and the offending line of `template`, which says
    /// which name is wrong.
    fn new(e: &minijinja::Error, template: &str) -> Self {
        let line = e.line().and_then(|n| template.lines().nth(n.checked_sub(1)?)).map(str::trim);
        match line {
            Some(l) if !l.is_empty() => {
                let l: String = l.chars().take(160).collect();
                PromptError(format!("{e}: {l}"))
            }
            _ => PromptError(e.to_string()),
        }
    }
}

impl PromptContext {
    /// The context of one dispatch.
    pub fn from_dispatch(ctx: &DispatchContext) -> Self {
        Self::new(
            &ctx.incident,
            &ctx.timeline,
            &ctx.changes,
            ctx.incident_url.as_deref(),
            &ctx.transition,
            &ctx.rule,
            &ctx.action,
        )
    }

    /// The context from its parts.
    pub fn new(
        incident: &Incident,
        timeline: &[TimelineEntry],
        changes: &[StoredChange],
        url: Option<&str>,
        transition: &str,
        rule: &str,
        action: &str,
    ) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let time = |v: Option<Millis>| v.map(Millis::to_rfc3339).unwrap_or_default();
        PromptContext {
            incident: IncidentFacts {
                id: incident.id.clone(),
                number: incident.number,
                title: incident.title.clone(),
                service: incident.service.clone(),
                severity: incident.severity.as_str().to_owned(),
                urgency: incident.urgency.as_str().to_owned(),
                status: incident.status.as_str().to_owned(),
                dedup_key: incident.dedup_key.clone(),
                source: text(&incident.source),
                component: text(&incident.component),
                group: text(&incident.group),
                class: text(&incident.class),
                event_count: incident.event_count,
                created_at: incident.created_at.to_rfc3339(),
                acknowledged_at: time(incident.acknowledged_at),
                resolved_at: time(incident.resolved_at),
                url: incident.external_url.as_deref().or(url).unwrap_or_default().to_owned(),
                origin: incident.origin.as_str().to_owned(),
                external_id: text(&incident.external_id),
                description: text(&incident.description),
                labels: incident.labels.clone(),
                duration: incident
                    .resolved_at
                    .map(|end| human_duration(end.0.saturating_sub(incident.created_at.0)))
                    .unwrap_or_default(),
            },
            timeline: timeline
                .iter()
                .map(|e| TimelineFacts {
                    time: e.at.to_rfc3339(),
                    action: e.action.clone(),
                    outcome: e.outcome.clone(),
                    summary: text(&e.summary),
                    severity: text(&e.severity),
                })
                .collect(),
            changes: changes
                .iter()
                .map(|c| ChangeFacts { time: c.at.to_rfc3339(), summary: c.summary.clone(), source: text(&c.source) })
                .collect(),
            transition: transition.to_owned(),
            rule: rule.to_owned(),
            action: action.to_owned(),
        }
    }

    /// A fully populated example (acknowledged, resolved, a timeline and a change event) that [`check`] renders
    /// templates against, so that every variable a template may use is defined.
    pub fn sample() -> Self {
        let at = |min: i64| Millis(1_770_733_920_000 + min * 60_000); // 2026-02-10T14:32:00Z
        let incident = Incident {
            id: "00000000-0000-7000-8000-000000000000".into(),
            number: 1,
            status: crate::domain::IncidentStatus::Resolved,
            dedup_key: "orders/db-pool".into(),
            service: "orders-service".into(),
            title: "Database connection pool exhausted".into(),
            severity: Severity::Critical,
            urgency: Urgency::High,
            source: Some("db1.example.com".into()),
            component: Some("postgres".into()),
            group: Some("prod".into()),
            class: Some("saturation".into()),
            created_at: at(0),
            acknowledged_at: Some(at(6)),
            resolved_at: Some(at(46)),
            updated_at: at(46),
            event_count: 3,
            last_event_at: None,
            origin: crate::domain::external::Origin::Events,
            external_id: None,
            external_url: None,
            description: None,
            labels: vec![],
        };
        let entry = |id: i64, min: i64, action: &str, outcome: &str| TimelineEntry {
            id,
            at: at(min),
            protocol: "v2".into(),
            action: action.into(),
            outcome: outcome.into(),
            summary: Some(incident.title.clone()),
            severity: Some("critical".into()),
            raw: serde_json::Value::Null,
        };
        let timeline = [
            entry(1, 0, "trigger", "opened"),
            entry(2, 6, "acknowledge", "acknowledged"),
            entry(3, 46, "resolve", "resolved"),
        ];
        let change = StoredChange {
            id: 1,
            service: incident.service.clone(),
            at: at(-17),
            summary: "Deploy #387 released".into(),
            source: Some("github".into()),
            custom_details: None,
            links: Vec::new(),
        };
        Self::new(
            &incident,
            &timeline,
            &[change],
            Some("https://firehouse.example.com/incidents/1"),
            "resolved",
            "rule",
            "action",
        )
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// Renders `template` with `ctx`. Trailing whitespace (the file's last newline, a loop's last line break) is
/// dropped.
pub fn render(template: &str, ctx: &PromptContext) -> Result<String, PromptError> {
    let env = environment();
    let error = |e: minijinja::Error| PromptError::new(&e, template);
    let tmpl = env.template_from_named_str("template", template).map_err(error)?;
    let mut text = tmpl.render(ctx).map_err(error)?;
    text.truncate(text.trim_end().len());
    Ok(text)
}

/// Checks a configured template: it must compile, and render against [`PromptContext::sample`] (so a misspelt
/// variable is found at start-up, not at the first incident).
pub fn check(template: &str) -> Result<(), PromptError> {
    render(template, &PromptContext::sample()).map(|_| ())
}

/// `46 minutes`, `2 hours 5 minutes`, `1 day 3 hours`, `30 seconds`.
pub fn human_duration(millis: i64) -> String {
    fn unit(n: i64, word: &str) -> String {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    }
    let secs = millis.max(0) / 1000;
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 60 {
        unit(secs, "second")
    } else if mins < 60 {
        unit(mins, "minute")
    } else if hours < 24 {
        match mins % 60 {
            0 => unit(hours, "hour"),
            m => format!("{} {}", unit(hours, "hour"), unit(m, "minute")),
        }
    } else {
        match hours % 24 {
            0 => unit(days, "day"),
            h => format!("{} {}", unit(days, "day"), unit(h, "hour")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IncidentStatus;

    /// 2026-02-10T14:32:00Z plus `min` minutes.
    fn at(min: i64) -> Millis {
        Millis(1_770_733_920_000 + min * 60_000)
    }

    fn incident() -> Incident {
        Incident {
            id: "0190f3a2-7c1e-7d40-9b8e-5f1f2a3b4c5d".into(),
            number: 42,
            status: IncidentStatus::Triggered,
            dedup_key: "orders/db-pool".into(),
            service: "orders-service".into(),
            title: "Database connection pool exhausted".into(),
            severity: Severity::Critical,
            urgency: Urgency::High,
            source: Some("db1.example.com".into()),
            component: None,
            group: None,
            class: None,
            created_at: at(0),
            acknowledged_at: None,
            resolved_at: None,
            updated_at: at(0),
            event_count: 1,
            last_event_at: None,
            origin: crate::domain::external::Origin::Events,
            external_id: None,
            external_url: None,
            description: None,
            labels: vec![],
        }
    }

    fn entry(id: i64, min: i64, action: &str, outcome: &str, summary: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            id,
            at: at(min),
            protocol: "v2".into(),
            action: action.into(),
            outcome: outcome.into(),
            summary: summary.map(Into::into),
            severity: summary.map(|_| "critical".into()),
            raw: serde_json::Value::Null,
        }
    }

    fn change(min: i64, summary: &str, source: Option<&str>) -> StoredChange {
        StoredChange {
            id: min,
            service: "orders-service".into(),
            at: at(min),
            summary: summary.into(),
            source: source.map(Into::into),
            custom_details: None,
            links: Vec::new(),
        }
    }

    const URL: &str = "https://firehouse.example.com/incidents/42";

    #[test]
    fn triage_reproduces_the_bridge_prompt_line_for_line() {
        let inc = incident();
        let timeline = [entry(1, 0, "trigger", "opened", Some("Database connection pool exhausted"))];
        let ctx = PromptContext::new(&inc, &timeline, &[], Some(URL), "triggered", "page", "triage");
        let want = [
            "PagerDuty incident triggered: \"Database connection pool exhausted\"",
            "Service: orders-service",
            "Urgency: high",
            "Incident URL: https://firehouse.example.com/incidents/42",
            "",
            "Investigate this incident:",
            "1. Check recent logs and metrics for orders-service",
            "2. Identify the root cause of the issue",
            "3. If the root cause is a code issue, open a hotfix PR",
            "4. Post your findings to #incidents on Slack",
        ]
        .join("\n");
        assert_eq!(render(DEFAULT_TRIAGE, &ctx).unwrap(), want);
    }

    #[test]
    fn without_a_public_url_the_url_line_is_empty_like_the_bridge() {
        let ctx = PromptContext::new(&incident(), &[], &[], None, "triggered", "page", "triage");
        assert!(render(DEFAULT_TRIAGE, &ctx).unwrap().contains("\nIncident URL: \n"));
    }

    #[test]
    fn postmortem_reproduces_the_bridge_prompt_and_adds_the_facts() {
        let mut inc = incident();
        inc.status = IncidentStatus::Resolved;
        inc.acknowledged_at = Some(at(6));
        inc.resolved_at = Some(at(46));
        let timeline = [
            entry(1, 0, "trigger", "opened", Some("Database connection pool exhausted")),
            entry(2, 3, "trigger", "appended", Some("Database connection pool exhausted")),
            entry(3, 6, "acknowledge", "acknowledged", None),
            entry(4, 46, "resolve", "resolved", Some("Pool recovered")),
        ];
        let changes =
            [change(-17, "Deploy #387 released (commit e4f29a1)", Some("github")), change(-5, "Flag on", None)];
        let ctx = PromptContext::new(&inc, &timeline, &changes, Some(URL), "resolved", "postmortem", "pm");
        let want = [
            "A PagerDuty incident has been resolved. Draft a postmortem.",
            "",
            "Incident: \"Database connection pool exhausted\"",
            "Service: orders-service",
            "Urgency: high",
            "Created: 2026-02-10T14:32:00.000Z",
            "Resolved: 2026-02-10T15:18:00.000Z",
            "Incident URL: https://firehouse.example.com/incidents/42",
            "",
            "Write a structured postmortem:",
            "1. Use the Datadog MCP to pull logs and metrics for orders-service during the incident window",
            "2. Identify the root cause — check for deploys, config changes, or upstream failures",
            "3. Build a detailed timeline from first alert to resolution",
            "4. List action items to prevent recurrence",
            "5. Post the postmortem as a PR to our docs/postmortems/ directory",
            "",
            "Timeline (every event Firehouse received for this incident, UTC):",
            "- 2026-02-10T14:32:00.000Z trigger (opened, critical): Database connection pool exhausted",
            "- 2026-02-10T14:35:00.000Z trigger (appended, critical): Database connection pool exhausted",
            "- 2026-02-10T14:38:00.000Z acknowledge (acknowledged)",
            "- 2026-02-10T15:18:00.000Z resolve (resolved, critical): Pool recovered",
            "Duration: 46 minutes (from 2026-02-10T14:32:00.000Z to 2026-02-10T15:18:00.000Z)",
            "",
            "Change events before the incident (orders-service, UTC):",
            "- 2026-02-10T14:15:00.000Z Deploy #387 released (commit e4f29a1) (source: github)",
            "- 2026-02-10T14:27:00.000Z Flag on",
        ]
        .join("\n");
        assert_eq!(render(DEFAULT_POSTMORTEM, &ctx).unwrap(), want);
    }

    #[test]
    fn postmortem_of_an_open_incident_without_changes_says_so() {
        let mut inc = incident();
        inc.status = IncidentStatus::Acknowledged;
        inc.acknowledged_at = Some(at(6));
        let ctx = PromptContext::new(&inc, &[], &[], None, "acknowledged", "postmortem", "pm");
        let text = render(DEFAULT_POSTMORTEM, &ctx).unwrap();
        assert!(text.starts_with("A PagerDuty incident is acknowledged and not resolved yet."), "{text}");
        assert!(text.contains("\nResolved: not yet\n"), "{text}");
        assert!(!text.contains("Duration:"), "{text}");
        assert!(text.contains("UTC):\n- none recorded\n\nChange events"), "{text}");
        assert!(text.ends_with("(orders-service, UTC):\n- none recorded"), "{text}");
    }

    #[test]
    fn the_context_flattens_absent_values_to_empty_text() {
        let ctx = PromptContext::new(&incident(), &[], &[], None, "triggered", "r", "a");
        let i = &ctx.incident;
        assert_eq!((i.component.as_str(), i.acknowledged_at.as_str(), i.resolved_at.as_str()), ("", "", ""));
        assert_eq!((i.url.as_str(), i.duration.as_str()), ("", ""));
        assert_eq!(i.source, "db1.example.com");
        assert_eq!(i.created_at, "2026-02-10T14:32:00.000Z");
        let out = render("{{ transition }}/{{ rule }}/{{ action }}/{{ incident.number }}/{{ incident.status }}", &ctx);
        assert_eq!(out.unwrap(), "triggered/r/a/42/triggered");
        assert_eq!(render("{% if incident.component %}x{% else %}-{% endif %}", &ctx).unwrap(), "-");
    }

    #[test]
    fn text_is_not_html_escaped() {
        let mut inc = incident();
        inc.title = r#"5xx on "/orders?a=1&b=<2>""#.into();
        let ctx = PromptContext::new(&inc, &[], &[], None, "triggered", "r", "a");
        assert_eq!(render("{{ incident.title }}", &ctx).unwrap(), r#"5xx on "/orders?a=1&b=<2>""#);
    }

    #[test]
    fn a_misspelt_variable_is_an_error() {
        let ctx = PromptContext::sample();
        let err = render("Title:\n  {{ incident.titel }}  ", &ctx).unwrap_err();
        assert_eq!(err.to_string(), "undefined value (in template:2): {{ incident.titel }}");
        assert!(check("{{ incident.titel }}").is_err());
        assert!(check("{{ incidnet.title }}").is_err());
        assert!(check("{% for e in timelines %}{% endfor %}").is_err());
    }

    #[test]
    fn check_accepts_the_defaults_and_rejects_syntax_errors() {
        for t in [DEFAULT_TRIAGE, DEFAULT_POSTMORTEM, DEFAULT_TICKET, DEFAULT_RESOLVE_MESSAGE, DEFAULT_TITLE] {
            check(t).unwrap();
        }
        let err = check("line one\n{% if incident.title %}unclosed").unwrap_err();
        assert!(err.to_string().contains("line 2") || err.to_string().contains(":2"), "{err}");
        assert!(check("{{ incident.title ").is_err());
    }

    #[test]
    fn the_sample_uses_every_field() {
        let s = PromptContext::sample();
        assert!(!s.incident.resolved_at.is_empty() && !s.incident.acknowledged_at.is_empty());
        assert_eq!(s.incident.duration, "46 minutes");
        assert!(!s.timeline.is_empty() && !s.changes.is_empty());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let min = 60_000;
        assert_eq!(human_duration(0), "0 seconds");
        assert_eq!(human_duration(1_000), "1 second");
        assert_eq!(human_duration(59_999), "59 seconds");
        assert_eq!(human_duration(min), "1 minute");
        assert_eq!(human_duration(46 * min + 30_000), "46 minutes");
        assert_eq!(human_duration(60 * min), "1 hour");
        assert_eq!(human_duration(125 * min), "2 hours 5 minutes");
        assert_eq!(human_duration(24 * 60 * min), "1 day");
        assert_eq!(human_duration(27 * 60 * min + 59 * min), "1 day 3 hours");
        assert_eq!(human_duration(-5), "0 seconds");
    }
}
