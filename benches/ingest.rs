//! Ingest benchmark: how many Events API v2 triggers per second Firehouse answers (each one committed durably),
//! measured against a bare axum handler in the same run on the same machine, with latency and server memory.
//!
//! The ratio between the two rows is the number that matters: absolute numbers depend on the machine, the ratio says
//! what parsing, deduplication and the durable group commit cost on top of HTTP itself.
//!
//! `cargo bench --bench ingest` prints a Markdown report and writes it into `BENCHMARKS.md`. Environment:
//! `FIREHOUSE_BENCH_SECONDS` (measured seconds per row, default 10) and `FIREHOUSE_BENCH_POSTGRES_URL` (adds a row for
//! that database; skipped when unset).
//!
//! Every server runs as a child process of its own, so its RSS and CPU time are its own and not the load generator's.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod shared;

/// Set in the environment of the re-executed bench binary to make it the bare server instead of the benchmark.
const BARE_ENV: &str = "FIREHOUSE_BENCH_BARE";
/// Measured seconds per row, overriding [`DEFAULT_SECONDS`].
const SECONDS_ENV: &str = "FIREHOUSE_BENCH_SECONDS";
/// A PostgreSQL URL of an empty database; when set, Firehouse is measured over it too (the incident count is checked
/// against the events sent, so leftovers of an earlier run would fail the check).
const POSTGRES_ENV: &str = "FIREHOUSE_BENCH_POSTGRES_URL";
/// Long enough for several hundred thousand events, short enough to run on a shared machine.
const DEFAULT_SECONDS: u64 = 10;
/// Lets connections open, the allocator and the database settle before anything is counted.
const WARMUP: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    if std::env::var_os(BARE_ENV).is_some() {
        return bare::serve();
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures every row, then prints the report and stores it in `BENCHMARKS.md`.
fn run() -> anyhow::Result<()> {
    let measured = Duration::from_secs(measured_seconds()?);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the load generator's runtime")?;
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).context("cannot create a database directory")?;
    let mut rows = Vec::new();
    for target in targets(scratch.path()) {
        eprintln!(
            "ingest bench: {} for {} s after {} s of warm-up…",
            target.name,
            measured.as_secs(),
            WARMUP.as_secs()
        );
        let row = runtime.block_on(measure(&target, measured))?;
        eprintln!("ingest bench: {} done: {:.0} events/s", row.name, row.load.per_second());
        rows.push(row);
    }
    let text = report::render(&rows, measured);
    println!("{text}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    report::store(&path, &text)?;
    eprintln!("ingest bench: wrote {}", path.display());
    Ok(())
}

/// The measured duration per row, from [`SECONDS_ENV`] or the default.
fn measured_seconds() -> anyhow::Result<u64> {
    match std::env::var(SECONDS_ENV) {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{SECONDS_ENV} must be a positive number of seconds, not {s:?}"),
        },
        Err(_) => Ok(DEFAULT_SECONDS),
    }
}

/// One server to measure: one row of the table.
struct Target {
    /// The row's name.
    name: &'static str,
    /// How to start it.
    kind: TargetKind,
}

enum TargetKind {
    /// The bench binary itself, as the bare server.
    Bare,
    /// The real `firehouse serve` over a database URL.
    Firehouse {
        /// sqlx-style URL given to `--database`.
        database_url: String,
        /// The database file, for SQLite, to report its size on disk.
        file: Option<PathBuf>,
    },
}

/// The rows of this run: bare, Firehouse over SQLite in `scratch`, and PostgreSQL when a URL is given.
fn targets(scratch: &Path) -> Vec<Target> {
    let db = scratch.join("bench.db");
    let sqlite_url = format!("sqlite://{}?mode=rwc", db.display());
    let mut targets = vec![
        Target { name: "bare", kind: TargetKind::Bare },
        Target { name: "firehouse-sqlite", kind: TargetKind::Firehouse { database_url: sqlite_url, file: Some(db) } },
    ];
    if let Some(url) = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.trim().is_empty()) {
        targets
            .push(Target { name: "firehouse-postgres", kind: TargetKind::Firehouse { database_url: url, file: None } });
    }
    targets
}

