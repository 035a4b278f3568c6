//! `[actions.<name>]`: one configuration type per kind of action, and the responder it builds.

use super::devin::{DevinConfig, DevinResponder};
use super::forward::{ForwardConfig, ForwardResponder};
use super::slack::{SlackConfig, SlackResponder};
use super::webhook::{WebhookConfig, WebhookResponder};
use crate::dispatch::Responder;
use serde::Deserialize;
use std::sync::Arc;

/// An action, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ActionConfig {
    /// Start a Devin session.
    Devin(Box<DevinConfig>),
    /// POST a signed PagerDuty v3 webhook.
    Webhook(WebhookConfig),
    /// Forward to a PagerDuty-compatible Events API.
    Forward(ForwardConfig),
    /// Post to a Slack incoming webhook.
    Slack(SlackConfig),
}

impl ActionConfig {
    /// The action's `type`, as written.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionConfig::Devin(_) => "devin",
            ActionConfig::Webhook(_) => "webhook",
            ActionConfig::Forward(_) => "forward",
            ActionConfig::Slack(_) => "slack",
        }
    }

    /// Checks what can be checked without the environment (templates, values).
    pub fn check(&self, name: &str) -> Result<(), String> {
        match self {
            ActionConfig::Devin(c) => c.check(name).map_err(|e| e.to_string()),
            ActionConfig::Webhook(_) | ActionConfig::Forward(_) | ActionConfig::Slack(_) => Ok(()),
        }
    }

    /// Builds the responder, reading its secrets from the environment.
    pub fn build(&self, name: &str) -> Result<Arc<dyn Responder>, String> {
        Ok(match self {
            ActionConfig::Devin(c) => Arc::new(DevinResponder::new(name, c).map_err(|e| e.to_string())?),
            ActionConfig::Webhook(c) => Arc::new(WebhookResponder::new(name, c).map_err(|e| e.to_string())?),
            ActionConfig::Forward(c) => Arc::new(ForwardResponder::new(name, c).map_err(|e| e.to_string())?),
            ActionConfig::Slack(c) => Arc::new(SlackResponder::new(name, c).map_err(|e| e.to_string())?),
        })
    }
}
