//! Rules on agent session events, end to end: a Devin session (the stand-in of Devin's API) that a postmortem
//! dispatch started moves new → running → exit with a pull request and a postmortem, and a rule on
//! `session_started`, `pull_request_opened` and `postmortem_ready` delivers each event once, as a signed PagerDuty v3
//! webhook and as a Slack message, to local receivers. Configurations that make no sense are refused.

mod common;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::{run_cli, unique_env, v2_action, v2_trigger, TestServer, KEY};
use devin_standin::DevinStandIn;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "cog_session_events_token_do_not_leak";
const ORG: &str = "org-firehouse-session-events";
const SIGNING_SECRET: &str = "whsec_session_events_do_not_leak";
const PUBLIC_URL: &str = "https://firehouse.example.com";
/// Every bounded wait gives up after this long.
const PATIENCE: Duration = Duration::from_secs(60);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// What it was answered.
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Records every request; `/hook` answers 503 to the first attempt of a pull request event (a failure worth
/// retrying) and 200 to everything else, `/slack` answers Slack's `ok`.
struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                let path = uri.path().to_owned();
                let is_pr = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .is_some_and(|v| v["event"]["event_type"] == "incident.agent_session.pull_request_opened");
                let id = headers.get("x-webhook-id").cloned();
                let first_pr =
                    is_pr && !log.iter().any(|r| r.path == path && r.headers.get("x-webhook-id") == id.as_ref());
                let status = if path == "/hook" && first_pr { 503 } else { 200 };
                log.push(Received { path, headers, body, status });
                (StatusCode::from_u16(status).unwrap(), if status == 200 { "ok" } else { "try again" })
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base: format!("http://{addr}"), received }
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The requests to `path` answered 2xx.
    fn delivered(&self, path: &str) -> Vec<Received> {
        self.at(path).into_iter().filter(|r| r.status == 200).collect()
    }

    /// Waits until `path` got `n` successful deliveries; returns them.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.delivered(path);
            if got.len() >= n {
                return got;
            }
            assert!(start.elapsed() < PATIENCE, "{path}: {} of {n} deliveries: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn config(devin: &DevinStandIn, receiver: &Receiver) -> String {
    format!(
        r#"
[server]
public_url = "{PUBLIC_URL}"

[dispatch]
lease_seconds = 30
poll_millis = 100
session_poll_seconds = 1
session_poll_max_seconds = 1

[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[[rules]]
name = "postmortem"
on = ["resolved"]
severities = ["critical"]
actions = ["devin-postmortem"]

[[rules]]
name = "agent-news"
on = ["session_started", "pull_request_opened", "postmortem_ready"]
services = ["payments"]
actions = ["hook", "chat"]

[[rules]]
name = "elsewhere"
on = ["session_started", "pull_request_opened", "postmortem_ready"]
services = ["checkout"]
actions = ["hook"]

[actions.devin-postmortem]
type = "devin"
base_url = "{devin}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "postmortem"
timeout_seconds = 2

[actions.hook]
type = "webhook"
url = "{base}/hook"
secret_envs = ["{secret_env}"]

[actions.chat]
type = "slack"
webhook_url_env = "{slack_env}"
"#,
        devin = devin.base_url,
        base = receiver.base,
        token_env = unique_env("SESSION_EVENTS_TOKEN", TOKEN),
        secret_env = unique_env("SESSION_EVENTS_SECRET", SIGNING_SECRET),
        slack_env = unique_env("SESSION_EVENTS_SLACK", &format!("{}/slack", receiver.base)),
    )
}

/// The session the postmortem dispatch started, once delivered.
async fn postmortem_session(server: &TestServer, number: i64) -> String {
    let start = Instant::now();
    loop {
        let dispatches = server.incident(number).await["dispatches"].as_array().cloned().unwrap_or_default();
        if let Some(d) = dispatches.iter().find(|d| d["rule"] == "postmortem" && d["status"] != "pending") {
            assert_eq!(d["status"], "done", "{d}");
            return d["result"]["session_id"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < PATIENCE, "no postmortem session: {dispatches:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the session has been read `more` more times than now: that many polls came and went.
async fn polls_pass(devin: &DevinStandIn, session: &str, more: usize) {
    let want = devin.reads_of(session) + more;
    let start = Instant::now();
    while devin.reads_of(session) < want {
        assert!(start.elapsed() < PATIENCE, "the session is not polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one delivered webhook of `event_type`.
fn webhook_of(receiver: &Receiver, event_type: &str) -> (Received, Value) {
    let found: Vec<Received> =
        receiver.delivered("/hook").into_iter().filter(|r| r.json()["event"]["event_type"] == event_type).collect();
    assert_eq!(found.len(), 1, "{event_type} delivered once: {found:#?}");
    let body = found[0].json();
    (found[0].clone(), body)
}

/// Signed as PagerDuty signs: `v1=<hex HMAC-SHA256 of the body>`; `X-Webhook-Id` is `event.id`.
fn assert_signed(r: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    assert_eq!(r.header("x-pagerduty-signature"), format!("v1={}", hex::encode(mac.finalize().into_bytes())));
    assert_eq!(r.header("x-webhook-id"), r.json()["event"]["id"].as_str().unwrap());
    assert_eq!(r.header("x-webhook-subscription"), "hook");
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("user-agent").starts_with("Firehouse/"), "{}", r.header("user-agent"));
}

fn postmortem_output() -> Value {
    json!({
        "summary": "Checkout failed for 46 minutes because the database connection pool was exhausted.",
        "timeline": [{"time": "2026-02-10T14:32:00Z", "event": "Connection pool exhausted alert fired"}],
        "root_cause": "A configuration change in deploy #387 set max_connections to 10.",
        "action_items": ["Alert on pool saturation above 80%"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_events_are_delivered_once_as_signed_webhooks_and_slack_messages() {
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let receiver = Receiver::start().await;
    let server = TestServer::with_config(&config(&devin, &receiver)).await;
    assert_eq!(server.post("/v2/enqueue", &v2_trigger(KEY, "pool", "Connection pool exhausted")).await.0, 202);
    assert_eq!(server.post("/v2/enqueue", &v2_action(KEY, "pool", "resolve")).await.0, 202);
    let number = server.number_of("pool").await;
    let incident_id = server.incident(number).await["id"].as_str().unwrap().to_owned();
    let session = postmortem_session(&server, number).await;
    let session_url = devin.session(&session).unwrap().url;

    // session_started: one webhook, one Slack message.
    receiver.wait_for("/hook", 1).await;
    receiver.wait_for("/slack", 1).await;
    let (started, body) = webhook_of(&receiver, "incident.agent_session.started");
    assert_signed(&started);
    let e = &body["event"];
    assert_eq!(e["resource_type"], "incident");
    assert_eq!(e["client"], json!({"name": "Firehouse"}));
    assert_eq!(e["data"]["id"], incident_id.as_str(), "the incident's data, as for transitions");
    assert_eq!(e["data"]["title"], "Connection pool exhausted");
    assert_eq!(e["data"]["html_url"], format!("{PUBLIC_URL}/incidents/{incident_id}"));
    assert_eq!(
        e["data"]["agent_session"],
        json!({"id": session, "type": "agent_session", "html_url": session_url, "status": "new",
               "action": "devin-postmortem"})
    );

    // new → running, then a pull request: one event, however often polls see it again (and its state change).
    devin.set_status(&session, "running");
    let pr = "https://github.com/acme/payments/pull/41";
    devin.set_pull_request(&session, pr, "open");
    receiver.wait_for("/hook", 2).await;
    receiver.wait_for("/slack", 2).await;
    polls_pass(&devin, &session, 3).await;
    devin.set_pull_request(&session, pr, "merged");
    polls_pass(&devin, &session, 3).await;
    let (opened, body) = webhook_of(&receiver, "incident.agent_session.pull_request_opened");
    assert_signed(&opened);
    assert_eq!(body["event"]["data"]["pull_request"]["html_url"], pr);
    assert_eq!(body["event"]["data"]["agent_session"]["id"], session.as_str(), "the session that opened it");
    assert_eq!(body["event"]["data"]["agent_session"]["html_url"], session_url.as_str());
    let id = opened.header("x-webhook-id");
    let attempts: Vec<Received> = receiver.at("/hook").into_iter().filter(|r| r.header("x-webhook-id") == id).collect();
    assert_eq!(attempts.iter().map(|r| r.status).collect::<Vec<_>>(), [503, 200], "retried after the 503, once");
    assert_eq!(attempts[0].body, attempts[1].body, "the same event on every attempt");

    // The postmortem, then exit: one event, linking the Markdown.
    devin.set_structured_output(&session, postmortem_output());
    devin.set_status(&session, "exit");
    receiver.wait_for("/hook", 3).await;
    receiver.wait_for("/slack", 3).await;
    let (ready, body) = webhook_of(&receiver, "incident.agent_session.postmortem_ready");
    assert_signed(&ready);
    let md_path = format!("/api/v1/incidents/{incident_id}/postmortem.md");
    assert_eq!(
        body["event"]["data"]["postmortem"],
        json!({"html_url": format!("{PUBLIC_URL}{md_path}"), "content_type": "text/markdown"})
    );
    let (status, ctype, md) = server.get_text(&md_path).await;
    assert_eq!((status, ctype.starts_with("text/markdown")), (200, true), "{md}");
    assert!(md.contains("## Root cause"), "{md}");

    // Every event once: distinct ids, nothing for the rule on another service, nothing after the session ended.
    let hooks = receiver.delivered("/hook");
    let types: Vec<String> =
        hooks.iter().map(|r| r.json()["event"]["event_type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        types,
        [
            "incident.agent_session.started",
            "incident.agent_session.pull_request_opened",
            "incident.agent_session.postmortem_ready"
        ]
    );
    let ids: std::collections::BTreeSet<&str> = hooks.iter().map(|r| r.header("x-webhook-id")).collect();
    assert_eq!(ids.len(), 3);

    // Slack: what happened, with the links.
    let slack: Vec<Value> = receiver.delivered("/slack").iter().map(Received::json).collect();
    assert_eq!(slack.len(), 3, "{slack:#?}");
    let header = |m: &Value| m["blocks"][0]["text"]["text"].as_str().unwrap().to_owned();
    let links = |m: &Value| m["blocks"][2]["text"]["text"].as_str().unwrap().to_owned();
    assert_eq!(header(&slack[0]), ":robot_face: Agent session started: Connection pool exhausted");
    assert_eq!(links(&slack[0]), format!("*Agent session:* <{session_url}|{session}> (new)"));
    assert_eq!(header(&slack[1]), ":twisted_rightwards_arrows: Pull request opened: Connection pool exhausted");
    assert!(links(&slack[1]).contains(&format!("*Pull request:* <{pr}|{pr}>")), "{}", links(&slack[1]));
    assert_eq!(header(&slack[2]), ":memo: Postmortem ready: Connection pool exhausted");
    assert!(
        links(&slack[2]).contains(&format!("*Postmortem:* <{PUBLIC_URL}{md_path}|read the postmortem>")),
        "{}",
        links(&slack[2])
    );
    for m in &slack {
        assert!(m["text"].as_str().unwrap().contains(&format!("#{number} Connection pool exhausted")), "{m}");
    }

    // The dispatch records say which event caused each; the incident lists its session.
    let detail = server.incident(number).await;
    let mut caused: Vec<(String, String, String)> = detail["dispatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "done", "{d}");
            let key = d["dispatch_key"].as_str().unwrap();
            let subject = key
                .strip_prefix(&format!(
                    "{incident_id}:{}:{}:",
                    d["rule"].as_str().unwrap(),
                    d["action"].as_str().unwrap()
                ))
                .unwrap();
            (d["action"].as_str().unwrap().to_owned(), d["transition"].as_str().unwrap().to_owned(), subject.to_owned())
        })
        .collect();
    caused.sort();
    let mut want = vec![("devin-postmortem".to_owned(), "resolved".to_owned(), "resolved".to_owned())];
    for action in ["chat", "hook"] {
        want.push((action.into(), "postmortem_ready".into(), format!("postmortem_ready:{session}")));
        want.push((action.into(), "pull_request_opened".into(), format!("pull_request_opened:{pr}")));
        want.push((action.into(), "session_started".into(), format!("session_started:{session}")));
    }
    want.sort();
    assert_eq!(caused, want);
    let sessions = detail["agent_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!((sessions[0]["session_id"].as_str(), sessions[0]["status"].as_str()), (Some(&*session), Some("exit")));
    assert_eq!(sessions[0]["url"], session_url.as_str());
    assert_eq!(sessions[0]["pull_requests"], json!([{"pr_url": pr, "pr_state": "merged"}]));

    // Nothing leaked a secret.
    for r in receiver.at("/hook").iter().chain(receiver.at("/slack").iter()) {
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains(TOKEN) && !text.contains(SIGNING_SECRET), "{text}");
    }
    assert!(!detail.to_string().contains(SIGNING_SECRET) && !detail.to_string().contains(TOKEN));
}

#[test]
fn rules_that_make_no_sense_on_session_events_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firehouse.toml");
    let actions = r#"
[actions.hook]
type = "webhook"
url = "https://bridge.example.com/hook"

[actions.pd]
type = "forward"
url = "https://events.pagerduty.com/v2/enqueue"
routing_key_env = "PD_ROUTING_KEY"

[actions.devin]
type = "devin"
org_id = "org-1"
token_env = "DEVIN_API_KEY"
flow = "triage"
"#;
    let check = |text: String| {
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = run_cli(&["config", "check", "--config", path.to_str().unwrap()], None);
        (code, out, err)
    };

    // Transitions and session events side by side are fine, with any action on transitions.
    let good = format!(
        "[[rules]]\nname = \"page\"\non = [\"triggered\", \"resolved\"]\nactions = [\"pd\", \"devin\", \"hook\"]\n\n\
         [[rules]]\nname = \"news\"\non = [\"session_started\", \"pull_request_opened\", \"postmortem_ready\"]\n\
         actions = [\"hook\"]\n{actions}"
    );
    let (code, out, err) = check(good);
    assert_eq!(code, 0, "{out}{err}");

    let bad = format!(
        "[[rules]]\nname = \"news\"\non = [\"postmortem_ready\"]\nactions = [\"hook\"]\n\n\
         [[rules]]\nname = \"loop\"\non = [\"pull_request_opened\"]\nactions = [\"devin\", \"pd\"]\n{actions}"
    );
    let (code, _, err) = check(bad);
    assert_ne!(code, 0);
    let at = format!("{}:6: rule \"loop\": ", path.display());
    assert!(
        err.contains(&format!(
            "{at}action \"devin\" is a devin action, which cannot run on session events (pull_request_opened)"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{at}action \"pd\" is a forward action")), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");

    let unknown = format!(
        "[[rules]]\nname = \"r\"\non = [\n  \"resolved\",\n  \"pr_opened\",\n]\nactions = [\"hook\"]\n{actions}"
    );
    let (code, _, err) = check(unknown);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:5: ", path.display())), "{err}");
    assert!(err.contains("unknown variant `pr_opened`") && err.contains("postmortem_ready"), "{err}");
}
