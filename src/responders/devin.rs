//! Devin sessions (`type = "devin"`): an agent starts working on the incident, through Devin's API v3.
//!
//! ```toml
//! org_id = "org-1234"
//! token_env = "DEVIN_API_KEY"                     # the NAME of the variable holding the service user's token
//! flow = "triage"                                 # triage | postmortem | custom (custom needs `prompt`)
//! playbook_id = "playbook-default"
//! playbooks_by_severity = { critical = "playbook-p1" }
//! tags = ["team:payments"]
//! max_acu_limit = 10
//! session_secrets = [{ key = "TICKETS_TOKEN", env = "TICKETS_TOKEN" }]
//! message_on_resolve = true
//! structured_output = true                        # postmortem flow: ask for the postmortem as structured output
//! ```
//!
//! One delivery is one `POST {base_url}{api_prefix}/organizations/{org_id}/sessions` with the prompt rendered from the
//! flow's template (see [`crate::domain::prompt`]) and the tags `firehouse`, `service:<name>`, the flow's tag
//! (`pagerduty-triage`, `pagerduty-postmortem`, or `firehouse-<action>`), `firehouse-incident:<id>` and
//! `firehouse-dispatch:<hash of the dispatch key>`, then the configured ones.
//!
//! **At most one session per dispatch.** API v3 has no idempotency key, so the dispatch tag stands in for one: a
//! create that may have reached Devin without an answer (timeout, broken connection, 5xx, an unreadable 2xx) is
//! followed by a list call for that tag in the same attempt, and every later attempt lists before it creates. A
//! session found is the delivery's result.
//!
//! With `message_on_resolve`, the `resolved` dispatch of the action sends a message to the session the action
//! started for the incident (found by its incident and flow tags) instead of starting another; when there is none, a
//! triage action does nothing and the other flows start their session as usual (a postmortem begun at
//! `acknowledged` is told the incident resolved; one that was not is started on resolve).
//!
//! **Sessions are followed.** Every session a delivery reports is polled (`GET …/sessions/{session_id}`, through
//! [`Responder::session`]) by the [`crate::dispatch::sessions`] tracker until it ends. The postmortem flow's create
//! carries a `structured_output_schema` ([`postmortem_schema`]) unless `structured_output = false`, and the
//! structured output its session delivers is stored on the incident as its postmortem.
//!
//! The token and the session secrets' values are read from the environment at start-up, sent only in the
//! `Authorization` header and the create body, and removed from every error text.

use super::http::{self, EnvLookup, Redactor, Reply, Secret, SetupError};
use crate::dispatch::{Delivery, DispatchContext, Responder, SessionState};
use crate::domain::prompt::{self, PromptContext};
use crate::domain::Severity;
use crate::store::PullRequest;
use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// Devin's API.
pub const DEFAULT_BASE_URL: &str = "https://api.devin.ai";
/// API v3.
pub const DEFAULT_API_PREFIX: &str = "/v3";
/// The variable the seeds keep the token in.
pub const DEFAULT_TOKEN_ENV: &str = "DEVIN_API_KEY";
/// Seconds to wait for one API call.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Sessions asked for per list page (the API allows 1–200).
const LIST_PAGE_SIZE: u32 = 100;
/// List pages read at most when looking a tag up (a dispatch tag matches one session).
const LIST_MAX_PAGES: usize = 5;

/// A problem with a `type = "devin"` action found at start-up.
pub type DevinConfigError = SetupError;

/// Which default prompt an action uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Investigate a triggered incident (Devin's PagerDuty bridge).
    #[default]
    Triage,
    /// Draft a postmortem of a resolved incident, from its real timeline.
    Postmortem,
    /// Fix a ticket (seed 003's auto-fix handler) and report back on it.
    Ticket,
    /// Only the configured `prompt`.
    Custom,
}

/// The keys of a `type = "devin"` action (besides its name and type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevinConfig {
    /// Scheme and host of the API (`https://api.devin.ai`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Path prefix of the API version (`/v3`; some reference pages show `/v3beta1`).
    #[serde(default = "default_api_prefix")]
    pub api_prefix: String,
    /// The organization (`org-…`).
    pub org_id: String,
    /// Name of the environment variable holding the service user's API token (never the token itself).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Selects the default prompt.
    #[serde(default)]
    pub flow: Flow,
    /// Prompt template replacing the flow's default.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Session title template (default `[{{ incident.severity }}] {{ incident.title }}`).
    #[serde(default)]
    pub title: Option<String>,
    /// Tags added to the defaults.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Playbook when no label or severity picks one.
    #[serde(default)]
    pub playbook_id: Option<String>,
    /// Playbook by incident severity (wins over `playbook_id`).
    #[serde(default)]
    pub playbooks_by_severity: BTreeMap<Severity, String>,
    /// Playbook by label (wins over severity; labels come with tickets).
    #[serde(default)]
    pub playbooks_by_label: BTreeMap<String, String>,
    /// Knowledge notes to attach.
    #[serde(default)]
    pub knowledge_ids: Vec<String>,
    /// Organization secrets to give the session.
    #[serde(default)]
    pub secret_ids: Vec<String>,
    /// ACU cap for the session.
    #[serde(default)]
    pub max_acu_limit: Option<NonZeroU32>,
    /// Repositories the session works on.
    #[serde(default)]
    pub repos: Vec<String>,
    /// Secrets for this session only, read from the environment at start-up.
    #[serde(default)]
    pub session_secrets: Vec<SessionSecretConfig>,
    /// Seconds to wait for each API call (1–300).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// On `resolved`, message the session this action started for the incident instead of starting one.
    #[serde(default)]
    pub message_on_resolve: bool,
    /// Template of that message (default: the incident resolved at …, wrap up).
    #[serde(default)]
    pub resolve_message: Option<String>,
    /// With `flow = "postmortem"`, ask for the postmortem as structured output ([`postmortem_schema`]), stored on
    /// the incident when the session delivers it (default true).
    #[serde(default = "yes")]
    pub structured_output: bool,
    /// Firehouse's MCP endpoint as the agent can reach it (e.g. `https://firehouse.example.com/mcp`); when set,
    /// the prompt ends by pointing the agent at it.
    #[serde(default)]
    pub mcp_url: Option<String>,
}

