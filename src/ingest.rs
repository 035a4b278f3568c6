//! Group commit: requests queue their commands; one writer task applies whatever has queued up as
//! one transaction and answers every caller after the commit.
//!
//! While one batch commits, the next one gathers, so the batch size grows with the load and the
//! cost of a durable commit is shared by all the requests in it.

use crate::domain::rules::RuleSet;
use crate::metrics::Metrics;
use crate::store::{Command, CommandResult, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

/// The most commands one transaction takes.
pub const MAX_BATCH: usize = 512;
/// How many commands may wait for the writer before senders wait too.
const QUEUE_DEPTH: usize = 8192;

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database failed; nothing was stored.
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
    /// The writer has stopped (shutting down).
    #[error("the writer has stopped")]
    Stopped,
}

struct Job {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, IngestError>>,
}

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<Job>,
}

impl Ingestor {
    /// Starts the writer task over `store`, writing the dispatches `rules` ask for and waking
    /// `dispatched` after each commit. It ends when every handle is dropped and the queue drained.
    pub fn start(
        store: Arc<dyn Store>,
        rules: Arc<RuleSet>,
        dispatched: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer { store, rules, dispatched, metrics };
        let task = tokio::spawn(writer.run(rx));
        (Ingestor { queue }, task)
    }

    /// Applies one command durably; returns once it is committed.
    pub async fn submit(&self, command: Command) -> Result<CommandResult, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { command, reply }).await.map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

struct Writer {
    store: Arc<dyn Store>,
    rules: Arc<RuleSet>,
    dispatched: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        loop {
            if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                return;
            }
            let (commands, replies): (Vec<Command>, Vec<_>) = jobs.drain(..).map(|j| (j.command, j.reply)).unzip();
            self.metrics.batch_size.observe(commands.len() as f64);
            match self.store.apply(&commands, &self.rules).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(e) if commands.len() > 1 => {
                    // One bad command must not fail its neighbours: apply them one by one.
                    tracing::warn!(error = %e, batch = commands.len(), "batch failed; retrying its commands one by one");
                    for (command, reply) in commands.iter().zip(replies) {
                        let result = self
                            .store
                            .apply(std::slice::from_ref(command), &self.rules)
                            .await
                            .map(|mut r| r.remove(0))
                            .map_err(|e| IngestError::Store(Arc::new(e)));
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not store an event");
                    let e = Arc::new(e);
                    for reply in replies {
                        let _ = reply.send(Err(IngestError::Store(e.clone())));
                    }
                }
            }
            if !self.rules.rules.is_empty() {
                self.dispatched.notify_one();
            }
        }
    }
}
