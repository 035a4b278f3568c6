//! Events API v2 (`POST /v2/enqueue`) over HTTP: the captured clients' bodies, every error line,
//! the size limit, and which keys are accepted.

mod common;

use common::*;
use serde_json::{json, Value};

/// Every v2 trigger fixture: (file, expected severity, dedup key or `None` when one is generated).
const V2_TRIGGERS: &[(&str, &str, Option<&str>)] = &[
    ("alertmanager_v2_trigger.json", "error", Some("969b42cb7985564fe831c0e87532cba80ab0c0239a9c0691820856f538f04cb3")),
    ("elastalert2_v2_trigger.json", "error", None),
    ("go_pagerduty_v2_trigger.json", "critical", Some("k8s/prod-eu-1/payments/payments-api/CrashLoopBackOff")),
    ("grafana_v2_trigger.json", "critical", Some("7163407f55d7906dcfdeb92bace689c670dab93abc5c54d3ec383381cc368569")),
    ("pd_docs_v2_trigger.json", "info", Some("samplekeyhere")),
    ("pdpyras_v2_trigger.json", "error", Some("db-replica-02/replication-lag")),
    ("zabbix_v2_trigger.json", "warning", Some("8714203")),
];

/// A valid trigger with one field replaced, or removed when `value` is `Value::Null`.
fn trigger_with(path: &[&str], value: Value) -> Value {
    let mut body = v2_trigger(KEY, "err-key", "something broke");
    let mut target = &mut body;
    for p in &path[..path.len() - 1] {
        target = target.get_mut(*p).unwrap();
    }
    let obj = target.as_object_mut().unwrap();
    let field = path[path.len() - 1].to_owned();
    if value.is_null() {
        assert!(obj.remove(&field).is_some(), "{field} was there to remove");
    } else {
        obj.insert(field, value);
    }
    body
}

/// Sends a body to `/v2/enqueue` and asserts PagerDuty's 400 with exactly these lines.
async fn assert_refused(server: &TestServer, body: impl Into<reqwest::Body>, errors: &[&str]) {
    let (status, answer) = server.post_raw(V2_PATH, body).await;
    assert_eq!((status, &answer), (400, &invalid_body(errors)));
}

#[tokio::test]
async fn every_fixture_in_the_directory_gets_pagerdutys_success_answer() {
    let names = fixture_names();
    assert_eq!(names.len(), 22, "a fixture was added or removed: {names:?}");
    for name in names {
        let server = TestServer::open().await;
        let body = fixture_json(&name);
        // Bodies as the clients send them: the file's own bytes.
        if name.contains("_change") {
            let (status, answer) = server.post_raw(CHANGE_PATH, fixture(&name)).await;
            assert_eq!((status, answer), (202, change_success()), "{name}");
            assert_eq!(server.incident_total().await, 0, "{name}: change events open no incident");
        } else if name.contains("_v1_") {
            let (status, answer) = server.post_raw(V1_PATH, fixture(&name)).await;
            let key = match body["incident_key"].as_str() {
                Some(k) if !k.is_empty() => k.to_owned(),
                _ => answer["incident_key"].as_str().filter(|k| is_hex32(k)).expect("a generated key").to_owned(),
            };
            assert_eq!((status, answer), (200, v1_success(&key)), "{name}");
        } else {
            assert!(name.contains("_v2_"), "{name} names its protocol");
            let (status, answer) = server.post_raw(V2_PATH, fixture(&name)).await;
            let key = match body["dedup_key"].as_str() {
                Some(k) if !k.is_empty() => k.to_owned(),
                _ => answer["dedup_key"].as_str().filter(|k| is_hex32(k)).expect("a generated key").to_owned(),
            };
            assert_eq!((status, answer), (202, v2_success(&key)), "{name}");
        }
        // Triggers open exactly one incident; acknowledge / resolve alone are dropped.
        let expected = usize::from(name.contains("_trigger"));
        assert_eq!(server.incidents("").await.len(), expected, "{name}");
    }
}

