//! Slack messages (`type = "slack"`) through an incoming webhook.
//!
//! ```toml
//! webhook_url_env = "SLACK_WEBHOOK_URL"   # variable holding the incoming-webhook URL (it is a secret)
//! channel = "#incidents"                  # optional; only legacy webhooks may change their channel
//! timeout_seconds = 10
//! ```
//!
//! Each transition posts `{"text": <fallback>, "blocks": […]}`: the title as a header, then the
//! service, severity, urgency, status and a link to the incident (when `server.public_url` is
//! set), then the agent session's link when there is one, and the dedup key and source.
//!
//! The agent session link: [`DispatchContext`] has no field for it, so it is taken from the
//! incident's timeline: the last entry whose `raw` body has a top-level `"session_url"` string
//! (an http(s) URL). Without one the line is left out.
//!
//! A session event says what happened in its header (`Agent session started`, `Pull request
//! opened`, `Postmortem ready`) and links what it is about: the session, the pull request, the
//! postmortem (a link under `server.public_url`; without one, its API path as text).

use super::http::{self, EnvLookup, Redactor, Secret, SetupError};
use crate::dispatch::{Delivery, DispatchContext, Responder, SessionEventContext};
use crate::domain::SessionEvent;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// The default timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
/// Slack's limit for a header block's text.
const HEADER_MAX_CHARS: usize = 150;
/// Slack's limit for a section field's text (with room to spare).
const FIELD_MAX_CHARS: usize = 1900;

/// The keys of a `type = "slack"` action (besides its name and type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Name of the environment variable holding the incoming-webhook URL.
    pub webhook_url_env: String,
    /// Channel to post to, for webhooks that allow overriding it.
    #[serde(default)]
    pub channel: Option<String>,
    /// Seconds to wait for Slack's answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// Posts to Slack for one action.
pub struct SlackResponder {
    name: String,
    url: reqwest::Url,
    channel: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
    redactor: Redactor,
}

impl fmt::Debug for SlackResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackResponder")
            .field("name", &self.name)
            .field("url", &"[redacted]")
            .field("channel", &self.channel)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SlackResponder {
    /// A responder for action `name`, reading the webhook URL from the process environment.
    pub fn new(name: &str, cfg: &SlackConfig) -> Result<Self, SetupError> {
        Self::with_env(name, cfg, &http::process_env)
    }

    /// A responder for action `name`, reading the webhook URL through `env`.
    pub fn with_env(name: &str, cfg: &SlackConfig, env: EnvLookup<'_>) -> Result<Self, SetupError> {
        let secret = Secret::from_env(name, &cfg.webhook_url_env, env)?;
        // The URL is a secret: its parse errors must not quote it.
        let key = format!("the URL in {}", cfg.webhook_url_env);
        let url = http::parse_url(name, &key, secret.expose())?;
        let timeout = http::timeout(name, cfg.timeout_seconds)?;
        let mut redactor = Redactor::new();
        redactor.add(secret.expose());
        redactor.add_url(&url, true);
        let client = http::client(name, timeout)?;
        Ok(SlackResponder { name: name.to_owned(), url, channel: cfg.channel.clone(), timeout, client, redactor })
    }

    /// The message for `ctx`.
    pub fn message(&self, ctx: &DispatchContext) -> Value {
        message(ctx, self.channel.as_deref())
    }
}

/// The agent session's link: the last timeline entry whose raw body has an http(s) `session_url`.
pub fn session_url(ctx: &DispatchContext) -> Option<String> {
    ctx.timeline.iter().rev().find_map(|entry| {
        let parsed;
        let raw = match &entry.raw {
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s).ok()?;
                &parsed
            }
            v => v,
        };
        let url = raw.get("session_url")?.as_str()?.trim();
        (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_owned())
    })
}

