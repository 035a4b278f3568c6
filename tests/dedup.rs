//! Deduplication and the alert lifecycle, exactly as PagerDuty: scoped to (integration key, dedup
//! key); triggers add to the open alert; after a resolve the next trigger opens a new incident;
//! acknowledge / resolve with nothing open are answered with success and dropped.

mod common;

use common::*;
use serde_json::Value;

const OTHER_KEY: &str = "another-integration-key-00000000";

/// (action, outcome) of each timeline entry.
fn steps(timeline: &[Value]) -> Vec<(String, String)> {
    timeline
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

async fn send(server: &TestServer, body: &Value) {
    let dedup = body["dedup_key"].as_str().unwrap();
    let (status, answer) = server.post(V2_PATH, body).await;
    assert_eq!((status, answer), (202, v2_success(dedup)), "{body}");
}

#[tokio::test]
async fn two_triggers_with_one_key_make_one_incident_with_two_timeline_entries() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "db1/disk", "Disk 95% full")).await;
    send(&server, &v2_trigger(KEY, "db1/disk", "Disk 97% full")).await;
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let inc = &incidents[0];
    assert_eq!(inc["status"], "triggered");
    assert_eq!(inc["title"], "Disk 95% full", "the title is the first summary");
    assert_eq!(inc["event_count"], 2);
    let timeline = server.timeline(inc["id"].as_str().unwrap()).await;
    assert_eq!(steps(&timeline), pairs(&[("trigger", "opened"), ("trigger", "appended")]));
    assert_eq!(timeline[1]["summary"], "Disk 97% full");
}

#[tokio::test]
async fn acknowledge_then_resolve_move_the_status_and_stamp_the_times() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "k", "x")).await;
    let opened = &server.incidents("").await[0];
    assert_eq!((opened["acknowledged_at"].clone(), opened["resolved_at"].clone()), (Value::Null, Value::Null));

    send(&server, &v2_action(KEY, "k", "acknowledge")).await;
    let acked = &server.incidents("").await[0];
    assert_eq!(acked["status"], "acknowledged");
    let acked_at = acked["acknowledged_at"].as_str().expect("acknowledged_at is set").to_owned();
    assert!(acked_at.as_str() >= opened["created_at"].as_str().unwrap());
    assert_eq!(acked["resolved_at"], Value::Null);

    send(&server, &v2_action(KEY, "k", "resolve")).await;
    let resolved = &server.incidents("").await[0];
    assert_eq!(resolved["status"], "resolved");
    let resolved_at = resolved["resolved_at"].as_str().expect("resolved_at is set");
    assert!(resolved_at >= acked_at.as_str());
    assert_eq!(resolved["acknowledged_at"], acked_at.as_str(), "acknowledged_at is kept");
    assert_eq!(resolved["updated_at"], resolved_at);
    assert_eq!(resolved["id"], opened["id"]);
    let timeline = server.timeline(resolved["id"].as_str().unwrap()).await;
    assert_eq!(
        steps(&timeline),
        pairs(&[("trigger", "opened"), ("acknowledge", "acknowledged"), ("resolve", "resolved")])
    );
}

#[tokio::test]
async fn a_trigger_after_resolve_opens_a_new_incident() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "flappy", "first time")).await;
    send(&server, &v2_action(KEY, "flappy", "resolve")).await;
    send(&server, &v2_trigger(KEY, "flappy", "second time")).await;

    let incidents = server.incidents("dedup_key=flappy").await;
    assert_eq!(incidents.len(), 2);
    let (new, old) = (&incidents[0], &incidents[1]);
    assert_ne!(new["id"], old["id"]);
    assert_ne!(new["number"], old["number"]);
    assert!(new["number"].as_i64() > old["number"].as_i64(), "newest first");
    assert_eq!((new["status"].as_str(), new["title"].as_str()), (Some("triggered"), Some("second time")));
    assert_eq!((old["status"].as_str(), old["title"].as_str()), (Some("resolved"), Some("first time")));
    assert_eq!(new["event_count"], 1);
    assert_eq!(old["event_count"], 2, "the old incident's timeline is closed");

    // The next resolve applies to the new incident only.
    send(&server, &v2_action(KEY, "flappy", "acknowledge")).await;
    let incidents = server.incidents("dedup_key=flappy").await;
    assert_eq!(incidents[0]["status"], "acknowledged");
    assert_eq!(incidents[1]["status"], "resolved");
    assert_eq!(incidents[1]["event_count"], 2);
}