#[tokio::test]
async fn each_v2_trigger_fixture_opens_an_incident_from_its_payload() {
    for (name, severity, dedup) in V2_TRIGGERS {
        let server = TestServer::open().await;
        let sent = fixture_json(name);
        let (status, answer) = server.post_raw(V2_PATH, fixture(name)).await;
        assert_eq!(status, 202, "{name}: {answer}");
        let key = answer["dedup_key"].as_str().unwrap().to_owned();
        match dedup {
            Some(d) => assert_eq!(key, *d, "{name}"),
            None => assert!(is_hex32(&key), "{name}: generated key {key:?}"),
        }
        assert_eq!(answer, v2_success(&key), "{name}");

        let incidents = server.incidents("").await;
        assert_eq!(incidents.len(), 1, "{name}");
        let inc = &incidents[0];
        let p = &sent["payload"];
        assert_eq!(inc["status"], "triggered", "{name}");
        assert_eq!(inc["title"], p["summary"], "{name}");
        assert_eq!(inc["severity"], *severity, "{name}");
        assert_eq!(inc["severity"], p["severity"], "{name}");
        assert_eq!(inc["source"], p["source"], "{name}");
        assert_eq!(inc["component"], p["component"], "{name}");
        assert_eq!(inc["group"], p["group"], "{name}");
        assert_eq!(inc["class"], p["class"], "{name}");
        assert_eq!(inc["dedup_key"], key.as_str(), "{name}");
        assert_eq!(inc["service"], open_service_name(KEY), "{name}");
        assert_eq!(inc["urgency"], "high", "{name}");
        assert_eq!(inc["event_count"], 1, "{name}");
        assert_eq!(inc["acknowledged_at"], Value::Null, "{name}");
        assert_eq!(inc["resolved_at"], Value::Null, "{name}");
        assert_eq!(inc["number"], 1, "{name}");
        assert!(inc["id"].as_str().is_some_and(|id| id.len() == 36), "{name}: id {}", inc["id"]);

        let timeline = server.timeline(inc["id"].as_str().unwrap()).await;
        assert_eq!(timeline.len(), 1, "{name}");
        let e = &timeline[0];
        assert_eq!((&e["protocol"], &e["action"], &e["outcome"]), (&json!("v2"), &json!("trigger"), &json!("opened")));
        assert_eq!(e["summary"], p["summary"], "{name}");
        assert_eq!(e["severity"], *severity, "{name}");
        assert_eq!(without_keys(&e["raw"]), without_keys(&sent), "{name}: the raw body is kept");
    }
}

#[tokio::test]
async fn elastalert_empty_dedup_keys_are_not_deduplicated_onto_the_empty_string() {
    let server = TestServer::open().await;
    let (s1, a1) = server.post_raw(V2_PATH, fixture("elastalert2_v2_trigger.json")).await;
    let (s2, a2) = server.post_raw(V2_PATH, fixture("elastalert2_v2_trigger.json")).await;
    assert_eq!((s1, s2), (202, 202));
    assert_ne!(a1["dedup_key"], a2["dedup_key"], "each trigger without a key gets its own");
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 2);
    assert!(incidents.iter().all(|i| i["dedup_key"] != ""));
}

#[tokio::test]
async fn alertmanager_trigger_then_resolve_with_a_full_payload() {
    let server = TestServer::open().await;
    let key = "969b42cb7985564fe831c0e87532cba80ab0c0239a9c0691820856f538f04cb3";
    let (status, answer) = server.post_raw(V2_PATH, fixture("alertmanager_v2_trigger.json")).await;
    assert_eq!((status, answer), (202, v2_success(key)));
    let (status, answer) = server.post_raw(V2_PATH, fixture("alertmanager_v2_resolve.json")).await;
    assert_eq!((status, answer), (202, v2_success(key)));

    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let inc = server.incident(incidents[0]["number"].clone()).await;
    assert_eq!(inc["status"], "resolved");
    assert!(inc["resolved_at"].is_string());
    // The title stays the first summary, not the resolve's "[RESOLVED] ...".
    assert_eq!(inc["title"], fixture_json("alertmanager_v2_trigger.json")["payload"]["summary"]);
    let timeline = inc["timeline"].as_array().unwrap();
    let steps: Vec<(&str, &str)> =
        timeline.iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(steps, [("trigger", "opened"), ("resolve", "resolved")]);
    assert_eq!(without_keys(&timeline[1]["raw"]), without_keys(&fixture_json("alertmanager_v2_resolve.json")));
}

