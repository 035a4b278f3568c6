//! `firehouse config check`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Check a configuration file; prints each problem as `file:line: message`.
    Check {
        /// The file [default: ./firehouse.toml].
        #[arg(long, env = "FIREHOUSE_CONFIG", default_value = super::serve::DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ConfigCommand::Check { config } => match firehouse::config::Config::load(&config) {
            Ok(c) => {
                let keys: usize = c.services.iter().map(|s| s.integration_keys.len()).sum();
                if c.services.is_empty() {
                    println!("{}: ok (no services: open mode, any integration key is accepted)", config.display());
                } else {
                    println!("{}: ok ({} services, {keys} integration keys)", config.display(), c.services.len());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("{e}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
