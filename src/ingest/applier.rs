//! The applier: the one task that writes alerts, incidents, the event log and the outbox.
//!
//! It takes, in turn, the inbox's next entries (up to [`INBOX_BATCH`] per transaction, recording how far it got in the
//! same transaction) and the commands queued by callers that wait for their result (as many as have queued up, one
//! transaction for all). While one batch commits, the next gathers, so batches grow with the load and a durable
//! commit's cost is shared by everything in it.

use super::handoff::{self, Next};
use super::replay;
use super::{IngestError, Job, MAX_BATCH};
use crate::domain::rules::RuleSet;
use crate::domain::{Protocol, ServiceDirectory};
use crate::metrics::Metrics;
use crate::store::sqlite::inbox::{Inbox, InboxEntry};
use crate::store::{Command, CommandResult, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// The most inbox entries one transaction applies: large enough that an alert storm is applied in few commits (a
/// random index page written once serves the many keys of a batch that land on it), small enough that a batch stays a
/// few megabytes.
const INBOX_BATCH: usize = 2048;
/// The first wait before applying a failed inbox batch again; it doubles up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between attempts at a failing inbox batch.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What the applier writes with.
pub(super) struct Applier {
    pub(super) store: Arc<dyn Store>,
    pub(super) rules: Arc<RuleSet>,
    /// Woken after each commit when rules may have written dispatches.
    pub(super) dispatched: Arc<Notify>,
    pub(super) metrics: Arc<Metrics>,
}

/// The inbox the applier reads, and the progress it shares with the intake and with readers.
pub(super) struct InboxSource {
    pub(super) inbox: Inbox,
    /// Reads entries back into commands.
    pub(super) directory: Arc<ServiceDirectory>,
    /// The events the intake handed over in memory.
    pub(super) handed: handoff::Received,
    /// The last seq committed to the inbox; closed when the intake has stopped.
    pub(super) accepted: watch::Receiver<i64>,
    /// The last seq applied.
    pub(super) applied: watch::Sender<i64>,
    /// Set while a batch is being retried (for `/healthz`).
    pub(super) stalled: Arc<AtomicBool>,
}

impl InboxSource {
    fn backlog(&self) -> i64 {
        (*self.accepted.borrow() - *self.applied.borrow()).max(0)
    }

    /// Waits before the next attempt at a failing batch, doubling `wait`; `false` instead once the server is stopping
    /// (every handle is gone, so `jobs` is closed, or the intake has stopped): the entries then wait in the inbox for
    /// the next start rather than keep the server from stopping.
    async fn pause(&self, wait: &mut Duration, jobs: &mpsc::Receiver<Job>) -> bool {
        if jobs.is_closed() || self.accepted.has_changed().is_err() {
            return false;
        }
        tokio::time::sleep(*wait).await;
        *wait = (*wait * 2).min(MAX_RETRY_WAIT);
        true
    }
}

impl Applier {
    /// Applies until every caller's handle is dropped, the intake has stopped and the inbox is fully applied; then, at a
    /// clean stop, removes the inbox.
    pub(super) async fn run(self, mut jobs: mpsc::Receiver<Job>, mut source: Option<InboxSource>) {
        let mut waiting: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        let mut jobs_open = true;
        let mut intake_open = source.is_some();
        loop {
            let backlog = source.as_ref().is_some_and(|s| s.backlog() > 0);
            if !backlog && waiting.is_empty() {
                if !jobs_open && !intake_open {
                    break;
                }
                tokio::select! {
                    n = jobs.recv_many(&mut waiting, MAX_BATCH), if jobs_open => jobs_open = n > 0,
                    more = more_accepted(&mut source), if intake_open => intake_open = more,
                }
                continue;
            }
            // Callers queued meanwhile go in this round, after the inbox entries accepted before them.
            while waiting.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => waiting.push(job),
                    Err(_) => break,
                }
            }
            if let Some(s) = source.as_mut().filter(|_| backlog) {
                if !self.apply_inbox(s, &jobs).await {
                    tracing::error!(
                        events = s.backlog(),
                        "stopping with answered events the database would not take; they stay in the inbox and are \
                         applied at the next start"
                    );
                    return;
                }
            }
            if !waiting.is_empty() {
                self.apply_jobs(std::mem::take(&mut waiting)).await;
            }
            if !self.rules.rules.is_empty() {
                self.dispatched.notify_one();
            }
        }
        if let Some(s) = source {
            let applied = *s.applied.borrow();
            let inbox = s.inbox;
            match tokio::task::spawn_blocking(move || inbox.remove(applied)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not remove the applied inbox; it is skipped at the next start")
                }
                Err(e) => tracing::warn!(error = %e, "could not remove the applied inbox"),
            }
        }
    }

    /// Applies the inbox's next entries. A failing batch is tried again, with growing waits, until it is applied:
    /// accepted events are never dropped, and nothing after them is applied before them. Returns `false` if it gave up
    /// because the server is stopping (the entries stay in the inbox for the next start).
    async fn apply_inbox(&self, s: &mut InboxSource, jobs: &mpsc::Receiver<Job>) -> bool {
        let after = *s.applied.borrow();
        let mut wait = FIRST_RETRY_WAIT;
        let (commands, through) = match s.handed.next(after, INBOX_BATCH) {
            Next::Handed(commands, through) => (commands, through),
            Next::Read { before } => {
                let limit = before.map_or(INBOX_BATCH, |b| INBOX_BATCH.min((b - after - 1).max(1) as usize));
                let entries = loop {
                    match read_after(&s.inbox, after, limit).await {
                        Ok(entries) => break entries,
                        Err(e) => {
                            s.stalled.store(true, Ordering::Release);
                            tracing::error!(error = %e, "could not read the inbox; trying again");
                            if !s.pause(&mut wait, jobs).await {
                                return false;
                            }
                        }
                    }
                };
                let Some(through) = entries.last().map(|e| e.seq) else {
                    // Accepted entries that are not in the file: it was replaced under a running server.
                    let accepted = *s.accepted.borrow();
                    tracing::error!(from = after + 1, to = accepted, "accepted events are missing from the inbox file");
                    s.applied.send_replace(accepted);
                    return true;
                };
                (self.read_again(entries, &s.directory), through)
            }
        };
        self.metrics.batch_size.observe(commands.len() as f64);
        let commands: Arc<[Command]> = commands.into();
        loop {
            match self.store.apply_inbox(commands.clone(), self.rules.clone(), through).await {
                Ok(results) => {
                    self.count(&commands, &results);
                    s.stalled.store(false, Ordering::Release);
                    break;
                }
                Err(e) => {
                    s.stalled.store(true, Ordering::Release);
                    tracing::error!(error = %e, through, "could not apply accepted events; trying again");
                    if !s.pause(&mut wait, jobs).await {
                        return false;
                    }
                }
            }
        }
        s.applied.send_replace(through);
        self.metrics.inbox_backlog.set(s.backlog());
        checkpoint(&s.inbox).await;
        true
    }

    /// Inbox entries back into commands; one that no longer parses is logged and counted, not applied.
    fn read_again(&self, entries: Vec<InboxEntry>, directory: &ServiceDirectory) -> Vec<Command> {
        let mut commands = Vec::with_capacity(entries.len());
        for entry in entries {
            let protocol = entry.protocol;
            match replay::command(entry, directory) {
                Ok(command) => commands.push(command),
                Err(e) => {
                    tracing::error!(error = %e, "an accepted event could not be read again; it is not applied");
                    self.metrics.event(protocol.as_str(), "unreadable");
                }
            }
        }
        commands
    }

    /// Applies callers' commands in one transaction and answers each. If the batch fails, its commands are applied one
    /// by one, so one bad command does not fail its neighbours.
    async fn apply_jobs(&self, jobs: Vec<Job>) {
        let (commands, replies): (Vec<Command>, Vec<_>) = jobs.into_iter().map(|j| (j.command, j.reply)).unzip();
        self.metrics.batch_size.observe(commands.len() as f64);
        match self.store.apply(&commands, &self.rules).await {
            Ok(results) => {
                self.count(&commands, &results);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) if commands.len() > 1 => {
                tracing::warn!(error = %e, batch = commands.len(), "batch failed; retrying its commands one by one");
                for (command, reply) in commands.iter().zip(replies) {
                    let result = self.store.apply(std::slice::from_ref(command), &self.rules).await;
                    if let Ok(results) = &result {
                        self.count(std::slice::from_ref(command), results);
                    }
                    let result = result.map(|mut r| r.remove(0)).map_err(|e| IngestError::Store(Arc::new(e)));
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
    }

    /// Counts senders' events by what they did.
    fn count(&self, commands: &[Command], results: &[CommandResult]) {
        for (command, result) in commands.iter().zip(results) {
            match (command, result) {
                (Command::Alert { protocol, .. }, Ok(outcome)) => {
                    self.metrics.event(protocol.as_str(), outcome.transition.as_str())
                }
                (Command::Change { .. }, Ok(_)) => self.metrics.event(Protocol::Change.as_str(), "stored"),
                _ => {}
            }
        }
    }
}

/// Waits for the intake to accept more; `false` once it has stopped (and forever pending without an inbox).
async fn more_accepted(source: &mut Option<InboxSource>) -> bool {
    match source {
        Some(s) => s.accepted.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Copies the inbox's WAL into its file, which the intake's commits never do (see [`Inbox::checkpoint`]).
async fn checkpoint(inbox: &Inbox) {
    let inbox = inbox.clone();
    match tokio::task::spawn_blocking(move || inbox.checkpoint()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not checkpoint the inbox; trying again after the next batch"),
        Err(e) => tracing::warn!(error = %e, "could not checkpoint the inbox"),
    }
}

async fn read_after(inbox: &Inbox, after: i64, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
    let inbox = inbox.clone();
    tokio::task::spawn_blocking(move || inbox.read_after(after, limit))
        .await
        .map_err(|e| StoreError::Crashed(e.to_string()))?
}
