//! The HTTP responders (webhook, forward, Slack) against local receivers that record what they get.
//!
//! Forwarded events are checked with Firehouse's own Events API parsers, so what Firehouse forwards
//! is what PagerDuty (and Firehouse) accept.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use firehouse::dispatch::{Delivery, DispatchContext, Responder};
use firehouse::domain::{EventAction, Incident, IncidentStatus, Millis, Severity, Urgency};
use firehouse::responders::forward::{ForwardConfig, ForwardResponder};
use firehouse::responders::slack::{SlackConfig, SlackResponder};
use firehouse::responders::webhook::{WebhookConfig, WebhookResponder};
use firehouse::store::TimelineEntry;
use firehouse::wire::{events_v1, events_v2, fields, response};
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A recording receiver

#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

type Answer = Arc<dyn Fn(Received) -> BoxFuture<'static, Response> + Send + Sync>;

struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Serves on 127.0.0.1:0, recording every request and answering with `answer`.
    async fn start(answer: impl Fn(Received) -> BoxFuture<'static, Response> + Send + Sync + 'static) -> Receiver {
        let answer: Answer = Arc::new(answer);
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let answer = answer.clone();
            let log = log.clone();
            async move {
                let r = Received { path: uri.path().to_owned(), query: uri.query().map(str::to_owned), headers, body };
                log.lock().unwrap().push(r.clone());
                answer(r).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { base: format!("http://{addr}"), received }
    }

    /// Answers every request with `status`, `headers` and `body`.
    async fn fixed(status: u16, headers: &[(&'static str, &'static str)], body: &'static str) -> Receiver {
        let headers: Vec<(&'static str, &'static str)> = headers.to_vec();
        Receiver::start(move |_| {
            let mut h = HeaderMap::new();
            for (k, v) in &headers {
                h.insert(*k, HeaderValue::from_static(v));
            }
            let resp = (StatusCode::from_u16(status).unwrap(), h, body).into_response();
            Box::pin(async move { resp })
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn only(&self) -> Received {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request, got {}", all.len());
        all.into_iter().next().unwrap()
    }
}

/// A URL on which nothing listens.
async fn dead_url(path: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

// ---------------------------------------------------------------------------------------------
// A realistic dispatch

const INCIDENT_ID: &str = "01937a4e-5b2c-7d3e-9f10-a1b2c3d4e5f6";
const INCIDENT_URL: &str = "https://firehouse.example.com/incidents/01937a4e-5b2c-7d3e-9f10-a1b2c3d4e5f6";

fn incident(status: IncidentStatus) -> Incident {
    let created = Millis(1_764_100_915_123);
    Incident {
        id: INCIDENT_ID.into(),
        number: 42,
        status,
        dedup_key: "db1.example.com/disk_usage".into(),
        service: "payments".into(),
        title: "Disk 95% full on db1 (/var/lib/postgresql)".into(),
        severity: Severity::Critical,
        urgency: Urgency::High,
        source: Some("db1.example.com".into()),
        component: Some("postgresql".into()),
        group: Some("databases".into()),
        class: Some("disk".into()),
        created_at: created,
        acknowledged_at: (status != IncidentStatus::Triggered).then_some(Millis(created.0 + 120_000)),
        resolved_at: (status == IncidentStatus::Resolved).then_some(Millis(created.0 + 900_000)),
        updated_at: Millis(created.0 + 900_000),
        event_count: 3,
        last_event_at: None,
        origin: firehouse::domain::external::Origin::Events,
        external_id: None,
        external_url: None,
        description: None,
        labels: vec![],
    }
}

fn trigger_entry() -> TimelineEntry {
    TimelineEntry {
        id: 1001,
        at: Millis(1_764_100_915_123),
        protocol: "v2".into(),
        action: "trigger".into(),
        outcome: "opened".into(),
        summary: Some("Disk 95% full on db1 (/var/lib/postgresql)".into()),
        severity: Some("critical".into()),
        raw: json!({
            "routing_key": "[redacted]",
            "event_action": "trigger",
            "dedup_key": "db1.example.com/disk_usage",
            "payload": {
                "summary": "Disk 95% full on db1 (/var/lib/postgresql)",
                "source": "db1.example.com",
                "severity": "critical",
                "component": "postgresql",
                "group": "databases",
                "class": "disk",
                "custom_details": {"used_percent": 95.2, "mount": "/var/lib/postgresql"}
            },
            "client": "Alertmanager",
            "client_url": "http://alertmanager.example.com:9093/#/alerts"
        }),
    }
}

fn ctx(transition: &str, attempt: u32) -> DispatchContext {
    let status = match transition {
        "acknowledged" => IncidentStatus::Acknowledged,
        "resolved" => IncidentStatus::Resolved,
        _ => IncidentStatus::Triggered,
    };
    DispatchContext {
        dispatch_id: 314,
        dispatch_key: format!("{INCIDENT_ID}:page-sre:bridge:{transition}"),
        attempt,
        rule: "page-sre".into(),
        action: "bridge".into(),
        transition: transition.into(),
        session_event: None,
        incident: incident(status),
        timeline: vec![trigger_entry()],
        changes: vec![],
        incident_url: Some(INCIDENT_URL.into()),
    }
}

fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn retry_error(d: &Delivery) -> &str {
    match d {
        Delivery::Retry { error, .. } => error,
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn fail_error(d: &Delivery) -> &str {
    match d {
        Delivery::Fail { error } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

const SIGNING_NEW: &str = "whsec-new-7f3a9c1e5b";
const SIGNING_OLD: &str = "whsec-old-2d8e4f6a0c";
const HEADER_SECRET: &str = "bridge-shared-secret-91c7";
const WEBHOOK_ENV: &[(&str, &str)] =
    &[("SIGNING_NEW", SIGNING_NEW), ("SIGNING_OLD", SIGNING_OLD), ("WEBHOOK_SECRET", HEADER_SECRET)];

fn webhook(url: &str, timeout_seconds: u64) -> WebhookResponder {
    let cfg: WebhookConfig = toml::from_str(&format!(
        r#"
        url = "{url}"
        secret_envs = ["SIGNING_NEW", "SIGNING_OLD"]
        timeout_seconds = {timeout_seconds}
        [headers]
        X-Webhook-Secret = {{ env = "WEBHOOK_SECRET" }}
        X-Team = {{ value = "sre" }}
        "#
    ))
    .unwrap();
    WebhookResponder::with_env("bridge", &cfg, &env_of(WEBHOOK_ENV)).unwrap()
}

#[tokio::test]
async fn webhook_is_signed_with_every_rotated_secret_over_the_raw_body() {
    let rx = Receiver::fixed(202, &[], "").await;
    let d = webhook(&rx.url("/webhooks/pagerduty"), 5).deliver(&ctx("triggered", 1)).await;
    assert!(matches!(d, Delivery::Done { .. }), "{d:?}");

    let r = rx.only();
    assert_eq!(r.path, "/webhooks/pagerduty");
    let sig = r.header("x-pagerduty-signature").expect("a signature");
    let values: Vec<&str> = sig.split(',').map(str::trim).collect();
    assert_eq!(values.len(), 2, "{sig}");
    for secret in [SIGNING_NEW, SIGNING_OLD] {
        let want = format!("v1={}", hmac_hex(secret, &r.body));
        assert!(values.contains(&want.as_str()), "{want} not in {sig}");
    }
    // A receiver with a secret it was never given finds no match.
    assert!(!values.contains(&format!("v1={}", hmac_hex("other", &r.body)).as_str()));

    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(format!("Firehouse/{}", env!("CARGO_PKG_VERSION")).as_str()));
    assert_eq!(r.header("x-webhook-subscription"), Some("bridge"));
    assert_eq!(r.header("x-webhook-secret"), Some(HEADER_SECRET), "custom header from the environment");
    assert_eq!(r.header("x-team"), Some("sre"), "custom header with a literal value");

    let body = r.json();
    let e = &body["event"];
    assert_eq!(e["id"].as_str(), r.header("x-webhook-id"), "event.id equals X-Webhook-Id");
    assert_eq!(e["event_type"], "incident.triggered");
    assert_eq!(e["resource_type"], "incident");
    assert_eq!(e["occurred_at"], "2025-11-25T20:01:55.123Z");
    assert_eq!(e["data"]["title"], "Disk 95% full on db1 (/var/lib/postgresql)");
    assert_eq!(e["data"]["service"]["summary"], "payments");
    assert_eq!(e["data"]["urgency"], "high");
    assert_eq!(e["data"]["html_url"], INCIDENT_URL);
    assert_eq!(e["data"]["incident_key"], "db1.example.com/disk_usage");
    assert_eq!(e["data"]["firehouse"]["severity"], "critical");
}

#[tokio::test]
async fn webhook_id_is_the_same_on_every_attempt_of_a_dispatch() {
    let rx = Receiver::fixed(200, &[], "ok").await;
    let hook = webhook(&rx.url("/"), 5);
    hook.deliver(&ctx("resolved", 1)).await;
    hook.deliver(&ctx("resolved", 2)).await;
    hook.deliver(&ctx("acknowledged", 1)).await;
    let got = rx.requests();
    assert_eq!(got.len(), 3);
    let ids: Vec<&str> = got.iter().map(|r| r.header("x-webhook-id").unwrap()).collect();
    assert_eq!(ids[0], ids[1], "a retry repeats the id");
    assert_ne!(ids[0], ids[2], "another dispatch has another id");
    assert_eq!(got[0].json()["event"]["id"], got[1].json()["event"]["id"]);
    assert_eq!(got[0].json()["event"]["event_type"], "incident.resolved");
    assert_eq!(got[2].json()["event"]["event_type"], "incident.acknowledged");
}

#[tokio::test]
async fn webhook_server_errors_are_retried() {
    let rx = Receiver::fixed(500, &[], "upstream exploded").await;
    let d = webhook(&rx.url("/"), 5).deliver(&ctx("triggered", 1)).await;
    assert_eq!(retry_error(&d), "HTTP 500 Internal Server Error: upstream exploded");
    assert!(matches!(d, Delivery::Retry { after: None, .. }));
}

#[tokio::test]
async fn webhook_rate_limits_are_retried_after_retry_after() {
    let rx = Receiver::fixed(429, &[("retry-after", "7")], "slow down").await;
    let d = webhook(&rx.url("/"), 5).deliver(&ctx("triggered", 1)).await;
    assert!(matches!(d, Delivery::Retry { after: Some(a), .. } if a == Duration::from_secs(7)), "{d:?}");
}

#[tokio::test]
async fn webhook_client_errors_fail_for_good() {
    let rx = Receiver::fixed(410, &[], "subscription gone").await;
    let d = webhook(&rx.url("/"), 5).deliver(&ctx("triggered", 1)).await;
    assert_eq!(fail_error(&d), "HTTP 410 Gone: subscription gone");
}

#[tokio::test]
async fn webhook_redirects_are_not_followed() {
    let target = Receiver::fixed(200, &[], "").await;
    let location: &'static str = Box::leak(target.url("/elsewhere").into_boxed_str());
    let rx = Receiver::fixed(307, &[("location", location)], "").await;
    let d = webhook(&rx.url("/"), 5).deliver(&ctx("triggered", 1)).await;
    assert!(fail_error(&d).starts_with("HTTP 307"), "{d:?}");
    assert!(target.requests().is_empty(), "secrets must not follow a redirect");
}

#[tokio::test]
async fn webhook_that_hangs_past_the_timeout_is_retried() {
    let rx = Receiver::start(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        })
    })
    .await;
    let started = Instant::now();
    let d = webhook(&rx.url("/"), 1).deliver(&ctx("triggered", 1)).await;
    assert_eq!(retry_error(&d), "timed out after 1s");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn webhook_connection_errors_are_retried() {
    let d = webhook(&dead_url("/hook").await, 2).deliver(&ctx("triggered", 1)).await;
    assert!(retry_error(&d).starts_with("connection failed"), "{d:?}");
}

// ---------------------------------------------------------------------------------------------
// Forwarding to PagerDuty-compatible receivers

const ROUTING_KEY: &str = "fedcba9876543210fedcba9876543210";
const FORWARD_ENV: &[(&str, &str)] = &[("PD_ROUTING_KEY", ROUTING_KEY)];

/// A receiver that answers as the Events API does, judging bodies with Firehouse's own parsers.
async fn events_receiver(v1: bool) -> Receiver {
    Receiver::start(move |r| {
        let parsed = fields::parse_object(&r.body).and_then(|obj| {
            if v1 {
                events_v1::parse(obj, None)
            } else {
                events_v2::parse(obj, None)
            }
        });
        let resp = match parsed {
            Ok(k) if v1 => (StatusCode::OK, axum::Json(json!(response::v1_success(k.event.dedup_key.as_str())))),
            Ok(k) => (StatusCode::ACCEPTED, axum::Json(json!(response::v2_success(k.event.dedup_key.as_str())))),
            Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!(response::invalid(e.errors)))),
        };
        let resp = resp.into_response();
        Box::pin(async move { resp })
    })
    .await
}

fn forward(url: &str, version: &str) -> ForwardResponder {
    let cfg: ForwardConfig =
        toml::from_str(&format!("url = \"{url}\"\nversion = \"{version}\"\nrouting_key_env = \"PD_ROUTING_KEY\""))
            .unwrap();
    ForwardResponder::with_env("pagerduty", &cfg, &env_of(FORWARD_ENV)).unwrap()
}

#[tokio::test]
async fn forwards_v2_events_that_the_events_api_accepts() {
    let rx = events_receiver(false).await;
    let pd = forward(&rx.url("/v2/enqueue"), "v2");
    for transition in ["triggered", "acknowledged", "resolved"] {
        let d = pd.deliver(&ctx(transition, 1)).await;
        assert_eq!(
            d,
            Delivery::Done { result: Some(json!({"status": 202, "dedup_key": "db1.example.com/disk_usage"})) },
            "{transition}"
        );
    }
    let got = rx.requests();
    assert_eq!(got.len(), 3);
    let parsed: Vec<_> =
        got.iter().map(|r| events_v2::parse(fields::parse_object(&r.body).unwrap(), None).unwrap()).collect();
    assert_eq!(
        parsed.iter().map(|k| k.event.action).collect::<Vec<_>>(),
        [EventAction::Trigger, EventAction::Acknowledge, EventAction::Resolve]
    );
    for k in &parsed {
        assert_eq!(k.integration_key.expose(), ROUTING_KEY);
        assert_eq!(k.event.dedup_key.as_str(), "db1.example.com/disk_usage");
    }
    let details = parsed[0].event.details.as_ref().unwrap();
    assert_eq!(details.summary, "Disk 95% full on db1 (/var/lib/postgresql)");
    assert_eq!(details.source.as_deref(), Some("db1.example.com"));
    assert_eq!(details.severity, Severity::Critical);
    assert_eq!(details.component.as_deref(), Some("postgresql"));
    assert_eq!(details.group.as_deref(), Some("databases"));
    assert_eq!(details.class.as_deref(), Some("disk"));
    assert_eq!(details.timestamp, Some(Millis(1_764_100_915_123)));
    assert_eq!(
        details.custom_details,
        Some(json!({"firehouse_incident": INCIDENT_ID, "number": 42, "service": "payments", "url": INCIDENT_URL}))
    );
    assert_eq!(parsed[0].event.client.as_deref(), Some("Firehouse"));
    assert_eq!(parsed[0].event.links[0].href, INCIDENT_URL);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn forwards_v1_events_that_the_events_api_accepts() {
    let rx = events_receiver(true).await;
    let pd = forward(&rx.url("/generic/2010-04-15/create_event.json"), "v1");
    for transition in ["triggered", "acknowledged", "resolved"] {
        let d = pd.deliver(&ctx(transition, 1)).await;
        assert_eq!(
            d,
            Delivery::Done { result: Some(json!({"status": 200, "incident_key": "db1.example.com/disk_usage"})) },
            "{transition}"
        );
    }
    let got = rx.requests();
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert_eq!(bodies[0]["service_key"], ROUTING_KEY);
    assert_eq!(bodies[0]["event_type"], "trigger");
    assert_eq!(bodies[0]["incident_key"], "db1.example.com/disk_usage");
    assert_eq!(bodies[0]["description"], "Disk 95% full on db1 (/var/lib/postgresql)");
    assert_eq!(bodies[0]["details"]["severity"], "critical");
    assert_eq!(bodies[0]["details"]["firehouse_incident"], INCIDENT_ID);
    assert_eq!(bodies[1]["event_type"], "acknowledge");
    assert_eq!(bodies[2]["event_type"], "resolve");
    let parsed = events_v1::parse(fields::parse_object(&got[0].body).unwrap(), None).unwrap();
    assert_eq!(parsed.event.details.unwrap().summary, "Disk 95% full on db1 (/var/lib/postgresql)");
    assert_eq!(parsed.event.links[0].href, INCIDENT_URL);
}

#[tokio::test]
async fn forward_refusals_fail_with_the_receivers_error_lines() {
    let rx = Receiver::fixed(
        400,
        &[],
        r#"{"status":"invalid event","message":"Event object is invalid","errors":["routing_key is invalid"]}"#,
    )
    .await;
    let d = forward(&rx.url("/v2/enqueue"), "v2").deliver(&ctx("triggered", 1)).await;
    assert_eq!(fail_error(&d), "HTTP 400 Bad Request: Event object is invalid: routing_key is invalid");
}

#[tokio::test]
async fn forward_rate_limits_are_retried_including_v1s_403() {
    let rx = Receiver::fixed(403, &[], "").await;
    let d = forward(&rx.url("/generic/2010-04-15/create_event.json"), "v1").deliver(&ctx("triggered", 1)).await;
    assert!(retry_error(&d).contains("rate limit"), "{d:?}");
    let rx = Receiver::fixed(429, &[("retry-after", "30")], r#"{"status":"throttle exceeded"}"#).await;
    let d = forward(&rx.url("/v2/enqueue"), "v2").deliver(&ctx("triggered", 1)).await;
    assert!(matches!(d, Delivery::Retry { after: Some(a), .. } if a == Duration::from_secs(30)), "{d:?}");
    let rx = Receiver::fixed(403, &[], "").await;
    let d = forward(&rx.url("/v2/enqueue"), "v2").deliver(&ctx("triggered", 1)).await;
    assert!(matches!(d, Delivery::Fail { .. }), "v2's 403 is not a rate limit: {d:?}");
}

// ---------------------------------------------------------------------------------------------
// Slack

const SLACK_PATH: &str = "/services/T0123ABCD/B0456EFGH/Xy9zSecretToken12345";

fn slack(url: String, channel: Option<&str>) -> SlackResponder {
    let mut cfg: SlackConfig = toml::from_str("webhook_url_env = \"SLACK_WEBHOOK_URL\"").unwrap();
    cfg.channel = channel.map(str::to_owned);
    SlackResponder::with_env("chat", &cfg, &move |k: &str| (k == "SLACK_WEBHOOK_URL").then(|| url.clone())).unwrap()
}

#[tokio::test]
async fn slack_message_has_the_title_the_incident_link_and_the_session_link() {
    let rx = Receiver::fixed(200, &[], "ok").await;
    let chat = slack(rx.url(SLACK_PATH), Some("#incidents"));
    let mut c = ctx("triggered", 1);
    c.timeline.push(TimelineEntry {
        id: 1002,
        at: Millis(1_764_100_975_000),
        protocol: "api".into(),
        action: "annotate".into(),
        outcome: "unchanged".into(),
        summary: None,
        severity: None,
        raw: json!({"session_url": "https://app.devin.ai/sessions/7f1c2d3e4b5a", "actor": "devin"}),
    });
    let d = chat.deliver(&c).await;
    assert_eq!(d, Delivery::Done { result: None });

    let r = rx.only();
    assert_eq!(r.path, SLACK_PATH);
    let msg = r.json();
    assert_eq!(msg["channel"], "#incidents");
    let text = msg["text"].as_str().unwrap();
    assert!(text.contains("Disk 95% full on db1"), "{text}");
    assert!(text.contains("payments"), "{text}");
    let blocks = msg["blocks"].to_string();
    assert!(blocks.contains("Disk 95% full on db1"), "{blocks}");
    assert!(blocks.contains(&format!("<{INCIDENT_URL}|#42>")), "{blocks}");
    assert!(blocks.contains("<https://app.devin.ai/sessions/7f1c2d3e4b5a|"), "{blocks}");
    for word in ["critical", "high", "triggered", "db1.example.com/disk_usage"] {
        assert!(blocks.contains(word), "{word} in {blocks}");
    }

    // Without a session in the timeline, no session line.
    let msg = chat.message(&ctx("resolved", 1));
    assert!(!msg["blocks"].to_string().contains("session"), "{msg}");
    assert!(msg["text"].as_str().unwrap().starts_with("Resolved: #42"), "{msg}");
}

#[tokio::test]
async fn slack_errors_never_show_the_webhook_url() {
    let rx = Receiver::fixed(404, &[], "no_service").await;
    let d = slack(rx.url(SLACK_PATH), None).deliver(&ctx("triggered", 1)).await;
    assert_eq!(fail_error(&d), "HTTP 404 Not Found: no_service");

    let dead = dead_url(SLACK_PATH).await;
    let chat = slack(dead.clone(), None);
    let d = chat.deliver(&ctx("triggered", 1)).await;
    let error = retry_error(&d);
    assert!(!error.contains("Xy9zSecretToken12345") && !error.contains(&dead), "{error}");
    assert!(!format!("{chat:?}").contains("Xy9zSecretToken12345"));
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn secrets_appear_in_no_debug_output_or_error_text() {
    // A careless receiver that echoes what it got, secrets included, into its error body.
    let rx = Receiver::start(|r| {
        let mut body = format!(
            "query {:?}; header {:?}",
            r.query.as_deref().unwrap_or_default(),
            r.header("x-webhook-secret").unwrap_or_default()
        );
        if r.path == "/v2/enqueue" {
            body.push_str(&format!("; routing key {ROUTING_KEY}"));
        }
        Box::pin(async move { (StatusCode::SERVICE_UNAVAILABLE, body).into_response() })
    })
    .await;

    let hook = webhook(&rx.url("/?token=query-secret-55"), 5);
    let hook_error = retry_error(&hook.deliver(&ctx("triggered", 1)).await).to_owned();
    let pd = forward(&rx.url("/v2/enqueue"), "v2");
    let pd_error = retry_error(&pd.deliver(&ctx("triggered", 1)).await).to_owned();
    assert_eq!(hook_error, "HTTP 503 Service Unavailable: query \"[redacted]\"; header \"[redacted]\"");
    assert_eq!(pd_error, "HTTP 503 Service Unavailable: query \"\"; header \"\"; routing key [redacted]");

    let cfg: WebhookConfig = toml::from_str(&format!(
        "url = \"{}\"\nsecret_envs = [\"S\"]\nheaders = {{ X-Webhook-Secret = {{ env = \"H\" }} }}",
        rx.url("/?token=query-secret-55")
    ))
    .unwrap();
    let texts = [
        hook_error,
        pd_error,
        format!("{hook:?}"),
        format!("{pd:?}"),
        format!("{cfg:?}"),
        format!("{:?}", slack(rx.url(SLACK_PATH), None)),
    ];
    for text in &texts {
        for secret in [SIGNING_NEW, SIGNING_OLD, HEADER_SECRET, ROUTING_KEY, "query-secret-55", "Xy9zSecretToken12345"]
        {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}

#[test]
fn missing_environment_variables_are_named_and_values_never_shown() {
    // Through the process environment, with names no other test uses.
    std::env::set_var("FIREHOUSE_TEST_RESPONDERS_SIGNING", "process-env-secret-3b9d");
    let cfg: WebhookConfig = toml::from_str(
        "url = \"https://hooks.example.com/x\"\nsecret_envs = [\"FIREHOUSE_TEST_RESPONDERS_SIGNING\", \"FIREHOUSE_TEST_RESPONDERS_UNSET\"]",
    )
    .unwrap();
    let e = WebhookResponder::new("bridge", &cfg).unwrap_err();
    assert_eq!(e.to_string(), "action \"bridge\": environment variable FIREHOUSE_TEST_RESPONDERS_UNSET is not set");

    let cfg: WebhookConfig =
        toml::from_str("url = \"https://hooks.example.com/x\"\nsecret_envs = [\"FIREHOUSE_TEST_RESPONDERS_SIGNING\"]")
            .unwrap();
    let hook = WebhookResponder::new("bridge", &cfg).unwrap();
    assert!(!format!("{hook:?}").contains("process-env-secret-3b9d"));

    let cfg: ForwardConfig = toml::from_str("routing_key_env = \"FIREHOUSE_TEST_RESPONDERS_NO_KEY\"").unwrap();
    let e = ForwardResponder::new("pd", &cfg).unwrap_err();
    assert!(e.to_string().contains("FIREHOUSE_TEST_RESPONDERS_NO_KEY is not set"), "{e}");
    let cfg: SlackConfig = toml::from_str("webhook_url_env = \"FIREHOUSE_TEST_RESPONDERS_NO_SLACK\"").unwrap();
    let e = SlackResponder::new("chat", &cfg).unwrap_err();
    assert!(e.to_string().contains("FIREHOUSE_TEST_RESPONDERS_NO_SLACK is not set"), "{e}");
}
