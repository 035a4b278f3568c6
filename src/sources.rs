//! Inbound webhook sources (`[webhooks.pagerduty.<name>]`, `[webhooks.tickets.<name>]`): their
//! configuration, and at start-up the secrets read from the environment and how each delivery is
//! authenticated — before its body is parsed.

use crate::domain::{ServiceRef, Severity, UrgencyRule};
use crate::wire::signature::{self, Encoding, Secret, SignatureError};
use crate::wire::tickets::Tracker;
use axum::http::HeaderMap;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use toml::Spanned;

/// `[webhooks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// PagerDuty Generic Webhooks v3 subscriptions, by source name (`/webhooks/pagerduty/<name>`).
    #[serde(default)]
    pub pagerduty: BTreeMap<String, Spanned<PagerDutySourceConfig>>,
    /// Ticket trackers, by source name (`/webhooks/tickets/<name>`).
    #[serde(default)]
    pub tickets: BTreeMap<String, Spanned<TicketSourceConfig>>,
}

/// A header whose value must equal a secret (e.g. the seeds' `X-Webhook-Secret`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSecretConfig {
    /// The header's name.
    pub header: String,
    /// The environment variable holding the secret.
    pub env: String,
}

/// `[webhooks.pagerduty.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySourceConfig {
    /// Environment variables holding the subscription's signing secrets (`X-PagerDuty-Signature`;
    /// several while a secret is rotated).
    #[serde(default)]
    pub secret_envs: Vec<String>,
    /// A custom header the subscription sends with a shared secret.
    pub shared_secret: Option<SharedSecretConfig>,
    /// The Firehouse service of the mirrors (default: PagerDuty's service name).
    pub service: Option<String>,
}

/// `[webhooks.tickets.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSourceConfig {
    /// `generic`, `github`, `gitlab` or `jira`.
    pub kind: String,
    /// The environment variable holding the webhook secret (HMAC key, or GitLab's token).
    pub secret_env: String,
    /// generic / jira: the signature header (default `X-Signature-256`; Jira Cloud sends `X-Hub-Signature`).
    pub signature_header: Option<String>,
    /// generic / jira: `prefixed` (`sha256=<hex>`, default), `hex` or `base64`.
    pub signature_encoding: Option<String>,
    /// jira / generic: instead of a signature, a header carrying the secret itself.
    pub shared_secret_header: Option<String>,
    /// Labels that route a ticket to its actions; tickets with none of them are skipped (empty: all routed).
    #[serde(default)]
    pub labels: Vec<String>,
    /// The Firehouse service of its tickets (default: the source's name).
    pub service: Option<String>,
    /// The severity its tickets get (default `warning`).
    pub severity: Option<Severity>,
    /// Answer only when the agent session has started (bounded by `wait_seconds`), with its id and URL.
    #[serde(default)]
    pub wait_for_session: bool,
    /// The longest wait for a session (default 30, at most 120).
    pub wait_seconds: Option<u64>,
}

/// How a delivery proves it is authentic.
enum Check {
    /// `X-PagerDuty-Signature: v1=…` with any of these secrets.
    PagerDuty(Vec<Secret>),
    /// A header equal to the secret.
    Shared { header: String, secret: Secret },
    /// A header with the HMAC-SHA256 of the body.
    Hmac { header: String, encoding: Encoding, secret: Secret },
    /// A header equal to a token (GitLab).
    Token { header: String, secret: Secret },
}

impl Check {
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Check::PagerDuty(secrets) => {
                signature::verify_pagerduty(header(signature::PAGERDUTY_SIGNATURE_HEADER), body, secrets)
            }
            Check::Shared { header: name, secret } => signature::verify_shared_secret(header(name), secret),
            Check::Hmac { header: name, encoding, secret } => {
                signature::verify_hmac(header(name), body, secret, *encoding)
            }
            Check::Token { header: name, secret } => signature::verify_token(header(name), secret),
        }
    }
}

/// A PagerDuty v3 source, ready.
pub struct PagerDutySource {
    checks: Vec<Check>,
    /// The configured service, if any.
    pub service: Option<String>,
}

/// A ticket source, ready.
pub struct TicketSource {
    checks: Vec<Check>,
    /// Which tracker.
    pub tracker: Tracker,
    /// Routed labels (empty: all).
    pub labels: Vec<String>,
    /// The service of its tickets.
    pub service: ServiceRef,
    /// The severity of its tickets.
    pub severity: Severity,
    /// How long to wait for the agent session, when the answer should carry it.
    pub wait: Option<Duration>,
}

impl PagerDutySource {
    /// Every configured check must pass (a signature and a custom header, when both are set).
    pub fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        self.checks.iter().try_for_each(|c| c.verify(headers, body))
    }

    /// The service of a mirror of an incident in PagerDuty's service `pd_service`.
    pub fn service_for(&self, source: &str, pd_service: Option<&str>) -> ServiceRef {
        let name = self
            .service
            .clone()
            .or_else(|| pd_service.map(str::to_owned))
            .unwrap_or_else(|| format!("pagerduty-{source}"));
        ServiceRef::new(name, UrgencyRule::High)
    }
}

