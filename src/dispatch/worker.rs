//! The outbox worker: claims due dispatches under a lease, delivers them, records each attempt.
//!
//! Several workers (in one or many Firehouse instances) may run against one database: a claim is a
//! lease, so a dispatch whose worker died is claimed again once its lease expires. Responders make
//! the repeat harmless (Devin sessions are looked up by their dispatch tag before being created).

use super::backoff;
use super::{Delivery, DispatchContext, Responders, SessionEventContext};
use crate::domain::{Incident, Millis, SessionEvent, Transition, Trigger};
use crate::ingest::Ingestor;
use crate::store::{
    ChangeQuery, Command, DispatchRecord, DispatchStatus, DispatchUpdate, IncidentRef, NewAgentSession, SessionNote,
    Store, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long a claim lasts; longer than any responder's timeout.
    pub lease: Duration,
    /// How often to look for due dispatches when nothing wakes the worker.
    pub poll: Duration,
    /// Dispatches claimed (and delivered concurrently) at a time.
    pub batch: u32,
    /// How far before an incident its service's change events are gathered for responders.
    pub change_window: Duration,
    /// Base URL of Firehouse for links (`server.public_url`).
    pub public_url: Option<String>,
    /// When an agent session a delivery started is first polled (see [`super::sessions`]).
    pub first_session_poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(1),
            batch: 16,
            change_window: Duration::from_secs(24 * 3600),
            public_url: None,
            first_session_poll: Duration::from_secs(15),
        }
    }
}

/// Delivers dispatches.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    /// Records the sessions deliveries start (with the dispatches of rules on `session_started`).
    ingestor: Ingestor,
    responders: Arc<Responders>,
    settings: WorkerSettings,
    /// This worker's lease identity (unique per process).
    owner: String,
}

impl Worker {
    /// A worker over `store` delivering with `responders`, recording the agent sessions deliveries start through
    /// `ingestor`.
    pub fn new(
        store: Arc<dyn Store>,
        ingestor: Ingestor,
        responders: Arc<Responders>,
        settings: WorkerSettings,
    ) -> Self {
        Worker { store, ingestor, responders, settings, owner: format!("worker-{}", uuid::Uuid::new_v4().simple()) }
    }

    /// Runs until `stop` turns true: woken by `wake` (new dispatches) or every `poll`.
    pub fn spawn(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    return;
                }
                match self.run_once().await {
                    // A full batch: there may be more due right away.
                    Ok(n) if n >= self.settings.batch as usize => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox: could not claim dispatches"),
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    }

