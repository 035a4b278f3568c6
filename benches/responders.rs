//! Responders benchmark, in one run:
//!
//! 1. Event-to-agent-call latency: v2 triggers at a steady rate against `firehouse serve` with a rule starting a Devin
//!    session on `triggered`; for each incident, the time from its 202 to the arrival of its session create at a local
//!    Devin stand-in (in this process, so both instants come from the same clock).
//! 2. Ingest throughput with per-service grouping on and off: the 64-connection load of `benches/ingest.rs` (a small
//!    re-implementation) against two Firehouse runs that differ only in `[services.grouping]`.
//!
//! `cargo bench --bench responders` prints a Markdown report and writes it into its own section of `BENCHMARKS.md`.
//! `FIREHOUSE_BENCH_SECONDS` sets the seconds per phase (default 5).

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;

mod shared;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const SECONDS_ENV: &str = "FIREHOUSE_BENCH_SECONDS";
const DEFAULT_SECONDS: u64 = 5;
/// The integration key of the configured service.
const KEY: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "bench-devin-token";
const TOKEN_ENV: &str = "FIREHOUSE_BENCH_DEVIN_TOKEN";
const ORG: &str = "org-bench";
/// Phase 1: triggers per second, and the connections they are spread over.
const LATENCY_RATE: u64 = 400;
const LATENCY_CONNECTIONS: usize = 16;
/// Phase 1: how long to wait for the last session once the load has ended.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Phase 2: connections, warm-up, and the pool of sources alerts come from (so grouping has something to group).
const LOAD_CONNECTIONS: usize = 64;
const LOAD_WARMUP: Duration = Duration::from_secs(1);
const SOURCES: u64 = 100;

const BEGIN: &str = "<!-- responders-bench:begin -->";
const END: &str = "<!-- responders-bench:end -->";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("responders bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let seconds = match std::env::var(SECONDS_ENV) {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => bail!("{SECONDS_ENV} must be a positive number of seconds, not {s:?}"),
        },
        Err(_) => DEFAULT_SECONDS,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    eprintln!("responders bench: phase 1, event-to-agent-call latency, {seconds} s at {LATENCY_RATE} events/s…");
    let latency = runtime.block_on(latency::measure(scratch.path(), seconds))?;
    let mut rows = Vec::new();
    for grouping in [false, true] {
        eprintln!("responders bench: phase 2, ingest with grouping {}…", if grouping { "on" } else { "off" });
        rows.push(runtime.block_on(throughput::measure(scratch.path(), grouping, seconds))?);
    }
    let text = render(&latency, &rows, seconds);
    println!("{text}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    shared::store_section(&path, BEGIN, END, &text)?;
    eprintln!("responders bench: wrote {}", path.display());
    Ok(())
}

/// A running `firehouse serve`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Writes `config` into `dir` and starts the release binary over a fresh SQLite database there.
    fn start(dir: &Path, name: &str, config: &str) -> anyhow::Result<Self> {
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config)?;
        let db = format!("sqlite://{}?mode=rwc", dir.join(format!("{name}.db")).display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_firehouse"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db, "--config"])
            .arg(&config_path)
            .current_dir(dir)
            .env("FIREHOUSE_LOG", "warn")
            .env(TOKEN_ENV, TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start firehouse")?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                bail!("firehouse exited without announcing its address");
            }
            if let Some((_, addr)) = line.trim().split_once("listening on http://") {
                break addr.parse::<SocketAddr>()?;
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        Ok(Server { child, addr })
    }

    /// `VmHWM` of the server, in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l["VmHWM:".len()..].trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib * 1024.0 / 1e6
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a keep-alive HTTP/1.1 connection with Nagle off.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One `POST /v2/enqueue`, its whole answer read; `Ok` for a 2xx.
async fn send(sender: &mut SendRequest<Full<Bytes>>, addr: SocketAddr, body: String) -> Result<(), String> {
    let request = Request::post("/v2/enqueue")
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let answer = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&answer)))
    }
}

/// `total` of `GET /api/v1/incidents?limit=1`.
async fn incident_total(addr: SocketAddr) -> anyhow::Result<u64> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request =
        Request::get("/api/v1/incidents?limit=1").header(HOST, addr.to_string()).body(Empty::<Bytes>::new())?;
    let body = sender.send_request(request).await?.into_body().collect().await?.to_bytes();
    let page: serde_json::Value = serde_json::from_slice(&body).context("incident list is not JSON")?;
    page["total"].as_u64().with_context(|| format!("no total in {page}"))
}

