//! The Devin responder against a stand-in of Devin's API v3 that enforces the API's contract: prompts, tags,
//! playbooks and secrets as sent; 429 / 5xx / timeouts retried; at most one session per dispatch through every fault.

#[path = "common/devin_standin.rs"]
mod devin_standin;

use devin_standin::{DevinStandIn, Fault};
use firehouse::dispatch::{Delivery, DispatchContext, Responder};
use firehouse::domain::{Incident, IncidentStatus, Millis, Severity, Urgency};
use firehouse::responders::devin::{dispatch_tag, DevinConfig, DevinResponder};
use firehouse::store::{StoredChange, TimelineEntry};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TOKEN: &str = "cog_standin_token_5f1d2c";
const ORG: &str = "org-firehouse-test";
const URL: &str = "https://firehouse.example.com/incidents/42";

/// A process-unique environment variable holding `value` (tests run in parallel in one process).
fn env_var(value: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("FIREHOUSE_DEVIN_TEST_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    std::env::set_var(&name, value);
    name
}

/// 2026-02-10T14:32:00Z plus `min` minutes.
fn at(min: i64) -> Millis {
    Millis(1_770_733_920_000 + min * 60_000)
}

fn incident(id: &str, severity: Severity) -> Incident {
    Incident {
        id: id.into(),
        number: 42,
        status: IncidentStatus::Triggered,
        dedup_key: "orders/db-pool".into(),
        service: "orders-service".into(),
        title: "Database connection pool exhausted".into(),
        severity,
        urgency: Urgency::High,
        source: Some("db1.example.com".into()),
        component: None,
        group: None,
        class: None,
        created_at: at(0),
        acknowledged_at: None,
        resolved_at: None,
        updated_at: at(0),
        event_count: 1,
        last_event_at: None,
        origin: firehouse::domain::external::Origin::Events,
        external_id: None,
        external_url: None,
        description: None,
        labels: vec![],
    }
}

fn entry(id: i64, min: i64, action: &str, outcome: &str, summary: Option<&str>) -> TimelineEntry {
    TimelineEntry {
        id,
        at: at(min),
        protocol: "v2".into(),
        action: action.into(),
        outcome: outcome.into(),
        summary: summary.map(Into::into),
        severity: summary.map(|_| "critical".into()),
        raw: json!({}),
    }
}

fn dispatch(incident: Incident, transition: &str, attempt: u32) -> DispatchContext {
    let timeline = vec![entry(1, 0, "trigger", "opened", Some("Database connection pool exhausted"))];
    DispatchContext {
        dispatch_id: 7,
        dispatch_key: format!("{}:page:devin:{transition}", incident.id),
        attempt,
        rule: "page".into(),
        action: "devin".into(),
        transition: transition.into(),
        session_event: None,
        incident,
        timeline,
        changes: Vec::new(),
        incident_url: Some(URL.into()),
    }
}

/// A responder for `standin` with token variable `token_env`, a 1 s timeout and `extra` configuration lines.
fn responder(standin: &DevinStandIn, token_env: &str, extra: &str) -> DevinResponder {
    let text = format!(
        "base_url = {:?}\norg_id = {:?}\ntoken_env = {token_env:?}\ntimeout_seconds = 1\n{extra}",
        standin.base_url, standin.org_id
    );
    let config: DevinConfig = toml::from_str(&text).unwrap();
    DevinResponder::new("devin", &config).unwrap()
}

async fn standin() -> (DevinStandIn, String) {
    (DevinStandIn::start(TOKEN, ORG).await, env_var(TOKEN))
}

fn done(d: &Delivery) -> &Value {
    match d {
        Delivery::Done { result: Some(r) } => r,
        other => panic!("expected Done with a result, got {other:?}"),
    }
}

fn retry(d: Delivery) -> (String, Option<Duration>) {
    match d {
        Delivery::Retry { error, after } => (error, after),
        other => panic!("expected Retry, got {other:?}"),
    }
}

fn fail(d: &Delivery) -> &str {
    match d {
        Delivery::Fail { error } => error,
        other => panic!("expected Fail, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_session_carries_the_bridge_prompt_tags_playbook_and_secrets() {
    let (standin, token_env) = standin().await;
    let secret = "tickets-token-9a8b7c6d";
    let secret_env = env_var(secret);
    let r = responder(
        &standin,
        &token_env,
        &format!(
            r#"playbook_id = "playbook-default"
            playbooks_by_severity = {{ critical = "playbook-p1" }}
            tags = ["team:payments"]
            knowledge_ids = ["note-architecture"]
            repos = ["acme/orders"]
            max_acu_limit = 10
            session_secrets = [{{ key = "TICKETS_TOKEN", env = "{secret_env}" }}]"#
        ),
    );
    let ctx = dispatch(incident("inc-happy", Severity::Critical), "triggered", 1);

    let d = r.deliver(&ctx).await;
    let result = done(&d);
    let sessions = standin.sessions();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(result, &json!({"session_id": s.session_id, "url": s.url, "status": "new"}));
    assert!(s.session_id.starts_with("devin-") && s.url.starts_with("https://app.devin.ai/sessions/"));

    let want_prompt = [
        "PagerDuty incident triggered: \"Database connection pool exhausted\"",
        "Service: orders-service",
        "Urgency: high",
        "Incident URL: https://firehouse.example.com/incidents/42",
        "",
        "Investigate this incident:",
        "1. Check recent logs and metrics for orders-service",
        "2. Identify the root cause of the issue",
        "3. If the root cause is a code issue, open a hotfix PR",
        "4. Post your findings to #incidents on Slack",
    ]
    .join("\n");
    assert_eq!(s.prompt(), want_prompt);
    let body = &s.request;
    assert_eq!(body["title"], "[critical] Database connection pool exhausted");
    assert_eq!(
        body["tags"],
        json!([
            "firehouse",
            "service:orders-service",
            "pagerduty-triage",
            "firehouse-incident:inc-happy",
            dispatch_tag(&ctx.dispatch_key),
            "team:payments"
        ])
    );
    assert_eq!(body["playbook_id"], "playbook-p1", "the severity's playbook wins over the default");
    assert_eq!(body["knowledge_ids"], json!(["note-architecture"]));
    assert_eq!(body["repos"], json!(["acme/orders"]));
    assert_eq!(body["max_acu_limit"], 10);
    assert_eq!(body["session_secrets"], json!([{"key": "TICKETS_TOKEN", "value": secret, "sensitive": true}]));

    let create = &standin.creates()[0];
    assert_eq!(create.path, format!("/v3/organizations/{ORG}/sessions"));
    assert_eq!(create.header("authorization"), Some("Bearer [valid token]"));
    assert!(create.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(standin.requests().len(), 1, "a first attempt that succeeds makes one call");

    // Secrets are in the request, never in what the responder shows.
    let debug = format!("{r:?}");
    assert!(!debug.contains(TOKEN) && !debug.contains(secret), "{debug}");
    assert!(debug.contains(&token_env), "{debug}");

    // Another severity falls back to the default playbook.
    let d = r.deliver(&dispatch(incident("inc-warning", Severity::Warning), "triggered", 1)).await;
    done(&d);
    assert_eq!(standin.sessions()[1].request["playbook_id"], "playbook-default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_after_the_servers_delay() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "");
    let ctx = |attempt| dispatch(incident("inc-429", Severity::Error), "triggered", attempt);

    standin.fault(Fault::TooManyRequests { retry_after: "7".into() }, 1);
    let d = r.deliver(&ctx(1)).await;
    let (error, after) = retry(d);
    assert_eq!(after, Some(Duration::from_secs(7)));
    assert!(error.contains("429"), "{error}");
    assert_eq!(standin.session_count(), 0);

    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
    standin.fault(Fault::TooManyRequests { retry_after: date }, 1);
    let (_, after) = retry(r.deliver(&ctx(2)).await);
    let after = after.expect("an HTTP-date Retry-After is honoured");
    assert!(after > Duration::from_secs(100) && after <= Duration::from_secs(120), "{after:?}");

    done(&r.deliver(&ctx(3)).await);
    assert_eq!(standin.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_end_in_one_session() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "");
    let ctx = |attempt| dispatch(incident("inc-500", Severity::Critical), "triggered", attempt);

    standin.fault(Fault::ServerError, 2);
    let (error, after) = retry(r.deliver(&ctx(1)).await);
    assert!(error.contains("500"), "{error}");
    assert_eq!(after, None);
    retry(r.deliver(&ctx(2)).await);
    let first = done(&r.deliver(&ctx(3)).await).clone();
    // The worker retries once more (say its record of attempt 3 was lost): no second session.
    assert_eq!(done(&r.deliver(&ctx(4)).await), &first);
    assert_eq!(standin.session_count(), 1);
    assert_eq!(standin.creates().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_outlives_the_timeout_is_found_on_the_next_attempt() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "");
    let ctx = |attempt| dispatch(incident("inc-hang", Severity::Critical), "triggered", attempt);

    // The API works slowly: the client gives up after 1 s, the session appears after 2.5 s.
    standin.fault(Fault::Hang(Duration::from_millis(2500)), 1);
    let started = std::time::Instant::now();
    let (error, _) = retry(r.deliver(&ctx(1)).await);
    assert!(error.contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "the timeout bounds the attempt");
    let listed = standin.requests().iter().filter(|q| q.is_list()).count();
    assert_eq!(listed, 1, "an unanswered create is looked up before retrying");

    standin.wait_for_sessions(1, Duration::from_secs(5)).await;
    let created = standin.sessions()[0].session_id.clone();
    let d = r.deliver(&ctx(2)).await;
    assert_eq!(done(&d)["session_id"], created.as_str());
    assert_eq!(standin.session_count(), 1);
    assert_eq!(standin.creates().len(), 1, "the next attempt looks the dispatch up instead of creating again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_reconciled_in_the_same_attempt() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "");
    let ctx = |attempt| dispatch(incident("inc-lost", Severity::Critical), "triggered", attempt);

    standin.fault(Fault::CreateThenHang(Duration::from_secs(3)), 1);
    let d = r.deliver(&ctx(1)).await;
    let created = standin.sessions()[0].session_id.clone();
    assert_eq!(done(&d)["session_id"], created.as_str());
    // Later attempts (a worker that lost the result) find it too.
    assert_eq!(done(&r.deliver(&ctx(2)).await)["session_id"], created.as_str());
    assert_eq!(standin.session_count(), 1);
    assert_eq!(standin.creates().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_then_a_server_error_still_ends_in_one_session() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "");
    let ctx = |attempt| dispatch(incident("inc-mixed", Severity::Critical), "triggered", attempt);

    standin.fault(Fault::Hang(Duration::from_millis(2500)), 1);
    standin.fault(Fault::ServerError, 1);
    retry(r.deliver(&ctx(1)).await);
    // Attempt 2 comes before the slow create finished: nothing found, the create meets a 500.
    retry(r.deliver(&ctx(2)).await);
    standin.wait_for_sessions(1, Duration::from_secs(5)).await;
    done(&r.deliver(&ctx(3)).await);
    assert_eq!(standin.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_without_showing_it() {
    let standin = DevinStandIn::start(TOKEN, ORG).await;
    let wrong = "cog_wrong_token_0000";
    let r = responder(&standin, &env_var(wrong), "");
    let d = r.deliver(&dispatch(incident("inc-401", Severity::Critical), "triggered", 1)).await;
    let error = fail(&d);
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains(wrong) && !error.contains(TOKEN), "{error}");
    assert_eq!(standin.creates()[0].header("authorization"), Some("Bearer [wrong token]"));
    // A retried dispatch with a wrong token fails at its look-up, still creating nothing.
    let d = r.deliver(&dispatch(incident("inc-401", Severity::Critical), "triggered", 2)).await;
    assert!(fail(&d).contains("401"));
    assert_eq!(standin.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_organization_fails() {
    let (standin, token_env) = standin().await;
    let text = format!("base_url = {:?}\norg_id = \"org-other\"\ntoken_env = {token_env:?}\n", standin.base_url);
    let r = DevinResponder::new("devin", &toml::from_str(&text).unwrap()).unwrap();
    let d = r.deliver(&dispatch(incident("inc-404", Severity::Critical), "triggered", 1)).await;
    let error = fail(&d);
    assert!(error.contains("404") && error.contains("org-other"), "{error}");
    assert_eq!(standin.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_api_rejects_fails_with_its_detail() {
    let (standin, token_env) = standin().await;
    // A custom prompt that renders to nothing for this incident: the API refuses an empty prompt.
    let r = responder(
        &standin,
        &token_env,
        "flow = \"custom\"\nprompt = \"{% if incident.severity == 'info' %}Look at {{ incident.title }}{% endif %}\"",
    );
    let d = r.deliver(&dispatch(incident("inc-422", Severity::Critical), "triggered", 1)).await;
    let error = fail(&d);
    assert!(error.contains("422") && error.contains("prompt"), "{error}");
    assert_eq!(standin.session_count(), 0);
    assert_eq!(standin.requests().len(), 1, "a definite refusal is not looked up");

    let d = r.deliver(&dispatch(incident("inc-422-info", Severity::Info), "triggered", 1)).await;
    done(&d);
    assert_eq!(standin.sessions()[0].prompt(), "Look at Database connection pool exhausted");
    assert!(standin.sessions()[0].tags.contains(&"firehouse-devin".to_owned()), "custom flows tag the action");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmortem_prompt_holds_the_real_timeline_and_changes_before_the_incident() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "flow = \"postmortem\"\nplaybook_id = \"playbook-postmortem\"");
    let mut inc = incident("inc-pm", Severity::Critical);
    inc.status = IncidentStatus::Resolved;
    inc.acknowledged_at = Some(at(6));
    inc.resolved_at = Some(at(46));
    inc.event_count = 4;
    let mut ctx = dispatch(inc, "resolved", 1);
    ctx.timeline = vec![
        entry(1, 0, "trigger", "opened", Some("Database connection pool exhausted")),
        entry(2, 4, "trigger", "appended", Some("Database connection pool exhausted")),
        entry(3, 6, "acknowledge", "acknowledged", None),
        entry(4, 46, "resolve", "resolved", Some("Pool recovered")),
    ];
    ctx.changes = vec![StoredChange {
        id: 1,
        service: "orders-service".into(),
        at: at(-17),
        summary: "Deploy #387 released (commit e4f29a1)".into(),
        source: Some("github-actions".into()),
        custom_details: None,
        links: Vec::new(),
    }];

    done(&r.deliver(&ctx).await);
    let s = &standin.sessions()[0];
    let prompt = s.prompt();
    for line in [
        "A PagerDuty incident has been resolved. Draft a postmortem.",
        "Incident: \"Database connection pool exhausted\"",
        "Created: 2026-02-10T14:32:00.000Z",
        "Resolved: 2026-02-10T15:18:00.000Z",
        "3. Build a detailed timeline from first alert to resolution",
        "5. Post the postmortem as a PR to our docs/postmortems/ directory",
        "- 2026-02-10T14:32:00.000Z trigger (opened, critical): Database connection pool exhausted",
        "- 2026-02-10T14:36:00.000Z trigger (appended, critical): Database connection pool exhausted",
        "- 2026-02-10T14:38:00.000Z acknowledge (acknowledged)",
        "- 2026-02-10T15:18:00.000Z resolve (resolved, critical): Pool recovered",
        "Duration: 46 minutes (from 2026-02-10T14:32:00.000Z to 2026-02-10T15:18:00.000Z)",
        "- 2026-02-10T14:15:00.000Z Deploy #387 released (commit e4f29a1) (source: github-actions)",
    ] {
        assert!(prompt.lines().any(|l| l == line), "missing line {line:?} in:\n{prompt}");
    }
    assert!(
        s.tags.contains(&"pagerduty-postmortem".to_owned()) && s.tags.contains(&"service:orders-service".to_owned())
    );
    assert_eq!(s.request["playbook_id"], "playbook-postmortem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_resolve_the_triage_session_is_told_instead_of_starting_another() {
    let (standin, token_env) = standin().await;
    let r = responder(&standin, &token_env, "message_on_resolve = true");
    let triggered = dispatch(incident("inc-msg", Severity::Critical), "triggered", 1);
    let started = done(&r.deliver(&triggered).await).clone();

    let mut inc = incident("inc-msg", Severity::Critical);
    inc.status = IncidentStatus::Resolved;
    inc.resolved_at = Some(at(46));
    let d = r.deliver(&dispatch(inc, "resolved", 1)).await;
    let result = done(&d);
    assert_eq!(result["session_id"], started["session_id"]);
    assert_eq!(result["message_sent"], true);
    assert_eq!(standin.session_count(), 1);
    let messages = &standin.sessions()[0].messages;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("resolved at 2026-02-10T15:18:00.000Z after 46 minutes"), "{}", messages[0]);

    // Without a triage session there is nothing to tell, and no triage is started for a resolved incident.
    let mut other = incident("inc-msg-none", Severity::Critical);
    other.status = IncidentStatus::Resolved;
    other.resolved_at = Some(at(10));
    let d = r.deliver(&dispatch(other, "resolved", 1)).await;
    assert_eq!(done(&d)["message_sent"], false);
    assert_eq!(standin.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_variable_is_named_at_start_up() {
    let text = "org_id = \"org-x\"\ntoken_env = \"FIREHOUSE_DEVIN_TEST_NEVER_SET\"";
    let e = DevinResponder::new("triage", &toml::from_str(text).unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "action \"triage\": environment variable FIREHOUSE_DEVIN_TEST_NEVER_SET is not set");
}

/// The stand-in itself refuses what the API refuses: it is a contract, not a mock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standin_enforces_the_api_contract() {
    let standin = DevinStandIn::start(TOKEN, ORG).await;
    let client = reqwest::Client::new();
    let sessions = format!("{}/v3/organizations/{ORG}/sessions", standin.base_url);
    let post = |body: Value, token: Option<&str>| {
        let mut req = client.post(&sessions).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    let ok = json!({"prompt": "Investigate", "tags": ["a", "b"]});

    assert_eq!(post(ok.clone(), None).await.status(), 401);
    assert_eq!(post(ok.clone(), Some("cog_nope")).await.status(), 401);
    let other_org = format!("{}/v3/organizations/org-nope/sessions", standin.base_url);
    assert_eq!(client.post(&other_org).bearer_auth(TOKEN).json(&ok).send().await.unwrap().status(), 404);
    let not_json = client.post(&sessions).bearer_auth(TOKEN).body("prompt=x").send().await.unwrap();
    assert_eq!(not_json.status(), 422);
    for (bad, field) in [
        (json!({}), "prompt"),
        (json!({"prompt": ""}), "prompt"),
        (json!({"prompt": 5}), "prompt"),
        (json!({"prompt": "x", "tags": "a"}), "tags"),
        (json!({"prompt": "x", "tags": ["a", 1]}), "tags[1]"),
        (json!({"prompt": "x", "knowledge_ids": [null]}), "knowledge_ids"),
        (json!({"prompt": "x", "repos": {"a": 1}}), "repos"),
        (json!({"prompt": "x", "max_acu_limit": 0}), "max_acu_limit"),
        (json!({"prompt": "x", "max_acu_limit": 2.5}), "max_acu_limit"),
        (json!({"prompt": "x", "max_acu_limit": "5"}), "max_acu_limit"),
        (json!({"prompt": "x", "playbook_id": 3}), "playbook_id"),
        (json!({"prompt": "x", "title": ["t"]}), "title"),
        (json!({"prompt": "x", "session_secrets": [{"key": "K"}]}), "value"),
        (json!({"prompt": "x", "session_secrets": [{"key": "K", "value": "v", "sensitive": "yes"}]}), "sensitive"),
        (json!({"prompt": "x", "session_secrets": {"K": "v"}}), "session_secrets"),
        (json!({"prompt": "x", "playbook": "p"}), "playbook"),
    ] {
        let resp = post(bad.clone(), Some(TOKEN)).await;
        assert_eq!(resp.status(), 422, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(field), "{bad}: {body}");
    }
    assert_eq!(standin.session_count(), 0);

    let full = json!({
        "prompt": "Investigate", "title": "t", "tags": ["a", "b"], "playbook_id": "p", "knowledge_ids": ["k"],
        "secret_ids": ["s"], "repos": ["r"], "max_acu_limit": 3,
        "session_secrets": [{"key": "K", "value": "v", "sensitive": false}, {"key": "L", "value": "w"}],
    });
    let created: Value = post(full, Some(TOKEN)).await.json().await.unwrap();
    assert!(created["session_id"].as_str().unwrap().starts_with("devin-"));
    assert_eq!(created["status"], "new");
    post(json!({"prompt": "Second", "tags": ["a"]}), Some(TOKEN)).await;
    post(json!({"prompt": "Third", "tags": ["a", "b", "c"]}), Some(TOKEN)).await;

    let list = |query: &'static str| {
        let req = client.get(format!("{sessions}?{query}")).bearer_auth(TOKEN);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (_, all) = list("tags=a&tags=b").await;
    assert_eq!(all["total"], 2, "sessions carrying every tag: {all}");
    let (_, comma) = list("tags=a,b").await;
    assert_eq!(comma["total"], 2);
    let (_, page) = list("tags=a&first=2").await;
    assert_eq!((page["items"].as_array().unwrap().len(), page["has_next_page"].as_bool()), (2, Some(true)));
    let cursor = page["end_cursor"].as_str().unwrap().to_owned();
    let next = client.get(&sessions).bearer_auth(TOKEN).query(&[("tags", "a"), ("after", &cursor)]).send().await;
    let next: Value = next.unwrap().json().await.unwrap();
    assert_eq!(next["items"][0]["session_id"], standin.sessions()[2].session_id.as_str());
    assert_eq!(next["has_next_page"], false);
    assert_eq!(list("first=0").await.0, 422);
    assert_eq!(list("first=201").await.0, 422);
    assert_eq!(list("after=nonsense").await.0, 422);
    assert_eq!(client.get(&sessions).send().await.unwrap().status(), 401);

    let id = created["session_id"].as_str().unwrap();
    let one = client.get(format!("{sessions}/{id}")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(client.get(format!("{sessions}/devin-nope")).bearer_auth(TOKEN).send().await.unwrap().status(), 404);
    let message = |body: Value| client.post(format!("{sessions}/{id}/messages")).bearer_auth(TOKEN).json(&body).send();
    assert_eq!(message(json!({"message": ""})).await.unwrap().status(), 422);
    assert_eq!(message(json!({"text": "hi"})).await.unwrap().status(), 422);
    assert_eq!(message(json!({"message": "hi"})).await.unwrap().status(), 200);
    assert_eq!(standin.sessions()[0].messages, ["hi"]);

    // Recorded requests never keep the token.
    for r in standin.requests() {
        assert!(r.headers.iter().all(|(_, v)| !v.contains(TOKEN)), "{r:?}");
    }
}