#[tokio::test]
async fn pdpyras_trigger_acknowledge_resolve() {
    let server = TestServer::open().await;
    let key = "db-replica-02/replication-lag";
    for (file, status) in [
        ("pdpyras_v2_trigger.json", "triggered"),
        ("pdpyras_v2_acknowledge.json", "acknowledged"),
        ("pdpyras_v2_resolve.json", "resolved"),
    ] {
        let (code, answer) = server.post_raw(V2_PATH, fixture(file)).await;
        assert_eq!((code, answer), (202, v2_success(key)), "{file}");
        let incidents = server.incidents("").await;
        assert_eq!(incidents.len(), 1, "{file}");
        assert_eq!(incidents[0]["status"], status, "{file}");
    }
    let inc = &server.incidents("").await[0];
    assert!(inc["acknowledged_at"].is_string() && inc["resolved_at"].is_string());
    assert_eq!(inc["event_count"], 3);
}

#[tokio::test]
async fn docs_acknowledge_and_resolve_match_no_alert_and_are_dropped_with_success() {
    let server = TestServer::open().await;
    // The docs' trigger uses "samplekeyhere", their acknowledge / resolve "dedupkeyhere".
    let (status, _) = server.post_raw(V2_PATH, fixture("pd_docs_v2_trigger.json")).await;
    assert_eq!(status, 202);
    for file in ["pd_docs_v2_acknowledge.json", "pd_docs_v2_resolve.json"] {
        let (status, answer) = server.post_raw(V2_PATH, fixture(file)).await;
        assert_eq!((status, answer), (202, v2_success("dedupkeyhere")), "{file}");
    }
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1, "no incident for dedupkeyhere");
    assert_eq!(incidents[0]["dedup_key"], "samplekeyhere");
    assert_eq!(incidents[0]["status"], "triggered", "the other key's incident is untouched");
    assert_eq!(incidents[0]["event_count"], 1);
}

#[tokio::test]
async fn a_trigger_without_a_dedup_key_gets_a_generated_one_it_can_be_resolved_by() {
    let server = TestServer::open().await;
    let mut body = v2_trigger(KEY, "x", "no key");
    body.as_object_mut().unwrap().remove("dedup_key");
    let (status, answer) = server.post(V2_PATH, &body).await;
    assert_eq!(status, 202);
    let key = answer["dedup_key"].as_str().unwrap().to_owned();
    assert!(is_hex32(&key), "{key}");
    assert_eq!(answer, v2_success(&key));
    let (status, answer) = server.post(V2_PATH, &v2_action(KEY, &key, "resolve")).await;
    assert_eq!((status, answer), (202, v2_success(&key)));
    let incidents = server.incidents(&format!("dedup_key={key}")).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
}

