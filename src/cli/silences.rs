//! `firehouse silences list|create|expire`, over the REST API.

use super::api::{print_json, text, truncate, Api, Table};
use anyhow::bail;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SilenceArgs {
    #[command(subcommand)]
    command: SilenceCommand,
    #[command(flatten)]
    server: super::ServerArg,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum SilenceCommand {
    /// Silences not over yet (`--all`: also those that ended).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Silence alerts matching every `--match FIELD=VALUE` (or `FIELD~REGEX`) for a while.
    Create {
        /// A matcher: `source=db1`, `custom_details.region=eu`, `summary~(?i)disk`; repeatable.
        #[arg(long = "match", value_name = "FIELD=VALUE", required = true)]
        matchers: Vec<String>,
        /// How long, in minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// Why.
        #[arg(long)]
        comment: String,
        /// Who [default: $USER].
        #[arg(long, env = "USER")]
        author: Option<String>,
    },
    /// End a silence now.
    Expire { id: i64 },
}

/// One `--match` argument as the API's matcher.
fn matcher(arg: &str) -> anyhow::Result<Value> {
    if let Some((field, re)) = arg.split_once('~') {
        return Ok(json!({ "field": field.trim(), "regex": re }));
    }
    match arg.split_once('=') {
        Some((field, value)) => Ok(json!({ "field": field.trim(), "equals": value })),
        None => bail!("--match {arg:?} must be FIELD=VALUE or FIELD~REGEX"),
    }
}

pub async fn silences(a: SilenceArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&a.server)?;
    let body = match &a.command {
        SilenceCommand::List { all } => api.get(&["api", "v1", "silences"], &[("all", all.to_string())]).await?,
        SilenceCommand::Create { matchers, minutes, comment, author } => {
            let matchers = matchers.iter().map(|m| matcher(m)).collect::<anyhow::Result<Vec<_>>>()?;
            let body = json!({
                "matchers": matchers,
                "duration_minutes": minutes,
                "comment": comment,
                "created_by": author.clone().unwrap_or_else(|| "cli".into()),
            });
            api.post(&["api", "v1", "silences"], Some(&body)).await?
        }
        SilenceCommand::Expire { id } => {
            api.delete(&["api", "v1", "silences", &id.to_string()]).await?;
            println!("silence {id} ended");
            return Ok(ExitCode::SUCCESS);
        }
    };
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = match &a.command {
        SilenceCommand::List { .. } => body["silences"].as_array().cloned().unwrap_or_default(),
        _ => vec![body],
    };
    let mut table = Table::new(&["ID", "MATCHERS", "STARTS", "ENDS", "BY", "COMMENT"]);
    for s in &rows {
        let matchers: Vec<String> = s["matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| match (&m["equals"], &m["regex"], &m["in"]) {
                (Value::String(v), _, _) => format!("{}={v}", text(&m["field"])),
                (_, Value::String(r), _) => format!("{}~{r}", text(&m["field"])),
                (_, _, v) => format!("{} in {v}", text(&m["field"])),
            })
            .collect();
        table.row(vec![
            text(&s["id"]),
            truncate(&matchers.join(" "), 50),
            text(&s["starts_at"]),
            text(&s["ends_at"]),
            text(&s["created_by"]),
            truncate(&text(&s["comment"]), 40),
        ]);
    }
    table.print("");
    Ok(ExitCode::SUCCESS)
}
