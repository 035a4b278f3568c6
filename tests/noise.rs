//! Noise reduction with fixed clocks: grouping, the transient-alert pause, flapping, silences and
//! maintenance windows, on every backend; and a storm of 10,000 events.

#[path = "common/databases.rs"]
mod databases;

use databases::{Backend, TestDb};
use firehouse::domain::noise::{Flapping, Grouping, NoisePolicy};
use firehouse::domain::rules::{MatcherSpec, Rule, RuleSet};
use firehouse::domain::{IncidentStatus, Millis, Protocol, ServiceRef, Transition, Trigger, UrgencyRule};
use firehouse::store::{self, Command, DispatchQuery, IncidentQuery, SilenceRecord, Store};
use firehouse::wire::{events_v2, fields};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_800_000_000_000;

fn at(seconds: i64) -> Millis {
    Millis(T0 + seconds * 1000)
}

fn service(noise: NoisePolicy) -> ServiceRef {
    ServiceRef { name: "payments".into(), urgency: UrgencyRule::High, noise: Arc::new(noise) }
}

fn alert(svc: &ServiceRef, action: &str, dedup: &str, source: &str, when: Millis) -> Command {
    let body = json!({"routing_key": "k", "event_action": action, "dedup_key": dedup,
        "payload": {"summary": format!("{dedup} on {source}"), "source": source, "severity": "critical",
                    "custom_details": {"cluster": "eu-1"}}});
    let raw = body.to_string();
    let parsed = events_v2::parse(fields::parse_object(raw.as_bytes()).unwrap(), None).unwrap();
    Command::Alert {
        service: svc.clone(),
        integration_key: parsed.integration_key,
        protocol: Protocol::V2,
        event: parsed.event,
        raw,
        received_at: when,
    }
}

fn triage_rules() -> RuleSet {
    RuleSet {
        rules: vec![Rule {
            name: "triage".into(),
            on: vec![Trigger::Triggered],
            services: vec![],
            severities: vec![],
            urgencies: vec![],
            matchers: vec![],
            actions: vec!["devin".into()],
            stop: false,
        }],
        ..RuleSet::default()
    }
}

async fn run(s: &dyn Store, cmds: Vec<Command>) -> Vec<Transition> {
    let mut out = Vec::new();
    for c in cmds {
        out.push(s.apply(&[c], &triage_rules()).await.unwrap().remove(0).unwrap().transition);
    }
    out
}

async fn count(s: &dyn Store, statuses: Vec<IncidentStatus>) -> i64 {
    s.list_incidents(&IncidentQuery { statuses, limit: 1, ..Default::default() }).await.unwrap().total
}

async fn sessions(s: &dyn Store) -> usize {
    s.list_dispatches(&DispatchQuery { limit: 100, ..Default::default() }).await.unwrap().len()
}

fn grouping(window: u64, all: bool) -> NoisePolicy {
    NoisePolicy {
        grouping: Some(Grouping {
            by: vec!["custom_details.cluster".into()],
            window: Duration::from_secs(window),
            resolve_when_all_resolved: all,
        }),
        ..Default::default()
    }
}

