//! `firehouse dispatches list|show|retry` and the dispatches in `firehouse incidents show`, with the real binary
//! against a real server process whose rules call a local webhook receiver or the Devin stand-in.

mod common;

use common::receiver::Receiver;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use common::*;
use devin_standin::DevinStandIn;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs the CLI with the server named by `FIREHOUSE_URL`.
fn cli(base: &str, args: &[&str]) -> (i32, String, String) {
    run_cli_env(args, None, &[("FIREHOUSE_URL", base)])
}

fn assert_ok((code, out, err): &(i32, String, String)) {
    assert_eq!(*code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

async fn get(base: &str, path: &str) -> Value {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

/// Polls the incident until it has `n` dispatches and none is pending; bounded.
async fn settled(base: &str, incident: i64, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let detail = get(base, &format!("/api/v1/incidents/{incident}")).await;
        let dispatches = detail["dispatches"].as_array().cloned().unwrap_or_default();
        if dispatches.len() == n && dispatches.iter().all(|d| d["status"] != "pending") {
            return dispatches;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "dispatches did not settle: {dispatches:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls one dispatch until it has `status`; bounded.
async fn dispatch_becomes(base: &str, id: i64, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let d = get(base, &format!("/api/v1/dispatches/{id}")).await;
        if d["status"] == status {
            return d;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "dispatch {id} did not become {status}: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("firehouse.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_is_listed_retried_and_shown_on_its_incident() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[dispatch]
poll_millis = 100

[[rules]]
name = "page-bridge"
on = ["triggered"]
actions = ["bridge"]

[actions.bridge]
type = "webhook"
url = "{}"
timeout_seconds = 2
"#,
            receiver.url
        ),
    );
    let server = BinaryServer::start(dir.path(), &["--config", &config]);
    let base = server.base.clone();
    assert_ok(&run_cli(&["send", "-k", KEY, "-d", "Disk 95% full on db1", "-i", "db1/disk", "--server", &base], None));

    // 410 Gone is permanent: the dispatch is dead after one attempt.
    let dispatches = settled(&base, 1, 1).await;
    let d = &dispatches[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("dead"), Some(1)), "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("410"), "{d}");
    let id = d["id"].as_i64().unwrap();
    let id_text = id.to_string();
    assert_eq!(receiver.hits(), 1);

    // The dead letters, as a table.
    let run = cli(&base, &["dispatches", "list", "--status", "dead"]);
    assert_ok(&run);
    let lines: Vec<&str> = run.1.lines().collect();
    for heading in
        ["ID", "INCIDENT", "RULE", "ACTION", "TRANSITION", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"]
    {
        assert!(lines[0].contains(heading), "{heading}: {}", run.1);
    }
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..8],
        [id_text.as_str(), "#1", "page-bridge", "bridge", "triggered", "dead", "1", "-"],
        "{}",
        run.1
    );
    assert!(lines[1].contains("410"), "{}", run.1);
    assert!(run.1.contains("(1 shown)"), "{}", run.1);
    // Nothing done yet; the JSON is the API's.
    let run = cli(&base, &["dispatches", "list", "--status", "done"]);
    assert_ok(&run);
    assert!(run.1.contains("(0 shown)"), "{}", run.1);
    let run = run_cli(&["dispatches", "--server", &base, "list", "--json", "--incident", "1"], None);
    assert_ok(&run);
    let json: Value = serde_json::from_str(&run.1).unwrap();
    assert_eq!(json, get(&base, "/api/v1/dispatches?incident=1").await);

    let run = cli(&base, &["dispatches", "show", &id_text]);
    assert_ok(&run);
    assert!(run.1.starts_with(&format!("Dispatch {id}  page-bridge → bridge on incident #1 (triggered)")), "{}", run.1);
    assert!(run.1.contains("dead") && run.1.contains("410"), "{}", run.1);

    // Retry (the server named after the subcommand): queued again, then delivered.
    let run = run_cli(&["dispatches", "retry", &id_text, "--server", &base], None);
    assert_ok(&run);
    assert!(run.1.starts_with(&format!("Dispatch {id}  page-bridge")), "{}", run.1);
    let done = dispatch_becomes(&base, id, "done").await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(done["last_error"], Value::Null, "{done}");
    assert_eq!(receiver.hits(), 2);
    let run = cli(&base, &["dispatches", "show", &id_text, "--json"]);
    assert_ok(&run);
    assert_eq!(serde_json::from_str::<Value>(&run.1).unwrap(), done);
    let run = cli(&base, &["dispatches", "list", "--status", "dead"]);
    assert!(run.1.contains("(0 shown)"), "{}", run.1);

    // A dispatch that is not dead cannot be retried; an unknown one is not found.
    let (code, out, err) = cli(&base, &["dispatches", "retry", &id_text]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("not dead") && err.contains("409"), "{err}");
    let (code, _, err) = cli(&base, &["dispatches", "retry", "999999"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such dispatch") && err.contains("404"), "{err}");
    assert_eq!(receiver.hits(), 2);
    // Usage errors are caught before asking.
    let (code, _, err) = cli(&base, &["dispatches", "list", "--status", "failed"]);
    assert_ne!(code, 0);
    assert!(err.contains("pending") && err.contains("dead"), "{err}");
    let (code, _, _) = cli(&base, &["dispatches", "show", "abc"]);
    assert_ne!(code, 0);

    // The incident lists it; a webhook has no agent session.
    let run = cli(&base, &["incidents", "show", "1"]);
    assert_ok(&run);
    let out = &run.1;
    let timeline = out.find("Timeline:").expect(out);
    let section = out.find("Dispatches:").expect(out);
    assert!(timeline < section, "{out}");
    let row = out[section..].lines().find(|l| l.contains("page-bridge")).expect(out);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, [id_text.as_str(), "page-bridge", "bridge", "triggered", "done", "2", "-"], "{out}");
    assert!(!out.contains("Agent sessions"), "{out}");
    let json: Value = serde_json::from_str(&cli(&base, &["incidents", "show", "1", "--json"]).1).unwrap();
    assert_eq!(json, get(&base, "/api/v1/incidents/1").await);
    assert_eq!(json["dispatches"][0]["id"], id);

    // Paging: a full page says where the next one starts; newest first.
    assert_ok(&run_cli(&["send", "-k", KEY, "-d", "CPU hot on web-3", "-i", "web3/cpu", "--server", &base], None));
    assert_eq!(settled(&base, 2, 1).await[0]["status"], "done");
    let run = cli(&base, &["dispatches", "list", "--limit", "1"]);
    assert_ok(&run);
    assert!(run.1.lines().nth(1).unwrap().contains("#2"), "{}", run.1);
    assert!(run.1.contains("(1 shown; more with --offset 1)"), "{}", run.1);
    let run = cli(&base, &["dispatches", "list", "--limit", "1", "--offset", "1"]);
    assert_ok(&run);
    assert!(run.1.lines().nth(1).unwrap().starts_with(&format!("{id} ")), "{}", run.1);
    assert!(run.1.contains("(1 shown)\n"), "{}", run.1);
    let run = cli(&base, &["dispatches", "list", "--incident", "2"]);
    assert!(run.1.contains("(1 shown)") && !run.1.contains("#1 "), "{}", run.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_show_names_the_devin_session() {
    const TOKEN: &str = "cog_cli_test_token_do_not_print";
    const ORG: &str = "org-firehouse-cli";
    const TOKEN_ENV: &str = "FIREHOUSE_TEST_CLI_DEVIN_TOKEN";
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[dispatch]
poll_millis = 100

[[rules]]
name = "triage"
on = ["triggered"]
actions = ["devin-triage"]

[actions.devin-triage]
type = "devin"
base_url = "{}"
org_id = "{ORG}"
token_env = "{TOKEN_ENV}"
flow = "triage"
timeout_seconds = 2
"#,
            devin.base_url
        ),
    );
    let server =
        BinaryServer::start_with(dir.path(), &sqlite_url(dir.path()), &["--config", &config], &[(TOKEN_ENV, TOKEN)]);
    let base = server.base.clone();
    assert_ok(&run_cli(&["send", "-k", KEY, "-d", "Connection pool exhausted", "-i", "pool", "--server", &base], None));

    let dispatches = settled(&base, 1, 1).await;
    let d = &dispatches[0];
    assert_eq!(d["status"], "done", "{d}");
    let session_id = d["result"]["session_id"].as_str().unwrap();
    let url = d["result"]["url"].as_str().unwrap();
    assert!(!url.is_empty(), "{d}");
    assert_eq!(devin.session_count(), 1);

    let run = cli(&base, &["incidents", "show", "1"]);
    assert_ok(&run);
    let out = &run.1;
    let dispatches_at = out.find("Dispatches:").expect(out);
    let sessions_at = out.find("Agent sessions:").expect(out);
    assert!(dispatches_at < sessions_at, "{out}");
    let line = out[sessions_at..].lines().find(|l| l.contains(session_id)).expect(out);
    assert!(line.contains(url) && line.contains("triage"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");

    let run = cli(&base, &["dispatches", "show", &d["id"].to_string()]);
    assert_ok(&run);
    assert!(run.1.contains("Agent session:") && run.1.contains(session_id) && run.1.contains(url), "{}", run.1);
}
