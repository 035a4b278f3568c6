//! `firehouse token create|list|revoke`: API tokens, written straight to the database (only their
//! hashes are kept; a token is printed once, when it is created).

use anyhow::{bail, Context};
use firehouse::domain::Millis;
use firehouse::http::auth::{new_token, token_hash};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
    /// Database URL [default: as `serve`: FIREHOUSE_DATABASE_URL, the config file, then sqlite://firehouse.db].
    #[arg(long = "database", env = "FIREHOUSE_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Configuration file [default: ./firehouse.toml when it exists].
    #[arg(long, env = "FIREHOUSE_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// What the token is for (e.g. "grafana", "alice's laptop").
        #[arg(long)]
        name: String,
    },
    /// List tokens (names and dates, never the tokens).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (_, config) = super::serve::load_config(a.config)?;
    let url = super::serve::database_url(a.database, &config);
    let store = firehouse::store::open(&url).await.context("cannot open the database")?;
    match a.command {
        TokenCommand::Create { name } => {
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let token = new_token();
            let record = store.create_token(name.trim(), &token_hash(&token), Millis::now()).await?;
            eprintln!("Created token {} ({}). Store it now: it is not shown again.", record.id, record.name);
            println!("{token}");
        }
        TokenCommand::List => {
            println!("{:>4}  {:<24}  {:<24}  REVOKED", "ID", "NAME", "CREATED");
            for t in store.list_tokens().await? {
                let revoked = t.revoked_at.map(|r| r.to_rfc3339()).unwrap_or_else(|| "-".into());
                println!("{:>4}  {:<24}  {:<24}  {revoked}", t.id, t.name, t.created_at.to_rfc3339());
            }
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_token(id, Millis::now()).await? {
                bail!("no active token {id}");
            }
            println!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