#[tokio::test]
async fn missing_and_invalid_fields_each_get_their_own_line() {
    let server = TestServer::open().await;
    let invalid_action = "event_action is invalid (must be one of: trigger acknowledge resolve)";
    let invalid_severity = "payload.severity is invalid (must be one of: critical error warning info)";
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // Missing routing key.
        (trigger_with(&["routing_key"], Value::Null), vec!["routing_key is required"]),
        (trigger_with(&["routing_key"], json!("   ")), vec!["routing_key must not be blank"]),
        (trigger_with(&["routing_key"], json!(42)), vec!["routing_key must be a string"]),
        // Missing and invalid event_action.
        (trigger_with(&["event_action"], Value::Null), vec!["event_action is required"]),
        (trigger_with(&["event_action"], json!("explode")), vec![invalid_action]),
        (trigger_with(&["event_action"], json!("")), vec![invalid_action]),
        (trigger_with(&["event_action"], json!(1)), vec!["event_action must be a string"]),
        // Severity.
        (trigger_with(&["payload", "severity"], json!("fatal")), vec![invalid_severity]),
        (trigger_with(&["payload", "severity"], json!("CRITICAL")), vec![invalid_severity]),
        (trigger_with(&["payload", "severity"], Value::Null), vec!["payload.severity is required"]),
        (trigger_with(&["payload", "severity"], json!(3)), vec!["payload.severity must be a string"]),
        // Required payload fields of a trigger.
        (trigger_with(&["payload"], Value::Null), vec!["payload is required for trigger events"]),
        (trigger_with(&["payload", "summary"], Value::Null), vec!["payload.summary is required"]),
        (trigger_with(&["payload", "summary"], json!("  ")), vec!["payload.summary must not be blank"]),
        (trigger_with(&["payload", "source"], Value::Null), vec!["payload.source is required"]),
        // Wrong JSON types.
        (trigger_with(&["payload", "summary"], json!(12)), vec!["payload.summary must be a string"]),
        (trigger_with(&["payload"], json!("disk full")), vec!["payload must be a JSON object"]),
        (trigger_with(&["payload"], json!(["disk full"])), vec!["payload must be a JSON object"]),
        (trigger_with(&["payload", "source"], json!({"host": "db1"})), vec!["payload.source must be a string"]),
        (trigger_with(&["payload", "component"], json!(["a"])), vec!["payload.component must be a string"]),
        (trigger_with(&["payload", "group"], json!(1)), vec!["payload.group must be a string"]),
        (trigger_with(&["payload", "class"], json!(true)), vec!["payload.class must be a string"]),
        (
            trigger_with(&["payload", "timestamp"], json!("yesterday")),
            vec!["payload.timestamp is invalid (must be an ISO 8601 date and time)"],
        ),
        (trigger_with(&["payload", "timestamp"], json!(1700000000)), vec!["payload.timestamp must be a string"]),
        (trigger_with(&["dedup_key"], json!(5)), vec!["dedup_key must be a string"]),
        (trigger_with(&["links"], json!({"href": "https://x"})), vec!["links must be an array"]),
        (trigger_with(&["links"], json!("https://x")), vec!["links must be an array"]),
        (trigger_with(&["links"], json!([3])), vec!["links[0] must be a JSON object"]),
        (
            trigger_with(&["links"], json!([{"href": "https://a"}, {"text": "no href"}])),
            vec!["links[1].href is required"],
        ),
        (trigger_with(&["links"], json!([{"href": 5}])), vec!["links[0].href must be a string"]),
        (trigger_with(&["images"], json!({"src": "https://x"})), vec!["images must be an array"]),
        (trigger_with(&["images"], json!([{"alt": "no src"}])), vec!["images[0].src is required"]),
        (trigger_with(&["client"], json!(5)), vec!["client must be a string"]),
        (trigger_with(&["client_url"], json!({})), vec!["client_url must be a string"]),
        // Acknowledge and resolve need a dedup key.
        (
            json!({"routing_key": KEY, "event_action": "acknowledge"}),
            vec!["dedup_key is required for acknowledge events"],
        ),
        (
            json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": ""}),
            vec!["dedup_key is required for resolve events"],
        ),
        (
            json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": "resolved"}),
            vec!["payload must be a JSON object"],
        ),
    ];
    for (body, errors) in &cases {
        let (status, answer) = server.post(V2_PATH, body).await;
        assert_eq!((status, &answer), (400, &invalid_body(errors)), "{body}");
    }
    assert_eq!(server.incident_total().await, 0, "nothing invalid opens an incident");
}

