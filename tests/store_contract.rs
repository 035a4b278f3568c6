//! The storage contract, run against every backend: SQLite files and PostgreSQL databases.

#[path = "common/databases.rs"]
mod databases;

use databases::{Backend, TestDb};
use firehouse::domain::{IncidentStatus, ManualAction, Millis, Protocol, ServiceRef, Transition, UrgencyRule};
use firehouse::store::{self, ChangeQuery, Command, IncidentQuery, IncidentRef, Rejection, Store};
use firehouse::wire::{change_v2, events_v2, fields};
use serde_json::{json, Value};
use std::sync::Arc;

fn rules() -> firehouse::domain::rules::RuleSet {
    firehouse::domain::rules::RuleSet::default()
}

fn service() -> ServiceRef {
    ServiceRef::new("payments", UrgencyRule::Severity)
}

fn alert_at(body: Value, at: i64) -> Command {
    let raw = body.to_string();
    let obj = fields::parse_object(raw.as_bytes()).unwrap();
    let parsed = events_v2::parse(obj, None).unwrap();
    Command::Alert {
        service: service(),
        integration_key: parsed.integration_key,
        protocol: Protocol::V2,
        event: parsed.event,
        raw,
        received_at: Millis(at),
    }
}

fn trigger(key: &str, dedup: &str, severity: &str) -> Command {
    alert_at(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
               "payload": {"summary": format!("{dedup} is down"), "source": "host", "severity": severity}}),
        1_000,
    )
}

fn action(key: &str, dedup: &str, action: &str) -> Command {
    alert_at(json!({"routing_key": key, "event_action": action, "dedup_key": dedup}), 2_000)
}

fn manual(number: i64, action: ManualAction) -> Command {
    Command::Manual { incident: IncidentRef::Number(number), action, actor: "alice".into(), received_at: Millis(3_000) }
}

async fn open(db: &TestDb) -> Arc<dyn Store> {
    store::open(&db.url).await.expect("store opens")
}

async fn apply_one(s: &dyn Store, cmd: Command) -> firehouse::store::CommandResult {
    s.apply(&[cmd], &rules()).await.unwrap().remove(0)
}

fn transitions(results: &[firehouse::store::CommandResult]) -> Vec<Transition> {
    results.iter().map(|r| r.as_ref().unwrap().transition).collect()
}

async fn lifecycle_follows_pagerduty(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let results = s
        .apply(
            &[
                trigger("k", "a", "warning"),
                trigger("k", "a", "critical"),
                action("k", "a", "acknowledge"),
                action("k", "a", "acknowledge"),
                trigger("k", "a", "critical"),
                action("k", "a", "resolve"),
                action("k", "a", "resolve"),
                trigger("k", "a", "error"),
            ],
            &rules(),
        )
        .await
        .unwrap();
    use Transition::*;
    assert_eq!(
        transitions(&results),
        vec![
            Opened,
            Appended,
            Acknowledged,
            Unchanged,
            Appended,
            Resolved,
            Dropped(firehouse::domain::DropReason::NoOpenAlert),
            Opened
        ]
    );
    let first = results[0].as_ref().unwrap().incident.clone().unwrap();
    let second = results[7].as_ref().unwrap().incident.clone().unwrap();
    assert_ne!(first, second, "a trigger after resolve opens a new incident");
    assert_eq!(results[6].as_ref().unwrap().incident, None, "a dropped resolve applies to nothing");

    let old = s.get_incident(&IncidentRef::Id(first.0.clone())).await.unwrap().unwrap();
    assert_eq!(old.status, IncidentStatus::Resolved);
    assert_eq!(old.severity, firehouse::domain::Severity::Warning);
    assert_eq!(old.urgency, firehouse::domain::Urgency::Low, "severity-based urgency");
    assert_eq!(old.acknowledged_at, Some(Millis(2_000)));
    assert_eq!(old.resolved_at, Some(Millis(2_000)));
    assert_eq!(old.event_count, 6);
    let timeline = s.timeline(old.number).await.unwrap();
    let outcomes: Vec<&str> = timeline.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["opened", "appended", "acknowledged", "unchanged", "appended", "resolved"]);
    assert_eq!(timeline[0].raw["payload"]["severity"], "warning", "the raw body is kept");

    let new = s.get_incident(&IncidentRef::Number(second.1)).await.unwrap().unwrap();
    assert_eq!((new.status, new.urgency), (IncidentStatus::Triggered, firehouse::domain::Urgency::High));
}

