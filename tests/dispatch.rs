//! Rules to agent sessions, end to end: events in over HTTP, Devin sessions out, through the outbox.

mod common;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use common::{unique_env, v2_action, v2_trigger, TestServer, KEY};
use devin_standin::{DevinStandIn, Fault};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "cog_test_token_do_not_leak";
const ORG: &str = "org-firehouse-test";

fn config(devin: &DevinStandIn, token_env: &str, extra: &str) -> String {
    format!(
        r#"
[server]
public_url = "https://firehouse.example.com"

[dispatch]
lease_seconds = 30
poll_millis = 100
{extra}

[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[[rules]]
name = "triage"
on = ["triggered"]
severities = ["critical", "error"]
actions = ["devin-triage"]

[[rules]]
name = "postmortem"
on = ["resolved"]
severities = ["critical"]
actions = ["devin-postmortem"]

[actions.devin-triage]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "triage"
timeout_seconds = 2
playbooks_by_severity = {{ critical = "playbook-p1" }}

[actions.devin-postmortem]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "postmortem"
timeout_seconds = 2
"#,
        base = devin.base_url
    )
}

/// Polls the incident until its dispatches are all settled (done or dead); bounded.
async fn settled_dispatches(server: &TestServer, number: i64, expected: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let (status, detail) = server.get(&format!("/api/v1/incidents/{number}")).await;
        assert_eq!(status, 200, "{detail}");
        let dispatches = detail["dispatches"].as_array().cloned().unwrap_or_default();
        if dispatches.len() == expected && dispatches.iter().all(|d| d["status"] != "pending") {
            return dispatches;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "dispatches did not settle: {dispatches:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_trigger_starts_exactly_one_triage_session() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin, &unique_env("DEVIN_TOKEN", TOKEN), "")).await;
    for _ in 0..3 {
        let (status, _) = server.post("/v2/enqueue", &v2_trigger(KEY, "db1/disk", "Disk 95% full on db1")).await;
        assert_eq!(status, 202);
    }
    let number = server.number_of("db1/disk").await;
    let dispatches = settled_dispatches(&server, number, 1).await;
    assert_eq!(dispatches[0]["status"], "done");
    assert_eq!(dispatches[0]["rule"], "triage");
    let session_id = dispatches[0]["result"]["session_id"].as_str().unwrap();
    assert!(session_id.starts_with("devin-"));
    assert!(dispatches[0]["result"]["url"].as_str().unwrap().contains("app.devin.ai"));

    assert_eq!(devin.session_count(), 1, "three triggers, one incident, one session");
    let session = &devin.sessions()[0];
    let prompt = session.prompt();
    assert!(prompt.contains("Disk 95% full on db1"), "{prompt}");
    assert!(prompt.contains("Service: payments"), "{prompt}");
    assert!(prompt.contains("https://firehouse.example.com/incidents/"), "{prompt}");
    let create = &devin.creates()[0];
    let body = create.body.as_ref().unwrap();
    let tags: Vec<&str> = body["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for want in ["firehouse", "service:payments", "pagerduty-triage"] {
        assert!(tags.contains(&want), "{tags:?}");
    }
    assert_eq!(body["playbook_id"], "playbook-p1");

    // A warning opens an incident but matches no rule.
    server
        .post(
            "/v2/enqueue",
            &json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "minor",
        "payload": {"summary": "slow", "source": "h", "severity": "warning"}}),
        )
        .await;
    let minor = server.number_of("minor").await;
    let (_, detail) = server.get(&format!("/api/v1/incidents/{minor}")).await;
    assert_eq!(detail["dispatches"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postmortem_prompt_carries_the_real_timeline_and_earlier_changes() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin, &unique_env("DEVIN_TOKEN", TOKEN), "")).await;
    let change = json!({"routing_key": KEY, "payload": {"summary": "Deploy #387 released (commit e4f29a1)",
        "source": "ci", "timestamp": "2020-01-01T00:00:00Z"}});
    // The change happened just before the incident: give it a timestamp of now.
    let mut change_now = change.clone();
    change_now["payload"]["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    assert_eq!(server.post("/v2/change/enqueue", &change_now).await.0, 202);
    assert_eq!(server.post("/v2/change/enqueue", &change).await.0, 202);

    server.post("/v2/enqueue", &v2_trigger(KEY, "pool", "Connection pool exhausted")).await;
    server.post("/v2/enqueue", &v2_action(KEY, "pool", "acknowledge")).await;
    server.post("/v2/enqueue", &v2_action(KEY, "pool", "resolve")).await;
    let number = server.number_of("pool").await;
    let dispatches = settled_dispatches(&server, number, 2).await;
    assert!(dispatches.iter().all(|d| d["status"] == "done"), "{dispatches:?}");
    assert_eq!(devin.session_count(), 2);
    let postmortem = devin
        .sessions()
        .into_iter()
        .find(|s| s.prompt().to_lowercase().contains("postmortem"))
        .expect("a postmortem session");
    let prompt = postmortem.prompt().to_owned();
    assert!(prompt.contains("Connection pool exhausted"), "{prompt}");
    assert!(prompt.contains("Deploy #387 released"), "the change before the incident is in: {prompt}");
    assert!(!prompt.contains("2020-01-01"), "changes far outside the window are not: {prompt}");
    for step in ["acknowledge", "resolve", "trigger"] {
        assert!(prompt.contains(step), "the timeline lists every {step}: {prompt}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_end_in_exactly_one_session() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    // 500, then a create that succeeds but answers too late: retries must not create a second session.
    devin.fault(Fault::ServerError, 1);
    devin.fault(Fault::CreateThenHang(Duration::from_secs(5)), 1);
    let server = TestServer::with_config(&config(&devin, &unique_env("DEVIN_TOKEN", TOKEN), "")).await;
    server.post("/v2/enqueue", &v2_trigger(KEY, "flaky", "Flaky upstream")).await;
    let number = server.number_of("flaky").await;
    let start = Instant::now();
    loop {
        let (_, detail) = server.get(&format!("/api/v1/incidents/{number}")).await;
        let d = &detail["dispatches"][0];
        if d["status"] == "done" {
            // Attempt 1 met the 500; attempt 2 timed out after Devin created the session, and found it.
            assert_eq!(d["attempts"], 2, "{d}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not delivered: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(devin.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_dispatches_survive_a_restart_and_are_delivered_once() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let env = unique_env("DEVIN_TOKEN", TOKEN);
    // First life: the worker is off, so the dispatch stays in the outbox.
    let server = TestServer::with_config(&config(&devin, &env, "worker = false")).await;
    server.post("/v2/enqueue", &v2_trigger(KEY, "restart", "Queue backlog")).await;
    let (_, pending) = server.get("/api/v1/dispatches?status=pending").await;
    assert_eq!(pending["dispatches"].as_array().unwrap().len(), 1);
    let dir = server.stop().await;
    assert_eq!(devin.session_count(), 0);

    let server = TestServer::start_in(dir, Some(&config(&devin, &env, ""))).await;
    let number = server.number_of("restart").await;
    let dispatches = settled_dispatches(&server, number, 1).await;
    assert_eq!(dispatches[0]["status"], "done");
    let dir = server.stop().await;
    // A third life delivers nothing more.
    let server = TestServer::start_in(dir, Some(&config(&devin, &env, ""))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(devin.session_count(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_dead_letters_that_can_be_retried() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let env = format!("FIREHOUSE_TEST_DEVIN_WRONG_{}", std::process::id());
    std::env::set_var(&env, "cog_wrong_token");
    let server = TestServer::with_config(&config(&devin, &env, "")).await;
    server.post("/v2/enqueue", &v2_trigger(KEY, "dead", "Will fail")).await;
    let number = server.number_of("dead").await;
    let dispatches = settled_dispatches(&server, number, 1).await;
    assert_eq!(dispatches[0]["status"], "dead");
    let error = dispatches[0]["last_error"].as_str().unwrap();
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("cog_wrong_token"), "no secret in errors");

    let (_, dead) = server.get("/api/v1/dispatches?status=dead").await;
    let id = dead["dispatches"][0]["id"].as_i64().unwrap();
    let (status, retried) = server.post(&format!("/api/v1/dispatches/{id}/retry"), &json!({})).await;
    assert_eq!(status, 200, "{retried}");
    let settled = settled_dispatches(&server, number, 1).await;
    assert_eq!(settled[0]["status"], "dead", "still the wrong token: dead again");
    let (status, body) = server.post("/api/v1/dispatches/999999/retry", &json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(devin.session_count(), 0);
}