#[tokio::test]
async fn several_problems_at_once_give_several_lines_in_order() {
    let server = TestServer::open().await;
    assert_refused(&server, "{}", &["routing_key is required", "event_action is required"]).await;
    let body = json!({"event_action": "explode", "dedup_key": 5});
    assert_refused(
        &server,
        body.to_string(),
        &[
            "routing_key is required",
            "event_action is invalid (must be one of: trigger acknowledge resolve)",
            "dedup_key must be a string",
        ],
    )
    .await;
    let body = json!({"routing_key": KEY, "event_action": "trigger", "payload": {}});
    assert_refused(
        &server,
        body.to_string(),
        &["payload.summary is required", "payload.source is required", "payload.severity is required"],
    )
    .await;
    let body = json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": "d".repeat(256), "links": {},
        "payload": {"summary": 7, "severity": "fatal", "timestamp": "soon"}
    });
    assert_refused(
        &server,
        body.to_string(),
        &[
            "dedup_key is too long (maximum is 255 characters)",
            "links must be an array",
            "payload.summary must be a string",
            "payload.source is required",
            "payload.severity is invalid (must be one of: critical error warning info)",
            "payload.timestamp is invalid (must be an ISO 8601 date and time)",
        ],
    )
    .await;
    assert_eq!(server.incident_total().await, 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_objects() {
    let server = TestServer::open().await;
    assert_refused(&server, "", &["request body is empty (expected a JSON object)"]).await;
    assert_refused(&server, "  \n", &["request body is empty (expected a JSON object)"]).await;
    let array = json!([v2_trigger(KEY, "in-array", "x")]).to_string();
    assert_refused(&server, array, &["request body must be a JSON object"]).await;
    assert_refused(&server, "null", &["request body must be a JSON object"]).await;
    assert_refused(&server, "\"a string\"", &["request body must be a JSON object"]).await;
    assert_refused(&server, vec![0xffu8, 0xfe, b'{'], &["request body is not valid UTF-8 JSON"]).await;
    for body in ["routing_key=abc&event_action=trigger", "{\"routing_key\": ", "<xml/>"] {
        let (status, answer) = server.post_raw(V2_PATH, body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["status"], "invalid event");
        assert_eq!(answer["message"], "Event object is invalid");
        let errors = answer["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{answer}");
        assert!(errors[0].as_str().unwrap().starts_with("request body is not valid JSON"), "{answer}");
    }
    assert_eq!(server.incident_total().await, 0);
}

#[tokio::test]
async fn summary_is_limited_to_1024_characters() {
    let server = TestServer::open().await;
    for (i, summary) in ["s".repeat(1024), "é".repeat(1024)].iter().enumerate() {
        let dedup = format!("long-{i}");
        let (status, answer) = server.post(V2_PATH, &v2_trigger(KEY, &dedup, summary)).await;
        assert_eq!((status, answer), (202, v2_success(&dedup)), "1024 characters are accepted");
        let inc = &server.incidents(&format!("dedup_key={dedup}")).await[0];
        assert_eq!(inc["title"].as_str().unwrap(), summary.as_str(), "stored whole");
    }
    let body = v2_trigger(KEY, "too-long", &"s".repeat(1025));
    assert_refused(&server, body.to_string(), &["payload.summary is too long (maximum is 1024 characters)"]).await;
    let body = v2_trigger(KEY, "too-long", &"é".repeat(1025));
    assert_refused(&server, body.to_string(), &["payload.summary is too long (maximum is 1024 characters)"]).await;
    assert!(server.incidents("dedup_key=too-long").await.is_empty());
}

#[tokio::test]
async fn dedup_key_is_limited_to_255_characters() {
    let server = TestServer::open().await;
    let longest = "k".repeat(255);
    let (status, answer) = server.post(V2_PATH, &v2_trigger(KEY, &longest, "x")).await;
    assert_eq!((status, answer), (202, v2_success(&longest)));
    let (status, answer) = server.post(V2_PATH, &v2_action(KEY, &longest, "resolve")).await;
    assert_eq!((status, answer), (202, v2_success(&longest)));
    let inc = &server.incidents(&format!("dedup_key={longest}")).await[0];
    assert_eq!(inc["status"], "resolved");

    let too_long = "k".repeat(256);
    let line = "dedup_key is too long (maximum is 255 characters)";
    assert_refused(&server, v2_trigger(KEY, &too_long, "x").to_string(), &[line]).await;
    assert_refused(&server, v2_action(KEY, &too_long, "acknowledge").to_string(), &[line]).await;
    assert_eq!(server.incident_total().await, 1);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = TestServer::open().await;
    let mut body = v2_trigger(KEY, "extra", "with extras");
    body["something_new"] = json!({"nested": [1, 2, 3]});
    body["payload"]["not_a_pd_field"] = json!(42);
    body["payload"]["custom_details"] = json!("details may be any JSON, even a string");
    let (status, answer) = server.post(V2_PATH, &body).await;
    assert_eq!((status, answer), (202, v2_success("extra")));
    let mut resolve = v2_action(KEY, "extra", "resolve");
    resolve["x-trace-id"] = json!("abc");
    let (status, answer) = server.post(V2_PATH, &resolve).await;
    assert_eq!((status, answer), (202, v2_success("extra")));
    let inc = &server.incidents("").await[0];
    assert_eq!((inc["title"].as_str(), inc["status"].as_str()), (Some("with extras"), Some("resolved")));
}

#[tokio::test]
async fn invalid_events_never_touch_an_open_incident() {
    let server = TestServer::open().await;
    let (status, _) = server.post(V2_PATH, &v2_trigger(KEY, "k", "first")).await;
    assert_eq!(status, 202);
    // The same dedup key, each event invalid in a different way.
    let mut bad_trigger = v2_trigger(KEY, "k", "second");
    bad_trigger["payload"]["severity"] = json!("fatal");
    let mut bad_resolve = v2_action(KEY, "k", "resolve");
    bad_resolve["client"] = json!(5);
    let mut keyless_ack = v2_action(KEY, "k", "acknowledge");
    keyless_ack.as_object_mut().unwrap().remove("routing_key");
    for body in [bad_trigger, bad_resolve, keyless_ack] {
        let (status, _) = server.post(V2_PATH, &body).await;
        assert_eq!(status, 400, "{body}");
    }
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "triggered");
    assert_eq!(incidents[0]["event_count"], 1);
    assert_eq!(server.timeline(1).await.len(), 1, "no invalid event is on the timeline");
}

