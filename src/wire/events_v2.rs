//! Events API v2 alert events (`POST /v2/enqueue`).

use super::fields::{self, InvalidEvent, Reader};
use super::KeyedAlert;
use crate::domain::{AlertDetails, AlertEvent, DedupKey, EventAction, IntegrationKey, Severity};
use serde_json::{Map, Value};

const ACTIONS: &str = "trigger acknowledge resolve";
const SEVERITIES: &str = "critical error warning info";

/// Whether a JSON object looks like a v2 alert event. Only non-empty values count: Alertmanager's
/// v1 bodies carry `"event_action": ""` and `"payload": null`.
pub fn looks_like_v2(obj: &Map<String, Value>) -> bool {
    super::fields::has_value(obj, "event_action") || super::fields::has_value(obj, "routing_key")
}

/// Reads a v2 alert event. `key_override` (the unified path's `?integration_key=`) wins over
/// `routing_key` when given.
pub fn parse(mut obj: Map<String, Value>, key_override: Option<&str>) -> Result<KeyedAlert, InvalidEvent> {
    let mut r = Reader::new(&obj);
    let body_key = if key_override.is_some() { r.string("routing_key") } else { r.required_string("routing_key") };
    let key = key_override.map(str::to_owned).or(body_key);
    let action = match r.value("event_action") {
        None => {
            r.problem("event_action", "is required");
            None
        }
        Some(_) => r.one_of("event_action", ACTIONS, |s| s.parse::<EventAction>().ok()),
    };
    let dedup_key = r.dedup_key("dedup_key");
    let client = r.string("client");
    let client_url = r.string("client_url");
    let links = r.links("links");
    let images = r.images("images");
    let payload = r.object("payload");

    let mut details = match (payload, action) {
        (Some(p), Some(EventAction::Trigger)) => read_details(&mut r, p, true),
        // Acknowledge and resolve may carry a payload (Alertmanager sends one); keep it when it is whole.
        (Some(p), _) => read_details(&mut r, p, false),
        (None, Some(EventAction::Trigger)) if r.value("payload").is_none() => {
            r.problem("payload", "is required for trigger events");
            None
        }
        (None, _) => None,
    };

    if let Some(a @ (EventAction::Acknowledge | EventAction::Resolve)) = action {
        if dedup_key.is_none() && !r.has_problems_for("dedup_key") {
            r.problem("dedup_key", &format!("is required for {a} events"));
        }
    }
    r.finish()?;
    let (Some(key), Some(action)) = (key, action) else {
        unreachable!("a missing key or action is recorded as a problem")
    };
    if let Some(d) = details.as_mut() {
        d.custom_details = fields::take_custom_details(&mut obj);
    }
    Ok(KeyedAlert {
        integration_key: IntegrationKey::new(key),
        event: AlertEvent {
            action,
            dedup_key: dedup_key.unwrap_or_else(DedupKey::generate),
            details,
            client,
            client_url,
            links,
            images,
        },
    })
}

