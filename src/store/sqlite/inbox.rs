//! The inbox: a second SQLite file (`<database>-inbox`) where accepted events are committed before they are answered.
//!
//! Appending one row per event, with no secondary index, is the cheapest durable write there is, and the file has a
//! write lock of its own: the applier's large transactions on the database proper never delay an answer. Rows are
//! applied in `seq` order ([`crate::ingest`]) and deleted (by a later append) once the database records them as
//! applied, so after a crash the rows past the database's `applied_through` are exactly the events still to apply.

use crate::domain::{Millis, Protocol};
use crate::store::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One accepted event, as committed before its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Its place in the order events are applied in (assigned when accepted, never reused).
    pub seq: i64,
    /// When it was received.
    pub received_at: Millis,
    /// The protocol it was read as (`v2`, `v1` or `change`).
    pub protocol: Protocol,
    /// The integration key it was accepted with (the unified path's query key included).
    pub integration_key: String,
    /// The dedup key the answer carried (generated ones included, so a replay keeps them).
    pub dedup_key: Option<String>,
    /// The service its key resolved to when accepted.
    pub service: String,
    /// The request body as received.
    pub raw: String,
}

/// An entry to append, borrowed from the command it stands for: the intake writes the body it already holds.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// See [`InboxEntry::seq`].
    pub seq: i64,
    /// See [`InboxEntry::received_at`].
    pub received_at: Millis,
    /// See [`InboxEntry::protocol`].
    pub protocol: Protocol,
    /// See [`InboxEntry::integration_key`].
    pub integration_key: &'a str,
    /// See [`InboxEntry::dedup_key`].
    pub dedup_key: Option<&'a str>,
    /// See [`InboxEntry::service`].
    pub service: &'a str,
    /// See [`InboxEntry::raw`].
    pub raw: &'a str,
}

impl From<EntryRef<'_>> for InboxEntry {
    fn from(e: EntryRef<'_>) -> Self {
        InboxEntry {
            seq: e.seq,
            received_at: e.received_at,
            protocol: e.protocol,
            integration_key: e.integration_key.to_owned(),
            dedup_key: e.dedup_key.map(str::to_owned),
            service: e.service.to_owned(),
            raw: e.raw.to_owned(),
        }
    }
}

/// What [`Inbox::append`] takes: a borrowed entry, or an owned one.
pub trait AsEntry {
    /// The entry, borrowed.
    fn entry(&self) -> EntryRef<'_>;
}

impl AsEntry for EntryRef<'_> {
    fn entry(&self) -> EntryRef<'_> {
        *self
    }
}

impl AsEntry for InboxEntry {
    fn entry(&self) -> EntryRef<'_> {
        EntryRef {
            seq: self.seq,
            received_at: self.received_at,
            protocol: self.protocol,
            integration_key: &self.integration_key,
            dedup_key: self.dedup_key.as_deref(),
            service: &self.service,
            raw: &self.raw,
        }
    }
}

/// The inbox file, open for appending (intake) and reading (applier).
#[derive(Clone)]
pub struct Inbox {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Held for as long as the inbox is open: one server per database (its seqs are assigned in memory).
    _lock: Arc<File>,
}

/// How large the inbox's WAL file may stay once checkpointed.
const WAL_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    integration_key TEXT NOT NULL,
    dedup_key TEXT,
    service TEXT NOT NULL,
    raw TEXT NOT NULL
)";

impl Inbox {
    /// The inbox file of the SQLite database file at `database`.
    pub fn path_for(database: &Path) -> PathBuf {
        suffixed(database, "-inbox")
    }

    /// Opens (creating if needed) the inbox at `path`. Fails if another server has it open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let lock_path = suffixed(path, LOCK_SUFFIX);
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| StoreError::Crashed(format!("cannot open {}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| StoreError::InUse(path.display().to_string()))?;
        let writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Every append is on disk before its events are answered.
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.busy_timeout(Duration::from_secs(10))?;
        // A commit never copies the WAL into the file itself (a thousand page copies inside some sender's wait): the
        // applier does it, with `checkpoint`, after each batch it applies.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        // After a burst the WAL file is cut back to this size once it has been checkpointed.
        writer.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
        writer.execute_batch(SCHEMA)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(Duration::from_secs(10))?;
        // The file is synced before the WAL may be reused: a checkpoint never loses an entry to a power cut.
        reader.pragma_update(None, "synchronous", "FULL")?;
        Ok(Inbox {
            path: path.to_owned(),
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            _lock: Arc::new(lock),
        })
    }

    /// The highest seq in the inbox (0 when it is empty).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM inbox", [], |r| r.get(0))?)
    }

