//! What the benchmarks share: the trigger bodies they send, and how they describe the machine and store their
//! sections of `BENCHMARKS.md`. Each benchmark uses part of it.
#![allow(dead_code)]

use std::path::Path;

/// The integration key every benchmark event is sent with.
pub const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";

/// A v2 trigger of about 700 bytes, shaped like Alertmanager's through PagerDuty's integration: everything but the
/// measured value follows from the alert (`connection`, `key`), so repeats describe the same alert.
pub fn trigger_body(connection: usize, key: u64, made: u64) -> String {
    const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
    let severity = SEVERITIES[(key % 4) as usize];
    let host = format!("db-{connection:02}-{:04}.prod.eu-west-1.example.com", key % 10_000);
    let value = 90.0 + (made % 100) as f64 / 10.0;
    format!(
        concat!(
            r#"{{"routing_key":"{routing_key}","event_action":"trigger","dedup_key":"{dedup_key}","#,
            r#""payload":{{"summary":"Disk usage {value:.1}% on /var/lib/postgresql at {host} is over 90%","#,
            r#""source":"{host}","severity":"{severity}","component":"postgresql","group":"prod-eu-west-1","#,
            r#""class":"disk","custom_details":{{"alertname":"DiskSpaceLow","#,
            r#""instance":"10.0.{connection}.12:9100","job":"node-exporter","#,
            r#""mountpoint":"/var/lib/postgresql","device":"/dev/nvme1n1","fstype":"ext4","#,
            r#""value":"{value:.1}","threshold":"90","team":"storage","#,
            r#""runbook_url":"https://runbooks.example.com/storage/disk-space-low"}}}},"#,
            r#""client":"Alertmanager","client_url":"https://alertmanager.example.com/#/alerts"}}"#
        ),
        routing_key = ROUTING_KEY,
        dedup_key = dedup_key(connection, key),
        connection = connection,
        value = value,
        host = host,
        severity = severity,
    )
}

/// The dedup key [`trigger_body`] sends.
pub fn dedup_key(connection: usize, key: u64) -> String {
    format!("bench/{connection}/{key}")
}

/// Cores, CPU model and memory, from `/proc`.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = proc_field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kib: u64 =
        proc_field(&meminfo, "MemTotal").and_then(|v| v.trim_end_matches("kB").trim().parse().ok()).unwrap_or(0);
    format!("{} CPUs (nproc), {model}, {:.1} GiB RAM", cores(), ram_kib as f64 / (1024.0 * 1024.0))
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The commit measured, so that numbers from different runs can be told apart; `None` outside a git checkout. Changes
/// to `BENCHMARKS.md` do not count as uncommitted: the benches write it themselves.
pub fn revision() -> Option<String> {
    let git = |args: &[&str]| {
        let output =
            std::process::Command::new("git").arg("-C").arg(env!("CARGO_MANIFEST_DIR")).args(args).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).filter(|c| !c.is_empty())?;
    let changed = git(&["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)BENCHMARKS.md"])?;
    Some(if changed.is_empty() {
        format!("commit {commit}")
    } else {
        format!("commit {commit} with uncommitted changes")
    })
}

/// Writes `section` into `path` between the markers `begin` and `end`, replacing what was there or appending it.
pub fn store_section(path: &Path, begin: &str, end: &str, section: &str) -> std::io::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let block = format!("{begin}\n{}\n{end}", section.trim_end());
    let text = match (existing.find(begin), existing.find(end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &existing[..b], &existing[e + end.len()..]),
        _ => format!("{}\n\n{block}\n", existing.trim_end()),
    };
    std::fs::write(path, text)
}

/// The value of the first `name: value` line of a `/proc` file.
fn proc_field(text: &str, name: &str) -> Option<String> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned())
}
