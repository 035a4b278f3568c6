//! The unified path `POST /event/push/alert/pagerduty`: v1 and v2 bodies on one URL, the key in
//! `?integration_key=` or in the body, each answered in its own version's shape.

mod common;

use common::*;
use serde_json::{json, Value};

/// One logical event, written as either version.
#[derive(Clone, Copy)]
enum Step {
    Trigger(&'static str),
    Acknowledge,
    Resolve,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    V1,
    V2,
}

/// The body of `step` in `version`, with the key in the body or not at all.
fn body(version: Version, step: Step, key_in_body: Option<&str>, dedup: &str) -> Value {
    let mut b = match (version, step) {
        (Version::V2, Step::Trigger(summary)) => json!({"event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": summary, "source": "web-1", "severity": "critical"}}),
        (Version::V2, Step::Acknowledge) => json!({"event_action": "acknowledge", "dedup_key": dedup}),
        (Version::V2, Step::Resolve) => json!({"event_action": "resolve", "dedup_key": dedup}),
        (Version::V1, Step::Trigger(summary)) => {
            json!({"event_type": "trigger", "incident_key": dedup, "description": summary})
        }
        (Version::V1, Step::Acknowledge) => json!({"event_type": "acknowledge", "incident_key": dedup}),
        (Version::V1, Step::Resolve) => json!({"event_type": "resolve", "incident_key": dedup}),
    };
    if let Some(key) = key_in_body {
        let field = if version == Version::V1 { "service_key" } else { "routing_key" };
        b[field] = json!(key);
    }
    b
}

/// The incident's state and timeline with what differs by protocol left out.
fn comparable(incident: &Value) -> Value {
    let timeline: Vec<Value> = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!([e["action"], e["outcome"], e["summary"], e["severity"]]))
        .collect();
    json!({
        "status": incident["status"],
        "title": incident["title"],
        "severity": incident["severity"],
        "urgency": incident["urgency"],
        "service": incident["service"],
        "event_count": incident["event_count"],
        "acknowledged": incident["acknowledged_at"].is_string(),
        "resolved": incident["resolved_at"].is_string(),
        "timeline": timeline,
    })
}

#[tokio::test]
async fn v1_and_v2_bodies_give_the_same_incidents_answered_in_their_own_shape() {
    let server = TestServer::open().await;
    let steps = [Step::Trigger("Disk full on db1"), Step::Trigger("Disk still full"), Step::Acknowledge, Step::Resolve];
    let expected_status = ["triggered", "triggered", "acknowledged", "resolved"];
    let mut results = Vec::new();
    for version in [Version::V1, Version::V2] {
        for key_in_query in [true, false] {
            let dedup = format!("eq-{version:?}-{key_in_query}");
            let (path, key_in_body) = if key_in_query {
                (format!("{UNIFIED_PATH}?integration_key={KEY}"), None)
            } else {
                (UNIFIED_PATH.to_owned(), Some(KEY))
            };
            for (step, status) in steps.iter().zip(expected_status) {
                let (code, answer) = server.post(&path, &body(version, *step, key_in_body, &dedup)).await;
                match version {
                    Version::V1 => assert_eq!((code, &answer), (200, &v1_success(&dedup))),
                    Version::V2 => assert_eq!((code, &answer), (202, &v2_success(&dedup))),
                }
                let incidents = server.incidents(&format!("dedup_key={dedup}")).await;
                assert_eq!(incidents.len(), 1, "{dedup}");
                assert_eq!(incidents[0]["status"], status, "{dedup}");
            }
            let number = server.incidents(&format!("dedup_key={dedup}")).await[0]["number"].clone();
            let incident = server.incident(number).await;
            let protocol = if version == Version::V1 { "v1" } else { "v2" };
            assert!(incident["timeline"].as_array().unwrap().iter().all(|e| e["protocol"] == protocol));
            results.push((dedup, comparable(&incident)));
        }
    }
    let expected = json!({
        "status": "resolved",
        "title": "Disk full on db1",
        "severity": "critical",
        "urgency": "high",
        "service": open_service_name(KEY),
        "event_count": 4,
        "acknowledged": true,
        "resolved": true,
        "timeline": [
            ["trigger", "opened", "Disk full on db1", "critical"],
            ["trigger", "appended", "Disk still full", "critical"],
            ["acknowledge", "acknowledged", null, null],
            ["resolve", "resolved", null, null],
        ],
    });
    for (dedup, state) in &results {
        assert_eq!(state, &expected, "{dedup}");
    }
    assert_eq!(server.incident_total().await, 4);
}