/// Everything measured for one row.
struct Row {
    /// The target's name.
    name: &'static str,
    /// What the load generator saw.
    load: load::Outcome,
    /// CPU and RSS of the server (and the load generator's CPU) over the measured window.
    usage: process::Usage,
    /// The server's memory just before it was stopped.
    memory: process::Memory,
    /// For Firehouse: what it stored.
    stored: Option<Stored>,
}

/// What a Firehouse server reports it stored, read after the load ended.
struct Stored {
    /// `total` of `GET /api/v1/incidents`.
    incidents: u64,
    /// Bytes of the SQLite file with its WAL and shared-memory files; `None` for a server database.
    database_bytes: Option<u64>,
    /// Events per commit they were answered after (warm-up included): `firehouse_inbox_batch_size` where events go
    /// through the inbox (SQLite), else `firehouse_ingest_batch_size`.
    batches: Option<probe::HistogramSummary>,
    /// `firehouse_ingest_batch_size` where events go through the inbox: events per transaction that applied them.
    applied_batches: Option<probe::HistogramSummary>,
    /// From the end of the load until the first read answered: reads wait until every answered event is applied.
    settled_after: Duration,
    /// `firehouse_http_request_duration_seconds` of `POST /v2/enqueue`: time spent inside the server.
    server_latency: Option<probe::HistogramSummary>,
}

/// Starts the target's server, loads it, reads what it stored and its memory, and stops it.
async fn measure(target: &Target, measured: Duration) -> anyhow::Result<Row> {
    let server = match &target.kind {
        TargetKind::Bare => process::Server::start_bare()?,
        TargetKind::Firehouse { database_url, .. } => process::Server::start_firehouse(database_url)?,
    };
    let plan = load::Plan::starting_now(WARMUP, measured);
    let watcher = tokio::spawn(process::watch(server.pid(), plan));
    let load = load::run(server.addr(), plan).await;
    let usage = watcher.await.context("the usage watcher panicked")??;
    let load_ended = std::time::Instant::now();
    let stored = match &target.kind {
        TargetKind::Bare => None,
        TargetKind::Firehouse { .. } => Some(read_stored(server.addr(), load_ended).await?),
    };
    let memory = server.memory()?;
    server.stop()?;
    let stored = stored.map(|s| Stored { database_bytes: database_bytes(&target.kind), ..s });
    let row = Row { name: target.name, load, usage, memory, stored };
    check_plausible(&row)?;
    Ok(row)
}

/// Asks a running Firehouse how many incidents it holds and how its batches went.
async fn read_stored(addr: std::net::SocketAddr, load_ended: std::time::Instant) -> anyhow::Result<Stored> {
    let incidents = probe::incident_total(addr).await?;
    let settled_after = load_ended.elapsed();
    let metrics = probe::metrics(addr).await?;
    let applied = probe::HistogramSummary::parse(&metrics, "firehouse_ingest_batch_size", "");
    let answered = probe::HistogramSummary::parse(&metrics, "firehouse_inbox_batch_size", "").filter(|b| b.count > 0.0);
    Ok(Stored {
        incidents,
        database_bytes: None,
        batches: answered.or(applied),
        applied_batches: answered.and(applied),
        settled_after,
        server_latency: probe::HistogramSummary::parse(
            &metrics,
            "firehouse_http_request_duration_seconds",
            "route=\"/v2/enqueue\"",
        ),
    })
}

/// The SQLite database's size on disk after the server stopped: the file plus its `-wal` and `-shm` companions.
fn database_bytes(kind: &TargetKind) -> Option<u64> {
    let TargetKind::Firehouse { file: Some(file), .. } = kind else { return None };
    let sizes = ["", "-wal", "-shm"].iter().map(|suffix| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::fs::metadata(name).map(|m| m.len()).unwrap_or(0)
    });
    Some(sizes.sum())
}

/// Refuses to record numbers from a run that stored nothing: a fast server that drops events is no result.
fn check_plausible(row: &Row) -> anyhow::Result<()> {
    if row.load.ok == 0 {
        bail!("{}: no request succeeded ({} errors; first: {:?})", row.name, row.load.errors, row.load.first_error);
    }
    if let Some(stored) = &row.stored {
        if stored.incidents == 0 || stored.incidents > row.load.ok_total {
            bail!(
                "{}: {} incidents after {} accepted events is not plausible",
                row.name,
                stored.incidents,
                row.load.ok_total
            );
        }
    }
    Ok(())
}