/// Nearest-rank quantile of sorted microseconds, in milliseconds.
fn quantile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// A minimal Devin API v3 stand-in recording when each session create arrived and the probe number in its prompt.
mod standin {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    #[derive(Default)]
    pub struct Recorded {
        /// (arrival, probe number found in the prompt, if any), in arrival order.
        pub creates: Mutex<Vec<(Instant, Option<usize>)>>,
        /// Requests refused: wrong token or organization, or a list call.
        pub refused: AtomicU64,
        pub lists: AtomicU64,
    }

    pub async fn start(recorded: Arc<Recorded>) -> anyhow::Result<String> {
        let app = Router::new().route("/v3/organizations/{org}/sessions", post(create).get(list)).with_state(recorded);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}"))
    }

    fn authorized(headers: &HeaderMap, org: &str) -> bool {
        let bearer = format!("Bearer {}", super::TOKEN);
        org == super::ORG && headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&bearer)
    }

    async fn create(
        State(recorded): State<Arc<Recorded>>,
        Path(org): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let arrived = Instant::now();
        if !authorized(&headers, &org) {
            recorded.refused.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::UNAUTHORIZED, Json(json!({"detail": "Missing or invalid API key"}))).into_response();
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let probe = body["prompt"].as_str().and_then(super::latency::probe_of);
        let n = {
            let mut creates = recorded.creates.lock().unwrap();
            creates.push((arrived, probe));
            creates.len()
        };
        let tags = body.get("tags").cloned().unwrap_or(json!([]));
        Json(json!({
            "session_id": format!("devin-bench{n:08}"),
            "url": format!("https://app.devin.ai/sessions/bench{n:08}"),
            "status": "new",
            "tags": tags,
            "created_at": 0,
        }))
        .into_response()
    }

    async fn list(State(recorded): State<Arc<Recorded>>, Path(org): Path<String>, headers: HeaderMap) -> Response {
        recorded.lists.fetch_add(1, Ordering::Relaxed);
        if !authorized(&headers, &org) {
            recorded.refused.fetch_add(1, Ordering::Relaxed);
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Json(json!({"items": [], "end_cursor": null, "has_next_page": false, "total": 0})).into_response()
    }
}

/// Phase 1: event-to-agent-call latency.
mod latency {
    use super::standin::{self, Recorded};
    use super::{connect, send, Server, DRAIN_LIMIT, KEY, LATENCY_CONNECTIONS, LATENCY_RATE, ORG, TOKEN_ENV};
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    const PROBE: &str = "latency-probe-";

    pub struct Outcome {
        pub sent: usize,
        pub accepted: usize,
        pub errors: usize,
        pub first_error: Option<String>,
        /// Accepted events per second, first send to last 202.
        pub per_second: f64,
        /// Sorted latencies (202 to create arrival) in microseconds, one per incident that got a session.
        pub latencies_us: Vec<u64>,
        pub sessions: usize,
        /// Incidents with exactly one session, more than one, none.
        pub exactly_one: usize,
        pub duplicated: usize,
        pub missing: usize,
        pub unmatched_creates: usize,
        pub refused: u64,
        pub lists: u64,
        /// Sessions per second over the window from the first create to the last.
        pub sessions_per_second: f64,
        pub peak_rss_mb: f64,
    }

    /// The probe number of a prompt carrying `latency-probe-NNNNNN`.
    pub fn probe_of(prompt: &str) -> Option<usize> {
        let start = prompt.find(PROBE)? + PROBE.len();
        prompt.get(start..start + 6)?.parse().ok()
    }

    fn config(base_url: &str) -> String {
        format!(
            r#"
[server]
public_url = "https://firehouse.example.com"

[dispatch]
poll_millis = 50

[[services]]
name = "bench"
integration_keys = ["{KEY}"]

[[rules]]
name = "triage"
on = ["triggered"]
actions = ["devin-triage"]

[actions.devin-triage]
type = "devin"
base_url = "{base_url}"
org_id = "{ORG}"
token_env = "{TOKEN_ENV}"
flow = "triage"
"#
        )
    }