async fn dedup_is_scoped_to_the_integration_key(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let r = s
        .apply(
            &[trigger("k1", "same", "error"), action("k2", "same", "resolve"), trigger("k2", "same", "error")],
            &rules(),
        )
        .await
        .unwrap();
    assert_eq!(
        transitions(&r),
        vec![Transition::Opened, Transition::Dropped(firehouse::domain::DropReason::NoOpenAlert), Transition::Opened]
    );
    let page = s.list_incidents(&query(|q| q.dedup_key = Some("same".into()))).await.unwrap();
    assert_eq!(page.total, 2);
    assert!(page.incidents.iter().all(|i| i.status == IncidentStatus::Triggered));
}

fn query(f: impl FnOnce(&mut IncidentQuery)) -> IncidentQuery {
    let mut q = IncidentQuery { limit: 100, ..Default::default() };
    f(&mut q);
    q
}

async fn operators_act_on_incidents(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let opened = apply_one(&*s, trigger("k", "m", "critical")).await.unwrap();
    let number = opened.incident.unwrap().1;
    assert_eq!(
        apply_one(&*s, manual(number, ManualAction::Acknowledge)).await.unwrap().transition,
        Transition::Acknowledged
    );
    assert_eq!(apply_one(&*s, manual(number, ManualAction::Resolve)).await.unwrap().transition, Transition::Resolved);
    assert!(matches!(apply_one(&*s, manual(number, ManualAction::Resolve)).await, Err(Rejection::Manual(_))));
    assert_eq!(apply_one(&*s, manual(9999, ManualAction::Resolve)).await, Err(Rejection::IncidentNotFound));
    // The alert closed with its incident: the next trigger opens a new one.
    let again = apply_one(&*s, trigger("k", "m", "critical")).await.unwrap();
    assert_eq!(again.transition, Transition::Opened);
    let timeline = s.timeline(number).await.unwrap();
    assert_eq!(timeline.last().unwrap().protocol, "api");
    assert_eq!(timeline.last().unwrap().raw["actor"], "alice");
}

async fn lists_filter_and_page_newest_first(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let cmds: Vec<Command> = (0..7).map(|i| trigger("k", &format!("p{i}"), "error")).collect();
    s.apply(&cmds, &rules()).await.unwrap();
    s.apply(&[action("k", "p0", "resolve"), action("k", "p1", "acknowledge")], &rules()).await.unwrap();

    let page = s.list_incidents(&query(|q| q.limit = 3)).await.unwrap();
    assert_eq!((page.total, page.more, page.incidents.len()), (7, true, 3));
    let numbers: Vec<i64> = page.incidents.iter().map(|i| i.number).collect();
    assert!(numbers.windows(2).all(|w| w[0] > w[1]), "newest first: {numbers:?}");
    let last = s
        .list_incidents(&query(|q| {
            q.limit = 3;
            q.offset = 6
        }))
        .await
        .unwrap();
    assert_eq!((last.incidents.len(), last.more), (1, false));
    let open = s
        .list_incidents(&query(|q| q.statuses = vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged]))
        .await
        .unwrap();
    assert_eq!(open.total, 6);
    let resolved = s.list_incidents(&query(|q| q.statuses = vec![IncidentStatus::Resolved])).await.unwrap();
    assert_eq!(resolved.incidents[0].dedup_key, "p0");
    assert_eq!(s.list_incidents(&query(|q| q.service = Some("nope".into()))).await.unwrap().total, 0);
    assert_eq!(s.list_incidents(&query(|q| q.service = Some("payments".into()))).await.unwrap().total, 7);
    let counts = s.status_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![(IncidentStatus::Triggered, 5), (IncidentStatus::Acknowledged, 1), (IncidentStatus::Resolved, 1)]
    );
}

async fn change_events_are_kept_per_service(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let change = |summary: &str, ts: &str| {
        let raw = json!({"routing_key": "k", "payload": {"summary": summary, "timestamp": ts, "source": "ci"},
                         "links": [{"href": "https://ci/1"}]})
        .to_string();
        let parsed = change_v2::parse(fields::parse_object(raw.as_bytes()).unwrap()).unwrap();
        Command::Change { service: service(), event: parsed.event, raw, received_at: Millis::now() }
    };
    s.apply(
        &[
            change("deploy 1", "2026-01-01T10:00:00Z"),
            change("deploy 2", "2026-01-01T11:00:00Z"),
            change("deploy 3", "2026-01-02T10:00:00Z"),
        ],
        &rules(),
    )
    .await
    .unwrap();
    let window = ChangeQuery {
        service: "payments".into(),
        since: Millis::parse_iso8601("2026-01-01T00:00:00Z").unwrap(),
        until: Millis::parse_iso8601("2026-01-01T23:59:59Z").unwrap(),
        limit: 10,
    };
    let found = s.change_events(&window).await.unwrap();
    let summaries: Vec<&str> = found.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["deploy 1", "deploy 2"]);
    assert_eq!(found[0].links[0].href, "https://ci/1");
    let latest = s.change_events(&ChangeQuery { limit: 1, ..window }).await.unwrap();
    assert_eq!(latest[0].summary, "deploy 2", "the limit keeps the latest");
}