/// The bare server: the floor that any handler doing real work is compared with.
mod bare {
    use axum::body::Bytes;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use axum::Router;
    use std::process::ExitCode;

    /// Firehouse's own success body for a v2 event, so both servers send the same bytes back.
    const ANSWER: &str = r#"{"status":"success","message":"Event processed","dedup_key":"bench"}"#;

    /// Serves `POST /v2/enqueue` on an ephemeral port, announcing the address on stdout, until killed.
    ///
    /// Same runtime as `firehouse` (multi-threaded, one worker per core), so the comparison is of handlers only.
    pub fn serve() -> ExitCode {
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bare server: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(listen()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bare server: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn listen() -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("bare listening on http://{}", listener.local_addr()?);
        axum::serve(listener, Router::new().route("/v2/enqueue", post(enqueue))).await
    }

    /// Takes the whole body (as any real handler must) and answers a fixed 202.
    async fn enqueue(body: Bytes) -> impl IntoResponse {
        drop(body);
        (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], ANSWER)
    }
}

/// Server processes: starting, watching and stopping them, from the outside through `/proc`.
mod process {
    use super::load::Plan;
    use anyhow::{bail, Context};
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Child, ChildStdout, Command, Stdio};
    use std::time::{Duration, Instant};

    /// How long a stopped server may take to finish in-flight work before it is killed.
    const STOP_GRACE: Duration = Duration::from_secs(30);
    /// How often the server's RSS is sampled while loaded.
    const RSS_EVERY: Duration = Duration::from_secs(1);

    /// A running server, killed when dropped so that a failed run leaves no process behind.
    pub struct Server {
        child: Child,
        addr: SocketAddr,
        /// Kept open: a server writing to a closed pipe would fail.
        _stdout: BufReader<ChildStdout>,
    }

    impl Server {
        /// Re-executes this bench binary as the bare server.
        pub fn start_bare() -> anyhow::Result<Self> {
            let exe = std::env::current_exe().context("cannot find the bench binary")?;
            let mut command = Command::new(exe);
            command.env(super::BARE_ENV, "1");
            Self::start(command)
        }

        /// Starts the release `firehouse serve` on an ephemeral port over `database_url`.
        pub fn start_firehouse(database_url: &str) -> anyhow::Result<Self> {
            let mut command = Command::new(env!("CARGO_BIN_EXE_firehouse"));
            command.args(["serve", "--listen", "127.0.0.1:0", "--database", database_url]);
            // No configuration file: run in open mode whatever the working directory holds.
            command.current_dir(env!("CARGO_TARGET_TMPDIR")).env("FIREHOUSE_LOG", "warn");
            Self::start(command)
        }

        /// Spawns `command` and waits for the `… listening on http://ADDR` line it prints when ready.
        fn start(mut command: Command) -> anyhow::Result<Self> {
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
            let mut child = command.spawn().with_context(|| format!("cannot start {command:?}"))?;
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
            let addr = match read_address(&mut stdout) {
                Ok(addr) => addr,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.context(format!("{command:?} did not start")));
                }
            };
            Ok(Server { child, addr, _stdout: stdout })
        }

        /// The address it listens on.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        /// Its process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Its resident memory now and at its peak.
        pub fn memory(&self) -> anyhow::Result<Memory> {
            Memory::of(self.pid())
        }

        /// Asks it to stop (SIGTERM, as an operator would), waits for it, and kills it if it does not stop in time.
        pub fn stop(mut self) -> anyhow::Result<()> {
            let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status()?;
            if !status.success() {
                bail!("could not send SIGTERM to {}", self.pid());
            }
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if self.child.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            bail!("the server did not stop within {} s of SIGTERM", STOP_GRACE.as_secs())
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }

    /// Reads stdout lines until one announces `listening on http://ADDR`.
    fn read_address(stdout: &mut impl BufRead) -> anyhow::Result<SocketAddr> {
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                bail!("it exited without announcing its address");
            }
            if let Some((_, addr)) = line.trim().split_once("listening on http://") {
                return addr.parse().with_context(|| format!("bad address in {line:?}"));
            }
        }
    }

    /// A process's resident memory, from `/proc/PID/status`.
    #[derive(Debug, Clone, Copy)]
    pub struct Memory {
        /// `VmRSS`: resident now, in KiB.
        pub rss_kib: u64,
        /// `VmHWM`: the most that was ever resident, in KiB.
        pub peak_kib: u64,
    }

    impl Memory {
        /// Reads both numbers for `pid`.
        pub fn of(pid: u32) -> anyhow::Result<Self> {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            let field = |name: &str| -> anyhow::Result<u64> {
                let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
                let kib = line[name.len()..].trim().trim_end_matches("kB").trim();
                Ok(kib.parse()?)
            };
            Ok(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
        }
    }

    /// CPU and memory over the measured window.
    #[derive(Debug, Default)]
    pub struct Usage {
        /// Server CPU time over the window, as a percentage of one core (two busy cores make 200).
        pub server_cpu_percent: f64,
        /// The same for this process, the load generator.
        pub load_cpu_percent: f64,
        /// The server's VmRSS in KiB, sampled once a second from the start of the window to its end.
        pub rss_samples_kib: Vec<u64>,
    }

    /// Watches the server `pid` during `plan`'s measured window: CPU at both ends, RSS every second.
    pub async fn watch(pid: u32, plan: Plan) -> anyhow::Result<Usage> {
        tokio::time::sleep_until(plan.measure_from.into()).await;
        let ticks_per_second = clock_ticks_per_second();
        let (server_start, load_start, started) = (cpu_ticks(pid)?, cpu_ticks(std::process::id())?, Instant::now());
        let mut rss_samples_kib = vec![Memory::of(pid)?.rss_kib];
        while Instant::now() + RSS_EVERY <= plan.until {
            tokio::time::sleep(RSS_EVERY).await;
            rss_samples_kib.push(Memory::of(pid)?.rss_kib);
        }
        tokio::time::sleep_until(plan.until.into()).await;
        let seconds = started.elapsed().as_secs_f64();
        let percent = |ticks: u64| 100.0 * ticks as f64 / ticks_per_second / seconds;
        Ok(Usage {
            server_cpu_percent: percent(cpu_ticks(pid)? - server_start),
            load_cpu_percent: percent(cpu_ticks(std::process::id())? - load_start),
            rss_samples_kib,
        })
    }

    /// User plus system CPU time of `pid`, in clock ticks, from `/proc/PID/stat`.
    fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name may hold spaces and parentheses; the fields after its closing one are fixed.
        let after_name = &stat[stat.rfind(')').context("malformed stat")? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5), so 11 and 12 after the name and state.
        Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
    }

    /// `sysconf(_SC_CLK_TCK)` through `getconf`, to avoid a libc binding for one number; Linux uses 100.
    fn clock_ticks_per_second() -> f64 {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    }
}

