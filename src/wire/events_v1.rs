//! Events API v1 (`POST /generic/2010-04-15/create_event.json`).

use super::fields::{self, InvalidEvent, Reader};
use super::KeyedAlert;
use crate::domain::{AlertDetails, AlertEvent, DedupKey, EventAction, Image, IntegrationKey, Link, Severity};
use serde_json::{Map, Value};

const EVENT_TYPES: &str = "trigger acknowledge resolve";

/// Whether a JSON object looks like a v1 event (by non-empty v1 fields).
pub fn looks_like_v1(obj: &Map<String, Value>) -> bool {
    ["event_type", "service_key", "incident_key"].iter().any(|f| super::fields::has_value(obj, f))
}

/// Reads a v1 event. v1 has no severity: triggers are `critical`, as PagerDuty treats them as high
/// urgency. `key_override` (the unified path's `?integration_key=`) wins over `service_key`.
pub fn parse(mut obj: Map<String, Value>, key_override: Option<&str>) -> Result<KeyedAlert, InvalidEvent> {
    let mut r = Reader::new(&obj);
    let body_key = if key_override.is_some() { r.string("service_key") } else { r.required_string("service_key") };
    let key = key_override.map(str::to_owned).or(body_key);
    let action = match r.value("event_type") {
        None => {
            r.problem("event_type", "is required");
            None
        }
        Some(_) => r.one_of("event_type", EVENT_TYPES, |s| s.parse::<EventAction>().ok()),
    };
    let incident_key = r.dedup_key("incident_key");
    let description = match action {
        Some(EventAction::Trigger) => r.required_string("description"),
        _ => r.string("description"),
    };
    let description = r.bounded(description, "description", AlertDetails::SUMMARY_MAX_CHARS);
    let client = r.string("client");
    let client_url = r.string("client_url");
    let (links, images) = contexts(&mut r);

    if let Some(a @ (EventAction::Acknowledge | EventAction::Resolve)) = action {
        if incident_key.is_none() && !r.has_problems_for("incident_key") {
            r.problem("incident_key", &format!("is required for {a} events"));
        }
    }
    r.finish()?;
    let (Some(key), Some(action)) = (key, action) else {
        unreachable!("a missing key or event type is recorded as a problem")
    };
    let details = description.map(|summary| AlertDetails {
        summary,
        source: None,
        severity: Severity::Critical,
        timestamp: None,
        component: None,
        group: None,
        class: None,
        custom_details: fields::take(&mut obj, "details"),
    });
    Ok(KeyedAlert {
        integration_key: IntegrationKey::new(key),
        event: AlertEvent {
            action,
            dedup_key: incident_key.unwrap_or_else(DedupKey::generate),
            details,
            client,
            client_url,
            links,
            images,
        },
    })
}

/// v1 `contexts`: `{type: "link", href, text?}` and `{type: "image", src, href?, alt?}`.
fn contexts(r: &mut Reader<'_>) -> (Vec<Link>, Vec<Image>) {
    let (mut links, mut images) = (Vec::new(), Vec::new());
    let Some(items) = r.array("contexts") else { return (links, images) };
    for (i, item) in items.iter().enumerate() {
        let path = format!("contexts[{i}]");
        let Some(obj) = item.as_object() else {
            r.problem_line(format!("{path} must be a JSON object"));
            continue;
        };
        let mut c = Reader::nested(obj, "");
        match obj.get("type").and_then(Value::as_str) {
            Some("link") => {
                let href = c.required_string("href");
                let text = c.string("text");
                if let Some(href) = href {
                    links.push(Link { href, text });
                }
            }
            Some("image") => {
                let src = c.required_string("src");
                let href = c.string("href");
                let alt = c.string("alt");
                if let Some(src) = src {
                    images.push(Image { src, href, alt });
                }
            }
            _ => c.problem("type", "is invalid (must be one of: link image)"),
        }
        r.absorb(c, &path);
    }
    (links, images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::parse_object;
    use serde_json::json;

    fn parse_json(v: Value) -> Result<KeyedAlert, InvalidEvent> {
        parse(parse_object(v.to_string().as_bytes()).unwrap(), None)
    }

    #[test]
    fn pagerduty_documented_error_line_for_a_bad_event_type() {
        let errs = parse_json(json!({"service_key": "k", "event_type": "boom"})).unwrap_err().errors;
        assert_eq!(errs, vec!["event_type is invalid (must be one of: trigger acknowledge resolve)"]);
    }

    #[test]
    fn triggers_need_a_description_and_become_critical() {
        let errs = parse_json(json!({"service_key": "k", "event_type": "trigger"})).unwrap_err().errors;
        assert_eq!(errs, vec!["description is required"]);
        let e = parse_json(json!({"service_key": "k", "event_type": "trigger", "description": "down",
            "details": {"a": 1},
            "contexts": [{"type": "link", "href": "http://x"}, {"type": "image", "src": "https://i"}]}))
        .unwrap();
        let d = e.event.details.unwrap();
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(d.custom_details, Some(json!({"a": 1})));
        assert_eq!((e.event.links.len(), e.event.images.len()), (1, 1));
    }

    #[test]
    fn ack_and_resolve_need_an_incident_key() {
        let errs = parse_json(json!({"service_key": "k", "event_type": "resolve"})).unwrap_err().errors;
        assert_eq!(errs, vec!["incident_key is required for resolve events"]);
    }

    #[test]
    fn bad_contexts_are_named() {
        let errs = parse_json(json!({"service_key": "k", "event_type": "trigger", "description": "d",
            "contexts": [{"type": "video"}]}))
        .unwrap_err()
        .errors;
        assert_eq!(errs, vec!["contexts[0].type is invalid (must be one of: link image)"]);
    }
}
