//! Forwarding incidents (`type = "forward"`) to PagerDuty, or any PagerDuty-compatible receiver
//! (another Firehouse, Flashduty…), as Events API v2 or v1 events.
//!
//! ```toml
//! url = "https://events.pagerduty.com/v2/enqueue"   # the default for version "v2"
//! version = "v2"                                    # or "v1" (default url: …/generic/2010-04-15/create_event.json)
//! routing_key_env = "PAGERDUTY_ROUTING_KEY"         # variable holding the target's integration key
//! timeout_seconds = 10
//! ```
//!
//! `triggered` sends a trigger whose dedup key is the incident's own (so the target deduplicates
//! as Firehouse did and later transitions find the target's alert); `acknowledged` and `resolved`
//! send acknowledge and resolve with that key. A 2xx answer must say `"status": "success"`; a 400
//! fails with the receiver's error lines; 429 (and 403 on v1, PagerDuty's v1 rate limit), 5xx and
//! transport errors are retried.

use super::http::{self, EnvLookup, Redactor, Reply, Secret, SetupError};
use crate::dispatch::{Delivery, DispatchContext, Responder};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The default timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_V2_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's Events API v1 endpoint.
pub const PAGERDUTY_V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
/// The Events APIs' summary limit, in characters.
const SUMMARY_MAX_CHARS: usize = 1024;

/// Which Events API to speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventsVersion {
    /// Events API v2 (`routing_key`, `event_action`, `dedup_key`, `payload`).
    #[default]
    V2,
    /// Events API v1 (`service_key`, `event_type`, `incident_key`, `description`, `details`).
    V1,
}

/// The keys of a `type = "forward"` action (besides its name and type).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// The receiver; PagerDuty's endpoint for `version` when absent.
    #[serde(default)]
    pub url: Option<String>,
    /// `v2` (default) or `v1`.
    #[serde(default)]
    pub version: EventsVersion,
    /// Name of the environment variable holding the target's integration key.
    pub routing_key_env: String,
    /// Seconds to wait for an answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

impl fmt::Debug for ForwardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self
            .url
            .as_deref()
            .map(|u| reqwest::Url::parse(u).map(|u| http::safe_url(&u)).unwrap_or_else(|_| "[invalid]".into()));
        f.debug_struct("ForwardConfig")
            .field("url", &url)
            .field("version", &self.version)
            .field("routing_key_env", &self.routing_key_env)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// Forwards incidents for one action.
pub struct ForwardResponder {
    name: String,
    url: reqwest::Url,
    version: EventsVersion,
    routing_key: Secret,
    timeout: Duration,
    client: reqwest::Client,
    redactor: Redactor,
}

impl fmt::Debug for ForwardResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardResponder")
            .field("name", &self.name)
            .field("url", &http::safe_url(&self.url))
            .field("version", &self.version)
            .field("routing_key", &self.routing_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ForwardResponder {
    /// A responder for action `name`, reading the integration key from the process environment.
    pub fn new(name: &str, cfg: &ForwardConfig) -> Result<Self, SetupError> {
        Self::with_env(name, cfg, &http::process_env)
    }

    /// A responder for action `name`, reading the integration key through `env`.
    pub fn with_env(name: &str, cfg: &ForwardConfig, env: EnvLookup<'_>) -> Result<Self, SetupError> {
        let default = match cfg.version {
            EventsVersion::V2 => PAGERDUTY_V2_URL,
            EventsVersion::V1 => PAGERDUTY_V1_URL,
        };
        let url = http::parse_url(name, "url", cfg.url.as_deref().unwrap_or(default))?;
        let timeout = http::timeout(name, cfg.timeout_seconds)?;
        let routing_key = Secret::from_env(name, &cfg.routing_key_env, env)?;
        let mut redactor = Redactor::new();
        redactor.add_url(&url, false);
        redactor.add(routing_key.expose());
        let client = http::client(name, timeout)?;
        Ok(ForwardResponder {
            name: name.to_owned(),
            url,
            version: cfg.version,
            routing_key,
            timeout,
            client,
            redactor,
        })
    }

    /// Judges the receiver's answer by the Events API's rules.
    fn judge(&self, reply: &Reply) -> Delivery {
        judge(self.version, reply, SystemTime::now())
    }
}

/// The Events API action for a transition.
fn action(transition: &str) -> Option<&'static str> {
    match transition {
        "triggered" => Some("trigger"),
        "acknowledged" => Some("acknowledge"),
        "resolved" => Some("resolve"),
        _ => None,
    }
}

fn summary(title: &str) -> String {
    if title.chars().count() <= SUMMARY_MAX_CHARS {
        title.to_owned()
    } else {
        title.chars().take(SUMMARY_MAX_CHARS).collect()
    }
}