/// The load generator: keep-alive HTTP/1.1 connections sending v2 triggers as fast as they are answered.
mod load {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::client::conn::http1::{self, SendRequest};
    use hyper::header::{CONTENT_TYPE, HOST};
    use hyper::Request;
    use hyper_util::rt::TokioIo;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    /// Concurrent connections, each with one request in flight: a busy Alertmanager fleet's worth.
    pub const CONNECTIONS: usize = 64;
    /// About one event in this many repeats a dedup key already sent (an alert firing again); the rest are new.
    const REPEAT_ONE_IN: u64 = 4;
    /// A connection that failed waits this long before reconnecting, so a dead server is not spun on.
    const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

    /// When the load runs: warm-up until `measure_from`, then the counted window until `until`.
    #[derive(Debug, Clone, Copy)]
    pub struct Plan {
        /// End of the warm-up, start of the counted window.
        pub measure_from: Instant,
        /// End of the counted window; no request is sent after it.
        pub until: Instant,
    }

    impl Plan {
        /// A plan starting now.
        pub fn starting_now(warmup: Duration, measured: Duration) -> Self {
            let measure_from = Instant::now() + warmup;
            Plan { measure_from, until: measure_from + measured }
        }

        /// The counted window's length.
        pub fn window(&self) -> Duration {
            self.until - self.measure_from
        }
    }

