//! Events API v1 (`POST /generic/2010-04-15/create_event.json`) over HTTP: the captured clients'
//! bodies, every error line, and which keys are accepted.

mod common;

use common::*;
use serde_json::{json, Value};

const EVENT_TYPE_LINE: &str = "event_type is invalid (must be one of: trigger acknowledge resolve)";

/// Every v1 trigger fixture: (file, incident key or `None` when one is generated).
const V1_TRIGGERS: &[(&str, Option<&str>)] = &[
    ("alertmanager_v1_trigger.json", Some("969b42cb7985564fe831c0e87532cba80ab0c0239a9c0691820856f538f04cb3")),
    ("elastalert2_v1_trigger.json", None),
    ("go_pagerduty_v1_trigger.json", Some("k8s/prod-eu-1/payments/payments-api/CrashLoopBackOff")),
    ("pd_docs_v1_trigger.json", None),
];

/// A valid v1 trigger with one field replaced, or removed when `value` is `Value::Null`.
fn trigger_with(field: &str, value: Value) -> Value {
    let mut body = v1_trigger(KEY, "v1-err", "something broke");
    let obj = body.as_object_mut().unwrap();
    if value.is_null() {
        assert!(obj.remove(field).is_some(), "{field} was there to remove");
    } else {
        obj.insert(field.to_owned(), value);
    }
    body
}

#[tokio::test]
async fn each_v1_trigger_fixture_opens_a_critical_incident() {
    for (name, incident_key) in V1_TRIGGERS {
        let server = TestServer::open().await;
        let sent = fixture_json(name);
        let (status, answer) = server.post_raw(V1_PATH, fixture(name)).await;
        assert_eq!(status, 200, "{name}: v1 answers 200, not 202: {answer}");
        let key = answer["incident_key"].as_str().unwrap_or_else(|| panic!("{name}: {answer}")).to_owned();
        match incident_key {
            Some(k) => assert_eq!(key, *k, "{name}"),
            None => assert!(is_hex32(&key), "{name}: generated key {key:?}"),
        }
        assert_eq!(answer, v1_success(&key), "{name}");

        let incidents = server.incidents("").await;
        assert_eq!(incidents.len(), 1, "{name}");
        let inc = &incidents[0];
        assert_eq!(inc["status"], "triggered", "{name}");
        assert_eq!(inc["title"], sent["description"], "{name}");
        assert_eq!(inc["severity"], "critical", "{name}: v1 has no severity and is critical");
        assert_eq!(inc["urgency"], "high", "{name}");
        assert_eq!(inc["source"], Value::Null, "{name}: v1 has no source");
        assert_eq!(inc["dedup_key"], key.as_str(), "{name}");
        assert_eq!(inc["service"], open_service_name(KEY), "{name}");
        assert_eq!(inc["event_count"], 1, "{name}");

        let timeline = server.timeline(inc["number"].clone()).await;
        assert_eq!(timeline.len(), 1, "{name}");
        let e = &timeline[0];
        assert_eq!((&e["protocol"], &e["action"], &e["outcome"]), (&json!("v1"), &json!("trigger"), &json!("opened")));
        assert_eq!(e["summary"], sent["description"], "{name}");
        assert_eq!(e["severity"], "critical", "{name}");
        assert_eq!(without_keys(&e["raw"]), without_keys(&sent), "{name}: the raw body is kept");
    }
}

#[tokio::test]
async fn alertmanager_v1_trigger_then_resolve() {
    let server = TestServer::open().await;
    let key = "969b42cb7985564fe831c0e87532cba80ab0c0239a9c0691820856f538f04cb3";
    let (status, answer) = server.post_raw(V1_PATH, fixture("alertmanager_v1_trigger.json")).await;
    assert_eq!((status, answer), (200, v1_success(key)));
    let (status, answer) = server.post_raw(V1_PATH, fixture("alertmanager_v1_resolve.json")).await;
    assert_eq!((status, answer), (200, v1_success(key)));
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let inc = server.incident(incidents[0]["id"].as_str().unwrap()).await;
    assert_eq!(inc["status"], "resolved");
    assert!(inc["resolved_at"].is_string());
    let steps: Vec<(&str, &str, &str)> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["protocol"].as_str().unwrap(), e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, [("v1", "trigger", "opened"), ("v1", "resolve", "resolved")]);
}

#[tokio::test]
async fn docs_acknowledge_and_resolve_without_an_open_incident_succeed_and_are_dropped() {
    let server = TestServer::open().await;
    for file in ["pd_docs_v1_acknowledge.json", "pd_docs_v1_resolve.json"] {
        let (status, answer) = server.post_raw(V1_PATH, fixture(file)).await;
        assert_eq!((status, answer), (200, v1_success("srv01/HTTP")), "{file}");
    }
    assert_eq!(server.incident_total().await, 0);
}

