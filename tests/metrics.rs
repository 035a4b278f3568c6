//! `GET /metrics`: events by protocol and outcome, incidents by status, request latency.

mod common;

use common::*;
use serde_json::json;

fn events(text: &str, protocol: &str, outcome: &str) -> Option<f64> {
    metric_value(text, &format!(r#"firehouse_events_total{{protocol="{protocol}",outcome="{outcome}"}}"#))
}

fn incidents(text: &str, status: &str) -> Option<f64> {
    metric_value(text, &format!(r#"firehouse_incidents{{status="{status}"}}"#))
}

fn requests(text: &str, method: &str, route: &str, status: u16) -> Option<f64> {
    metric_value(
        text,
        &format!(
            r#"firehouse_http_request_duration_seconds_count{{method="{method}",route="{route}",status="{status}"}}"#
        ),
    )
}

#[tokio::test]
async fn a_fresh_server_exports_its_metric_families() {
    let server = TestServer::open().await;
    let (status, content_type, text) = server.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    for family in [
        "# TYPE firehouse_events counter",
        "# TYPE firehouse_http_request_duration_seconds histogram",
        "# TYPE firehouse_incidents gauge",
        "# TYPE firehouse_ingest_batch_size histogram",
    ] {
        assert!(text.contains(family), "{family} in:\n{text}");
    }
    for status in ["triggered", "acknowledged", "resolved"] {
        assert_eq!(incidents(&text, status), Some(0.0), "{status}");
    }
    assert_eq!(events(&text, "v2", "opened"), None, "no event yet");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn event_counts_match_what_was_sent() {
    let server = TestServer::open().await;
    // v2: 3 opened, 2 appended, 1 acknowledged, 1 unchanged, 1 resolved, 2 dropped, 4 invalid, 1 too large.
    for i in 0..3 {
        assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, &format!("m{i}"), "x")).await.0, 202);
    }
    for _ in 0..2 {
        assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, "m0", "again")).await.0, 202);
    }
    for (dedup, action) in [("m1", "acknowledge"), ("m1", "acknowledge"), ("m2", "resolve"), ("gone", "resolve")] {
        assert_eq!(server.post(V2_PATH, &v2_action(KEY, dedup, action)).await.0, 202);
    }
    assert_eq!(server.post(V2_PATH, &v2_action(KEY, "m2", "acknowledge")).await.0, 202);
    for body in ["", "[]", "{}", r#"{"routing_key":"k","event_action":"explode"}"#] {
        assert_eq!(server.post_raw(V2_PATH, body).await.0, 400, "{body}");
    }
    assert_eq!(server.post_raw(V2_PATH, "x".repeat(LIMIT_BYTES + 1)).await.0, 413);
    // v1: 2 opened, 1 resolved, 1 invalid.
    assert_eq!(server.post(V1_PATH, &v1_trigger(KEY, "v1a", "x")).await.0, 200);
    assert_eq!(server.post_raw(V1_PATH, fixture("pd_docs_v1_trigger.json")).await.0, 200);
    assert_eq!(server.post(V1_PATH, &v1_action(KEY, "v1a", "resolve")).await.0, 200);
    assert_eq!(server.post(V1_PATH, &json!({"service_key": KEY, "event_type": "boom"})).await.0, 400);
    // Unified: counted under the version detected.
    assert_eq!(server.post(UNIFIED_PATH, &v1_trigger(KEY, "u1", "x")).await.0, 200);
    assert_eq!(server.post(UNIFIED_PATH, &v2_trigger(KEY, "u2", "x")).await.0, 202);
    // Change: 2 stored, 1 invalid.
    for name in ["pd_docs_change.json", "pdpyras_change.json"] {
        assert_eq!(server.post_raw(CHANGE_PATH, fixture(name)).await.0, 202);
    }
    assert_eq!(server.post_raw(CHANGE_PATH, "{}").await.0, 400);
    // API: 1 acknowledged.
    assert_eq!(server.post("/api/v1/incidents/1/acknowledge", &json!({"actor": "a"})).await.0, 200);

    let text = server.metrics().await;
    for (protocol, outcome, n) in [
        ("v2", "opened", 4.0),
        ("v2", "appended", 2.0),
        ("v2", "acknowledged", 1.0),
        ("v2", "unchanged", 1.0),
        ("v2", "resolved", 1.0),
        ("v2", "dropped", 2.0),
        ("v2", "invalid", 4.0),
        ("v2", "too_large", 1.0),
        ("v1", "opened", 3.0),
        ("v1", "resolved", 1.0),
        ("v1", "invalid", 1.0),
        ("change", "stored", 2.0),
        ("change", "invalid", 1.0),
        ("api", "acknowledged", 1.0),
    ] {
        assert_eq!(events(&text, protocol, outcome), Some(n), "{protocol} {outcome}\n{text}");
    }
    assert_eq!(events(&text, "v1", "dropped"), None);

    // Incidents: m0 acknowledged (API), m1 acknowledged, m2 resolved, u2, v1 generated key, u1 triggered, v1a resolved.
    assert_eq!(incidents(&text, "triggered"), Some(3.0), "{text}");
    assert_eq!(incidents(&text, "acknowledged"), Some(2.0));
    assert_eq!(incidents(&text, "resolved"), Some(2.0));
    let (_, page) = server.get("/api/v1/incidents?status=triggered").await;
    assert_eq!(page["total"], 3, "the gauge agrees with the API");
}

