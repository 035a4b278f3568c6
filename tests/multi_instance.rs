//! Several `firehouse serve` processes on ONE PostgreSQL database, as behind a load balancer.
//!
//! - Duplicated and interleaved events sent to both instances at the same moment are each stored exactly once, and
//!   every dedup key has at most one open incident.
//! - One instance is SIGKILLed while it is starting Devin sessions; the other picks its dispatches up once their
//!   leases expire, and every (incident, rule, transition) ends with exactly one Devin session.
//! - Instances starting together against an empty database (racing to migrate it) both come up.
//!
//! Needs PostgreSQL (see `common/databases.rs`); `FIREHOUSE_TEST_SKIP_POSTGRES=1` skips these tests.

mod common;
#[path = "common/databases.rs"]
mod databases;
#[path = "common/devin_standin.rs"]
mod devin_standin;

use common::{v2_action, v2_trigger, BinaryServer, KEY};
use databases::{Backend, TestDb};
use devin_standin::{DevinStandIn, Fault, Recorded};
use firehouse::responders::devin::dispatch_tag;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "cog_multi_instance_token_do_not_leak";
const ORG: &str = "org-firehouse-multi";
/// A session secret whose value (from each process's own environment) names the instance that started the session.
const INSTANCE_SECRET: &str = "FIREHOUSE_INSTANCE";
const DISPATCH_TAG: &str = "firehouse-dispatch:";

/// Dedup keys in play.
const KEYS: usize = 60;
/// Concurrent senders; each drives its share of the keys, interleaved with the others.
const TASKS: usize = 8;
/// Rounds per key: triggers, maybe an acknowledgement, maybe a resolve (then the next round re-triggers).
const ROUNDS: usize = 3;
/// Each trigger of a round is sent this many times to EACH instance, all at once.
const DUPLICATES: usize = 3;
/// The lease in the configuration: a dead instance's dispatches are claimed again after it.
const LEASE: Duration = Duration::from_secs(3);