    /// What the load generator saw over one run.
    #[derive(Debug, Default)]
    pub struct Outcome {
        /// 2xx answers completed in the counted window.
        pub ok: u64,
        /// Non-2xx answers and failed requests completed in the counted window.
        pub errors: u64,
        /// 2xx answers over the whole run, warm-up included: events the server accepted.
        pub ok_total: u64,
        /// Of those, events carrying a dedup key not sent before: each should be one incident.
        pub new_keys_total: u64,
        /// The first error, to say what went wrong.
        pub first_error: Option<String>,
        /// Latency of every request counted in the window, in microseconds, sorted.
        pub latencies_us: Vec<u32>,
        /// The counted window's length in seconds.
        pub seconds: f64,
    }

    impl Outcome {
        /// Successful events per second in the window.
        pub fn per_second(&self) -> f64 {
            self.ok as f64 / self.seconds
        }

        /// The latency below which `q` (0–1) of the counted requests completed, in milliseconds (nearest rank).
        pub fn quantile_ms(&self, q: f64) -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).clamp(1, self.latencies_us.len());
            f64::from(self.latencies_us[rank - 1]) / 1000.0
        }

        /// The slowest counted request, in milliseconds.
        pub fn max_ms(&self) -> f64 {
            self.latencies_us.last().map_or(0.0, |&us| f64::from(us) / 1000.0)
        }

        fn merge(&mut self, other: Outcome) {
            self.ok += other.ok;
            self.errors += other.errors;
            self.ok_total += other.ok_total;
            self.new_keys_total += other.new_keys_total;
            self.first_error = self.first_error.take().or(other.first_error);
            self.latencies_us.extend(other.latencies_us);
        }
    }

    /// Runs [`CONNECTIONS`] connections against `addr` following `plan`, and merges what they saw.
    pub async fn run(addr: SocketAddr, plan: Plan) -> Outcome {
        let tasks: Vec<_> = (0..CONNECTIONS).map(|id| tokio::spawn(connection(addr, id, plan))).collect();
        let mut total = Outcome { seconds: plan.window().as_secs_f64(), ..Outcome::default() };
        for task in tasks {
            match task.await {
                Ok(outcome) => total.merge(outcome),
                Err(e) => total.merge(Outcome { errors: 1, first_error: Some(e.to_string()), ..Outcome::default() }),
            }
        }
        total.latencies_us.sort_unstable();
        total
    }

    /// One keep-alive connection sending one request at a time until the plan ends, reconnecting after failures.
    async fn connection(addr: SocketAddr, id: usize, plan: Plan) -> Outcome {
        let mut events = Events::new(id);
        let mut outcome = Outcome::default();
        let mut sender: Option<SendRequest<Full<Bytes>>> = None;
        while Instant::now() < plan.until {
            if sender.is_none() {
                match connect(addr).await {
                    Ok(s) => sender = Some(s),
                    Err(e) => {
                        let now = Instant::now();
                        outcome.count(&Err(e), false, now, now, plan);
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                        continue;
                    }
                }
            }
            let (body, new_key) = events.next_body();
            let started = Instant::now();
            let result = send(sender.as_mut().expect("connected above"), addr, body).await;
            outcome.count(&result, new_key, started, Instant::now(), plan);
            if result.is_err() {
                // The connection may be broken (or the server closed it): start a new one.
                sender = None;
            }
        }
        outcome
    }

    impl Outcome {
        /// Counts one finished request: always towards the totals, and in the window if it completed inside it.
        fn count(&mut self, result: &Result<(), String>, new_key: bool, started: Instant, done: Instant, plan: Plan) {
            if result.is_ok() {
                self.ok_total += 1;
                self.new_keys_total += u64::from(new_key);
            }
            if done < plan.measure_from || done > plan.until {
                return;
            }
            match result {
                Ok(()) => self.ok += 1,
                Err(e) => {
                    self.errors += 1;
                    self.first_error.get_or_insert_with(|| e.clone());
                }
            }
            self.latencies_us.push(u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX));
        }
    }

    /// Opens a connection with Nagle off (as HTTP clients do) and drives it on its own task.
    async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Sends one `POST /v2/enqueue`, reads the whole answer, and says whether it was a 2xx.
    async fn send(sender: &mut SendRequest<Full<Bytes>>, addr: SocketAddr, body: Bytes) -> Result<(), String> {
        let request = Request::post("/v2/enqueue")
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
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

    /// The events of one connection: realistic v2 triggers, each new dedup key describing one alert, and about one
    /// in [`REPEAT_ONE_IN`] repeating a key this connection already sent, as a re-firing alert does.
    struct Events {
        connection: usize,
        /// Dedup keys handed out so far; key `i` is `i` in `0..new_keys`.
        new_keys: u64,
        /// Events made so far, to vary the measured value.
        made: u64,
        /// xorshift64 state: deterministic, so every run sends the same events.
        rng: u64,
    }

    impl Events {
        fn new(connection: usize) -> Self {
            Events { connection, new_keys: 0, made: 0, rng: 0x9E37_79B9_7F4A_7C15 ^ (connection as u64 + 1) }
        }

        /// The next body, and whether its dedup key is new.
        fn next_body(&mut self) -> (Bytes, bool) {
            self.made += 1;
            let repeat = self.new_keys > 0 && self.random().is_multiple_of(REPEAT_ONE_IN);
            let key = if repeat { self.random() % self.new_keys } else { self.new_keys };
            if !repeat {
                self.new_keys += 1;
            }
            (Bytes::from(crate::shared::trigger_body(self.connection, key, self.made)), !repeat)
        }

        fn random(&mut self) -> u64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng
        }
    }
}

