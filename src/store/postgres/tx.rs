//! The row primitives of the ingest path on PostgreSQL: the shared statements, with row locks where two instances'
//! batches may touch the same rows.

use super::{parse_col, silence_from_row};
use crate::domain::{ChangeEvent, IncidentStatus, Millis, ServiceRef};
use crate::store::apply::{
    HeldAlert, IncidentFacts, IncidentHead, IngestTx, NewDispatch, NewEvent, NewIncident, OpenAlert,
};
use crate::store::statements::{self, *};
use crate::store::{IncidentRef, SilenceRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

/// One write transaction's connection.
pub(super) struct Tx<'c>(pub(super) &'c mut PgConnection);

impl Tx<'_> {
    /// One statement of the shared text, locking the rows it reads until the transaction ends.
    fn locked(sql: &str) -> String {
        format!("{sql} FOR UPDATE")
    }
}

impl IngestTx for Tx<'_> {
    async fn active_silences(&mut self, since: Millis) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = sqlx::query(ACTIVE_SILENCES).bind(since.0).fetch_all(&mut *self.0).await?;
        Ok(rows.iter().map(silence_from_row).collect::<Result<_, _>>()?)
    }

    async fn open_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<OpenAlert>, StoreError> {
        // Locked (where rows can be), so concurrent events for one alert apply one after the other,
        // each seeing the other's outcome.
        let sql = format!("{OPEN_ALERT} FOR UPDATE OF a");
        let row = sqlx::query(&sql).bind(integration_key).bind(dedup_key).fetch_optional(&mut *self.0).await?;
        let open = row.map(|r| -> Result<OpenAlert, sqlx::Error> {
            Ok(OpenAlert {
                alert_id: r.try_get(0)?,
                incident_number: r.try_get(1)?,
                incident_id: r.try_get(2)?,
                status: parse_col(&r, 3)?,
            })
        });
        Ok(open.transpose()?)
    }

    async fn ensure_service(&mut self, service: &ServiceRef, at: Millis) -> Result<(), StoreError> {
        sqlx::query(ENSURE_SERVICE)
            .bind(&service.name)
            .bind(service.urgency.as_str())
            .bind(at.0)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn next_incident_number(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT nextval('incident_numbers')").fetch_one(&mut *self.0).await?.try_get(0)?)
    }

    async fn claim_alert(
        &mut self,
        incident_number: i64,
        integration_key: &str,
        dedup_key: &str,
        at: Millis,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(CLAIM_ALERT)
            .bind(incident_number)
            .bind(integration_key)
            .bind(dedup_key)
            .bind(at.0)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn insert_incident(&mut self, n: &NewIncident<'_>) -> Result<(), StoreError> {
        sqlx::query(INSERT_INCIDENT)
            .bind(n.number)
            .bind(n.id)
            .bind(n.service)
            .bind(n.dedup_key)
            .bind(n.title)
            .bind(n.severity.as_str())
            .bind(n.urgency.as_str())
            .bind(n.source)
            .bind(n.component)
            .bind(n.group)
            .bind(n.class)
            .bind(n.details.map(|v| v.to_string()))
            .bind(n.at.0)
            .bind(n.origin.as_str())
            .bind(n.origin_source)
            .bind(n.external_id)
            .bind(n.external_url)
            .bind(n.description)
            .bind(labels_to(n.labels))
            .bind(n.group_key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn held_alert(&mut self, integration_key: &str, dedup_key: &str) -> Result<Option<HeldAlert>, StoreError> {
        let row = sqlx::query(HELD_ALERT).bind(integration_key).bind(dedup_key).fetch_optional(&mut *self.0).await?;
        Ok(row.as_ref().map(held_from_row).transpose()?)
    }

    async fn insert_held(&mut self, h: &HeldAlert) -> Result<i64, StoreError> {
        Ok(sqlx::query(INSERT_HELD)
            .bind(&h.integration_key)
            .bind(&h.dedup_key)
            .bind(&h.service)
            .bind(h.urgency.as_str())
            .bind(&h.title)
            .bind(h.severity.as_str())
            .bind(&h.source)
            .bind(&h.component)
            .bind(&h.group)
            .bind(&h.class)
            .bind(h.details.as_ref().map(|d| d.to_string()))
            .bind(h.received_at.0)
            .bind(h.opens_at.0)
            .fetch_one(&mut *self.0)
            .await?
            .try_get(0)?)
    }

    async fn delete_held(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query(DELETE_HELD).bind(id).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn due_held(&mut self, now: Millis) -> Result<Vec<HeldAlert>, StoreError> {
        let rows = sqlx::query(DUE_HELD).bind(now.0).fetch_all(&mut *self.0).await?;
        Ok(rows.iter().map(held_from_row).collect::<Result<_, _>>()?)
    }

    async fn adopt_held_events(&mut self, held_id: i64, incident_number: i64, alert_id: i64) -> Result<(), StoreError> {
        sqlx::query(ADOPT_HELD_EVENTS).bind(incident_number).bind(alert_id).bind(held_id).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn group_incident(
        &mut self,
        service: &str,
        group_key: &str,
        since: Millis,
    ) -> Result<Option<IncidentHead>, StoreError> {
        let row = sqlx::query(GROUP_INCIDENT)
            .bind(service)
            .bind(group_key)
            .bind(since.0)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    async fn flapping_incident(
        &mut self,
        service: &str,
        integration_key: &str,
        dedup_key: &str,
    ) -> Result<Option<IncidentHead>, StoreError> {
        let row = sqlx::query(FLAPPING_INCIDENT)
            .bind(service)
            .bind(integration_key)
            .bind(dedup_key)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    async fn resolved_since(
        &mut self,
        integration_key: &str,
        dedup_key: &str,
        since: Millis,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(RESOLVED_SINCE)
            .bind(integration_key)
            .bind(dedup_key)
            .bind(since.0)
            .fetch_one(&mut *self.0)
            .await?
            .try_get(0)?)
    }

    async fn set_flapping(&mut self, incident_number: i64, at: Millis) -> Result<(), StoreError> {
        sqlx::query(SET_FLAPPING).bind(at.0).bind(incident_number).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn quiet_flapping(&mut self, service: &str, quiet_since: Millis) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(QUIET_FLAPPING).bind(service).bind(quiet_since.0).fetch_all(&mut *self.0).await?;
        Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
    }

    async fn set_alert_status(&mut self, alert_id: i64, status: IncidentStatus, at: Millis) -> Result<(), StoreError> {
        sqlx::query(SET_ALERT_STATUS)
            .bind(status.as_str())
            .bind(resolved_at(status, at))
            .bind(alert_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn open_alert_count(&mut self, incident_number: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query(OPEN_ALERT_COUNT).bind(incident_number).fetch_one(&mut *self.0).await?.try_get(0)?)
    }

    async fn record_delivery(&mut self, source: &str, delivery_id: &str, at: Millis) -> Result<bool, StoreError> {
        let inserted = sqlx::query(RECORD_DELIVERY)
            .bind(source)
            .bind(delivery_id)
            .bind(at.0)
            .execute(&mut *self.0)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn find_external(
        &mut self,
        origin: crate::domain::external::Origin,
        source: &str,
        external_id: &str,
    ) -> Result<Option<IncidentHead>, StoreError> {
        let row = sqlx::query(FIND_EXTERNAL)
            .bind(origin.as_str())
            .bind(source)
            .bind(external_id)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    async fn set_labels(&mut self, incident_number: i64, labels: &[String]) -> Result<(), StoreError> {
        sqlx::query(SET_LABELS).bind(labels_to(labels)).bind(incident_number).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn set_alerts_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(SET_ALERTS_STATUS)
            .bind(status.as_str())
            .bind(resolved_at(status, at))
            .bind(incident_number)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn set_incident_status(
        &mut self,
        incident_number: i64,
        status: IncidentStatus,
        at: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(statements::set_incident_status(status))
            .bind(at.0)
            .bind(incident_number)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, StoreError> {
        let row = match r {
            IncidentRef::Number(n) => {
                sqlx::query(&Self::locked(INCIDENT_BY_NUMBER)).bind(*n).fetch_optional(&mut *self.0).await?
            }
            IncidentRef::Id(id) => {
                sqlx::query(&Self::locked(INCIDENT_BY_ID)).bind(id.as_str()).fetch_optional(&mut *self.0).await?
            }
        };
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(INSERT_EVENT)
            .bind(e.at.0)
            .bind(e.protocol.as_str())
            .bind(e.action)
            .bind(e.service)
            .bind(e.dedup_key)
            .bind(e.outcome)
            .bind(e.alert_id)
            .bind(e.incident_number)
            .bind(e.summary)
            .bind(e.severity)
            .bind(e.raw)
            .bind(e.held_alert_id)
            .fetch_one(&mut *self.0)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn incident_facts(&mut self, incident_number: i64) -> Result<IncidentFacts, StoreError> {
        let r = sqlx::query(INCIDENT_FACTS).bind(incident_number).fetch_one(&mut *self.0).await?;
        let details: Option<String> = r.try_get("details")?;
        Ok(IncidentFacts {
            id: r.try_get("id")?,
            service: r.try_get("service")?,
            severity: parse_col(&r, 2)?,
            urgency: parse_col(&r, 3)?,
            title: r.try_get("title")?,
            source: r.try_get("source")?,
            component: r.try_get("component")?,
            group: r.try_get("grp")?,
            class: r.try_get("class")?,
            dedup_key: r.try_get("dedup_key")?,
            details: details.and_then(|d| serde_json::from_str(&d).ok()),
            labels: labels_from(r.try_get("labels")?),
        })
    }

    async fn insert_dispatch(&mut self, d: &NewDispatch<'_>) -> Result<(), StoreError> {
        sqlx::query(INSERT_DISPATCH)
            .bind(&d.key)
            .bind(d.incident_number)
            .bind(d.rule)
            .bind(d.action)
            .bind(d.transition.as_str())
            .bind(d.at.0)
            .bind(d.deadline.0)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_change(
        &mut self,
        service: &str,
        event: &ChangeEvent,
        raw: &str,
        at: Millis,
    ) -> Result<i64, StoreError> {
        let links = json_text(&event.links);
        let details = event.custom_details.as_ref().map(|d| d.to_string());
        let row = sqlx::query(INSERT_CHANGE)
            .bind(service)
            .bind(at.0)
            .bind(event.timestamp.unwrap_or(at).0)
            .bind(&event.summary)
            .bind(&event.source)
            .bind(details)
            .bind(links)
            .bind(raw)
            .fetch_one(&mut *self.0)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn insert_agent_session(&mut self, s: &crate::store::NewAgentSession) -> Result<bool, StoreError> {
        let inserted = sqlx::query(INSERT_AGENT_SESSION)
            .bind(s.incident_number)
            .bind(s.dispatch_id)
            .bind(&s.action)
            .bind(&s.session_id)
            .bind(&s.url)
            .bind(&s.status)
            .bind(s.next_poll_at.0)
            .bind(s.at.0)
            .execute(&mut *self.0)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn update_agent_session(
        &mut self,
        r: &crate::store::SessionReport,
        at: Millis,
    ) -> Result<Option<(i64, String)>, StoreError> {
        // A change moves updated_at (the backoff counts from the last change).
        let changed_at = (!r.notes.is_empty()).then_some(at.0);
        let row = match &r.polled {
            Some(p) => {
                sqlx::query(UPDATE_POLLED_SESSION)
                    .bind(&p.status)
                    .bind(json_text(&p.pull_requests))
                    .bind(p.structured_output.as_ref().map(|o| o.to_string()))
                    .bind(r.next_poll_at.0)
                    .bind(i64::from(r.done))
                    .bind(changed_at)
                    .bind(&r.session_id)
                    .bind(r.polls)
                    .fetch_optional(&mut *self.0)
                    .await?
            }
            None => {
                sqlx::query(UPDATE_UNPOLLED_SESSION)
                    .bind(r.next_poll_at.0)
                    .bind(i64::from(r.done))
                    .bind(changed_at)
                    .bind(&r.session_id)
                    .bind(r.polls)
                    .fetch_optional(&mut *self.0)
                    .await?
            }
        };
        Ok(row.map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get(0)?, r.try_get(1)?)) }).transpose()?)
    }

    async fn upsert_postmortem(
        &mut self,
        incident_number: i64,
        session_id: &str,
        url: &str,
        body: &serde_json::Value,
        at: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(UPSERT_POSTMORTEM)
            .bind(incident_number)
            .bind(session_id)
            .bind(url)
            .bind(body.to_string())
            .bind(at.0)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}

fn held_from_row(r: &PgRow) -> Result<HeldAlert, sqlx::Error> {
    let details: Option<String> = r.try_get("details")?;
    Ok(HeldAlert {
        id: r.try_get("id")?,
        integration_key: r.try_get("integration_key")?,
        dedup_key: r.try_get("dedup_key")?,
        service: r.try_get("service")?,
        urgency: parse_col(r, "urgency")?,
        title: r.try_get("title")?,
        severity: parse_col(r, "severity")?,
        source: r.try_get("source")?,
        component: r.try_get("component")?,
        group: r.try_get("grp")?,
        class: r.try_get("class")?,
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
        received_at: Millis(r.try_get("received_at")?),
        opens_at: Millis(r.try_get("opens_at")?),
    })
}

fn head_from_row(r: &PgRow) -> Result<IncidentHead, sqlx::Error> {
    Ok(IncidentHead { number: r.try_get(0)?, id: r.try_get(1)?, service: r.try_get(2)?, status: parse_col(r, 3)? })
}
