//! The embedded default: one SQLite file in WAL mode, one writer connection, a small read pool.
//!
//! Every commit is `synchronous = FULL`, so an answered event survives a crash of the process or
//! the machine. The single writer is fed batches by the group-commit ingestor, so the write lock
//! is taken once per batch, never per request.

use super::apply::apply_command;
use super::sql::sql_backend;
use super::{Command, CommandResult, Store};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection, SqlitePool};
use std::time::Duration;
use tokio::sync::Mutex;

sql_backend!(
    db: Sqlite,
    conn: SqliteConnection,
    pool: SqlitePool,
    row: SqliteRow,
    // Only this process's single writer inserts, so the next number is simply the next one.
    next_number: "SELECT COALESCE(MAX(number), 0) + 1 FROM incidents"
);

/// A SQLite database file.
pub struct SqliteStore {
    writer: Mutex<SqliteConnection>,
    readers: SqlitePool,
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
        let mut writer = options.connect().await?;
        sqlx::migrate!("./migrations/sqlite").run(&mut writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer: Mutex::new(writer), readers })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, batch: &[Command]) -> Result<Vec<CommandResult>, StoreError> {
        let mut conn = self.writer.lock().await;
        // IMMEDIATE takes the write lock up front, so a second process on the same file waits
        // (busy_timeout) instead of failing when its read snapshot goes stale.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(batch.len());
        {
            let mut w = Tx(&mut tx);
            for cmd in batch {
                results.push(apply_command(&mut w, cmd).await?);
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn sync_services(&self, services: &[ServiceRef]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sync_services(&mut tx, services).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_incidents(&self, q: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        list_incidents(&self.readers, q).await
    }

    async fn get_incident(&self, r: &IncidentRef) -> Result<Option<Incident>, StoreError> {
        get_incident(&self.readers, r).await
    }

    async fn timeline(&self, incident_number: i64) -> Result<Vec<TimelineEntry>, StoreError> {
        timeline(&self.readers, incident_number).await
    }

    async fn status_counts(&self) -> Result<Vec<(IncidentStatus, i64)>, StoreError> {
        status_counts(&self.readers).await
    }

    async fn change_events(&self, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError> {
        change_events(&self.readers, q).await
    }
}
