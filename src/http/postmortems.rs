//! `GET /api/v1/incidents/{id}/postmortem.md`: the postmortem an agent session delivered for an incident (its
//! structured output: summary, timeline, root cause, action items), as Markdown.

use super::error::{ApiError, ErrorBody};
use super::incidents::IncidentId;
use super::AppState;
use crate::domain::Incident;
use crate::store::{IncidentRef, PostmortemRecord};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write as _;

/// `GET /api/v1/incidents/{id}/postmortem.md` (id or number): 404 until a postmortem has arrived.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/postmortem.md",
    operation_id = "get_postmortem",
    tag = "incidents",
    summary = "Get an incident's postmortem, as Markdown",
    description = "The postmortem an agent session delivered as structured output (the postmortem flow of a Devin \
                   action): title, the incident's facts, a link to the session, then the summary, the timeline, the \
                   root cause and the action items.",
    params(IncidentId),
    responses(
        (status = 200, description = "The postmortem", content_type = "text/markdown", body = String),
        (status = 404, description = "No such incident, or no postmortem for it yet", body = ErrorBody),
    )
)]
pub async fn markdown(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let r = IncidentRef::parse(&id);
    let incident = state.store.get_incident(&r).await?.ok_or_else(|| ApiError::NotFound("no such incident".into()))?;
    let postmortem = state
        .store
        .postmortem(incident.number)
        .await?
        .ok_or_else(|| ApiError::NotFound("no postmortem for this incident yet".into()))?;
    let disposition = format!("inline; filename=\"incident-{}-postmortem.md\"", incident.number);
    let headers =
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)];
    Ok((headers, render(&incident, &postmortem)).into_response())
}

/// The postmortem as Markdown: a title, the incident's facts and a link to the session, then the summary, the
/// timeline, the root cause and the action items (each marked when the agent left it out).
pub fn render(incident: &Incident, p: &PostmortemRecord) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Postmortem: {}\n", one_line(&incident.title));
    let _ = writeln!(
        md,
        "- **Incident**: #{} ({}), service {}, severity {}",
        incident.number,
        incident.id,
        one_line(&incident.service),
        incident.severity.as_str()
    );
    let resolved = incident.resolved_at.map_or_else(|| "not resolved".to_owned(), |t| t.to_rfc3339());
    let _ = writeln!(md, "- **Opened**: {}, **resolved**: {resolved}", incident.created_at.to_rfc3339());
    let _ =
        writeln!(md, "- **Written by** agent session [{}](<{}>), {}\n", p.session_id, p.url, p.updated_at.to_rfc3339());

    md.push_str("## Summary\n\n");
    paragraph(&mut md, p.body.get("summary"));

    md.push_str("## Timeline\n\n");
    match p.body.get("timeline").and_then(Value::as_array).filter(|items| !items.is_empty()) {
        Some(items) => {
            for item in items {
                let (time, event) = match item {
                    Value::Object(o) => (o.get("time").map(text).unwrap_or_default(), o.get("event").map(text)),
                    other => (String::new(), Some(text(other))),
                };
                let event = one_line(&event.unwrap_or_default());
                if time.is_empty() {
                    let _ = writeln!(md, "- {event}");
                } else {
                    let _ = writeln!(md, "- **{}**: {event}", one_line(&time));
                }
            }
            md.push('\n');
        }
        None => md.push_str("_Not provided._\n\n"),
    }

    md.push_str("## Root cause\n\n");
    paragraph(&mut md, p.body.get("root_cause"));

    md.push_str("## Action items\n\n");
    match p.body.get("action_items").and_then(Value::as_array).filter(|items| !items.is_empty()) {
        Some(items) => {
            for item in items {
                let _ = writeln!(md, "- [ ] {}", one_line(&text(item)));
            }
        }
        None => md.push_str("_Not provided._\n"),
    }
    md
}

fn paragraph(md: &mut String, value: Option<&Value>) {
    match value.map(text).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(t) => {
            md.push_str(&t);
            md.push_str("\n\n");
        }
        None => md.push_str("_Not provided._\n\n"),
    }
}

/// A string as it is; anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Line breaks folded, so a value stays inside its list item or heading.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IncidentStatus, Millis, Severity, Urgency};
    use serde_json::json;

    fn incident() -> Incident {
        Incident {
            id: "0190-abc".into(),
            number: 12,
            status: IncidentStatus::Resolved,
            dedup_key: "pool".into(),
            service: "payments".into(),
            title: "Connection pool\nexhausted".into(),
            severity: Severity::Critical,
            urgency: Urgency::High,
            source: None,
            component: None,
            group: None,
            class: None,
            created_at: Millis(1_770_733_920_000),
            acknowledged_at: None,
            resolved_at: Some(Millis(1_770_736_680_000)),
            updated_at: Millis(1_770_736_680_000),
            event_count: 3,
            last_event_at: None,
            origin: crate::domain::external::Origin::Events,
            external_id: None,
            external_url: None,
            description: None,
            labels: vec![],
        }
    }

    fn postmortem(body: Value) -> PostmortemRecord {
        PostmortemRecord {
            incident_number: 12,
            session_id: "devin-1".into(),
            url: "https://app.devin.ai/sessions/1".into(),
            body,
            created_at: Millis(1_770_737_000_000),
            updated_at: Millis(1_770_737_000_000),
        }
    }

    #[test]
    fn renders_every_section() {
        let md = render(
            &incident(),
            &postmortem(json!({
                "summary": "Checkout failed for 46 minutes.",
                "timeline": [{"time": "14:32Z", "event": "Pool exhausted"}, {"time": "15:18Z", "event": "Pool\nresized"}],
                "root_cause": "Deploy #387 halved the pool.",
                "action_items": ["Alert on pool saturation", 42]
            })),
        );
        for line in [
            "# Postmortem: Connection pool exhausted",
            "- **Incident**: #12 (0190-abc), service payments, severity critical",
            "- **Opened**: 2026-02-10T14:32:00.000Z, **resolved**: 2026-02-10T15:18:00.000Z",
            "## Summary",
            "Checkout failed for 46 minutes.",
            "- **14:32Z**: Pool exhausted",
            "- **15:18Z**: Pool resized",
            "Deploy #387 halved the pool.",
            "- [ ] Alert on pool saturation",
            "- [ ] 42",
        ] {
            assert!(md.lines().any(|l| l == line), "missing {line:?} in:\n{md}");
        }
        assert!(md.contains("[devin-1](<https://app.devin.ai/sessions/1>)"), "{md}");
    }

    #[test]
    fn the_route_is_documented_as_markdown() {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(markdown))]
        struct Doc;
        let doc = serde_json::to_value(<Doc as utoipa::OpenApi>::openapi()).unwrap();
        let op = &doc["paths"]["/api/v1/incidents/{id}/postmortem.md"]["get"];
        assert_eq!(op["operationId"], "get_postmortem");
        assert_eq!(op["responses"]["200"]["content"]["text/markdown"]["schema"]["type"], "string", "{op}");
        assert!(op["responses"]["404"]["content"]["application/json"].is_object(), "{op}");
        assert_eq!(op["parameters"][0]["name"], "id");
    }

    #[test]
    fn missing_sections_say_so() {
        let md = render(&incident(), &postmortem(json!({"summary": "Short."})));
        assert_eq!(md.matches("_Not provided._").count(), 3, "{md}");
    }
}
