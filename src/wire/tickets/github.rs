//! GitHub `issues` webhooks (`X-GitHub-Event: issues`).
//!
//! Actions `opened`, `labeled` and `reopened` make a ticket; other actions (closed, edited, assigned, …),
//! `ping` and every other event are ignored. The ticket's id is `owner/repo#number`
//! (`repository.full_name` and `issue.number`); the description is `issue.body` (`null` when empty), the
//! labels `issue.labels[].name`, the link `issue.html_url`, the reporter `issue.user.login`.
//!
//! When the event header is absent the body decides: an `issue` with an `action` is an issues event, a
//! `zen` and `hook_id` a ping.

use super::{id_at, labels_at, optional_text, parse_body, required_str, str_at, InvalidWebhook, Ticket, TicketEvent};

/// The actions that make a ticket.
pub const ACTIONS: [&str; 3] = ["opened", "labeled", "reopened"];

/// Parses a GitHub delivery; `event_header` is `X-GitHub-Event`.
pub fn parse(body: &[u8], event_header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
    let obj = parse_body(body)?;
    let event = match event_header.map(str::trim) {
        Some(e) => e,
        None if obj.contains_key("issue") && obj.contains_key("action") => "issues",
        None if obj.contains_key("zen") && obj.contains_key("hook_id") => "ping",
        None => {
            return Err(InvalidWebhook::new("X-GitHub-Event header is missing and the body is not an issues event"))
        }
    };
    match event {
        "issues" => {}
        "ping" => return Ok(TicketEvent::Ignored("GitHub ping".to_owned())),
        other => return Ok(TicketEvent::Ignored(format!("GitHub event {other:?} is not an issues event"))),
    }
    let action = required_str(&obj, &["action"])?;
    if !ACTIONS.contains(&action.as_str()) {
        return Ok(TicketEvent::Ignored(format!("GitHub issues action {action:?} is ignored")));
    }
    if !matches!(obj.get("issue"), Some(serde_json::Value::Object(_))) {
        return Err(InvalidWebhook::new("issue is required (an object)"));
    }
    let number = id_at(&obj, &["issue", "number"])?;
    let id = match str_at(&obj, &["repository", "full_name"]) {
        Some(repo) => format!("{repo}#{number}"),
        None => format!("#{number}"),
    };
    Ok(TicketEvent::Ticket(Ticket {
        id,
        title: required_str(&obj, &["issue", "title"])?,
        description: optional_text(&obj, &["issue", "body"])?,
        labels: labels_at(&obj, &["issue", "labels"], Some("name"))?,
        url: str_at(&obj, &["issue", "html_url"]).map(str::to_owned),
        reporter: str_at(&obj, &["issue", "user", "login"]).map(str::to_owned),
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn issues(action: &str, body: Value) -> Value {
        json!({
            "action": action,
            "issue": {"number": 42, "title": "Checkout fails", "body": body, "html_url": "https://github.com/o/r/issues/42",
                      "user": {"login": "octocat"}, "labels": [{"name": "bug"}, {"name": "devin-autofix"}]},
            "repository": {"full_name": "o/r"},
        })
    }

    fn run(v: Value, header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
        parse(v.to_string().as_bytes(), header)
    }

    #[test]
    fn opened_labeled_and_reopened_make_tickets() {
        for action in ACTIONS {
            let TicketEvent::Ticket(t) = run(issues(action, json!("It broke")), Some("issues")).unwrap() else {
                panic!("{action} ignored");
            };
            assert_eq!(t.id, "o/r#42");
            assert_eq!(t.title, "Checkout fails");
            assert_eq!(t.description, "It broke");
            assert_eq!(t.labels, vec!["bug", "devin-autofix"]);
            assert_eq!(t.url.as_deref(), Some("https://github.com/o/r/issues/42"));
            assert_eq!(t.reporter.as_deref(), Some("octocat"));
            assert_eq!(t.action, action);
        }
    }

    #[test]
    fn a_null_body_is_an_empty_description() {
        let TicketEvent::Ticket(t) = run(issues("opened", Value::Null), Some("issues")).unwrap() else { panic!() };
        assert_eq!(t.description, "");
    }

    #[test]
    fn other_actions_and_events_are_ignored() {
        assert!(matches!(run(issues("closed", Value::Null), Some("issues")), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(json!({"zen": "z", "hook_id": 1}), Some("ping")), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(json!({"zen": "z", "hook_id": 1}), None), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(issues("created", Value::Null), Some("issue_comment")), Ok(TicketEvent::Ignored(_))));
    }

    #[test]
    fn without_a_header_the_body_decides() {
        assert!(matches!(run(issues("opened", Value::Null), None), Ok(TicketEvent::Ticket(_))));
        assert!(run(json!({"a": 1}), None).unwrap_err().message.contains("X-GitHub-Event"));
    }

    #[test]
    fn refusals() {
        let mut v = issues("opened", Value::Null);
        v["issue"]["title"] = Value::Null;
        assert_eq!(run(v, Some("issues")).unwrap_err().message, "issue.title is required");
        assert_eq!(
            run(json!({"action": "opened"}), Some("issues")).unwrap_err().message,
            "issue is required (an object)"
        );
        let mut v = issues("opened", Value::Null);
        v["repository"] = Value::Null;
        let TicketEvent::Ticket(t) = run(v, Some("issues")).unwrap() else { panic!() };
        assert_eq!(t.id, "#42");
    }
}
