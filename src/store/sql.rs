//! The SQL both backends share outside the ingest path (reads, the outbox, sessions, silences,
//! tokens). Statements use `$N` placeholders, which SQLite and PostgreSQL both accept, and only
//! types both support (64-bit integers and text), so one text serves both. The ingest path's
//! statements are in `statements.rs`; each backend runs them its own way.
//!
//! A macro rather than generic functions: sqlx's generic bounds over `Database` would bury every
//! query under trait bounds, while the statements themselves are identical.

/// Implements [`Store`](super::Store) for `$store` (a writer pool and a reader pool over `$db`).
/// The backend defines `$store` itself, its `apply_batch` (how an ingest batch is written) and its inbox methods
/// (`inbox_file`, `apply_inbox_batch`, `applied_through`).
///
/// - `$begin`: the statement that opens a write transaction;
/// - `$skip_locked`: appended to the claim's row selection (`FOR UPDATE SKIP LOCKED` where supported).
macro_rules! sql_backend {
    (
        store: $store:ident,
        db: $db:ty,
        pool: $pool:ty,
        row: $row:ty,
        begin: $begin:expr,
        skip_locked: $skip_locked:expr
    ) => {
        use sqlx::{QueryBuilder, Row};
        use std::str::FromStr;
        use $crate::domain::rules::RuleSet;
        use $crate::domain::{Incident, IncidentStatus, Millis, ServiceRef};
        use $crate::store::records::{
            ChangeQuery, DispatchQuery, DispatchRecord, DispatchUpdate, IncidentPage, IncidentQuery, StoredChange,
            TimelineEntry,
        };
        use $crate::store::statements::{labels_from, SILENCE_COLUMNS};
        use $crate::store::{Command, CommandResult, IncidentRef, Store, StoreError};

        impl $store {
            /// Runs one change alone in its own write transaction; whether exactly one row changed.
            async fn change_one<'q>(
                &self,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let changed = query.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(changed == 1)
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn apply(&self, batch: &[Command], rules: &RuleSet) -> Result<Vec<CommandResult>, StoreError> {
                self.apply_batch(batch, rules).await
            }

            async fn apply_inbox(
                &self,
                batch: std::sync::Arc<[Command]>,
                rules: std::sync::Arc<RuleSet>,
                through: i64,
            ) -> Result<Vec<CommandResult>, StoreError> {
                self.apply_inbox_batch(batch, rules, through).await
            }

            fn inbox(&self) -> Option<std::path::PathBuf> {
                self.inbox_file()
            }

            async fn inbox_applied_through(&self) -> Result<i64, StoreError> {
                self.applied_through().await
            }

            async fn close(&self) -> Result<(), StoreError> {
                let finished = self.finish().await;
                self.writer.close().await;
                self.readers.close().await;
                finished
            }

            async fn sync_services(&self, services: &[ServiceRef]) -> Result<(), StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let now = Millis::now();
                for s in services {
                    sqlx::query(
                        "INSERT INTO services (name, urgency, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET urgency = excluded.urgency",
                    )
                    .bind(&s.name)
                    .bind(s.urgency.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_incidents(&self, q: &IncidentQuery) -> Result<IncidentPage, StoreError> {
                list_incidents(&self.readers, q).await
            }

            async fn get_incident(&self, r: &IncidentRef) -> Result<Option<Incident>, StoreError> {
                get_incident(&self.readers, r).await
            }

            async fn timeline(&self, incident_number: i64) -> Result<Vec<TimelineEntry>, StoreError> {
                timeline(&self.readers, incident_number).await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT MAX(number) FROM incidents").fetch_one(&self.readers).await?;
                Ok(())
            }

            async fn status_counts(&self) -> Result<Vec<(IncidentStatus, i64)>, StoreError> {
                status_counts(&self.readers).await
            }

            async fn change_events(&self, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError> {
                change_events(&self.readers, q).await
            }

            async fn held_alerts_due(&self, now: Millis) -> Result<bool, StoreError> {
                let row = sqlx::query("SELECT 1 FROM held_alerts WHERE opens_at <= $1 LIMIT 1")
                    .bind(now.0)
                    .fetch_optional(&self.readers)
                    .await?;
                Ok(row.is_some())
            }

            async fn dispatches_due(&self, now: Millis) -> Result<bool, StoreError> {
                let row = sqlx::query(
                    "SELECT 1 FROM dispatches WHERE status = 'pending' AND next_attempt_at <= $1 \
                     AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
                )
                .bind(now.0)
                .fetch_optional(&self.readers)
                .await?;
                Ok(row.is_some())
            }

            async fn claim_dispatches(
                &self,
                owner: &str,
                now: Millis,
                lease_until: Millis,
                limit: u32,
            ) -> Result<Vec<DispatchRecord>, StoreError> {
                let sql = format!(
                    "UPDATE dispatches SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
                     WHERE id IN ( \
                       SELECT d.id FROM dispatches d \
                       WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
                         AND (d.lease_until IS NULL OR d.lease_until < $3) \
                         AND NOT EXISTS (SELECT 1 FROM dispatches e WHERE e.incident_number = d.incident_number \
                                         AND e.action = d.action AND e.id < d.id AND e.status = 'pending') \
                       ORDER BY d.id LIMIT $4 {} \
                     ) RETURNING {DISPATCH_COLUMNS}",
                    $skip_locked
                );
                let mut tx = self.writer.begin_with($begin).await?;
                let rows = sqlx::query(&sql)
                    .bind(owner)
                    .bind(lease_until.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut claimed = rows.iter().map(dispatch_from_row).collect::<Result<Vec<_>, _>>()?;
                claimed.sort_by_key(|d| d.id);
                Ok(claimed)
            }

            async fn finish_dispatch(&self, id: i64, owner: &str, u: &DispatchUpdate) -> Result<bool, StoreError> {
                self.change_one(sqlx::query(
                    "UPDATE dispatches SET status = $1, next_attempt_at = $2, last_error = $3, \
                     result = COALESCE($4, result), lease_owner = NULL, lease_until = NULL, updated_at = $5 \
                     WHERE id = $6 AND lease_owner = $7",
                )
                .bind(u.status.as_str())
                .bind(u.next_attempt_at.0)
                .bind(&u.last_error)
                .bind(u.result.as_ref().map(|r| r.to_string()))
                .bind(u.at.0)
                .bind(id)
                .bind(owner))
                .await
            }

            async fn list_dispatches(&self, q: &DispatchQuery) -> Result<Vec<DispatchRecord>, StoreError> {
                let mut qb =
                    QueryBuilder::<$db>::new(format!("SELECT {DISPATCH_COLUMNS} FROM dispatches WHERE 1 = 1"));
                if let Some(status) = q.status {
                    qb.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(n) = q.incident_number {
                    qb.push(" AND incident_number = ").push_bind(n);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(q.limit));
                qb.push(" OFFSET ").push_bind(i64::from(q.offset));
                let rows = qb.build().fetch_all(&self.readers).await?;
                Ok(rows.iter().map(dispatch_from_row).collect::<Result<Vec<_>, _>>()?)
            }

            async fn get_dispatch(&self, id: i64) -> Result<Option<DispatchRecord>, StoreError> {
                let row = sqlx::query(&format!("SELECT {DISPATCH_COLUMNS} FROM dispatches WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.readers)
                    .await?;
                Ok(row.as_ref().map(dispatch_from_row).transpose()?)
            }

            async fn retry_dispatch(&self, id: i64, now: Millis, deadline: Millis) -> Result<bool, StoreError> {
                self.change_one(sqlx::query(
                    "UPDATE dispatches SET status = 'pending', next_attempt_at = $1, deadline = $2, updated_at = $1, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $3 AND status = 'dead'",
                )
                .bind(now.0)
                .bind(deadline.0)
                .bind(id))
                .await
            }

            async fn create_silence(
                &self,
                si: &$crate::store::SilenceRecord,
            ) -> Result<$crate::store::SilenceRecord, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let row = sqlx::query(&format!(
                    "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SILENCE_COLUMNS}"
                ))
                .bind(serde_json::to_string(&si.matchers).expect("matchers serialize"))
                .bind(si.starts_at.0)
                .bind(si.ends_at.0)
                .bind(&si.created_by)
                .bind(&si.comment)
                .bind(si.created_at.0)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(silence_from_row(&row)?)
            }

            async fn list_silences(
                &self,
                active_at: Option<Millis>,
            ) -> Result<Vec<$crate::store::SilenceRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY id DESC LIMIT 500"
                ))
                .bind(active_at.map_or(i64::MIN, |m| m.0))
                .fetch_all(&self.readers)
                .await?;
                Ok(rows.iter().map(silence_from_row).collect::<Result<Vec<_>, _>>()?)
            }

            async fn list_services(&self) -> Result<Vec<$crate::store::ServiceRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT s.name, s.urgency, s.created_at, \
                     (SELECT COUNT(*) FROM incidents i WHERE i.service = s.name AND i.status <> 'resolved'), \
                     (SELECT COUNT(*) FROM incidents i WHERE i.service = s.name) \
                     FROM services s ORDER BY s.name",
                )
                .fetch_all(&self.readers)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::ServiceRecord {
                            name: r.try_get(0)?,
                            urgency: r.try_get(1)?,
                            created_at: Millis(r.try_get(2)?),
                            open_incidents: r.try_get(3)?,
                            incidents: r.try_get(4)?,
                        })
                    })
                    .collect()
            }

            async fn search_events(
                &self,
                q: &$crate::store::EventQuery,
            ) -> Result<Vec<$crate::store::EventRecord>, StoreError> {
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT id, received_at, protocol, action, service, dedup_key, outcome, incident_number, summary, \
                     severity FROM events WHERE 1 = 1",
                );
                if let Some(k) = &q.dedup_key {
                    // Through the alerts' indexes (the `dedup_key_lookups` migration): an event that found an alert
                    // is in the incident of an alert with its key; only events without one are indexed by key.
                    qb.push(" AND dedup_key = ").push_bind(k.clone());
                    const VIA_ALERTS: &str =
                        "SELECT e.id FROM alerts a JOIN events e ON e.incident_number = a.incident_number WHERE a.dedup_key = ";
                    qb.push(" AND id IN (").push(VIA_ALERTS).push_bind(k.clone());
                    qb.push(" AND a.status <> 'resolved' AND e.dedup_key = ").push_bind(k.clone());
                    qb.push(" UNION ALL ").push(VIA_ALERTS).push_bind(k.clone());
                    qb.push(" AND a.resolved_at IS NOT NULL AND e.dedup_key = ").push_bind(k.clone());
                    qb.push(" UNION ALL SELECT id FROM events WHERE dedup_key = ").push_bind(k.clone());
                    qb.push(" AND alert_id IS NULL)");
                }
                if let Some(s) = &q.service {
                    // With a dedup key, its few events drive the search: an expression keeps SQLite from walking the
                    // service's whole index instead.
                    qb.push(if q.dedup_key.is_some() { " AND coalesce(service, '') = " } else { " AND service = " });
                    qb.push_bind(s.clone());
                }
                if let Some(t) = q.since {
                    qb.push(" AND received_at >= ").push_bind(t.0);
                }
                if let Some(t) = q.until {
                    qb.push(" AND received_at < ").push_bind(t.0);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(q.limit));
                qb.push(" OFFSET ").push_bind(i64::from(q.offset));
                let rows = qb.build().fetch_all(&self.readers).await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::EventRecord {
                            id: r.try_get(0)?,
                            at: Millis(r.try_get(1)?),
                            protocol: r.try_get(2)?,
                            action: r.try_get(3)?,
                            service: r.try_get(4)?,
                            dedup_key: r.try_get(5)?,
                            outcome: r.try_get(6)?,
                            incident_number: r.try_get(7)?,
                            summary: r.try_get(8)?,
                            severity: r.try_get(9)?,
                        })
                    })
                    .collect()
            }

            async fn create_token(
                &self,
                name: &str,
                hash: &str,
                now: Millis,
            ) -> Result<$crate::store::TokenRecord, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let id: i64 = sqlx::query("INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3) RETURNING id")
                    .bind(name)
                    .bind(hash)
                    .bind(now.0)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                tx.commit().await?;
                Ok($crate::store::TokenRecord { id, name: name.to_owned(), created_at: now, revoked_at: None })
            }

            async fn list_tokens(&self) -> Result<Vec<$crate::store::TokenRecord>, StoreError> {
                let rows = sqlx::query("SELECT id, name, created_at, revoked_at FROM api_tokens ORDER BY id DESC")
                    .fetch_all(&self.readers)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::TokenRecord {
                            id: r.try_get(0)?,
                            name: r.try_get(1)?,
                            created_at: Millis(r.try_get(2)?),
                            revoked_at: r.try_get::<Option<i64>, _>(3)?.map(Millis),
                        })
                    })
                    .collect()
            }

            async fn revoke_token(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
                let sql = "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
                self.change_one(sqlx::query(sql).bind(now.0).bind(id)).await
            }

            async fn check_token(&self, hash: Option<&str>) -> Result<(bool, bool), StoreError> {
                let row = sqlx::query(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN hash = $1 THEN 1 ELSE 0 END), 0) \
                     FROM api_tokens WHERE revoked_at IS NULL",
                )
                .bind(hash.unwrap_or(""))
                .fetch_one(&self.readers)
                .await?;
                let active: i64 = row.try_get(0)?;
                let matching: i64 = row.try_get(1)?;
                Ok((active > 0, matching > 0))
            }

            async fn expire_silence(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
                let sql = "UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1";
                self.change_one(sqlx::query(sql).bind(now.0).bind(id)).await
            }

            async fn next_session_poll(&self) -> Result<Option<Millis>, StoreError> {
                let row = sqlx::query("SELECT MIN(next_poll_at) FROM agent_sessions WHERE done = 0")
                    .fetch_one(&self.readers)
                    .await?;
                Ok(row.try_get::<Option<i64>, _>(0)?.map(Millis))
            }

            async fn claim_sessions(
                &self,
                now: Millis,
                lease_until: Millis,
                limit: u32,
            ) -> Result<Vec<$crate::store::AgentSessionRecord>, StoreError> {
                let sql = format!(
                    "UPDATE agent_sessions SET next_poll_at = $1 WHERE id IN ( \
                       SELECT id FROM agent_sessions WHERE done = 0 AND next_poll_at <= $2 \
                       ORDER BY next_poll_at, id LIMIT $3 {} \
                     ) RETURNING {SESSION_COLUMNS}",
                    $skip_locked
                );
                let mut tx = self.writer.begin_with($begin).await?;
                let rows = sqlx::query(&sql)
                    .bind(lease_until.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut claimed = rows.iter().map(session_from_row).collect::<Result<Vec<_>, _>>()?;
                claimed.sort_by_key(|s| s.id);
                Ok(claimed)
            }

            async fn agent_sessions(
                &self,
                incident_number: i64,
            ) -> Result<Vec<$crate::store::AgentSessionRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE incident_number = $1 ORDER BY id"
                ))
                .bind(incident_number)
                .fetch_all(&self.readers)
                .await?;
                Ok(rows.iter().map(session_from_row).collect::<Result<Vec<_>, _>>()?)
            }

            async fn postmortem(
                &self,
                incident_number: i64,
            ) -> Result<Option<$crate::store::PostmortemRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT incident_number, session_id, url, body, created_at, updated_at FROM incident_postmortems \
                     WHERE incident_number = $1",
                )
                .bind(incident_number)
                .fetch_optional(&self.readers)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let body: String = r.try_get("body")?;
                Ok(Some($crate::store::PostmortemRecord {
                    incident_number: r.try_get("incident_number")?,
                    session_id: r.try_get("session_id")?,
                    url: r.try_get("url")?,
                    body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("postmortem: {e}")))?,
                    created_at: Millis(r.try_get("created_at")?),
                    updated_at: Millis(r.try_get("updated_at")?),
                }))
            }
        }

        fn silence_from_row(r: &$row) -> Result<$crate::store::SilenceRecord, sqlx::Error> {
            let matchers: String = r.try_get("matchers")?;
            Ok($crate::store::SilenceRecord {
                id: r.try_get("id")?,
                matchers: serde_json::from_str(&matchers).map_err(|e| sqlx::Error::Decode(e.into()))?,
                starts_at: Millis(r.try_get("starts_at")?),
                ends_at: Millis(r.try_get("ends_at")?),
                created_by: r.try_get("created_by")?,
                comment: r.try_get("comment")?,
                created_at: Millis(r.try_get("created_at")?),
            })
        }

        const DISPATCH_COLUMNS: &str = "id, dispatch_key, incident_number, rule, action, transition, status, \
             attempts, next_attempt_at, last_error, result, created_at, deadline, updated_at";

        fn dispatch_from_row(r: &$row) -> Result<DispatchRecord, sqlx::Error> {
            let result: Option<String> = r.try_get("result")?;
            Ok(DispatchRecord {
                id: r.try_get("id")?,
                dispatch_key: r.try_get("dispatch_key")?,
                incident_number: r.try_get("incident_number")?,
                rule: r.try_get("rule")?,
                action: r.try_get("action")?,
                transition: r.try_get("transition")?,
                status: parse_col(r, 6)?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: Millis(r.try_get("next_attempt_at")?),
                last_error: r.try_get("last_error")?,
                result: result.and_then(|s| serde_json::from_str(&s).ok()),
                created_at: Millis(r.try_get("created_at")?),
                deadline: Millis(r.try_get("deadline")?),
                updated_at: Millis(r.try_get("updated_at")?),
            })
        }

        const SESSION_COLUMNS: &str = "id, incident_number, dispatch_id, action, session_id, url, status, \
             pull_requests, structured_output, polls, next_poll_at, done, created_at, updated_at";

        fn session_from_row(r: &$row) -> Result<$crate::store::AgentSessionRecord, sqlx::Error> {
            let pull_requests: String = r.try_get("pull_requests")?;
            let output: Option<String> = r.try_get("structured_output")?;
            Ok($crate::store::AgentSessionRecord {
                id: r.try_get("id")?,
                incident_number: r.try_get("incident_number")?,
                dispatch_id: r.try_get("dispatch_id")?,
                action: r.try_get("action")?,
                session_id: r.try_get("session_id")?,
                url: r.try_get("url")?,
                status: r.try_get("status")?,
                pull_requests: serde_json::from_str(&pull_requests).map_err(|e| sqlx::Error::Decode(e.into()))?,
                structured_output: output.and_then(|o| serde_json::from_str(&o).ok()),
                polls: r.try_get("polls")?,
                next_poll_at: Millis(r.try_get("next_poll_at")?),
                done: r.try_get::<i64, _>("done")? != 0,
                created_at: Millis(r.try_get("created_at")?),
                updated_at: Millis(r.try_get("updated_at")?),
            })
        }


        /// Reads a text column into one of the domain's enums.
        fn parse_col<T: FromStr, I: sqlx::ColumnIndex<$row> + std::fmt::Debug + Copy>(
            row: &$row,
            idx: I,
        ) -> Result<T, sqlx::Error> {
            let s: String = row.try_get(idx)?;
            s.parse::<T>().map_err(|_| sqlx::Error::Decode(format!("unexpected value {s:?} in column {idx:?}").into()))
        }


        const INCIDENT_COLUMNS: &str = "i.id, i.number, i.status, i.dedup_key, i.service, i.title, i.severity, \
             i.urgency, i.source, i.component, i.grp, i.class, i.created_at, i.acknowledged_at, i.resolved_at, \
             i.updated_at, (SELECT COUNT(*) FROM events e WHERE e.incident_number = i.number) AS event_count, \
             (SELECT MAX(e.received_at) FROM events e WHERE e.incident_number = i.number) AS last_event_at, \
             i.origin, i.external_id, i.external_url, i.description, i.labels";

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
                last_event_at: r.try_get::<Option<i64>, _>("last_event_at")?.map(Millis),
                origin: parse_col(r, "origin")?,
                external_id: r.try_get("external_id")?,
                external_url: r.try_get("external_url")?,
                description: r.try_get("description")?,
                labels: labels_from(r.try_get("labels")?),
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
                // Through the alerts' indexes (the `dedup_key_lookups` migration): an incident opened by an alert
                // has an alert with its key; only incidents without alerts are indexed by key.
                qb.push(" AND i.dedup_key = ").push_bind(key.clone());
                qb.push(" AND i.number IN (SELECT incident_number FROM alerts WHERE dedup_key = ").push_bind(key.clone());
                qb.push(" AND status <> 'resolved' UNION ALL SELECT incident_number FROM alerts WHERE dedup_key = ");
                qb.push_bind(key.clone()).push(" AND resolved_at IS NOT NULL");
                qb.push(" UNION ALL SELECT number FROM incidents WHERE dedup_key = ").push_bind(key.clone());
                qb.push(" AND origin <> 'events')");
            }
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
                    let mut raw = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
                    $crate::domain::service::redact_integration_keys(&mut raw);
                    Ok(TimelineEntry {
                        id: r.try_get("id")?,
                        at: Millis(r.try_get("received_at")?),
                        protocol: r.try_get("protocol")?,
                        action: r.try_get("action")?,
                        outcome: r.try_get("outcome")?,
                        summary: r.try_get("summary")?,
                        severity: r.try_get("severity")?,
                        raw,
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
