//! Outgoing webhooks (`type = "webhook"`) in PagerDuty's Generic Webhooks v3 shape, signed as
//! PagerDuty signs them, so receivers written for PagerDuty accept Firehouse's unchanged.
//!
//! ```toml
//! url = "https://bridge.example.com/webhooks/pagerduty"
//! secret_envs = ["BRIDGE_SIGNING_SECRET", "BRIDGE_SIGNING_SECRET_OLD"]   # during rotation: both sign
//! timeout_seconds = 5                                                    # PagerDuty's
//! [headers]
//! X-Webhook-Secret = { env = "WEBHOOK_SECRET" }
//! X-Team = { value = "sre" }
//! ```
//!
//! Each delivery is one POST of [`pagerduty_v3::envelope`] with `Content-Type: application/json`,
//! `User-Agent: Firehouse/<version>`, `X-Webhook-Id` (the same on every retry of the dispatch, and
//! equal to `event.id`), `X-Webhook-Subscription: <action name>`, and with signing secrets
//! `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`: the HMAC-SHA256 of the exact body bytes sent,
//! one per secret. Secrets and environment-sourced header values are read once, at start-up.
//! Dispatches of agent session events are delivered the same way; their `event.event_type` names
//! the event (`incident.agent_session.started`, …) and `event.data` adds the session, the pull
//! request or the postmortem link.

use super::http::{self, EnvLookup, Redactor, Secret, SetupError};
use super::pagerduty_v3;
use crate::dispatch::{Delivery, DispatchContext, Responder};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// PagerDuty's delivery timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 5;

/// Headers Firehouse sets itself, which custom headers may not replace.
const RESERVED_HEADERS: [&str; 8] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "x-webhook-id",
    "x-webhook-subscription",
    "x-pagerduty-signature",
    "transfer-encoding",
];

/// The keys of a `type = "webhook"` action (besides its name and type).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// Names of environment variables holding HMAC-SHA256 signing secrets; several during rotation.
    #[serde(default)]
    pub secret_envs: Vec<String>,
    /// Custom headers: name → `{ env = "VAR" }` or `{ value = "literal" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderSource>,
    /// Seconds to wait for a 2xx.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = reqwest::Url::parse(&self.url).map(|u| http::safe_url(&u)).unwrap_or_else(|_| "[invalid]".into());
        f.debug_struct("WebhookConfig")
            .field("url", &url)
            .field("secret_envs", &self.secret_envs)
            .field("headers", &self.headers)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// Where a custom header's value comes from.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum HeaderSource {
    /// `{ env = "VAR" }`: the value of an environment variable, read at start-up (a secret).
    Env(String),
    /// `{ value = "literal" }`: the configured text (treated as a secret too: it may be one).
    Value(String),
}

impl fmt::Debug for HeaderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderSource::Env(var) => write!(f, "{{ env = {var:?} }}"),
            HeaderSource::Value(_) => f.write_str("{ value = [redacted] }"),
        }
    }
}

/// Delivers webhooks for one action.
pub struct WebhookResponder {
    name: String,
    url: reqwest::Url,
    secrets: Vec<Secret>,
    headers: HeaderMap,
    timeout: Duration,
    client: reqwest::Client,
    redactor: Redactor,
}

impl fmt::Debug for WebhookResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookResponder")
            .field("name", &self.name)
            .field("url", &http::safe_url(&self.url))
            .field("secrets", &self.secrets.len())
            .field("headers", &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebhookResponder {
    /// A responder for action `name`, reading secrets from the process environment.
    pub fn new(name: &str, cfg: &WebhookConfig) -> Result<Self, SetupError> {
        Self::with_env(name, cfg, &http::process_env)
    }

    /// A responder for action `name`, reading secrets through `env`.
    pub fn with_env(name: &str, cfg: &WebhookConfig, env: EnvLookup<'_>) -> Result<Self, SetupError> {
        let url = http::parse_url(name, "url", &cfg.url)?;
        let timeout = http::timeout(name, cfg.timeout_seconds)?;
        let mut redactor = Redactor::new();
        redactor.add_url(&url, false);

        let mut secrets = Vec::with_capacity(cfg.secret_envs.len());
        for var in &cfg.secret_envs {
            let s = Secret::from_env(name, var, env)?;
            redactor.add(s.expose());
            secrets.push(s);
        }

        let mut headers = HeaderMap::new();
        for (key, source) in &cfg.headers {
            let header = HeaderName::from_bytes(key.as_bytes())
                .map_err(|_| SetupError::new(name, format!("headers: {key:?} is not a valid header name")))?;
            if RESERVED_HEADERS.contains(&header.as_str()) {
                return Err(SetupError::new(
                    name,
                    format!("headers: {header} is set by Firehouse and cannot be configured"),
                ));
            }
            let value = match source {
                HeaderSource::Env(var) => Secret::from_env(name, var, env)?,
                HeaderSource::Value(v) => Secret::new(v.clone()),
            };
            let mut hv = HeaderValue::from_str(value.expose()).map_err(|_| {
                let from = match source {
                    HeaderSource::Env(var) => format!("environment variable {var}"),
                    HeaderSource::Value(_) => "its value".to_owned(),
                };
                SetupError::new(name, format!("headers: {header}: {from} is not a valid header value"))
            })?;
            hv.set_sensitive(true);
            redactor.add(value.expose());
            headers.insert(header, hv);
        }
        HeaderValue::from_str(name)
            .map_err(|_| SetupError::new(name, "the action name is not a valid X-Webhook-Subscription header value"))?;

        let client = http::client(name, timeout)?;
        Ok(WebhookResponder { name: name.to_owned(), url, secrets, headers, timeout, client, redactor })
    }

    /// `v1=<hex>` per secret, comma-separated, over `body`; `None` without secrets.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        signature(self.secrets.iter().map(Secret::expose), body)
    }
}

