//! The REST API (`/api/v1/...`, `/healthz`, unknown routes) and durability across a restart.

mod common;
#[path = "common/operator.rs"]
mod operator;

use common::*;
use operator::sqlite_operator;
use serde_json::{json, Value};

fn numbers(incidents: &[Value]) -> Vec<i64> {
    incidents.iter().map(|i| i["number"].as_i64().unwrap()).collect()
}

async fn trigger(server: &TestServer, key: &str, dedup: &str, summary: &str) {
    let (status, answer) = server.post(V2_PATH, &v2_trigger(key, dedup, summary)).await;
    assert_eq!(status, 202, "{answer}");
}

async fn act(server: &TestServer, key: &str, dedup: &str, action: &str) {
    let (status, answer) = server.post(V2_PATH, &v2_action(key, dedup, action)).await;
    assert_eq!(status, 202, "{answer}");
}

/// Asserts `{"error": {"code": code, "message": <text>}}`.
fn assert_api_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn list_filters_by_status_service_and_dedup_key_newest_first() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    trigger(&server, KEY, "a", "payments a").await; // 1 triggered
    trigger(&server, KEY, "b", "payments b").await; // 2 acknowledged
    act(&server, KEY, "b", "acknowledge").await;
    trigger(&server, CHECKOUT_KEY, "c", "checkout c").await; // 3 resolved
    act(&server, CHECKOUT_KEY, "c", "resolve").await;
    trigger(&server, CHECKOUT_KEY, "d", "checkout d").await; // 4 triggered

    for (query, expected) in [
        ("", vec![4, 3, 2, 1]),
        ("status=triggered", vec![4, 1]),
        ("status=acknowledged", vec![2]),
        ("status=resolved", vec![3]),
        ("status=triggered,acknowledged", vec![4, 2, 1]),
        ("status=triggered,%20resolved", vec![4, 3, 1]),
        ("status=triggered,acknowledged,resolved", vec![4, 3, 2, 1]),
        ("status=", vec![4, 3, 2, 1]),
        ("service=checkout", vec![4, 3]),
        ("service=payments", vec![2, 1]),
        ("service=payments&status=acknowledged", vec![2]),
        ("service=checkout&status=acknowledged", vec![]),
        ("service=nobody", vec![]),
        ("dedup_key=c", vec![3]),
        ("dedup_key=c&status=triggered", vec![]),
        ("dedup_key=zzz", vec![]),
    ] {
        let (status, page) = server.get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        let got = numbers(page["incidents"].as_array().unwrap());
        assert_eq!(got, expected, "{query}");
        assert_eq!(page["total"], expected.len(), "{query}");
        assert_eq!(page["more"], false, "{query}");
    }
    let page = server.incidents("service=checkout").await;
    assert!(page.iter().all(|i| i["service"] == "checkout"));
}

#[tokio::test]
async fn list_pages_with_limit_and_offset() {
    let server = TestServer::open().await;
    for i in 1..=5 {
        trigger(&server, KEY, &format!("p{i}"), &format!("incident {i}")).await;
    }
    let (_, page) = server.get("/api/v1/incidents").await;
    assert_eq!((page["limit"].as_u64(), page["offset"].as_u64(), page["total"].as_u64()), (Some(25), Some(0), Some(5)));
    assert_eq!(numbers(page["incidents"].as_array().unwrap()), [5, 4, 3, 2, 1]);

    for (offset, expected, more) in
        [(0, vec![5, 4], true), (2, vec![3, 2], true), (4, vec![1], false), (9, vec![], false)]
    {
        let (status, page) = server.get(&format!("/api/v1/incidents?limit=2&offset={offset}")).await;
        assert_eq!(status, 200);
        assert_eq!(numbers(page["incidents"].as_array().unwrap()), expected, "offset {offset}");
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], offset);
        assert_eq!(page["total"], 5, "total counts every match, not the page");
        assert_eq!(page["more"], more, "offset {offset}");
    }
    for limit in [1, 100] {
        let (status, page) = server.get(&format!("/api/v1/incidents?limit={limit}")).await;
        assert_eq!(status, 200, "limit {limit}");
        assert_eq!(page["incidents"].as_array().unwrap().len(), limit.min(5));
        assert_eq!(page["more"], limit < 5);
    }
}

