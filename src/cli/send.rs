//! `firehouse send`: send one event to any PagerDuty-compatible Events API, as `pd-send` does.

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Integration key (`routing_key` in v2, `service_key` in v1).
    #[arg(short = 'k', long, env = "FIREHOUSE_ROUTING_KEY", hide_env_values = true)]
    routing_key: String,
    /// Event action.
    #[arg(short = 't', long = "event-action", value_enum, default_value = "trigger")]
    action: Action,
    /// Summary (v2 `payload.summary`, v1 `description`); required for triggers.
    #[arg(short = 'd', long = "description")]
    summary: Option<String>,
    /// Dedup key (v1 `incident_key`); required for acknowledge and resolve.
    #[arg(short = 'i', long)]
    dedup_key: Option<String>,
    /// Affected system [default: this host's name].
    #[arg(short = 's', long)]
    source: Option<String>,
    /// critical, error, warning or info.
    #[arg(long, default_value = "error")]
    severity: String,
    /// Component.
    #[arg(long)]
    component: Option<String>,
    /// Group.
    #[arg(long)]
    group: Option<String>,
    /// Class.
    #[arg(long)]
    class: Option<String>,
    /// Custom detail as key=value (repeatable).
    #[arg(short = 'f', long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// Client name.
    #[arg(short = 'c', long)]
    client: Option<String>,
    /// Client URL.
    #[arg(short = 'u', long)]
    client_url: Option<String>,
    /// Send an Events API v1 body instead of v2.
    #[arg(long)]
    v1: bool,
    /// Full URL to post to [default: the server's /v2/enqueue, or its v1 path with --v1].
    #[arg(long)]
    url: Option<String>,
    #[command(flatten)]
    server: super::ServerArg,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let url = a.url.clone().unwrap_or_else(|| {
        let base = a.server.server.trim_end_matches('/');
        if a.v1 {
            format!("{base}/generic/2010-04-15/create_event.json")
        } else {
            format!("{base}/v2/enqueue")
        }
    });
    let body = build_body(&a)?;
    let response =
        reqwest::Client::new().post(&url).json(&body).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{text}");
    if status.is_success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {url} answered {status}");
        Ok(ExitCode::FAILURE)
    }
}

fn build_body(a: &Args) -> anyhow::Result<Value> {
    let mut details = Map::new();
    for f in &a.fields {
        let Some((k, v)) = f.split_once('=') else { bail!("--field {f:?} must be KEY=VALUE") };
        details.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let trigger = matches!(a.action, Action::Trigger);
    if trigger && a.summary.is_none() {
        bail!("a trigger needs --description");
    }
    if !trigger && a.dedup_key.is_none() {
        bail!("{} needs --dedup-key", a.action.as_str());
    }
    let mut body = Map::new();
    if a.v1 {
        body.insert("service_key".into(), json!(a.routing_key));
        body.insert("event_type".into(), json!(a.action.as_str()));
        insert_some(&mut body, "incident_key", &a.dedup_key);
        insert_some(&mut body, "description", &a.summary);
        if !details.is_empty() {
            body.insert("details".into(), Value::Object(details));
        }
    } else {
        body.insert("routing_key".into(), json!(a.routing_key));
        body.insert("event_action".into(), json!(a.action.as_str()));
        insert_some(&mut body, "dedup_key", &a.dedup_key);
        if trigger {
            let source = a.source.clone().unwrap_or_else(hostname);
            let mut payload = Map::new();
            payload.insert("summary".into(), json!(a.summary));
            payload.insert("source".into(), json!(source));
            payload.insert("severity".into(), json!(a.severity));
            payload.insert("timestamp".into(), json!(chrono::Utc::now().to_rfc3339()));
            insert_some(&mut payload, "component", &a.component);
            insert_some(&mut payload, "group", &a.group);
            insert_some(&mut payload, "class", &a.class);
            if !details.is_empty() {
                payload.insert("custom_details".into(), Value::Object(details));
            }
            body.insert("payload".into(), Value::Object(payload));
        }
    }
    insert_some(&mut body, "client", &a.client);
    insert_some(&mut body, "client_url", &a.client_url);
    Ok(Value::Object(body))
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.clone()));
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}