/// One `session_secrets` entry: a variable the session sees, with its value from Firehouse's environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSecretConfig {
    /// The variable's name in the session.
    pub key: String,
    /// The environment variable holding the value.
    pub env: String,
    /// Whether Devin hides the value (default true).
    #[serde(default = "yes")]
    pub sensitive: bool,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_api_prefix() -> String {
    DEFAULT_API_PREFIX.to_owned()
}
fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_owned()
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}
fn yes() -> bool {
    true
}

impl DevinConfig {
    /// The tag every session of this action carries: `pagerduty-triage`, `pagerduty-postmortem` or
    /// `firehouse-<action>`.
    pub fn flow_tag(&self, action: &str) -> String {
        match self.flow {
            Flow::Triage => "pagerduty-triage".to_owned(),
            Flow::Postmortem => "pagerduty-postmortem".to_owned(),
            Flow::Ticket => "ticket-autofix".to_owned(),
            Flow::Custom => format!("firehouse-{action}"),
        }
    }

    /// The prompt template in force.
    pub fn prompt_template(&self) -> Option<&str> {
        match (&self.prompt, self.flow) {
            (Some(p), _) => Some(p),
            (None, Flow::Triage) => Some(prompt::DEFAULT_TRIAGE),
            (None, Flow::Postmortem) => Some(prompt::DEFAULT_POSTMORTEM),
            (None, Flow::Ticket) => Some(prompt::DEFAULT_TICKET),
            (None, Flow::Custom) => None,
        }
    }

    /// Everything that can be checked without the environment (for `firehouse config check`): URLs, ids, tags,
    /// templates (compiled and rendered against a sample incident), the timeout. Returns the first problem.
    pub fn check(&self, action: &str) -> Result<(), DevinConfigError> {
        let err = |m: String| SetupError::new(action, m);
        http::parse_url(action, "base_url", &self.base_url)?;
        if let Some(url) = &self.mcp_url {
            http::parse_url(action, "mcp_url", url)?;
        }
        http::timeout(action, self.timeout_seconds)?;
        if api_prefix_segments(&self.api_prefix).iter().any(|s| !is_path_word(s)) {
            return Err(err(format!("api_prefix {:?} must be a path like \"/v3\"", self.api_prefix)));
        }
        if !is_path_word(&self.org_id) {
            return Err(err("org_id must be an organization id like \"org-…\" (letters, digits, - and _)".into()));
        }
        if !is_env_name(&self.token_env) {
            return Err(err(format!("token_env {:?} is not an environment variable name", self.token_env)));
        }
        let Some(template) = self.prompt_template() else {
            return Err(err("flow = \"custom\" needs a prompt".into()));
        };
        prompt::check(template).map_err(|e| err(format!("prompt: {e}")))?;
        let title = self.title.as_deref().unwrap_or(prompt::DEFAULT_TITLE);
        prompt::check(title).map_err(|e| err(format!("title: {e}")))?;
        let message = self.resolve_message.as_deref().unwrap_or(prompt::DEFAULT_RESOLVE_MESSAGE);
        prompt::check(message).map_err(|e| err(format!("resolve_message: {e}")))?;
        for t in &self.tags {
            if t.trim().is_empty() || t.contains(',') {
                return Err(err(format!("tags: {t:?} must be non-empty and hold no comma")));
            }
        }
        let ids = [("knowledge_ids", &self.knowledge_ids), ("secret_ids", &self.secret_ids), ("repos", &self.repos)];
        for (key, values) in ids {
            if values.iter().any(|v| v.trim().is_empty()) {
                return Err(err(format!("{key}: an entry is empty")));
            }
        }
        let playbooks = self.playbook_id.iter().chain(self.playbooks_by_severity.values());
        if playbooks.chain(self.playbooks_by_label.values()).any(|p| p.trim().is_empty()) {
            return Err(err("a playbook id is empty".into()));
        }
        for (i, s) in self.session_secrets.iter().enumerate() {
            if !is_env_name(&s.key) {
                return Err(err(format!("session_secrets: key {:?} is not an environment variable name", s.key)));
            }
            if self.session_secrets[..i].iter().any(|o| o.key == s.key) {
                return Err(err(format!("session_secrets: key {} appears twice", s.key)));
            }
            if !is_env_name(&s.env) {
                return Err(err(format!("session_secrets: env {:?} is not an environment variable name", s.env)));
            }
        }
        Ok(())
    }
}