#[tokio::test]
async fn bad_list_parameters_are_json_bad_requests() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "x", "x").await;
    for query in ["status=open", "status=triggered,closed", "status=TRIGGERED", "limit=0", "limit=101", "limit=1000"] {
        let (status, body) = server.get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_api_error(&body, "bad_request");
    }
    let (_, body) = server.get("/api/v1/incidents?status=open").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("open"), "names the bad status: {body}");
}

#[tokio::test]
async fn malformed_query_parameters_are_json_bad_requests() {
    let server = TestServer::open().await;
    for path in [
        "/api/v1/incidents?limit=abc",
        "/api/v1/incidents?offset=-1",
        "/api/v1/services/payments/change_events?limit=x",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_api_error(&body, "bad_request");
    }
}

#[tokio::test]
async fn show_by_id_and_by_number_with_the_raw_timeline() {
    let server = TestServer::open().await;
    let (status, _) = server.post_raw(V2_PATH, fixture("pd_docs_v2_trigger.json")).await;
    assert_eq!(status, 202);
    let second = json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "samplekeyhere",
        "payload": {"summary": "Example alert, again", "source": "host1", "severity": "warning"}, "unknown": [1]});
    assert_eq!(server.post(V2_PATH, &second).await.0, 202);

    let listed = server.incidents("").await[0].clone();
    let id = listed["id"].as_str().unwrap().to_owned();
    let by_id = server.incident(&id).await;
    let by_number = server.incident(1).await;
    assert_eq!(by_id, by_number);
    // The detail has every field of the listed incident, plus its timeline.
    for (field, value) in listed.as_object().unwrap() {
        assert_eq!(&by_id[field], value, "{field}");
    }

    let timeline = by_id["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(by_id["event_count"], 2);
    assert_eq!(without_keys(&timeline[0]["raw"]), without_keys(&fixture_json("pd_docs_v2_trigger.json")));
    assert_eq!(without_keys(&timeline[1]["raw"]), without_keys(&second), "unknown fields are kept in raw too");
    assert!(timeline[0]["id"].as_i64() < timeline[1]["id"].as_i64(), "oldest first");
    assert!(timeline[0]["at"].as_str() <= timeline[1]["at"].as_str());
    assert_eq!(
        (&timeline[1]["summary"], &timeline[1]["severity"]),
        (&json!("Example alert, again"), &json!("warning"))
    );
    assert_eq!(by_id["severity"], "info", "the incident keeps the first alert's severity");

    for missing in ["2", "999", "0", "-1", "00000000-0000-0000-0000-000000000000", "not-an-id"] {
        let (status, body) = server.get(&format!("/api/v1/incidents/{missing}")).await;
        assert_eq!(status, 404, "{missing}: {body}");
        assert_api_error(&body, "not_found");
    }
}

#[tokio::test]
async fn acknowledge_and_resolve_with_and_without_an_actor() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "one", "first").await;
    trigger(&server, KEY, "two", "second").await;

    // Incident 1 by number with an actor, then resolved with an empty JSON object.
    let (status, detail) = server.post("/api/v1/incidents/1/acknowledge", &json!({"actor": "alice"})).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "acknowledged");
    assert!(detail["acknowledged_at"].is_string());
    let last = detail["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["protocol"], &last["action"], &last["outcome"]),
        (&json!("api"), &json!("acknowledge"), &json!("acknowledged"))
    );
    assert_eq!(last["raw"], json!({"actor": "alice"}));

    let (status, detail) = server.post("/api/v1/incidents/1/resolve", &json!({})).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "resolved");
    assert!(detail["resolved_at"].is_string());
    let last = detail["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["action"], &last["outcome"], &last["raw"]),
        (&json!("resolve"), &json!("resolved"), &json!({"actor": "api"}))
    );

    // Incident 2 by id with no body at all.
    let id = server.incident(2).await["id"].as_str().unwrap().to_owned();
    let (status, detail) = server.post_empty(&format!("/api/v1/incidents/{id}/acknowledge")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["timeline"].as_array().unwrap().last().unwrap()["raw"], json!({"actor": "api"}));
    // Acknowledging again changes nothing but is recorded.
    let (status, detail) = server.post("/api/v1/incidents/2/acknowledge", &json!({"actor": "bob"})).await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "acknowledged");
    let last = detail["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["outcome"], &last["raw"]), (&json!("unchanged"), &json!({"actor": "bob"})));
    let (status, detail) = server.post_empty(&format!("/api/v1/incidents/{id}/resolve")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["event_count"], 4);
    assert_eq!(server.incidents("status=resolved").await.len(), 2);
}

