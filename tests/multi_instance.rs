//! Several `firehouse serve` processes on ONE PostgreSQL database, as behind a load balancer.
//!
//! - Duplicated and interleaved events sent to both instances at the same moment are each stored exactly once, and
//!   every dedup key has at most one open incident.
//! - One instance is SIGKILLed while it is starting Devin sessions; the other picks its dispatches up once their
//!   leases expire, and every (incident, rule, transition) ends with exactly one Devin session.
//! - Acknowledge and resolve events for one alert racing through the two instances take effect as in some serial
//!   order, as they do on one instance.
//! - Two instances' group commits over the same alerts both commit (no deadlock).
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
/// Keys triggered last, all at once through both instances: new incidents whose dispatches are in flight right after.
const BURST: usize = 40;
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
    if k < KEYS {
        format!("multi/{k:02}")
    } else {
        format!("multi/burst-{k:03}")
    }
}

/// Whether round `round` acknowledges key `k` (to both instances at once, racing with more triggers).
fn acknowledges(k: usize, round: usize) -> bool {
    (k + round).is_multiple_of(3)
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
    if k >= KEYS {
        add(&mut e, "trigger", 2 * DUPLICATES);
        return Expected { incidents: 1, open: Some("triggered"), ..e };
    }
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

/// Sends each body to its instance, all at the same moment.
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
    let expectations: BTreeMap<String, Expected> = (0..KEYS + BURST).map(|k| (dedup_key(k), expected(k))).collect();
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

    // A last burst of new keys through both instances at once: their dispatches go out right after.
    let burst: Vec<(&str, Value)> = (KEYS..KEYS + BURST)
        .flat_map(|k| {
            let trigger = v2_trigger(KEY, &dedup_key(k), "Burst");
            let (a, b) = (bases[0].as_str(), bases[1].as_str());
            (0..DUPLICATES).flat_map(move |_| [(a, trigger.clone()), (b, trigger.clone())])
        })
        .collect();
    wave(&client, &mut tally, burst).await;
    let intake = started.elapsed();
    assert!(tally.failures.is_empty(), "{} events were not accepted: {:#?}", tally.failures.len(), tally.failures);
    for (key, e) in &expectations {
        assert_eq!(tally.accepted.get(key), Some(&e.sent), "202s for {key}");
    }

    // 2. SIGKILL an instance while Devin has not answered some of its creates (it is waiting for them).
    let kill_deadline = Instant::now() + Duration::from_secs(15);
    let (victim, in_flight, answer_lost) = loop {
        let requests = devin.requests();
        let waiting: Vec<(String, String)> = requests
            .iter()
            .filter(|r| r.is_create() && r.status == 0)
            .filter_map(|r| Some((instance_of(r)?, create_tag(r)?)))
            .filter(|(_, tag)| !looked_up(&requests, tag))
            .collect();
        if let Some((victim, _)) = waiting.first() {
            let v = names.iter().position(|n| n == victim).expect("a known instance");
            servers[v].as_mut().unwrap().kill9();
            let in_flight: Vec<String> =
                waiting.iter().filter(|(i, _)| i == victim).map(|(_, tag)| tag.clone()).collect();
            let created: HashSet<String> =
                devin.sessions().iter().flat_map(|s| dispatch_tag_in(&s.tags)).map(str::to_owned).collect();
            let answer_lost = in_flight.iter().filter(|t| created.contains(*t)).count();
            break (v, in_flight, answer_lost);
        }
        assert!(Instant::now() < kill_deadline, "no Devin create in flight after the intake: nothing to kill");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_at = started.elapsed();
    let survivor = &bases[1 - victim];

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
            let started =
                timeline.iter().filter(|t| t["action"] == "note" && t["raw"]["session"]["change"] == "started");
            assert_eq!(started.count(), 1, "{key}: its agent session is followed once, by one instance: {detail}");
            // Notes are Firehouse's own (the agent session it started), not events a sender was answered for.
            for entry in timeline.iter().filter(|e| e["action"] != "note") {
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
        if in_flight.contains(&tag) {
            // The dead instance was waiting for this create when it died and never recorded the attempt: the
            // survivor claimed the dispatch again once the lease expired, and found the session before creating one.
            assert!(d["attempts"].as_i64().unwrap() >= 2, "{d}");
            reclaimed += 1;
        }
    }
    assert_eq!(reclaimed, in_flight.len(), "in flight at the kill: {in_flight:?}");

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

/// Acknowledge and resolve events for one alert arriving at two instances at the same moment must take effect as in
/// SOME serial order of the two, as they do on one instance:
/// - acknowledge + resolve: resolved either way (acknowledge then resolve, or resolve then a dropped acknowledge), so a
///   later trigger opens exactly one new incident;
/// - acknowledge + acknowledge: one `acknowledged`, then one `unchanged`;
/// - resolve + resolve: one `resolved`, then one dropped (no open alert; not on the incident's timeline).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_events_racing_on_two_instances_take_effect_in_some_serial_order() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(dir.path(), &services_only());
    let servers: Vec<BinaryServer> =
        (0..2).map(|_| BinaryServer::start_with(dir.path(), &db.url, &["--config", &config_path], &[])).collect();
    let bases = [servers[0].base.as_str(), servers[1].base.as_str()];
    let client = reqwest::Client::new();
    const PER_SCENARIO: usize = 60;
    const RACERS: usize = 8;
    let scenarios = [
        ("ack-resolve", ["acknowledge", "resolve"]),
        ("ack-ack", ["acknowledge", "acknowledge"]),
        ("resolve-resolve", ["resolve", "resolve"]),
    ];
    let keys = |name: &str| -> Vec<(usize, String)> {
        (0..PER_SCENARIO).map(|i| (i, format!("race/{name}/{i:02}"))).collect()
    };

    // Open every alert, then race each pair of events through the two instances: several senders, each sending its
    // pairs one after another, the two events of a pair at the same moment.
    let mut tally = Tally::default();
    let opens =
        scenarios.iter().flat_map(|(name, _)| keys(name)).map(|(i, k)| (bases[i % 2], v2_trigger(KEY, &k, "Race")));
    wave(&client, &mut tally, opens.collect()).await;
    let pairs: Vec<(usize, String, [&'static str; 2])> = (0..PER_SCENARIO)
        .flat_map(|i| scenarios.iter().map(move |(name, actions)| (i, format!("race/{name}/{i:02}"), *actions)))
        .collect();
    let racers: Vec<_> = (0..RACERS)
        .map(|r| {
            let mine: Vec<_> = pairs.iter().skip(r).step_by(RACERS).cloned().collect();
            let (client, bases) = (client.clone(), bases.map(str::to_owned));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                for (i, key, [first, second]) in mine {
                    let (x, y) = (bases[i % 2].as_str(), bases[1 - i % 2].as_str());
                    let pair = vec![(x, v2_action(KEY, &key, first)), (y, v2_action(KEY, &key, second))];
                    wave(&client, &mut tally, pair).await;
                }
                tally
            })
        })
        .collect();
    for r in racers {
        tally.merge(r.await.unwrap());
    }
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);

    let mut wrong = Vec::new();
    for (name, _) in &scenarios {
        for (_, key) in keys(name) {
            let incidents = all_incidents(&client, bases[0], &format!("dedup_key={key}")).await;
            assert_eq!(incidents.len(), 1, "{key}: {incidents:#?}");
            let detail = get_json(&client, &format!("{}/api/v1/incidents/{}", bases[0], incidents[0]["number"])).await;
            let outcomes: Vec<&str> =
                detail["timeline"].as_array().unwrap().iter().map(|t| t["outcome"].as_str().unwrap()).collect();
            let status = detail["status"].as_str().unwrap();
            let count = |o: &str| outcomes.iter().filter(|x| **x == o).count();
            let serial = match *name {
                "ack-resolve" => status == "resolved",
                "ack-ack" => count("acknowledged") == 1 && count("unchanged") == 1,
                _ => status == "resolved" && count("resolved") == 1,
            };
            if !serial {
                wrong.push(format!("{key}: incident {status}, timeline {outcomes:?}"));
            }
        }
    }
    // Whatever happened, one more trigger must leave exactly one open incident per key.
    let retrigger = scenarios
        .iter()
        .flat_map(|(name, _)| keys(name))
        .map(|(i, k)| (bases[i % 2], v2_trigger(KEY, &k, "Again")))
        .collect();
    wave(&client, &mut tally, retrigger).await;
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    for (name, _) in &scenarios {
        for (_, key) in keys(name) {
            let open =
                all_incidents(&client, bases[1], &format!("status=triggered,acknowledged&dedup_key={key}")).await;
            if open.len() != 1 {
                let statuses: Vec<&Value> = open.iter().map(|i| &i["status"]).collect();
                wrong.push(format!("{key}: after one more trigger, {} open incidents {statuses:?}", open.len()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} problems over {} racing pairs (no serial order of the two events gives these):\n{}",
        wrong.len(),
        scenarios.len() * PER_SCENARIO,
        wrong.join("\n")
    );
}

/// Two instances' group commits touching the same new alerts in opposite orders (each instance batches whatever its
/// requests brought, in arrival order) must both commit. A deadlock aborts a whole batch: every request in it waits for
/// PostgreSQL's deadlock timeout (1 s by default), then its commands are applied again one transaction each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_of_two_instances_over_the_same_alerts_both_commit() {
    use firehouse::domain::{Millis, Protocol};
    use firehouse::store::{self, Command};
    use firehouse::wire::{events_v2, fields};
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let (one, two) = (store::open(&db.url).await.unwrap(), store::open(&db.url).await.unwrap());
    let config = firehouse::config::Config::parse(&services_only(), Path::new("firehouse.toml")).unwrap();
    let directory = config.directory();
    one.sync_services(directory.services()).await.unwrap();
    let rules = firehouse::domain::rules::RuleSet::default();
    let trigger = |dedup: &str| {
        let raw = v2_trigger(KEY, dedup, "Crossed").to_string();
        let parsed = events_v2::parse(fields::parse_object(raw.as_bytes()).unwrap(), None).unwrap();
        Command::Alert {
            service: directory.resolve(&parsed.integration_key).expect("a configured key"),
            integration_key: parsed.integration_key,
            protocol: Protocol::V2,
            event: parsed.event,
            raw,
            received_at: Millis::now(),
        }
    };
    for round in 0..5 {
        let keys: Vec<String> = (0..20).map(|i| format!("crossed/{round}/{i:02}")).collect();
        let forward: Vec<Command> = keys.iter().map(|k| trigger(k)).collect();
        let backward: Vec<Command> = keys.iter().rev().map(|k| trigger(k)).collect();
        let (a, b) = tokio::join!(one.apply(&forward, &rules), two.apply(&backward, &rules));
        assert!(a.is_ok() && b.is_ok(), "round {round}: {:?} / {:?}", a.err(), b.err());
    }
}

fn services_only() -> String {
    format!("[[services]]\nname = \"payments\"\nintegration_keys = [\"{KEY}\"]\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_an_empty_database_both_come_up() {
    for attempt in 0..3 {
        let Some(db) = TestDb::new(Backend::Postgres).await else { return };
        let dir = tempfile::tempdir().unwrap();
        let config_path = write_config(dir.path(), &services_only());
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
