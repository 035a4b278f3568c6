//! PostgreSQL, for several Firehouse instances on one database.
//!
//! Each instance batches its own commits (group commit) exactly as on SQLite. Instances never
//! coordinate in memory: the partial unique index on open alerts decides which of two concurrent
//! triggers opens the incident, and the other appends to it (see `store/apply/alerts.rs`); outbox rows
//! are claimed with leases under `FOR UPDATE SKIP LOCKED`.

mod tx;

use super::apply;
use super::sql::sql_backend;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, PgConnection, PgPool, Postgres};
use std::time::Duration;
use tx::Tx;

sql_backend!(
    store: PgStore,
    db: Postgres,
    pool: PgPool,
    row: PgRow,
    begin: "BEGIN",
    skip_locked: "FOR UPDATE SKIP LOCKED"
);

/// The database: one pool serves writes and reads.
pub struct PgStore {
    writer: PgPool,
    readers: PgPool,
}

impl PgStore {
    async fn apply_batch(&self, batch: &[Command], rules: &RuleSet) -> Result<Vec<CommandResult>, StoreError> {
        let mut tx = self.writer.begin().await?;
        lock_alert_keys(&mut tx, batch).await?;
        let results = apply::apply_batch(&mut Tx(&mut tx), batch, rules).await?;
        tx.commit().await?;
        Ok(results)
    }
}

/// Takes a transaction-scoped advisory lock on every (integration key, dedup key) of the batch, in
/// one global order, so two instances' batches over the same alerts queue instead of deadlocking.
async fn lock_alert_keys(conn: &mut PgConnection, batch: &[Command]) -> Result<(), sqlx::Error> {
    use sha2::{Digest, Sha256};
    let mut keys: Vec<i64> = batch
        .iter()
        .filter_map(|c| match c {
            Command::Alert { integration_key, event, .. } => {
                let digest = Sha256::new()
                    .chain_update(integration_key.expose())
                    .chain_update([0u8])
                    .chain_update(event.dedup_key.as_str())
                    .finalize();
                Some(i64::from_be_bytes(digest[..8].try_into().expect("8 bytes")))
            }
            _ => None,
        })
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    sqlx::query("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest($1::bigint[]) AS k ORDER BY k) sorted")
        .bind(&keys)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl PgStore {
    /// Nothing to finish: a commit is in the database once it returns.
    async fn finish(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Several instances share a PostgreSQL database, so each answers an event only once it is applied: no inbox.
    fn inbox_file(&self) -> Option<std::path::PathBuf> {
        None
    }

    async fn apply_inbox_batch(
        &self,
        _: std::sync::Arc<[Command]>,
        _: std::sync::Arc<RuleSet>,
        _: i64,
    ) -> Result<Vec<CommandResult>, StoreError> {
        Err(StoreError::Unsupported("PostgreSQL takes events without an inbox"))
    }

    async fn applied_through(&self) -> Result<i64, StoreError> {
        Ok(0)
    }

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