fn api_prefix_segments(prefix: &str) -> Vec<&str> {
    prefix.split('/').filter(|s| !s.is_empty()).collect()
}

fn is_path_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') && s != ".."
}

fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The closing paragraph that tells an agent about Firehouse's MCP server.
fn mcp_hint(url: &str) -> String {
    format!(
        "\n\nFirehouse, the incident gateway that started this session, serves this incident over MCP at {url}: \
         get_incident (with its timeline), get_alert_events (raw payloads), get_change_events (deploys and config \
         changes around it) and find_similar_incidents (past incidents of the service and their postmortems). Record \
         your findings on the incident with add_note."
    )
}

/// The tag naming one dispatch: `firehouse-dispatch:` and 16 hex digits of the SHA-256 of its key.
pub fn dispatch_tag(dispatch_key: &str) -> String {
    let digest = Sha256::digest(dispatch_key.as_bytes());
    format!("firehouse-dispatch:{}", hex::encode(&digest[..8]))
}

/// The tag naming one incident.
pub fn incident_tag(incident_id: &str) -> String {
    format!("firehouse-incident:{incident_id}")
}

/// A session as the API describes it (the fields Firehouse uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Session {
    /// `devin-…`.
    pub session_id: String,
    /// Where people watch it.
    #[serde(default)]
    pub url: String,
    /// `new`, `claimed`, `running`, `exit`, `error`, `suspended` or `resuming`.
    #[serde(default)]
    pub status: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was created (the API's integer time).
    #[serde(default)]
    pub created_at: Option<i64>,
    /// The pull requests it opened (entries without a `pr_url` are skipped).
    #[serde(default, deserialize_with = "pull_requests")]
    pub pull_requests: Vec<PullRequest>,
    /// What it filled in of the create call's `structured_output_schema`.
    #[serde(default)]
    pub structured_output: Option<serde_json::Value>,
}

/// `pull_requests` as the API may send it: absent, `null`, or entries of which only those with a URL count.
fn pull_requests<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PullRequest>, D::Error> {
    let items: Option<Vec<serde_json::Value>> = Option::deserialize(d)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            let pr_url = item.get("pr_url")?.as_str().filter(|u| !u.is_empty())?.to_owned();
            let pr_state = item.get("pr_state").and_then(|s| s.as_str()).map(str::to_owned);
            Some(PullRequest { pr_url, pr_state })
        })
        .collect())
}

impl Session {
    fn result(&self) -> serde_json::Value {
        json!({"session_id": self.session_id, "url": self.url, "status": self.status})
    }
}

#[derive(Deserialize)]
struct SessionPage {
    #[serde(default)]
    items: Vec<Session>,
    #[serde(default)]
    end_cursor: Option<String>,
    #[serde(default)]
    has_next_page: bool,
}

/// The body of a create call. Not `Debug`: it holds the session secrets' values.
#[derive(Serialize)]
pub struct CreateSession {
    /// The rendered prompt.
    pub prompt: String,
    /// The rendered title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Tags, defaults first.
    pub tags: Vec<String>,
    /// The chosen playbook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playbook_id: Option<String>,
    /// Knowledge notes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub knowledge_ids: Vec<String>,
    /// Organization secrets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_ids: Vec<String>,
    /// Session-only secrets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub session_secrets: Vec<SessionSecretBody>,
    /// ACU cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_acu_limit: Option<u32>,
    /// Repositories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<String>,
    /// The shape of the structured output asked for (the postmortem flow's [`postmortem_schema`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_output_schema: Option<serde_json::Value>,
}

/// The structured output the postmortem flow asks for: a self-contained JSON Schema (draft 7) of a postmortem with
/// a `summary`, a `timeline` of `{time, event}`, the `root_cause` and `action_items`.
pub fn postmortem_schema() -> serde_json::Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Postmortem",
        "description": "A blameless postmortem of the incident.",
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "What happened and its impact, in a few sentences."},
            "timeline": {
                "type": "array",
                "description": "What happened, in order, from the first sign to the resolution.",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string", "description": "When (ISO 8601, UTC)."},
                        "event": {"type": "string", "description": "What happened then."}
                    },
                    "required": ["time", "event"],
                    "additionalProperties": false
                }
            },
            "root_cause": {"type": "string", "description": "Why it happened."},
            "action_items": {
                "type": "array",
                "description": "What to do so that it does not happen again.",
                "items": {"type": "string"}
            }
        },
        "required": ["summary", "timeline", "root_cause", "action_items"],
        "additionalProperties": false
    })
}

