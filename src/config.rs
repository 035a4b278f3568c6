//! `firehouse.toml`: typed, checked at start-up and by `firehouse config check`, with line numbers.

use crate::domain::{ServiceDirectory, ServiceRef, UrgencyRule};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:8080`.
    pub listen: Option<String>,
    /// sqlx-style database URL.
    pub database_url: Option<String>,
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
                message: e.message().to_owned(),
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
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Which keys are accepted: with no services configured, any (open mode).
    pub fn directory(&self) -> ServiceDirectory {
        if self.services.is_empty() {
            return ServiceDirectory::Open;
        }
        let mut by_key = HashMap::new();
        let mut services = Vec::new();
        for s in &self.services {
            let svc = ServiceRef { name: s.name.get_ref().clone(), urgency: s.urgency };
            for k in &s.integration_keys {
                by_key.insert(k.get_ref().clone(), svc.clone());
            }
            services.push(svc);
        }
        ServiceDirectory::Configured { by_key, services }
    }
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
    fn keys_never_appear_in_errors() {
        let errs = parse("[[services]]\nname = \"a\"\nintegration_keys = [\"sekrit\"]\n[[services]]\nname = \"b\"\nintegration_keys = [\"sekrit\"]\n").unwrap_err();
        assert!(!errs[0].to_string().contains("sekrit"));
    }
}