#[tokio::test]
async fn an_empty_json_body_on_acknowledge_is_no_body() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "k", "x").await;
    let (status, detail) = server.post_raw("/api/v1/incidents/1/acknowledge", "").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "acknowledged");
}

#[tokio::test]
async fn acting_on_unknown_or_resolved_incidents_is_refused() {
    let server = TestServer::open().await;
    for path in ["/api/v1/incidents/7/acknowledge", "/api/v1/incidents/7/resolve", "/api/v1/incidents/nope/resolve"] {
        let (status, body) = server.post(path, &json!({"actor": "alice"})).await;
        assert_eq!(status, 404, "{path}");
        assert_api_error(&body, "not_found");
    }
    trigger(&server, KEY, "k", "x").await;
    act(&server, KEY, "k", "resolve").await;
    for action in ["acknowledge", "resolve"] {
        let (status, body) = server.post(&format!("/api/v1/incidents/1/{action}"), &json!({"actor": "alice"})).await;
        assert_eq!(status, 409, "{action}");
        assert_api_error(&body, "conflict");
    }
    let inc = server.incident(1).await;
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["acknowledged_at"], Value::Null, "the refused acknowledge did nothing");
    assert_eq!(inc["event_count"], 2, "refused actions are not on the timeline");
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn a_manually_resolved_incident_is_closed_for_its_dedup_key() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "manual", "first").await;
    assert_eq!(server.post("/api/v1/incidents/1/resolve", &json!({"actor": "alice"})).await.0, 200);
    // The sender's resolve now matches no open alert.
    act(&server, KEY, "manual", "resolve").await;
    assert_eq!(server.incident(1).await["event_count"], 2);
    // The next trigger opens a new incident.
    trigger(&server, KEY, "manual", "second").await;
    let incidents = server.incidents("dedup_key=manual").await;
    assert_eq!(numbers(&incidents), [2, 1]);
    assert_eq!((incidents[0]["status"].as_str(), incidents[0]["title"].as_str()), (Some("triggered"), Some("second")));
    assert_eq!(incidents[1]["status"], "resolved");
}

#[tokio::test]
async fn a_manual_acknowledge_is_shared_with_the_senders_alert() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "shared", "x").await;
    assert_eq!(server.post("/api/v1/incidents/1/acknowledge", &json!({"actor": "alice"})).await.0, 200);
    // The sender's acknowledge finds it acknowledged; its trigger is appended; its resolve closes it.
    act(&server, KEY, "shared", "acknowledge").await;
    trigger(&server, KEY, "shared", "x again").await;
    assert_eq!(server.incident(1).await["status"], "acknowledged");
    act(&server, KEY, "shared", "resolve").await;
    let inc = server.incident(1).await;
    assert_eq!(inc["status"], "resolved");
    let outcomes: Vec<&str> =
        inc["timeline"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["opened", "acknowledged", "unchanged", "appended", "resolved"]);
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn last_event_at_follows_the_latest_event() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "k", "x").await;
    trigger(&server, KEY, "k", "x again").await;
    let inc = server.incident(1).await;
    let last_event_at = inc["timeline"].as_array().unwrap().last().unwrap()["at"].clone();
    assert_eq!(inc["last_event_at"], last_event_at, "{inc}");
    assert_eq!(inc["updated_at"], inc["created_at"], "updated_at is the last status change: {inc}");
}