/// What the target's alert carries about the Firehouse incident.
fn custom_details(ctx: &DispatchContext) -> Map<String, Value> {
    let i = &ctx.incident;
    let mut d = Map::new();
    d.insert("firehouse_incident".into(), json!(i.id));
    d.insert("number".into(), json!(i.number));
    d.insert("service".into(), json!(i.service));
    if let Some(url) = &ctx.incident_url {
        d.insert("url".into(), json!(url));
    }
    d
}

fn insert_some(obj: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        obj.insert(key.to_owned(), json!(v));
    }
}

/// The Events API v2 event for `ctx`'s transition, or why there is none.
pub fn event_v2(ctx: &DispatchContext, routing_key: &str) -> Result<Value, String> {
    let i = &ctx.incident;
    let action = action(&ctx.transition).ok_or_else(|| format!("cannot forward transition {:?}", ctx.transition))?;
    let mut event = Map::new();
    event.insert("routing_key".into(), json!(routing_key));
    event.insert("event_action".into(), json!(action));
    event.insert("dedup_key".into(), json!(i.dedup_key));
    if action == "trigger" {
        let mut payload = Map::new();
        payload.insert("summary".into(), json!(summary(&i.title)));
        payload.insert("source".into(), json!(i.source.as_deref().unwrap_or(&i.service)));
        payload.insert("severity".into(), json!(i.severity.as_str()));
        payload.insert("timestamp".into(), json!(i.created_at.to_rfc3339()));
        insert_some(&mut payload, "component", &i.component);
        insert_some(&mut payload, "group", &i.group);
        insert_some(&mut payload, "class", &i.class);
        payload.insert("custom_details".into(), Value::Object(custom_details(ctx)));
        event.insert("payload".into(), Value::Object(payload));
        event.insert("client".into(), json!("Firehouse"));
        if let Some(url) = &ctx.incident_url {
            event.insert("client_url".into(), json!(url));
            event.insert("links".into(), json!([{"href": url, "text": format!("Firehouse incident #{}", i.number)}]));
        }
    }
    Ok(Value::Object(event))
}

/// The Events API v1 event for `ctx`'s transition, or why there is none.
pub fn event_v1(ctx: &DispatchContext, service_key: &str) -> Result<Value, String> {
    let i = &ctx.incident;
    let action = action(&ctx.transition).ok_or_else(|| format!("cannot forward transition {:?}", ctx.transition))?;
    let mut event = Map::new();
    event.insert("service_key".into(), json!(service_key));
    event.insert("event_type".into(), json!(action));
    event.insert("incident_key".into(), json!(i.dedup_key));
    if action == "trigger" {
        event.insert("description".into(), json!(summary(&i.title)));
        let mut details = custom_details(ctx);
        details.insert("severity".into(), json!(i.severity.as_str()));
        details.insert("source".into(), json!(i.source.as_deref().unwrap_or(&i.service)));
        insert_some(&mut details, "component", &i.component);
        insert_some(&mut details, "group", &i.group);
        insert_some(&mut details, "class", &i.class);
        event.insert("details".into(), Value::Object(details));
        event.insert("client".into(), json!("Firehouse"));
        if let Some(url) = &ctx.incident_url {
            event.insert("client_url".into(), json!(url));
            event.insert(
                "contexts".into(),
                json!([{"type": "link", "href": url, "text": format!("Firehouse incident #{}", i.number)}]),
            );
        }
    }
    Ok(Value::Object(event))
}

/// The Events APIs' answers: 2xx with `"status": "success"` is delivered (keeping the receiver's
/// dedup or incident key); 400 fails with the receiver's error lines; v1's 403 is its rate limit
/// and is retried; the rest as for any HTTP responder.
pub fn judge(version: EventsVersion, reply: &Reply, now: SystemTime) -> Delivery {
    let body = reply.json();
    let field = |k: &str| body.as_ref().and_then(|b| b.get(k)).and_then(Value::as_str).map(str::to_owned);
    if reply.status.is_success() {
        if field("status").as_deref() == Some("success") {
            let key = match version {
                EventsVersion::V2 => "dedup_key",
                EventsVersion::V1 => "incident_key",
            };
            let mut result = Map::new();
            result.insert("status".into(), json!(reply.status.as_u16()));
            if let Some(k) = field(key) {
                result.insert(key.into(), json!(k));
            }
            return Delivery::Done { result: Some(Value::Object(result)) };
        }
        return Delivery::Fail { error: format!("{} (expected \"status\": \"success\")", reply.describe()) };
    }
    if reply.status == StatusCode::BAD_REQUEST {
        let lines: Vec<String> = body
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|e| e.as_str().map(|s| http::excerpt(s, 300))).collect())
            .unwrap_or_default();
        if !lines.is_empty() {
            let message = field("message").unwrap_or_else(|| "invalid event".into());
            return Delivery::Fail {
                error: format!("HTTP 400 Bad Request: {}: {}", http::excerpt(&message, 100), lines.join("; ")),
            };
        }
    }
    if version == EventsVersion::V1 && reply.status == StatusCode::FORBIDDEN {
        return Delivery::Retry {
            error: format!("{} (Events API v1 rate limit)", reply.describe()),
            after: http::retry_after(&reply.headers, now),
        };
    }
    http::classify_at(reply, now)
}

