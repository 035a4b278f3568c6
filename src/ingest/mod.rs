//! The write path. Senders' events are answered once they are durable; one applier turns them into alerts, incidents
//! and the event log, in the order they were accepted.
//!
//! - With an inbox (SQLite): `accept` group-commits each event's raw body to the inbox file and answers; the
//!   `applier` applies the events behind it in large batches (handed over in memory, or read back from the inbox) and
//!   records how far it got in the same transaction.
//! - Without one (PostgreSQL): an event is applied before it is answered, as every other command is.
//!
//! Other commands (operators' writes, webhooks, the releaser, sessions) are always applied before they are answered,
//! by the same applier, so all writes to incidents happen in one order. Readers that must see every answered event
//! first wait for the applier with [`Ingestor::settled`].

mod accept;
mod applier;
mod handoff;
pub mod replay;

use handoff::Handoff;

use crate::domain::rules::RuleSet;
use crate::domain::ServiceDirectory;
use crate::metrics::Metrics;
use crate::store::sqlite::inbox::Inbox;
use crate::store::{Command, CommandResult, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// The most commands one transaction of the applier takes from its queue.
pub const MAX_BATCH: usize = 512;
/// How many commands may wait for the applier before senders wait too.
const QUEUE_DEPTH: usize = 8192;

/// Why a command was not applied, or an event not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database failed; nothing was stored.
    #[error(transparent)]
    Store(#[from] Arc<StoreError>),
    /// The writer has stopped (shutting down).
    #[error("the writer has stopped")]
    Stopped,
}

/// A command waiting to be applied, and who waits for its result.
struct Job {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, IngestError>>,
}

/// How far events have got: the last inbox seq answered and the last one applied.
#[derive(Clone)]
struct Progress {
    accepted: watch::Receiver<i64>,
    applied: watch::Receiver<i64>,
    /// Set while the applier retries a batch the database refused.
    stalled: Arc<AtomicBool>,
}

/// What [`Ingestor::progress`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestProgress {
    /// Answered events not applied yet.
    pub backlog: u64,
    /// Whether applying them fails now (they are kept and tried again).
    pub stalled: bool,
}

/// A handle to the write path; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    direct: mpsc::Sender<Job>,
    /// The inbox's group commit, and how far it is applied (`None`: events are applied before they are answered).
    inbox: Option<(mpsc::Sender<accept::Pending>, Progress)>,
}

impl Ingestor {
    /// Starts the write path over `store`, writing the dispatches `rules` ask for and waking `dispatched` after each
    /// commit. With `inbox`, events are taken through it, read back with `directory`; entries left in it by an earlier
    /// run are applied first. The returned task ends once every handle is dropped and everything accepted is applied.
    pub async fn start(
        store: Arc<dyn Store>,
        rules: Arc<RuleSet>,
        dispatched: Arc<Notify>,
        metrics: Arc<Metrics>,
        inbox: Option<(Inbox, Arc<ServiceDirectory>)>,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        let (direct, jobs) = mpsc::channel(QUEUE_DEPTH);
        let applier = applier::Applier { store: store.clone(), rules, dispatched, metrics: metrics.clone() };
        let Some((inbox, directory)) = inbox else {
            let task = tokio::spawn(applier.run(jobs, None));
            return Ok((Ingestor { direct, inbox: None }, task));
        };
        let applied_through = store.inbox_applied_through().await?;
        let file = inbox.clone();
        let last = tokio::task::spawn_blocking(move || file.last_seq())
            .await
            .map_err(|e| StoreError::Crashed(e.to_string()))??;
        // Entries up to `applied_through` were applied by an earlier run, even if the inbox was lost or not yet
        // pruned: new ones are numbered after both.
        let last = last.max(applied_through);
        if last > applied_through {
            tracing::info!(entries = last - applied_through, "applying events accepted before the last stop");
        }
        let (accepted_tx, accepted) = watch::channel(last);
        let (applied_tx, applied) = watch::channel(applied_through);
        let (pending, pending_rx) = mpsc::channel(QUEUE_DEPTH);
        let (handoff, handed) = handoff::channel();
        let writer = accept::InboxWriter {
            inbox: inbox.clone(),
            next_seq: last + 1,
            accepted: accepted_tx,
            applied: applied.clone(),
            handoff,
            max_backlog: accept::MAX_BACKLOG,
            metrics,
        };
        writer.spawn(pending_rx)?;
        let stalled = Arc::new(AtomicBool::new(false));
        let source = applier::InboxSource {
            inbox,
            directory,
            handed,
            accepted: accepted.clone(),
            applied: applied_tx,
            stalled: stalled.clone(),
        };
        let task = tokio::spawn(applier.run(jobs, Some(source)));
        Ok((Ingestor { direct, inbox: Some((pending, Progress { accepted, applied, stalled })) }, task))
    }

    /// Applies one command durably; returns once it is committed.
    pub async fn submit(&self, command: Command) -> Result<CommandResult, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.direct.send(Job { command, reply }).await.map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }

    /// Takes a sender's alert or change event: returns once it is durable, which with an inbox is before it is
    /// applied. An outcome the store refuses (none for these commands) is reported as an error.
    pub async fn accept(&self, command: Command) -> Result<(), IngestError> {
        let Some((pending, _)) = &self.inbox else {
            return self.submit(command).await.map(|_| ());
        };
        let (reply, answer) = oneshot::channel();
        pending.send(accept::Pending { command, reply }).await.map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }

    /// How many answered events wait to be applied, and whether applying them fails now.
    pub fn progress(&self) -> IngestProgress {
        let Some((_, progress)) = &self.inbox else { return IngestProgress { backlog: 0, stalled: false } };
        let backlog = (*progress.accepted.borrow() - *progress.applied.borrow()).max(0) as u64;
        IngestProgress { backlog, stalled: progress.stalled.load(Ordering::Acquire) }
    }

    /// Waits until every event answered before this call is applied, for at most `limit`; returns how many accepted
    /// events are still waiting to be applied then (0: the store shows everything answered so far).
    pub async fn settled(&self, limit: Duration) -> u64 {
        let Some((_, progress)) = &self.inbox else { return 0 };
        let target = *progress.accepted.borrow();
        let mut applied = progress.applied.clone();
        let caught_up = matches!(tokio::time::timeout(limit, applied.wait_for(|a| *a >= target)).await, Ok(Ok(_)));
        if caught_up {
            return 0;
        }
        // The applier is behind (or has stopped, shutting down): say by how much.
        self.progress().backlog
    }
}