#[tokio::test]
async fn incident_gauges_follow_status_changes() {
    let server = TestServer::open().await;
    for i in 0..3 {
        assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, &format!("g{i}"), "x")).await.0, 202);
    }
    let text = server.metrics().await;
    assert_eq!((incidents(&text, "triggered"), incidents(&text, "acknowledged")), (Some(3.0), Some(0.0)));
    assert_eq!(server.post(V2_PATH, &v2_action(KEY, "g0", "acknowledge")).await.0, 202);
    assert_eq!(server.post(V2_PATH, &v2_action(KEY, "g1", "resolve")).await.0, 202);
    let text = server.metrics().await;
    assert_eq!(incidents(&text, "triggered"), Some(1.0));
    assert_eq!(incidents(&text, "acknowledged"), Some(1.0));
    assert_eq!(incidents(&text, "resolved"), Some(1.0));
}

#[tokio::test]
async fn request_latency_is_observed_by_route_pattern_and_status() {
    let server = TestServer::open().await;
    for i in 0..3 {
        assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, &format!("r{i}"), "x")).await.0, 202);
    }
    assert_eq!(server.post_raw(V2_PATH, "{}").await.0, 400);
    assert_eq!(server.get("/api/v1/incidents/1").await.0, 200);
    assert_eq!(server.get("/api/v1/incidents/2").await.0, 200);
    assert_eq!(server.get("/api/v1/incidents/99").await.0, 404);

    let text = server.metrics().await;
    assert_eq!(requests(&text, "POST", "/v2/enqueue", 202), Some(3.0), "{text}");
    assert_eq!(requests(&text, "POST", "/v2/enqueue", 400), Some(1.0));
    // Routes are patterns, not raw paths, so incident ids do not multiply the series.
    assert_eq!(requests(&text, "GET", "/api/v1/incidents/{id}", 200), Some(2.0));
    assert_eq!(requests(&text, "GET", "/api/v1/incidents/{id}", 404), Some(1.0));
    assert!(!text.contains(r#"route="/api/v1/incidents/1""#));
    let sum = metric_value(
        &text,
        r#"firehouse_http_request_duration_seconds_sum{method="POST",route="/v2/enqueue",status="202"}"#,
    )
    .unwrap();
    assert!(sum > 0.0 && sum < 30.0, "{sum}");
    let inf = metric_value(
        &text,
        r#"firehouse_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v2/enqueue",status="202"}"#,
    );
    assert_eq!(inf, Some(3.0));
    // Every accepted command went through a committed batch.
    let batched = metric_value(&text, "firehouse_ingest_batch_size_sum").unwrap();
    assert_eq!(batched, 3.0, "three commands were written");
}
