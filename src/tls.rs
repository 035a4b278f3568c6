//! HTTPS without a proxy: rustls over a certificate and key in PEM files, reloaded when they change
//! (so a renewed certificate is picked up without a restart).

use axum_server::tls_rustls::RustlsConfig;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The certificate chain and private key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the TLS certificate {cert} / key {key}: {source}")]
pub struct TlsError {
    cert: String,
    key: String,
    source: std::io::Error,
}

impl TlsFiles {
    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    /// Loads the files into a server configuration.
    pub async fn load(&self) -> Result<RustlsConfig, TlsError> {
        // One process-wide crypto provider (ring), whichever of reqwest and the server asks first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        RustlsConfig::from_pem_file(&self.cert, &self.key).await.map_err(|source| TlsError {
            cert: self.cert.display().to_string(),
            key: self.key.display().to_string(),
            source,
        })
    }

    /// Reloads `config` whenever either file changes, checking every `every`; a bad new pair is
    /// logged and the old one kept.
    pub fn watch(self, config: RustlsConfig, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen = self.modified();
            loop {
                tokio::time::sleep(every).await;
                let now = self.modified();
                if now.is_none() || now == seen {
                    continue;
                }
                match config.reload_from_pem_file(&self.cert, &self.key).await {
                    Ok(()) => {
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                        seen = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the new TLS certificate could not be loaded; keeping the old one")
                    }
                }
            }
        })
    }
}
