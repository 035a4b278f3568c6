//! PagerDuty Generic Webhooks v3 envelopes for Firehouse's incident transitions, so a receiver
//! written for PagerDuty's webhooks (e.g. the Devin bridge, which reads `event.event_type`,
//! `event.data.title`, `.service.summary`, `.urgency`, `.html_url`) works unchanged.
//!
//! Firehouse has no users, teams or escalation policies: `agent` and `priority` are `null`,
//! `assignees` and `teams` are empty. What PagerDuty has no field for (severity and the PD-CEF
//! fields of the first alert) is under `data.firehouse`.
//!
//! Agent session events have event types of their own, in PagerDuty's `incident.<sub-resource>.<verb>` style
//! (`incident.agent_session.started`, `.pull_request_opened`, `.postmortem_ready`), and the same incident `data`
//! plus `data.agent_session` (`id`, `html_url`, `status`, `action`), and `data.pull_request` (`html_url`, `state`)
//! or `data.postmortem` (`html_url` of its Markdown) for the event they announce.

use crate::dispatch::{DispatchContext, SessionEventContext};
use crate::domain::{Millis, SessionEvent};
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

/// `incident.triggered`, `incident.acknowledged` or `incident.resolved`; for a session event
/// `incident.agent_session.started`, `incident.agent_session.pull_request_opened` or
/// `incident.agent_session.postmortem_ready`.
pub fn event_type(ctx: &DispatchContext) -> String {
    match ctx.session_event.as_ref().map(|s| &s.event) {
        Some(SessionEvent::Started { .. }) => "incident.agent_session.started".to_owned(),
        Some(SessionEvent::PullRequestOpened { .. }) => "incident.agent_session.pull_request_opened".to_owned(),
        Some(SessionEvent::PostmortemReady { .. }) => "incident.agent_session.postmortem_ready".to_owned(),
        None => format!("incident.{}", ctx.transition),
    }
}

/// When the transition happened: the incident's `created_at`, `acknowledged_at` or
/// `resolved_at` (its `updated_at` when that is unknown); when a session event was recorded. Taken
/// from what is stored, not the clock, so a retry sends the same time.
pub fn occurred_at(ctx: &DispatchContext) -> Millis {
    if let Some(s) = &ctx.session_event {
        return s.occurred_at;
    }
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
/// was resolved says `"status": "resolved"`); `event_type` says which transition or session event
/// this is, and a session event's `data` also has the session and what it produced.
pub fn envelope(ctx: &DispatchContext, event_id: &str) -> Value {
    let mut envelope = incident_envelope(ctx, event_id);
    if let (Some(s), Some(data)) = (&ctx.session_event, envelope["event"]["data"].as_object_mut()) {
        data.extend(session_data(s));
    }
    envelope
}

/// The session event's fields of `event.data`.
fn session_data(s: &SessionEventContext) -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    let session_id = match &s.event {
        SessionEvent::Started { session_id } | SessionEvent::PostmortemReady { session_id } => {
            Some(session_id.as_str())
        }
        SessionEvent::PullRequestOpened { .. } => s.session.as_ref().map(|r| r.session_id.as_str()),
    };
    let session = s.session.as_ref();
    data.insert(
        "agent_session".into(),
        json!({
            "id": session_id,
            "type": "agent_session",
            "html_url": session.map(|r| &r.url),
            "status": session.map(|r| &r.status),
            "action": session.map(|r| &r.action),
        }),
    );
    if let Some(pr) = s.pull_request() {
        data.insert("pull_request".into(), json!({"html_url": pr.pr_url, "state": pr.pr_state}));
    }
    if let Some(url) = &s.postmortem_url {
        data.insert("postmortem".into(), json!({"html_url": url, "content_type": "text/markdown"}));
    }
    data
}

fn incident_envelope(ctx: &DispatchContext, event_id: &str) -> Value {
    let i = &ctx.incident;
    json!({
        "event": {
            "id": event_id,
            "event_type": event_type(ctx),
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
            session_event: None,
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

    fn session_ctx(event: SessionEvent, postmortem_url: Option<&str>) -> DispatchContext {
        let mut c = ctx(event.trigger().as_str(), IncidentStatus::Acknowledged, None);
        c.dispatch_key = format!("{}:{}", c.dispatch_key, event.subject());
        let session = crate::store::AgentSessionRecord::example();
        c.session_event = Some(SessionEventContext {
            event,
            session: Some(session),
            occurred_at: Millis(1_601_664_400_000),
            postmortem_url: postmortem_url.map(str::to_owned),
        });
        c
    }

    #[test]
    fn session_events_have_their_own_type_and_data() {
        let c = session_ctx(SessionEvent::Started { session_id: "devin-1".into() }, None);
        let e = &envelope(&c, "x")["event"];
        assert_eq!(e["event_type"], "incident.agent_session.started");
        assert_eq!(e["resource_type"], "incident");
        assert_eq!(e["occurred_at"], "2020-10-02T18:46:40.000Z", "when the event was recorded");
        assert_eq!(e["data"]["title"], "A little bump in the road", "the incident's data as for transitions");
        assert_eq!(
            e["data"]["agent_session"],
            json!({"id": "devin-1", "type": "agent_session", "html_url": "https://app.devin.ai/sessions/1",
                   "status": "running", "action": "devin-triage"})
        );
        assert!(e["data"].get("pull_request").is_none() && e["data"].get("postmortem").is_none());

        let c = session_ctx(SessionEvent::PullRequestOpened { pr_url: "https://github.com/o/r/pull/1".into() }, None);
        let e = &envelope(&c, "x")["event"];
        assert_eq!(e["event_type"], "incident.agent_session.pull_request_opened");
        assert_eq!(e["data"]["pull_request"], json!({"html_url": "https://github.com/o/r/pull/1", "state": "open"}));
        assert_eq!(e["data"]["agent_session"]["id"], "devin-1", "the session that opened it");

        let md = "https://firehouse.example.com/api/v1/incidents/0b5e7c1e-2f0a-4c1b-9d7e-5a1f3c2b4d6e/postmortem.md";
        let c = session_ctx(SessionEvent::PostmortemReady { session_id: "devin-1".into() }, Some(md));
        let e = &envelope(&c, "x")["event"];
        assert_eq!(e["event_type"], "incident.agent_session.postmortem_ready");
        assert_eq!(e["data"]["postmortem"], json!({"html_url": md, "content_type": "text/markdown"}));

        // A pull request whose session is no longer followed still names its URL.
        let mut c =
            session_ctx(SessionEvent::PullRequestOpened { pr_url: "https://github.com/o/r/pull/9".into() }, None);
        c.session_event.as_mut().unwrap().session = None;
        let d = &envelope(&c, "x")["event"]["data"];
        assert_eq!(d["pull_request"], json!({"html_url": "https://github.com/o/r/pull/9", "state": null}));
        assert!(d["agent_session"]["id"].is_null() && d["agent_session"]["html_url"].is_null());
    }
}