/// Escapes Slack's control characters in text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `<url|label>`, with the characters that would end the link encoded.
fn link(url: &str, label: &str) -> String {
    let url = url.replace('&', "&amp;").replace('|', "%7C").replace('<', "%3C").replace('>', "%3E");
    format!("<{url}|{}>", escape(label).replace('|', "¦"))
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A link when `url` is an http(s) URL, else the text as code (Slack links nothing else).
fn link_or_text(url: &str, label: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        link(url, label)
    } else {
        format!("`{}`", escape(&truncate(url, 500)).replace('`', "'"))
    }
}

/// What a session event's message links, one line each: the session, and the pull request or the postmortem.
fn session_lines(s: &SessionEventContext) -> Vec<String> {
    let mut lines = Vec::new();
    let session_id = match &s.event {
        SessionEvent::Started { session_id } | SessionEvent::PostmortemReady { session_id } => {
            Some(session_id.as_str())
        }
        SessionEvent::PullRequestOpened { .. } => s.session.as_ref().map(|r| r.session_id.as_str()),
    };
    match (s.session.as_ref(), session_id) {
        (Some(r), Some(id)) => {
            lines.push(format!("*Agent session:* {} ({})", link_or_text(&r.url, id), escape(&r.status)))
        }
        (None, Some(id)) => lines.push(format!("*Agent session:* {}", escape(id))),
        (_, None) => {}
    }
    if let Some(pr) = s.pull_request() {
        let state = pr.pr_state.as_deref().map(|st| format!(" ({})", escape(st))).unwrap_or_default();
        lines.push(format!("*Pull request:* {}{state}", link_or_text(&pr.pr_url, &pr.pr_url)));
    }
    if let Some(url) = &s.postmortem_url {
        lines.push(format!("*Postmortem:* {}", link_or_text(url, "read the postmortem")));
    }
    lines
}

/// The Slack message for `ctx`'s transition or session event.
pub fn message(ctx: &DispatchContext, channel: Option<&str>) -> Value {
    let i = &ctx.incident;
    let (emoji, what) = match ctx.session_event.as_ref().map(|s| &s.event) {
        Some(SessionEvent::Started { .. }) => (":robot_face:", "Agent session started".to_owned()),
        Some(SessionEvent::PullRequestOpened { .. }) => {
            (":twisted_rightwards_arrows:", "Pull request opened".to_owned())
        }
        Some(SessionEvent::PostmortemReady { .. }) => (":memo:", "Postmortem ready".to_owned()),
        None => {
            let emoji = match ctx.transition.as_str() {
                "triggered" => ":red_circle:",
                "acknowledged" => ":large_yellow_circle:",
                "resolved" => ":white_check_mark:",
                _ => ":information_source:",
            };
            (emoji, capitalized(&ctx.transition))
        }
    };
    let mut fallback = format!(
        "{what}: #{} {} ({}, {}, {} urgency)",
        i.number,
        escape(&truncate(&i.title, 300)),
        escape(&i.service),
        i.severity,
        i.urgency
    );
    let session_lines = ctx.session_event.as_ref().map(session_lines).unwrap_or_default();
    if let Some(about) = session_lines.last() {
        // Notifications show only the fallback: it names what the event is about too.
        fallback.push_str(&format!(" · {about}"));
    }
    let status = match ctx.session_event {
        Some(_) => i.status.to_string(),
        None => format!("{} (now {})", ctx.transition, i.status),
    };
    let field = |name: &str, value: String| json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), FIELD_MAX_CHARS)});
    let incident = match &ctx.incident_url {
        Some(url) => link(url, &format!("#{}", i.number)),
        None => format!("#{}", i.number),
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "emoji": true, "text": truncate(&format!("{emoji} {what}: {}", i.title), HEADER_MAX_CHARS)}}),
        json!({"type": "section", "fields": [
            field("Service", escape(&i.service)),
            field("Severity", i.severity.to_string()),
            field("Urgency", i.urgency.to_string()),
            field("Status", status),
            field("Incident", incident),
        ]}),
    ];
    if !session_lines.is_empty() {
        let text = truncate(&session_lines.join("\n"), FIELD_MAX_CHARS);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    } else if let Some(url) = session_url(ctx) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Agent session:* {}", link(&url, "open the session"))}}));
    }
    let mut context = format!("Firehouse · dedup key `{}`", escape(&truncate(&i.dedup_key, 255)));
    if let Some(source) = &i.source {
        context.push_str(&format!(" · source {}", escape(&truncate(source, 255))));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));

    let mut msg = json!({"text": fallback, "blocks": blocks});
    if let Some(channel) = channel {
        msg["channel"] = json!(channel);
    }
    msg
}