    /// Commits `entries` durably, in one transaction that also deletes the entries up to `applied_through` (the
    /// database has recorded them as applied), so pruning costs no commit of its own.
    pub fn append<E: AsEntry>(&self, entries: &[E], applied_through: i64) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM inbox WHERE seq <= ?1")?.execute([applied_through])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO inbox (seq, received_at, protocol, integration_key, dedup_key, service, raw) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for e in entries.iter().map(AsEntry::entry) {
                insert.execute(rusqlite::params![
                    e.seq,
                    e.received_at.0,
                    e.protocol.as_str(),
                    e.integration_key,
                    e.dedup_key,
                    e.service,
                    e.raw
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Copies the WAL's committed entries into the inbox file, without waiting for (or blocking) the writer; the next
    /// append then starts the WAL over. Returns whether the WAL was fully copied.
    pub fn checkpoint(&self) -> Result<bool, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let (busy, log, copied): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(busy == 0 && log == copied)
    }

    /// Up to `limit` entries after `seq`, in order.
    pub fn read_after(&self, seq: i64, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let mut select = conn.prepare_cached(
            "SELECT seq, received_at, protocol, integration_key, dedup_key, service, raw FROM inbox \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = select.query_map(rusqlite::params![seq, limit as i64], |r| {
            let protocol: String = r.get(2)?;
            Ok(InboxEntry {
                seq: r.get(0)?,
                received_at: Millis(r.get(1)?),
                protocol: protocol.parse().map_err(|e: crate::domain::severity::UnknownValue| {
                    rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.to_string().into())
                })?,
                integration_key: r.get(3)?,
                dedup_key: r.get(4)?,
                service: r.get(5)?,
                raw: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// After a clean stop, once everything up to `applied_through` is applied: removes the inbox's files, so the
    /// database file alone is the whole database again. Refuses if entries past it are left.
    pub fn remove(self, applied_through: i64) -> Result<(), StoreError> {
        let Inbox { path, writer, reader, _lock } = self;
        let left: i64 = {
            let conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            conn.query_row("SELECT count(*) FROM inbox WHERE seq > ?1", [applied_through], |r| r.get(0))?
        };
        if left != 0 {
            return Err(StoreError::Contended("the inbox still holds events to apply"));
        }
        drop((writer, reader));
        for suffix in ["", "-wal", "-shm", LOCK_SUFFIX] {
            let name = suffixed(&path, suffix);
            match std::fs::remove_file(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Crashed(format!("cannot remove {}: {e}", name.display()))),
            }
        }
        Ok(())
    }
}

/// The lock file next to the inbox. A file of its own, because SQLite's own locks on the inbox file are POSIX locks
/// that closing any handle to the file would drop.
const LOCK_SUFFIX: &str = ".lock";

/// `path` with `suffix` appended to its file name (as SQLite names its `-wal` and `-shm` companions).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> InboxEntry {
        InboxEntry {
            seq,
            received_at: Millis(1_000 + seq),
            protocol: Protocol::V2,
            integration_key: "key".into(),
            dedup_key: Some(format!("dedup-{seq}")),
            service: "svc".into(),
            raw: format!("{{\"n\":{seq}}}"),
        }
    }

    #[test]
    fn entries_come_back_in_order_until_applied() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(&dir.path().join("db-inbox")).unwrap();
        assert_eq!(inbox.last_seq().unwrap(), 0);
        inbox.append(&[entry(1), entry(2)], 0).unwrap();
        inbox.append(&[entry(3)], 0).unwrap();
        assert_eq!(inbox.last_seq().unwrap(), 3);
        assert_eq!(inbox.read_after(0, 10).unwrap(), vec![entry(1), entry(2), entry(3)]);
        assert_eq!(inbox.read_after(1, 1).unwrap(), vec![entry(2)]);
        // The next append prunes what the database has applied.
        inbox.append(&[entry(4)], 2).unwrap();
        assert_eq!(inbox.read_after(0, 10).unwrap(), vec![entry(3), entry(4)]);
        assert_eq!(inbox.last_seq().unwrap(), 4);
    }

    #[test]
    fn checkpoints_keep_the_wal_from_growing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-inbox");
        let inbox = Inbox::open(&path).unwrap();
        let wal = || std::fs::metadata(dir.path().join("db-inbox-wal")).map(|m| m.len()).unwrap_or(0);
        let big = |seq: i64| InboxEntry { raw: "x".repeat(2_000), ..entry(seq) };
        // Commits never checkpoint by themselves: 40 batches of 50 entries leave ~4 MB of WAL.
        for batch in 0..40 {
            inbox.append(&(1..=50).map(|i| big(batch * 50 + i)).collect::<Vec<_>>(), 0).unwrap();
        }
        assert!(wal() > 3_000_000, "WAL {} bytes", wal());
        // Checkpointed after each batch, the WAL starts over and stays at about one batch.
        let unbounded = wal();
        assert!(inbox.checkpoint().unwrap());
        for batch in 40..80 {
            inbox.append(&(1..=50).map(|i| big(batch * 50 + i)).collect::<Vec<_>>(), batch * 50).unwrap();
            assert!(inbox.checkpoint().unwrap());
        }
        assert_eq!(wal(), unbounded, "the WAL file was reused, not grown");
        assert_eq!(inbox.read_after(0, 10_000).unwrap().len(), 50, "each append pruned what was applied before it");
    }

    #[test]
    fn a_second_server_cannot_open_the_same_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-inbox");
        let first = Inbox::open(&path).unwrap();
        assert!(matches!(Inbox::open(&path), Err(StoreError::InUse(_))));
        drop(first);
        Inbox::open(&path).unwrap();
    }

    #[test]
    fn an_empty_inbox_is_removed_and_a_full_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-inbox");
        let inbox = Inbox::open(&path).unwrap();
        inbox.append(&[entry(1)], 0).unwrap();
        assert!(inbox.clone().remove(0).is_err());
        inbox.remove(1).unwrap();
        assert!(!path.exists());
    }
}