    /// Claims the dispatches due now and delivers them; returns how many it claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = Millis::now();
        if !self.store.dispatches_due(now).await? {
            return Ok(0);
        }
        let lease_until = Millis(now.0 + self.settings.lease.as_millis() as i64);
        let claimed = self.store.claim_dispatches(&self.owner, now, lease_until, self.settings.batch).await?;
        let n = claimed.len();
        let deliveries = claimed.into_iter().map(|d| {
            let this = self.clone();
            tokio::spawn(async move { this.deliver(d).await })
        });
        for handle in deliveries.collect::<Vec<_>>() {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "outbox: a delivery task failed");
            }
        }
        Ok(n)
    }

    async fn deliver(&self, d: DispatchRecord) {
        let outcome = match self.context(&d).await {
            Ok(Ok(ctx)) => match self.responders.get(&d.action) {
                Some(responder) => {
                    // Never outlive the lease: past it another worker may take the dispatch.
                    let budget = self.settings.lease.mul_f64(0.8);
                    match tokio::time::timeout(budget, responder.deliver(&ctx)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Delivery::Retry { error: "delivery took longer than its lease".into(), after: None },
                    }
                }
                None => Delivery::Fail { error: format!("action {:?} is no longer configured", d.action) },
            },
            Ok(Err(error)) => Delivery::Fail { error },
            Err(e) => Delivery::Retry { error: format!("could not load the incident: {e}"), after: None },
        };
        let outcome = self.track_session(&d, outcome).await;
        let update = Self::record(&d, outcome, Millis::now(), jitter());
        match &update.status {
            DispatchStatus::Done => tracing::info!(dispatch = d.id, action = %d.action, "dispatch delivered"),
            DispatchStatus::Pending => {
                tracing::warn!(dispatch = d.id, action = %d.action, attempt = d.attempts, error = ?update.last_error, "dispatch will be retried")
            }
            DispatchStatus::Dead => {
                tracing::error!(dispatch = d.id, action = %d.action, error = ?update.last_error, "dispatch dead-lettered")
            }
        }
        match self.store.finish_dispatch(d.id, &self.owner, &update).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(dispatch = d.id, "outbox: lease lost before the attempt was recorded"),
            Err(e) => tracing::error!(dispatch = d.id, error = %e, "outbox: could not record an attempt"),
        }
    }

    /// Starts following the agent session a delivery reports (its result has a `session_id` and a `url`), through the
    /// writer, so the rules on `session_started` dispatch in the same transaction. When that cannot be recorded the
    /// delivery is retried: its next attempt finds the session (by its dispatch tag) again.
    async fn track_session(&self, d: &DispatchRecord, outcome: Delivery) -> Delivery {
        let Delivery::Done { result: Some(result) } = &outcome else { return outcome };
        let now = Millis::now();
        let Some(session) = Self::started_session(d, result, now, self.settings.first_session_poll) else {
            return outcome;
        };
        let note = SessionNote {
            author: "firehouse".to_owned(),
            text: format!(
                "Action {} started agent session {} ({}): {}",
                d.action, session.session_id, session.status, session.url
            ),
            details: serde_json::json!({
                "session_id": session.session_id, "url": session.url, "action": d.action, "dispatch_id": d.id,
                "change": "started", "status": session.status,
            }),
        };
        let session_id = session.session_id.clone();
        match self.ingestor.submit(Command::TrackSession { session, note }).await {
            Ok(Ok(tracked)) => {
                if tracked.transition == Transition::Appended {
                    tracing::info!(dispatch = d.id, session = %session_id, "following the agent session");
                }
                outcome
            }
            Ok(Err(refused)) => {
                tracing::warn!(dispatch = d.id, session = %session_id, reason = %refused, "the agent session is not followed");
                outcome
            }
            Err(e) => Delivery::Retry { error: format!("could not record the agent session: {e}"), after: None },
        }
    }

    /// The session a delivery's `result` reports, if any.
    pub fn started_session(
        d: &DispatchRecord,
        result: &serde_json::Value,
        now: Millis,
        first_poll: Duration,
    ) -> Option<NewAgentSession> {
        let text = |key: &str| result.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_owned);
        Some(NewAgentSession {
            incident_number: d.incident_number,
            dispatch_id: d.id,
            action: d.action.clone(),
            session_id: text("session_id")?,
            url: text("url")?,
            status: text("status").unwrap_or_else(|| "new".to_owned()),
            next_poll_at: Millis(now.0 + first_poll.as_millis() as i64),
            at: now,
        })
    }

    /// What an attempt's outcome makes of the dispatch.
    pub fn record(d: &DispatchRecord, outcome: Delivery, now: Millis, jitter: f64) -> DispatchUpdate {
        match outcome {
            Delivery::Done { result } => {
                DispatchUpdate { status: DispatchStatus::Done, next_attempt_at: now, last_error: None, result, at: now }
            }
            Delivery::Fail { error } => DispatchUpdate {
                status: DispatchStatus::Dead,
                next_attempt_at: now,
                last_error: Some(error),
                result: None,
                at: now,
            },
            Delivery::Retry { error, after } => {
                let wait = backoff::delay(d.attempts.max(1) as u32, after, jitter);
                let next = Millis(now.0 + wait.as_millis() as i64);
                if next > d.deadline {
                    DispatchUpdate {
                        status: DispatchStatus::Dead,
                        next_attempt_at: now,
                        last_error: Some(format!("gave up after {} attempts: {error}", d.attempts)),
                        result: None,
                        at: now,
                    }
                } else {
                    DispatchUpdate {
                        status: DispatchStatus::Pending,
                        next_attempt_at: next,
                        last_error: Some(error),
                        result: None,
                        at: now,
                    }
                }
            }
        }
    }

    /// What the responder gets, or why the dispatch cannot be delivered at all.
    async fn context(&self, d: &DispatchRecord) -> Result<Result<DispatchContext, String>, StoreError> {
        let Some(incident) = self.store.get_incident(&IncidentRef::Number(d.incident_number)).await? else {
            return Ok(Err("the incident no longer exists".into()));
        };
        let session_event = match d.transition.parse::<Trigger>() {
            Ok(trigger) if trigger.is_session_event() => match self.session_event(d, &incident, trigger).await? {
                Some(event) => Some(event),
                None => return Ok(Err(format!("the dispatch key names no {trigger} event"))),
            },
            _ => None,
        };
        let timeline = self.store.timeline(incident.number).await?;
        let window = self.settings.change_window.as_millis() as i64;
        let changes = self
            .store
            .change_events(&ChangeQuery {
                service: incident.service.clone(),
                since: Millis(incident.created_at.0 - window),
                until: incident.resolved_at.unwrap_or(Millis::now()),
                limit: 50,
            })
            .await?;
        let incident_url = self.public_link(&format!("/incidents/{}", incident.id));
        Ok(Ok(DispatchContext {
            dispatch_id: d.id,
            dispatch_key: d.dispatch_key.clone(),
            attempt: d.attempts.max(1) as u32,
            rule: d.rule.clone(),
            action: d.action.clone(),
            transition: d.transition.clone(),
            session_event,
            incident,
            timeline,
            changes,
            incident_url,
        }))
    }

    /// The session event a dispatch stands for (read back from its key), with the session it is about.
    async fn session_event(
        &self,
        d: &DispatchRecord,
        incident: &Incident,
        trigger: Trigger,
    ) -> Result<Option<SessionEventContext>, StoreError> {
        let Some(event) = SessionEvent::from_dispatch_key(&d.dispatch_key, &incident.id, &d.rule, &d.action, trigger)
        else {
            return Ok(None);
        };
        let sessions = self.store.agent_sessions(incident.number).await?;
        let session = sessions.into_iter().find(|s| match &event {
            SessionEvent::Started { session_id } | SessionEvent::PostmortemReady { session_id } => {
                &s.session_id == session_id
            }
            SessionEvent::PullRequestOpened { pr_url } => s.pull_requests.iter().any(|p| &p.pr_url == pr_url),
        });
        let postmortem_url = matches!(event, SessionEvent::PostmortemReady { .. }).then(|| {
            let path = format!("/api/v1/incidents/{}/postmortem.md", incident.id);
            self.public_link(&path).unwrap_or(path)
        });
        Ok(Some(SessionEventContext { event, session, occurred_at: d.created_at, postmortem_url }))
    }

    /// `path` under `server.public_url`, when it is set.
    fn public_link(&self, path: &str) -> Option<String> {
        self.settings.public_url.as_ref().map(|base| format!("{}{path}", base.trim_end_matches('/')))
    }
}

