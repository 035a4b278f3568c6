//! Shared test harness: a real Firehouse on a random port over a real SQLite file.
#![allow(dead_code)]

pub mod receiver;

use firehouse::config::Config;
use firehouse::server::{Ready, Settings};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// Sets a new environment variable to `value` and returns its name. The tests of one binary share the process's
/// environment, so every call gets a name of its own.
pub fn unique_env(what: &str, value: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("FIREHOUSE_TEST_{what}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    std::env::set_var(&name, value);
    name
}

/// The integration key every fixture uses.
pub const KEY: &str = "0123456789abcdef0123456789abcdef";

/// A fixture body from `tests/fixtures/events/`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// A server running in this process.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Open mode: any key accepted.
    pub async fn open() -> Self {
        Self::start(None).await
    }

    /// With this configuration text (services and keys).
    pub async fn with_config(toml: &str) -> Self {
        Self::start(Some(toml)).await
    }

    async fn start(toml: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, toml).await
    }

    /// Starts on an existing directory (to restart over the same database).
    pub async fn start_in(dir: TempDir, toml: Option<&str>) -> Self {
        let config = match toml {
            Some(t) => Config::parse(t, Path::new("test.toml")).unwrap_or_else(|e| panic!("config: {e:?}")),
            None => Config::default(),
        };
        let settings =
            Settings { listen: "127.0.0.1:0".into(), database_url: sqlite_url(dir.path()), config, tls: None };
        let ready = Ready::bind(settings).await.expect("server starts");
        let addr = ready.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ready
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gracefully and hands back the directory (its database stays).
    pub async fn stop(mut self) -> TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a raw body; returns the status and the body parsed as JSON (Null when not JSON).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    /// GETs JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The number of the newest incident with `dedup_key`.
    pub async fn number_of(&self, dedup_key: &str) -> i64 {
        self.incidents(&format!("dedup_key={dedup_key}")).await[0]["number"].as_i64().unwrap()
    }

    /// All incidents (up to 100), newest first.
    pub async fn incidents(&self, query: &str) -> Vec<Value> {
        let sep = if query.is_empty() { "" } else { "&" };
        let (status, body) = self.get(&format!("/api/v1/incidents?limit=100{sep}{query}")).await;
        assert_eq!(status, 200, "{body}");
        body["incidents"].as_array().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The SQLite URL of the database file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("firehouse.db").display())
}

/// A v2 trigger body.
pub fn v2_trigger(key: &str, dedup_key: &str, summary: &str) -> Value {
    serde_json::json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "host-1", "severity": "critical"}
    })
}

/// A v2 acknowledge or resolve body.
pub fn v2_action(key: &str, dedup_key: &str, action: &str) -> Value {
    serde_json::json!({"routing_key": key, "event_action": action, "dedup_key": dedup_key})
}

/// The real `firehouse` binary, run as a child process.
pub struct BinaryServer {
    pub child: Child,
    pub base: String,
}

impl BinaryServer {
    /// Starts `firehouse serve` on a random port with the database in `dir`; waits until it listens.
    pub fn start(dir: &Path, extra_args: &[&str]) -> Self {
        Self::start_with(dir, &sqlite_url(dir), extra_args, &[])
    }

    /// Starts `firehouse serve` on a random port over `database_url`, in `dir`, with `envs` added to
    /// (or overriding) its environment; waits until it listens.
    pub fn start_with(dir: &Path, database_url: &str, extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firehouse"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database", database_url])
            .args(extra_args)
            .current_dir(dir)
            .env("FIREHOUSE_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the firehouse binary runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("firehouse listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(30)).expect("firehouse announces its address");
        BinaryServer { child, base }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `firehouse` binary with arguments; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], dir: Option<&PathBuf>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firehouse"));
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the HTTP integration suites (intake, dedup, api, cli, metrics).
// ---------------------------------------------------------------------------------------------