async fn services_sync_idempotently(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    s.sync_services(&[service()]).await.unwrap();
    s.sync_services(&[ServiceRef::new("payments", UrgencyRule::Low)]).await.unwrap();
    apply_one(&*s, trigger("k", "x", "critical")).await.unwrap();
}

async fn reopening_the_store_keeps_everything(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let number = {
        let s = open(&db).await;
        apply_one(&*s, trigger("k", "durable", "info")).await.unwrap().incident.unwrap().1
    };
    let s = open(&db).await;
    let i = s.get_incident(&IncidentRef::Number(number)).await.unwrap().unwrap();
    assert_eq!(i.dedup_key, "durable");
    assert_eq!(apply_one(&*s, action("k", "durable", "resolve")).await.unwrap().transition, Transition::Resolved);
}

/// Two stores on one database stand for two Firehouse instances: racing triggers for one key make one incident.
async fn concurrent_writers_open_one_incident_per_key(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let a = open(&db).await;
    let b = open(&db).await;
    let mut tasks = Vec::new();
    for s in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..25 {
                // Every writer triggers the same keys in the same rounds, in batches like the ingestor's.
                let batch: Vec<Command> = (0..4).map(|k| trigger("k", &format!("race-{round}-{k}"), "error")).collect();
                for attempt in 1.. {
                    match s.apply(&batch, &rules()).await {
                        Ok(r) => {
                            outcomes.extend(transitions(&r));
                            break;
                        }
                        // PostgreSQL may pick a batch as a deadlock victim; the ingestor retries, so do we.
                        Err(e) if attempt < 5 => eprintln!("retrying a batch: {e}"),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            outcomes
        }));
    }
    let mut opened = 0;
    for t in tasks {
        opened += t.await.unwrap().iter().filter(|t| **t == Transition::Opened).count();
    }
    assert_eq!(opened, 100, "one incident per key");
    let page = a.list_incidents(&query(|q| q.limit = 1)).await.unwrap();
    assert_eq!(page.total, 100);
    for round in [0, 13, 24] {
        let key = format!("race-{round}-2");
        let i = a.list_incidents(&query(|q| q.dedup_key = Some(key.clone()))).await.unwrap();
        assert_eq!(i.incidents.len(), 1);
        assert_eq!(i.incidents[0].event_count, 4, "{key}: every writer's trigger is on the one incident");
    }
}