#[tokio::test]
async fn every_alert_fixture_is_answered_as_on_its_own_path() {
    for name in fixture_names().into_iter().filter(|n| !n.contains("_change")) {
        let server = TestServer::open().await;
        let sent = fixture_json(&name);
        let (status, answer) = server.post_raw(UNIFIED_PATH, fixture(&name)).await;
        if name.contains("_v1_") {
            assert_eq!(status, 200, "{name}: {answer}");
            let key = answer["incident_key"].as_str().unwrap_or_else(|| panic!("{name}: {answer}"));
            assert_eq!(answer, v1_success(key), "{name}");
        } else {
            assert_eq!(status, 202, "{name}: {answer}");
            let key = answer["dedup_key"].as_str().unwrap_or_else(|| panic!("{name}: {answer}"));
            assert_eq!(answer, v2_success(key), "{name}");
        }
        let incidents = server.incidents("").await;
        if name.contains("_trigger") {
            assert_eq!(incidents.len(), 1, "{name}");
            let title = if name.contains("_v1_") { &sent["description"] } else { &sent["payload"]["summary"] };
            assert_eq!(&incidents[0]["title"], title, "{name}");
            if name.contains("_v1_") {
                assert_eq!(incidents[0]["severity"], "critical", "{name}");
            } else {
                assert_eq!(incidents[0]["severity"], sent["payload"]["severity"], "{name}");
            }
        } else {
            assert!(incidents.is_empty(), "{name}: dropped");
        }
    }
}

#[tokio::test]
async fn alertmanagers_v1_body_with_empty_v2_fields_is_treated_as_v1() {
    let server = TestServer::open().await;
    let key = "969b42cb7985564fe831c0e87532cba80ab0c0239a9c0691820856f538f04cb3";
    let trigger = fixture_json("alertmanager_v1_trigger.json");
    assert_eq!((&trigger["event_action"], &trigger["payload"]), (&json!(""), &Value::Null), "the quirk is there");
    let (status, answer) = server.post_raw(UNIFIED_PATH, fixture("alertmanager_v1_trigger.json")).await;
    assert_eq!((status, answer), (200, v1_success(key)), "answered as v1");
    let (status, answer) = server
        .post_raw(&format!("{UNIFIED_PATH}?integration_key={KEY}"), fixture("alertmanager_v1_resolve.json"))
        .await;
    assert_eq!((status, answer), (200, v1_success(key)));
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let inc = server.incident(incidents[0]["number"].clone()).await;
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["title"], trigger["description"]);
    let protocols: Vec<&Value> = inc["timeline"].as_array().unwrap().iter().map(|e| &e["protocol"]).collect();
    assert_eq!(protocols, [&json!("v1"), &json!("v1")]);
}

#[tokio::test]
async fn the_query_key_wins_over_the_body_key() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    let path = format!("{UNIFIED_PATH}?integration_key={CHECKOUT_KEY}");
    // The bodies name the payments key; the query names checkout's.
    let (status, answer) = server.post_raw(&path, fixture("go_pagerduty_v2_trigger.json")).await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = server.post_raw(&path, fixture("pd_docs_v1_trigger.json")).await;
    assert_eq!(status, 200, "{answer}");
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 2);
    assert!(incidents.iter().all(|i| i["service"] == "checkout"), "{incidents:?}");

    // An unknown key in the body does not matter when the query's is known.
    let mut v2 = body(Version::V2, Step::Trigger("q"), Some("unknown-body-key"), "q2");
    let (status, answer) = server.post(&path, &v2).await;
    assert_eq!((status, answer), (202, v2_success("q2")));
    let v1 = body(Version::V1, Step::Trigger("q"), Some("unknown-body-key"), "q1");
    let (status, answer) = server.post(&path, &v1).await;
    assert_eq!((status, answer), (200, v1_success("q1")));
    assert_eq!(server.incidents("service=checkout").await.len(), 4);

    // An unknown query key is refused even when the body's key is known.
    let bad = format!("{UNIFIED_PATH}?integration_key=unknown-query-key");
    v2["dedup_key"] = json!("q3");
    v2["routing_key"] = json!(KEY);
    for b in [v2, body(Version::V1, Step::Trigger("q"), Some(KEY), "q4")] {
        let (status, answer) = server.post(&bad, &b).await;
        assert_eq!((status, &answer), (400, &invalid_body(&["integration_key is not a known integration key"])));
        assert!(!answer.to_string().contains("unknown-query-key"));
    }
    assert_eq!(server.incident_total().await, 4);
}

