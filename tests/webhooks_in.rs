//! Webhooks in, over HTTP: PagerDuty v3 mirrors and ticket trackers, authenticated before parsing,
//! applied once per delivery, running the same rules and agent flows as native incidents.

mod common;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use common::TestServer;
use devin_standin::DevinStandIn;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "cog_webhooks_token";
const ORG: &str = "org-webhooks";
const PD_SECRET_OLD: &str = "pd-signing-secret-old-0001";
const PD_SECRET_NEW: &str = "pd-signing-secret-new-0002";
const SHARED: &str = "shared-header-secret-xyz";
const TICKET_SECRET: &str = "ticket-hmac-secret-123";
const TICKET_API_TOKEN: &str = "tracker-api-token-must-not-be-stored";

fn webhook_fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/webhooks/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Sets each variable under a unique name for this test; returns the names in order.
fn envs(values: &[&str]) -> Vec<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    values
        .iter()
        .map(|v| {
            let name = format!("FIREHOUSE_TEST_WEBHOOK_{}", N.fetch_add(1, Ordering::SeqCst));
            std::env::set_var(&name, v);
            name
        })
        .collect()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn config(devin: &DevinStandIn) -> String {
    let e = envs(&[TOKEN, PD_SECRET_OLD, PD_SECRET_NEW, SHARED, TICKET_SECRET, TICKET_API_TOKEN]);
    format!(
        r#"
[dispatch]
poll_millis = 50

[webhooks.pagerduty.acme]
secret_envs = ["{pd_old}", "{pd_new}"]
shared_secret = {{ header = "X-Webhook-Secret", env = "{shared}" }}

[webhooks.tickets.tracker]
kind = "generic"
secret_env = "{ticket}"
labels = ["devin-autofix", "devin-feature"]
wait_for_session = true
wait_seconds = 20

[[rules]]
name = "pd-triage"
on = ["triggered"]
services = ["pig208"]
actions = ["triage"]

[[rules]]
name = "pd-postmortem"
on = ["resolved"]
services = ["pig208"]
actions = ["postmortem"]

[[rules]]
name = "autofix"
on = ["triggered"]
services = ["tracker"]
actions = ["fix"]

[actions.triage]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token}"
flow = "triage"
timeout_seconds = 2

[actions.postmortem]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token}"
flow = "postmortem"
timeout_seconds = 2

[actions.fix]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token}"
flow = "ticket"
timeout_seconds = 2
playbooks_by_label = {{ devin-autofix = "playbook-autofix", devin-feature = "playbook-feature" }}
session_secrets = [{{ key = "TICKET_API_TOKEN", env = "{api_token}" }}]
"#,
        base = devin.base_url,
        token = e[0],
        pd_old = e[1],
        pd_new = e[2],
        shared = e[3],
        ticket = e[4],
        api_token = e[5],
    )
}

async fn post(server: &TestServer, path: &str, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut req = server.client.post(server.url(path)).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
}

/// Headers PagerDuty would send, signed with `secrets`.
fn pd_headers(body: &str, secrets: &[&str], delivery: &str) -> Vec<(&'static str, String)> {
    let sig = secrets.iter().map(|s| format!("v1={}", hmac_hex(s, body.as_bytes()))).collect::<Vec<_>>().join(",");
    vec![
        ("content-type", "application/json; charset=utf-8".into()),
        ("x-pagerduty-signature", sig),
        ("x-webhook-secret", SHARED.into()),
        ("x-webhook-id", delivery.into()),
    ]
}

/// The triggered fixture turned into another event of the same incident.
fn pd_event(event_type: &str, status: &str, event_id: &str) -> String {
    let mut v: Value = serde_json::from_str(&webhook_fixture("pd_v3_triggered.json")).unwrap();
    v["event"]["event_type"] = json!(event_type);
    v["event"]["id"] = json!(event_id);
    v["event"]["data"]["status"] = json!(status);
    v.to_string()
}