#[tokio::test]
async fn acknowledge_or_resolve_with_no_open_alert_succeed_and_open_nothing() {
    let server = TestServer::open().await;
    send(&server, &v2_action(KEY, "never-triggered", "acknowledge")).await;
    send(&server, &v2_action(KEY, "never-triggered", "resolve")).await;
    assert_eq!(server.incident_total().await, 0);

    // After a resolve, a second resolve and an acknowledge are dropped too.
    send(&server, &v2_trigger(KEY, "done", "x")).await;
    send(&server, &v2_action(KEY, "done", "resolve")).await;
    send(&server, &v2_action(KEY, "done", "resolve")).await;
    send(&server, &v2_action(KEY, "done", "acknowledge")).await;
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
    assert_eq!(incidents[0]["acknowledged_at"], Value::Null, "the late acknowledge did nothing");
    assert_eq!(incidents[0]["event_count"], 2, "dropped events are not on the incident's timeline");

    // The dropped events were still received and counted as such.
    let metrics = server.metrics().await;
    assert_eq!(metric_value(&metrics, r#"firehouse_events_total{protocol="v2",outcome="dropped"}"#), Some(4.0));
}

#[tokio::test]
async fn the_same_dedup_key_under_another_integration_key_is_another_alert() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "shared-name", "from the first key")).await;

    // Acknowledge and resolve through another key match nothing and are dropped.
    send(&server, &v2_action(OTHER_KEY, "shared-name", "acknowledge")).await;
    send(&server, &v2_action(OTHER_KEY, "shared-name", "resolve")).await;
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "triggered");
    assert_eq!(incidents[0]["event_count"], 1);

    // A trigger through another key opens its own incident.
    send(&server, &v2_trigger(OTHER_KEY, "shared-name", "from the other key")).await;
    let incidents = server.incidents("dedup_key=shared-name").await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0]["title"], "from the other key");
    assert_eq!(incidents[0]["service"], open_service_name(OTHER_KEY));
    assert_eq!(incidents[1]["service"], open_service_name(KEY));

    // Each key resolves only its own.
    send(&server, &v2_action(OTHER_KEY, "shared-name", "resolve")).await;
    let incidents = server.incidents("dedup_key=shared-name").await;
    assert_eq!(incidents[0]["status"], "resolved");
    assert_eq!(incidents[1]["status"], "triggered");
}

#[tokio::test]
async fn two_keys_of_one_configured_service_still_dedup_separately() {
    let server = TestServer::with_config(TWO_SERVICES).await;
    send(&server, &v2_trigger(KEY, "k", "first key")).await;
    send(&server, &v2_trigger("payments-second-key", "k", "second key")).await;
    let incidents = server.incidents("service=payments").await;
    assert_eq!(incidents.len(), 2, "dedup is per integration key, not per service");
    send(&server, &v2_action("payments-second-key", "k", "resolve")).await;
    let incidents = server.incidents("service=payments").await;
    assert_eq!(incidents[0]["status"], "resolved");
    assert_eq!(incidents[1]["status"], "triggered");
}

#[tokio::test]
async fn a_trigger_while_acknowledged_is_appended_and_the_incident_stays_acknowledged() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "k", "x")).await;
    send(&server, &v2_action(KEY, "k", "acknowledge")).await;
    send(&server, &v2_trigger(KEY, "k", "still broken")).await;
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "acknowledged");
    let timeline = server.timeline(incidents[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        steps(&timeline),
        pairs(&[("trigger", "opened"), ("acknowledge", "acknowledged"), ("trigger", "appended")])
    );
}