#[tokio::test]
async fn unknown_body_keys_are_named_by_their_version_s_field() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    for (version, field) in [(Version::V2, "routing_key"), (Version::V1, "service_key")] {
        let b = body(version, Step::Trigger("x"), Some("unknown-key"), "u");
        let (status, answer) = server.post(UNIFIED_PATH, &b).await;
        let line = format!("{field} is not a known integration key");
        assert_eq!((status, answer), (400, invalid_body(&[&line])), "{version:?}");
    }
    // Known keys in the body route to their service.
    let (status, _) = server.post(UNIFIED_PATH, &body(Version::V1, Step::Trigger("x"), Some(KEY), "known")).await;
    assert_eq!(status, 200);
    assert_eq!(server.incidents("").await[0]["service"], "payments");
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn the_key_may_be_only_in_the_query_or_only_in_the_body() {
    let server = TestServer::open().await;
    let query = format!("{UNIFIED_PATH}?integration_key={KEY}");
    assert_eq!(server.post(&query, &body(Version::V2, Step::Trigger("a"), None, "a")).await, (202, v2_success("a")));
    assert_eq!(server.post(&query, &body(Version::V1, Step::Trigger("b"), None, "b")).await, (200, v1_success("b")));
    // A blank query key does not count: the body's key is used.
    let blank = format!("{UNIFIED_PATH}?integration_key=");
    let (status, answer) = server.post(&blank, &body(Version::V2, Step::Trigger("c"), Some(KEY), "c")).await;
    assert_eq!((status, answer), (202, v2_success("c")));
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 3);
    assert!(incidents.iter().all(|i| i["service"] == open_service_name(KEY)), "the same key, one service");

    // No key anywhere: the version's own field is required.
    let (status, answer) = server.post(UNIFIED_PATH, &body(Version::V2, Step::Trigger("x"), None, "x")).await;
    assert_eq!((status, answer), (400, invalid_body(&["routing_key is required"])));
    let (status, answer) = server.post(UNIFIED_PATH, &body(Version::V1, Step::Trigger("x"), None, "x")).await;
    assert_eq!((status, answer), (400, invalid_body(&["service_key is required"])));
    let (status, answer) = server.post(&blank, &body(Version::V2, Step::Resolve, None, "x")).await;
    assert_eq!((status, answer), (400, invalid_body(&["routing_key is required"])));
    assert_eq!(server.incident_total().await, 3);
}

#[tokio::test]
async fn events_on_the_unified_path_share_alerts_with_the_protocol_paths() {
    let server = TestServer::open().await;
    // Opened on /v2/enqueue, acknowledged on the unified path as v1, resolved there as v2.
    assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, "shared", "shared alert")).await.0, 202);
    let query = format!("{UNIFIED_PATH}?integration_key={KEY}");
    assert_eq!(
        server.post(&query, &body(Version::V1, Step::Acknowledge, None, "shared")).await,
        (200, v1_success("shared"))
    );
    assert_eq!(server.incidents("").await[0]["status"], "acknowledged");
    assert_eq!(
        server.post(UNIFIED_PATH, &body(Version::V2, Step::Resolve, Some(KEY), "shared")).await,
        (202, v2_success("shared"))
    );
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let timeline = server.timeline(incidents[0]["id"].as_str().unwrap()).await;
    let steps: Vec<(&str, &str)> =
        timeline.iter().map(|e| (e["protocol"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(steps, [("v2", "opened"), ("v1", "acknowledged"), ("v2", "resolved")]);
}

#[tokio::test]
async fn invalid_bodies_get_the_errors_of_the_version_they_look_like() {
    let server = TestServer::open().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"service_key": KEY, "event_type": "boom"}),
            vec!["event_type is invalid (must be one of: trigger acknowledge resolve)"],
        ),
        (json!({"service_key": KEY, "event_type": "trigger"}), vec!["description is required"]),
        (
            json!({"routing_key": KEY, "event_action": "boom"}),
            vec!["event_action is invalid (must be one of: trigger acknowledge resolve)"],
        ),
        (json!({"routing_key": KEY, "event_action": "trigger"}), vec!["payload is required for trigger events"]),
        (json!({}), vec!["routing_key is required", "event_action is required"]),
        (json!({"incident_key": "i", "event_type": "resolve"}), vec!["service_key is required"]),
    ];
    for (b, errors) in &cases {
        let (status, answer) = server.post(UNIFIED_PATH, b).await;
        assert_eq!((status, &answer), (400, &invalid_body(errors)), "{b}");
    }
    for (raw, line) in
        [("", "request body is empty (expected a JSON object)"), ("[1, 2]", "request body must be a JSON object")]
    {
        let (status, answer) = server.post_raw(UNIFIED_PATH, raw).await;
        assert_eq!((status, answer), (400, invalid_body(&[line])));
    }
    assert_eq!(server.incident_total().await, 0);
}
