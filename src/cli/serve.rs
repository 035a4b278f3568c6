//! `firehouse serve`.

use anyhow::Context;
use firehouse::config::Config;
use firehouse::server::{Ready, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

/// Default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://firehouse.db?mode=rwc";
/// Default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The config file read when none is named and it exists.
pub const DEFAULT_CONFIG: &str = "firehouse.toml";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:8080, or [server] listen in the config].
    #[arg(long, env = "FIREHOUSE_LISTEN")]
    listen: Option<String>,
    /// Database URL, e.g. sqlite://firehouse.db?mode=rwc or postgres://... [default: sqlite://firehouse.db?mode=rwc].
    #[arg(long = "database", env = "FIREHOUSE_DATABASE_URL")]
    database: Option<String>,
    /// Configuration file [default: ./firehouse.toml when it exists; without one, any key is accepted].
    #[arg(long, env = "FIREHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key; reloaded when the files change).
    #[arg(long, env = "FIREHOUSE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FIREHOUSE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Reads the config the flags name, or `./firehouse.toml` when present, or none.
pub fn load_config(path: Option<PathBuf>) -> anyhow::Result<(Option<PathBuf>, Config)> {
    let path = path.or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        default.exists().then_some(default)
    });
    let Some(path) = path else { return Ok((None, Config::default())) };
    let config = Config::load(&path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid configuration:\n  {}", lines.join("\n  "))
    })?;
    Ok((Some(path), config))
}

/// The database URL: the flag or env variable, else the config file's, else the default.
pub fn database_url(flag: Option<String>, config: &Config) -> String {
    flag.or_else(|| config.server.database_url.clone()).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_tracing();
    let (path, config) = load_config(args.config)?;
    let listen = args.listen.or_else(|| config.server.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let database_url = database_url(args.database, &config);
    let tls = match (args.tls_cert.or(config.server.tls_cert.clone()), args.tls_key.or(config.server.tls_key.clone())) {
        (Some(cert), Some(key)) => Some(firehouse::tls::TlsFiles { cert, key }),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate and a key"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    match &path {
        Some(p) => tracing::info!(config = %p.display(), services = config.services.len(), "configuration loaded"),
        None => tracing::info!("no configuration file"),
    }
    let ready = Ready::bind(Settings { listen, database_url: database_url.clone(), config, tls })
        .await
        .context("cannot start")?;
    let addr = ready.local_addr();
    tracing::info!(%addr, database = %redact_url(&database_url), "firehouse is ready");
    // One line on stdout that scripts and tests can wait for.
    println!("firehouse listening on {scheme}://{addr}");
    ready.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Hides the password of a database URL (`postgres://user:secret@host` → `postgres://user:***@host`).
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url("postgres://fh:s3cret@db:5432/fh"), "postgres://fh:***@db:5432/fh");
        assert_eq!(redact_url("sqlite://firehouse.db?mode=rwc"), "sqlite://firehouse.db?mode=rwc");
        assert_eq!(redact_url("postgres://fh@db/fh"), "postgres://fh@db/fh");
    }
}