/// A v2 trigger serialized to exactly `size` bytes.
fn trigger_of_size(dedup: &str, size: usize) -> String {
    let mut body = v2_trigger(KEY, dedup, "big");
    body["payload"]["custom_details"] = json!({"blob": ""});
    let base = body.to_string().len();
    assert!(size >= base);
    body["payload"]["custom_details"]["blob"] = json!("x".repeat(size - base));
    let text = body.to_string();
    assert_eq!(text.len(), size);
    text
}

#[tokio::test]
async fn bodies_up_to_512_kb_are_accepted_and_larger_ones_get_413() {
    let server = TestServer::open().await;
    for (dedup, size) in [("at-limit", LIMIT_BYTES), ("under-limit", LIMIT_BYTES - 1)] {
        let (status, answer) = server.post_raw(V2_PATH, trigger_of_size(dedup, size)).await;
        assert_eq!((status, answer), (202, v2_success(dedup)), "{size} bytes");
    }
    let too_large = json!({
        "status": "invalid event",
        "message": "Request entity too large",
        "errors": [format!("request body is larger than {LIMIT_BYTES} bytes")]
    });
    for size in [LIMIT_BYTES + 1, LIMIT_BYTES + 4096] {
        let (status, answer) = server.post_raw(V2_PATH, trigger_of_size("over-limit", size)).await;
        assert_eq!((status, &answer), (413, &too_large), "{size} bytes");
    }
    assert!(server.incidents("dedup_key=over-limit").await.is_empty());
    assert_eq!(server.incident_total().await, 2);

    // The other intake paths share the limit.
    let oversized = trigger_of_size("over-limit", LIMIT_BYTES + 1);
    for path in [V1_PATH, CHANGE_PATH, UNIFIED_PATH] {
        let (status, answer) = server.post_raw(path, oversized.clone()).await;
        assert_eq!((status, &answer), (413, &too_large), "{path}");
    }
    assert_eq!(server.incident_total().await, 2);
}

