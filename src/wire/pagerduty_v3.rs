//! PagerDuty Generic Webhooks v3, inbound: `{"event": {id, event_type, resource_type, occurred_at, agent,
//! client, data}}` to a [`PagerDutyEvent`].
//!
//! - `data.type = "incident"` fills [`PagerDutyIncident`] (id, number, title, status, urgency,
//!   `priority.summary`, `service.summary`, html_url, incident_key, created_at).
//! - `incident.annotated` carries `data.type = "incident_note"`: its `content` is the note.
//! - `incident_id` is the incident's id whenever the event is about one: `data.id` for a full incident,
//!   else `data.incident.id` (notes, responders, status updates, …).
//! - `agent` and `client` may be `null`. Unknown event types and resource types parse fine: the caller
//!   decides what to ignore (see [`crate::domain::external::mirror_change`]).
//! - Only a body that is not a JSON object, or lacks `event`, `event.id` or `event.event_type`, is refused.
//!
//! Verify the signature ([`super::signature::verify_pagerduty`]) over the raw body before parsing.

use crate::domain::external::{PagerDutyEvent, PagerDutyIncident};
use crate::domain::Millis;
use serde_json::{Map, Value};

/// A webhook body that cannot be read. The message names the problem (and the field), never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook: {message}")]
pub struct InvalidWebhook {
    /// What is wrong, e.g. `event.id is required`.
    pub message: String,
}

impl InvalidWebhook {
    /// A refusal with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        InvalidWebhook { message: message.into() }
    }
}

/// Reads a request body as a JSON object, or explains why it is not one.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, InvalidWebhook> {
    super::fields::parse_object(body).map_err(|e| InvalidWebhook::new(e.errors.join("; ")))
}

/// Parses one v3 webhook delivery.
pub fn parse(body: &[u8]) -> Result<PagerDutyEvent, InvalidWebhook> {
    let root = parse_body(body)?;
    let event = match root.get("event") {
        Some(Value::Object(e)) => e,
        None | Some(Value::Null) => return Err(InvalidWebhook::new("event is required (expected {\"event\": {…}})")),
        Some(_) => return Err(InvalidWebhook::new("event must be an object")),
    };
    let id = required_str(event, "id")?;
    let event_type = required_str(event, "event_type")?;
    let resource_type = match event.get("resource_type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        // Not documented as optional, but the event type names it too (`incident.triggered`).
        _ => event_type.split('.').next().unwrap_or_default().to_owned(),
    };
    let occurred_at = str_at(event, &["occurred_at"]).and_then(Millis::parse_iso8601);
    let agent = str_at(event, &["agent", "summary"]).map(str::to_owned);

    let data = match event.get("data") {
        Some(Value::Object(d)) => Some(d),
        _ => None,
    };
    let data_type = data.and_then(|d| str_at(d, &["type"]));
    let incident = match (data, data_type) {
        (Some(d), Some("incident")) => incident(d),
        _ => None,
    };
    let note = match (data, data_type) {
        (Some(d), Some("incident_note")) => str_at(d, &["content"]).map(str::to_owned),
        _ => None,
    };
    let incident_id = match &incident {
        Some(i) => Some(i.id.clone()),
        None => data.and_then(|d| str_at(d, &["incident", "id"])).filter(|s| !s.is_empty()).map(str::to_owned),
    };
    Ok(PagerDutyEvent { id, event_type, resource_type, occurred_at, agent, incident, note, incident_id })
}

fn required_str(event: &Map<String, Value>, field: &str) -> Result<String, InvalidWebhook> {
    match event.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(InvalidWebhook::new(format!("event.{field} must not be blank"))),
        None | Some(Value::Null) => Err(InvalidWebhook::new(format!("event.{field} is required"))),
        Some(_) => Err(InvalidWebhook::new(format!("event.{field} must be a string"))),
    }
}

/// The string at `path` (object keys), if every step exists and the last is a string.
fn str_at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, init) = path.split_last()?;
    let mut cur = obj;
    for key in init {
        cur = cur.get(*key)?.as_object()?;
    }
    cur.get(*last)?.as_str()
}