async fn grouped_alerts_share_one_incident_until_all_resolve(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = store::open(&db.url).await.unwrap();
    let svc = service(grouping(300, true));
    use Transition::*;
    let t = run(
        &*s,
        vec![
            alert(&svc, "trigger", "disk", "db1", at(0)),
            alert(&svc, "trigger", "cpu", "db2", at(60)),
            alert(&svc, "trigger", "mem", "db3", at(400)), // outside the window: a new incident
            alert(&svc, "resolve", "disk", "db1", at(500)),
            alert(&svc, "resolve", "cpu", "db2", at(510)),
        ],
    )
    .await;
    assert_eq!(t, vec![Opened, Grouped, Opened, AlertResolved, Resolved]);
    assert_eq!(count(&*s, vec![]).await, 2);
    assert_eq!(count(&*s, vec![IncidentStatus::Resolved]).await, 1);
    assert_eq!(sessions(&*s).await, 2, "one triage per incident, not per alert");
    let q = IncidentQuery { dedup_key: Some("disk".into()), limit: 1, ..Default::default() };
    let first = s.list_incidents(&q).await.unwrap().incidents.remove(0);
    let timeline = s.timeline(first.number).await.unwrap();
    let outcomes: Vec<&str> = timeline.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["opened", "grouped", "alert_resolved", "resolved"], "the incident lists its alerts");

    // "any": the first resolve resolves the incident.
    let svc = ServiceRef { name: "checkout".into(), ..service(grouping(300, false)) };
    let t = run(
        &*s,
        vec![
            alert(&svc, "trigger", "a", "h", at(1000)),
            alert(&svc, "trigger", "b", "h", at(1001)),
            alert(&svc, "resolve", "a", "h", at(1002)),
        ],
    )
    .await;
    assert_eq!(t, vec![Opened, Grouped, Resolved]);
}

async fn transient_alerts_open_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = store::open(&db.url).await.unwrap();
    let svc = service(NoisePolicy { pause: Some(Duration::from_secs(60)), ..Default::default() });
    let release = |secs| Command::Release { services: vec![svc.clone()], now: at(secs) };
    use Transition::*;
    let t = run(
        &*s,
        vec![
            alert(&svc, "trigger", "blip", "h", at(0)),
            alert(&svc, "trigger", "blip", "h", at(10)),
            alert(&svc, "resolve", "blip", "h", at(20)), // within the pause: transient
            alert(&svc, "trigger", "real", "h", at(30)),
            release(60), // "real" still waits until 90
        ],
    )
    .await;
    assert_eq!(t[..4], [Held, Appended, Dropped(firehouse::domain::DropReason::Transient), Held]);
    assert_eq!(count(&*s, vec![]).await, 0);
    run(&*s, vec![release(91)]).await;
    assert_eq!(count(&*s, vec![]).await, 1);
    assert_eq!(sessions(&*s).await, 1, "only the real alert starts a session");
    let real = s.list_incidents(&IncidentQuery { limit: 1, ..Default::default() }).await.unwrap().incidents.remove(0);
    assert_eq!(real.dedup_key, "real");
    let timeline = s.timeline(real.number).await.unwrap();
    assert_eq!(timeline.first().unwrap().outcome, "held", "the held trigger is on the incident's timeline");
    assert_eq!(timeline.last().unwrap().action, "release");
    // After release the alert is open as usual.
    assert_eq!(run(&*s, vec![alert(&svc, "resolve", "real", "h", at(100))]).await, vec![Resolved]);
}

async fn flapping_alerts_are_held_open(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = store::open(&db.url).await.unwrap();
    let noise = NoisePolicy {
        flapping: Some(Flapping { max_cycles: 2, window: Duration::from_secs(600) }),
        ..Default::default()
    };
    let svc = service(noise);
    let mut cmds = Vec::new();
    for i in 0..6 {
        cmds.push(alert(&svc, "trigger", "flappy", "h", at(i * 20)));
        cmds.push(alert(&svc, "resolve", "flappy", "h", at(i * 20 + 10)));
    }
    let t = run(&*s, cmds).await;
    use Transition::*;
    assert_eq!(t[..6], [Opened, Resolved, Opened, Resolved, Opened, HeldOpen]);
    assert_eq!(t[6..], [Appended, HeldOpen, Appended, HeldOpen, Appended, HeldOpen]);
    assert_eq!(count(&*s, vec![]).await, 3, "no new incident once it flaps");
    assert_eq!(count(&*s, vec![IncidentStatus::Triggered]).await, 1, "held open");
    // Quiet for the window: the release resolves it.
    run(&*s, vec![Command::Release { services: vec![svc.clone()], now: at(300) }]).await;
    assert_eq!(count(&*s, vec![IncidentStatus::Triggered]).await, 1, "not quiet long enough yet");
    run(&*s, vec![Command::Release { services: vec![svc.clone()], now: at(800) }]).await;
    assert_eq!(count(&*s, vec![IncidentStatus::Triggered]).await, 0);
}