#[tokio::test]
async fn configured_keys_route_to_their_service_and_unknown_keys_are_refused() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    for (key, dedup, service) in
        [(KEY, "a", "payments"), ("payments-second-key", "b", "payments"), (CHECKOUT_KEY, "c", "checkout")]
    {
        let (status, answer) = server.post(V2_PATH, &v2_trigger(key, dedup, "x")).await;
        assert_eq!((status, answer), (202, v2_success(dedup)));
        let inc = &server.incidents(&format!("dedup_key={dedup}")).await[0];
        assert_eq!(inc["service"], service, "{dedup}");
    }
    // urgency = "severity" on checkout: warning is low.
    let mut warning = v2_trigger(CHECKOUT_KEY, "w", "x");
    warning["payload"]["severity"] = json!("warning");
    assert_eq!(server.post(V2_PATH, &warning).await.0, 202);
    assert_eq!(server.incidents("dedup_key=w").await[0]["urgency"], "low");

    let unknown = "not-a-configured-key-0000000000";
    for body in [v2_trigger(unknown, "u", "x"), v2_action(unknown, "a", "resolve")] {
        let (status, answer) = server.post(V2_PATH, &body).await;
        assert_eq!((status, &answer), (400, &invalid_body(&["routing_key is not a known integration key"])));
        assert!(!answer.to_string().contains(unknown), "the error does not echo the key");
    }
    assert!(server.incidents("dedup_key=u").await.is_empty());
    assert_eq!(server.incidents("dedup_key=a").await[0]["status"], "triggered", "the unknown key resolved nothing");
    assert_eq!(server.incident_total().await, 4);
}

#[tokio::test]
async fn open_mode_accepts_any_key_as_a_service_named_by_its_fingerprint() {
    let server = TestServer::open().await;
    let keys = ["any-key-at-all", "R0UT1NGKEY-2"];
    for (i, key) in keys.iter().enumerate() {
        let dedup = format!("d{i}");
        let (status, answer) = server.post(V2_PATH, &v2_trigger(key, &dedup, "x")).await;
        assert_eq!((status, answer), (202, v2_success(&dedup)));
        let inc = &server.incidents(&format!("dedup_key={dedup}")).await[0];
        let service = inc["service"].as_str().unwrap();
        assert_eq!(service, open_service_name(key));
        assert!(service.starts_with("key-") && service.len() == 12, "{service}");
    }
    let (_, list) = server.get("/api/v1/incidents").await;
    assert_ne!(list["incidents"][0]["service"], list["incidents"][1]["service"], "each key is its own service");
    let text = list.to_string();
    for key in keys {
        assert!(!text.contains(key), "the list does not show the key {key}");
    }
}

/// At c22846c the timeline's `raw` was the body verbatim, so `GET /api/v1/incidents/{id}` showed
/// the `routing_key` / `service_key`; the store now keeps fingerprints in their place.
#[tokio::test]
async fn the_integration_key_never_appears_in_any_api_response() {
    let server = TestServer::open().await;
    let key = "secret-routing-key-7f3a";
    assert_eq!(server.post(V2_PATH, &v2_trigger(key, "leak", "x")).await.0, 202);
    assert_eq!(server.post(V1_PATH, &v1_trigger(key, "leak-v1", "x")).await.0, 200);
    let unified = format!("{UNIFIED_PATH}?integration_key={key}");
    assert_eq!(server.post(&unified, &v2_trigger(key, "leak-unified", "x")).await.0, 202);
    let change = json!({"routing_key": key, "payload": {"summary": "deploy"}});
    assert_eq!(server.post(CHANGE_PATH, &change).await.0, 202);
    let service = open_service_name(key);
    for path in [
        "/api/v1/incidents".to_owned(),
        "/api/v1/incidents/1".to_owned(),
        "/api/v1/incidents/2".to_owned(),
        "/api/v1/incidents/3".to_owned(),
        format!("/api/v1/services/{service}/change_events"),
        "/metrics".to_owned(),
    ] {
        let (status, _, text) = server.get_text(&path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!text.contains(key), "{path} shows the integration key: {text}");
    }
}