/// A delivered dispatch for the incident `number` opened (its row exists for the session to reference).
async fn delivered_dispatch(s: &dyn Store, number: i64) -> i64 {
    let rules = firehouse::config::Config::parse(
        "[[rules]]\nname = \"r\"\non = [\"acknowledged\"]\nactions = [\"a\"]\n\n[actions.a]\ntype = \"slack\"\nwebhook_url_env = \"X\"\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap()
    .rules();
    s.apply(&[manual(number, ManualAction::Acknowledge)], &rules).await.unwrap();
    let q = store::DispatchQuery { incident_number: Some(number), limit: 10, ..Default::default() };
    s.list_dispatches(&q).await.unwrap()[0].id
}

fn session_note(text: &str) -> store::SessionNote {
    store::SessionNote { author: "devin".into(), text: text.into(), details: json!({"session_id": "devin-1"}) }
}

fn session_report(polls: i64, status: &str, notes: &[&str], next: i64, done: bool) -> Command {
    Command::AgentSession {
        report: store::SessionReport {
            session_id: "devin-1".into(),
            polls,
            polled: Some(store::PolledSession {
                status: status.into(),
                pull_requests: vec![store::PullRequest {
                    pr_url: "https://github.com/o/r/pull/1".into(),
                    pr_state: None,
                }],
                structured_output: done.then(|| json!({"summary": "s"})),
            }),
            notes: notes.iter().map(|t| session_note(t)).collect(),
            postmortem: done.then(|| json!({"summary": "s"})),
            events: Vec::new(),
            next_poll_at: Millis(next),
            done,
        },
        received_at: Millis(next - 1_000),
    }
}

/// Sessions are followed once, claimed under a lease, and a report applies once: a stale one changes nothing.
async fn agent_sessions_are_followed_until_done(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let number = apply_one(&*s, trigger("k", "agent", "critical")).await.unwrap().incident.unwrap().1;
    let dispatch_id = delivered_dispatch(&*s, number).await;
    let new = store::NewAgentSession {
        incident_number: number,
        dispatch_id,
        action: "a".into(),
        session_id: "devin-1".into(),
        url: "https://app.devin.ai/sessions/1".into(),
        status: "new".into(),
        next_poll_at: Millis(20_000),
        at: Millis(5_000),
    };
    let track = |note: &str| Command::TrackSession { session: new.clone(), note: session_note(note) };
    assert_eq!(apply_one(&*s, track("started")).await.unwrap().transition, Transition::Appended);
    let again = apply_one(&*s, track("started again")).await.unwrap();
    assert_eq!((again.transition, again.incident), (Transition::Unchanged, None), "followed once");
    assert_eq!(s.next_session_poll().await.unwrap(), Some(Millis(20_000)));
    assert!(s.claim_sessions(Millis(19_999), Millis(60_000), 10).await.unwrap().is_empty(), "not due yet");

    let claimed = s.claim_sessions(Millis(20_000), Millis(80_000), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!((c.session_id.as_str(), c.status.as_str(), c.polls, c.done), ("devin-1", "new", 0, false));
    assert_eq!((c.next_poll_at, c.created_at, c.updated_at), (Millis(80_000), Millis(5_000), Millis(5_000)));
    assert!(s.claim_sessions(Millis(21_000), Millis(90_000), 10).await.unwrap().is_empty(), "leased");

    let applied = apply_one(&*s, session_report(0, "running", &["running"], 36_000, false)).await.unwrap();
    assert_eq!(applied.transition, Transition::Appended);
    let stale = apply_one(&*s, session_report(0, "exit", &["stale"], 37_000, true)).await.unwrap();
    assert_eq!((stale.transition, stale.incident), (Transition::Unchanged, None), "polled since: ignored");
    let row = &s.agent_sessions(number).await.unwrap()[0];
    assert_eq!(
        (row.status.as_str(), row.polls, row.next_poll_at, row.updated_at),
        ("running", 1, Millis(36_000), Millis(35_000))
    );
    assert_eq!(row.pull_requests[0].pr_url, "https://github.com/o/r/pull/1");
    assert!(s.postmortem(number).await.unwrap().is_none());

    let quiet = apply_one(&*s, session_report(1, "running", &[], 70_000, false)).await.unwrap();
    assert_eq!(quiet.transition, Transition::Unchanged);
    let row = &s.agent_sessions(number).await.unwrap()[0];
    assert_eq!((row.polls, row.updated_at), (2, Millis(35_000)), "no change: updated_at stays");

    apply_one(&*s, session_report(2, "exit", &["finished"], 90_000, true)).await.unwrap();
    let row = &s.agent_sessions(number).await.unwrap()[0];
    assert!(row.done && row.status == "exit");
    assert_eq!(row.structured_output, Some(json!({"summary": "s"})));
    assert_eq!(s.next_session_poll().await.unwrap(), None);
    assert!(s.claim_sessions(Millis(i64::MAX / 2), Millis(i64::MAX / 2), 10).await.unwrap().is_empty(), "done");
    let late = apply_one(&*s, session_report(3, "exit", &["after the end"], 95_000, true)).await.unwrap();
    assert_eq!(late.transition, Transition::Unchanged);
    let pm = s.postmortem(number).await.unwrap().unwrap();
    assert_eq!((pm.session_id.as_str(), pm.body.clone()), ("devin-1", json!({"summary": "s"})));

    let notes: Vec<String> = s
        .timeline(number)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "note")
        .map(|e| format!("{}: {}", e.raw["author"].as_str().unwrap(), e.summary.unwrap()))
        .collect();
    assert_eq!(notes, ["devin: started", "devin: running", "devin: finished"]);
}

/// Session events write their dispatches with the session's changes, once each: a session followed twice, a stale
/// report, a pull request reported again and a revised postmortem dispatch nothing more.
async fn session_events_dispatch_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let rules = firehouse::config::Config::parse(
        r#"
[[rules]]
name = "agent-news"
on = ["session_started", "pull_request_opened", "postmortem_ready"]
severities = ["critical"]
actions = ["hook", "chat"]

[[rules]]
name = "other-service"
on = ["pull_request_opened"]
services = ["checkout"]
actions = ["hook"]

[[rules]]
name = "ack"
on = ["acknowledged"]
actions = ["chat"]

[actions.hook]
type = "webhook"
url = "https://bridge.example.com/hook"

[actions.chat]
type = "slack"
webhook_url_env = "X"
"#,
        std::path::Path::new("t.toml"),
    )
    .unwrap()
    .rules();
    let (id, number) =
        s.apply(&[trigger("k", "agent", "critical")], &rules).await.unwrap()[0].clone().unwrap().incident.unwrap();
    s.apply(&[manual(number, ManualAction::Acknowledge)], &rules).await.unwrap();
    let listed = |s: Arc<dyn Store>| async move {
        let q = store::DispatchQuery { incident_number: Some(number), limit: 100, ..Default::default() };
        let mut keys: Vec<(String, String)> =
            s.list_dispatches(&q).await.unwrap().into_iter().map(|d| (d.transition, d.dispatch_key)).collect();
        keys.sort();
        keys
    };
    let q = store::DispatchQuery { incident_number: Some(number), limit: 10, ..Default::default() };
    let dispatch_id = s.list_dispatches(&q).await.unwrap()[0].id;
    let new = store::NewAgentSession {
        incident_number: number,
        dispatch_id,
        action: "devin".into(),
        session_id: "devin-7".into(),
        url: "https://app.devin.ai/sessions/7".into(),
        status: "new".into(),
        next_poll_at: Millis(20_000),
        at: Millis(5_000),
    };
    let track = Command::TrackSession { session: new.clone(), note: session_note("started") };
    s.apply(&[track.clone(), track], &rules).await.unwrap();

    let pr = |n: u32| format!("https://github.com/o/r/pull/{n}");
    let opened = |n: u32| firehouse::domain::SessionEvent::PullRequestOpened { pr_url: pr(n) };
    let ready = firehouse::domain::SessionEvent::PostmortemReady { session_id: "devin-7".into() };
    let report = |polls: i64, prs: &[u32], events: Vec<firehouse::domain::SessionEvent>| Command::AgentSession {
        report: store::SessionReport {
            session_id: "devin-7".into(),
            polls,
            polled: Some(store::PolledSession {
                status: "running".into(),
                pull_requests: prs.iter().map(|n| store::PullRequest { pr_url: pr(*n), pr_state: None }).collect(),
                structured_output: None,
            }),
            notes: vec![session_note("changed")],
            postmortem: events.contains(&ready).then(|| json!({"summary": "s"})),
            events,
            next_poll_at: Millis(30_000),
            done: false,
        },
        received_at: Millis(25_000),
    };
    s.apply(&[report(0, &[1], vec![opened(1)])], &rules).await.unwrap();
    let stale = apply_one(&*s, report(0, &[1, 2], vec![opened(2)])).await.unwrap();
    assert_eq!(stale.transition, Transition::Unchanged);
    s.apply(&[report(1, &[1, 3], vec![opened(1), opened(3), ready.clone()])], &rules).await.unwrap();
    s.apply(&[report(2, &[1, 3], vec![ready.clone()])], &rules).await.unwrap();

    let key = |action: &str, event: &str| format!("{id}:agent-news:{action}:{event}");
    let mut want = vec![("acknowledged".to_owned(), format!("{id}:ack:chat:acknowledged"))];
    for action in ["hook", "chat"] {
        want.push(("session_started".into(), key(action, "session_started:devin-7")));
        want.push(("pull_request_opened".into(), key(action, &format!("pull_request_opened:{}", pr(1)))));
        want.push(("pull_request_opened".into(), key(action, &format!("pull_request_opened:{}", pr(3)))));
        want.push(("postmortem_ready".into(), key(action, "postmortem_ready:devin-7")));
    }
    want.sort();
    assert_eq!(listed(s.clone()).await, want);
    let pm = s.postmortem(number).await.unwrap().unwrap();
    assert_eq!(pm.session_id, "devin-7", "the postmortem was stored with its event");
}