/// A variable name no other test uses.
fn unique_env(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

fn config(devin: &DevinStandIn, token_env: &str, instance_env: &str) -> String {
    format!(
        r#"
[dispatch]
lease_seconds = {lease}
poll_millis = 100

[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[[rules]]
name = "triage"
on = ["triggered"]
actions = ["devin-triage"]

[actions.devin-triage]
type = "devin"
base_url = "{base}"
org_id = "{ORG}"
token_env = "{token_env}"
flow = "triage"
timeout_seconds = 1
session_secrets = [{{ key = "{INSTANCE_SECRET}", env = "{instance_env}", sensitive = false }}]
"#,
        lease = LEASE.as_secs(),
        base = devin.base_url
    )
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("firehouse.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn dedup_key(k: usize) -> String {
    format!("multi/{k:02}")
}

/// Whether round `round` acknowledges key `k` (to both instances at once, racing with more triggers).
fn acknowledges(k: usize, round: usize) -> bool {
    (k + round) % 3 == 0
}

/// Whether round `round` ends by resolving key `k` (so the next round opens a new incident).
fn resolves(k: usize, round: usize) -> bool {
    (k + round) % 2 == 1
}

/// What the workload must leave behind for one key.
#[derive(Debug, Default)]
struct Expected {
    /// Requests sent, by event action; every one must be answered 202.
    sent: BTreeMap<String, usize>,
    /// Incidents it opens.
    incidents: usize,
    /// The status of its open incident at the end, if one is open.
    open: Option<&'static str>,
}

fn expected(k: usize) -> Expected {
    let mut e = Expected::default();
    let add = |e: &mut Expected, action: &str, n: usize| *e.sent.entry(action.to_owned()).or_default() += n;
    for round in 0..ROUNDS {
        add(&mut e, "trigger", 2 * DUPLICATES);
        if e.open.is_none() {
            e.incidents += 1;
            e.open = Some("triggered");
        }
        if acknowledges(k, round) {
            add(&mut e, "acknowledge", 2);
            add(&mut e, "trigger", 2);
            e.open = Some("acknowledged");
        }
        if resolves(k, round) {
            add(&mut e, "resolve", 1);
            e.open = None;
        }
    }
    e
}

/// POSTs one v2 event; `Ok` only for a 202.
async fn send(client: &reqwest::Client, base: &str, body: &Value) -> Result<(), String> {
    let action = body["event_action"].as_str().unwrap_or_default();
    let dedup = body["dedup_key"].as_str().unwrap_or_default();
    match client.post(format!("{base}/v2/enqueue")).json(body).send().await {
        Ok(r) if r.status().as_u16() == 202 => Ok(()),
        Ok(r) => {
            let status = r.status().as_u16();
            Err(format!("{action} {dedup} to {base}: HTTP {status} {}", r.text().await.unwrap_or_default()))
        }
        Err(e) => Err(format!("{action} {dedup} to {base}: {e}")),
    }
}

/// 202s by dedup key and action, and every request that was not answered 202.
#[derive(Default)]
struct Tally {
    accepted: HashMap<String, BTreeMap<String, usize>>,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, bodies: &[Value], results: Vec<Result<(), String>>) {
        for (body, result) in bodies.iter().zip(results) {
            match result {
                Ok(()) => {
                    let key = body["dedup_key"].as_str().unwrap().to_owned();
                    let action = body["event_action"].as_str().unwrap().to_owned();
                    *self.accepted.entry(key).or_default().entry(action).or_default() += 1;
                }
                Err(e) => self.failures.push(e),
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        for (key, actions) in other.accepted {
            let mine = self.accepted.entry(key).or_default();
            for (action, n) in actions {
                *mine.entry(action).or_default() += n;
            }
        }
        self.failures.extend(other.failures);
    }
}

/// Sends `bodies[i]` to `bases[i]`, all at the same moment.
async fn wave(client: &reqwest::Client, tally: &mut Tally, sends: Vec<(&str, Value)>) {
    let results = futures::future::join_all(sends.iter().map(|(base, body)| send(client, base, body))).await;
    let bodies: Vec<Value> = sends.into_iter().map(|(_, b)| b).collect();
    tally.record(&bodies, results);
}

/// One sender: its keys round by round, each step racing the same event through both instances.
async fn drive(client: reqwest::Client, bases: [String; 2], keys: Vec<usize>) -> Tally {
    let mut tally = Tally::default();
    let [a, b] = [bases[0].as_str(), bases[1].as_str()];
    for round in 0..ROUNDS {
        for &k in &keys {
            let dedup = dedup_key(k);
            let trigger = v2_trigger(KEY, &dedup, &format!("Disk full on {dedup} (round {round})"));
            let sends = (0..DUPLICATES).flat_map(|_| [(a, trigger.clone()), (b, trigger.clone())]).collect();
            wave(&client, &mut tally, sends).await;
            if acknowledges(k, round) {
                let ack = v2_action(KEY, &dedup, "acknowledge");
                let sends = vec![(a, ack.clone()), (b, ack), (b, trigger.clone()), (a, trigger.clone())];
                wave(&client, &mut tally, sends).await;
            }
            if resolves(k, round) {
                let base = if (k + round) % 4 < 2 { a } else { b };
                wave(&client, &mut tally, vec![(base, v2_action(KEY, &dedup, "resolve"))]).await;
            }
        }
    }
    tally
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(status, 200, "GET {url}: {body}");
    body
}

/// Every incident matching `query`, paging through the API.
async fn all_incidents(client: &reqwest::Client, base: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = get_json(client, &format!("{base}/api/v1/incidents?limit=100&offset={}&{query}", out.len())).await;
        out.extend(page["incidents"].as_array().unwrap().iter().cloned());
        if page["more"] != true {
            return out;
        }
    }
}

/// Every dispatch, paging through the API.
async fn all_dispatches(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = get_json(client, &format!("{base}/api/v1/dispatches?limit=100&offset={}", out.len())).await;
        let items = page["dispatches"].as_array().unwrap();
        out.extend(items.iter().cloned());
        if items.len() < 100 {
            return out;
        }
    }
}

/// The instance that sent a create (from the session secret its environment gave it).
fn instance_of(r: &Recorded) -> Option<String> {
    let secrets = r.body.as_ref()?["session_secrets"].as_array()?.clone();
    let secret = secrets.into_iter().find(|s| s["key"] == INSTANCE_SECRET)?;
    secret["value"].as_str().map(str::to_owned)
}

/// The `firehouse-dispatch:` tag of a create body or a session's tags.
fn dispatch_tag_in(tags: &[String]) -> Vec<&str> {
    tags.iter().map(String::as_str).filter(|t| t.starts_with(DISPATCH_TAG)).collect()
}

fn create_tag(r: &Recorded) -> Option<String> {
    let tags: Vec<String> =
        r.body.as_ref()?["tags"].as_array()?.iter().filter_map(|t| t.as_str()).map(Into::into).collect();
    dispatch_tag_in(&tags).first().map(|t| (*t).to_owned())
}

/// Whether a look-up for `tag` (a list call filtering on it) was made: its sender already gave up waiting for the
/// create's answer.
fn looked_up(requests: &[Recorded], tag: &str) -> bool {
    let encoded = tag.replace(':', "%3A");
    requests.iter().any(|r| r.is_list() && r.query.as_deref().is_some_and(|q| q.contains(tag) || q.contains(&encoded)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_store_every_event_once_and_survive_a_kill_9() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let started = Instant::now();
    let devin = DevinStandIn::start(TOKEN, ORG).await;
    let expectations: BTreeMap<String, Expected> = (0..KEYS).map(|k| (dedup_key(k), expected(k))).collect();
    let incidents_expected: usize = expectations.values().map(|e| e.incidents).sum();
    // Devin is slow for every create, so dispatches are in flight whenever an instance dies: most creates answer
    // after 600 ms (inside the 1 s client timeout), every third creates the session at once and answers too late.
    for i in 0..2 * incidents_expected {
        let fault = if i % 3 == 2 {
            Fault::CreateThenHang(Duration::from_millis(1500))
        } else {
            Fault::Hang(Duration::from_millis(600))
        };
        devin.fault(fault, 1);
    }

    let dir = tempfile::tempdir().unwrap();
    let (token_env, instance_env) = (unique_env("FIREHOUSE_MI_DEVIN_TOKEN"), unique_env("FIREHOUSE_MI_INSTANCE"));
    let config_path = write_config(dir.path(), &config(&devin, &token_env, &instance_env));
    let names = ["instance-a", "instance-b"];
    let mut servers: Vec<Option<BinaryServer>> = names
        .iter()
        .map(|name| {
            let envs = [(token_env.as_str(), TOKEN), (instance_env.as_str(), *name)];
            Some(BinaryServer::start_with(dir.path(), &db.url, &["--config", &config_path], &envs))
        })
        .collect();
    let bases: [String; 2] = [0, 1].map(|i| servers[i].as_ref().unwrap().base.clone());
    let client = reqwest::Client::new();

    // 1. Interleaved, duplicated events through both instances at once.
    let senders: Vec<_> = (0..TASKS)
        .map(|t| {
            let keys: Vec<usize> = (0..KEYS).filter(|k| k % TASKS == t).collect();
            tokio::spawn(drive(client.clone(), bases.clone(), keys))
        })
        .collect();
    let mut tally = Tally::default();
    for s in senders {
        tally.merge(s.await.unwrap());
    }
    let intake = started.elapsed();
    assert!(tally.failures.is_empty(), "{} events were not accepted: {:#?}", tally.failures.len(), tally.failures);
    for (key, e) in &expectations {
        assert_eq!(tally.accepted.get(key), Some(&e.sent), "202s for {key}");
    }

    // 2. SIGKILL an instance the moment it has just sent a create that will not be answered for a while.
    let kill_deadline = Instant::now() + Duration::from_secs(15);
    let mut seen: HashSet<usize> = devin.creates().iter().enumerate().map(|(i, _)| i).collect();
    let (victim, in_flight) = loop {
        let requests = devin.requests();
        let creates: Vec<(usize, &Recorded)> =
            requests.iter().filter(|r| r.is_create()).enumerate().filter(|(_, r)| r.status == 0).collect();
        let fresh: Vec<&Recorded> = creates.iter().filter(|(i, _)| !seen.contains(i)).map(|(_, r)| *r).collect();
        if let Some(victim) = fresh.first().and_then(|r| instance_of(r)) {
            let v = names.iter().position(|n| *n == victim).expect("a known instance");
            servers[v].as_mut().unwrap().kill9();
            // The victim's creates still unanswered and not yet looked up: it died waiting for them.
            let in_flight: Vec<String> = creates
                .iter()
                .map(|(_, r)| *r)
                .filter(|r| instance_of(r).as_deref() == Some(victim.as_str()))
                .filter_map(create_tag)
                .filter(|tag| !looked_up(&requests, tag))
                .collect();
            let fresh_tags: Vec<String> = fresh
                .iter()
                .filter(|r| instance_of(r).as_deref() == Some(victim.as_str()))
                .filter_map(|r| create_tag(r))
                .collect();
            let created: HashSet<String> =
                devin.sessions().iter().flat_map(|s| dispatch_tag_in(&s.tags)).map(str::to_owned).collect();
            let answer_lost = in_flight.iter().filter(|t| created.contains(*t)).count();
            break (v, (in_flight, fresh_tags, answer_lost));
        }
        seen.extend(creates.iter().map(|(i, _)| *i));
        assert!(
            Instant::now() < kill_deadline,
            "no Devin create went out after the intake: nothing to kill mid-dispatch"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_at = started.elapsed();
    let (in_flight, fresh, answer_lost) = in_flight;
    let survivor = &bases[1 - victim];
    assert!(!fresh.is_empty());

    // 3. The survivor delivers everything, the dead instance's leased dispatches once their leases expire.
    let settle_deadline = Instant::now() + LEASE + Duration::from_secs(25);
    let dispatches = loop {
        let all = all_dispatches(&client, survivor).await;
        if all.len() >= incidents_expected && all.iter().all(|d| d["status"] != "pending") {
            break all;
        }
        let pending: Vec<&Value> = all.iter().filter(|d| d["status"] == "pending").collect();
        assert!(
            Instant::now() < settle_deadline,
            "{} of {} dispatches still pending (expected {incidents_expected}): {pending:#?}",
            pending.len(),
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settled = started.elapsed();

    // 4a. Every accepted event stored exactly once; one open incident per open key, none for a resolved key.
    let mut incidents_seen = 0;
    for (key, e) in &expectations {
        let incidents = all_incidents(&client, survivor, &format!("dedup_key={key}")).await;
        assert_eq!(incidents.len(), e.incidents, "incidents of {key}: {incidents:#?}");
        incidents_seen += incidents.len();
        let open = all_incidents(&client, survivor, &format!("status=triggered,acknowledged&dedup_key={key}")).await;
        let open_status: Vec<&str> = open.iter().map(|i| i["status"].as_str().unwrap()).collect();
        assert_eq!(open_status, e.open.into_iter().collect::<Vec<_>>(), "open incidents of {key}");
        let mut stored: BTreeMap<String, usize> = BTreeMap::new();
        for incident in &incidents {
            let detail =
                get_json(&client, &format!("{survivor}/api/v1/incidents/{}", incident["id"].as_str().unwrap())).await;
            let timeline = detail["timeline"].as_array().unwrap();
            assert_eq!(detail["event_count"].as_u64(), Some(timeline.len() as u64), "{key}: {detail}");
            let outcomes: Vec<&str> = timeline.iter().map(|t| t["outcome"].as_str().unwrap()).collect();
            assert_eq!(outcomes.first(), Some(&"opened"), "{key}: {outcomes:?}");
            assert_eq!(outcomes.iter().filter(|o| **o == "opened").count(), 1, "{key}: {outcomes:?}");
            for entry in timeline {
                *stored.entry(entry["action"].as_str().unwrap().to_owned()).or_default() += 1;
            }
        }
        assert_eq!(Some(&stored), tally.accepted.get(key), "events stored for {key} vs. events answered 202");
    }
    let total = get_json(&client, &format!("{survivor}/api/v1/incidents?limit=1")).await["total"].as_u64();
    assert_eq!(total, Some(incidents_seen as u64), "no incident under an unexpected dedup key");
    assert_eq!(incidents_seen, incidents_expected);

    // 4b. One dispatch per incident, all delivered.
    let mut per_incident: HashMap<i64, usize> = HashMap::new();
    for d in &dispatches {
        *per_incident.entry(d["incident_number"].as_i64().unwrap()).or_default() += 1;
        assert_eq!(
            (d["status"].as_str(), d["rule"].as_str(), d["transition"].as_str()),
            (Some("done"), Some("triage"), Some("triggered")),
            "{d}"
        );
    }
    assert_eq!(per_incident.len(), incidents_expected, "one dispatch per incident");
    assert!(per_incident.values().all(|n| *n == 1), "one dispatch per incident: {per_incident:?}");

    // 4c. Exactly one Devin session per dispatch, and it is the one the dispatch recorded.
    let sessions = devin.sessions();
    let mut by_tag: HashMap<String, Vec<String>> = HashMap::new();
    for s in &sessions {
        let tags = dispatch_tag_in(&s.tags);
        assert_eq!(tags.len(), 1, "one dispatch tag per session: {:?}", s.tags);
        by_tag.entry(tags[0].to_owned()).or_default().push(s.session_id.clone());
    }
    let doubled: Vec<_> = by_tag.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "{} dispatches started more than one Devin session: {doubled:#?}", doubled.len());
    assert_eq!(sessions.len(), incidents_expected, "one session per incident that matched the rule");
    let mut reclaimed = 0;
    for d in &dispatches {
        let tag = dispatch_tag(d["dispatch_key"].as_str().unwrap());
        let ids = by_tag.get(&tag).unwrap_or_else(|| panic!("no Devin session for dispatch {d}"));
        assert_eq!(d["result"]["session_id"].as_str(), Some(ids[0].as_str()), "{d}");
        if fresh.contains(&tag) {
            // The dead instance had just sent its create when it died, and never recorded the attempt: the survivor
            // claimed the dispatch again once the lease expired.
            assert!(d["attempts"].as_i64().unwrap() >= 2, "{d}");
        }
        if in_flight.contains(&tag) && d["attempts"].as_i64().unwrap() >= 2 {
            reclaimed += 1;
        }
    }
    assert!(reclaimed >= fresh.len(), "{reclaimed} re-claimed; in flight at the kill: {in_flight:?}");

    eprintln!(
        "multi_instance: {} events, {incidents_expected} incidents, intake {intake:?}; killed {} at {killed_at:?} with \
         {} creates in flight ({answer_lost} of them already created in Devin, {reclaimed} re-claimed by the \
         survivor); all delivered at {settled:?}; checked at {:?}",
        tally.accepted.values().flat_map(BTreeMap::values).sum::<usize>(),
        names[victim],
        in_flight.len(),
        started.elapsed()
    );
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_an_empty_database_both_come_up() {
    for attempt in 0..3 {
        let Some(db) = TestDb::new(Backend::Postgres).await else { return };
        let dir = tempfile::tempdir().unwrap();
        let config_path =
            write_config(dir.path(), &format!("[[services]]\nname = \"payments\"\nintegration_keys = [\"{KEY}\"]\n"));
        let (url, path, dir_path) = (db.url.clone(), config_path.clone(), dir.path().to_owned());
        // Both processes are spawned at the same moment, before either has touched the database.
        let servers = tokio::task::spawn_blocking(move || {
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                let starts: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            BinaryServer::start_with(&dir_path, &url, &["--config", &path], &[])
                        })
                    })
                    .collect();
                starts.into_iter().map(|h| h.join().expect("the instance starts")).collect::<Vec<_>>()
            })
        })
        .await
        .unwrap();

        let client = reqwest::Client::new();
        for (i, server) in servers.iter().enumerate() {
            let health = get_json(&client, &format!("{}/healthz", server.base)).await;
            assert_eq!(health["status"], "ok", "{health}");
            // The schema is whole: each instance writes, the other reads it back.
            let dedup = format!("race-{attempt}-{i}");
            send(&client, &server.base, &v2_trigger(KEY, &dedup, "Started together")).await.unwrap();
            let other = &servers[1 - i].base;
            let found = all_incidents(&client, other, &format!("dedup_key={dedup}")).await;
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0]["service"], "payments");
        }
        let migrations = migration_rows(&db.url).await;
        assert!(!migrations.is_empty() && migrations.iter().all(|(_, ok)| *ok), "{migrations:?}");
        drop(servers);
    }
}

/// The rows of sqlx's migration table: (version, success).
async fn migration_rows(url: &str) -> Vec<(i64, bool)> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT version, success FROM _sqlx_migrations ORDER BY version").fetch_all(&mut conn).await;
    rows.unwrap().iter().map(|r| (r.get::<i64, _>(0), r.get::<bool, _>(1))).collect()
}