/// Small HTTP reads of a running Firehouse after the load: incident count and metrics.
mod probe {
    use anyhow::{bail, Context};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper::header::HOST;
    use hyper::Request;
    use hyper_util::rt::TokioIo;
    use std::net::SocketAddr;

    /// `total` of `GET /api/v1/incidents?limit=1`: how many incidents the server holds.
    pub async fn incident_total(addr: SocketAddr) -> anyhow::Result<u64> {
        let body = get(addr, "/api/v1/incidents?limit=1").await?;
        let page: serde_json::Value = serde_json::from_slice(&body).context("incident list is not JSON")?;
        page["total"].as_u64().with_context(|| format!("no total in {page}"))
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(addr: SocketAddr) -> anyhow::Result<String> {
        Ok(String::from_utf8_lossy(&get(addr, "/metrics").await?).into_owned())
    }

    /// One GET over a fresh connection; the body of a 2xx answer.
    async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Bytes> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::get(path).header(HOST, addr.to_string()).body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// Count, mean and median bucket of one Prometheus histogram (summed over the series `filter` selects).
    #[derive(Debug, Clone, Copy)]
    pub struct HistogramSummary {
        /// Observations.
        pub count: f64,
        /// Their sum.
        pub sum: f64,
        /// The upper bound of the bucket holding the median observation.
        pub median_bucket: f64,
    }

    impl HistogramSummary {
        /// The mean observation.
        pub fn mean(&self) -> f64 {
            if self.count > 0.0 {
                self.sum / self.count
            } else {
                0.0
            }
        }

        /// Reads histogram `name` from exposition `text`, adding up the series whose labels contain `filter`.
        pub fn parse(text: &str, name: &str, filter: &str) -> Option<Self> {
            let mut buckets: Vec<(f64, f64)> = Vec::new();
            let (mut count, mut sum) = (0.0, 0.0);
            for line in text.lines().filter(|l| l.starts_with(name) && l.contains(filter)) {
                let (series, value) = line.rsplit_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let suffix = &series[name.len()..];
                if suffix.starts_with("_count") {
                    count += value;
                } else if suffix.starts_with("_sum") {
                    sum += value;
                } else if suffix.starts_with("_bucket") {
                    add_bucket(&mut buckets, bucket_bound(suffix)?, value);
                }
            }
            (count > 0.0).then(|| HistogramSummary { count, sum, median_bucket: median_bound(&buckets, count) })
        }
    }

    /// The `le` label of a bucket series, `+Inf` included.
    fn bucket_bound(series: &str) -> Option<f64> {
        let start = series.find("le=\"")? + 4;
        let end = start + series[start..].find('"')?;
        match &series[start..end] {
            "+Inf" => Some(f64::INFINITY),
            bound => bound.parse().ok(),
        }
    }

    /// Adds a cumulative bucket count to the bucket with the same bound (series differing in other labels).
    fn add_bucket(buckets: &mut Vec<(f64, f64)>, bound: f64, value: f64) {
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, total)) => *total += value,
            None => buckets.push((bound, value)),
        }
    }

    /// The smallest bound whose cumulative count reaches half the observations.
    fn median_bound(buckets: &[(f64, f64)], count: f64) -> f64 {
        let mut sorted = buckets.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        sorted.iter().find(|(_, cumulative)| *cumulative >= count / 2.0).map_or(f64::INFINITY, |(bound, _)| *bound)
    }
}

