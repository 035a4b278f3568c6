//! `firehouse.toml`: typed, checked at start-up and by `firehouse config check`, with line numbers.

use crate::domain::noise::{Flapping, Grouping, NoisePolicy};
use crate::domain::rules::{self, Rule, RuleSet};
use crate::domain::Millis;
use crate::domain::{ServiceDirectory, ServiceRef, Severity, Trigger, Urgency, UrgencyRule};
use crate::responders::ActionConfig;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The configuration file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: where to listen and which database to use (flags and env variables win).
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[services]]`: the services and their integration keys.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// `[dispatch]`: the outbox worker.
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// `[[rules]]`: which actions run on which incident transitions and agent session events.
    #[serde(default)]
    pub rules: Vec<Spanned<RuleConfig>>,
    /// `[webhooks]`: PagerDuty v3 subscriptions and ticket trackers sending to Firehouse.
    #[serde(default)]
    pub webhooks: crate::sources::WebhooksConfig,
    /// `[mcp]`: the MCP server for agents (tokens, whether agents may change incident status).
    #[serde(default)]
    pub mcp: crate::mcp::McpConfig,
    /// `[actions.<name>]`: what each action does.
    #[serde(default)]
    pub actions: std::collections::BTreeMap<String, Spanned<ActionConfig>>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name.
    pub name: String,
    /// Transitions (`triggered`, `acknowledged`, `resolved`) and session events (`session_started`,
    /// `pull_request_opened`, `postmortem_ready`).
    pub on: Vec<Trigger>,
    /// Only these services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Only these severities.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Only these urgencies.
    #[serde(default)]
    pub urgencies: Vec<Urgency>,
    /// Field tests, all of which must pass.
    #[serde(default, rename = "match")]
    pub matchers: Vec<rules::MatcherSpec>,
    /// Actions to run.
    pub actions: Vec<String>,
    /// Stop at this rule when it matches (first-match semantics).
    #[serde(default)]
    pub stop: bool,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// sqlx-style database URL.
    pub database_url: Option<String>,
    /// Firehouse's external base URL, for links in prompts, webhooks and chat.
    pub public_url: Option<String>,
    /// PEM certificate chain for HTTPS (with `tls_key`).
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key: Option<std::path::PathBuf>,
}

/// `[dispatch]`: how the outbox worker delivers actions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Run the outbox worker in this instance.
    pub worker: bool,
    /// How long a claimed dispatch stays leased (longer than any action's timeout).
    pub lease_seconds: u64,
    /// How often to look for due dispatches when nothing wakes the worker.
    pub poll_millis: u64,
    /// Hours of change events before an incident handed to responders.
    pub change_window_hours: u64,
    /// Hours a failing dispatch is retried before it is dead-lettered.
    pub max_age_hours: u64,
    /// Seconds before an agent session's first poll, and after each change it makes (polls then back off,
    /// doubling while nothing changes).
    pub session_poll_seconds: u64,
    /// The longest wait, in seconds, between two polls of an agent session.
    pub session_poll_max_seconds: u64,
    /// Hours an agent session that has not ended is followed.
    pub session_max_age_hours: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            worker: true,
            lease_seconds: 120,
            poll_millis: 1000,
            change_window_hours: 24,
            max_age_hours: 48,
            session_poll_seconds: 15,
            session_poll_max_seconds: 600,
            session_max_age_hours: 7 * 24,
        }
    }
}

/// One `[[services]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// Integration keys that route to it (`routing_key` / `service_key` / `integration_key`).
    pub integration_keys: Vec<Spanned<String>>,
    /// `high` (default), `low`, or `severity`.
    #[serde(default)]
    pub urgency: UrgencyRule,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Events accepted per minute per integration key (answered 429 / v1 403 beyond); off when absent.
    pub rate_limit_per_minute: Option<u32>,
    /// Alerts sharing fields within a window join one incident.
    pub grouping: Option<GroupingConfig>,
    /// Seconds a new alert waits before it opens an incident; resolved within them, it opens none.
    pub pause_seconds: Option<u64>,
    /// Alerts that trigger and resolve too often are held open.
    pub flapping: Option<FlappingConfig>,
    /// Maintenance windows: new alerts are stored but open nothing and run nothing.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceConfig>,
}

/// `[services.grouping]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingConfig {
    /// Fields whose values the alerts of one incident share (rule field names).
    pub by: Vec<String>,
    /// Seconds after an incident opened during which alerts may join it (default 300).
    #[serde(default = "default_group_window")]
    pub window_seconds: u64,
    /// `all` (default): the incident resolves when all its alerts have; `any`: at the first resolve.
    #[serde(default = "default_resolve")]
    pub resolve: String,
}

