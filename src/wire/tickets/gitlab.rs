//! GitLab issue hooks (`X-Gitlab-Event: Issue Hook`, or `Confidential Issue Hook`).
//!
//! `object_attributes.action` `open`, `update` and `reopen` make a ticket; `close`, other hooks (notes,
//! merge requests, …) and work items other than issues (`object_kind: work_item`) are ignored. The id is
//! `group/project#iid` (`project.path_with_namespace`, `object_attributes.iid`); title, description
//! (`null` when empty) and url come from `object_attributes`; labels are `labels[].title` (the top level,
//! else `object_attributes.labels`); the reporter is `user.username` (who acted).
//!
//! When the event header is absent `object_kind` decides.

use super::{
    id_at, labels_at, optional_text, parse_body, required_str, str_at, value_at, InvalidWebhook, Ticket, TicketEvent,
};

/// The actions that make a ticket.
pub const ACTIONS: [&str; 3] = ["open", "update", "reopen"];

/// Parses a GitLab delivery; `event_header` is `X-Gitlab-Event`.
pub fn parse(body: &[u8], event_header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
    let obj = parse_body(body)?;
    let kind = str_at(&obj, &["object_kind"]);
    match (event_header.map(str::trim), kind) {
        (Some("Issue Hook" | "Confidential Issue Hook"), _) | (None, Some("issue" | "work_item")) => {}
        (Some(other), _) => return Ok(TicketEvent::Ignored(format!("GitLab event {other:?} is not an issue hook"))),
        (None, Some(other)) => {
            return Ok(TicketEvent::Ignored(format!("GitLab object_kind {other:?} is not an issue")))
        }
        (None, None) => {
            return Err(InvalidWebhook::new("X-Gitlab-Event header is missing and the body has no object_kind"))
        }
    }
    match kind {
        Some("issue") => {}
        Some(other) => return Ok(TicketEvent::Ignored(format!("GitLab object_kind {other:?} is not an issue"))),
        None => return Err(InvalidWebhook::new("object_kind is required")),
    }
    if !matches!(obj.get("object_attributes"), Some(serde_json::Value::Object(_))) {
        return Err(InvalidWebhook::new("object_attributes is required (an object)"));
    }
    let action = match str_at(&obj, &["object_attributes", "action"]) {
        Some(a) if ACTIONS.contains(&a) => a.to_owned(),
        Some(a) => return Ok(TicketEvent::Ignored(format!("GitLab issue action {a:?} is ignored"))),
        None => return Ok(TicketEvent::Ignored("GitLab issue hook without an action".to_owned())),
    };
    let iid = id_at(&obj, &["object_attributes", "iid"])?;
    let id = match str_at(&obj, &["project", "path_with_namespace"]) {
        Some(path) => format!("{path}#{iid}"),
        None => format!("#{iid}"),
    };
    let labels = match value_at(&obj, &["labels"]) {
        Some(serde_json::Value::Array(_)) => labels_at(&obj, &["labels"], Some("title"))?,
        _ => labels_at(&obj, &["object_attributes", "labels"], Some("title"))?,
    };
    Ok(TicketEvent::Ticket(Ticket {
        id,
        title: required_str(&obj, &["object_attributes", "title"])?,
        description: optional_text(&obj, &["object_attributes", "description"])?,
        labels,
        url: str_at(&obj, &["object_attributes", "url"]).map(str::to_owned),
        reporter: str_at(&obj, &["user", "username"]).map(str::to_owned),
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn hook(action: &str) -> Value {
        json!({
            "object_kind": "issue", "event_type": "issue",
            "user": {"username": "root"},
            "project": {"path_with_namespace": "group/project"},
            "object_attributes": {"iid": 7, "title": "Disk full", "description": null, "url": "http://gl/group/project/-/issues/7",
                                  "action": action, "labels": [{"title": "old"}]},
            "labels": [{"title": "API"}, {"title": "devin-autofix"}],
        })
    }

    fn run(v: Value, header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
        parse(v.to_string().as_bytes(), header)
    }

    #[test]
    fn open_update_and_reopen_make_tickets() {
        for action in ACTIONS {
            let TicketEvent::Ticket(t) = run(hook(action), Some("Issue Hook")).unwrap() else { panic!("{action}") };
            assert_eq!(t.id, "group/project#7");
            assert_eq!(t.title, "Disk full");
            assert_eq!(t.description, "");
            assert_eq!(t.labels, vec!["API", "devin-autofix"]);
            assert_eq!(t.url.as_deref(), Some("http://gl/group/project/-/issues/7"));
            assert_eq!(t.reporter.as_deref(), Some("root"));
            assert_eq!(t.action, action);
        }
    }

    #[test]
    fn labels_fall_back_to_object_attributes() {
        let mut v = hook("open");
        v.as_object_mut().unwrap().remove("labels");
        let TicketEvent::Ticket(t) = run(v, None).unwrap() else { panic!() };
        assert_eq!(t.labels, vec!["old"]);
    }

    #[test]
    fn others_are_ignored() {
        assert!(matches!(run(hook("close"), Some("Issue Hook")), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(hook("open"), Some("Note Hook")), Ok(TicketEvent::Ignored(_))));
        let mut v = hook("open");
        v["object_kind"] = json!("work_item");
        assert!(matches!(run(v, Some("Issue Hook")), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(json!({"object_kind": "push"}), None), Ok(TicketEvent::Ignored(_))));
    }

    #[test]
    fn refusals() {
        assert!(run(json!({}), None).unwrap_err().message.contains("X-Gitlab-Event"));
        let mut v = hook("open");
        v["object_attributes"]["iid"] = Value::Null;
        assert_eq!(run(v, Some("Issue Hook")).unwrap_err().message, "object_attributes.iid is required");
        assert_eq!(
            run(json!({"object_kind": "issue"}), Some("Issue Hook")).unwrap_err().message,
            "object_attributes is required (an object)"
        );
    }
}
