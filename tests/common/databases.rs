//! Fresh, empty databases for tests: a SQLite file, or a PostgreSQL database of its own.
//!
//! PostgreSQL is the server at `FIREHOUSE_TEST_POSTGRES_URL` (default: the local one with trust
//! auth). If it is not there the tests fail loudly; `FIREHOUSE_TEST_SKIP_POSTGRES=1` skips them.
#![allow(dead_code)]

use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that lives as long as this value.
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("FIREHOUSE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Whether PostgreSQL tests were switched off on purpose.
pub fn postgres_skipped() -> bool {
    std::env::var("FIREHOUSE_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

impl TestDb {
    /// A new empty database, or `None` when PostgreSQL was explicitly skipped.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("firehouse.db").display());
                Some(TestDb { url, _dir: Some(dir), pg_name: None })
            }
            Backend::Postgres if postgres_skipped() => {
                eprintln!("FIREHOUSE_TEST_SKIP_POSTGRES is set: skipping a PostgreSQL test");
                None
            }
            Backend::Postgres => {
                let admin = admin_url();
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {admin}: {e}. Start it, point FIREHOUSE_TEST_POSTGRES_URL \
                         at one, or set FIREHOUSE_TEST_SKIP_POSTGRES=1"
                    )
                });
                let name = format!("firehouse_test_{}", uuid::Uuid::new_v4().simple());
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Some(TestDb { url: format!("{base}/{name}"), _dir: None, pg_name: Some(name) })
            }
        }
    }

    /// Drops the PostgreSQL database now, closing every connection to it: a database lost under a running server.
    pub async fn drop_now(&mut self) {
        let name = self.pg_name.take().expect("a PostgreSQL database");
        let mut conn = PgConnection::connect(&admin_url()).await.unwrap();
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, on a thread of its own: Drop cannot be async.
            let admin = admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                    }
                });
            })
            .join();
        }
    }
}
