//! Wires the parts together and runs the HTTP server until told to stop.

use crate::config::Config;
use crate::http::{router, AppState};
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::store::{self, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `serve` needs, already resolved from flags, env variables and the config file.
#[derive(Debug)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// sqlx-style database URL.
    pub database_url: String,
    /// The parsed configuration file (default: empty, open mode).
    pub config: Config,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address could not be bound, or serving failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound, ready server; call [`Ready::run`] to serve.
pub struct Ready {
    listener: TcpListener,
    state: AppState,
    writer: tokio::task::JoinHandle<()>,
}

impl Ready {
    /// Opens the store, syncs services and binds the address.
    pub async fn bind(settings: Settings) -> Result<Self, ServeError> {
        let store = store::open(&settings.database_url).await?;
        let directory = settings.config.directory();
        store.sync_services(directory.services()).await?;
        if directory.is_open() {
            tracing::warn!(
                "OPEN MODE: no services are configured, so ANY integration key is accepted and becomes a service of its own. \
                 Configure [[services]] in firehouse.toml to accept only known keys."
            );
        }
        let metrics = Arc::new(Metrics::new());
        let (ingestor, writer) = Ingestor::start(store.clone(), metrics.clone());
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|source| ServeError::Listen { addr: settings.listen.clone(), source })?;
        let state = AppState { ingestor, store, directory: Arc::new(directory), metrics };
        Ok(Ready { listener, state, writer })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and drains the writer.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let app = router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServeError::Listen { addr: addr.to_string(), source })?;
        // Every handle to the writer was in the router, now dropped: the writer drains and ends.
        let _ = self.writer.await;
        Ok(())
    }
}