/// PagerDuty's `X-PagerDuty-Signature` value: `v1=<lowercase hex HMAC-SHA256 of body>` for each
/// secret, comma-separated; `None` when there are no secrets.
pub fn signature<'a>(secrets: impl IntoIterator<Item = &'a str>, body: &[u8]) -> Option<String> {
    let parts: Vec<String> = secrets
        .into_iter()
        .map(|s| {
            let mut mac = Hmac::<Sha256>::new_from_slice(s.as_bytes()).expect("HMAC takes keys of any length");
            mac.update(body);
            format!("v1={}", hex::encode(mac.finalize().into_bytes()))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

#[async_trait]
impl Responder for WebhookResponder {
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery {
        let id = pagerduty_v3::event_id(&ctx.dispatch_key);
        let body = match serde_json::to_vec(&pagerduty_v3::envelope(ctx, &id)) {
            Ok(b) => b,
            Err(e) => return Delivery::Fail { error: format!("cannot encode the webhook: {e}") },
        };
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("X-Webhook-Id", &id)
            .header("X-Webhook-Subscription", &self.name);
        if let Some(sig) = self.signature(&body) {
            request = request.header("X-PagerDuty-Signature", sig);
        }
        let delivery = match http::send(request.body(body), self.timeout).await {
            Err(d) => d,
            Ok(reply) => match http::classify(&reply) {
                Delivery::Done { .. } => {
                    Delivery::Done { result: Some(json!({"webhook_id": id, "status": reply.status.as_u16()})) }
                }
                other => other,
            },
        };
        self.redactor.delivery(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> WebhookConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn reads_its_configuration() {
        let c = cfg(r#"
            url = "https://bridge.example.com/hook"
            secret_envs = ["A", "B"]
            headers = { X-Webhook-Secret = { env = "WEBHOOK_SECRET" }, X-Team = { value = "sre" } }
        "#);
        assert_eq!(c.timeout_seconds, 5);
        assert_eq!(c.secret_envs, ["A", "B"]);
        assert_eq!(c.headers["X-Webhook-Secret"], HeaderSource::Env("WEBHOOK_SECRET".into()));
        assert_eq!(c.headers["X-Team"], HeaderSource::Value("sre".into()));
        assert!(toml::from_str::<WebhookConfig>("url = \"https://x\"\nsecret = \"oops\"").is_err());
        assert!(toml::from_str::<WebhookConfig>("secret_envs = []").is_err(), "url is required");
        assert!(toml::from_str::<WebhookConfig>("url = \"https://x\"\nheaders = { A = { file = \"f\" } }").is_err());
    }

    #[test]
    fn refuses_missing_variables_and_reserved_headers() {
        let env = |k: &str| (k == "A").then(|| "secret-a".to_owned());
        let c = cfg("url = \"https://x.example\"\nsecret_envs = [\"A\", \"NOPE\"]");
        let e = WebhookResponder::with_env("hook", &c, &env).unwrap_err();
        assert_eq!(e.to_string(), "action \"hook\": environment variable NOPE is not set");
        let c = cfg("url = \"https://x.example\"\nheaders = { X-Webhook-Id = { value = \"v\" } }");
        assert!(WebhookResponder::with_env("hook", &c, &env).is_err());
        let c = cfg("url = \"https://x.example\"\nheaders = { X-Bad = { value = \"line\\nbreak\" } }");
        let e = WebhookResponder::with_env("hook", &c, &env).unwrap_err();
        assert!(!e.to_string().contains("break"), "{e}");
        let c = cfg("url = \"https://x.example\"\ntimeout_seconds = 0");
        assert!(WebhookResponder::with_env("hook", &c, &env).is_err());
    }

    #[test]
    fn signs_as_pagerduty_does() {
        // printf '{"a":1}' | openssl dgst -sha256 -hmac secret
        let sig = signature(["secret"], br#"{"a":1}"#).unwrap();
        assert_eq!(sig, "v1=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494");
        assert_eq!(signature(["s1", "s2"], b"x").unwrap().matches("v1=").count(), 2);
        assert_eq!(signature(Vec::<&str>::new(), b"x"), None);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let env = |k: &str| match k {
            "A" => Some("signing-secret-a".to_owned()),
            "H" => Some("header-secret-h".to_owned()),
            _ => None,
        };
        let c = cfg(r#"
            url = "https://user:url-password@x.example/p?token=query-secret"
            secret_envs = ["A"]
            headers = { X-Webhook-Secret = { env = "H" }, X-Literal = { value = "literal-secret" } }
        "#);
        let r = WebhookResponder::with_env("hook", &c, &env).unwrap();
        let text = format!("{r:?} {c:?}");
        for s in ["signing-secret-a", "header-secret-h", "literal-secret", "url-password", "query-secret"] {
            assert!(!text.contains(s), "{s} in {text}");
        }
        assert!(text.contains("X-Webhook-Secret") || text.contains("x-webhook-secret"), "{text}");
    }
}