#[async_trait]
impl Responder for ForwardResponder {
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery {
        let event = match self.version {
            EventsVersion::V2 => event_v2(ctx, self.routing_key.expose()),
            EventsVersion::V1 => event_v1(ctx, self.routing_key.expose()),
        };
        let event = match event {
            Ok(e) => e,
            Err(error) => return Delivery::Fail { error },
        };
        let request = self.client.post(self.url.clone()).json(&event);
        let delivery = match http::send(request, self.timeout).await {
            Err(d) => d,
            Ok(reply) => self.judge(&reply),
        };
        self.redactor.delivery(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn reads_its_configuration() {
        let c: ForwardConfig = toml::from_str("routing_key_env = \"PD_KEY\"").unwrap();
        assert_eq!(c.version, EventsVersion::V2);
        assert_eq!(c.timeout_seconds, 10);
        assert!(c.url.is_none());
        let c: ForwardConfig =
            toml::from_str("routing_key_env = \"K\"\nversion = \"v1\"\nurl = \"http://h/x\"").unwrap();
        assert_eq!(c.version, EventsVersion::V1);
        assert!(toml::from_str::<ForwardConfig>("routing_key_env = \"K\"\nversion = \"v3\"").is_err());
        assert!(toml::from_str::<ForwardConfig>("routing_key_env = \"K\"\nrouting_key = \"x\"").is_err());
        assert!(toml::from_str::<ForwardConfig>("version = \"v2\"").is_err());
    }

    #[test]
    fn defaults_to_pagerdutys_endpoints_and_hides_the_key() {
        let env = |k: &str| (k == "K").then(|| "0123456789abcdef0123456789abcdef".to_owned());
        let c: ForwardConfig = toml::from_str("routing_key_env = \"K\"").unwrap();
        let r = ForwardResponder::with_env("pd", &c, &env).unwrap();
        assert_eq!(r.url.as_str(), PAGERDUTY_V2_URL);
        assert!(!format!("{r:?}").contains("0123456789abcdef"));
        let c: ForwardConfig = toml::from_str("routing_key_env = \"K\"\nversion = \"v1\"").unwrap();
        assert_eq!(ForwardResponder::with_env("pd", &c, &env).unwrap().url.as_str(), PAGERDUTY_V1_URL);
        let c: ForwardConfig = toml::from_str("routing_key_env = \"MISSING_KEY\"").unwrap();
        let e = ForwardResponder::with_env("pd", &c, &env).unwrap_err();
        assert!(e.to_string().contains("MISSING_KEY is not set"), "{e}");
    }

    #[test]
    fn judges_answers_as_the_events_apis_give_them() {
        let now = SystemTime::now();
        let ok = judge(
            EventsVersion::V2,
            &reply(202, r#"{"status":"success","message":"Event processed","dedup_key":"k"}"#),
            now,
        );
        assert_eq!(ok, Delivery::Done { result: Some(json!({"status": 202, "dedup_key": "k"})) });
        let ok = judge(EventsVersion::V1, &reply(200, r#"{"status":"success","incident_key":"k"}"#), now);
        assert_eq!(ok, Delivery::Done { result: Some(json!({"status": 200, "incident_key": "k"})) });
        assert!(matches!(judge(EventsVersion::V2, &reply(200, "<html>hi</html>"), now), Delivery::Fail { .. }));
        let bad = r#"{"status":"invalid event","message":"Event object is invalid","errors":["payload.severity is invalid","dedup_key is too long"]}"#;
        assert_eq!(
            judge(EventsVersion::V2, &reply(400, bad), now),
            Delivery::Fail {
                error:
                    "HTTP 400 Bad Request: Event object is invalid: payload.severity is invalid; dedup_key is too long"
                        .into()
            }
        );
        assert!(matches!(judge(EventsVersion::V2, &reply(400, "nope"), now), Delivery::Fail { .. }));
        assert!(matches!(judge(EventsVersion::V1, &reply(403, ""), now), Delivery::Retry { .. }));
        assert!(matches!(judge(EventsVersion::V2, &reply(403, ""), now), Delivery::Fail { .. }));
        assert!(matches!(judge(EventsVersion::V2, &reply(429, ""), now), Delivery::Retry { .. }));
        assert!(matches!(judge(EventsVersion::V1, &reply(502, ""), now), Delivery::Retry { .. }));
    }
}
