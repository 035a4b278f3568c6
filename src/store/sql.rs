//! The SQL both backends share. Statements use `$N` placeholders, which SQLite and PostgreSQL both
//! accept, and only types both support (64-bit integers and text), so one text serves both.
//!
//! A macro rather than generic functions: sqlx's generic bounds over `Database` would bury every
//! query under trait bounds, while the statements themselves are identical.

/// Implements [`IngestTx`](super::apply::IngestTx) for `Tx<'_>` over `$conn`, and the read queries over `$pool`.
/// `$next_number` is the statement that reserves the next incident number.
macro_rules! sql_backend {
    (db: $db:ty, conn: $conn:ty, pool: $pool:ty, row: $row:ty, next_number: $next_number:expr) => {
        use sqlx::{QueryBuilder, Row};
        use std::str::FromStr;
        use $crate::domain::{AlertEvent, ChangeEvent, Incident, IncidentStatus, Millis, ServiceRef};
        use $crate::store::apply::{IncidentHead, IngestTx, NewEvent, NewIncident, OpenAlert};
        use $crate::store::records::{ChangeQuery, IncidentPage, IncidentQuery, StoredChange, TimelineEntry};
        use $crate::store::{IncidentRef, StoreError};

        /// One write transaction's connection.
        pub(super) struct Tx<'c>(pub(super) &'c mut $conn);

        impl IngestTx for Tx<'_> {
            async fn open_alert(
                &mut self,
                integration_key: &str,
                dedup_key: &str,
            ) -> Result<Option<OpenAlert>, sqlx::Error> {
                let row = sqlx::query(
                    "SELECT a.id, a.incident_number, i.id, a.status FROM alerts a \
                     JOIN incidents i ON i.number = a.incident_number \
                     WHERE a.integration_key = $1 AND a.dedup_key = $2 AND a.status <> 'resolved'",
                )
                .bind(integration_key)
                .bind(dedup_key)
                .fetch_optional(&mut *self.0)
                .await?;
                row.map(|r| {
                    Ok(OpenAlert {
                        alert_id: r.try_get(0)?,
                        incident_number: r.try_get(1)?,
                        incident_id: r.try_get(2)?,
                        status: parse_col(&r, 3)?,
                    })
                })
                .transpose()
            }

            async fn ensure_service(&mut self, service: &ServiceRef, at: Millis) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO services (name, urgency, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&service.name)
                .bind(service.urgency.as_str())
                .bind(at.0)
                .execute(&mut *self.0)
                .await?;
                Ok(())
            }

            async fn next_incident_number(&mut self) -> Result<i64, sqlx::Error> {
                sqlx::query($next_number).fetch_one(&mut *self.0).await?.try_get(0)
            }

            async fn claim_alert(
                &mut self,
                incident_number: i64,
                integration_key: &str,
                event: &AlertEvent,
                at: Millis,
            ) -> Result<Option<i64>, sqlx::Error> {
                let row = sqlx::query(
                    "INSERT INTO alerts (incident_number, integration_key, dedup_key, status, created_at) \
                     VALUES ($1, $2, $3, 'triggered', $4) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(incident_number)
                .bind(integration_key)
                .bind(event.dedup_key.as_str())
                .bind(at.0)
                .fetch_optional(&mut *self.0)
                .await?;
                row.map(|r| r.try_get(0)).transpose()
            }

            async fn insert_incident(&mut self, n: &NewIncident<'_>) -> Result<(), sqlx::Error> {
                let d = n.event.details.as_ref().expect("incidents open from triggers, which carry details");
                sqlx::query(
                    "INSERT INTO incidents (number, id, service, status, dedup_key, title, severity, urgency, \
                     source, component, grp, class, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'triggered', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                )
                .bind(n.number)
                .bind(n.id)
                .bind(n.service)
                .bind(n.event.dedup_key.as_str())
                .bind(&d.summary)
                .bind(d.severity.as_str())
                .bind(n.urgency.as_str())
                .bind(&d.source)
                .bind(&d.component)
                .bind(&d.group)
                .bind(&d.class)
                .bind(n.at.0)
                .execute(&mut *self.0)
                .await?;
                Ok(())
            }

            async fn set_alerts_status(
                &mut self,
                incident_number: i64,
                status: IncidentStatus,
                at: Millis,
            ) -> Result<(), sqlx::Error> {
                let resolved_at = (status == IncidentStatus::Resolved).then_some(at.0);
                sqlx::query(
                    "UPDATE alerts SET status = $1, resolved_at = $2 \
                     WHERE incident_number = $3 AND status <> 'resolved'",
                )
                .bind(status.as_str())
                .bind(resolved_at)
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
            ) -> Result<(), sqlx::Error> {
                let sql = match status {
                    IncidentStatus::Acknowledged => {
                        "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $1, updated_at = $1 \
                         WHERE number = $2"
                    }
                    IncidentStatus::Resolved => {
                        "UPDATE incidents SET status = 'resolved', resolved_at = $1, updated_at = $1 WHERE number = $2"
                    }
                    IncidentStatus::Triggered => {
                        "UPDATE incidents SET status = 'triggered', updated_at = $1 WHERE number = $2"
                    }
                };
                sqlx::query(sql).bind(at.0).bind(incident_number).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, sqlx::Error> {
                let q = match r {
                    IncidentRef::Number(n) => {
                        sqlx::query("SELECT number, id, service, status FROM incidents WHERE number = $1").bind(*n)
                    }
                    IncidentRef::Id(id) => {
                        sqlx::query("SELECT number, id, service, status FROM incidents WHERE id = $1").bind(id.clone())
                    }
                };
                let row = q.fetch_optional(&mut *self.0).await?;
                row.map(|r| {
                    Ok(IncidentHead {
                        number: r.try_get(0)?,
                        id: r.try_get(1)?,
                        service: r.try_get(2)?,
                        status: parse_col(&r, 3)?,
                    })
                })
                .transpose()
            }

            async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, sqlx::Error> {
                let row = sqlx::query(
                    "INSERT INTO events (received_at, protocol, action, service, dedup_key, outcome, alert_id, \
                     incident_number, summary, severity, raw) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                )
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
                .fetch_one(&mut *self.0)
                .await?;
                row.try_get(0)
            }

            async fn insert_change(
                &mut self,
                service: &str,
                event: &ChangeEvent,
                raw: &str,
                at: Millis,
            ) -> Result<i64, sqlx::Error> {
                let links = serde_json::to_string(&event.links).expect("links serialize");
                let details = event.custom_details.as_ref().map(|d| d.to_string());
                let row = sqlx::query(
                    "INSERT INTO change_events (service, received_at, occurred_at, summary, source, custom_details, \
                     links, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
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
                row.try_get(0)
            }
        }

        /// Reads a text column into one of the domain's enums.
        fn parse_col<T: FromStr>(row: &$row, idx: usize) -> Result<T, sqlx::Error> {
            let s: String = row.try_get(idx)?;
            s.parse::<T>().map_err(|_| sqlx::Error::Decode(format!("unexpected value {s:?} in column {idx}").into()))
        }

        const INCIDENT_COLUMNS: &str = "i.id, i.number, i.status, i.dedup_key, i.service, i.title, i.severity, \
             i.urgency, i.source, i.component, i.grp, i.class, i.created_at, i.acknowledged_at, i.resolved_at, \
             i.updated_at, (SELECT COUNT(*) FROM events e WHERE e.incident_number = i.number) AS event_count";

        fn incident_from_row(r: &$row) -> Result<Incident, sqlx::Error> {
            Ok(Incident {
                id: r.try_get("id")?,
                number: r.try_get("number")?,
                status: parse_col(r, 2)?,
                dedup_key: r.try_get("dedup_key")?,
                service: r.try_get("service")?,
                title: r.try_get("title")?,
                severity: parse_col(r, 6)?,
                urgency: parse_col(r, 7)?,
                source: r.try_get("source")?,
                component: r.try_get("component")?,
                group: r.try_get("grp")?,
                class: r.try_get("class")?,
                created_at: Millis(r.try_get("created_at")?),
                acknowledged_at: r.try_get::<Option<i64>, _>("acknowledged_at")?.map(Millis),
                resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(Millis),
                updated_at: Millis(r.try_get("updated_at")?),
                event_count: r.try_get("event_count")?,
            })
        }

        fn push_filters(qb: &mut QueryBuilder<'_, $db>, q: &IncidentQuery) {
            qb.push(" WHERE 1 = 1");
            if !q.statuses.is_empty() {
                qb.push(" AND i.status IN (");
                let mut sep = qb.separated(", ");
                for s in &q.statuses {
                    sep.push_bind(s.as_str());
                }
                qb.push(")");
            }
            if let Some(service) = &q.service {
                qb.push(" AND i.service = ").push_bind(service.clone());
            }
            if let Some(key) = &q.dedup_key {
                qb.push(" AND i.dedup_key = ").push_bind(key.clone());
            }
        }

        /// Creates or updates configured services.
        pub(super) async fn sync_services(conn: &mut $conn, services: &[ServiceRef]) -> Result<(), StoreError> {
            let now = Millis::now();
            for s in services {
                sqlx::query(
                    "INSERT INTO services (name, urgency, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET urgency = excluded.urgency",
                )
                .bind(&s.name)
                .bind(s.urgency.as_str())
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }

        /// Incidents, newest first.
        pub(super) async fn list_incidents(pool: &$pool, q: &IncidentQuery) -> Result<IncidentPage, StoreError> {
            let mut count = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM incidents i");
            push_filters(&mut count, q);
            let total: i64 = count.build().fetch_one(pool).await?.try_get(0)?;

            let mut list = QueryBuilder::<$db>::new(format!("SELECT {INCIDENT_COLUMNS} FROM incidents i"));
            push_filters(&mut list, q);
            list.push(" ORDER BY i.number DESC LIMIT ").push_bind(i64::from(q.limit));
            list.push(" OFFSET ").push_bind(i64::from(q.offset));
            let rows = list.build().fetch_all(pool).await?;
            let incidents = rows.iter().map(incident_from_row).collect::<Result<Vec<_>, _>>()?;
            let more = i64::from(q.offset) + (incidents.len() as i64) < total;
            Ok(IncidentPage { incidents, limit: q.limit, offset: q.offset, total, more })
        }

        /// One incident by id or number.
        pub(super) async fn get_incident(pool: &$pool, r: &IncidentRef) -> Result<Option<Incident>, StoreError> {
            let row = match r {
                IncidentRef::Number(n) => {
                    sqlx::query(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.number = $1"))
                        .bind(*n)
                        .fetch_optional(pool)
                        .await?
                }
                IncidentRef::Id(id) => {
                    sqlx::query(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(pool)
                        .await?
                }
            };
            Ok(row.as_ref().map(incident_from_row).transpose()?)
        }

        /// An incident's events, oldest first.
        pub(super) async fn timeline(pool: &$pool, incident_number: i64) -> Result<Vec<TimelineEntry>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, received_at, protocol, action, outcome, summary, severity, raw FROM events \
                 WHERE incident_number = $1 ORDER BY id",
            )
            .bind(incident_number)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let raw: String = r.try_get("raw")?;
                    Ok(TimelineEntry {
                        id: r.try_get("id")?,
                        at: Millis(r.try_get("received_at")?),
                        protocol: r.try_get("protocol")?,
                        action: r.try_get("action")?,
                        outcome: r.try_get("outcome")?,
                        summary: r.try_get("summary")?,
                        severity: r.try_get("severity")?,
                        raw: serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw)),
                    })
                })
                .collect()
        }

        /// Incidents per status, every status listed.
        pub(super) async fn status_counts(pool: &$pool) -> Result<Vec<(IncidentStatus, i64)>, StoreError> {
            let rows = sqlx::query("SELECT status, COUNT(*) FROM incidents GROUP BY status").fetch_all(pool).await?;
            let mut counts: Vec<(IncidentStatus, i64)> = IncidentStatus::ALL.iter().map(|s| (*s, 0)).collect();
            for r in rows {
                let status: IncidentStatus = parse_col(&r, 0)?;
                let n: i64 = r.try_get(1)?;
                if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                    slot.1 = n;
                }
            }
            Ok(counts)
        }

        /// Change events of a service in a window: the latest `limit`, oldest first.
        pub(super) async fn change_events(pool: &$pool, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, service, occurred_at, summary, source, custom_details, links FROM ( \
                   SELECT * FROM change_events WHERE service = $1 AND occurred_at BETWEEN $2 AND $3 \
                   ORDER BY occurred_at DESC, id DESC LIMIT $4 \
                 ) latest ORDER BY occurred_at, id",
            )
            .bind(&q.service)
            .bind(q.since.0)
            .bind(q.until.0)
            .bind(i64::from(q.limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let details: Option<String> = r.try_get("custom_details")?;
                    let links: String = r.try_get("links")?;
                    Ok(StoredChange {
                        id: r.try_get("id")?,
                        service: r.try_get("service")?,
                        at: Millis(r.try_get("occurred_at")?),
                        summary: r.try_get("summary")?,
                        source: r.try_get("source")?,
                        custom_details: details.and_then(|d| serde_json::from_str(&d).ok()),
                        links: serde_json::from_str(&links).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    })
                })
                .collect()
        }
    };
}

pub(crate) use sql_backend;
