//! The Flashduty-style unified path: one URL for v1 and v2 bodies, the key in the query or the body.

use super::fields::InvalidEvent;
use super::{events_v1, events_v2, KeyedAlert};
use crate::domain::Protocol;
use serde_json::{Map, Value};

/// Tells v1 from v2 by the body's non-empty fields; v2 when nothing says otherwise.
pub fn detect(obj: &Map<String, Value>) -> Protocol {
    if !events_v2::looks_like_v2(obj) && events_v1::looks_like_v1(obj) {
        Protocol::V1
    } else {
        Protocol::V2
    }
}

/// Reads a body of either version; the answer must be given in the same version.
pub fn parse(obj: Map<String, Value>, query_key: Option<&str>) -> (Protocol, Result<KeyedAlert, InvalidEvent>) {
    let query_key = query_key.filter(|k| !k.trim().is_empty());
    match detect(&obj) {
        Protocol::V1 => (Protocol::V1, events_v1::parse(obj, query_key)),
        _ => (Protocol::V2, events_v2::parse(obj, query_key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::parse_object;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        parse_object(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn detects_the_version_by_its_fields() {
        assert_eq!(detect(&obj(json!({"service_key": "k", "event_type": "trigger"}))), Protocol::V1);
        assert_eq!(detect(&obj(json!({"incident_key": "i", "event_type": "resolve"}))), Protocol::V1);
        assert_eq!(detect(&obj(json!({"routing_key": "k", "event_action": "trigger"}))), Protocol::V2);
        assert_eq!(detect(&obj(json!({"summary": "?"}))), Protocol::V2);
        // Alertmanager's v1 body carries empty v2 fields.
        assert_eq!(
            detect(&obj(json!({"service_key": "k", "event_type": "trigger", "event_action": "", "payload": null}))),
            Protocol::V1
        );
    }

    #[test]
    fn v1_and_v2_give_the_same_event() {
        let (_, v1) = parse(obj(json!({"event_type": "resolve", "incident_key": "abc"})), Some("key"));
        let (_, v2) = parse(obj(json!({"event_action": "resolve", "dedup_key": "abc"})), Some("key"));
        assert_eq!(v1.unwrap(), v2.unwrap());
    }

    #[test]
    fn a_blank_query_key_does_not_count() {
        let (_, r) = parse(obj(json!({"event_action": "resolve", "dedup_key": "abc"})), Some(""));
        assert_eq!(r.unwrap_err().errors, vec!["routing_key is required"]);
    }
}
