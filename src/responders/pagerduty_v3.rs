//! PagerDuty Generic Webhooks v3 envelopes for Firehouse's incident transitions, so a receiver
//! written for PagerDuty's webhooks (e.g. the Devin bridge, which reads `event.event_type`,
//! `event.data.title`, `.service.summary`, `.urgency`, `.html_url`) works unchanged.
//!
//! Firehouse has no users, teams or escalation policies: `agent` and `priority` are `null`,
//! `assignees` and `teams` are empty. What PagerDuty has no field for (severity and the PD-CEF
//! fields of the first alert) is under `data.firehouse`.

use crate::dispatch::DispatchContext;
use crate::domain::Millis;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The stable id of one dispatch's webhook: a UUID (version 8) made from the SHA-256 of its
/// `dispatch_key`, so every retry of the same dispatch, even after a restart, carries the same id
/// (as `X-Webhook-Id` and `event.id`), while the key's own text (rule and action names) stays out
/// of the request.
pub fn event_id(dispatch_key: &str) -> String {
    let digest = Sha256::digest(dispatch_key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// `incident.triggered`, `incident.acknowledged` or `incident.resolved`.
pub fn event_type(transition: &str) -> String {
    format!("incident.{transition}")
}

/// When the transition happened: the incident's `created_at`, `acknowledged_at` or
/// `resolved_at` (its `updated_at` when that is unknown). Taken from the incident, not the clock,
/// so a retry sends the same time.
pub fn occurred_at(ctx: &DispatchContext) -> Millis {
    let i = &ctx.incident;
    let at = match ctx.transition.as_str() {
        "triggered" => Some(i.created_at),
        "acknowledged" => i.acknowledged_at,
        "resolved" => i.resolved_at,
        _ => None,
    };
    at.unwrap_or(i.updated_at)
}

/// The v3 envelope `{"event": {…}}` for `ctx`'s transition, with `event.id` = `event_id`.
///
/// `data` describes the incident as it is now (a `triggered` dispatch retried after the incident
/// was resolved says `"status": "resolved"`); `event_type` says which transition this is.
pub fn envelope(ctx: &DispatchContext, event_id: &str) -> Value {
    let i = &ctx.incident;
    json!({
        "event": {
            "id": event_id,
            "event_type": event_type(&ctx.transition),
            "resource_type": "incident",
            "occurred_at": occurred_at(ctx).to_rfc3339(),
            "agent": null,
            "client": {"name": "Firehouse"},
            "data": {
                "id": i.id,
                "type": "incident",
                "number": i.number,
                "self": ctx.incident_url,
                "html_url": ctx.incident_url,
                "status": i.status.as_str(),
                "incident_key": i.dedup_key,
                "created_at": i.created_at.to_rfc3339(),
                "title": i.title,
                "service": {"id": i.service, "type": "service_reference", "summary": i.service},
                "assignees": [],
                "teams": [],
                "urgency": i.urgency.as_str(),
                "priority": null,
                "resolve_reason": null,
                "firehouse": {
                    "severity": i.severity.as_str(),
                    "source": i.source,
                    "component": i.component,
                    "group": i.group,
                    "class": i.class,
                },
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Incident, IncidentStatus, Severity, Urgency};

    fn ctx(transition: &str, status: IncidentStatus, url: Option<&str>) -> DispatchContext {
        DispatchContext {
            dispatch_id: 7,
            dispatch_key: format!("0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e:triage:bridge:{transition}"),
            attempt: 1,
            rule: "triage".into(),
            action: "bridge".into(),
            transition: transition.into(),
            incident: Incident {
                id: "0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e".into(),
                number: 2,
                status,
                dedup_key: "d3640fbd41094207a1c11e58e46b1662".into(),
                service: "API Service".into(),
                title: "A little bump in the road".into(),
                severity: Severity::Critical,
                urgency: Urgency::High,
                source: Some("api-1.example.com".into()),
                component: Some("nginx".into()),
                group: None,
                class: None,
                created_at: Millis(1_586_445_387_000),
                acknowledged_at: Some(Millis(1_601_664_322_169)),
                resolved_at: None,
                updated_at: Millis(1_601_664_322_169),
                event_count: 3,
                last_event_at: None,
                origin: crate::domain::external::Origin::Events,
                external_id: None,
                external_url: None,
                description: None,
                labels: vec![],
            },
            timeline: vec![],
            changes: vec![],
            incident_url: url.map(str::to_owned),
        }
    }

    #[test]
    fn has_pagerdutys_shape() {
        let url = "https://firehouse.example.com/incidents/0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e";
        let c = ctx("triggered", IncidentStatus::Triggered, Some(url));
        let v = envelope(&c, "5ac64822-4adc-4fda-ade0-410becf0de4f");
        let e = &v["event"];
        assert_eq!(v.as_object().unwrap().len(), 1, "exactly one event per delivery");
        assert_eq!(e["id"], "5ac64822-4adc-4fda-ade0-410becf0de4f");
        assert_eq!(e["event_type"], "incident.triggered");
        assert_eq!(e["resource_type"], "incident");
        assert_eq!(e["occurred_at"], "2020-04-09T15:16:27.000Z");
        assert!(e["agent"].is_null());
        assert_eq!(e["client"], json!({"name": "Firehouse"}));
        let d = &e["data"];
        assert_eq!(d["id"], "0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e");
        assert_eq!(d["type"], "incident");
        assert_eq!(d["number"], 2);
        assert_eq!(d["self"], url);
        assert_eq!(d["html_url"], url);
        assert_eq!(d["status"], "triggered");
        assert_eq!(d["incident_key"], "d3640fbd41094207a1c11e58e46b1662");
        assert_eq!(d["created_at"], "2020-04-09T15:16:27.000Z");
        assert_eq!(d["title"], "A little bump in the road");
        assert_eq!(d["service"], json!({"id": "API Service", "type": "service_reference", "summary": "API Service"}));
        assert_eq!(d["assignees"], json!([]));
        assert_eq!(d["urgency"], "high");
        assert!(d["priority"].is_null());
        assert!(d["resolve_reason"].is_null());
        assert_eq!(
            d["firehouse"],
            json!({"severity": "critical", "source": "api-1.example.com", "component": "nginx", "group": null, "class": null})
        );
    }

    #[test]
    fn names_the_transition_and_its_time() {
        let c = ctx("acknowledged", IncidentStatus::Acknowledged, None);
        let e = &envelope(&c, "x")["event"];
        assert_eq!(e["event_type"], "incident.acknowledged");
        assert_eq!(e["occurred_at"], "2020-10-02T18:45:22.169Z");
        assert!(e["data"]["html_url"].is_null());
        assert!(e["data"]["self"].is_null());
        // Resolved without a resolve time falls back to the last update.
        let c = ctx("resolved", IncidentStatus::Resolved, None);
        let e = &envelope(&c, "x")["event"];
        assert_eq!(e["event_type"], "incident.resolved");
        assert_eq!(e["data"]["status"], "resolved");
        assert_eq!(e["occurred_at"], "2020-10-02T18:45:22.169Z");
    }

    #[test]
    fn event_ids_are_stable_uuids_per_dispatch_key() {
        let a = event_id("inc:rule:action:triggered");
        assert_eq!(a, event_id("inc:rule:action:triggered"));
        assert_ne!(a, event_id("inc:rule:action:resolved"));
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 8);
        assert!(!a.contains("rule"));
    }
}
