//! The answered write with an inbox: events queue here; one thread commits whatever has queued up to the inbox file as
//! one transaction, numbers the entries in commit order, and answers every sender after the commit.

use super::{replay, Handoff, IngestError};
use crate::metrics::Metrics;
use crate::store::sqlite::inbox::Inbox;
use crate::store::{Command, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// The most events one inbox commit takes.
const MAX_ACCEPT_BATCH: usize = 1024;

/// The most answered events that may wait to be applied: about ten seconds of the applier's work here, as long as a
/// read waits for it. Beyond it, commits wait for the applier: senders slow down rather than readers fall further
/// behind and the inbox grow without end.
pub(super) const MAX_BACKLOG: i64 = 100_000;

/// An event waiting for its inbox commit.
pub(super) struct Pending {
    pub(super) command: Command,
    pub(super) reply: oneshot::Sender<Result<(), IngestError>>,
}

/// Owns the inbox's appends and its numbering.
pub(super) struct InboxWriter {
    pub(super) inbox: Inbox,
    /// The seq the next accepted entry gets.
    pub(super) next_seq: i64,
    /// The last seq committed, published after each commit and before anyone is answered, so a reader that starts
    /// after an answer waits for that event.
    pub(super) accepted: watch::Sender<i64>,
    /// How far the applier got: entries up to there are deleted by the next commit.
    pub(super) applied: watch::Receiver<i64>,
    /// Hands committed events to the applier as they are, so it need not read them back.
    pub(super) handoff: Handoff,
    /// [`MAX_BACKLOG`], but for tests.
    pub(super) max_backlog: i64,
    pub(super) metrics: Arc<Metrics>,
}

impl InboxWriter {
    /// Starts committing on a thread of its own: as a task it would wait behind every request task queued on the
    /// runtime before each commit, and every sender waits for it.
    pub(super) fn spawn(self, rx: mpsc::Receiver<Pending>) -> Result<(), StoreError> {
        std::thread::Builder::new()
            .name("firehouse-inbox".into())
            .spawn(move || self.run(rx))
            .map(drop)
            .map_err(|e| StoreError::Crashed(format!("cannot start the inbox writer: {e}")))
    }

    /// Blocks while committing up to `last` would leave more than `max_backlog` events unapplied. Returns at once if
    /// the applier has stopped (its entries then wait for the next start).
    fn wait_for_the_applier(&mut self, last: i64) {
        let floor = last - self.max_backlog;
        if *self.applied.borrow() >= floor {
            return;
        }
        tracing::warn!(backlog = last - *self.applied.borrow(), "the applier is far behind; answers wait for it");
        let _ = futures::executor::block_on(self.applied.wait_for(|applied| *applied >= floor));
    }

    /// Commits until every sender handle is dropped and the queue is drained. Dropping `accepted` at the end tells the
    /// applier nothing more will come.
    fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut pending: Vec<Pending> = Vec::with_capacity(MAX_ACCEPT_BATCH);
        while let Some(first) = rx.blocking_recv() {
            pending.push(first);
            while pending.len() < MAX_ACCEPT_BATCH {
                match rx.try_recv() {
                    Ok(p) => pending.push(p),
                    Err(_) => break,
                }
            }
            let mut commands = Vec::with_capacity(pending.len());
            let mut replies = Vec::with_capacity(pending.len());
            for p in pending.drain(..) {
                let seq = self.next_seq + commands.len() as i64;
                if replay::entry(seq, &p.command).is_some() {
                    commands.push((seq, p.command));
                    replies.push(p.reply);
                } else {
                    // A programming error, not a sender's: only alert and change events are accepted.
                    let _ = p.reply.send(Err(IngestError::Store(Arc::new(StoreError::Unsupported(
                        "only alert and change events go through the inbox",
                    )))));
                }
            }
            let Some(last) = commands.last().map(|(seq, _)| *seq) else { continue };
            self.wait_for_the_applier(last);
            // The entries borrow the bodies the commands hold: nothing is copied to be written.
            let entries: Vec<_> = commands.iter().filter_map(|(seq, c)| replay::entry(*seq, c)).collect();
            let appended = self.inbox.append(&entries, *self.applied.borrow());
            drop(entries);
            match appended {
                Ok(()) => {
                    self.metrics.accept_batch_size.observe(commands.len() as f64);
                    self.next_seq = last + 1;
                    let not_handed = self.handoff.offer(commands).err();
                    self.accepted.send_replace(last);
                    for reply in replies {
                        let _ = reply.send(Ok(()));
                    }
                    // Senders first: the applier reads these from the inbox.
                    drop(not_handed);
                }
                Err(e) => {
                    // Nothing of the batch was committed, so its seqs are free again.
                    tracing::error!(error = %e, "could not commit events to the inbox");
                    let e = Arc::new(e);
                    for reply in replies {
                        let _ = reply.send(Err(IngestError::Store(e.clone())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Millis, Protocol, ServiceDirectory};
    use crate::store::sqlite::inbox::InboxEntry;
    use std::time::Duration;

    fn trigger(n: i64) -> Command {
        let raw = serde_json::json!({"routing_key": "k", "event_action": "trigger", "dedup_key": format!("d{n}"),
            "payload": {"summary": "s", "source": "h", "severity": "info"}});
        let entry = InboxEntry {
            seq: n,
            received_at: Millis(n),
            protocol: Protocol::V2,
            integration_key: "k".into(),
            dedup_key: Some(format!("d{n}")),
            service: "svc".into(),
            raw: raw.to_string(),
        };
        replay::command(entry, &ServiceDirectory::Open).unwrap()
    }

    fn send(queue: &mpsc::Sender<Pending>, n: i64) -> oneshot::Receiver<Result<(), IngestError>> {
        let (reply, answer) = oneshot::channel();
        queue.blocking_send(Pending { command: trigger(n), reply }).unwrap();
        answer
    }

    #[test]
    fn answers_wait_while_the_backlog_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let (accepted, accepted_rx) = watch::channel(0);
        let (applied_tx, applied) = watch::channel(0);
        let (handoff, _handed) = super::super::handoff::channel();
        let writer = InboxWriter {
            inbox: Inbox::open(&dir.path().join("db-inbox")).unwrap(),
            next_seq: 1,
            accepted,
            applied,
            handoff,
            max_backlog: 2,
            metrics: Arc::new(Metrics::new()),
        };
        let (queue, rx) = mpsc::channel(16);
        writer.spawn(rx).unwrap();
        send(&queue, 1).blocking_recv().unwrap().unwrap();
        send(&queue, 2).blocking_recv().unwrap().unwrap();
        // Nothing is applied yet: a third answer would leave three events waiting.
        let mut third = send(&queue, 3);
        std::thread::sleep(Duration::from_millis(300));
        assert!(third.try_recv().is_err(), "answered past the bound");
        assert_eq!(*accepted_rx.borrow(), 2);
        // The applier catches up by one: the third is committed and answered.
        applied_tx.send_replace(1);
        third.blocking_recv().unwrap().unwrap();
        assert_eq!(*accepted_rx.borrow(), 3);
    }
}