/// One session secret as sent.
#[derive(Serialize)]
pub struct SessionSecretBody {
    key: String,
    value: String,
    sensitive: bool,
}

/// What went wrong with one API call.
#[derive(Debug, Clone, PartialEq)]
struct CallError {
    /// What it amounts to (retry or fail).
    delivery: Delivery,
    /// Whether the call may have taken effect without Firehouse knowing: no answer after the request may have
    /// arrived (timeout, broken connection), a 5xx, or an unreadable 2xx.
    maybe_done: bool,
}

impl CallError {
    fn into_delivery(self, what: &str) -> Delivery {
        match self.delivery {
            Delivery::Retry { error, after } => Delivery::Retry { error: format!("Devin {what}: {error}"), after },
            Delivery::Fail { error } => Delivery::Fail { error: format!("Devin {what}: {error}") },
            done => done,
        }
    }
}

/// The Devin API v3 for one organization, with one token.
pub struct DevinClient {
    client: reqwest::Client,
    base: reqwest::Url,
    prefix: Vec<String>,
    org_id: String,
    authorization: HeaderValue,
    timeout: Duration,
}

impl fmt::Debug for DevinClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevinClient")
            .field("base", &http::safe_url(&self.base))
            .field("prefix", &self.prefix)
            .field("org_id", &self.org_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DevinClient {
    /// A client for `org_id` at `base` (+ `prefix`), authenticating with `token`.
    pub fn new(
        action: &str,
        base: reqwest::Url,
        prefix: &str,
        org_id: &str,
        token: &Secret,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| SetupError::new(action, "the API token is not a valid HTTP header value"))?;
        authorization.set_sensitive(true);
        Ok(DevinClient {
            client: http::client(action, timeout)?,
            base,
            prefix: api_prefix_segments(prefix).into_iter().map(str::to_owned).collect(),
            org_id: org_id.to_owned(),
            authorization,
            timeout,
        })
    }

    fn url(&self, rest: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(&self.prefix);
            segments.extend(["organizations", self.org_id.as_str(), "sessions"]);
            segments.extend(rest);
        }
        url
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Reply, CallError> {
        let request = request.header(AUTHORIZATION, self.authorization.clone());
        let reply = http::send(request, self.timeout).await.map_err(|delivery| {
            // Only a failure to connect proves the request never arrived (otherwise a look-up is merely wasted).
            let maybe_done =
                !matches!(&delivery, Delivery::Retry { error, .. } if error.starts_with("connection failed"));
            CallError { delivery, maybe_done }
        })?;
        match http::classify(&reply) {
            Delivery::Done { .. } => Ok(reply),
            delivery => {
                Err(CallError { delivery: with_detail(delivery, &reply), maybe_done: reply.status.is_server_error() })
            }
        }
    }

    fn session_from(reply: &Reply) -> Result<Session, CallError> {
        serde_json::from_slice::<Session>(&reply.body).map_err(|e| CallError {
            delivery: Delivery::Retry {
                error: format!("unreadable answer (HTTP {}): {e}", reply.status.as_u16()),
                after: None,
            },
            maybe_done: true,
        })
    }

    /// Starts a session.
    async fn create(&self, body: &CreateSession) -> Result<Session, CallError> {
        let reply = self.call(self.client.post(self.url(&[])).json(body)).await?;
        Self::session_from(&reply)
    }

    /// The sessions carrying every one of `tags`, oldest first.
    async fn list_tagged(&self, tags: &[String]) -> Result<Vec<Session>, CallError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..LIST_MAX_PAGES {
            let mut query: Vec<(&str, String)> = tags.iter().map(|t| ("tags", t.clone())).collect();
            query.push(("first", LIST_PAGE_SIZE.to_string()));
            if let Some(cursor) = &after {
                query.push(("after", cursor.clone()));
            }
            let reply = self.call(self.client.get(self.url(&[])).query(&query)).await?;
            let page: SessionPage = serde_json::from_slice(&reply.body).map_err(|e| CallError {
                delivery: Delivery::Retry { error: format!("unreadable session list: {e}"), after: None },
                maybe_done: false,
            })?;
            // Whatever the API's filter does with several tags, keep only sessions that carry all of them.
            found.extend(page.items.into_iter().filter(|s| tags.iter().all(|t| s.tags.contains(t))));
            match page.end_cursor {
                Some(cursor) if page.has_next_page => after = Some(cursor),
                _ => break,
            }
        }
        found.sort_by_key(|s| s.created_at);
        Ok(found)
    }

    /// One session: `GET …/sessions/{session_id}` (status, pull requests, structured output).
    async fn session(&self, session_id: &str) -> Result<Session, CallError> {
        let reply = self.call(self.client.get(self.url(&[session_id]))).await?;
        Self::session_from(&reply)
    }

    /// Sends `text` to a session (a suspended one resumes).
    async fn send_message(&self, session_id: &str, text: &str) -> Result<(), CallError> {
        let url = self.url(&[session_id, "messages"]);
        self.call(self.client.post(url).json(&json!({ "message": text }))).await.map(|_| ())
    }
}

