//! PostgreSQL, for several Firehouse instances on one database.
//!
//! Each instance batches its own commits (group commit) exactly as on SQLite. Instances never
//! coordinate in memory: the partial unique index on open alerts decides which of two concurrent
//! triggers opens the incident, and the other appends to it (see `store/apply.rs`); outbox rows
//! are claimed with leases under `FOR UPDATE SKIP LOCKED`.

use super::sql::sql_backend;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres};
use std::time::Duration;

sql_backend!(
    store: PgStore,
    db: Postgres,
    conn: PgConnection,
    pool: PgPool,
    row: PgRow,
    begin: "BEGIN",
    next_number: "SELECT nextval('incident_numbers')",
    skip_locked: "FOR UPDATE SKIP LOCKED"
);

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
        Ok(PgStore { writer: pool.clone(), readers: pool })
    }
}
