//! `firehouse dispatches list|show|retry`, over the REST API: what Firehouse did for each incident transition, and
//! dead letters to send again. Also how an incident's dispatches and agent sessions are shown.

use super::api::{print_json, text, truncate, Api, Table};
use serde_json::Value;
use std::process::ExitCode;

/// Longest last error shown in a table (`dispatches show` prints it whole).
const ERROR_WIDTH: usize = 60;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DispatchCommand,
    #[command(flatten)]
    server: super::ServerArg,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum DispatchCommand {
    /// List dispatches, newest first.
    List {
        /// Only dispatches in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Only this incident's (by number).
        #[arg(long, value_name = "NUMBER")]
        incident: Option<i64>,
        /// Page size (1–100).
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Dispatches to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show one dispatch, with what the receiver answered.
    Show { id: i64 },
    /// Send a dead dispatch again (it is queued, due now).
    Retry { id: i64 },
}

/// A dispatch's state, as the API spells it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Status {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered.
    Done,
    /// Given up on; can be retried.
    Dead,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Done => "done",
            Status::Dead => "dead",
        }
    }
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let api = Api::new(&a.server)?;
    match &a.command {
        DispatchCommand::List { status, incident, limit, offset } => {
            let filters = |limit: u32, offset: u32| {
                let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
                if let Some(s) = status {
                    query.push(("status", s.as_str().to_owned()));
                }
                if let Some(n) = incident {
                    query.push(("incident", n.to_string()));
                }
                query
            };
            let body = api.get(&["api", "v1", "dispatches"], &filters(*limit, *offset)).await?;
            if a.json {
                print_json(&body)?;
                return Ok(ExitCode::SUCCESS);
            }
            let dispatches = body["dispatches"].as_array().map(Vec::as_slice).unwrap_or_default();
            // The API gives no total: a full page asks whether one more follows.
            let next = offset.saturating_add(*limit);
            let more = dispatches.len() == *limit as usize
                && api.get(&["api", "v1", "dispatches"], &filters(1, next)).await?["dispatches"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty());
            print_list(dispatches, more.then_some(next));
        }
        DispatchCommand::Show { id } | DispatchCommand::Retry { id } => {
            let id = id.to_string();
            let body = if matches!(a.command, DispatchCommand::Show { .. }) {
                api.get(&["api", "v1", "dispatches", &id], &[]).await?
            } else {
                api.post(&["api", "v1", "dispatches", &id, "retry"], None).await?
            };
            if a.json {
                print_json(&body)?;
            } else {
                print_detail(&body);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The table of `dispatches list`; `next_offset` when another page follows.
fn print_list(dispatches: &[Value], next_offset: Option<u32>) {
    let mut table = Table::new(&[
        "ID",
        "INCIDENT",
        "RULE",
        "ACTION",
        "TRANSITION",
        "STATUS",
        "ATTEMPTS",
        "NEXT ATTEMPT",
        "LAST ERROR",
    ]);
    for d in dispatches {
        let next = if d["status"] == "pending" { text(&d["next_attempt_at"]) } else { "-".into() };
        table.row(vec![
            text(&d["id"]),
            format!("#{}", text(&d["incident_number"])),
            text(&d["rule"]),
            text(&d["action"]),
            text(&d["transition"]),
            text(&d["status"]),
            text(&d["attempts"]),
            next,
            truncate(&text(&d["last_error"]), ERROR_WIDTH),
        ]);
    }
    table.print("");
    match next_offset {
        Some(n) => println!("({} shown; more with --offset {n})", dispatches.len()),
        None => println!("({} shown)", dispatches.len()),
    }
}

fn print_detail(d: &Value) {
    println!(
        "Dispatch {}  {} → {} on incident #{} ({})",
        text(&d["id"]),
        text(&d["rule"]),
        text(&d["action"]),
        text(&d["incident_number"]),
        text(&d["transition"])
    );
    for field in ["status", "attempts", "dispatch_key", "created_at", "updated_at", "next_attempt_at", "deadline"] {
        if field == "next_attempt_at" && d["status"] != "pending" {
            continue;
        }
        println!("  {field:<16} {}", text(&d[field]));
    }
    println!("  {:<16} {}", "last_error", text(&d["last_error"]));
    if let Some((id, url)) = session(d) {
        println!("Agent session:");
        println!("  {id}  {url}");
    }
    if !d["result"].is_null() {
        println!("Result:");
        let pretty = serde_json::to_string_pretty(&d["result"]).unwrap_or_else(|_| d["result"].to_string());
        for line in pretty.lines() {
            println!("  {line}");
        }
    }
}

/// The agent session a dispatch's result names (an agent's session id and its URL), if any.
fn session(d: &Value) -> Option<(String, String)> {
    let result = &d["result"];
    let id = result["session_id"].as_str().filter(|s| !s.is_empty())?;
    Some((text(&Value::from(id)), text(&result["url"])))
}

/// After an incident's timeline: its dispatches, then the agent sessions they started or messaged.
pub(super) fn print_for_incident(dispatches: &Value) {
    let dispatches = dispatches.as_array().map(Vec::as_slice).unwrap_or_default();
    if dispatches.is_empty() {
        println!("Dispatches: none");
        return;
    }
    println!("Dispatches:");
    let mut table = Table::new(&["ID", "RULE", "ACTION", "TRANSITION", "STATUS", "ATTEMPTS", "LAST ERROR"]);
    for d in dispatches {
        table.row(vec![
            text(&d["id"]),
            text(&d["rule"]),
            text(&d["action"]),
            text(&d["transition"]),
            text(&d["status"]),
            text(&d["attempts"]),
            truncate(&text(&d["last_error"]), ERROR_WIDTH),
        ]);
    }
    table.print("  ");
    let sessions: Vec<(&Value, (String, String))> =
        dispatches.iter().filter_map(|d| session(d).map(|s| (d, s))).collect();
    if sessions.is_empty() {
        return;
    }
    println!("Agent sessions:");
    let mut table = Table::new(&["SESSION", "URL", "DISPATCH"]);
    for (d, (id, url)) in sessions {
        let mut via =
            format!("{} ({} → {}, {})", text(&d["id"]), text(&d["rule"]), text(&d["action"]), text(&d["transition"]));
        if d["result"]["message_sent"] == true {
            via.push_str("; message sent");
        }
        table.row(vec![id, url, via]);
    }
    table.print("  ");
}