/// A failed answer's error text: `HTTP <status> <reason>: ` and the API's own explanation (`detail`, `message` or
/// `error` of a JSON body) when it gives one, else the general text (which quotes the body).
fn with_detail(delivery: Delivery, reply: &Reply) -> Delivery {
    if reply.status.is_redirection() {
        return delivery;
    }
    let detail =
        reply.json().and_then(|v| match v.get("detail").or_else(|| v.get("message")).or_else(|| v.get("error"))? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
    let Some(detail) = detail else { return delivery };
    let reason = reply.status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
    let error = format!("HTTP {}{reason}: {}", reply.status.as_u16(), http::excerpt(&detail, 300));
    match delivery {
        Delivery::Retry { after, .. } => Delivery::Retry { error, after },
        Delivery::Fail { .. } => Delivery::Fail { error },
        done => done,
    }
}

/// Starts Devin sessions for one action.
pub struct DevinResponder {
    action: String,
    config: DevinConfig,
    prompt: String,
    title: String,
    resolve_message: String,
    flow_tag: String,
    session_secrets: Vec<(SessionSecretConfig, Secret)>,
    api: DevinClient,
    redactor: Redactor,
}

impl fmt::Debug for DevinResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevinResponder")
            .field("action", &self.action)
            .field("flow", &self.config.flow)
            .field("api", &self.api)
            .field("token_env", &self.config.token_env)
            .field("session_secrets", &self.session_secrets.iter().map(|(c, _)| &c.key).collect::<Vec<_>>())
            .field("redactor", &self.redactor)
            .finish_non_exhaustive()
    }
}

impl DevinResponder {
    /// A responder for action `action`, reading the token and session secrets from the process environment.
    pub fn new(action: &str, config: &DevinConfig) -> Result<Self, DevinConfigError> {
        Self::with_env(action, config, &http::process_env)
    }

    /// A responder for action `action`, reading the token and session secrets through `env`.
    pub fn with_env(action: &str, config: &DevinConfig, env: EnvLookup<'_>) -> Result<Self, DevinConfigError> {
        config.check(action)?;
        let base = http::parse_url(action, "base_url", &config.base_url)?;
        let timeout = http::timeout(action, config.timeout_seconds)?;
        let token = Secret::from_env(action, &config.token_env, env)?;
        let mut redactor = Redactor::new();
        redactor.add(token.expose());
        let mut session_secrets = Vec::with_capacity(config.session_secrets.len());
        for s in &config.session_secrets {
            let value = Secret::from_env(action, &s.env, env)?;
            redactor.add(value.expose());
            session_secrets.push((s.clone(), value));
        }
        let api = DevinClient::new(action, base, &config.api_prefix, &config.org_id, &token, timeout)?;
        Ok(DevinResponder {
            action: action.to_owned(),
            prompt: config.prompt_template().unwrap_or_default().to_owned(),
            title: config.title.clone().unwrap_or_else(|| prompt::DEFAULT_TITLE.to_owned()),
            resolve_message: config
                .resolve_message
                .clone()
                .unwrap_or_else(|| prompt::DEFAULT_RESOLVE_MESSAGE.to_owned()),
            flow_tag: config.flow_tag(action),
            config: config.clone(),
            session_secrets,
            api,
            redactor,
        })
    }

    /// The playbook for an incident of `severity` (with ticket `labels`): the first label that has one, else the
    /// severity's, else `playbook_id`.
    pub fn playbook_for(&self, severity: Severity, labels: &[String]) -> Option<&str> {
        labels
            .iter()
            .find_map(|l| self.config.playbooks_by_label.get(l))
            .or_else(|| self.config.playbooks_by_severity.get(&severity))
            .or(self.config.playbook_id.as_ref())
            .map(String::as_str)
    }