/// The Markdown report and its place in `BENCHMARKS.md`.
mod report {
    use super::load::CONNECTIONS;
    use super::Row;
    use std::fmt::Write as _;
    use std::path::Path;
    use std::time::Duration;

    /// The section this benchmark owns in `BENCHMARKS.md`; everything outside the markers is left as it is.
    const BEGIN: &str = "<!-- ingest-bench:begin (written by `cargo bench --bench ingest`; edits inside are lost) -->";
    const END: &str = "<!-- ingest-bench:end -->";
    /// Firehouse must keep at least this share of the bare handler's throughput.
    const TARGET_RATIO: f64 = 0.4;
    /// Firehouse's p99 latency must stay under this, in milliseconds.
    const TARGET_P99_MS: f64 = 10.0;
    /// Firehouse's peak RSS must stay under this, in MB.
    const TARGET_RSS_MB: f64 = 100.0;

    /// The whole section: setup, results, targets, where the time goes, memory.
    pub fn render(rows: &[Row], measured: Duration) -> String {
        let mut out = String::new();
        header(&mut out, measured);
        results(&mut out, rows);
        targets(&mut out, rows);
        time(&mut out, rows);
        memory(&mut out, rows);
        out
    }

    /// Writes `section` into `path` between this bench's markers, replacing the previous one or appending it.
    pub fn store(path: &Path, section: &str) -> std::io::Result<()> {
        crate::shared::store_section(path, BEGIN, END, section)
    }

    fn header(out: &mut String, measured: Duration) {
        let sample = crate::shared::trigger_body(0, 0, 1).len();
        let _ = writeln!(out, "## Ingest: `POST /v2/enqueue` throughput\n");
        let _ = writeln!(out, "- Date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
        let _ = writeln!(out, "- Machine: {}", crate::shared::machine());
        if let Some(revision) = crate::shared::revision() {
            let _ = writeln!(out, "- Firehouse: {revision}");
        }
        let _ = writeln!(
            out,
            "- Reproduce: `cargo bench --bench ingest` (env `FIREHOUSE_BENCH_SECONDS` sets the counted seconds, \
             `FIREHOUSE_BENCH_POSTGRES_URL` adds a PostgreSQL row)"
        );
        let _ = writeln!(
            out,
            "- Load: {CONNECTIONS} keep-alive HTTP/1.1 connections on this machine, one request in flight each; v2 \
             triggers of ~{sample} bytes, about 1 in 4 repeating a dedup key already sent; {} s warm-up, then {} s \
             counted per row. Only 2xx answers count as events; anything else is an error.",
            super::WARMUP.as_secs(),
            measured.as_secs()
        );
        let _ = writeln!(
            out,
            "- Rows: `bare` is a minimal axum handler (reads the body, answers a fixed 202) in its own process; \
             `firehouse-*` is the release `firehouse serve` (open mode, `FIREHOUSE_LOG=warn`), answering each event \
             only after its durable commit (SQLite: the inbox commit, applied behind it; PostgreSQL: the commit that \
             applied it).\n"
        );
    }

    fn results(out: &mut String, rows: &[Row]) {
        let _ = writeln!(out, "| server | events/s | p50 ms | p99 ms | max ms | peak RSS MB | errors |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for row in rows {
            let l = &row.load;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
                row.name,
                l.per_second(),
                l.quantile_ms(0.50),
                l.quantile_ms(0.99),
                l.max_ms(),
                mb(row.memory.peak_kib),
                l.errors
            );
        }
        for row in rows.iter().filter(|r| r.load.first_error.is_some()) {
            let _ = writeln!(out, "\nFirst error of {}: `{}`", row.name, row.load.first_error.as_deref().unwrap_or(""));
        }
        out.push('\n');
    }