/// Reads `payload`. With `strict` (triggers) its problems refuse the event; otherwise (acknowledge,
/// resolve) a payload with problems is ignored rather than refused.
fn read_details(outer: &mut Reader<'_>, p: &Map<String, Value>, strict: bool) -> Option<AlertDetails> {
    let mut r = Reader::nested(p, "payload");
    let summary = if strict { r.required_string("summary") } else { r.string("summary") };
    let summary = r.bounded(summary, "summary", AlertDetails::SUMMARY_MAX_CHARS);
    let source = if strict { r.required_string("source") } else { r.string("source") };
    let severity = match r.value("severity") {
        None if strict => {
            r.problem("severity", "is required");
            None
        }
        None => None,
        Some(_) => r.one_of("severity", SEVERITIES, |s| s.parse::<Severity>().ok()),
    };
    let timestamp = r.timestamp("timestamp");
    let component = r.string("component");
    let group = r.string("group");
    let class = r.string("class");
    if strict {
        outer.merge(r);
    } else if r.has_problems() {
        return None;
    }
    Some(AlertDetails {
        summary: summary?,
        source: Some(source?),
        severity: severity?,
        timestamp,
        component,
        group,
        class,
        // Moved in by `parse` once the event is known to be whole.
        custom_details: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::parse_object;
    use serde_json::json;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn parse_json(v: Value) -> Result<KeyedAlert, InvalidEvent> {
        parse(parse_object(v.to_string().as_bytes()).unwrap(), None)
    }

    fn errors(v: Value) -> Vec<String> {
        parse_json(v).unwrap_err().errors
    }

    #[test]
    fn a_minimal_trigger_gets_a_generated_dedup_key() {
        let e = parse_json(json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "disk full", "source": "db1", "severity": "error"}}))
        .unwrap();
        assert_eq!(e.integration_key.expose(), KEY);
        assert_eq!(e.event.action, EventAction::Trigger);
        assert_eq!(e.event.dedup_key.as_str().len(), 32);
        let d = e.event.details.unwrap();
        assert_eq!((d.summary.as_str(), d.source.as_deref(), d.severity), ("disk full", Some("db1"), Severity::Error));
    }

    #[test]
    fn custom_details_are_kept_whole_and_null_counts_as_none() {
        let details = json!({"nested": {"list": [1, "two", null]}, "n": 1.5});
        let payload = |d: Value| json!({"summary": "s", "source": "h", "severity": "info", "custom_details": d});
        let e = parse_json(json!({"routing_key": KEY, "event_action": "trigger", "payload": payload(details.clone())}))
            .unwrap();
        assert_eq!(e.event.details.unwrap().custom_details, Some(details));
        let e = parse_json(json!({"routing_key": KEY, "event_action": "trigger", "payload": payload(Value::Null)}))
            .unwrap();
        assert_eq!(e.event.details.unwrap().custom_details, None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(parse_json(json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k",
            "something_new": {"x": 1}}))
        .is_ok());
    }

    #[test]
    fn every_problem_gets_its_own_line() {
        let errs = errors(json!({"event_action": "explode", "dedup_key": 5}));
        assert_eq!(
            errs,
            vec![
                "routing_key is required",
                "event_action is invalid (must be one of: trigger acknowledge resolve)",
                "dedup_key must be a string",
            ]
        );
    }

    #[test]
    fn trigger_payload_fields_are_required_and_typed() {
        let errs = errors(json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "x".repeat(1025), "severity": "fatal", "source": 3}}));
        assert_eq!(
            errs,
            vec![
                "payload.summary is too long (maximum is 1024 characters)",
                "payload.source must be a string",
                "payload.severity is invalid (must be one of: critical error warning info)",
            ]
        );
        let errs = errors(json!({"routing_key": KEY, "event_action": "trigger"}));
        assert_eq!(errs, vec!["payload is required for trigger events"]);
        let errs = errors(json!({"routing_key": KEY, "event_action": "trigger", "payload": "text"}));
        assert_eq!(errs, vec!["payload must be a JSON object"]);
    }

    #[test]
    fn ack_and_resolve_need_a_dedup_key() {
        assert_eq!(
            errors(json!({"routing_key": KEY, "event_action": "acknowledge"})),
            vec!["dedup_key is required for acknowledge events"]
        );
        assert_eq!(
            errors(json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": ""})),
            vec!["dedup_key is required for resolve events"]
        );
        assert_eq!(
            errors(json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k".repeat(256)})),
            vec!["dedup_key is too long (maximum is 255 characters)"]
        );
    }

    #[test]
    fn a_resolve_may_carry_an_incomplete_payload() {
        let e = parse_json(json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k",
            "payload": {"summary": "all good"}}))
        .unwrap();
        assert_eq!(e.event.details, None);
    }

    #[test]
    fn the_query_key_wins_over_the_body_key() {
        let obj = parse_object(
            json!({"routing_key": "body", "event_action": "resolve", "dedup_key": "k"}).to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(parse(obj, Some("query")).unwrap().integration_key.expose(), "query");
        let obj = parse_object(json!({"event_action": "resolve", "dedup_key": "k"}).to_string().as_bytes()).unwrap();
        assert_eq!(parse(obj, Some("query")).unwrap().integration_key.expose(), "query");
    }
}
