//! The embedded default: one SQLite file in WAL mode, a small read pool, and two writers: the ingest
//! batches' connection ([`batch`]) and one sqlx connection for everything else (outbox, sessions,
//! operators' writes).
//!
//! Every commit is `synchronous = FULL`, so an answered event survives a crash of the process or
//! the machine. The ingest writer is fed batches by the group-commit ingestor, so the write lock
//! is taken once per batch, never per request.

mod batch;
pub mod inbox;

use super::sql::sql_backend;
use batch::BatchWriter;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqlitePool};
use std::sync::Arc;
use std::time::Duration;

/// Turns off SQLite's memory statistics, which take a process-wide mutex on every allocation SQLite makes. Only has
/// an effect before the first connection opens (the binary calls it first thing); Firehouse never reads them.
pub fn tune_library() {
    // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Before SQLite initializes this only sets a flag; after, it is
    // refused with SQLITE_MISUSE and changes nothing.
    let _ = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0) };
}

sql_backend!(
    store: SqliteStore,
    db: Sqlite,
    pool: SqlitePool,
    row: SqliteRow,
    // IMMEDIATE takes the write lock up front, so a second process on the same file waits
    // (busy_timeout) instead of failing when its read snapshot goes stale.
    begin: "BEGIN IMMEDIATE",
    skip_locked: ""
);

/// The database: ingest batches go through `batches`, other writes through `writer` (one connection), reads
/// through `readers`.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    batches: BatchWriter,
    /// The database file.
    file: std::path::PathBuf,
}

impl SqliteStore {
    async fn apply_batch(&self, batch: &[Command], rules: &RuleSet) -> Result<Vec<CommandResult>, StoreError> {
        // Copied to cross into the blocking thread; inbox batches (the hot path) are shared instead.
        self.batches.apply(batch.into(), Arc::new(rules.clone()), None).await
    }

    async fn apply_inbox_batch(
        &self,
        batch: Arc<[Command]>,
        rules: Arc<RuleSet>,
        through: i64,
    ) -> Result<Vec<CommandResult>, StoreError> {
        self.batches.apply(batch, rules, Some(through)).await
    }

    fn inbox_file(&self) -> Option<std::path::PathBuf> {
        Some(inbox::Inbox::path_for(&self.file))
    }

    async fn applied_through(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT applied_through FROM inbox_progress WHERE id = 1")
            .fetch_one(&self.writer)
            .await?)
    }

    /// Copies every commit from the WAL into the database file and empties the WAL.
    async fn finish(&self) -> Result<(), StoreError> {
        self.batches.checkpoint().await
    }

    /// Opens (creating if needed) and migrates the database at `url` (`sqlite://path`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .disable_statement_logging();
        // One writer connection: SQLite has one write lock, and queueing for it in the pool is
        // cheaper than contending for it in the database.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        // The file SQLite itself opened, however the URL named it; empty for a database held in memory, which the
        // ingest connection could not share.
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'").fetch_one(&writer).await?;
        if file.is_empty() {
            return Err(StoreError::Unsupported("an in-memory SQLite database cannot be shared; name a file"));
        }
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone().read_only(true))
            .await?;
        let file = std::path::PathBuf::from(file);
        let batches = BatchWriter::open(&file)?;
        Ok(SqliteStore { writer, readers, batches, file })
    }
}