    fn targets(out: &mut String, rows: &[Row]) {
        let Some(bare) = rows.iter().find(|r| r.stored.is_none()) else { return };
        let _ = writeln!(out, "Targets (from the issue), per Firehouse row:\n");
        let _ = writeln!(
            out,
            "| server | ratio to bare ≥ {TARGET_RATIO} | p99 < {TARGET_P99_MS} ms | peak RSS < {TARGET_RSS_MB} MB |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for row in rows.iter().filter(|r| r.stored.is_some()) {
            let ratio = row.load.per_second() / bare.load.per_second();
            let p99 = row.load.quantile_ms(0.99);
            let rss = mb(row.memory.peak_kib);
            let _ = writeln!(
                out,
                "| {} | {ratio:.2} {} | {p99:.2} ms {} | {rss:.1} MB {} |",
                row.name,
                verdict(ratio >= TARGET_RATIO),
                verdict(p99 < TARGET_P99_MS),
                verdict(rss < TARGET_RSS_MB)
            );
        }
        out.push('\n');
    }

    fn time(out: &mut String, rows: &[Row]) {
        let _ = writeln!(
            out,
            "Where the time goes (CPU over the counted window, 100% = one core of {}):\n",
            crate::shared::cores()
        );
        let _ = writeln!(
            out,
            "| server | server CPU | load generator CPU | batches | mean batch | median batch ≤ | mean time in server |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for row in rows {
            let batches = row.stored.as_ref().and_then(|s| s.batches);
            let latency = row.stored.as_ref().and_then(|s| s.server_latency);
            let _ = writeln!(
                out,
                "| {} | {:.0}% | {:.0}% | {} | {} | {} | {} |",
                row.name,
                row.usage.server_cpu_percent,
                row.usage.load_cpu_percent,
                batches.map_or("–".to_owned(), |b| format!("{:.0}", b.count)),
                batches.map_or("–".to_owned(), |b| format!("{:.1}", b.mean())),
                batches.map_or("–".to_owned(), |b| format!("{}", b.median_bucket)),
                latency.map_or("–".to_owned(), |l| format!("{:.2} ms", l.mean() * 1000.0)),
            );
        }
        let _ = writeln!(
            out,
            "\nBatches are the commits events are answered after: inbox commits for SQLite \
             (`firehouse_inbox_batch_size`), applying transactions for PostgreSQL (`firehouse_ingest_batch_size`). \
             They and the time in server (`firehouse_http_request_duration_seconds` of `/v2/enqueue`) come from \
             Firehouse's `/metrics` and include the warm-up. CPU and RSS are the server process's own: a database \
             server's (PostgreSQL) are not in them.\n"
        );
    }

    fn memory(out: &mut String, rows: &[Row]) {
        for row in rows.iter().filter(|r| r.stored.is_some()) {
            let stored = row.stored.as_ref().expect("filtered");
            let samples = &row.usage.rss_samples_kib;
            let first = samples.first().copied().unwrap_or(0);
            let highest = samples.iter().copied().max().unwrap_or(0);
            let _ = writeln!(out, "Memory of {} as events pile up:\n", row.name);
            let _ = writeln!(
                out,
                "- Stored {} events in total (every 2xx, warm-up included) as {} incidents ({} events carried a new \
                 dedup key); database on disk: {}.",
                row.load.ok_total,
                stored.incidents,
                row.load.new_keys_total,
                stored.database_bytes.map_or("n/a".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            );
            let applied = stored.applied_batches.map_or(String::new(), |b| {
                format!(" (applied in {:.0} transactions of {:.1} events on average)", b.count, b.mean())
            });
            let _ = writeln!(
                out,
                "- Every answered event was applied{applied} {:.0} ms after the load ended (the first read after the \
                 load waits for that).",
                stored.settled_after.as_secs_f64() * 1000.0
            );
            let _ = writeln!(
                out,
                "- VmRSS {:.1} MB when counting began, {:.1} MB at most while sampled each second, {:.1} MB at the \
                 end; VmHWM (peak) {:.1} MB.\n",
                mb(first),
                mb(highest),
                mb(row.memory.rss_kib),
                mb(row.memory.peak_kib)
            );
        }
    }

    fn verdict(pass: bool) -> &'static str {
        if pass {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// KiB to MB (10^6 bytes), the unit the targets use.
    fn mb(kib: u64) -> f64 {
        kib as f64 * 1024.0 / 1e6
    }
}