#[tokio::test]
async fn v1_trigger_acknowledge_resolve() {
    let server = TestServer::open().await;
    let (status, answer) = server.post(V1_PATH, &v1_trigger(KEY, "srv01/HTTP", "FAILURE on srv01")).await;
    assert_eq!((status, answer), (200, v1_success("srv01/HTTP")));
    let (status, answer) = server.post_raw(V1_PATH, fixture("pd_docs_v1_acknowledge.json")).await;
    assert_eq!((status, answer), (200, v1_success("srv01/HTTP")));
    let inc = &server.incidents("").await[0];
    assert_eq!(inc["status"], "acknowledged");
    assert!(inc["acknowledged_at"].is_string());
    assert_eq!(inc["resolved_at"], Value::Null);
    let (status, _) = server.post_raw(V1_PATH, fixture("pd_docs_v1_resolve.json")).await;
    assert_eq!(status, 200);
    let inc = &server.incidents("").await[0];
    assert_eq!(inc["status"], "resolved");
    assert!(inc["resolved_at"].is_string());
    assert_eq!(inc["event_count"], 3);
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn missing_and_invalid_fields_each_get_their_own_line() {
    let server = TestServer::open().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (trigger_with("service_key", Value::Null), vec!["service_key is required"]),
        (trigger_with("service_key", json!("")), vec!["service_key must not be blank"]),
        (trigger_with("service_key", json!(7)), vec!["service_key must be a string"]),
        (trigger_with("event_type", Value::Null), vec!["event_type is required"]),
        (trigger_with("event_type", json!("boom")), vec![EVENT_TYPE_LINE]),
        (trigger_with("event_type", json!("")), vec![EVENT_TYPE_LINE]),
        (trigger_with("event_type", json!("Trigger")), vec![EVENT_TYPE_LINE]),
        (trigger_with("event_type", json!(["trigger"])), vec!["event_type must be a string"]),
        (trigger_with("description", Value::Null), vec!["description is required"]),
        (trigger_with("description", json!(" ")), vec!["description must not be blank"]),
        (trigger_with("description", json!(404)), vec!["description must be a string"]),
        (trigger_with("incident_key", json!(12)), vec!["incident_key must be a string"]),
        (trigger_with("client", json!(false)), vec!["client must be a string"]),
        (trigger_with("client_url", json!(1)), vec!["client_url must be a string"]),
        (trigger_with("contexts", json!({"type": "link"})), vec!["contexts must be an array"]),
        (trigger_with("contexts", json!(["x"])), vec!["contexts[0] must be a JSON object"]),
        (
            trigger_with("contexts", json!([{"type": "link", "href": "https://a"}, {"type": "video"}])),
            vec!["contexts[1].type is invalid (must be one of: link image)"],
        ),
        (trigger_with("contexts", json!([{"type": "link"}])), vec!["contexts[0].href is required"]),
        (
            trigger_with("contexts", json!([{"type": "image", "href": "https://a"}])),
            vec!["contexts[0].src is required"],
        ),
        (v1_action(KEY, "", "acknowledge"), vec!["incident_key is required for acknowledge events"]),
        (json!({"service_key": KEY, "event_type": "resolve"}), vec!["incident_key is required for resolve events"]),
    ];
    for (body, errors) in &cases {
        let (status, answer) = server.post(V1_PATH, body).await;
        assert_eq!((status, &answer), (400, &invalid_body(errors)), "{body}");
    }
    assert_eq!(server.incident_total().await, 0, "nothing invalid opens an incident");
}

