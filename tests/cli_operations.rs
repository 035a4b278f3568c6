//! The CLI over the rest of the API: silences, services, the event log.

mod common;

use common::{run_cli, v2_trigger, BinaryServer, KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_services_and_events_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    client.post(format!("{base}/v2/enqueue")).json(&v2_trigger(KEY, "cli-ops", "Disk full")).send().await.unwrap();

    let (code, out, err) = run_cli(
        &[
            "silences",
            "create",
            "--match",
            "source=host-9",
            "--match",
            "summary~(?i)noise",
            "--minutes",
            "30",
            "--comment",
            "planned work",
            "--author",
            "alice",
            "--server",
            &base,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("source=host-9") && out.contains("alice"), "{out}");
    let (code, out, _) = run_cli(&["silences", "list", "--server", &base, "--json"], None);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = listed["silences"][0]["id"].as_i64().unwrap();
    let (code, out, err) = run_cli(&["silences", "expire", &id.to_string(), "--server", &base], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ended"), "{out}");
    let (code, _, err) = run_cli(&["silences", "expire", &id.to_string(), "--server", &base], None);
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = run_cli(&["silences", "create", "--match", "nope", "--comment", "x", "--server", &base], None);
    assert_ne!(code, 0);
    assert!(err.contains("FIELD=VALUE"), "{err}");

    let (code, out, _) = run_cli(&["services", "--server", &base], None);
    assert_eq!(code, 0);
    assert!(out.contains("key-") && out.contains("OPEN"), "{out}");
    let (code, out, err) =
        run_cli(&["incidents", "note", "1", "rollback fixed it", "--author", "bob", "--server", &base], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rollback fixed it"), "{out}");
    let (code, out, _) = run_cli(&["events", "--dedup-key", "cli-ops", "--server", &base], None);
    assert_eq!(code, 0);
    assert!(out.contains("opened") && out.contains("Disk full"), "{out}");
}