async fn wait_for_sessions(devin: &DevinStandIn, n: usize) {
    devin.wait_for_sessions(n, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_incidents_are_mirrored_and_run_the_same_flows() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin)).await;
    let triggered = webhook_fixture("pd_v3_triggered.json");
    let (status, body) =
        post(&server, "/webhooks/pagerduty/acme", &triggered, &pd_headers(&triggered, &[PD_SECRET_OLD], "d-1")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "opened");

    let incidents = server.incidents("").await;
    assert_eq!(incidents.len(), 1);
    let inc = &incidents[0];
    assert_eq!((inc["origin"].as_str(), inc["external_id"].as_str()), (Some("pagerduty"), Some("PFQZPSY")));
    assert_eq!(inc["external_url"], "https://pig208.pagerduty.com/incidents/PFQZPSY");
    assert_eq!(inc["service"], "pig208", "the mirror belongs to PagerDuty's service");
    wait_for_sessions(&devin, 1).await;
    let prompt = devin.sessions()[0].prompt().to_owned();
    assert!(prompt.contains("Incident URL: https://pig208.pagerduty.com/incidents/PFQZPSY"), "{prompt}");

    // A redelivery (same X-Webhook-Id) is acknowledged and not applied again.
    let (status, body) =
        post(&server, "/webhooks/pagerduty/acme", &triggered, &pd_headers(&triggered, &[PD_SECRET_OLD], "d-1")).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("duplicate")));

    // Rotation: a delivery signed with the new secret only, then with both.
    let acked = pd_event("incident.acknowledged", "acknowledged", "e-2");
    let (status, _) =
        post(&server, "/webhooks/pagerduty/acme", &acked, &pd_headers(&acked, &[PD_SECRET_NEW], "d-2")).await;
    assert_eq!(status, 202);
    let resolved = pd_event("incident.resolved", "resolved", "e-3");
    let both = [PD_SECRET_OLD, PD_SECRET_NEW];
    let (status, _) = post(&server, "/webhooks/pagerduty/acme", &resolved, &pd_headers(&resolved, &both, "d-3")).await;
    assert_eq!(status, 202);

    let (_, detail) = server.get("/api/v1/incidents/1").await;
    assert_eq!(detail["status"], "resolved");
    // (Notes about the agent sessions the flows started are Firehouse's own, whenever the sessions start.)
    let actions: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| *a != "note")
        .collect();
    assert_eq!(actions, ["incident.triggered", "incident.acknowledged", "incident.resolved"]);
    wait_for_sessions(&devin, 2).await;
    assert!(devin.sessions().iter().any(|s| s.prompt().contains("Draft a postmortem")));

    // Unknown event types are accepted and ignored.
    let other = webhook_fixture("pd_docs_v3_service_updated.json");
    let (status, body) = post(&server, "/webhooks/pagerduty/acme", &other, &pd_headers(&other, &both, "d-4")).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("ignored")), "{body}");
    assert_eq!(server.incidents("").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_deliveries_are_authenticated_before_parsing() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin)).await;
    let body = webhook_fixture("pd_v3_triggered.json");
    let path = "/webhooks/pagerduty/acme";

    let mut bad = pd_headers(&body, &["not-the-secret"], "x-1");
    let (status, answer) = post(&server, path, &body, &bad).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")), "{answer}");
    bad = pd_headers(&body, &[PD_SECRET_OLD], "x-2");
    bad.retain(|(k, _)| *k != "x-pagerduty-signature");
    assert_eq!(post(&server, path, &body, &bad).await.0, 401, "missing signature");
    let mut wrong_shared = pd_headers(&body, &[PD_SECRET_OLD], "x-3");
    wrong_shared[2].1 = "shared-header-secret-xy".into();
    assert_eq!(post(&server, path, &body, &wrong_shared).await.0, 401, "shared secret of another length");
    // A tampered body fails its signature even though it parses.
    let tampered = body.replace("Test Incident 3", "Test Incident 4");
    assert_eq!(post(&server, path, &tampered, &pd_headers(&body, &[PD_SECRET_OLD], "x-4")).await.0, 401);
    // Not JSON, but authentic: authentication passed, parsing refuses it.
    let junk = "not json";
    assert_eq!(post(&server, path, junk, &pd_headers(junk, &[PD_SECRET_OLD], "x-5")).await.0, 400);
    let mut form = pd_headers(&body, &[PD_SECRET_OLD], "x-6");
    form[0].1 = "application/x-www-form-urlencoded".into();
    assert_eq!(post(&server, path, &body, &form).await.0, 415);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(600 * 1024));
    assert_eq!(post(&server, path, &huge, &pd_headers(&huge, &[PD_SECRET_OLD], "x-7")).await.0, 413);
    assert_eq!(
        post(&server, "/webhooks/pagerduty/nope", &body, &pd_headers(&body, &[PD_SECRET_OLD], "x-8")).await.0,
        404
    );
    assert!(server.incidents("").await.is_empty(), "nothing refused was applied");
}

