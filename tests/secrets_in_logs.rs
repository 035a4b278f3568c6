//! Secrets never reach the logs, even at the most verbose level.

mod common;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PD_SECRET: &str = "pd-signing-secret-for-logs";
const SHARED: &str = "shared-secret-for-logs";
const TICKET_SECRET: &str = "ticket-secret-for-logs";
const KEY: &str = "integration-key-for-logs-0123456";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_carry_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("firehouse.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[webhooks.pagerduty.acme]
secret_envs = ["LOGTEST_PD_SECRET"]
shared_secret = {{ header = "X-Webhook-Secret", env = "LOGTEST_SHARED" }}

[webhooks.tickets.tracker]
kind = "generic"
secret_env = "LOGTEST_TICKET_SECRET"
"#
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firehouse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &common::sqlite_url(dir.path())])
        .arg("--config")
        .arg(&config)
        .env("FIREHOUSE_LOG", "trace")
        .env("LOGTEST_PD_SECRET", PD_SECRET)
        .env("LOGTEST_SHARED", SHARED)
        .env("LOGTEST_TICKET_SECRET", TICKET_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let base = {
        let start = Instant::now();
        let mut seen = String::new();
        let mut buf = [0u8; 256];
        loop {
            let n = stdout.read(&mut buf).unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(line) = seen.lines().find_map(|l| l.strip_prefix("firehouse listening on ")) {
                break line.trim().to_owned();
            }
            assert!(start.elapsed() < Duration::from_secs(30) && n > 0, "no ready line: {seen}");
        }
    };
    let client = reqwest::Client::new();
    // An event with the key, a PagerDuty delivery (good and bad signatures), a ticket, an unknown key.
    let event = serde_json::json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info"}});
    client.post(format!("{base}/v2/enqueue")).json(&event).send().await.unwrap();
    let unknown = serde_json::json!({"routing_key": "another-secret-looking-key", "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info"}});
    client.post(format!("{base}/v2/enqueue")).json(&unknown).send().await.unwrap();
    let body =
        std::fs::read_to_string(format!("{}/tests/fixtures/webhooks/pd_v3_triggered.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(PD_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    for (sig, shared) in [(signature.as_str(), SHARED), ("v1=00", "wrong-shared")] {
        client
            .post(format!("{base}/webhooks/pagerduty/acme"))
            .header("content-type", "application/json")
            .header("x-pagerduty-signature", sig)
            .header("x-webhook-secret", shared)
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    let ticket = r#"{"id": 1, "title": "t", "description": "d", "labels": []}"#;
    client
        .post(format!("{base}/webhooks/tickets/tracker"))
        .header("content-type", "application/json")
        .header("x-signature-256", "sha256=00")
        .body(ticket)
        .send()
        .await
        .unwrap();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    child.wait().unwrap();
    assert!(logs.len() > 200, "the server logged at trace level: {logs}");
    for secret in [PD_SECRET, SHARED, TICKET_SECRET, KEY, "another-secret-looking-key", &signature] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
}
