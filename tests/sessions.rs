//! Session tracking end to end: Firehouse follows the Devin sessions its dispatches start (against the stand-in of
//! Devin's API), notes each change on the incident's timeline, stops when a session ends, and serves the postmortem a
//! session delivers as Markdown.

mod common;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use common::{sqlite_url, unique_env, v2_action, v2_trigger, TestServer, KEY};
use devin_standin::DevinStandIn;
use firehouse::responders::devin::{DevinConfig, DevinResponder};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "cog_sessions_token_do_not_leak";
const ORG: &str = "org-firehouse-sessions";
/// Every bounded wait gives up after this long.
const PATIENCE: Duration = Duration::from_secs(60);

fn config(devin: &DevinStandIn, token_env: &str) -> String {
    format!(
        r#"
[dispatch]
lease_seconds = 30
poll_millis = 100
session_poll_seconds = 1
session_poll_max_seconds = 1

[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[[rules]]
name = "triage"
on = ["triggered"]
severities = ["critical"]
actions = ["devin-triage"]

[[rules]]
name = "postmortem"
on = ["resolved"]
severities = ["critical"]
actions = ["devin-postmortem"]

[[rules]]
name = "postmortem-free-form"
on = ["resolved"]
severities = ["error"]
actions = ["devin-postmortem-free-form"]

[actions.devin-triage]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "triage"
timeout_seconds = 2

[actions.devin-postmortem]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "postmortem"
timeout_seconds = 2

[actions.devin-postmortem-free-form]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "postmortem"
structured_output = false
timeout_seconds = 2
"#,
        base = devin.base_url
    )
}

/// The session the incident's dispatch of `rule` started, once delivered.
async fn session_of(server: &TestServer, number: i64, rule: &str) -> String {
    let start = Instant::now();
    loop {
        let detail = server.incident(number).await;
        let dispatches = detail["dispatches"].as_array().cloned().unwrap_or_default();
        if let Some(d) = dispatches.iter().find(|d| d["rule"] == rule && d["status"] != "pending") {
            assert_eq!(d["status"], "done", "{d}");
            return d["result"]["session_id"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < PATIENCE, "no {rule} session for incident {number}: {dispatches:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The timeline notes about one session, oldest first.
async fn session_notes(server: &TestServer, number: i64, session_id: &str) -> Vec<Value> {
    server
        .timeline(number)
        .await
        .into_iter()
        .filter(|e| e["action"] == "note" && e["raw"]["session"]["session_id"] == session_id)
        .collect()
}

/// Waits for the note about `session_id` whose `raw.session` has every field of `want`; returns it.
async fn wait_for_note(server: &TestServer, number: i64, session_id: &str, want: Value) -> Value {
    let start = Instant::now();
    loop {
        let notes = session_notes(server, number, session_id).await;
        let found = notes.iter().find(|n| want.as_object().unwrap().iter().all(|(k, v)| &n["raw"]["session"][k] == v));
        if let Some(n) = found {
            return n.clone();
        }
        assert!(start.elapsed() < PATIENCE, "no note {want} about {session_id}; notes: {notes:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn changes(notes: &[Value]) -> Vec<String> {
    notes
        .iter()
        .map(|n| {
            let s = &n["raw"]["session"];
            match s["change"].as_str().unwrap() {
                "status" => format!("status:{}", s["to"].as_str().unwrap()),
                other => other.to_owned(),
            }
        })
        .collect()
}

fn postmortem_output() -> Value {
    json!({
        "summary": "Checkout failed for 46 minutes because the database connection pool was exhausted.",
        "timeline": [
            {"time": "2026-02-10T14:15:00Z", "event": "Deploy #387 halved the pool size"},
            {"time": "2026-02-10T14:32:00Z", "event": "Connection pool exhausted alert fired"},
            {"time": "2026-02-10T15:18:00Z", "event": "Pool size restored; errors stopped"}
        ],
        "root_cause": "A configuration change in deploy #387 set max_connections to 10.",
        "action_items": ["Alert on pool saturation above 80%", "Validate pool settings in CI"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn triage_and_postmortem_sessions_are_followed_until_they_end() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin, &unique_env("SESSIONS_TOKEN", TOKEN))).await;
    assert_eq!(server.post("/v2/enqueue", &v2_trigger(KEY, "pool", "Connection pool exhausted")).await.0, 202);
    let number = server.number_of("pool").await;

    // Triage: new → running, a pull request, a structured output (not a postmortem), → exit.
    let triage = session_of(&server, number, "triage").await;
    let started = wait_for_note(&server, number, &triage, json!({"change": "started", "status": "new"})).await;
    assert_eq!(started["raw"]["author"], "firehouse");
    assert!(started["summary"].as_str().unwrap().contains(&triage), "{started}");
    let create =
        devin.creates().into_iter().find(|c| c.body.as_ref().unwrap()["tags"].to_string().contains("pagerduty-triage"));
    assert!(create.unwrap().body.unwrap().get("structured_output_schema").is_none(), "triage asks for no schema");

    devin.set_status(&triage, "running");
    let running = wait_for_note(&server, number, &triage, json!({"change": "status", "to": "running"})).await;
    assert_eq!(running["raw"]["author"], "devin");
    assert_eq!(running["summary"], "Devin session is running (new → running)");
    let hotfix = "https://github.com/acme/payments/pull/41";
    devin.set_pull_request(&triage, hotfix, "open");
    let pr = wait_for_note(&server, number, &triage, json!({"change": "pull_request", "pr_url": hotfix})).await;
    assert_eq!(pr["raw"]["session"]["pr_state"], "open");
    assert!(pr["summary"].as_str().unwrap().contains(hotfix));
    devin.set_pull_request(&triage, hotfix, "merged");
    wait_for_note(&server, number, &triage, json!({"change": "pull_request_state", "pr_state": "merged"})).await;
    devin.set_structured_output(&triage, json!({"findings": "pool too small"}));
    let output = wait_for_note(&server, number, &triage, json!({"change": "structured_output"})).await;
    assert_eq!(output["raw"]["session"]["structured_output"]["findings"], "pool too small");
    devin.set_status(&triage, "exit");
    wait_for_note(&server, number, &triage, json!({"change": "status", "to": "exit"})).await;
    let (status, body) = server.get(&format!("/api/v1/incidents/{number}/postmortem.md")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "a triage's output is no postmortem"
    );

    // Postmortem: the create asks for the schema; new → running, a pull request, the postmortem and exit together.
    assert_eq!(server.post("/v2/enqueue", &v2_action(KEY, "pool", "resolve")).await.0, 202);
    let postmortem = session_of(&server, number, "postmortem").await;
    let stored = devin.session(&postmortem).unwrap();
    let schema = &stored.request["structured_output_schema"];
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#", "{schema}");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["summary", "timeline", "root_cause", "action_items"]));
    assert_eq!(schema["properties"]["timeline"]["items"]["required"], json!(["time", "event"]));
    assert_eq!(schema["properties"]["action_items"]["items"]["type"], "string");
    assert!(!schema.to_string().contains("\"$ref\""), "self-contained");

    wait_for_note(&server, number, &postmortem, json!({"change": "started"})).await;
    devin.set_status(&postmortem, "running");
    wait_for_note(&server, number, &postmortem, json!({"change": "status", "to": "running"})).await;
    let docs = "https://github.com/acme/docs/pull/7";
    devin.set_pull_request(&postmortem, docs, "open");
    devin.set_structured_output(&postmortem, postmortem_output());
    devin.set_status(&postmortem, "exit");
    let exit = wait_for_note(&server, number, &postmortem, json!({"change": "status", "to": "exit"})).await;
    assert_eq!(exit["summary"], "Devin session finished (running → exit)");
    let notes = session_notes(&server, number, &postmortem).await;
    assert_eq!(
        changes(&notes),
        ["started", "status:running", "pull_request", "structured_output", "status:exit"],
        "each step once, in order: {notes:#?}"
    );
    let delivered = &notes[3];
    assert_eq!(delivered["summary"], "Devin delivered the postmortem");
    assert_eq!(delivered["raw"]["session"]["postmortem"], format!("/api/v1/incidents/{number}/postmortem.md"));

    // The postmortem is served as Markdown, with every structured field and a link to the session.
    let (status, ctype, md) = server.get_text(&format!("/api/v1/incidents/{number}/postmortem.md")).await;
    assert_eq!(status, 200, "{md}");
    assert!(ctype.starts_with("text/markdown"), "{ctype}");
    for line in [
        "# Postmortem: Connection pool exhausted",
        "## Summary",
        "Checkout failed for 46 minutes because the database connection pool was exhausted.",
        "## Timeline",
        "- **2026-02-10T14:15:00Z**: Deploy #387 halved the pool size",
        "- **2026-02-10T15:18:00Z**: Pool size restored; errors stopped",
        "## Root cause",
        "A configuration change in deploy #387 set max_connections to 10.",
        "## Action items",
        "- [ ] Alert on pool saturation above 80%",
        "- [ ] Validate pool settings in CI",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in:\n{md}");
    }
    assert!(md.contains(&stored.url), "links the session: {md}");
    let incident_id = server.incident(number).await["id"].as_str().unwrap().to_owned();
    let (status, _, by_id) = server.get_text(&format!("/api/v1/incidents/{incident_id}/postmortem.md")).await;
    assert_eq!((status, by_id), (200, md), "by id as by number");
    assert_eq!(server.get("/api/v1/incidents/999999/postmortem.md").await.0, 404);

    // Both sessions ended: they are no longer polled, while a live session still is.
    let store = firehouse::store::open(&sqlite_url(server.dir.path())).await.unwrap();
    let followed = store.agent_sessions(number).await.unwrap();
    assert_eq!(followed.len(), 2, "{followed:?}");
    assert!(followed.iter().all(|s| s.done && s.status == "exit"), "{followed:?}");
    assert_eq!(store.postmortem(number).await.unwrap().unwrap().body, postmortem_output());
    let reads = (devin.reads_of(&triage), devin.reads_of(&postmortem));
    let polls: Vec<i64> = followed.iter().map(|s| s.polls).collect();

    server.post("/v2/enqueue", &v2_trigger(KEY, "live", "Queue backlog")).await;
    let live_number = server.number_of("live").await;
    let live = session_of(&server, live_number, "triage").await;
    let start = Instant::now();
    while devin.reads_of(&live) < 3 {
        assert!(start.elapsed() < PATIENCE, "the live session is not polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((devin.reads_of(&triage), devin.reads_of(&postmortem)), reads, "ended sessions are not polled");
    let after: Vec<i64> = store.agent_sessions(number).await.unwrap().iter().map(|s| s.polls).collect();
    assert_eq!(after, polls);
    let live_notes = session_notes(&server, live_number, &live).await;
    assert_eq!(changes(&live_notes), ["started"], "an unchanged session adds nothing: {live_notes:#?}");

    // Nothing leaked the token.
    for e in server.timeline(number).await {
        assert!(!e.to_string().contains(TOKEN), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_output_can_be_switched_off_and_errors_end_a_session() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin, &unique_env("SESSIONS_TOKEN", TOKEN))).await;
    let mut error = v2_trigger(KEY, "disk", "Disk full on db2");
    error["payload"]["severity"] = json!("error");
    server.post("/v2/enqueue", &error).await;
    server.post("/v2/enqueue", &v2_action(KEY, "disk", "resolve")).await;
    let number = server.number_of("disk").await;
    let session = session_of(&server, number, "postmortem-free-form").await;
    let stored = devin.session(&session).unwrap();
    assert!(stored.prompt().to_lowercase().contains("postmortem"));
    assert!(stored.request.get("structured_output_schema").is_none(), "structured_output = false: no schema");

    wait_for_note(&server, number, &session, json!({"change": "started"})).await;
    devin.set_structured_output(&session, json!({"summary": "free form"}));
    devin.set_status(&session, "error");
    let failed = wait_for_note(&server, number, &session, json!({"change": "status", "to": "error"})).await;
    assert_eq!(failed["summary"], "Devin session failed (new → error)");
    let notes = session_notes(&server, number, &session).await;
    assert_eq!(changes(&notes), ["started", "structured_output", "status:error"]);
    assert_eq!(notes[1]["summary"], "Devin delivered its structured output", "not asked for as a postmortem");
    assert_eq!(server.get(&format!("/api/v1/incidents/{number}/postmortem.md")).await.0, 404);
    let store = firehouse::store::open(&sqlite_url(server.dir.path())).await.unwrap();
    assert!(store.agent_sessions(number).await.unwrap()[0].done);
}

/// The responder reads one session with `GET …/sessions/{id}`, within the stand-in's contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responder_reads_sessions_and_the_standin_serves_them_by_contract() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let client = reqwest::Client::new();
    let sessions = format!("{}/v3/organizations/{ORG}/sessions", devin.base_url);
    let created: Value = client
        .post(&sessions)
        .bearer_auth(TOKEN)
        .json(&json!({"prompt": "Draft a postmortem", "structured_output_schema": {"type": "object"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["session_id"].as_str().unwrap();
    assert!(created.get("structured_output").is_none(), "none until the session produces one");

    let get = |url: String, token: Option<&'static str>| {
        let mut req = client.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(get(format!("{sessions}/{id}"), None).await.0, 401);
    assert_eq!(get(format!("{sessions}/{id}"), Some("cog_wrong")).await.0, 401);
    let other_org = format!("{}/v3/organizations/org-other/sessions/{id}", devin.base_url);
    assert_eq!(get(other_org, Some(TOKEN)).await.0, 404);
    assert_eq!(get(format!("{sessions}/devin-missing"), Some(TOKEN)).await.0, 404);

    devin.set_status(id, "running");
    devin.set_pull_request(id, "https://github.com/acme/docs/pull/9", "open");
    devin.set_structured_output(id, json!({"summary": "s"}));
    let (status, one) = get(format!("{sessions}/{id}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(one["status"], "running");
    assert_eq!(one["pull_requests"], json!([{"pr_url": "https://github.com/acme/docs/pull/9", "pr_state": "open"}]));
    assert_eq!(one["structured_output"], json!({"summary": "s"}));

    // Schemas must be self-contained draft 7.
    for (schema, says) in [
        (json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}), "draft 7"),
        (json!({"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}), "self-contained"),
    ] {
        let resp = client
            .post(&sessions)
            .bearer_auth(TOKEN)
            .json(&json!({"prompt": "x", "structured_output_schema": schema}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    }

    // Through the responder: the state, with the flow's postmortem flag; errors without the token.
    let responder = |env: &str, flow: &str| {
        let text = format!(
            "base_url = {:?}\norg_id = {ORG:?}\ntoken_env = {env:?}\nflow = {flow:?}\ntimeout_seconds = 2",
            devin.base_url
        );
        DevinResponder::new("devin", &toml::from_str::<DevinConfig>(&text).unwrap()).unwrap()
    };
    let state = responder(&unique_env("SESSIONS_TOKEN", TOKEN), "postmortem").session_state(id).await.unwrap();
    assert_eq!((state.agent.as_str(), state.status.as_str(), state.postmortem), ("devin", "running", true));
    assert_eq!(state.pull_requests[0].pr_state.as_deref(), Some("open"));
    assert_eq!(state.structured_output, Some(json!({"summary": "s"})));
    assert!(!responder(&unique_env("SESSIONS_TOKEN", TOKEN), "triage").session_state(id).await.unwrap().postmortem);
    let missing =
        responder(&unique_env("SESSIONS_TOKEN", TOKEN), "triage").session_state("devin-missing").await.unwrap_err();
    assert!(missing.contains("404"), "{missing}");
    let wrong = format!("FIREHOUSE_TEST_SESSIONS_WRONG_{}", std::process::id());
    std::env::set_var(&wrong, "cog_wrong_token_secret");
    let refused = responder(&wrong, "triage").session_state(id).await.unwrap_err();
    assert!(refused.contains("401") && !refused.contains("cog_wrong_token_secret"), "{refused}");
}