fn ticket_headers(body: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-signature-256", format!("sha256={}", hmac_hex(secret, body.as_bytes()))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_tickets_start_a_fix_session_and_answer_with_it() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin)).await;
    let body = webhook_fixture("generic_ticket_created.json");
    let (status, answer) =
        post(&server, "/webhooks/tickets/tracker", &body, &ticket_headers(&body, TICKET_SECRET)).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["session_id"].as_str().unwrap().starts_with("devin-"), "{answer}");
    assert!(answer["url"].as_str().unwrap().starts_with("https://app.devin.ai/sessions/"));
    assert!(answer["dispatches"][0]["id"].is_i64(), "{answer}");

    assert_eq!(devin.session_count(), 1);
    let create = &devin.creates()[0];
    let req = create.body.as_ref().unwrap();
    let prompt = req["prompt"].as_str().unwrap();
    assert!(prompt.starts_with("Ticket 1042: Checkout returns 500 when the cart is empty"), "{prompt}");
    assert!(prompt.contains("Reference ticket 1042 in your commit message."), "{prompt}");
    assert!(prompt.contains("$TICKET_API_TOKEN"), "{prompt}");
    assert_eq!(req["playbook_id"], "playbook-autofix");
    assert_eq!(req["session_secrets"][0]["key"], "TICKET_API_TOKEN");
    assert_eq!(req["session_secrets"][0]["value"], TICKET_API_TOKEN);

    let incidents = server.incidents("").await;
    assert_eq!((incidents[0]["origin"].as_str(), incidents[0]["external_id"].as_str()), (Some("ticket"), Some("1042")));
    assert_eq!(incidents[0]["labels"], json!(["devin-autofix", "checkout"]));

    // Secrets never reach the database.
    server.client.get(server.url("/healthz")).send().await.unwrap();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in [TICKET_API_TOKEN, TICKET_SECRET, TOKEN] {
        assert!(!stored.contains(secret), "{secret} is in the database files");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_without_a_routed_label_are_skipped_and_bad_signatures_refused() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let server = TestServer::with_config(&config(&devin)).await;
    let body =
        json!({"id": "T-7", "title": "Typo on the pricing page", "description": "", "labels": ["docs"]}).to_string();
    let (status, answer) =
        post(&server, "/webhooks/tickets/tracker", &body, &ticket_headers(&body, TICKET_SECRET)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("skipped")), "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("devin-autofix"));
    assert!(server.incidents("").await.is_empty());
    // Answered 200, so it is in the event log, as ignored.
    let (status, log) = server.get("/api/v1/events?dedup_key=T-7").await;
    assert_eq!(status, 200, "{log}");
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{log}");
    assert_eq!((events[0]["outcome"].as_str(), events[0]["incident_number"].as_i64()), (Some("ignored"), None));

    let (status, answer) = post(&server, "/webhooks/tickets/tracker", &body, &ticket_headers(&body, "wrong")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) =
        post(&server, "/webhooks/tickets/tracker", &body, &[("content-type", "application/json".into())]).await;
    assert_eq!(status, 401, "missing signature");
    assert!(!answer.to_string().contains(TICKET_SECRET));
    assert_eq!(devin.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_gitlab_and_jira_deliveries_become_tickets() {
    let env = envs(&["gh-secret", "gl-token", "jira-secret"]);
    let server = TestServer::with_config(&format!(
        r#"
[webhooks.tickets.gh]
kind = "github"
secret_env = "{}"

[webhooks.tickets.gl]
kind = "gitlab"
secret_env = "{}"

[webhooks.tickets.jira]
kind = "jira"
secret_env = "{}"
signature_header = "X-Hub-Signature"
"#,
        env[0], env[1], env[2]
    ))
    .await;
    let gh = webhook_fixture("github_issues_opened.json");
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-github-event", "issues".to_owned()),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
        ("x-hub-signature-256", format!("sha256={}", hmac_hex("gh-secret", gh.as_bytes()))),
    ];
    let (status, answer) = post(&server, "/webhooks/tickets/gh", &gh, &headers).await;
    assert_eq!((status, answer["outcome"].as_str()), (202, Some("opened")), "{answer}");
    let (status, answer) = post(&server, "/webhooks/tickets/gh", &gh, &headers).await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("duplicate")), "a redelivery is not applied twice");
    let ping = webhook_fixture("github_ping.json");
    let ping_headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-github-event", "ping".to_owned()),
        ("x-github-delivery", "ping-delivery-1".to_owned()),
        ("x-hub-signature-256", format!("sha256={}", hmac_hex("gh-secret", ping.as_bytes()))),
    ];
    for _ in 0..2 {
        assert_eq!(post(&server, "/webhooks/tickets/gh", &ping, &ping_headers).await.1["status"], "ignored");
    }
    // Answered 200, so kept in the event log (once per delivery), as ignored.
    let (_, log) = server.get("/api/v1/events").await;
    let pings: Vec<_> = log["events"].as_array().unwrap().iter().filter(|e| e["action"] == "ping").collect();
    assert_eq!(pings.len(), 1, "{log}");
    assert_eq!((pings[0]["outcome"].as_str(), pings[0]["protocol"].as_str()), (Some("ignored"), Some("ticket")));

    let gl = webhook_fixture("gitlab_issue_hook.json");
    let gl_headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-gitlab-event", "Issue Hook".to_owned()),
        ("x-gitlab-token", "gl-token".to_owned()),
    ];
    assert_eq!(post(&server, "/webhooks/tickets/gl", &gl, &gl_headers).await.0, 202);
    let mut wrong = gl_headers.clone();
    wrong[2].1 = "gl-tokem".into();
    assert_eq!(post(&server, "/webhooks/tickets/gl", &gl, &wrong).await.0, 401);

    let jira = webhook_fixture("jira_issue_created.json");
    let jira_headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-hub-signature", format!("sha256={}", hmac_hex("jira-secret", jira.as_bytes()))),
    ];
    assert_eq!(post(&server, "/webhooks/tickets/jira", &jira, &jira_headers).await.0, 202);

    let start = Instant::now();
    let incidents = server.incidents("").await;
    assert!(start.elapsed() < Duration::from_secs(5));
    let mut ids: Vec<&str> = incidents.iter().map(|i| i["external_id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["BUG-15", "Codertocat/Hello-World#1", "gitlabhq/gitlab-test#23"]);
    assert!(incidents.iter().all(|i| i["origin"] == "ticket"));
}