    /// The tags of a session for this dispatch: `firehouse`, `service:<name>`, the flow tag, the incident and
    /// dispatch tags, then the configured ones (each once).
    pub fn tags(&self, ctx: &DispatchContext) -> Vec<String> {
        let defaults = [
            "firehouse".to_owned(),
            format!("service:{}", ctx.incident.service),
            self.flow_tag.clone(),
            incident_tag(&ctx.incident.id),
            dispatch_tag(&ctx.dispatch_key),
        ];
        let mut tags: Vec<String> = Vec::with_capacity(defaults.len() + self.config.tags.len());
        for t in defaults.into_iter().chain(self.config.tags.iter().cloned()) {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        tags
    }

    /// The create call's body for this dispatch.
    pub fn request(&self, ctx: &DispatchContext, labels: &[String]) -> Result<CreateSession, prompt::PromptError> {
        let pctx = PromptContext::from_dispatch(ctx);
        let title = prompt::render(&self.title, &pctx)?;
        let title = http::excerpt(&title, 200);
        Ok(CreateSession {
            prompt: match &self.config.mcp_url {
                Some(url) => format!("{}{}", prompt::render(&self.prompt, &pctx)?, mcp_hint(url)),
                None => prompt::render(&self.prompt, &pctx)?,
            },
            title: (!title.is_empty()).then_some(title),
            tags: self.tags(ctx),
            playbook_id: self.playbook_for(ctx.incident.severity, labels).map(str::to_owned),
            knowledge_ids: self.config.knowledge_ids.clone(),
            secret_ids: self.config.secret_ids.clone(),
            session_secrets: self
                .session_secrets
                .iter()
                .map(|(c, v)| SessionSecretBody {
                    key: c.key.clone(),
                    value: v.expose().to_owned(),
                    sensitive: c.sensitive,
                })
                .collect(),
            max_acu_limit: self.config.max_acu_limit.map(NonZeroU32::get),
            repos: self.config.repos.clone(),
            structured_output_schema: self.wants_postmortem().then(postmortem_schema),
        })
    }

    /// Whether this action's sessions deliver the incident's postmortem as structured output.
    fn wants_postmortem(&self) -> bool {
        self.config.flow == Flow::Postmortem && self.config.structured_output
    }

    /// The state of session `session_id` (status, pull requests, structured output); the error text is redacted.
    pub async fn session_state(&self, session_id: &str) -> Result<SessionState, String> {
        match self.api.session(session_id).await {
            Ok(s) => Ok(SessionState {
                agent: "devin".to_owned(),
                status: s.status,
                pull_requests: s.pull_requests,
                structured_output: s.structured_output,
                postmortem: self.wants_postmortem(),
            }),
            Err(e) => Err(match self.redactor.delivery(e.into_delivery("get session")) {
                Delivery::Retry { error, .. } | Delivery::Fail { error } => error,
                Delivery::Done { .. } => "Devin get session: failed".to_owned(),
            }),
        }
    }

    /// Sends `text` to session `session_id`.
    pub async fn send_message(&self, session_id: &str, text: &str) -> Result<(), Delivery> {
        let result = self.api.send_message(session_id, text).await.map_err(|e| e.into_delivery("send message"));
        result.map_err(|d| self.redactor.delivery(d))
    }

    /// Delivers a dispatch whose playbook may also be chosen by `labels` (tickets; incidents have none).
    pub async fn deliver_with_labels(&self, ctx: &DispatchContext, labels: &[String]) -> Delivery {
        let delivery = self.deliver_inner(ctx, labels).await;
        self.redactor.delivery(delivery)
    }

    async fn deliver_inner(&self, ctx: &DispatchContext, labels: &[String]) -> Delivery {
        // Configuration refuses such rules; a dispatch written before the action changed type must still not start a
        // session from a session's own event.
        if ctx.session_event.is_some() {
            return Delivery::Fail { error: format!("a devin action cannot run on {} events", ctx.transition) };
        }
        if self.config.message_on_resolve && ctx.transition == "resolved" {
            match self.message_on_resolve(ctx).await {
                Ok(Some(done)) => return done,
                Ok(None) if self.config.flow == Flow::Triage => {
                    let reason = format!("no {} session for this incident", self.flow_tag);
                    return Delivery::Done { result: Some(json!({ "message_sent": false, "reason": reason })) };
                }
                Ok(None) => {}
                Err(d) => return d,
            }
        }
        let body = match self.request(ctx, labels) {
            Ok(b) => b,
            Err(e) => return Delivery::Fail { error: format!("cannot render the Devin prompt: {e}") },
        };
        let tag = vec![dispatch_tag(&ctx.dispatch_key)];
        if ctx.attempt > 1 {
            // An earlier attempt may have started the session and lost the answer.
            match self.api.list_tagged(&tag).await {
                Ok(found) => {
                    if let Some(s) = found.into_iter().next() {
                        tracing::info!(action = %self.action, incident = %ctx.incident.id, session = %s.session_id,
                            "Devin session from an earlier attempt found");
                        return Delivery::Done { result: Some(s.result()) };
                    }
                }
                Err(e) => return e.into_delivery("look-up of earlier attempts' sessions"),
            }
        }
        match self.api.create(&body).await {
            Ok(s) => {
                tracing::info!(action = %self.action, incident = %ctx.incident.id, session = %s.session_id,
                    "Devin session started");
                Delivery::Done { result: Some(s.result()) }
            }
            Err(e) if e.maybe_done => match self.api.list_tagged(&tag).await {
                Ok(found) if !found.is_empty() => {
                    let s = &found[0];
                    tracing::info!(action = %self.action, incident = %ctx.incident.id, session = %s.session_id,
                        "Devin session started (found after an unanswered create)");
                    Delivery::Done { result: Some(s.result()) }
                }
                _ => e.into_delivery("create session"),
            },
            Err(e) => e.into_delivery("create session"),
        }
    }

    /// Messages the newest session this action started for the incident; `None` when there is none.
    async fn message_on_resolve(&self, ctx: &DispatchContext) -> Result<Option<Delivery>, Delivery> {
        let tags = [incident_tag(&ctx.incident.id), self.flow_tag.clone()];
        let found =
            self.api.list_tagged(&tags).await.map_err(|e| e.into_delivery("look-up of the incident's session"))?;
        let Some(session) = found.last() else { return Ok(None) };
        if session.tags.contains(&dispatch_tag(&ctx.dispatch_key)) {
            // This very dispatch started it (no session to tell on an earlier attempt): it is the result.
            return Ok(Some(Delivery::Done { result: Some(session.result()) }));
        }
        let text = prompt::render(&self.resolve_message, &PromptContext::from_dispatch(ctx))
            .map_err(|e| Delivery::Fail { error: format!("cannot render the resolve message: {e}") })?;
        self.api.send_message(&session.session_id, &text).await.map_err(|e| e.into_delivery("send message"))?;
        tracing::info!(action = %self.action, incident = %ctx.incident.id, session = %session.session_id,
            "told the Devin session the incident resolved");
        let mut result = session.result();
        result["message_sent"] = json!(true);
        Ok(Some(Delivery::Done { result: Some(result) }))
    }
}

#[async_trait]
impl Responder for DevinResponder {
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery {
        self.deliver_with_labels(ctx, &ctx.incident.labels).await
    }

