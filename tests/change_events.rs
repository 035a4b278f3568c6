//! Events API v2 change events (`POST /v2/change/enqueue`) and their read route
//! `GET /api/v1/services/{service}/change_events`.

mod common;

use common::*;
use serde_json::{json, Value};

const CHANGE_FIXTURES: [&str; 3] = ["pd_docs_change.json", "pdpyras_change.json", "go_pagerduty_change.json"];

/// March 14th 2026, the fixtures' day.
const FIXTURE_DAY: &str = "since=2026-03-14T00:00:00Z&until=2026-03-15T00:00:00Z";

async fn changes(server: &TestServer, service: &str, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/v1/services/{service}/change_events?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["change_events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn change_fixtures_are_accepted_stored_and_open_no_incident() {
    let server = TestServer::open().await;
    for name in CHANGE_FIXTURES {
        let (status, answer) = server.post_raw(CHANGE_PATH, fixture(name)).await;
        assert_eq!((status, answer), (202, change_success()), "{name}");
    }
    assert_eq!(server.incident_total().await, 0, "change events never open incidents");

    let service = open_service_name(KEY);
    let stored = changes(&server, &service, FIXTURE_DAY).await;
    assert_eq!(stored.len(), 3);
    // Oldest first, by the sender's timestamps (three formats).
    let times: Vec<&str> = stored.iter().map(|c| c["at"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-03-14T08:42:58.315Z", "2026-03-14T09:12:31.482Z", "2026-03-14T09:58:02.000Z"]);
    for (c, name) in stored.iter().zip(CHANGE_FIXTURES) {
        let sent = fixture_json(name);
        assert_eq!(c["service"], service.as_str(), "{name}");
        assert_eq!(c["summary"], sent["payload"]["summary"], "{name}");
        assert_eq!(c["source"], sent["payload"]["source"], "{name}");
        assert_eq!(c["custom_details"], sent["payload"]["custom_details"], "{name}");
        assert_eq!(c["links"], sent["links"], "{name}");
        assert!(c["id"].is_i64(), "{name}");
    }
}

#[tokio::test]
async fn only_change_events_in_the_window_are_returned() {
    let server = TestServer::open().await;
    for name in CHANGE_FIXTURES {
        assert_eq!(server.post_raw(CHANGE_PATH, fixture(name)).await.0, 202);
    }
    let service = open_service_name(KEY);
    let summaries = |v: Vec<Value>| v.iter().map(|c| c["summary"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let pd = fixture_json("pd_docs_change.json")["payload"]["summary"].as_str().unwrap().to_owned();
    let py = fixture_json("pdpyras_change.json")["payload"]["summary"].as_str().unwrap().to_owned();
    let go = fixture_json("go_pagerduty_change.json")["payload"]["summary"].as_str().unwrap().to_owned();

    let later = changes(&server, &service, "since=2026-03-14T09:00:00Z&until=2026-03-14T10:00:00Z").await;
    assert_eq!(summaries(later), [py.clone(), go.clone()]);
    let earlier = changes(&server, &service, "since=2026-03-14T08:00:00Z&until=2026-03-14T09:00:00Z").await;
    assert_eq!(summaries(earlier), [pd]);
    // Both ends are inclusive.
    let exact = changes(&server, &service, "since=2026-03-14T09:58:02Z&until=2026-03-14T09:58:02Z").await;
    assert_eq!(summaries(exact), std::slice::from_ref(&go));
    // With a limit, the latest ones, still oldest first.
    let latest = changes(&server, &service, &format!("{FIXTURE_DAY}&limit=2")).await;
    assert_eq!(summaries(latest), [py, go]);
    // The default window is the last 24 hours: the March events are outside it.
    assert!(changes(&server, &service, "").await.is_empty());
    // Another service has none.
    assert!(changes(&server, "key-00000000", FIXTURE_DAY).await.is_empty());
}

#[tokio::test]
async fn a_change_without_a_timestamp_is_at_its_arrival_and_in_the_default_window() {
    let server = TestServer::open().await;
    // The older go-pagerduty struct sends empty strings and nulls for unset fields.
    let body = json!({
        "routing_key": KEY,
        "payload": {"summary": "helm upgrade checkout", "source": "", "timestamp": "", "custom_details": null},
        "links": null
    });
    let (status, answer) = server.post(CHANGE_PATH, &body).await;
    assert_eq!((status, answer), (202, change_success()));
    let stored = changes(&server, &open_service_name(KEY), "").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["summary"], "helm upgrade checkout");
    assert_eq!(stored[0]["custom_details"], Value::Null);
    assert_eq!(stored[0]["links"], json!([]));
}

#[tokio::test]
async fn invalid_change_events_are_refused_line_by_line() {
    let server = TestServer::open().await;
    let ok = |payload: Value| json!({"routing_key": KEY, "payload": payload});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["routing_key is required", "payload is required"]),
        (json!({"payload": {"summary": "x"}}), vec!["routing_key is required"]),
        (json!({"routing_key": KEY}), vec!["payload is required"]),
        (json!({"routing_key": KEY, "payload": null}), vec!["payload is required"]),
        (json!({"routing_key": KEY, "payload": "deployed"}), vec!["payload must be a JSON object"]),
        (ok(json!({})), vec!["payload.summary is required"]),
        (ok(json!({"summary": ""})), vec!["payload.summary must not be blank"]),
        (ok(json!({"summary": 3})), vec!["payload.summary must be a string"]),
        (ok(json!({"summary": "s".repeat(1025)})), vec!["payload.summary is too long (maximum is 1024 characters)"]),
        (ok(json!({"summary": "x", "source": 1})), vec!["payload.source must be a string"]),
        (
            ok(json!({"summary": "x", "timestamp": "last tuesday"})),
            vec!["payload.timestamp is invalid (must be an ISO 8601 date and time)"],
        ),
        (
            json!({"routing_key": KEY, "payload": {"summary": "x"}, "links": {"href": "https://x"}}),
            vec!["links must be an array"],
        ),
        (
            json!({"routing_key": 5, "links": [{}], "payload": {"summary": 1}}),
            vec!["routing_key must be a string", "links[0].href is required", "payload.summary must be a string"],
        ),
    ];
    for (body, errors) in &cases {
        let (status, answer) = server.post(CHANGE_PATH, body).await;
        assert_eq!((status, &answer), (400, &invalid_body(errors)), "{body}");
    }
    for (body, line) in
        [("", "request body is empty (expected a JSON object)"), ("[{}]", "request body must be a JSON object")]
    {
        let (status, answer) = server.post_raw(CHANGE_PATH, body).await;
        assert_eq!((status, answer), (400, invalid_body(&[line])), "{body:?}");
    }
    let (status, answer) = server.post_raw(CHANGE_PATH, "summary=deployed").await;
    assert_eq!(status, 400);
    assert!(answer["errors"][0].as_str().unwrap().starts_with("request body is not valid JSON"), "{answer}");

    // A summary of exactly 1024 characters and unknown fields are accepted.
    let body = json!({"routing_key": KEY, "payload": {"summary": "s".repeat(1024), "new_field": 1}, "extra": true});
    assert_eq!(server.post(CHANGE_PATH, &body).await, (202, change_success()));
    let stored = changes(&server, &open_service_name(KEY), "").await;
    assert_eq!(stored.len(), 1, "only the valid change event is stored");
    assert_eq!(server.incident_total().await, 0);
}

#[tokio::test]
async fn configured_services_own_their_change_events_and_unknown_keys_are_refused() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    assert_eq!(server.post_raw(CHANGE_PATH, fixture("pd_docs_change.json")).await, (202, change_success()));
    let body = json!({"routing_key": CHECKOUT_KEY, "payload": {"summary": "checkout deploy"}});
    assert_eq!(server.post(CHANGE_PATH, &body).await, (202, change_success()));

    let payments = changes(&server, "payments", FIXTURE_DAY).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["service"], "payments");
    let checkout = changes(&server, "checkout", "").await;
    assert_eq!(checkout.len(), 1);
    assert_eq!(checkout[0]["summary"], "checkout deploy");

    let unknown = json!({"routing_key": "unknown-change-key", "payload": {"summary": "sneaky deploy"}});
    let (status, answer) = server.post(CHANGE_PATH, &unknown).await;
    assert_eq!((status, &answer), (400, &invalid_body(&["routing_key is not a known integration key"])));
    assert!(!answer.to_string().contains("unknown-change-key"));
    assert_eq!(changes(&server, "payments", "").await.len(), 0);
    assert_eq!(changes(&server, "checkout", "").await.len(), 1);
}

#[tokio::test]
async fn bad_window_times_are_json_bad_requests() {
    let server = TestServer::open().await;
    for query in ["since=yesterday", "until=2026-13-45T00:00:00Z"] {
        let (status, body) = server.get(&format!("/api/v1/services/payments/change_events?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
        assert!(body["error"]["message"].is_string());
    }
}
