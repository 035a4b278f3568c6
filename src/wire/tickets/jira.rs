//! Jira (Cloud and Data Center / Server) issue webhooks.
//!
//! `webhookEvent` `jira:issue_created` and `jira:issue_updated` make a ticket (action `created` /
//! `updated`); every other event (comments, deletions, worklogs, …) is ignored. The id is `issue.key`, the
//! title `issue.fields.summary`, the description `issue.fields.description` (a string, or an Atlassian
//! Document Format object whose text is flattened, one line per block), the labels `issue.fields.labels`.
//! The link is the browse URL built from `issue.self` (`https://host[/context]/browse/KEY`). The reporter is
//! `issue.fields.reporter.displayName`, else the acting `user.displayName`.
//!
//! Jira sends no event header; the event is named in the body.

use super::{labels_at, parse_body, required_str, str_at, value_at, InvalidWebhook, Ticket, TicketEvent};
use serde_json::Value;

/// Parses a Jira delivery. `event_header` is not used (Jira names the event in `webhookEvent`).
pub fn parse(body: &[u8], _event_header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
    let obj = parse_body(body)?;
    let event = required_str(&obj, &["webhookEvent"])?;
    let action = match event.as_str() {
        "jira:issue_created" => "created",
        "jira:issue_updated" => "updated",
        other => return Ok(TicketEvent::Ignored(format!("Jira event {other:?} is ignored"))),
    };
    if !matches!(obj.get("issue"), Some(Value::Object(_))) {
        return Err(InvalidWebhook::new("issue is required (an object)"));
    }
    let key = required_str(&obj, &["issue", "key"])?;
    let description = match value_at(&obj, &["issue", "fields", "description"]) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(adf @ Value::Object(_)) => adf_text(adf),
        Some(_) => {
            return Err(InvalidWebhook::new(
                "issue.fields.description must be a string, an Atlassian Document Format object or null",
            ))
        }
    };
    let url = str_at(&obj, &["issue", "self"]).and_then(|s| browse_url(s, &key));
    let reporter = str_at(&obj, &["issue", "fields", "reporter", "displayName"])
        .or_else(|| str_at(&obj, &["user", "displayName"]))
        .map(str::to_owned);
    Ok(TicketEvent::Ticket(Ticket {
        title: required_str(&obj, &["issue", "fields", "summary"])?,
        description,
        labels: labels_at(&obj, &["issue", "fields", "labels"], None)?,
        url,
        reporter,
        action: action.to_owned(),
        id: key,
    }))
}

/// `https://host[:port][/context]/browse/KEY` from an issue's REST `self` link
/// (`https://host[/context]/rest/api/2/issue/10001`).
pub fn browse_url(self_link: &str, key: &str) -> Option<String> {
    let (scheme, rest) = self_link.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty())?;
    let path = &rest[authority.len()..];
    let context = path.find("/rest/").map(|i| &path[..i]).unwrap_or("");
    Some(format!("{scheme}://{authority}{context}/browse/{key}"))
}