#[async_trait]
impl Responder for SlackResponder {
    async fn deliver(&self, ctx: &DispatchContext) -> Delivery {
        let request = self.client.post(self.url.clone()).json(&self.message(ctx));
        let delivery = match http::send(request, self.timeout).await {
            Err(d) => d,
            Ok(reply) => http::classify(&reply),
        };
        self.redactor.delivery(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_configuration() {
        let c: SlackConfig = toml::from_str("webhook_url_env = \"SLACK_URL\"\nchannel = \"#ops\"").unwrap();
        assert_eq!(c.timeout_seconds, 10);
        assert_eq!(c.channel.as_deref(), Some("#ops"));
        assert!(toml::from_str::<SlackConfig>("webhook_url = \"https://hooks.slack.com/x\"").is_err());
    }

    #[test]
    fn url_errors_do_not_quote_the_url() {
        let env = |_: &str| Some("hooks.slack.com/services/T000/B000/XXXXSECRET".to_owned());
        let c: SlackConfig = toml::from_str("webhook_url_env = \"SLACK_URL\"").unwrap();
        let e = SlackResponder::with_env("chat", &c, &env).unwrap_err();
        assert!(!e.to_string().contains("XXXXSECRET"), "{e}");
        assert!(e.to_string().contains("SLACK_URL"), "{e}");
        let env = |_: &str| Some("https://hooks.slack.com/services/T000/B000/XXXXSECRET".to_owned());
        let r = SlackResponder::with_env("chat", &c, &env).unwrap();
        assert!(!format!("{r:?}").contains("XXXXSECRET"));
    }

    #[test]
    fn links_and_text_are_escaped() {
        assert_eq!(escape("a < b & c > d"), "a &lt; b &amp; c &gt; d");
        assert_eq!(link("https://x/?a=1&b=2|3", "#4"), "<https://x/?a=1&amp;b=2%7C3|#4>");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn session_events_link_the_session_the_pull_request_and_the_postmortem() {
        let session = crate::store::AgentSessionRecord::example();
        let event = |event, postmortem_url: Option<&str>| SessionEventContext {
            event,
            session: Some(session.clone()),
            occurred_at: crate::domain::Millis(0),
            postmortem_url: postmortem_url.map(str::to_owned),
        };
        let started = event(SessionEvent::Started { session_id: "devin-1".into() }, None);
        assert_eq!(session_lines(&started), ["*Agent session:* <https://app.devin.ai/sessions/1|devin-1> (running)"]);
        let pr = event(SessionEvent::PullRequestOpened { pr_url: "https://github.com/o/r/pull/1".into() }, None);
        assert_eq!(
            session_lines(&pr),
            [
                "*Agent session:* <https://app.devin.ai/sessions/1|devin-1> (running)",
                "*Pull request:* <https://github.com/o/r/pull/1|https://github.com/o/r/pull/1> (open)",
            ]
        );
        let md = "https://firehouse.example.com/api/v1/incidents/i/postmortem.md";
        let ready = event(SessionEvent::PostmortemReady { session_id: "devin-1".into() }, Some(md));
        assert_eq!(session_lines(&ready)[1], format!("*Postmortem:* <{md}|read the postmortem>"));
        let no_public_url = event(
            SessionEvent::PostmortemReady { session_id: "devin-1".into() },
            Some("/api/v1/incidents/i/postmortem.md"),
        );
        assert_eq!(session_lines(&no_public_url)[1], "*Postmortem:* `/api/v1/incidents/i/postmortem.md`");
        assert_eq!(link_or_text("javascript:alert(1)", "x"), "`javascript:alert(1)`", "only http(s) is linked");
    }
}