/// A held alert is due once its pause is over, whatever the service's configuration says by then.
async fn held_alerts_fall_due_when_their_pause_ends(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    assert!(!s.held_alerts_due(Millis(i64::MAX)).await.unwrap(), "nothing is held");
    let mut held = trigger("k", "blip", "critical");
    if let Command::Alert { service, .. } = &mut held {
        let pause = Some(std::time::Duration::from_secs(60));
        service.noise = Arc::new(firehouse::domain::noise::NoisePolicy { pause, ..Default::default() });
    }
    assert_eq!(transitions(&[apply_one(&*s, held).await]), [Transition::Held]);
    assert!(!s.held_alerts_due(Millis(1_000 + 59_999)).await.unwrap(), "still in its pause");
    assert!(s.held_alerts_due(Millis(1_000 + 60_000)).await.unwrap(), "its pause is over");
    // Released under a service that no longer pauses: the incident opens and nothing is held any more.
    let release = Command::Release { services: vec![service()], now: Millis(61_000) };
    s.apply(&[release], &rules()).await.unwrap();
    assert!(!s.held_alerts_due(Millis(i64::MAX)).await.unwrap());
    let page = s.list_incidents(&query(|_| {})).await.unwrap();
    assert_eq!(page.incidents.len(), 1, "its incident opened");
    assert_eq!(page.incidents[0].dedup_key, "blip");
}

