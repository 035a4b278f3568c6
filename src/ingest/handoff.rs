//! Committed events passed from the intake to the applier as they are, so the applier need not read them back from
//! the inbox and parse them again. Bounded: what does not fit is simply not handed over, and the applier reads it from
//! the inbox, which holds every accepted event either way.

use crate::store::Command;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The most events held in memory between the intake and the applier (a few megabytes of typical events).
const LIMIT: usize = 1024;

/// The intake's side.
#[derive(Clone)]
pub(super) struct Handoff {
    tx: mpsc::UnboundedSender<Vec<(i64, Command)>>,
    held: Arc<AtomicUsize>,
}

/// The applier's side.
pub(super) struct Received {
    rx: mpsc::UnboundedReceiver<Vec<(i64, Command)>>,
    held: Arc<AtomicUsize>,
    ready: VecDeque<(i64, Command)>,
}

/// A connected pair.
pub(super) fn channel() -> (Handoff, Received) {
    let (tx, rx) = mpsc::unbounded_channel();
    let held = Arc::new(AtomicUsize::new(0));
    (Handoff { tx, held: held.clone() }, Received { rx, held, ready: VecDeque::new() })
}

impl Handoff {
    /// Hands over a committed batch (seqs ascending), unless that would hold more than the limit: then the batch comes
    /// back, for the caller to drop once it has answered its senders (freeing a thousand events takes a while).
    pub(super) fn offer(&self, batch: Vec<(i64, Command)>) -> Result<(), Vec<(i64, Command)>> {
        let n = batch.len();
        if self.held.fetch_add(n, Ordering::AcqRel) + n > LIMIT {
            self.held.fetch_sub(n, Ordering::AcqRel);
            return Err(batch);
        }
        self.tx.send(batch).map_err(|refused| {
            self.held.fetch_sub(n, Ordering::AcqRel);
            refused.0
        })
    }
}

/// What the applier should apply next.
pub(super) enum Next {
    /// The events right after the applied ones, from memory, with the last one's seq.
    Handed(Vec<Command>, i64),
    /// Read the inbox: the next events are not in memory. `before`: the first seq that is (read no further).
    Read { before: Option<i64> },
}

impl Received {
    /// The next events after `applied`, at most `limit` of them.
    pub(super) fn next(&mut self, applied: i64, limit: usize) -> Next {
        while let Ok(batch) = self.rx.try_recv() {
            self.ready.extend(batch);
        }
        // Anything at or before `applied` was read from the inbox meanwhile.
        while self.ready.front().is_some_and(|(seq, _)| *seq <= applied) {
            self.ready.pop_front();
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
        match self.ready.front() {
            Some((seq, _)) if *seq == applied + 1 => {}
            Some((seq, _)) => return Next::Read { before: Some(*seq) },
            None => return Next::Read { before: None },
        }
        let mut commands = Vec::new();
        let mut last = applied;
        while commands.len() < limit && self.ready.front().is_some_and(|(seq, _)| *seq == last + 1) {
            let (seq, command) = self.ready.pop_front().expect("checked above");
            self.held.fetch_sub(1, Ordering::AcqRel);
            commands.push(command);
            last = seq;
        }
        Next::Handed(commands, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Millis, ServiceRef, UrgencyRule};

    fn command(n: i64) -> (i64, Command) {
        let service = ServiceRef::new("svc", UrgencyRule::High);
        (n, Command::Release { services: vec![service], now: Millis(n) })
    }

    fn seqs(next: Next) -> Result<(Vec<i64>, i64), Option<i64>> {
        match next {
            Next::Handed(commands, last) => Ok((commands.iter().map(|c| c.received_at().0).collect(), last)),
            Next::Read { before } => Err(before),
        }
    }

    #[test]
    fn a_gap_is_read_from_the_inbox_and_the_rest_taken_from_memory() {
        let (handoff, mut received) = channel();
        handoff.offer(vec![command(1), command(2)]).unwrap();
        // 3 and 4 were not handed over (say the handoff was full).
        handoff.offer(vec![command(5), command(6), command(7)]).unwrap();
        assert_eq!(seqs(received.next(0, 10)), Ok((vec![1, 2], 2)));
        assert_eq!(seqs(received.next(2, 10)), Err(Some(5)));
        // The applier read 3 and 4 from the inbox; the rest comes from memory, `limit` at a time.
        assert_eq!(seqs(received.next(4, 2)), Ok((vec![5, 6], 6)));
        assert_eq!(seqs(received.next(6, 2)), Ok((vec![7], 7)));
        assert_eq!(seqs(received.next(7, 2)), Err(None));
        assert_eq!(received.held.load(Ordering::Acquire), 0);
    }

    #[test]
    fn events_already_read_from_the_inbox_are_dropped() {
        let (handoff, mut received) = channel();
        handoff.offer(vec![command(3), command(4)]).unwrap();
        assert_eq!(seqs(received.next(3, 10)), Ok((vec![4], 4)));
        assert_eq!(received.held.load(Ordering::Acquire), 0);
    }

    #[test]
    fn nothing_is_held_beyond_the_limit() {
        let (handoff, mut received) = channel();
        handoff.offer((1..=LIMIT as i64).map(command).collect()).unwrap();
        assert_eq!(handoff.offer(vec![command(LIMIT as i64 + 1)]).unwrap_err().len(), 1);
        let Next::Handed(commands, last) = received.next(0, usize::MAX) else { panic!() };
        assert_eq!((commands.len(), last), (LIMIT, LIMIT as i64));
        assert!(matches!(received.next(last, 10), Next::Read { before: None }));
    }
}