#[tokio::test]
async fn acknowledging_an_acknowledged_alert_changes_nothing() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "k", "x")).await;
    send(&server, &v2_action(KEY, "k", "acknowledge")).await;
    let first = server.incidents("").await[0].clone();
    send(&server, &v2_action(KEY, "k", "acknowledge")).await;
    let second = &server.incidents("").await[0];
    assert_eq!(second["status"], "acknowledged");
    assert_eq!(second["acknowledged_at"], first["acknowledged_at"], "the first acknowledgement's time is kept");
    let timeline = server.timeline(second["id"].as_str().unwrap()).await;
    assert_eq!(
        steps(&timeline),
        pairs(&[("trigger", "opened"), ("acknowledge", "acknowledged"), ("acknowledge", "unchanged")])
    );
    // A resolve still closes it.
    send(&server, &v2_action(KEY, "k", "resolve")).await;
    assert_eq!(server.incidents("").await[0]["status"], "resolved");
}

#[tokio::test]
async fn resolving_a_triggered_alert_directly_works() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "k", "x")).await;
    send(&server, &v2_action(KEY, "k", "resolve")).await;
    let inc = &server.incidents("").await[0];
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["acknowledged_at"], Value::Null);
    assert!(inc["resolved_at"].is_string());
}

#[tokio::test]
async fn v1_and_v2_events_with_the_same_key_act_on_the_same_alert() {
    let server = TestServer::open().await;
    send(&server, &v2_trigger(KEY, "srv01/HTTP", "opened by v2")).await;
    let (status, _) = server.post(V1_PATH, &v1_trigger(KEY, "srv01/HTTP", "again by v1")).await;
    assert_eq!(status, 200);
    let (status, _) = server.post(V1_PATH, &v1_action(KEY, "srv01/HTTP", "resolve")).await;
    assert_eq!(status, 200);
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "resolved");
    let timeline = server.timeline(incidents[0]["id"].as_str().unwrap()).await;
    let protocols: Vec<&str> = timeline.iter().map(|e| e["protocol"].as_str().unwrap()).collect();
    assert_eq!(protocols, ["v2", "v1", "v1"]);
    assert_eq!(steps(&timeline), pairs(&[("trigger", "opened"), ("trigger", "appended"), ("resolve", "resolved")]));
}

#[tokio::test]
async fn dedup_keys_are_exact_strings() {
    let server = TestServer::open().await;
    for dedup in ["Case", "case", "case ", "srv01/HTTP", "srv01%2FHTTP"] {
        send(&server, &v2_trigger(KEY, dedup, dedup)).await;
    }
    assert_eq!(server.incident_total().await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_for_one_key_open_exactly_one_incident() {
    let server = TestServer::open().await;
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, url) = (server.client.clone(), server.url(V2_PATH));
        tasks.push(tokio::spawn(async move {
            let body = v2_trigger(KEY, "thundering-herd", &format!("trigger {i}"));
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1, "one alert, however the requests were batched");
    assert_eq!(incidents[0]["event_count"], n);
    let timeline = server.timeline(incidents[0]["id"].as_str().unwrap()).await;
    assert_eq!(timeline.iter().filter(|e| e["outcome"] == "opened").count(), 1);
    assert_eq!(timeline.iter().filter(|e| e["outcome"] == "appended").count(), n - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_for_many_keys_get_unique_numbers() {
    let server = TestServer::open().await;
    let n = 30;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, url) = (server.client.clone(), server.url(V2_PATH));
        tasks.push(tokio::spawn(async move {
            let body = v2_trigger(KEY, &format!("key-{i}"), "x");
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), n);
    let mut numbers: Vec<i64> = incidents.iter().map(|i| i["number"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=n as i64).collect::<Vec<_>>());
}