/// The Events API paths.
pub const V2_PATH: &str = "/v2/enqueue";
pub const V1_PATH: &str = "/generic/2010-04-15/create_event.json";
pub const CHANGE_PATH: &str = "/v2/change/enqueue";
pub const UNIFIED_PATH: &str = "/event/push/alert/pagerduty";

/// PagerDuty's request size limit, in bytes.
pub const LIMIT_BYTES: usize = 512 * 1024;

/// A configuration with two services: `payments` (the fixtures' key and a second key) and `checkout`.
pub const TWO_SERVICES: &str = r#"
[[services]]
name = "payments"
integration_keys = ["0123456789abcdef0123456789abcdef", "payments-second-key"]

[[services]]
name = "checkout"
integration_keys = ["fedcba9876543210fedcba9876543210"]
urgency = "severity"
"#;

/// The `checkout` service's key in [`TWO_SERVICES`].
pub const CHECKOUT_KEY: &str = "fedcba9876543210fedcba9876543210";

/// A v1 trigger body.
pub fn v1_trigger(key: &str, incident_key: &str, description: &str) -> Value {
    serde_json::json!({
        "service_key": key,
        "event_type": "trigger",
        "incident_key": incident_key,
        "description": description
    })
}

/// A v1 acknowledge or resolve body.
pub fn v1_action(key: &str, incident_key: &str, event_type: &str) -> Value {
    serde_json::json!({"service_key": key, "event_type": event_type, "incident_key": incident_key})
}

/// PagerDuty's v2 success body.
pub fn v2_success(dedup_key: &str) -> Value {
    serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
}

/// PagerDuty's v1 success body.
pub fn v1_success(incident_key: &str) -> Value {
    serde_json::json!({"status": "success", "message": "Event processed", "incident_key": incident_key})
}

/// PagerDuty's change event success body.
pub fn change_success() -> Value {
    serde_json::json!({"status": "success", "message": "Change event processed"})
}

/// PagerDuty's `invalid event` body with these lines.
pub fn invalid_body(errors: &[&str]) -> Value {
    serde_json::json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
}

/// Whether `s` is a generated dedup key: 32 lowercase hex digits.
pub fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The open-mode service name of a key: `key-` and the first 8 hex digits of its SHA-256.
pub fn open_service_name(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("key-{hex}")
}

/// The value of one exact sample line (`name{labels}`) in a Prometheus text exposition.
pub fn metric_value(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse::<f64>().unwrap_or_else(|e| panic!("{sample}: {v:?}: {e}")))
}

impl TestServer {
    /// One incident with its timeline (by id or number); panics unless 200.
    pub async fn incident(&self, id: impl std::fmt::Display) -> Value {
        let (status, body) = self.get(&format!("/api/v1/incidents/{id}")).await;
        assert_eq!(status, 200, "GET incident {id}: {body}");
        body
    }

    /// The timeline of one incident.
    pub async fn timeline(&self, id: impl std::fmt::Display) -> Vec<Value> {
        self.incident(id).await["timeline"].as_array().unwrap().clone()
    }

    /// The total number of incidents.
    pub async fn incident_total(&self) -> i64 {
        let (status, body) = self.get("/api/v1/incidents").await;
        assert_eq!(status, 200, "{body}");
        body["total"].as_i64().unwrap()
    }

    /// POSTs with no body and no content type.
    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        let r = self.client.post(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// GETs text: status, content type, body.
    pub async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, ctype, r.text().await.unwrap())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, _, text) = self.get_text("/metrics").await;
        assert_eq!(status, 200, "{text}");
        text
    }
}

/// Runs the `firehouse` binary with arguments and extra environment variables.
pub fn run_cli_env(args: &[&str], dir: Option<&PathBuf>, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firehouse"));
    cmd.args(args).env_remove("FIREHOUSE_URL").env_remove("FIREHOUSE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A JSON body without its integration key fields (`routing_key`, `service_key`), to compare a
/// stored raw body with what was sent whatever the store does with the secret.
pub fn without_keys(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("routing_key");
        o.remove("service_key");
    }
    v
}

/// Every fixture file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}