#[tokio::test]
async fn several_problems_at_once_give_several_lines() {
    let server = TestServer::open().await;
    let (status, answer) = server.post_raw(V1_PATH, "{}").await;
    assert_eq!((status, answer), (400, invalid_body(&["service_key is required", "event_type is required"])));
    let body = json!({"event_type": "boom", "incident_key": 5, "description": 7});
    let (status, answer) = server.post(V1_PATH, &body).await;
    assert_eq!(
        (status, answer),
        (
            400,
            invalid_body(&[
                "service_key is required",
                EVENT_TYPE_LINE,
                "incident_key must be a string",
                "description must be a string",
            ])
        )
    );
    let body = json!({"service_key": KEY, "event_type": "trigger", "incident_key": "i".repeat(256),
        "description": "d".repeat(1025), "contexts": "none"});
    let (status, answer) = server.post(V1_PATH, &body).await;
    assert_eq!(
        (status, answer),
        (
            400,
            invalid_body(&[
                "incident_key is too long (maximum is 255 characters)",
                "description is too long (maximum is 1024 characters)",
                "contexts must be an array",
            ])
        )
    );
    assert_eq!(server.incident_total().await, 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects() {
    let server = TestServer::open().await;
    for (body, line) in [
        ("", "request body is empty (expected a JSON object)"),
        ("[]", "request body must be a JSON object"),
        ("42", "request body must be a JSON object"),
    ] {
        let (status, answer) = server.post_raw(V1_PATH, body).await;
        assert_eq!((status, answer), (400, invalid_body(&[line])), "{body:?}");
    }
    let (status, answer) = server.post_raw(V1_PATH, "service_key=abc&event_type=trigger").await;
    assert_eq!(status, 400);
    assert_eq!((&answer["status"], &answer["message"]), (&json!("invalid event"), &json!("Event object is invalid")));
    assert!(answer["errors"][0].as_str().unwrap().starts_with("request body is not valid JSON"), "{answer}");
    assert_eq!(answer["errors"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn description_and_incident_key_limits() {
    let server = TestServer::open().await;
    let longest_key = "i".repeat(255);
    let longest_description = "d".repeat(1024);
    let (status, answer) = server.post(V1_PATH, &v1_trigger(KEY, &longest_key, &longest_description)).await;
    assert_eq!((status, answer), (200, v1_success(&longest_key)));
    let inc = &server.incidents("").await[0];
    assert_eq!(inc["title"].as_str().unwrap(), longest_description);

    let (status, answer) = server.post(V1_PATH, &v1_trigger(KEY, &"i".repeat(256), "x")).await;
    assert_eq!((status, answer), (400, invalid_body(&["incident_key is too long (maximum is 255 characters)"])));
    let (status, answer) = server.post(V1_PATH, &v1_trigger(KEY, "k", &"d".repeat(1025))).await;
    assert_eq!((status, answer), (400, invalid_body(&["description is too long (maximum is 1024 characters)"])));
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn unknown_fields_and_v2_leftovers_are_ignored() {
    let server = TestServer::open().await;
    let mut body = v1_trigger(KEY, "extra", "with extras");
    body["something_new"] = json!({"a": [1]});
    body["event_action"] = json!(""); // Alertmanager's v1 bodies carry empty v2 fields
    body["payload"] = Value::Null;
    body["details"] = json!(["details", "may", "be", "any", "JSON"]);
    let (status, answer) = server.post(V1_PATH, &body).await;
    assert_eq!((status, answer), (200, v1_success("extra")));
    assert_eq!(server.incidents("").await[0]["title"], "with extras");
}

#[tokio::test]
async fn invalid_events_never_touch_an_open_incident() {
    let server = TestServer::open().await;
    assert_eq!(server.post(V1_PATH, &v1_trigger(KEY, "k", "first")).await.0, 200);
    let mut bad_resolve = v1_action(KEY, "k", "resolve");
    bad_resolve["contexts"] = json!(5);
    for body in [v1_action(KEY, "k", "close"), bad_resolve, trigger_with("description", json!(3))] {
        assert_eq!(server.post(V1_PATH, &body).await.0, 400, "{body}");
    }
    let inc = &server.incidents("").await[0];
    assert_eq!((inc["status"].as_str(), inc["event_count"].as_i64()), (Some("triggered"), Some(1)));
}

#[tokio::test]
async fn configured_keys_route_to_their_service_and_unknown_keys_are_refused() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    let (status, answer) = server.post_raw(V1_PATH, fixture("go_pagerduty_v1_trigger.json")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.incidents("").await[0]["service"], "payments");
    assert_eq!(server.post(V1_PATH, &v1_trigger(CHECKOUT_KEY, "c", "x")).await.0, 200);
    let checkout = &server.incidents("service=checkout").await;
    assert_eq!(checkout.len(), 1);
    assert_eq!(checkout[0]["urgency"], "high", "critical is high urgency under the severity rule");

    let unknown = "unknown-v1-service-key";
    for body in [v1_trigger(unknown, "u", "x"), v1_action(unknown, "c", "resolve")] {
        let (status, answer) = server.post(V1_PATH, &body).await;
        assert_eq!((status, &answer), (400, &invalid_body(&["service_key is not a known integration key"])));
        assert!(!answer.to_string().contains(unknown));
    }
    assert_eq!(server.incident_total().await, 2);
    assert_eq!(server.incidents("dedup_key=c").await[0]["status"], "triggered");
}