/// The text of an Atlassian Document Format node: text nodes in order, hard breaks as newlines, one line
/// per block (paragraph, heading, list item, code block, …); mentions, emoji and dates by their text, inline
/// cards by their URL. Trailing whitespace is trimmed.
pub fn adf_text(node: &Value) -> String {
    let mut out = String::new();
    adf_walk(node, &mut out);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

fn adf_walk(node: &Value, out: &mut String) {
    let Some(obj) = node.as_object() else { return };
    let attr = |k: &str| obj.get("attrs").and_then(|a| a.get(k)).and_then(Value::as_str);
    match obj.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => out.push_str(obj.get("text").and_then(Value::as_str).unwrap_or("")),
        "hardBreak" => out.push('\n'),
        "mention" | "emoji" | "date" | "status" => {
            out.push_str(attr("text").or_else(|| attr("shortName")).or_else(|| attr("timestamp")).unwrap_or(""))
        }
        "inlineCard" => out.push_str(attr("url").unwrap_or("")),
        _ => {
            // A block: its content on lines of its own.
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if let Some(children) = obj.get("content").and_then(Value::as_array) {
                for child in children {
                    adf_walk(child, out);
                }
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(event: &str, description: Value) -> Value {
        json!({
            "webhookEvent": event,
            "user": {"displayName": "Ana"},
            "issue": {"key": "OPS-7", "self": "https://acme.atlassian.net/rest/api/2/issue/10007",
                      "fields": {"summary": "Disk full", "description": description, "labels": ["devin-autofix"]}},
        })
    }

    fn run(v: Value) -> Result<TicketEvent, InvalidWebhook> {
        parse(v.to_string().as_bytes(), None)
    }

    #[test]
    fn created_and_updated_make_tickets() {
        for (event, action) in [("jira:issue_created", "created"), ("jira:issue_updated", "updated")] {
            let TicketEvent::Ticket(t) = run(hook(event, json!("It is full"))).unwrap() else { panic!() };
            assert_eq!(t.id, "OPS-7");
            assert_eq!(t.title, "Disk full");
            assert_eq!(t.description, "It is full");
            assert_eq!(t.labels, vec!["devin-autofix"]);
            assert_eq!(t.url.as_deref(), Some("https://acme.atlassian.net/browse/OPS-7"));
            assert_eq!(t.reporter.as_deref(), Some("Ana"));
            assert_eq!(t.action, action);
        }
    }

    #[test]
    fn the_reporter_field_wins_over_the_acting_user() {
        let mut v = hook("jira:issue_updated", Value::Null);
        v["issue"]["fields"]["reporter"] = json!({"displayName": "Bo"});
        let TicketEvent::Ticket(t) = run(v).unwrap() else { panic!() };
        assert_eq!((t.reporter.as_deref(), t.description.as_str()), (Some("Bo"), ""));
    }

    #[test]
    fn adf_descriptions_are_flattened() {
        let adf = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Impact"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Checkout "}, {"type": "text", "text": "fails", "marks": [{"type": "strong"}]},
                {"type": "hardBreak"}, {"type": "text", "text": "for "},
                {"type": "mention", "attrs": {"id": "1", "text": "@ana"}},
            ]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "EU"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "US"}]}]},
            ]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "HTTP 500"}]},
            {"type": "paragraph", "content": [{"type": "inlineCard", "attrs": {"url": "https://status.example"}}]},
        ]});
        assert_eq!(adf_text(&adf), "Impact\nCheckout fails\nfor @ana\nEU\nUS\nHTTP 500\nhttps://status.example");
        let TicketEvent::Ticket(t) = run(hook("jira:issue_created", adf)).unwrap() else { panic!() };
        assert!(t.description.starts_with("Impact\nCheckout fails"));
        assert_eq!(adf_text(&json!({"type": "doc", "version": 1, "content": []})), "");
    }

    #[test]
    fn browse_urls_keep_port_and_context_path() {
        assert_eq!(
            browse_url("https://jira.atlassian.com/rest/api/2/issue/99291", "JRA-1").as_deref(),
            Some("https://jira.atlassian.com/browse/JRA-1")
        );
        assert_eq!(
            browse_url("http://jira.local:8080/jira/rest/api/2/issue/1", "A-1").as_deref(),
            Some("http://jira.local:8080/jira/browse/A-1")
        );
        assert_eq!(browse_url("https://h.example", "A-1").as_deref(), Some("https://h.example/browse/A-1"));
        assert_eq!(browse_url("not a url", "A-1"), None);
        assert_eq!(browse_url("ftp://h/rest/x", "A-1"), None);
    }

    #[test]
    fn other_events_are_ignored_and_bad_bodies_refused() {
        assert!(matches!(run(json!({"webhookEvent": "comment_created"})), Ok(TicketEvent::Ignored(_))));
        assert!(matches!(run(json!({"webhookEvent": "jira:issue_deleted"})), Ok(TicketEvent::Ignored(_))));
        assert_eq!(run(json!({})).unwrap_err().message, "webhookEvent is required");
        assert_eq!(
            run(json!({"webhookEvent": "jira:issue_created"})).unwrap_err().message,
            "issue is required (an object)"
        );
        let mut v = hook("jira:issue_created", json!(5));
        assert!(run(v.clone()).unwrap_err().message.starts_with("issue.fields.description must be"));
        v["issue"]["fields"]["description"] = Value::Null;
        v["issue"]["key"] = Value::Null;
        assert_eq!(run(v).unwrap_err().message, "issue.key is required");
    }
}
