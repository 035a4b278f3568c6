//! The inbox over real SQLite files: entries a crash left behind are applied at the next start, each exactly once and
//! in the order they were accepted, and a clean stop leaves no inbox behind.

#[path = "common/operator.rs"]
mod operator;

use firehouse::domain::rules::RuleSet;
use firehouse::domain::{IncidentStatus, Millis, Protocol, ServiceDirectory};
use firehouse::ingest::{replay, Ingestor};
use firehouse::metrics::Metrics;
use firehouse::store::sqlite::inbox::{Inbox, InboxEntry};
use firehouse::store::{EventQuery, IncidentQuery, Store};
use operator::sqlite_operator;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "inbox-test-key";

fn entry(seq: i64, body: serde_json::Value) -> InboxEntry {
    InboxEntry {
        seq,
        received_at: Millis(1_700_000_000_000 + seq),
        protocol: Protocol::V2,
        integration_key: KEY.into(),
        dedup_key: body["dedup_key"].as_str().map(str::to_owned),
        service: ServiceDirectory::Open.resolve(&firehouse::domain::IntegrationKey::new(KEY)).unwrap().name,
        raw: body.to_string(),
    }
}

fn trigger(dedup: &str) -> serde_json::Value {
    json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("alert {dedup}"), "source": "host", "severity": "error"}})
}

fn action(dedup: &str, action: &str) -> serde_json::Value {
    json!({"routing_key": KEY, "event_action": action, "dedup_key": dedup})
}

async fn open(dir: &Path) -> Arc<dyn Store> {
    firehouse::store::open(&format!("sqlite://{}?mode=rwc", dir.join("firehouse.db").display())).await.unwrap()
}

async fn start(store: &Arc<dyn Store>) -> (Ingestor, tokio::task::JoinHandle<()>) {
    let inbox = Inbox::open(&store.inbox().expect("SQLite has an inbox")).unwrap();
    let directory = Arc::new(ServiceDirectory::Open);
    Ingestor::start(
        store.clone(),
        Arc::new(RuleSet::default()),
        Default::default(),
        Arc::new(Metrics::new()),
        Some((inbox, directory)),
    )
    .await
    .unwrap()
}

/// Accepts a trigger as the intake does and waits until it is applied.
async fn accept_trigger(ingestor: &Ingestor, dedup: &str) {
    let command = replay::command(entry(0, trigger(dedup)), &ServiceDirectory::Open).unwrap();
    ingestor.accept(command).await.unwrap();
    assert_eq!(ingestor.settled(Duration::from_secs(10)).await, 0);
}

async fn incidents(store: &Arc<dyn Store>, dedup: &str) -> Vec<firehouse::domain::Incident> {
    let q = IncidentQuery { dedup_key: Some(dedup.into()), limit: 100, ..Default::default() };
    store.list_incidents(&q).await.unwrap().incidents
}

async fn count(store: &Arc<dyn Store>, dedup: &str, statuses: Vec<IncidentStatus>) -> i64 {
    let q = IncidentQuery { dedup_key: Some(dedup.into()), statuses, limit: 1, ..Default::default() };
    store.list_incidents(&q).await.unwrap().total
}

async fn events(store: &Arc<dyn Store>, dedup: &str) -> usize {
    let q = EventQuery { dedup_key: Some(dedup.into()), limit: 10_000, ..Default::default() };
    store.search_events(&q).await.unwrap().len()
}

