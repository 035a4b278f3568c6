//! SIGKILL during a load: after a restart every acknowledged event and incident is intact. SIGTERM:
//! the database file alone holds everything.

mod common;

use common::{v2_action, v2_trigger, BinaryServer, TestServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    let client = reqwest::Client::new();

    // Acknowledged (202) events per dedup key, and which of them resolved.
    let acked: Arc<Mutex<HashMap<String, Vec<&'static str>>>> = Arc::default();
    let mut senders = Vec::new();
    for worker in 0..16 {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0u32.. {
                let dedup = format!("w{worker}-a{}", i / 3);
                let (action, body) = match i % 3 {
                    0 => ("trigger", v2_trigger("crash-key", &dedup, &format!("alert {dedup}"))),
                    1 => ("trigger", v2_trigger("crash-key", &dedup, &format!("again {dedup}"))),
                    _ if i % 2 == 0 => ("resolve", v2_action("crash-key", &dedup, "resolve")),
                    _ => ("acknowledge", v2_action("crash-key", &dedup, "acknowledge")),
                };
                let sent =
                    client.post(format!("{base}/v2/enqueue")).json(&body).timeout(Duration::from_secs(5)).send().await;
                match sent {
                    Ok(r) if r.status().as_u16() == 202 => {
                        acked.lock().unwrap().entry(dedup).or_default().push(action);
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server died mid-request: this event was never acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    // Let the load run, then kill without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acked.lock().unwrap().len() >= 600 {
            break;
        }
    }
    server.kill9();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let answered: usize = acked.values().map(Vec::len).sum();
    assert!(answered > 1000, "the load ran ({answered} events)");

    // Restart over the same database: everything answered 202 is there.
    let server = TestServer::start_in(dir, None).await;
    for (dedup, actions) in &acked {
        let incidents = server.incidents(&format!("dedup_key={dedup}")).await;
        assert_eq!(incidents.len(), 1, "one incident for {dedup}");
        let inc = &incidents[0];
        let (_, detail) = server.get(&format!("/api/v1/incidents/{}", inc["id"].as_str().unwrap())).await;
        let timeline = detail["timeline"].as_array().unwrap();
        // The log may hold more than was answered (committed, then killed before the answer), never less.
        assert!(timeline.len() >= actions.len(), "{dedup}: {} stored < {} answered", timeline.len(), actions.len());
        for (entry, action) in timeline.iter().zip(actions) {
            assert_eq!(entry["action"], *action, "{dedup}: events keep their order");
        }
        let expected = match actions.last().copied() {
            Some("resolve") => "resolved",
            Some("acknowledge") => "acknowledged",
            _ => "triggered",
        };
        if timeline.len() == actions.len() {
            assert_eq!(inc["status"], expected, "{dedup}");
        }
    }
    server.stop().await;
}

/// After a clean stop the WAL has been folded into the database file, so a copy of that one file (what an operator
/// backs up, or moves to another machine) holds every answered event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_the_whole_database_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    for i in 0..50 {
        let body = v2_trigger("stop-key", &format!("alert-{i}"), "disk full");
        let r = client.post(format!("{}/v2/enqueue", server.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    assert!(server.terminate().success());
    let wal = dir.path().join("firehouse.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "the WAL was emptied into the database file");

    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("firehouse.db"), copy.path().join("firehouse.db")).unwrap();
    let server = TestServer::start_in(copy, None).await;
    assert_eq!(server.incident_total().await, 50, "the copied file alone holds every answered event");
    server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = BinaryServer::start(dir.path(), &[]);
    let url = common::sqlite_url(dir.path());
    let dir_path = dir.path().to_path_buf();
    let (code, _, stderr) = common::run_cli(&["serve", "--listen", "127.0.0.1:0", "--database", &url], Some(&dir_path));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the database is in use"), "{stderr}");
}