fn default_group_window() -> u64 {
    300
}

fn default_resolve() -> String {
    "all".to_owned()
}

/// `[services.flapping]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingConfig {
    /// More trigger/resolve cycles than this …
    pub max_cycles: u32,
    /// … within this many seconds make an alert flapping.
    pub window_seconds: u64,
}

/// `[[services.maintenance]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

impl ServiceConfig {
    /// The service's noise policy, or the problems in its settings.
    pub fn noise(&self) -> Result<NoisePolicy, Vec<String>> {
        let mut problems = Vec::new();
        let name = self.name.get_ref();
        let grouping = self.grouping.as_ref().map(|g| {
            for f in &g.by {
                if !rules::is_known_field(f) {
                    problems.push(format!("service {name:?}: grouping by unknown field {f:?}"));
                }
            }
            if g.by.is_empty() {
                problems.push(format!("service {name:?}: grouping.by is empty"));
            }
            if g.resolve != "all" && g.resolve != "any" {
                problems.push(format!("service {name:?}: grouping.resolve must be \"all\" or \"any\""));
            }
            Grouping {
                by: g.by.clone(),
                window: Duration::from_secs(g.window_seconds),
                resolve_when_all_resolved: g.resolve != "any",
            }
        });
        let flapping = self.flapping.as_ref().map(|f| {
            if f.max_cycles == 0 || f.window_seconds == 0 {
                problems.push(format!("service {name:?}: flapping needs max_cycles and window_seconds above 0"));
            }
            Flapping { max_cycles: f.max_cycles, window: Duration::from_secs(f.window_seconds) }
        });
        let mut maintenance = Vec::new();
        for m in &self.maintenance {
            match (Millis::parse_iso8601(&m.starts_at), Millis::parse_iso8601(&m.ends_at)) {
                (Some(start), Some(end)) if start < end => maintenance.push((start, end)),
                (Some(_), Some(_)) => {
                    problems.push(format!("service {name:?}: a maintenance window ends before it starts"))
                }
                _ => problems.push(format!("service {name:?}: maintenance times must be RFC 3339")),
            }
        }
        if self.rate_limit_per_minute == Some(0) {
            problems.push(format!("service {name:?}: rate_limit_per_minute must be above 0"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(NoisePolicy {
            grouping,
            pause: self.pause_seconds.map(Duration::from_secs),
            flapping,
            maintenance,
            rate_limit_per_minute: self.rate_limit_per_minute.and_then(std::num::NonZeroU32::new),
        })
    }
}

/// A problem in the configuration file, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError { path: path.to_owned(), line: None, message: format!("cannot read: {e}") }]
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Vec<ConfigError>> {
        let line_of = |offset: usize| Some(text[..offset.min(text.len())].matches('\n').count() + 1);
        let config: Config = toml::from_str(text).map_err(|e| {
            vec![ConfigError {
                path: path.to_owned(),
                line: e.span().and_then(|s| line_of(s.start)),
                message: without_values(e.message()),
            }]
        })?;
        let mut errors = Vec::new();
        let mut err = |offset: usize, message: String| {
            errors.push(ConfigError { path: path.to_owned(), line: line_of(offset), message })
        };
        let mut names: HashMap<&str, ()> = HashMap::new();
        let mut keys: HashMap<&str, &str> = HashMap::new();
        for s in &config.services {
            let name = s.name.get_ref().as_str();
            if name.trim().is_empty() {
                err(s.name.span().start, "service name must not be empty".into());
            } else if names.insert(name, ()).is_some() {
                err(s.name.span().start, format!("service {name:?} is defined twice"));
            }
            if let Err(problems) = s.noise() {
                for p in problems {
                    err(s.name.span().start, p);
                }
            }
            if s.integration_keys.is_empty() {
                err(s.name.span().start, format!("service {name:?} has no integration_keys"));
            }
            for k in &s.integration_keys {
                let key = k.get_ref().as_str();
                if key.trim().is_empty() {
                    err(k.span().start, format!("service {name:?} has an empty integration key"));
                } else if let Some(other) = keys.insert(key, name) {
                    err(
                        k.span().start,
                        format!("an integration key of service {name:?} is already used by service {other:?}"),
                    );
                }
            }
        }
        for rule in &config.rules {
            let at = rule.span().start;
            if let Err(problems) = compile_rule(rule.get_ref(), &config.actions) {
                for p in problems {
                    err(at, p);
                }
            }
        }
        let mut rule_names: HashMap<&str, ()> = HashMap::new();
        for rule in &config.rules {
            if rule_names.insert(rule.get_ref().name.as_str(), ()).is_some() {
                err(rule.span().start, format!("rule {:?} is defined twice", rule.get_ref().name));
            }
        }
        for (name, source) in &config.webhooks.pagerduty {
            if let Err(problem) = source.get_ref().check() {
                err(source.span().start, format!("[webhooks.pagerduty.{name}]: {problem}"));
            }
        }
        for (name, source) in &config.webhooks.tickets {
            if let Err(problem) = source.get_ref().check() {
                err(source.span().start, format!("[webhooks.tickets.{name}]: {problem}"));
            }
        }
        for (name, action) in &config.actions {
            if let Err(problem) = action.get_ref().check(name) {
                err(action.span().start, format!("action {name:?}: {problem}"));
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// The rules, compiled (the file was checked when it was parsed).
    pub fn rules(&self) -> RuleSet {
        let rules = self
            .rules
            .iter()
            .map(|r| compile_rule(r.get_ref(), &self.actions).expect("rules are checked when the file is parsed"))
            .collect();
        RuleSet { rules, dispatch_max_age: std::time::Duration::from_secs(self.dispatch.max_age_hours * 3600) }
    }

    /// Which keys are accepted: with no services configured, any (open mode).
    pub fn directory(&self) -> ServiceDirectory {
        if self.services.is_empty() {
            return ServiceDirectory::Open;
        }
        let mut by_key = HashMap::new();
        let mut services = Vec::new();
        for s in &self.services {
            let svc = ServiceRef {
                name: s.name.get_ref().clone(),
                urgency: s.urgency,
                noise: std::sync::Arc::new(s.noise().expect("services are checked when the file is parsed")),
            };
            for k in &s.integration_keys {
                by_key.insert(k.get_ref().clone(), svc.clone());
            }
            services.push(svc);
        }
        ServiceDirectory::Configured { by_key, services }
    }
}

/// The parser's message with quoted values removed: a value may be an integration key.
fn without_values(message: &str) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"string "(?:[^"\\]|\\.)*""#).expect("a valid regex"));
    QUOTED.replace_all(message, "a string").into_owned()
}

fn compile_rule(
    r: &RuleConfig,
    actions: &std::collections::BTreeMap<String, Spanned<ActionConfig>>,
) -> Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    let name = &r.name;
    if name.trim().is_empty() {
        problems.push("rule name must not be empty".to_owned());
    }
    if r.on.is_empty() {
        problems.push(format!("rule {name:?}: `on` names no transition or session event"));
    }
    if r.actions.is_empty() {
        problems.push(format!("rule {name:?}: `actions` is empty"));
    }
    let session_events: Vec<&str> = r.on.iter().filter(|t| t.is_session_event()).map(|t| t.as_str()).collect();
    for a in &r.actions {
        match actions.get(a).map(|action| action.get_ref()) {
            None => problems.push(format!("rule {name:?}: unknown action {a:?} (define it under [actions.{a}])")),
            // Forwarding mirrors an incident's lifecycle, which a session event is not part of; a Devin action would
            // start sessions from a session's own events.
            Some(kind @ (ActionConfig::Forward(_) | ActionConfig::Devin(_))) if !session_events.is_empty() => problems
                .push(format!(
                    "rule {name:?}: action {a:?} is a {} action, which cannot run on session events ({}); \
                     only webhook and slack actions can (move them to a rule of their own)",
                    kind.kind(),
                    session_events.join(", ")
                )),
            Some(_) => {}
        }
    }
    let mut matchers = Vec::new();
    for m in &r.matchers {
        match m.compile() {
            Ok(m) => matchers.push(m),
            Err(e) => problems.push(format!("rule {name:?}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Rule {
        name: name.clone(),
        on: r.on.clone(),
        services: r.services.clone(),
        severities: r.severities.clone(),
        urgencies: r.urgencies.clone(),
        matchers,
        actions: r.actions.clone(),
        stop: r.stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::parse(text, Path::new("firehouse.toml"))
    }

    #[test]
    fn a_full_config_parses() {
        let c = parse(
            r#"
[server]
listen = "0.0.0.0:8080"
database_url = "sqlite://firehouse.db?mode=rwc"

[[services]]
name = "payments"
integration_keys = ["0123456789abcdef0123456789abcdef", "second"]
urgency = "severity"
"#,
        )
        .unwrap();
        assert_eq!(c.server.listen.as_deref(), Some("0.0.0.0:8080"));
        let d = c.directory();
        assert!(!d.is_open());
        let svc = d.resolve(&crate::domain::IntegrationKey::new("second")).unwrap();
        assert_eq!((svc.name.as_str(), svc.urgency), ("payments", UrgencyRule::Severity));
    }

    #[test]
    fn no_services_means_open_mode() {
        assert!(parse("").unwrap().directory().is_open());
    }

    #[test]
    fn errors_carry_line_numbers() {
        let errs = parse("[[services]]\nname = \"a\"\nintegration_keys = [\"k\"]\n\n[[services]]\nname = \"b\"\nintegration_keys = [\"k\"]\n")
            .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(7));
        assert!(errs[0].to_string().starts_with("firehouse.toml:7: "), "{}", errs[0]);

        let errs =
            parse("[[services]]\nname = \"a\"\nintegration_keys = [\"k\"]\nurgency = \"sometimes\"\n").unwrap_err();
        assert_eq!(errs[0].line, Some(4), "{}", errs[0]);

        let errs = parse("[server]\nlisten = \"x\"\ncolour = 1\n").unwrap_err();
        assert_eq!(errs[0].line, Some(3), "{}", errs[0]);
    }

    #[test]
    fn values_never_appear_in_parse_errors() {
        let errs = parse("[[services]]\nname = \"a\"\nintegration_keys = \"sekrit-key\"\n").unwrap_err();
        assert!(!errs[0].to_string().contains("sekrit"), "{}", errs[0]);
        assert!(errs[0].to_string().contains("a string"), "{}", errs[0]);
    }

    #[test]
    fn keys_never_appear_in_errors() {
        let errs = parse("[[services]]\nname = \"a\"\nintegration_keys = [\"sekrit\"]\n[[services]]\nname = \"b\"\nintegration_keys = [\"sekrit\"]\n").unwrap_err();
        assert!(!errs[0].to_string().contains("sekrit"));
    }

    const ACTIONS: &str = r#"
[actions.hook]
type = "webhook"
url = "https://bridge.example.com/hook"

[actions.chat]
type = "slack"
webhook_url_env = "SLACK_WEBHOOK_URL"

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

    #[test]
    fn rules_fire_on_transitions_and_session_events() {
        let c = parse(&format!(
            r#"
[[rules]]
name = "page"
on = ["triggered", "resolved"]
actions = ["pd", "devin", "hook"]

[[rules]]
name = "agent-news"
on = ["session_started", "pull_request_opened", "postmortem_ready"]
severities = ["critical"]
actions = ["hook", "chat"]
{ACTIONS}"#
        ))
        .unwrap();
        let rules = c.rules();
        assert_eq!(rules.rules[0].on, [Trigger::Triggered, Trigger::Resolved], "existing rules read as before");
        assert_eq!(rules.rules[1].on, [Trigger::SessionStarted, Trigger::PullRequestOpened, Trigger::PostmortemReady]);
        assert!(rules.watches(Trigger::PullRequestOpened) && !rules.watches(Trigger::Acknowledged));
    }

    #[test]
    fn unknown_triggers_are_refused_with_their_line() {
        let errs = parse(&format!(
            "[[rules]]\nname = \"r\"\non = [\n  \"triggered\",\n  \"pr_merged\",\n]\nactions = [\"hook\"]\n{ACTIONS}"
        ))
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, Some(5), "{}", errs[0]);
        let text = errs[0].to_string();
        assert!(text.contains("unknown variant `pr_merged`") && text.contains("pull_request_opened"), "{text}");
    }

    #[test]
    fn forward_and_devin_actions_are_refused_on_session_events() {
        let errs = parse(&format!(
            "[[rules]]\nname = \"ok\"\non = [\"postmortem_ready\"]\nactions = [\"chat\"]\n\n\
             [[rules]]\nname = \"loop\"\non = [\"resolved\", \"session_started\", \"pull_request_opened\"]\n\
             actions = [\"hook\", \"devin\", \"pd\"]\n{ACTIONS}"
        ))
        .unwrap_err();
        let texts: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 2, "{texts:#?}");
        assert!(errs.iter().all(|e| e.line == Some(6)), "at the rule: {texts:#?}");
        assert!(
            texts[0].ends_with(
                "rule \"loop\": action \"devin\" is a devin action, which cannot run on session events \
                 (session_started, pull_request_opened); only webhook and slack actions can (move them to a rule of \
                 their own)"
            ),
            "{}",
            texts[0]
        );
        assert!(texts[1].contains("action \"pd\" is a forward action"), "{}", texts[1]);
    }
}
