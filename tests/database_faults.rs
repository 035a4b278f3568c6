//! What the server answers when its database fails under it: `/healthz` says so with a 503, the intake refuses with
//! PagerDuty's error body instead of answering 2xx, and the health check recovers when the database does.

mod common;
#[path = "common/databases.rs"]
mod databases;
#[path = "common/operator.rs"]
mod operator;

use common::*;
use databases::{Backend, TestDb};
use operator::sqlite_operator;
use std::time::Duration;

/// Asserts a 503 `{"error": {"code": "unavailable", "message": ...}}` that names the database.
fn assert_database_unavailable(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("database")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_when_the_sqlite_database_cannot_be_read() {
    let server = TestServer::open().await;
    assert_eq!(server.get("/healthz").await.0, 200);
    let db = server.dir.path().join("firehouse.db");
    sqlite_operator(&db, "ALTER TABLE incidents RENAME TO incidents_away").await;
    let (status, body) = server.get("/healthz").await;
    assert_database_unavailable(status, &body);

    sqlite_operator(&db, "ALTER TABLE incidents_away RENAME TO incidents").await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_database_lost_under_the_server_is_reported_and_nothing_is_answered_2xx() {
    let Some(mut db) = TestDb::new(Backend::Postgres).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start_with(dir.path(), &db.url, &[], &[]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let post = |dedup: &'static str| {
        client.post(format!("{}{V2_PATH}", server.base)).json(&v2_trigger(KEY, dedup, "an alert")).send()
    };
    assert_eq!(post("before").await.unwrap().status(), 202);

    db.drop_now().await;
    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    let status = health.status().as_u16();
    assert_database_unavailable(status, &health.json().await.unwrap());
    let refused = post("during").await.unwrap();
    assert_eq!(refused.status(), 500, "an event that cannot be stored is not answered 2xx");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "PagerDuty's error body: {body}");
}
