//! Events API v2 change events (`POST /v2/change/enqueue`).

use super::fields::{self, InvalidEvent, Reader};
use super::KeyedChange;
use crate::domain::{AlertDetails, ChangeEvent, IntegrationKey};
use serde_json::{Map, Value};

/// Reads a change event.
pub fn parse(mut obj: Map<String, Value>) -> Result<KeyedChange, InvalidEvent> {
    let mut r = Reader::new(&obj);
    let key = r.required_string("routing_key");
    let links = r.links("links");
    let payload = r.object("payload");
    if payload.is_none() && r.value("payload").is_none() {
        r.problem("payload", "is required");
    }
    let mut event = None;
    if let Some(p) = payload {
        let mut pr = Reader::nested(p, "payload");
        let summary = pr.required_string("summary");
        let summary = pr.bounded(summary, "summary", AlertDetails::SUMMARY_MAX_CHARS);
        let source = pr.string("source");
        let timestamp = pr.timestamp("timestamp");
        r.merge(pr);
        // Custom details are moved in below, once the event is known to be whole.
        event = summary.map(|summary| ChangeEvent { summary, source, timestamp, custom_details: None, links });
    }
    r.finish()?;
    if let Some(e) = event.as_mut() {
        e.custom_details = fields::take_custom_details(&mut obj);
    }
    match (key, event) {
        (Some(key), Some(event)) => Ok(KeyedChange { integration_key: IntegrationKey::new(key), event }),
        _ => unreachable!("missing fields are recorded as problems"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::parse_object;
    use serde_json::json;

    #[test]
    fn reads_pagerdutys_example() {
        let body = json!({"routing_key": "k", "payload": {"summary": "Build Success", "timestamp": "2020-07-17T08:42:58.315+0000",
            "source": "ci", "custom_details": {"build_state": "passed"}}, "links": [{"href": "https://x", "text": "t"}]});
        let c = parse(parse_object(body.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(c.event.summary, "Build Success");
        assert_eq!(c.event.links.len(), 1);
        assert!(c.event.timestamp.is_some());
        assert_eq!(c.event.custom_details, Some(json!({"build_state": "passed"})));
    }

    #[test]
    fn summary_is_required() {
        let body = json!({"routing_key": "k", "payload": {}});
        let errs = parse(parse_object(body.to_string().as_bytes()).unwrap()).unwrap_err().errors;
        assert_eq!(errs, vec!["payload.summary is required"]);
        let body = json!({});
        let errs = parse(parse_object(body.to_string().as_bytes()).unwrap()).unwrap_err().errors;
        assert_eq!(errs, vec!["routing_key is required", "payload is required"]);
    }
}
