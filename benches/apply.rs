//! Applier benchmark: what turning accepted events into alerts, incidents and the event log costs, on one thread,
//! with no HTTP and no load generator competing for the machine.
//!
//! The SQLite applier gets its events in batches: small ones while it keeps up with the intake, up to 2 048 when it
//! reads a backlog back from the inbox. Each row applies the same events (v2 triggers, about 1 in 4 repeating a
//! dedup key) through the store's `apply_inbox`, in batches of one size, to a new database file, and reports events
//! per second, the process's CPU time per event (the background checkpointer included) and the bytes it wrote per
//! event (WAL and checkpoints). The events are parsed before the clock starts: parsing is the request path's cost.
//!
//! `cargo bench --bench apply` prints a Markdown report and writes it into `BENCHMARKS.md`. Environment:
//! `FIREHOUSE_BENCH_APPLY_EVENTS` (events per row, default 200 000).

use anyhow::{bail, Context};
use firehouse::domain::rules::RuleSet;
use firehouse::domain::{IntegrationKey, Millis, Protocol, ServiceDirectory};
use firehouse::ingest::replay;
use firehouse::store::sqlite::inbox::InboxEntry;
use firehouse::store::Command;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

mod shared;

/// Events per row, overriding [`DEFAULT_EVENTS`].
const EVENTS_ENV: &str = "FIREHOUSE_BENCH_APPLY_EVENTS";
/// Enough for the open alerts' index to outgrow the page cache, as it does in a long alert storm.
const DEFAULT_EVENTS: usize = 200_000;
/// The batch sizes measured: a keeping-up applier's, a typical one under load, and the inbox read-back's largest.
const BATCHES: [usize; 3] = [64, 256, 2048];
/// About one event in this many repeats a dedup key already sent.
const REPEAT_ONE_IN: u64 = 4;

const BEGIN: &str = "<!-- apply-bench:begin (written by `cargo bench --bench apply`; edits inside are lost) -->";
const END: &str = "<!-- apply-bench:end -->";

fn main() -> ExitCode {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => match runtime.block_on(run()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("apply bench failed: {e:#}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("apply bench: cannot start a runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One row of the report.
struct Row {
    batch: usize,
    events: usize,
    seconds: f64,
    cpu_seconds: f64,
    bytes_written: u64,
    incidents: u64,
}

async fn run() -> anyhow::Result<()> {
    let events = match std::env::var(EVENTS_ENV) {
        Ok(s) => s.trim().parse::<usize>().ok().filter(|n| *n > 0).with_context(|| format!("{EVENTS_ENV}={s:?}"))?,
        Err(_) => DEFAULT_EVENTS,
    };
    let mut rows = Vec::new();
    for batch in BATCHES {
        eprintln!("apply bench: {events} events in batches of {batch}…");
        rows.push(measure(events, batch).await?);
    }
    let text = render(&rows);
    println!("{text}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    shared::store_section(&path, BEGIN, END, &text)?;
    eprintln!("apply bench: wrote {}", path.display());
    Ok(())
}

/// Applies `events` bench events in batches of `batch` to a new database.
async fn measure(events: usize, batch: usize) -> anyhow::Result<Row> {
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).context("cannot create a database directory")?;
    let url = format!("sqlite://{}?mode=rwc", scratch.path().join("apply.db").display());
    let store = firehouse::store::open(&url).await?;
    let rules = Arc::new(RuleSet::default());
    let batches = batches(commands(events)?, batch);
    let (cpu_before, written_before) = (cpu_seconds()?, bytes_written()?);
    let started = Instant::now();
    for (commands, through) in batches {
        store.apply_inbox(commands, rules.clone(), through).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_after, written_after) = (cpu_seconds()?, bytes_written()?);
    let incidents = store.status_counts().await?.iter().map(|(_, n)| *n as u64).sum();
    if incidents == 0 || incidents > events as u64 {
        bail!("{incidents} incidents after {events} events is not plausible");
    }
    Ok(Row {
        batch,
        events,
        seconds,
        cpu_seconds: cpu_after - cpu_before,
        bytes_written: written_after - written_before,
        incidents,
    })
}

/// `n` accepted triggers, as the applier gets them: one in [`REPEAT_ONE_IN`] repeats an earlier dedup key.
fn commands(n: usize) -> anyhow::Result<Vec<Command>> {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sent: Vec<(usize, u64)> = Vec::new();
    let mut commands = Vec::with_capacity(n);
    // The service open mode makes of the key, as the intake would have recorded it.
    let service = ServiceDirectory::Open
        .resolve(&IntegrationKey::new(shared::ROUTING_KEY.to_owned()))
        .context("open mode accepts every key")?
        .name;
    for i in 0..n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (connection, key) = if !sent.is_empty() && rng.is_multiple_of(REPEAT_ONE_IN) {
            sent[(rng / REPEAT_ONE_IN) as usize % sent.len()]
        } else {
            let fresh = (i % 64, rng >> 20);
            sent.push(fresh);
            fresh
        };
        let entry = InboxEntry {
            seq: i as i64 + 1,
            received_at: Millis(1_700_000_000_000 + i as i64),
            protocol: Protocol::V2,
            integration_key: shared::ROUTING_KEY.to_owned(),
            dedup_key: Some(shared::dedup_key(connection, key)),
            service: service.clone(),
            raw: shared::trigger_body(connection, key, i as u64),
        };
        commands.push(replay::command(entry, &ServiceDirectory::Open)?);
    }
    Ok(commands)
}

/// The commands in batches of `size`, each with the seq of its last event.
fn batches(commands: Vec<Command>, size: usize) -> Vec<(Arc<[Command]>, i64)> {
    let mut out = Vec::new();
    let mut through = 0;
    let mut rest = commands.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Command> = rest.by_ref().take(size).collect();
        through += batch.len() as i64;
        out.push((batch.into(), through));
    }
    out
}

/// This process's user and system CPU time so far (every thread: the checkpointer is part of the applier's cost).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).context("unreadable /proc/self/stat");
    // utime and stime, in clock ticks of 1/100 s on Linux.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Bytes this process has written so far (`wchar`: through `write`, to the page cache or the disk).
fn bytes_written() -> anyhow::Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .context("unreadable /proc/self/io")
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Applying: accepted events into incidents (SQLite, one thread)\n");
    let _ = writeln!(out, "- Date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "- Machine: {}", shared::machine());
    if let Some(revision) = shared::revision() {
        let _ = writeln!(out, "- Firehouse: {revision}");
    }
    let _ = writeln!(out, "- Reproduce: `cargo bench --bench apply` (env `{EVENTS_ENV}` sets the events per row)");
    let _ = writeln!(
        out,
        "- Each row applies the same v2 triggers (about 1 in {REPEAT_ONE_IN} repeating a dedup key) through the \
         store's `apply_inbox`, in batches of one size, to a new database; parsing happens before the clock starts. \
         CPU is the whole process's (the background checkpointer included); bytes are what it wrote (WAL and \
         checkpoints).\n"
    );
    let _ = writeln!(out, "| batch | events | incidents | events/s | CPU µs per event | KB written per event |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} |",
            r.batch,
            r.events,
            r.incidents,
            r.events as f64 / r.seconds,
            r.cpu_seconds / r.events as f64 * 1e6,
            r.bytes_written as f64 / r.events as f64 / 1000.0
        );
    }
    out
}