#[tokio::test]
async fn healthz_unknown_routes_and_methods() {
    let server = TestServer::open().await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["backlog"], 0, "nothing answered waits to be applied");

    for path in ["/nope", "/api/v1/nope", "/api/v2/incidents", "/v2/enqueue/extra", "/api/v1/incidents/1/reopen"] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_api_error(&body, "not_found");
    }
    let (status, body) = server.post("/api/v1/incidents/1/escalate", &json!({})).await;
    assert_eq!(status, 404);
    assert_api_error(&body, "not_found");
    // The intake paths take POST only.
    let (status, _) = server.get(V2_PATH).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let server = TestServer::open().await;
    trigger(&server, KEY, "stays-open", "still firing").await;
    trigger(&server, KEY, "stays-open", "still firing, again").await;
    assert_eq!(server.post(V1_PATH, &v1_trigger(KEY, "acked", "acknowledged before restart")).await.0, 200);
    assert_eq!(server.post(V1_PATH, &v1_action(KEY, "acked", "acknowledge")).await.0, 200);
    trigger(&server, KEY, "closed", "resolved before restart").await;
    assert_eq!(server.post("/api/v1/incidents/3/resolve", &json!({"actor": "alice"})).await.0, 200);
    let change = json!({"routing_key": KEY, "payload": {"summary": "deploy v1.2.3", "source": "ci"}});
    assert_eq!(server.post(CHANGE_PATH, &change).await.0, 202);

    let service = open_service_name(KEY);
    let changes_path = format!("/api/v1/services/{service}/change_events");
    let (_, list_before) = server.get("/api/v1/incidents").await;
    let mut details_before = Vec::new();
    for n in 1..=3 {
        details_before.push(server.incident(n).await);
    }
    let (_, changes_before) = server.get(&changes_path).await;
    assert_eq!(changes_before["change_events"].as_array().unwrap().len(), 1);

    let dir = server.stop().await;
    let server = TestServer::start_in(dir, None).await;

    let (_, list_after) = server.get("/api/v1/incidents").await;
    assert_eq!(list_after, list_before);
    for (n, before) in (1..=3).zip(&details_before) {
        assert_eq!(&server.incident(n).await, before, "incident {n} with its timeline");
    }
    assert_eq!(server.get(&changes_path).await.1, changes_before);

    // Dedup state survived: open alerts are still open, resolved ones closed.
    act(&server, KEY, "stays-open", "resolve").await;
    assert_eq!(server.incident(1).await["status"], "resolved");
    trigger(&server, KEY, "acked", "appended after restart").await;
    let acked = server.incident(2).await;
    assert_eq!((acked["status"].as_str(), acked["event_count"].as_i64()), (Some("acknowledged"), Some(3)));
    trigger(&server, KEY, "closed", "reopened after restart").await;
    let incidents = server.incidents("dedup_key=closed").await;
    assert_eq!(numbers(&incidents), [4, 3], "numbers continue after a restart");
    server.stop().await;
}

#[tokio::test]
async fn configured_services_survive_a_restart() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    trigger(&server, CHECKOUT_KEY, "c", "checkout down").await;
    let before = server.incident(1).await;
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, Some(TWO_SERVICES)).await;
    assert_eq!(server.incident(1).await, before);
    assert_eq!(server.incidents("service=checkout").await.len(), 1);
    act(&server, CHECKOUT_KEY, "c", "resolve").await;
    assert_eq!(server.incident(1).await["status"], "resolved");
}

#[tokio::test]
async fn reads_wait_for_answered_events_and_say_when_they_cannot() {
    let server = TestServer::open().await;
    let db = server.dir.path().join("firehouse.db");
    // The event log is taken away under the running server: the event is answered (it is in the inbox) but cannot be
    // applied.
    sqlite_operator(&db, "ALTER TABLE events RENAME TO events_away").await;
    assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, "behind", "an alert")).await.0, 202);
    let response = reqwest::get(server.url("/api/v1/incidents?dedup_key=behind")).await.unwrap();
    assert_eq!(response.headers()["firehouse-backlog"], "1", "the read says what it does not show");
    let (status, health) = server.get("/healthz").await;
    assert_eq!((status, health["error"]["code"].as_str()), (503, Some("unavailable")), "{health}");

    // Once the database works again, the next read waits for the event and shows it.
    sqlite_operator(&db, "ALTER TABLE events_away RENAME TO events").await;
    let response = reqwest::get(server.url("/api/v1/incidents?dedup_key=behind")).await.unwrap();
    assert!(response.headers().get("firehouse-backlog").is_none());
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(server.get("/healthz").await.0, 200);
}