#[tokio::test]
async fn entries_left_by_a_crash_are_applied_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let path = store.inbox().unwrap();

    // The state a kill -9 can leave: entries 1..=3 committed and answered, entry 1 also applied but not yet pruned.
    let mut bodies = vec![trigger("a"), trigger("b"), action("a", "acknowledge")];
    // More than one applier batch of events for one key, to check the order holds across batches.
    for i in 0..2_500 {
        bodies.push(match i % 3 {
            0 => trigger("c"),
            1 => action("c", "acknowledge"),
            _ => action("c", "resolve"),
        });
    }
    bodies.push(trigger("c"));
    let entries: Vec<InboxEntry> = bodies.into_iter().zip(1..).map(|(b, seq)| entry(seq, b)).collect();
    let last = entries.last().unwrap().seq;
    {
        let inbox = Inbox::open(&path).unwrap();
        inbox.append(&entries, 0).unwrap();
        let first = replay::command(entries[0].clone(), &ServiceDirectory::Open).unwrap();
        store.apply_inbox(vec![first].into(), Arc::new(RuleSet::default()), 1).await.unwrap();
    }
    assert_eq!(store.inbox_applied_through().await.unwrap(), 1);

    let (ingestor, applier) = start(&store).await;
    assert_eq!(ingestor.settled(Duration::from_secs(30)).await, 0, "the backlog is applied");
    assert_eq!(store.inbox_applied_through().await.unwrap(), last);

    // Entry 1 was not applied a second time: one incident and one event for "b", two events for "a".
    assert_eq!(incidents(&store, "b").await.len(), 1);
    assert_eq!(events(&store, "b").await, 1);
    let a = incidents(&store, "a").await;
    assert_eq!((a.len(), a[0].status), (1, IncidentStatus::Acknowledged));
    assert_eq!(events(&store, "a").await, 2);
    // "c": a trigger after each resolve opens a new incident; the last one is still open.
    assert_eq!(count(&store, "c", vec![]).await, 834);
    assert_eq!(count(&store, "c", vec![IncidentStatus::Resolved]).await, 833);
    assert_eq!(events(&store, "c").await, 2_501);

    // New events are numbered after the replayed ones and applied too.
    accept_trigger(&ingestor, "d").await;
    assert_eq!(store.inbox_applied_through().await.unwrap(), last + 1);
    assert_eq!(incidents(&store, "d").await.len(), 1);

    // A clean stop applies everything and removes the inbox.
    drop(ingestor);
    applier.await.unwrap();
    assert!(!path.exists(), "the inbox is removed at a clean stop");

    // The next start numbers after what was applied, even without an inbox file.
    let (ingestor, applier) = start(&store).await;
    accept_trigger(&ingestor, "e").await;
    assert_eq!(store.inbox_applied_through().await.unwrap(), last + 2);
    assert_eq!(incidents(&store, "e").await.len(), 1);
    drop(ingestor);
    applier.await.unwrap();
}

#[tokio::test]
async fn a_second_server_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let _first = Inbox::open(&store.inbox().unwrap()).unwrap();
    let second = Inbox::open(&store.inbox().unwrap());
    let Err(e) = second else { panic!("two servers shared one inbox") };
    assert!(e.to_string().contains("another Firehouse server"), "{e}");
}

#[tokio::test]
async fn events_answered_while_the_database_fails_are_applied_once_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (ingestor, applier) = start(&store).await;

    // Take the event log away under the running applier: applying fails, answering does not.
    let db = dir.path().join("firehouse.db");
    sqlite_operator(&db, "ALTER TABLE events RENAME TO events_away").await;
    let command = replay::command(entry(0, trigger("f")), &ServiceDirectory::Open).unwrap();
    ingestor.accept(command).await.unwrap();
    assert_eq!(ingestor.settled(Duration::from_millis(300)).await, 1, "the answered event waits");
    for _ in 0..100 {
        if ingestor.progress().stalled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ingestor.progress().stalled, "the failing applier says so");

    // The database works again: the event is applied, once.
    sqlite_operator(&db, "ALTER TABLE events_away RENAME TO events").await;
    assert_eq!(ingestor.settled(Duration::from_secs(20)).await, 0);
    assert!(!ingestor.progress().stalled);
    assert_eq!(incidents(&store, "f").await.len(), 1);
    assert_eq!(events(&store, "f").await, 1);

    // Stopping while the database fails does not hang; the answered event waits in the inbox for the next start.
    sqlite_operator(&db, "ALTER TABLE events RENAME TO events_away").await;
    let command = replay::command(entry(0, trigger("g")), &ServiceDirectory::Open).unwrap();
    ingestor.accept(command).await.unwrap();
    drop(ingestor);
    tokio::time::timeout(Duration::from_secs(20), applier).await.expect("the stop does not hang").unwrap();
    assert!(store.inbox().unwrap().exists(), "the unapplied inbox is kept");
    sqlite_operator(&db, "ALTER TABLE events_away RENAME TO events").await;
    let (ingestor, applier) = start(&store).await;
    assert_eq!(ingestor.settled(Duration::from_secs(20)).await, 0);
    assert_eq!(incidents(&store, "g").await.len(), 1);
    assert_eq!(events(&store, "g").await, 1);
    drop(ingestor);
    applier.await.unwrap();
}