async fn silences_and_maintenance_windows_suppress_new_alerts(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = store::open(&db.url).await.unwrap();
    let spec = MatcherSpec { field: "source".into(), equals: Some("db1".into()), one_of: None, regex: None };
    s.create_silence(&SilenceRecord {
        id: 0,
        matchers: vec![spec],
        starts_at: at(0),
        ends_at: at(100),
        created_by: "alice".into(),
        comment: "db1 migration".into(),
        created_at: at(0),
    })
    .await
    .unwrap();
    let svc = service(NoisePolicy { maintenance: vec![(at(1000), at(2000))], ..Default::default() });
    let silenced = Transition::Dropped(firehouse::domain::DropReason::Silenced);
    let t = run(
        &*s,
        vec![
            alert(&svc, "trigger", "a", "db1", at(50)),   // silenced
            alert(&svc, "trigger", "b", "db2", at(50)),   // not matched
            alert(&svc, "trigger", "c", "db1", at(150)),  // the silence is over
            alert(&svc, "trigger", "d", "db9", at(1500)), // maintenance window
        ],
    )
    .await;
    assert_eq!(t, vec![silenced, Transition::Opened, Transition::Opened, silenced]);
    assert_eq!(sessions(&*s).await, 2, "silenced alerts run no action");
    let active = s.list_silences(Some(at(50))).await.unwrap();
    assert_eq!(active.len(), 1);
    assert!(s.expire_silence(active[0].id, at(60)).await.unwrap());
    assert_eq!(run(&*s, vec![alert(&svc, "trigger", "e", "db1", at(70))]).await, vec![Transition::Opened]);
}

/// 10,000 events from 50 hosts of one cluster — 40 of them really failing and re-triggering, 10 blinking
/// on and off within the pause — open one incident and start one agent session.
async fn a_storm_opens_few_incidents_and_sessions(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let s = store::open(&db.url).await.unwrap();
    let noise = NoisePolicy {
        grouping: Some(Grouping {
            by: vec!["custom_details.cluster".into()],
            window: Duration::from_secs(3600),
            resolve_when_all_resolved: true,
        }),
        pause: Some(Duration::from_secs(30)),
        flapping: Some(Flapping { max_cycles: 3, window: Duration::from_secs(3600) }),
        ..Default::default()
    };
    let svc = service(noise);
    let rules = triage_rules();
    let mut batch = Vec::with_capacity(500);
    for i in 0..10_000i64 {
        let host = i % 50;
        let when = at(i / 10); // 10 events a second for ~17 minutes
        let dedup = format!("host-{host}/disk");
        let blinking = host >= 40;
        let action = if blinking && (i / 50) % 2 == 1 { "resolve" } else { "trigger" };
        batch.push(alert(&svc, action, &dedup, &format!("host-{host}"), when));
        if i % 250 == 249 {
            batch.push(Command::Release { services: vec![svc.clone()], now: when });
        }
        if batch.len() >= 500 {
            s.apply(&batch, &rules).await.unwrap();
            batch.clear();
        }
    }
    s.apply(&batch, &rules).await.unwrap();
    assert_eq!(count(&*s, vec![]).await, 1, "one incident for the cluster");
    assert_eq!(sessions(&*s).await, 1, "one agent session");
    let incident =
        s.list_incidents(&IncidentQuery { limit: 1, ..Default::default() }).await.unwrap().incidents.remove(0);
    assert!(incident.event_count > 7_000, "the failing hosts' events are all on it: {}", incident.event_count);
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
    grouped_alerts_share_one_incident_until_all_resolve,
    transient_alerts_open_nothing,
    flapping_alerts_are_held_open,
    silences_and_maintenance_windows_suppress_new_alerts,
    a_storm_opens_few_incidents_and_sessions,
);