/// Lookups by dedup key alone go through the alerts' indexes, and through indexes of their own for incidents and
/// events without an alert: each kind must still be found.
async fn dedup_key_searches_find_every_incident_and_event(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = open(&db).await;
    let ticket = Command::Ticket {
        source: "jira".into(),
        service: service(),
        severity: firehouse::domain::severity::Severity::Error,
        routed: true,
        delivery_id: None,
        ticket: firehouse::domain::external::Ticket {
            id: "db".into(),
            title: "db is slow".into(),
            description: String::new(),
            labels: vec![],
            url: None,
            reporter: None,
            action: "opened".into(),
        },
        raw: "{}".into(),
        received_at: Millis(5_000),
    };
    let commands = [
        trigger("k1", "db", "error"),
        action("k1", "db", "acknowledge"),
        action("k1", "db", "resolve"),
        trigger("k1", "db", "error"),
        action("k2", "db", "resolve"),
        trigger("k1", "other", "error"),
        ticket,
    ];
    let results = s.apply(&commands, &rules()).await.unwrap();
    assert_eq!(transitions(&results)[4], Transition::Dropped(firehouse::domain::DropReason::NoOpenAlert));

    let incidents = s.list_incidents(&query(|q| q.dedup_key = Some("db".into()))).await.unwrap();
    let found: Vec<_> = incidents.incidents.iter().map(|i| (i.number, i.status)).collect();
    assert_eq!(incidents.total, 3, "{found:?}");
    assert_eq!(found, [(4, IncidentStatus::Triggered), (2, IncidentStatus::Triggered), (1, IncidentStatus::Resolved)]);
    let other = s.list_incidents(&query(|q| q.dedup_key = Some("other".into()))).await.unwrap();
    assert_eq!(other.total, 1);

    let events = |key: &str, service: Option<&str>| {
        let q = store::EventQuery {
            dedup_key: Some(key.into()),
            service: service.map(str::to_owned),
            limit: 100,
            ..Default::default()
        };
        let s = s.clone();
        async move { s.search_events(&q).await.unwrap() }
    };
    let db_events = events("db", None).await;
    let actions: Vec<_> = db_events.iter().map(|e| (e.action.as_str(), e.incident_number)).collect();
    assert_eq!(db_events.len(), 6, "{actions:?}");
    assert!(db_events.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(actions[1], ("resolve", None), "the dropped resolve is found too");
    assert_eq!(events("db", Some("payments")).await.len(), 6);
    assert!(events("db", Some("elsewhere")).await.is_empty());
    assert_eq!(events("other", None).await.len(), 1);
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_every_backend!(
    lifecycle_follows_pagerduty,
    dedup_is_scoped_to_the_integration_key,
    operators_act_on_incidents,
    lists_filter_and_page_newest_first,
    change_events_are_kept_per_service,
    services_sync_idempotently,
    reopening_the_store_keeps_everything,
    concurrent_writers_open_one_incident_per_key,
    agent_sessions_are_followed_until_done,
    session_events_dispatch_once,
    held_alerts_fall_due_when_their_pause_ends,
    dedup_key_searches_find_every_incident_and_event,
);

/// The ingest writer and the readers are separate connections, so a private in-memory database cannot serve them.
#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused() {
    let refused = store::open("sqlite::memory:").await.err().expect("an in-memory database is refused");
    assert!(refused.to_string().contains("in-memory SQLite database"), "{refused}");
}