impl TicketSource {
    /// Every configured check must pass.
    pub fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        self.checks.iter().try_for_each(|c| c.verify(headers, body))
    }

    /// Whether a ticket with these labels is routed.
    pub fn routes(&self, labels: &[String]) -> bool {
        self.labels.is_empty() || labels.iter().any(|l| self.labels.contains(l))
    }
}

/// Every inbound source, by name.
#[derive(Default)]
pub struct Sources {
    /// PagerDuty v3 sources.
    pub pagerduty: HashMap<String, PagerDutySource>,
    /// Ticket sources.
    pub tickets: HashMap<String, TicketSource>,
}

/// A source that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("webhook source {source_name:?}: {problem}")]
pub struct SourceError {
    /// The source.
    pub source_name: String,
    /// What is wrong (never a secret's value).
    pub problem: String,
}

fn secret_from_env(source: &str, var: &str) -> Result<Secret, SourceError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(SourceError {
            source_name: source.to_owned(),
            problem: format!("environment variable {var} is not set"),
        }),
    }
}

fn encoding(name: Option<&str>) -> Option<Encoding> {
    match name.unwrap_or("prefixed") {
        "prefixed" => Some(Encoding::Prefixed),
        "hex" => Some(Encoding::Hex),
        "base64" => Some(Encoding::Base64),
        _ => None,
    }
}

impl PagerDutySourceConfig {
    /// Problems that need no environment.
    pub fn check(&self) -> Result<(), String> {
        if self.secret_envs.is_empty() && self.shared_secret.is_none() {
            return Err("needs secret_envs (X-PagerDuty-Signature) and/or shared_secret: unauthenticated \
                        webhooks are not accepted"
                .into());
        }
        Ok(())
    }

    fn build(&self, name: &str) -> Result<PagerDutySource, SourceError> {
        let mut checks = Vec::new();
        if !self.secret_envs.is_empty() {
            let secrets = self.secret_envs.iter().map(|v| secret_from_env(name, v)).collect::<Result<_, _>>()?;
            checks.push(Check::PagerDuty(secrets));
        }
        if let Some(s) = &self.shared_secret {
            checks.push(Check::Shared { header: s.header.clone(), secret: secret_from_env(name, &s.env)? });
        }
        Ok(PagerDutySource { checks, service: self.service.clone() })
    }
}

impl TicketSourceConfig {
    /// Problems that need no environment.
    pub fn check(&self) -> Result<(), String> {
        let tracker: Tracker =
            self.kind.parse().map_err(|_| format!("kind {:?} must be generic, github, gitlab or jira", self.kind))?;
        if encoding(self.signature_encoding.as_deref()).is_none() {
            return Err("signature_encoding must be prefixed, hex or base64".into());
        }
        if matches!(tracker, Tracker::GitHub | Tracker::GitLab)
            && (self.signature_header.is_some() || self.shared_secret_header.is_some())
        {
            return Err(format!("{} deliveries are verified their own way: remove signature_header", tracker.as_str()));
        }
        if self.wait_seconds.is_some_and(|s| s == 0 || s > 120) {
            return Err("wait_seconds must be between 1 and 120".into());
        }
        Ok(())
    }

    fn build(&self, name: &str) -> Result<TicketSource, SourceError> {
        let tracker: Tracker = self.kind.parse().map_err(|_| SourceError {
            source_name: name.to_owned(),
            problem: format!("unknown kind {:?}", self.kind),
        })?;
        let secret = secret_from_env(name, &self.secret_env)?;
        let check = match (tracker, &self.shared_secret_header) {
            (Tracker::GitHub, _) => Check::Hmac {
                header: signature::GITHUB_SIGNATURE_HEADER.to_owned(),
                encoding: Encoding::Prefixed,
                secret,
            },
            (Tracker::GitLab, _) => Check::Token { header: signature::GITLAB_TOKEN_HEADER.to_owned(), secret },
            (Tracker::Generic | Tracker::Jira, Some(header)) => Check::Shared { header: header.clone(), secret },
            (Tracker::Generic | Tracker::Jira, None) => Check::Hmac {
                header: self.signature_header.clone().unwrap_or_else(|| "X-Signature-256".to_owned()),
                encoding: encoding(self.signature_encoding.as_deref()).unwrap_or(Encoding::Prefixed),
                secret,
            },
        };
        Ok(TicketSource {
            checks: vec![check],
            tracker,
            labels: self.labels.clone(),
            service: ServiceRef::new(self.service.clone().unwrap_or_else(|| name.to_owned()), UrgencyRule::Low),
            severity: self.severity.unwrap_or(Severity::Warning),
            wait: self.wait_for_session.then(|| Duration::from_secs(self.wait_seconds.unwrap_or(30).min(120))),
        })
    }
}

impl Sources {
    /// Reads every source's secrets from the environment.
    pub fn build(config: &WebhooksConfig) -> Result<Self, SourceError> {
        let mut sources = Sources::default();
        for (name, c) in &config.pagerduty {
            sources.pagerduty.insert(name.clone(), c.get_ref().build(name)?);
        }
        for (name, c) in &config.tickets {
            sources.tickets.insert(name.clone(), c.get_ref().build(name)?);
        }
        Ok(sources)
    }
}
