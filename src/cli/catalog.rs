//! `firehouse services` and `firehouse events`: services and the event log, over the REST API.

use super::api::{print_json, text, truncate, Api, Table};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    server: super::ServerArg,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn services(a: ServicesArgs) -> anyhow::Result<ExitCode> {
    let body = Api::new(&a.server)?.get(&["api", "v1", "services"], &[]).await?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["SERVICE", "URGENCY", "OPEN", "INCIDENTS", "SINCE"]);
    for s in body["services"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&s["name"]),
            text(&s["urgency"]),
            text(&s["open_incidents"]),
            text(&s["incidents"]),
            text(&s["created_at"]),
        ]);
    }
    table.print("");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only this dedup key.
    #[arg(long)]
    dedup_key: Option<String>,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// Received at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Page size (1–100).
    #[arg(long, default_value_t = 25)]
    limit: u32,
    #[command(flatten)]
    server: super::ServerArg,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn events(a: EventsArgs) -> anyhow::Result<ExitCode> {
    let mut query = vec![("limit", a.limit.to_string())];
    for (k, v) in [("dedup_key", &a.dedup_key), ("service", &a.service), ("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let body = Api::new(&a.server)?.get(&["api", "v1", "events"], &query).await?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["ID", "AT", "PROTOCOL", "ACTION", "OUTCOME", "INCIDENT", "DEDUP KEY", "SUMMARY"]);
    for e in body["events"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&e["id"]),
            text(&e["at"]),
            text(&e["protocol"]),
            text(&e["action"]),
            text(&e["outcome"]),
            text(&e["incident_number"]),
            truncate(&text(&e["dedup_key"]), 30),
            truncate(&text(&e["summary"]), 50),
        ]);
    }
    table.print("");
    Ok(ExitCode::SUCCESS)
}
