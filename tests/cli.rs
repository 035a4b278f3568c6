//! The `firehouse` command against a real server process: send, incidents, config check.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

async fn get(base: &str, path: &str) -> Value {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

async fn only_incident(base: &str, dedup: &str) -> Value {
    let page = get(base, &format!("/api/v1/incidents?dedup_key={dedup}")).await;
    let incidents = page["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{page}");
    incidents[0].clone()
}

/// Runs the CLI with the server named by `FIREHOUSE_URL`.
fn cli(base: &str, args: &[&str]) -> (i32, String, String) {
    run_cli_env(args, None, &[("FIREHOUSE_URL", base)])
}

fn assert_ok((code, out, err): &(i32, String, String)) {
    assert_eq!(*code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_triggers_resolves_and_speaks_v1() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();

    let run = run_cli(
        &["send", "-k", KEY, "-d", "Disk 95% full on db1", "-i", "db1/disk", "-s", "db1", "--server", &base],
        None,
    );
    assert_ok(&run);
    let answer: Value = serde_json::from_str(run.1.trim()).unwrap();
    assert_eq!(answer, v2_success("db1/disk"));
    let inc = only_incident(&base, "db1/disk").await;
    assert_eq!((inc["status"].as_str(), inc["title"].as_str()), (Some("triggered"), Some("Disk 95% full on db1")));
    assert_eq!((inc["source"].as_str(), inc["severity"].as_str()), (Some("db1"), Some("error")));

    let run = run_cli(&["send", "-k", KEY, "-t", "resolve", "-i", "db1/disk", "--server", &base], None);
    assert_ok(&run);
    assert_eq!(only_incident(&base, "db1/disk").await["status"], "resolved");

    // Without -i the server generates the key and send prints it.
    let run = run_cli(&["send", "-k", KEY, "-d", "no key given", "--severity", "warning", "--server", &base], None);
    assert_ok(&run);
    let answer: Value = serde_json::from_str(run.1.trim()).unwrap();
    let generated = answer["dedup_key"].as_str().unwrap();
    assert!(is_hex32(generated), "{answer}");
    assert_eq!(only_incident(&base, generated).await["severity"], "warning");

    // --v1 sends an Events API v1 body: answered with incident_key, critical.
    let run = run_cli(&["send", "--v1", "-k", KEY, "-d", "v1 alert", "-i", "v1/key", "--server", &base], None);
    assert_ok(&run);
    let answer: Value = serde_json::from_str(run.1.trim()).unwrap();
    assert_eq!(answer, v1_success("v1/key"));
    let inc = only_incident(&base, "v1/key").await;
    assert_eq!(inc["severity"], "critical");
    let detail = get(&base, &format!("/api/v1/incidents/{}", inc["number"])).await;
    assert_eq!(detail["timeline"][0]["protocol"], "v1");
    assert_eq!(detail["timeline"][0]["raw"]["event_type"], "trigger");

    let run = run_cli(&["send", "--v1", "-k", KEY, "-t", "acknowledge", "-i", "v1/key", "--server", &base], None);
    assert_ok(&run);
    assert_eq!(only_incident(&base, "v1/key").await["status"], "acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_refusals_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    // A refused event: non-zero, the server's answer shown.
    let (code, out, err) = run_cli(&["send", "-k", KEY, "-d", "x", "--severity", "fatal", "--server", &base], None);
    assert_ne!(code, 0);
    assert!(out.contains("payload.severity is invalid"), "{out}");
    assert!(err.contains("400"), "{err}");
    // Usage errors are caught before sending.
    let (code, _, err) = run_cli(&["send", "-k", KEY, "--server", &base], None);
    assert_ne!(code, 0);
    assert!(err.contains("--description"), "{err}");
    let (code, _, err) = run_cli(&["send", "-k", KEY, "-t", "resolve", "--server", &base], None);
    assert_ne!(code, 0);
    assert!(err.contains("--dedup-key"), "{err}");
    let page = get(&base, "/api/v1/incidents").await;
    assert_eq!(page["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_list_show_ack_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    for (dedup, summary) in [("a", "Disk full on db1"), ("b", "CPU hot on web-3")] {
        assert_ok(&run_cli(&["send", "-k", KEY, "-d", summary, "-i", dedup, "--server", &base], None));
    }

    // A table, newest first.
    let run = cli(&base, &["incidents", "list"]);
    assert_ok(&run);
    let lines: Vec<&str> = run.1.lines().collect();
    assert!(lines[0].contains("STATUS") && lines[0].contains("TITLE"), "{}", run.1);
    assert!(lines[1].trim_start().starts_with('2') && lines[1].contains("CPU hot on web-3"), "{}", run.1);
    assert!(lines[2].trim_start().starts_with('1') && lines[2].contains("Disk full on db1"), "{}", run.1);
    assert!(lines[1].contains("triggered") && lines[1].contains(&open_service_name(KEY)), "{}", run.1);
    assert!(run.1.contains("(2 of 2 shown)"), "{}", run.1);
    assert!(!run.1.contains(KEY), "the key is not shown");

    // JSON, as the API gives it.
    let run = cli(&base, &["incidents", "list", "--json", "--status", "triggered", "--limit", "1"]);
    assert_ok(&run);
    let page: Value = serde_json::from_str(&run.1).unwrap();
    assert_eq!(page["total"], 2);
    assert_eq!(page["more"], true);
    assert_eq!(page["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(page["incidents"][0]["number"], 2);

    // Acknowledge and resolve by number.
    let run = cli(&base, &["incidents", "ack", "1", "--actor", "alice"]);
    assert_ok(&run);
    assert!(run.1.contains("Incident #1") && run.1.contains("acknowledged"), "{}", run.1);
    let detail = get(&base, "/api/v1/incidents/1").await;
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["timeline"][1]["raw"], serde_json::json!({"actor": "alice"}));

    let run = cli(&base, &["incidents", "show", "1"]);
    assert_ok(&run);
    assert!(run.1.starts_with("Incident #1  Disk full on db1"), "{}", run.1);
    assert!(run.1.contains("Timeline:") && run.1.contains("trigger") && run.1.contains("opened"), "{}", run.1);
    let show_json: Value = serde_json::from_str(&cli(&base, &["incidents", "show", "1", "--json"]).1).unwrap();
    assert_eq!(show_json, get(&base, "/api/v1/incidents/1").await);

    let run = cli(&base, &["incidents", "resolve", "1"]);
    assert_ok(&run);
    assert_eq!(get(&base, "/api/v1/incidents/1").await["status"], "resolved");
    let id = get(&base, "/api/v1/incidents/2").await["id"].as_str().unwrap().to_owned();
    assert_ok(&cli(&base, &["incidents", "resolve", &id]));
    assert_eq!(get(&base, "/api/v1/incidents/2").await["status"], "resolved");

    // Refusals: non-zero with the API's message.
    let (code, _, err) = cli(&base, &["incidents", "show", "99"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such incident"), "{err}");
    let (code, _, err) = cli(&base, &["incidents", "ack", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("already resolved") && err.contains("409"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_take_server_before_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    assert_ok(&run_cli(&["send", "-k", KEY, "-d", "x", "-i", "k", "--server", &base], None));
    let run = run_cli(&["incidents", "--server", &base, "list", "--json"], None);
    assert_ok(&run);
    let page: Value = serde_json::from_str(&run.1).unwrap();
    assert_eq!(page["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_take_server_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(dir.path(), &[]);
    let base = server.base.clone();
    assert_ok(&run_cli(&["send", "-k", KEY, "-d", "x", "-i", "k", "--server", &base], None));
    let run = run_cli(&["incidents", "list", "--server", &base], None);
    assert_ok(&run);
    assert!(run.1.contains("(1 of 1 shown)"), "{}", run.1);
    assert_ok(&run_cli(&["incidents", "show", "1", "--server", &base], None));
    assert_ok(&run_cli(&["incidents", "ack", "1", "--server", &base], None));
    assert_ok(&run_cli(&["incidents", "resolve", "1", "--server", &base], None));
    assert_eq!(get(&base, "/api/v1/incidents/1").await["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_config_file_accepts_only_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("services.toml");
    std::fs::write(&config, TWO_SERVICES).unwrap();
    let server = BinaryServer::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let base = server.base.clone();
    assert_ok(&run_cli(&["send", "-k", CHECKOUT_KEY, "-d", "x", "-i", "c", "--server", &base], None));
    assert_eq!(only_incident(&base, "c").await["service"], "checkout");
    let (code, out, _) = run_cli(&["send", "-k", "not-configured", "-d", "x", "--server", &base], None);
    assert_ne!(code, 0);
    assert!(out.contains("routing_key is not a known integration key"), "{out}");
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "firehouse.toml", TWO_SERVICES);
    let (code, out, err) = run_cli(&["config", "check", "--config", good.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok (2 services, 3 integration keys)"), "{out}");
    for key in [KEY, CHECKOUT_KEY, "payments-second-key"] {
        assert!(!out.contains(key) && !err.contains(key), "a key was printed: {out}{err}");
    }
    // Without --config, ./firehouse.toml is read.
    let (code, out, _) = run_cli_env(&["config", "check"], Some(&dir.path().to_path_buf()), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("firehouse.toml: ok"), "{out}");
    // An empty file is open mode.
    let empty = write(dir.path(), "empty.toml", "");
    let (code, out, _) = run_cli(&["config", "check", "--config", empty.to_str().unwrap()], None);
    assert_eq!(code, 0);
    assert!(out.contains("open mode"), "{out}");
}

#[test]
fn config_check_reports_a_duplicate_key_with_its_line_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-integration-key-do-not-print";
    let text = format!(
        "[[services]]\nname = \"payments\"\nintegration_keys = [\"{secret}\"]\n\n[[services]]\nname = \"checkout\"\nintegration_keys = [\n  \"other\",\n  \"{secret}\",\n]\n"
    );
    let path = write(dir.path(), "dup.toml", &text);
    let (code, out, err) = run_cli(&["config", "check", "--config", path.to_str().unwrap()], None);
    assert_ne!(code, 0);
    let expected = format!("{}:9: ", path.display());
    assert!(err.contains(&expected), "want {expected:?} in:\n{err}");
    assert!(err.contains("already used by service \"payments\""), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret), "the key was printed:\n{out}{err}");

    // Other problems are located too.
    let path = write(
        dir.path(),
        "bad.toml",
        "[[services]]\nname = \"a\"\nintegration_keys = [\"k\"]\nurgency = \"sometimes\"\n",
    );
    let (code, _, err) = run_cli(&["config", "check", "--config", path.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:4: ", path.display())), "{err}");
    let path = write(dir.path(), "twice.toml", "[[services]]\nname = \"a\"\nintegration_keys = [\"k1\"]\n[[services]]\nname = \"a\"\nintegration_keys = [\"k2\"]\n");
    let (code, _, err) = run_cli(&["config", "check", "--config", path.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:5: ", path.display())) && err.contains("defined twice"), "{err}");
    let missing = dir.path().join("missing.toml");
    let (code, _, err) = run_cli(&["config", "check", "--config", missing.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn a_mistyped_key_list_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-integration-key-do-not-print";
    let path =
        write(dir.path(), "mistyped.toml", &format!("[[services]]\nname = \"a\"\nintegration_keys = \"{secret}\"\n"));
    let (code, out, err) = run_cli(&["config", "check", "--config", path.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:3: ", path.display())), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret), "the key was printed:\n{out}{err}");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let p = path.to_str().unwrap();
    let (code, out, err) = run_cli(&["serve", "--config", p, "--listen", "127.0.0.1:0", "--database", &db], None);
    assert_ne!(code, 0);
    assert!(!out.contains(secret) && !err.contains(secret), "serve printed the key:\n{out}{err}");
}

#[test]
fn serve_refuses_an_invalid_config_without_printing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-integration-key-do-not-print";
    let path = write(
        dir.path(),
        "dup.toml",
        &format!("[[services]]\nname = \"a\"\nintegration_keys = [\"{secret}\"]\n[[services]]\nname = \"b\"\nintegration_keys = [\"{secret}\"]\n"),
    );
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let (code, out, err) =
        run_cli(&["serve", "--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0", "--database", &db], None);
    assert_ne!(code, 0);
    assert!(err.contains("invalid configuration") && err.contains(":6: "), "{err}");
    assert!(!out.contains(secret) && !err.contains(secret), "{out}{err}");
}
