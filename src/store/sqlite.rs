//! The embedded default: one SQLite file in WAL mode, one writer connection, a small read pool.
//!
//! Every commit is `synchronous = FULL`, so an answered event survives a crash of the process or
//! the machine. The single writer is fed batches by the group-commit ingestor, so the write lock
//! is taken once per batch, never per request.

use super::sql::sql_backend;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool};
use std::time::Duration;

sql_backend!(
    store: SqliteStore,
    db: Sqlite,
    conn: SqliteConnection,
    pool: SqlitePool,
    row: SqliteRow,
    // IMMEDIATE takes the write lock up front, so a second process on the same file waits
    // (busy_timeout) instead of failing when its read snapshot goes stale.
    begin: "BEGIN IMMEDIATE",
    // Writers are serialised by the write lock, so the next number is simply the next one.
    next_number: "SELECT COALESCE(MAX(number), 0) + 1 FROM incidents",
    skip_locked: "",
    lock: "",
    prelock: no_prelock
);

/// The single writer already serialises every batch.
async fn no_prelock(_: &mut SqliteConnection, _: &[Command]) -> Result<(), sqlx::Error> {
    Ok(())
}

impl SqliteStore {
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
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, readers })
    }
}
