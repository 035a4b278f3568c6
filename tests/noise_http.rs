//! Noise reduction over HTTP: rate limits answered as PagerDuty does, and the silences API.

mod common;

use common::{v2_trigger, TestServer, KEY};
use serde_json::json;

fn config() -> String {
    format!(
        r#"
[[services]]
name = "payments"
integration_keys = ["{KEY}", "second-key"]
rate_limit_per_minute = 3

[services.grouping]
by = ["source"]
window_seconds = 600
"#
    )
}

#[tokio::test]
async fn rate_limits_answer_429_on_v2_and_403_on_v1_per_key() {
    let server = TestServer::with_config(&config()).await;
    for i in 0..3 {
        let (status, _) = server.post("/v2/enqueue", &v2_trigger(KEY, &format!("k{i}"), "x")).await;
        assert_eq!(status, 202);
    }
    let r = server.client.post(server.url("/v2/enqueue")).json(&v2_trigger(KEY, "k9", "x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "throttle exceeded");
    let v1 = json!({"service_key": KEY, "event_type": "trigger", "description": "x"});
    assert_eq!(server.post("/generic/2010-04-15/create_event.json", &v1).await.0, 403);
    // Another key of the same service has its own budget; throttled events were not stored.
    assert_eq!(server.post("/v2/enqueue", &v2_trigger("second-key", "k0", "x")).await.0, 202);
    assert_eq!(server.incidents("").await.len(), 1, "grouped by source: every accepted trigger joined one incident");
    let (_, detail) = server.get("/api/v1/incidents/1").await;
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 4);
    let (_, metrics) = server.get("/metrics").await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains(r#"firehouse_events_total{protocol="v2",outcome="throttled"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"firehouse_events_total{protocol="v2",outcome="grouped"} 3"#), "{metrics}");
}

#[tokio::test]
async fn silences_are_managed_by_the_api() {
    let server = TestServer::open().await;
    let body = json!({"matchers": [{"field": "source", "equals": "host-1"}], "duration_minutes": 60,
        "created_by": "alice", "comment": "planned reboot"});
    let (status, created) = server.post("/api/v1/silences", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();

    let (status, answer) = server.post("/v2/enqueue", &v2_trigger(KEY, "silenced", "reboot noise")).await;
    assert_eq!(status, 202, "silenced events are still accepted: {answer}");
    assert!(server.incidents("").await.is_empty());

    let (_, listed) = server.get("/api/v1/silences").await;
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1);
    let bad = json!({"matchers": [{"field": "nope", "equals": "x"}], "duration_minutes": 5,
        "created_by": "a", "comment": "c"});
    let (status, err) = server.post("/api/v1/silences", &bad).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("bad_request")), "{err}");
    let r = server.client.delete(server.url(&format!("/api/v1/silences/{id}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = server.client.delete(server.url(&format!("/api/v1/silences/{id}"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    assert_eq!(server.post("/v2/enqueue", &v2_trigger(KEY, "after", "real")).await.0, 202);
    assert_eq!(server.incidents("").await.len(), 1);
}

/// A held alert opens its incident when its pause ends, even after a restart whose configuration no longer pauses
/// that service's alerts: the pause it was held for still ends.
#[tokio::test]
async fn a_held_alert_opens_after_a_restart_that_dropped_the_pause() {
    let service = |pause: &str| format!("[[services]]\nname = \"payments\"\nintegration_keys = [\"{KEY}\"]\n{pause}\n");
    let server = TestServer::with_config(&service("pause_seconds = 1")).await;
    assert_eq!(server.post("/v2/enqueue", &v2_trigger(KEY, "blip", "disk full")).await.0, 202);
    assert!(server.incidents("").await.is_empty(), "held during its pause");
    let dir = server.stop().await;

    let server = TestServer::start_in(dir, Some(&service(""))).await;
    let mut incidents = Vec::new();
    for _ in 0..100 {
        incidents = server.incidents("").await;
        if !incidents.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(incidents.len(), 1, "the pause ended: its incident opened");
    assert_eq!(incidents[0]["dedup_key"], "blip");
    assert_eq!(incidents[0]["title"], "disk full");
    let timeline = server.timeline(&incidents[0]["id"].as_str().unwrap()).await;
    assert!(timeline.iter().any(|e| e["action"] == "trigger"), "the held trigger is on its timeline: {timeline:?}");
}
