//! PostgreSQL, for several Firehouse instances on one database.
//!
//! Each instance batches its own commits (group commit) exactly as on SQLite. Instances never
//! coordinate in memory: the partial unique index on open alerts decides which of two concurrent
//! triggers opens the incident, and the other appends to it (see `store/apply.rs`).

use super::apply::apply_command;
use super::sql::sql_backend;
use super::{Command, CommandResult, Store};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres};
use std::time::Duration;

sql_backend!(
    db: Postgres,
    conn: PgConnection,
    pool: PgPool,
    row: PgRow,
    next_number: "SELECT nextval('incident_numbers')"
);

/// A PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the schema. Concurrent instances starting
    /// together are safe: sqlx serialises migrations with an advisory lock.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn apply(&self, batch: &[Command]) -> Result<Vec<CommandResult>, StoreError> {
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        sync_services(&mut tx, services).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_incidents(&self, q: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        list_incidents(&self.pool, q).await
    }

    async fn get_incident(&self, r: &IncidentRef) -> Result<Option<Incident>, StoreError> {
        get_incident(&self.pool, r).await
    }

    async fn timeline(&self, incident_number: i64) -> Result<Vec<TimelineEntry>, StoreError> {
        timeline(&self.pool, incident_number).await
    }

    async fn status_counts(&self) -> Result<Vec<(IncidentStatus, i64)>, StoreError> {
        status_counts(&self.pool).await
    }

    async fn change_events(&self, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError> {
        change_events(&self.pool, q).await
    }
}
