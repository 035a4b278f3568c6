//! `firehouse incidents list|show|ack|resolve`, over the REST API; `show` lists the incident's dispatches and agent
//! sessions after its timeline.

use super::api::{print_json, text, truncate, Api};
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IncidentCommand,
    #[command(flatten)]
    server: super::ServerArg,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum IncidentCommand {
    /// List incidents, newest first.
    List {
        /// Comma-separated statuses (triggered, acknowledged, resolved).
        #[arg(long)]
        status: Option<String>,
        /// Service name.
        #[arg(long)]
        service: Option<String>,
        /// Dedup key.
        #[arg(long)]
        dedup_key: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 25)]
        limit: u32,
        /// Incidents to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show one incident (by number or id) with its timeline.
    Show { id: String },
    /// Acknowledge an incident.
    Ack {
        id: String,
        /// Who is acknowledging.
        #[arg(long, env = "USER")]
        actor: Option<String>,
    },
    /// Resolve an incident.
    Resolve {
        id: String,
        /// Who is resolving.
        #[arg(long, env = "USER")]
        actor: Option<String>,
    },
    /// Add a note (a finding) to an incident's timeline.
    Note {
        id: String,
        /// The note.
        text: String,
        /// Who wrote it.
        #[arg(long, env = "USER")]
        author: Option<String>,
    },
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let api = Api::new(&a.server)?;
    let body = match &a.command {
        IncidentCommand::List { status, service, dedup_key, limit, offset } => {
            let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
            for (k, v) in [("status", status), ("service", service), ("dedup_key", dedup_key)] {
                if let Some(v) = v {
                    query.push((k, v.clone()));
                }
            }
            api.get(&["api", "v1", "incidents"], &query).await?
        }
        IncidentCommand::Show { id } => api.get(&["api", "v1", "incidents", id], &[]).await?,
        IncidentCommand::Ack { id, actor } | IncidentCommand::Resolve { id, actor } => {
            let verb = if matches!(a.command, IncidentCommand::Ack { .. }) { "acknowledge" } else { "resolve" };
            let body = serde_json::json!({ "actor": actor.clone().unwrap_or_else(|| "cli".into()) });
            api.post(&["api", "v1", "incidents", id, verb], Some(&body)).await?
        }
        IncidentCommand::Note { id, text, author } => {
            let body = serde_json::json!({ "note": text, "author": author.clone().unwrap_or_else(|| "cli".into()) });
            api.post(&["api", "v1", "incidents", id, "notes"], Some(&body)).await?
        }
    };
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    match a.command {
        IncidentCommand::List { .. } => print_list(&body),
        _ => print_detail(&body),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(body: &Value) {
    let empty = Vec::new();
    let incidents = body["incidents"].as_array().unwrap_or(&empty);
    println!(
        "{:>6}  {:<12}  {:<8}  {:<5}  {:<20}  {:<24}  TITLE",
        "#", "STATUS", "SEVERITY", "URG", "SERVICE", "CREATED"
    );
    for i in incidents {
        println!(
            "{:>6}  {:<12}  {:<8}  {:<5}  {:<20}  {:<24}  {}",
            text(&i["number"]),
            text(&i["status"]),
            text(&i["severity"]),
            text(&i["urgency"]),
            truncate(&text(&i["service"]), 20),
            text(&i["created_at"]),
            truncate(&text(&i["title"]), 80),
        );
    }
    println!(
        "({} of {} shown{})",
        incidents.len(),
        text(&body["total"]),
        if body["more"] == Value::Bool(true) { "; more with --offset" } else { "" }
    );
}

fn print_detail(i: &Value) {
    println!("Incident #{}  {}", text(&i["number"]), text(&i["title"]));
    for field in [
        "id",
        "status",
        "service",
        "severity",
        "urgency",
        "dedup_key",
        "source",
        "created_at",
        "acknowledged_at",
        "resolved_at",
    ] {
        println!("  {field:<16} {}", text(&i[field]));
    }
    println!("Timeline:");
    for e in i["timeline"].as_array().into_iter().flatten() {
        println!(
            "  {}  {:<6} {:<12} {:<12} {}",
            text(&e["at"]),
            text(&e["protocol"]),
            text(&e["action"]),
            text(&e["outcome"]),
            if e["summary"].is_null() { String::new() } else { truncate(&text(&e["summary"]), 80) }
        );
    }
    super::dispatches::print_for_incident(&i["dispatches"]);
}