/// `data` of type `incident`; `None` when it has no id to mirror it by.
fn incident(d: &Map<String, Value>) -> Option<PagerDutyIncident> {
    let id = str_at(d, &["id"]).filter(|s| !s.is_empty())?.to_owned();
    let owned = |path: &[&str]| str_at(d, path).filter(|s| !s.is_empty()).map(str::to_owned);
    Some(PagerDutyIncident {
        id,
        number: d.get("number").and_then(Value::as_i64),
        title: owned(&["title"]).or_else(|| owned(&["summary"])).unwrap_or_default(),
        status: str_at(d, &["status"]).and_then(|s| s.parse().ok()),
        urgency: str_at(d, &["urgency"]).and_then(|s| s.parse().ok()),
        priority: owned(&["priority", "summary"]),
        service: owned(&["service", "summary"]),
        html_url: owned(&["html_url"]),
        incident_key: owned(&["incident_key"]),
        created_at: str_at(d, &["created_at"]).and_then(Millis::parse_iso8601),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IncidentStatus, Urgency};
    use serde_json::json;

    fn parse_json(v: Value) -> Result<PagerDutyEvent, InvalidWebhook> {
        parse(v.to_string().as_bytes())
    }

    fn envelope(event_type: &str, data: Value) -> Value {
        json!({"event": {
            "id": "01ABC", "event_type": event_type, "resource_type": "incident",
            "occurred_at": "2020-10-02T18:45:22.169Z", "agent": null, "client": null, "data": data,
        }})
    }

    #[test]
    fn a_full_incident_fills_every_field() {
        let ev = parse_json(envelope(
            "incident.triggered",
            json!({
                "id": "PGR0VU2", "type": "incident", "number": 2, "status": "triggered",
                "incident_key": "d3640fbd41094207a1c11e58e46b1662", "created_at": "2020-04-09T15:16:27Z",
                "title": "A little bump in the road", "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                "service": {"summary": "API Service"}, "priority": {"summary": "P1"}, "urgency": "high",
            }),
        ))
        .unwrap();
        assert_eq!(ev.id, "01ABC");
        assert_eq!(ev.resource_type, "incident");
        assert_eq!(ev.occurred_at, Millis::parse_iso8601("2020-10-02T18:45:22.169Z"));
        assert_eq!(ev.agent, None);
        assert_eq!(ev.incident_id.as_deref(), Some("PGR0VU2"));
        let i = ev.incident.unwrap();
        assert_eq!(i.number, Some(2));
        assert_eq!(i.status, Some(IncidentStatus::Triggered));
        assert_eq!(i.urgency, Some(Urgency::High));
        assert_eq!(i.priority.as_deref(), Some("P1"));
        assert_eq!(i.service.as_deref(), Some("API Service"));
        assert_eq!(i.incident_key.as_deref(), Some("d3640fbd41094207a1c11e58e46b1662"));
        assert_eq!(i.created_at, Millis::parse_iso8601("2020-04-09T15:16:27Z"));
    }

    #[test]
    fn null_priority_and_missing_optional_fields_are_none() {
        let ev = parse_json(envelope(
            "incident.acknowledged",
            json!({"id": "P1", "type": "incident", "title": "t", "priority": null, "conference_bridge": null}),
        ))
        .unwrap();
        let i = ev.incident.unwrap();
        assert_eq!((i.priority, i.service, i.number, i.status, i.urgency), (None, None, None, None, None));
    }

    #[test]
    fn a_note_carries_its_text_and_incident_id() {
        let ev = parse_json(envelope(
            "incident.annotated",
            json!({"incident": {"id": "PGR0VU2", "type": "incident_reference"}, "id": "P2LA89X",
                   "content": "I sure am glad we are using PagerDuty!", "trimmed": false, "type": "incident_note"}),
        ))
        .unwrap();
        assert_eq!(ev.incident, None);
        assert_eq!(ev.note.as_deref(), Some("I sure am glad we are using PagerDuty!"));
        assert_eq!(ev.incident_id.as_deref(), Some("PGR0VU2"));
    }

    #[test]
    fn other_incident_events_give_the_incident_id_when_present() {
        let ev = parse_json(envelope(
            "incident.responder.added",
            json!({"incident": {"id": "PGR0VU2"}, "type": "incident_responder", "state": "pending"}),
        ))
        .unwrap();
        assert_eq!((ev.incident, ev.note, ev.incident_id.as_deref()), (None, None, Some("PGR0VU2")));
        let ev = parse_json(envelope("incident.custom_field_values.updated", json!({"type": "something"}))).unwrap();
        assert_eq!(ev.incident_id, None);
    }

    #[test]
    fn unknown_event_and_resource_types_parse() {
        let ev = parse_json(json!({"event": {"id": "x", "event_type": "pagey.bounced", "resource_type": "pagey",
                                             "agent": {"summary": "Pagey"}, "data": {"type": "pagey"}}}))
        .unwrap();
        assert_eq!((ev.event_type.as_str(), ev.resource_type.as_str()), ("pagey.bounced", "pagey"));
        assert_eq!(ev.agent.as_deref(), Some("Pagey"));
        assert_eq!((ev.incident, ev.incident_id, ev.occurred_at), (None, None, None));
        // No data at all, no resource_type: still an event.
        let ev = parse_json(json!({"event": {"id": "x", "event_type": "service.deleted"}})).unwrap();
        assert_eq!(ev.resource_type, "service");
    }

    #[test]
    fn refusals_say_what_is_missing() {
        let msg = |b: &[u8]| parse(b).unwrap_err().message;
        assert!(msg(b"not json").contains("not valid JSON"), "{}", msg(b"not json"));
        assert!(msg(b"").contains("empty"));
        assert_eq!(msg(b"[]"), "request body must be a JSON object");
        assert_eq!(msg(b"{}"), "event is required (expected {\"event\": {…}})");
        assert_eq!(msg(br#"{"event": "x"}"#), "event must be an object");
        assert_eq!(msg(br#"{"event": {"event_type": "incident.triggered"}}"#), "event.id is required");
        assert_eq!(msg(br#"{"event": {"id": "1"}}"#), "event.event_type is required");
        assert_eq!(msg(br#"{"event": {"id": 1, "event_type": "a.b"}}"#), "event.id must be a string");
        assert_eq!(msg(br#"{"event": {"id": " ", "event_type": "a.b"}}"#), "event.id must not be blank");
        let e = parse(b"{}").unwrap_err();
        assert!(e.to_string().starts_with("invalid webhook: "));
    }
}