    async fn session(&self, session_id: &str) -> Option<Result<SessionState, String>> {
        Some(self.session_state(session_id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> DevinConfig {
        toml::from_str(text).unwrap()
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "DEVIN_API_KEY" => Some("cog_test_token".into()),
            "TICKETS" => Some("tickets-secret-value".into()),
            _ => None,
        }
    }

    #[test]
    fn reads_its_configuration_with_defaults() {
        let c = cfg("org_id = \"org-1\"");
        assert_eq!((c.base_url.as_str(), c.api_prefix.as_str()), (DEFAULT_BASE_URL, "/v3"));
        assert_eq!((c.token_env.as_str(), c.flow, c.timeout_seconds), ("DEVIN_API_KEY", Flow::Triage, 30));
        assert!(!c.message_on_resolve && c.prompt.is_none() && c.max_acu_limit.is_none());
        assert_eq!(c.flow_tag("a"), "pagerduty-triage");
        c.check("a").unwrap();

        let c = cfg(r#"
            org_id = "org-1"
            flow = "postmortem"
            playbooks_by_severity = { critical = "pb-1", error = "pb-2" }
            playbooks_by_label = { devin-autofix = "pb-fix" }
            max_acu_limit = 5
            session_secrets = [{ key = "TICKETS_TOKEN", env = "TICKETS" }, { key = "B", env = "B", sensitive = false }]
        "#);
        assert_eq!(c.flow_tag("a"), "pagerduty-postmortem");
        assert_eq!(c.playbooks_by_severity[&Severity::Critical], "pb-1");
        assert_eq!(c.max_acu_limit.map(NonZeroU32::get), Some(5));
        assert!(c.session_secrets[0].sensitive && !c.session_secrets[1].sensitive);
        assert_eq!(cfg("org_id = \"o\"\nflow = \"custom\"\nprompt = \"x\"").flow_tag("fix"), "firehouse-fix");
    }

    #[test]
    fn refuses_what_the_api_would_refuse() {
        for bad in [
            "base_url = \"x\"",                                                   // org_id missing
            "org_id = \"o\"\ntoken = \"cog_x\"",                                  // unknown key (a token in the file)
            "org_id = \"o\"\nflow = \"triage2\"",                                 // unknown flow
            "org_id = \"o\"\nmax_acu_limit = 0",                                  // not positive
            "org_id = \"o\"\nmax_acu_limit = -3",                                 // not positive
            "org_id = \"o\"\nplaybooks_by_severity = { p1 = \"x\" }",             // unknown severity
            "org_id = \"o\"\nsession_secrets = [{ key = \"K\", value = \"v\" }]", // values never in the file
        ] {
            assert!(toml::from_str::<DevinConfig>(bad).is_err(), "{bad}");
        }
        for (bad, says) in [
            ("org_id = \"o\"\nflow = \"custom\"", "needs a prompt"),
            ("org_id = \"o\"\nprompt = \"{{ incident.titel }}\"", "prompt:"),
            ("org_id = \"o\"\ntitle = \"{% if %}\"", "title:"),
            ("org_id = \"o/../x\"", "org_id"),
            ("org_id = \"o\"\nbase_url = \"ftp://x\"", "base_url"),
            ("org_id = \"o\"\ntimeout_seconds = 0", "timeout_seconds"),
            ("org_id = \"o\"\ntags = [\"a,b\"]", "tags"),
            ("org_id = \"o\"\ntoken_env = \"cog_abc def\"", "token_env"),
            ("org_id = \"o\"\nsession_secrets = [{ key = \"A\", env = \"X\" }, { key = \"A\", env = \"Y\" }]", "twice"),
        ] {
            let e = cfg(bad).check("a").unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn missing_variables_are_named_and_values_never_shown() {
        let c = cfg("org_id = \"o\"\ntoken_env = \"NOPE\"");
        let e = DevinResponder::with_env("triage", &c, &env).unwrap_err();
        assert_eq!(e.to_string(), "action \"triage\": environment variable NOPE is not set");
        let c = cfg("org_id = \"o\"\nsession_secrets = [{ key = \"T\", env = \"MISSING_T\" }]");
        let e = DevinResponder::with_env("triage", &c, &env).unwrap_err();
        assert!(e.to_string().contains("MISSING_T is not set"), "{e}");
        let c = cfg("org_id = \"o\"\nsession_secrets = [{ key = \"T\", env = \"TICKETS\" }]");
        let r = DevinResponder::with_env("triage", &c, &env).unwrap();
        let debug = format!("{r:?}");
        assert!(!debug.contains("cog_test_token") && !debug.contains("tickets-secret-value"), "{debug}");
        assert!(debug.contains("DEVIN_API_KEY") && debug.contains("\"T\""), "{debug}");
    }

    #[test]
    fn playbooks_by_label_then_severity_then_default() {
        let c = cfg(r#"
            org_id = "o"
            playbook_id = "pb-default"
            playbooks_by_severity = { critical = "pb-p1" }
            playbooks_by_label = { devin-autofix = "pb-fix", devin-feature = "pb-feature" }
        "#);
        let r = DevinResponder::with_env("a", &c, &env).unwrap();
        assert_eq!(r.playbook_for(Severity::Critical, &[]), Some("pb-p1"));
        assert_eq!(r.playbook_for(Severity::Warning, &[]), Some("pb-default"));
        let labels = ["bug".to_owned(), "devin-feature".to_owned(), "devin-autofix".to_owned()];
        assert_eq!(r.playbook_for(Severity::Critical, &labels), Some("pb-feature"));
        let r = DevinResponder::with_env("a", &cfg("org_id = \"o\""), &env).unwrap();
        assert_eq!(r.playbook_for(Severity::Critical, &labels), None);
    }

    #[test]
    fn session_answers_are_read_leniently() {
        let s: Session = serde_json::from_value(json!({
            "session_id": "devin-1", "url": "u", "status": "running", "tags": [], "created_at": 1,
            "pull_requests": [{"pr_url": "https://github.com/o/r/pull/1", "pr_state": "open"}, {"pr_state": "open"},
                              {"pr_url": "https://github.com/o/r/pull/2", "pr_state": null}],
            "structured_output": {"summary": "s"}
        }))
        .unwrap();
        let urls: Vec<(&str, Option<&str>)> =
            s.pull_requests.iter().map(|p| (p.pr_url.as_str(), p.pr_state.as_deref())).collect();
        assert_eq!(urls, [("https://github.com/o/r/pull/1", Some("open")), ("https://github.com/o/r/pull/2", None)]);
        assert_eq!(s.structured_output, Some(json!({"summary": "s"})));
        let bare: Session =
            serde_json::from_value(json!({"session_id": "devin-2", "pull_requests": null, "structured_output": null}))
                .unwrap();
        assert!(bare.pull_requests.is_empty() && bare.structured_output.is_none());
    }

    #[test]
    fn the_postmortem_schema_is_self_contained_draft_7() {
        let schema = postmortem_schema();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(schema["required"], json!(["summary", "timeline", "root_cause", "action_items"]));
        assert!(!schema.to_string().contains("$ref") && schema.to_string().len() < 64 * 1024);
        assert!(cfg("org_id = \"o\"\nflow = \"postmortem\"").structured_output, "on by default");
        assert!(!cfg("org_id = \"o\"\nflow = \"postmortem\"\nstructured_output = false").structured_output);
    }

    #[test]
    fn dispatch_tags_are_short_and_stable() {
        let t = dispatch_tag("0190f3a2:page:triage:triggered");
        assert_eq!(t, dispatch_tag("0190f3a2:page:triage:triggered"));
        assert_ne!(t, dispatch_tag("0190f3a2:page:triage:resolved"));
        assert_eq!(t.len(), "firehouse-dispatch:".len() + 16);
        assert_eq!(incident_tag("abc"), "firehouse-incident:abc");
    }

    #[test]
    fn urls_are_built_segment_by_segment() {
        let c = cfg("org_id = \"org-1\"\nbase_url = \"https://proxy.example.com/devin/\"\napi_prefix = \"v3beta1/\"");
        let r = DevinResponder::with_env("a", &c, &env).unwrap();
        assert_eq!(r.api.url(&[]).as_str(), "https://proxy.example.com/devin/v3beta1/organizations/org-1/sessions");
        assert_eq!(
            r.api.url(&["devin-a/b", "messages"]).as_str(),
            "https://proxy.example.com/devin/v3beta1/organizations/org-1/sessions/devin-a%2Fb/messages"
        );
    }

    #[test]
    fn the_prompt_points_at_the_mcp_server_when_it_is_configured() {
        let hint = mcp_hint("https://fh.example.com/mcp");
        assert!(hint.starts_with("\n\n") && hint.contains("https://fh.example.com/mcp") && hint.contains("add_note"));
        assert!(cfg("org_id = \"o\"\nmcp_url = \"not a url\"").check("a").is_err());
        assert!(cfg("org_id = \"o\"\nmcp_url = \"https://fh.example.com/mcp\"").check("a").is_ok());
        assert_eq!(cfg("org_id = \"o\"").mcp_url, None);
    }
}