/// A uniform draw in `[0, 1)` for backoff jitter.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispatch(attempts: i64, deadline: i64) -> DispatchRecord {
        DispatchRecord {
            id: 1,
            dispatch_key: "i:r:a:triggered".into(),
            incident_number: 1,
            rule: "r".into(),
            action: "a".into(),
            transition: "triggered".into(),
            status: DispatchStatus::Pending,
            attempts,
            next_attempt_at: Millis(0),
            last_error: None,
            result: None,
            created_at: Millis(0),
            deadline: Millis(deadline),
            updated_at: Millis(0),
        }
    }

    #[test]
    fn retries_back_off_until_the_deadline_then_dead_letter() {
        let d = dispatch(3, 1_000_000);
        let u = Worker::record(&d, Delivery::Retry { error: "502".into(), after: None }, Millis(1_000), 0.5);
        assert_eq!(u.status, DispatchStatus::Pending);
        assert_eq!(u.next_attempt_at, Millis(1_000 + 4_000));
        let late = Worker::record(&d, Delivery::Retry { error: "502".into(), after: None }, Millis(999_000), 0.5);
        assert_eq!(late.status, DispatchStatus::Dead);
        assert!(late.last_error.unwrap().contains("gave up after 3 attempts: 502"));
    }

    #[test]
    fn retry_after_is_honoured() {
        let d = dispatch(1, 10_000_000);
        let after = Some(Duration::from_secs(120));
        let u = Worker::record(&d, Delivery::Retry { error: "429".into(), after }, Millis(0), 0.1);
        assert_eq!(u.next_attempt_at, Millis(120_000));
    }

    #[test]
    fn permanent_failures_dead_letter_at_once_and_successes_keep_their_result() {
        let d = dispatch(1, 10_000_000);
        assert_eq!(
            Worker::record(&d, Delivery::Fail { error: "401".into() }, Millis(0), 0.5).status,
            DispatchStatus::Dead
        );
        let done = Worker::record(
            &d,
            Delivery::Done { result: Some(serde_json::json!({"session_id": "devin-1"})) },
            Millis(0),
            0.5,
        );
        assert_eq!((done.status, done.result.unwrap()["session_id"].as_str()), (DispatchStatus::Done, Some("devin-1")));
    }

    #[test]
    fn a_result_with_a_session_id_and_url_starts_following_the_session() {
        let d = dispatch(1, 10_000_000);
        let result = serde_json::json!({"session_id": "devin-1", "url": "https://app.devin.ai/sessions/1"});
        let s = Worker::started_session(&d, &result, Millis(1_000), Duration::from_secs(15)).unwrap();
        assert_eq!(
            (s.session_id.as_str(), s.status.as_str(), s.dispatch_id, s.incident_number),
            ("devin-1", "new", 1, 1)
        );
        assert_eq!((s.next_poll_at, s.at, s.action.as_str()), (Millis(16_000), Millis(1_000), "a"));
        for other in [
            serde_json::json!({"message_sent": false, "reason": "no session"}),
            serde_json::json!({"session_id": "devin-1"}),
            serde_json::json!({"session_id": "", "url": "u"}),
            serde_json::json!({"status": 202}),
        ] {
            assert!(Worker::started_session(&d, &other, Millis(0), Duration::ZERO).is_none(), "{other}");
        }
    }

    #[test]
    fn jitter_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
