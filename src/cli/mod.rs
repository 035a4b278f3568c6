//! Command-line interface: `serve`, `send`, `incidents`, `dispatches`, `config check`.

mod api;
mod catalog;
mod config_check;
mod dispatches;
mod incidents;
mod send;
mod serve;
mod silences;
mod token;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Self-hosted incident gateway: PagerDuty-compatible alarms in, responders out.
#[derive(Debug, Parser)]
#[command(name = "firehouse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::Args),
    /// Send a v2 or v1 event to any PagerDuty-compatible URL (like PagerDuty's pd-send).
    Send(Box<send::Args>),
    /// List, show, acknowledge and resolve incidents on a running server.
    Incidents(incidents::Args),
    /// List and show dispatches (what rules set off) and retry dead ones on a running server.
    Dispatches(dispatches::Args),
    /// Configuration commands.
    Config(config_check::Args),
    /// Create, list and revoke API tokens (in the database).
    Token(token::Args),
    /// List, create and end silences on a running server.
    Silences(silences::SilenceArgs),
    /// List services and their incident counts.
    Services(catalog::ServicesArgs),
    /// Search the event log by dedup key, service and time.
    Events(catalog::EventsArgs),
}

/// Runs the command line; the exit code says whether it worked.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Send(a) => send::run(*a).await,
            Command::Incidents(a) => incidents::run(a).await,
            Command::Dispatches(a) => dispatches::run(a).await,
            Command::Config(a) => config_check::run(a),
            Command::Token(a) => token::run(a).await,
            Command::Silences(a) => silences::silences(a).await,
            Command::Services(a) => catalog::services(a).await,
            Command::Events(a) => catalog::events(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where the running server is, for commands that talk to it.
#[derive(Debug, clap::Args)]
struct ServerArg {
    /// Base URL of a running Firehouse.
    #[arg(long, global = true, env = "FIREHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API token (see `firehouse token create`); not needed on the server's own machine before any exists.
    #[arg(long, global = true, env = "FIREHOUSE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}
