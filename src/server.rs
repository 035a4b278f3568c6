//! Wires the parts together and runs the HTTP server until told to stop.

use crate::config::Config;
use crate::dispatch::sessions::{SessionTracker, TrackerSettings};
use crate::dispatch::worker::{Worker, WorkerSettings};
use crate::dispatch::Responders;
use crate::http::{router, AppState, Shared};
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::store::sqlite::inbox::Inbox;
use crate::store::{self, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything `serve` needs, already resolved from flags, env variables and the config file.
#[derive(Debug)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// sqlx-style database URL.
    pub database_url: String,
    /// The parsed configuration file (default: empty, open mode).
    pub config: Config,
    /// Serve HTTPS with these files (reloaded when they change).
    pub tls: Option<crate::tls::TlsFiles>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A webhook source could not be set up (e.g. a missing environment variable).
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// An action could not be set up (e.g. a missing environment variable).
    #[error("action {action:?}: {problem}")]
    Action {
        /// The action's name.
        action: String,
        /// What is wrong.
        problem: String,
    },
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
    worker: Option<Worker>,
    tls: Option<(axum_server::tls_rustls::RustlsConfig, crate::tls::TlsFiles)>,
    tracker: Option<SessionTracker>,
}

impl Ready {
    /// Opens the store, syncs services and binds the address.
    pub async fn bind(settings: Settings) -> Result<Self, ServeError> {
        let store = store::open(&settings.database_url).await?;
        // First, so a second server on the same SQLite file stops before it writes anything.
        let inbox = store.inbox().map(|path| Inbox::open(&path)).transpose()?;
        let directory = settings.config.directory();
        store.sync_services(directory.services()).await?;
        if directory.is_open() {
            tracing::warn!(
                "OPEN MODE: no services are configured, so ANY integration key is accepted and becomes a service of its own. \
                 Configure [[services]] in firehouse.toml to accept only known keys."
            );
        }
        let mut responders = Responders::new();
        for (name, action) in &settings.config.actions {
            let responder =
                action.get_ref().build(name).map_err(|problem| ServeError::Action { action: name.clone(), problem })?;
            responders.insert(name.clone(), responder);
        }
        let responders = Arc::new(responders);
        let dispatch = &settings.config.dispatch;
        let lease = Duration::from_secs(dispatch.lease_seconds.max(1));
        let first_session_poll = Duration::from_secs(dispatch.session_poll_seconds.max(1));
        let worker_settings = WorkerSettings {
            lease,
            poll: Duration::from_millis(dispatch.poll_millis.max(10)),
            change_window: Duration::from_secs(dispatch.change_window_hours * 3600),
            public_url: settings.config.server.public_url.clone(),
            first_session_poll,
            ..WorkerSettings::default()
        };
        let tracker_settings = TrackerSettings {
            first_poll: first_session_poll,
            max_interval: Duration::from_secs(dispatch.session_poll_max_seconds.max(1)),
            max_age: Duration::from_secs(dispatch.session_max_age_hours.max(1).saturating_mul(3600)),
            lease,
            ..TrackerSettings::default()
        };
        let sources = Arc::new(crate::sources::Sources::build(&settings.config.webhooks)?);
        let metrics = Arc::new(Metrics::new());
        let rules = Arc::new(settings.config.rules());
        let dispatched = Arc::new(tokio::sync::Notify::new());
        let directory = Arc::new(directory);
        let inbox = inbox.map(|inbox| (inbox, directory.clone()));
        let (ingestor, writer) =
            Ingestor::start(store.clone(), rules.clone(), dispatched.clone(), metrics.clone(), inbox).await?;
        let worker =
            dispatch.worker.then(|| Worker::new(store.clone(), ingestor.clone(), responders.clone(), worker_settings));
        // Sessions are followed wherever dispatches are delivered.
        let tracker = dispatch
            .worker
            .then(|| SessionTracker::new(store.clone(), ingestor.clone(), responders.clone(), tracker_settings));
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|source| ServeError::Listen { addr: settings.listen.clone(), source })?;
        let state = AppState::new(Shared {
            ingestor,
            store,
            directory,
            metrics,
            rate_limits: Default::default(),
            mcp: Arc::new(settings.config.mcp.clone()),
            sources,
            rules,
            dispatched,
        });
        let tls = match settings.tls {
            Some(files) => Some((files.load().await?, files)),
            None => None,
        };
        Ok(Ready { listener, state, writer, worker, tls, tracker })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and drains the writer.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let (stop, stopped) = watch::channel(false);
        let worker = self.worker.map(|w| w.spawn(self.state.dispatched.clone(), stopped.clone()));
        let tracker = self.tracker.map(|t| t.spawn(stopped.clone()));
        let releaser = spawn_releaser(&self.state, stopped);
        let store = self.state.store.clone();
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = match self.tls {
            None => axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await,
            Some((config, files)) => {
                let reloader = files.watch(config.clone(), Duration::from_secs(2));
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(Some(Duration::from_secs(30)));
                });
                let listener =
                    self.listener.into_std().map_err(|source| ServeError::Listen { addr: addr.to_string(), source })?;
                let served = axum_server::from_tcp_rustls(listener, config).handle(handle).serve(app).await;
                reloader.abort();
                served
            }
        };
        served.map_err(|source| ServeError::Listen { addr: addr.to_string(), source })?;
        // Deliveries in flight finish; undelivered dispatches stay in the outbox for the next start.
        let _ = stop.send(true);
        let _ = releaser.await;
        // A poll in flight records its report; sessions not polled yet are polled after the next start.
        if let Some(t) = tracker {
            let _ = t.await;
        }
        // Deliveries in flight record the sessions they started before the worker ends.
        if let Some(w) = worker {
            let _ = w.await;
        }
        // Every handle to the writer is gone now (router, releaser, tracker and worker): the writer applies what is
        // left in the inbox and ends.
        let _ = self.writer.await;
        if let Err(e) = store.close().await {
            tracing::warn!(error = %e, "could not fold the WAL into the database file at shutdown; keep its -wal file with it");
        }
        Ok(())
    }
}

/// Every second, opens the incidents of held alerts whose pause is over and resolves flapping
/// incidents that went quiet. Held alerts are looked for whatever the configuration says now: a
/// service that held an alert and has since lost its pause still opens it when its pause ends.
fn spawn_releaser(state: &AppState, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let services: Vec<_> = state.directory.services().to_vec();
    let flapping = services.iter().any(|s| s.noise.flapping.is_some());
    let (store, ingestor) = (state.store.clone(), state.ingestor.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let now = crate::domain::Millis::now();
            // A cheap read first, so an idle server writes nothing.
            let held_due = store.held_alerts_due(now).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not look for held alerts");
                false
            });
            if !(held_due || flapping) {
                continue;
            }
            let command = crate::store::Command::Release { services: services.clone(), now };
            if let Err(e) = ingestor.submit(command).await {
                tracing::warn!(error = %e, "could not release held alerts");
            }
        }
    })
}
