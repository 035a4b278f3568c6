//! An operator's own connection to a running server's SQLite file, for tests that change the database under it.

use std::path::PathBuf;
use std::time::Duration;

/// Runs `sql` on a connection of its own. The statement waits while the server holds the write lock, so it runs off
/// the runtime: on a test's single-threaded runtime, blocking in place would stop the server's tasks from committing
/// and letting go of that lock.
pub async fn sqlite_operator(db: impl Into<PathBuf>, sql: &'static str) {
    let db = db.into();
    tokio::task::spawn_blocking(move || {
        let operator = rusqlite::Connection::open(&db).unwrap();
        operator.busy_timeout(Duration::from_secs(30)).unwrap();
        operator.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    })
    .await
    .unwrap();
}
