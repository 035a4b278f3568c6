//! The generic ticket webhook of a custom or self-hosted tracker (seed 003, "auto-fix tickets via webhook"):
//! a JSON body `{id, title, description, labels, url?, reporter?}` sent when a ticket is created, signed
//! with HMAC-SHA256 by the sender.
//!
//! `id` may be a string or an integer; `labels` is an array of strings (absent or `null`: none);
//! `description`, `url` and `reporter` may be absent or `null`. Every delivery is a ticket with action
//! `created` (the sender is set up to send only "ticket created" events).

use super::{id_at, labels_at, optional_text, parse_body, required_str, str_at, InvalidWebhook, Ticket, TicketEvent};

/// Parses a generic ticket delivery. `event_header` is not used: the format has no event names.
pub fn parse(body: &[u8], _event_header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
    let obj = parse_body(body)?;
    let id = id_at(&obj, &["id"])?;
    let title = required_str(&obj, &["title"])?;
    let description = optional_text(&obj, &["description"])?;
    let labels = labels_at(&obj, &["labels"], None)?;
    optional_text(&obj, &["url"])?;
    optional_text(&obj, &["reporter"])?;
    Ok(TicketEvent::Ticket(Ticket {
        id,
        title,
        description,
        labels,
        url: str_at(&obj, &["url"]).map(str::to_owned),
        reporter: str_at(&obj, &["reporter"]).map(str::to_owned),
        action: "created".to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ticket(v: Value) -> Ticket {
        match parse(v.to_string().as_bytes(), None).unwrap() {
            TicketEvent::Ticket(t) => t,
            other => panic!("{other:?}"),
        }
    }

    fn refusal(v: Value) -> String {
        parse(v.to_string().as_bytes(), None).unwrap_err().message
    }

    #[test]
    fn the_seed_fields_make_a_ticket() {
        let t = ticket(json!({"id": 1234, "title": "Checkout fails", "description": "500 on /pay",
                              "labels": ["devin-autofix", "payments"]}));
        assert_eq!(t.id, "1234");
        assert_eq!(t.title, "Checkout fails");
        assert_eq!(t.description, "500 on /pay");
        assert_eq!(t.labels, vec!["devin-autofix", "payments"]);
        assert_eq!((t.url, t.reporter, t.action.as_str()), (None, None, "created"));
    }

    #[test]
    fn optional_fields() {
        let t = ticket(json!({"id": "T-9", "title": "x", "description": null, "url": "https://t.example/T-9",
                              "reporter": "ana"}));
        assert_eq!(t.id, "T-9");
        assert_eq!(t.description, "");
        assert!(t.labels.is_empty());
        assert_eq!(t.url.as_deref(), Some("https://t.example/T-9"));
        assert_eq!(t.reporter.as_deref(), Some("ana"));
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(refusal(json!({"title": "x"})), "id is required");
        assert_eq!(refusal(json!({"id": true, "title": "x"})), "id must be a string or an integer");
        assert_eq!(refusal(json!({"id": 1})), "title is required");
        assert_eq!(refusal(json!({"id": 1, "title": ""})), "title must not be blank");
        assert_eq!(refusal(json!({"id": 1, "title": "x", "labels": "a"})), "labels must be an array");
        assert_eq!(refusal(json!({"id": 1, "title": "x", "labels": [1]})), "labels must be an array of strings");
        assert_eq!(refusal(json!({"id": 1, "title": "x", "description": 3})), "description must be a string or null");
        assert!(parse(b"nope", None).unwrap_err().message.contains("not valid JSON"));
    }
}