    fn body(i: usize) -> String {
        format!(
            concat!(
                r#"{{"routing_key":"{key}","event_action":"trigger","dedup_key":"latency/{i}","#,
                r#""payload":{{"summary":"{probe}{i:06} Disk 95% full on db-{i}","source":"db-{i}.example.com","#,
                r#""severity":"critical","component":"postgresql"}}}}"#
            ),
            key = KEY,
            probe = PROBE,
            i = i
        )
    }

    pub async fn measure(dir: &Path, seconds: u64) -> anyhow::Result<Outcome> {
        let recorded = Arc::new(Recorded::default());
        let base_url = standin::start(recorded.clone()).await?;
        let server = Server::start(dir, "latency", &config(&base_url))?;
        let addr = server.addr;
        let total = (LATENCY_RATE * seconds) as usize;
        let interval = Duration::from_secs_f64(1.0 / LATENCY_RATE as f64);
        let acks: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
        let errors = Arc::new(Mutex::new((0usize, None::<String>)));
        let start = Instant::now() + Duration::from_millis(200);
        let tasks: Vec<_> = (0..LATENCY_CONNECTIONS)
            .map(|c| {
                let (acks, errors) = (acks.clone(), errors.clone());
                tokio::spawn(async move {
                    let mut sender = None;
                    for i in (c..total).step_by(LATENCY_CONNECTIONS) {
                        tokio::time::sleep_until((start + interval * i as u32).into()).await;
                        if sender.is_none() {
                            sender = connect(addr).await.ok();
                        }
                        let result = match sender.as_mut() {
                            Some(s) => send(s, addr, body(i)).await,
                            None => Err("cannot connect".to_owned()),
                        };
                        let now = Instant::now();
                        match result {
                            Ok(()) => acks.lock().unwrap()[i] = Some(now),
                            Err(e) => {
                                sender = None;
                                let mut errors = errors.lock().unwrap();
                                errors.0 += 1;
                                errors.1.get_or_insert(e);
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let acks = acks.lock().unwrap().clone();
        let accepted = acks.iter().flatten().count();
        let last_ack = acks.iter().flatten().max().copied().unwrap_or(start);
        let per_second = accepted as f64 / (last_ack - start).as_secs_f64();

        // Wait for every accepted incident's session, stopping at the limit.
        let drain_start = Instant::now();
        while recorded.creates.lock().unwrap().len() < accepted && drain_start.elapsed() < DRAIN_LIMIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A little longer, so a duplicate create would be seen too.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let peak_rss_mb = server.peak_rss_mb();
        drop(server);

        let creates = recorded.creates.lock().unwrap().clone();
        let mut per_probe = vec![0usize; total];
        let mut latencies_us = Vec::new();
        let mut unmatched_creates = 0;
        for (arrived, probe) in &creates {
            match probe.filter(|&p| p < total) {
                Some(p) => {
                    per_probe[p] += 1;
                    if per_probe[p] == 1 {
                        if let Some(ack) = acks[p] {
                            latencies_us.push(arrived.saturating_duration_since(ack).as_micros() as u64);
                        }
                    }
                }
                None => unmatched_creates += 1,
            }
        }
        latencies_us.sort_unstable();
        let with_ack = |f: &dyn Fn(usize) -> bool| (0..total).filter(|&i| acks[i].is_some() && f(per_probe[i])).count();
        let first = creates.first().map(|c| c.0);
        let last = creates.last().map(|c| c.0);
        let sessions_per_second = match (first, last) {
            (Some(f), Some(l)) if l > f => creates.len() as f64 / (l - f).as_secs_f64(),
            _ => 0.0,
        };
        let (error_count, first_error) = errors.lock().unwrap().clone();
        Ok(Outcome {
            sent: total,
            accepted,
            errors: error_count,
            first_error,
            per_second,
            latencies_us,
            sessions: creates.len(),
            exactly_one: with_ack(&|n| n == 1),
            duplicated: with_ack(&|n| n > 1),
            missing: with_ack(&|n| n == 0),
            unmatched_creates,
            refused: recorded.refused.load(Ordering::Relaxed),
            lists: recorded.lists.load(Ordering::Relaxed),
            sessions_per_second,
            peak_rss_mb,
        })
    }
}

/// Phase 2: ingest throughput, grouping on or off.
mod throughput {
    use super::{connect, incident_total, send, Server, KEY, LOAD_CONNECTIONS, LOAD_WARMUP, SOURCES};
    use std::path::Path;
    use std::time::{Duration, Instant};

    pub struct Row {
        pub grouping: bool,
        pub ok: u64,
        pub ok_total: u64,
        pub errors: u64,
        pub first_error: Option<String>,
        pub seconds: f64,
        pub latencies_us: Vec<u64>,
        pub incidents: u64,
        pub peak_rss_mb: f64,
    }

    impl Row {
        pub fn per_second(&self) -> f64 {
            self.ok as f64 / self.seconds
        }
    }

    fn config(grouping: bool) -> String {
        let grouping = if grouping { "\n[services.grouping]\nby = [\"source\"]\nwindow_seconds = 300\n" } else { "" };
        format!("[[services]]\nname = \"bench\"\nintegration_keys = [\"{KEY}\"]\n{grouping}")
    }

    /// A v2 trigger with a dedup key of its own and a source from a pool of [`SOURCES`] hosts.
    fn body(connection: usize, seq: u64) -> String {
        let source = (seq * 7 + connection as u64 * 13) % SOURCES;
        format!(
            concat!(
                r#"{{"routing_key":"{key}","event_action":"trigger","dedup_key":"load/{c}/{seq}","#,
                r#""payload":{{"summary":"Disk usage high on /var/lib/postgresql at db-{source:03}.example.com","#,
                r#""source":"db-{source:03}.example.com","severity":"critical","component":"postgresql","#,
                r#""group":"prod-eu-west-1","class":"disk","custom_details":{{"alertname":"DiskSpaceLow","#,
                r#""value":"{seq}","threshold":"90"}}}}}}"#
            ),
            key = KEY,
            c = connection,
            seq = seq,
            source = source
        )
    }

    pub async fn measure(dir: &Path, grouping: bool, seconds: u64) -> anyhow::Result<Row> {
        let name = if grouping { "grouping-on" } else { "grouping-off" };
        let server = Server::start(dir, name, &config(grouping))?;
        let addr = server.addr;
        let measure_from = Instant::now() + LOAD_WARMUP;
        let until = measure_from + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..LOAD_CONNECTIONS)
            .map(|c| {
                tokio::spawn(async move {
                    let (mut ok, mut ok_total, mut errors, mut first_error, mut lat) = (0u64, 0u64, 0u64, None, vec![]);
                    let mut sender = None;
                    let mut seq = 0u64;
                    while Instant::now() < until {
                        if sender.is_none() {
                            sender = connect(addr).await.ok();
                            if sender.is_none() {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        }
                        seq += 1;
                        let started = Instant::now();
                        let result = send(sender.as_mut().expect("connected"), addr, body(c, seq)).await;
                        let done = Instant::now();
                        ok_total += u64::from(result.is_ok());
                        let counted = done >= measure_from && done <= until;
                        match result {
                            Ok(()) if counted => ok += 1,
                            Ok(()) => {}
                            Err(e) => {
                                sender = None;
                                if counted {
                                    errors += 1;
                                    first_error.get_or_insert(e);
                                }
                            }
                        }
                        if counted {
                            lat.push((done - started).as_micros() as u64);
                        }
                    }
                    (ok, ok_total, errors, first_error, lat)
                })
            })
            .collect();
        let mut row = Row {
            grouping,
            ok: 0,
            ok_total: 0,
            errors: 0,
            first_error: None,
            seconds: seconds as f64,
            latencies_us: Vec::new(),
            incidents: 0,
            peak_rss_mb: 0.0,
        };
        for task in tasks {
            let (ok, ok_total, errors, first_error, lat) = task.await?;
            row.ok += ok;
            row.ok_total += ok_total;
            row.errors += errors;
            row.first_error = row.first_error.take().or(first_error);
            row.latencies_us.extend(lat);
        }
        row.latencies_us.sort_unstable();
        row.incidents = incident_total(addr).await?;
        row.peak_rss_mb = server.peak_rss_mb();
        if row.ok == 0 {
            anyhow::bail!("{name}: no request succeeded ({} errors; first: {:?})", row.errors, row.first_error);
        }
        Ok(row)
    }
}

fn render(l: &latency::Outcome, rows: &[throughput::Row], seconds: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Responders: event-to-agent-call latency, and ingest with grouping\n");
    let _ = writeln!(out, "- Date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "- Machine: {}", shared::machine());
    let _ = writeln!(
        out,
        "- Reproduce: `cargo bench --bench responders` (env `{SECONDS_ENV}` sets the seconds per phase, default \
         {DEFAULT_SECONDS}; this run: {seconds} s)"
    );
    let _ = writeln!(
        out,
        "- Server: the release `firehouse serve` over a fresh SQLite database, `--config` in a temp dir, \
         `FIREHOUSE_LOG=warn`; a new process per run.\n"
    );

    let _ = writeln!(out, "### Event to agent call\n");
    let _ = writeln!(
        out,
        "One service, one rule on `triggered` with a `type = \"devin\"` action (`flow = \"triage\"`) pointing at a \
         local Devin API v3 stand-in in the bench process; `[dispatch] poll_millis = 50`. {} v2 critical triggers with \
         distinct dedup keys and unique summaries, paced at {LATENCY_RATE}/s over {LATENCY_CONNECTIONS} keep-alive \
         connections. Latency = arrival of the session create whose prompt carries the incident's summary, minus \
         the arrival of the event's 202 (same clock).\n",
        l.sent
    );
    let _ = writeln!(
        out,
        "| events sent | accepted (202) | events/s achieved | sessions created | p50 ms | p99 ms | max ms | sessions/s |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.0} |\n",
        l.sent,
        l.accepted,
        l.per_second,
        l.sessions,
        quantile_ms(&l.latencies_us, 0.5),
        quantile_ms(&l.latencies_us, 0.99),
        quantile_ms(&l.latencies_us, 1.0),
        l.sessions_per_second
    );
    let verdict =
        if l.exactly_one == l.accepted && l.duplicated == 0 && l.unmatched_creates == 0 { "yes" } else { "**no**" };
    let _ = writeln!(
        out,
        "Exactly one session per incident: {verdict} ({} incidents with one session, {} with more, {} with none, {} \
         creates matching no event; {} intake errors, {} refused stand-in calls, {} list calls). Server peak RSS \
         {:.1} MB.",
        l.exactly_one, l.duplicated, l.missing, l.unmatched_creates, l.errors, l.refused, l.lists, l.peak_rss_mb
    );
    if let Some(e) = &l.first_error {
        let _ = writeln!(out, "\nFirst intake error: `{e}`");
    }
    out.push('\n');

    let _ = writeln!(out, "### Ingest with grouping on and off\n");
    let _ = writeln!(
        out,
        "{LOAD_CONNECTIONS} keep-alive connections, one request in flight each, as fast as answered; {} s warm-up then \
         {seconds} s counted. Every event is a v2 critical trigger with a new dedup key and a source drawn from {SOURCES} \
         hosts. Both runs configure one service with the load's key; they differ only in `[services.grouping] by = \
         [\"source\"] window_seconds = 300`. No rules.\n",
        LOAD_WARMUP.as_secs()
    );
    let _ = writeln!(
        out,
        "| grouping | events/s | p50 ms | p99 ms | max ms | incidents | events stored | errors | peak RSS MB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {:.1} |",
            if r.grouping { "on (by source, 300 s)" } else { "off" },
            r.per_second(),
            quantile_ms(&r.latencies_us, 0.5),
            quantile_ms(&r.latencies_us, 0.99),
            quantile_ms(&r.latencies_us, 1.0),
            r.incidents,
            r.ok_total,
            r.errors,
            r.peak_rss_mb
        );
    }
    if let [off, on] = rows {
        let _ = writeln!(
            out,
            "\nGrouping on / off throughput: {:.2}. Notes: incidents with grouping off equal the events (every dedup key \
             is new); with it on, events from a source with an open incident join it (`grouped`), so few incidents \
             are opened. Numbers from a short run on a shared machine; compare rows within one run, not across runs.",
            on.per_second() / off.per_second()
        );
    }
    for r in rows.iter().filter(|r| r.first_error.is_some()) {
        let _ = writeln!(out, "\nFirst error (grouping {}): `{}`", r.grouping, r.first_error.as_deref().unwrap_or(""));
    }
    out
}
