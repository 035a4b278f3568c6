//! The SQL both backends share. Statements use `$N` placeholders, which SQLite and PostgreSQL both
//! accept, and only types both support (64-bit integers and text), so one text serves both.
//!
//! A macro rather than generic functions: sqlx's generic bounds over `Database` would bury every
//! query under trait bounds, while the statements themselves are identical.

/// Defines `$store` (a writer pool and a reader pool over `$db`) implementing [`Store`](super::Store),
/// with [`IngestTx`](super::apply::IngestTx) for `Tx<'_>`.
/// - `$begin`: the statement that opens a write transaction;
/// - `$next_number`: the statement that reserves the next incident number;
/// - `$skip_locked`: appended to the claim's row selection (`FOR UPDATE SKIP LOCKED` where supported);
/// - `$lock`: row-lock clause for rows a command is about to change (`FOR UPDATE`; empty where one
///   writer holds the whole database);
/// - `$prelock`: an async fn run at the start of each batch, before any row is touched.
macro_rules! sql_backend {
    (
        store: $store:ident,
        db: $db:ty,
        conn: $conn:ty,
        pool: $pool:ty,
        row: $row:ty,
        begin: $begin:expr,
        next_number: $next_number:expr,
        skip_locked: $skip_locked:expr,
        lock: $lock:expr,
        prelock: $prelock:path
    ) => {
        use sqlx::{QueryBuilder, Row};
        use std::str::FromStr;
        use $crate::domain::rules::RuleSet;
        use $crate::domain::{ChangeEvent, Incident, IncidentStatus, Millis, ServiceRef};
        use $crate::store::apply::{
            apply_command, ApplyContext, HeldAlert, IncidentFacts, IncidentHead, IngestTx, NewDispatch, NewEvent,
            NewIncident, OpenAlert,
        };
        use $crate::store::records::{
            ChangeQuery, DispatchQuery, DispatchRecord, DispatchUpdate, IncidentPage, IncidentQuery, StoredChange,
            TimelineEntry,
        };
        use $crate::store::{Command, CommandResult, IncidentRef, Store, StoreError};

        /// The database: writes go through `writer` (one connection on SQLite), reads through `readers`.
        pub struct $store {
            writer: $pool,
            readers: $pool,
        }

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
                let mut tx = self.writer.begin_with($begin).await?;
                $prelock(&mut tx, batch).await?;
                let mut results = Vec::with_capacity(batch.len());
                let earliest = batch.iter().map(Command::received_at).min().unwrap_or(Millis(i64::MAX));
                let silences = active_silences(&mut tx, earliest).await?;
                let ctx = ApplyContext { rules, silences: &silences };
                {
                    let mut w = Tx(&mut tx);
                    for cmd in batch {
                        results.push(apply_command(&mut w, cmd, &ctx).await?);
                    }
                }
                tx.commit().await?;
                Ok(results)
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

            async fn status_counts(&self) -> Result<Vec<(IncidentStatus, i64)>, StoreError> {
                status_counts(&self.readers).await
            }

            async fn change_events(&self, q: &ChangeQuery) -> Result<Vec<StoredChange>, StoreError> {
                change_events(&self.readers, q).await
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
                    qb.push(" AND dedup_key = ").push_bind(k.clone());
                }
                if let Some(s) = &q.service {
                    qb.push(" AND service = ").push_bind(s.clone());
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

        /// Silences that have not ended by `since` (a batch checks each command at its own time).
        async fn active_silences(
            conn: &mut $conn,
            since: Millis,
        ) -> Result<Vec<$crate::domain::noise::Silence>, sqlx::Error> {
            let rows = sqlx::query(&format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1"))
                .bind(since.0)
                .fetch_all(&mut *conn)
                .await?;
            let mut silences = Vec::with_capacity(rows.len());
            for r in &rows {
                match silence_from_row(r)?.compile() {
                    Some(s) => silences.push(s),
                    None => tracing::warn!("a stored silence no longer compiles; it is ignored"),
                }
            }
            Ok(silences)
        }

        const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, created_at";

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

        /// One write transaction's connection.
        pub(super) struct Tx<'c>(pub(super) &'c mut $conn);

        impl IngestTx for Tx<'_> {
            async fn open_alert(
                &mut self,
                integration_key: &str,
                dedup_key: &str,
            ) -> Result<Option<OpenAlert>, sqlx::Error> {
                // Locked (where rows can be), so concurrent events for one alert apply one after the other,
                // each seeing the other's outcome.
                let lock = if $lock.is_empty() { "" } else { " FOR UPDATE OF a" };
                let row = sqlx::query(&format!(
                    "SELECT a.id, a.incident_number, i.id, a.status FROM alerts a \
                     JOIN incidents i ON i.number = a.incident_number \
                     WHERE a.integration_key = $1 AND a.dedup_key = $2 AND a.status <> 'resolved'{lock}"
                ))
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
                dedup_key: &str,
                at: Millis,
            ) -> Result<Option<i64>, sqlx::Error> {
                let row = sqlx::query(
                    "INSERT INTO alerts (incident_number, integration_key, dedup_key, status, created_at) \
                     VALUES ($1, $2, $3, 'triggered', $4) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(incident_number)
                .bind(integration_key)
                .bind(dedup_key)
                .bind(at.0)
                .fetch_optional(&mut *self.0)
                .await?;
                row.map(|r| r.try_get(0)).transpose()
            }

            async fn insert_incident(&mut self, n: &NewIncident<'_>) -> Result<(), sqlx::Error> {
                let labels = (!n.labels.is_empty()).then(|| serde_json::to_string(n.labels).expect("labels serialize"));
                sqlx::query(
                    "INSERT INTO incidents (number, id, service, status, dedup_key, title, severity, urgency, \
                     source, component, grp, class, details, created_at, updated_at, origin, origin_source, \
                     external_id, external_url, description, labels, group_key) \
                     VALUES ($1, $2, $3, 'triggered', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, \
                     $16, $17, $18, $19, $20)",
                )
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
                .bind(labels)
                .bind(n.group_key)
                .execute(&mut *self.0)
                .await?;
                Ok(())
            }

            async fn held_alert(
                &mut self,
                integration_key: &str,
                dedup_key: &str,
            ) -> Result<Option<HeldAlert>, sqlx::Error> {
                let row = sqlx::query(&format!(
                    "SELECT {HELD_COLUMNS} FROM held_alerts WHERE integration_key = $1 AND dedup_key = $2"
                ))
                .bind(integration_key)
                .bind(dedup_key)
                .fetch_optional(&mut *self.0)
                .await?;
                row.as_ref().map(held_from_row).transpose()
            }

            async fn insert_held(&mut self, h: &HeldAlert) -> Result<i64, sqlx::Error> {
                sqlx::query(
                    "INSERT INTO held_alerts (integration_key, dedup_key, service, urgency, title, severity, source, \
                     component, grp, class, details, received_at, opens_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                )
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
                .try_get(0)
            }

            async fn delete_held(&mut self, id: i64) -> Result<(), sqlx::Error> {
                sqlx::query("DELETE FROM held_alerts WHERE id = $1").bind(id).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn due_held(&mut self, now: Millis) -> Result<Vec<HeldAlert>, sqlx::Error> {
                let rows =
                    sqlx::query(&format!("SELECT {HELD_COLUMNS} FROM held_alerts WHERE opens_at <= $1 ORDER BY id"))
                        .bind(now.0)
                        .fetch_all(&mut *self.0)
                        .await?;
                rows.iter().map(held_from_row).collect()
            }

            async fn adopt_held_events(
                &mut self,
                held_id: i64,
                incident_number: i64,
                alert_id: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "UPDATE events SET incident_number = $1, alert_id = $2, held_alert_id = NULL \
                     WHERE held_alert_id = $3",
                )
                .bind(incident_number)
                .bind(alert_id)
                .bind(held_id)
                .execute(&mut *self.0)
                .await?;
                Ok(())
            }

            async fn group_incident(
                &mut self,
                service: &str,
                group_key: &str,
                since: Millis,
            ) -> Result<Option<IncidentHead>, sqlx::Error> {
                let row = sqlx::query(
                    "SELECT number, id, service, status FROM incidents WHERE service = $1 AND group_key = $2 \
                     AND status <> 'resolved' AND created_at >= $3 ORDER BY number DESC LIMIT 1",
                )
                .bind(service)
                .bind(group_key)
                .bind(since.0)
                .fetch_optional(&mut *self.0)
                .await?;
                row.as_ref().map(head_from_row).transpose()
            }

            async fn flapping_incident(
                &mut self,
                integration_key: &str,
                dedup_key: &str,
            ) -> Result<Option<IncidentHead>, sqlx::Error> {
                let row = sqlx::query(
                    "SELECT i.number, i.id, i.service, i.status FROM incidents i \
                     JOIN alerts a ON a.incident_number = i.number \
                     WHERE a.integration_key = $1 AND a.dedup_key = $2 AND i.flapping = 1 AND i.status <> 'resolved' \
                     ORDER BY i.number DESC LIMIT 1",
                )
                .bind(integration_key)
                .bind(dedup_key)
                .fetch_optional(&mut *self.0)
                .await?;
                row.as_ref().map(head_from_row).transpose()
            }

            async fn resolved_since(
                &mut self,
                integration_key: &str,
                dedup_key: &str,
                since: Millis,
            ) -> Result<i64, sqlx::Error> {
                sqlx::query(
                    "SELECT COUNT(*) FROM alerts WHERE integration_key = $1 AND dedup_key = $2 AND resolved_at >= $3",
                )
                .bind(integration_key)
                .bind(dedup_key)
                .bind(since.0)
                .fetch_one(&mut *self.0)
                .await?
                .try_get(0)
            }

            async fn set_flapping(&mut self, incident_number: i64, at: Millis) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE incidents SET flapping = 1, updated_at = $1 WHERE number = $2")
                    .bind(at.0)
                    .bind(incident_number)
                    .execute(&mut *self.0)
                    .await?;
                Ok(())
            }

            async fn quiet_flapping(&mut self, service: &str, quiet_since: Millis) -> Result<Vec<i64>, sqlx::Error> {
                let rows = sqlx::query(
                    "SELECT i.number FROM incidents i WHERE i.service = $1 AND i.flapping = 1 \
                     AND i.status <> 'resolved' \
                     AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_number = i.number \
                                     AND (a.status <> 'resolved' OR a.resolved_at >= $2))",
                )
                .bind(service)
                .bind(quiet_since.0)
                .fetch_all(&mut *self.0)
                .await?;
                rows.iter().map(|r| r.try_get(0)).collect()
            }

            async fn set_alert_status(
                &mut self,
                alert_id: i64,
                status: IncidentStatus,
                at: Millis,
            ) -> Result<(), sqlx::Error> {
                let resolved_at = (status == IncidentStatus::Resolved).then_some(at.0);
                sqlx::query("UPDATE alerts SET status = $1, resolved_at = $2 WHERE id = $3")
                    .bind(status.as_str())
                    .bind(resolved_at)
                    .bind(alert_id)
                    .execute(&mut *self.0)
                    .await?;
                Ok(())
            }

            async fn open_alert_count(&mut self, incident_number: i64) -> Result<i64, sqlx::Error> {
                sqlx::query("SELECT COUNT(*) FROM alerts WHERE incident_number = $1 AND status <> 'resolved'")
                    .bind(incident_number)
                    .fetch_one(&mut *self.0)
                    .await?
                    .try_get(0)
            }

            async fn record_delivery(
                &mut self,
                source: &str,
                delivery_id: &str,
                at: Millis,
            ) -> Result<bool, sqlx::Error> {
                let inserted = sqlx::query(
                    "INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
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
                origin: $crate::domain::external::Origin,
                source: &str,
                external_id: &str,
            ) -> Result<Option<IncidentHead>, sqlx::Error> {
                let row = sqlx::query(
                    "SELECT number, id, service, status FROM incidents \
                     WHERE origin = $1 AND origin_source = $2 AND external_id = $3",
                )
                .bind(origin.as_str())
                .bind(source)
                .bind(external_id)
                .fetch_optional(&mut *self.0)
                .await?;
                row.as_ref().map(head_from_row).transpose()
            }

            async fn set_labels(&mut self, incident_number: i64, labels: &[String]) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE incidents SET labels = $1 WHERE number = $2")
                    .bind(serde_json::to_string(labels).expect("labels serialize"))
                    .bind(incident_number)
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
                    // Guarded, so a late acknowledge can never reopen a resolved incident.
                    IncidentStatus::Acknowledged => {
                        "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $1, updated_at = $1 \
                         WHERE number = $2 AND status = 'triggered'"
                    }
                    IncidentStatus::Resolved => {
                        "UPDATE incidents SET status = 'resolved', resolved_at = $1, updated_at = $1 \
                         WHERE number = $2 AND status <> 'resolved'"
                    }
                    IncidentStatus::Triggered => {
                        "UPDATE incidents SET status = 'triggered', updated_at = $1 WHERE number = $2"
                    }
                };
                sqlx::query(sql).bind(at.0).bind(incident_number).execute(&mut *self.0).await?;
                Ok(())
            }

            async fn find_incident(&mut self, r: &IncidentRef) -> Result<Option<IncidentHead>, sqlx::Error> {
                let row = match r {
                    IncidentRef::Number(n) => {
                        sqlx::query(&format!("SELECT number, id, service, status FROM incidents WHERE number = $1 {}", $lock))
                            .bind(*n)
                            .fetch_optional(&mut *self.0)
                            .await?
                    }
                    IncidentRef::Id(id) => {
                        sqlx::query(&format!("SELECT number, id, service, status FROM incidents WHERE id = $1 {}", $lock))
                            .bind(id.as_str())
                            .fetch_optional(&mut *self.0)
                            .await?
                    }
                };
                row.as_ref().map(head_from_row).transpose()
            }

            async fn insert_event(&mut self, e: &NewEvent<'_>) -> Result<i64, sqlx::Error> {
                let row = sqlx::query(
                    "INSERT INTO events (received_at, protocol, action, service, dedup_key, outcome, alert_id, \
                     incident_number, summary, severity, raw, held_alert_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
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
                .bind(e.held_alert_id)
                .fetch_one(&mut *self.0)
                .await?;
                row.try_get(0)
            }

            async fn incident_facts(&mut self, incident_number: i64) -> Result<IncidentFacts, sqlx::Error> {
                let r = sqlx::query(
                    "SELECT id, service, severity, urgency, title, source, component, grp, class, dedup_key, details, \
                     labels FROM incidents WHERE number = $1",
                )
                .bind(incident_number)
                .fetch_one(&mut *self.0)
                .await?;
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

            async fn insert_dispatch(&mut self, d: &NewDispatch<'_>) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO dispatches (dispatch_key, incident_number, rule, action, transition, status, \
                     attempts, next_attempt_at, created_at, deadline, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7, $6) ON CONFLICT (dispatch_key) DO NOTHING",
                )
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

            async fn insert_agent_session(
                &mut self,
                s: &$crate::store::NewAgentSession,
            ) -> Result<bool, sqlx::Error> {
                let inserted = sqlx::query(
                    "INSERT INTO agent_sessions (incident_number, dispatch_id, action, session_id, url, status, \
                     pull_requests, polls, next_poll_at, done, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, '[]', 0, $7, 0, $8, $8) ON CONFLICT (session_id) DO NOTHING",
                )
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
                r: &$crate::store::SessionReport,
                at: Millis,
            ) -> Result<Option<(i64, String)>, sqlx::Error> {
                // A change moves updated_at (the backoff counts from the last change).
                let changed_at = (!r.notes.is_empty()).then_some(at.0);
                let row = match &r.polled {
                    Some(p) => {
                        sqlx::query(
                            "UPDATE agent_sessions SET status = $1, pull_requests = $2, structured_output = $3, \
                             polls = polls + 1, next_poll_at = $4, done = $5, updated_at = COALESCE($6, updated_at) \
                             WHERE session_id = $7 AND polls = $8 AND done = 0 RETURNING incident_number, url",
                        )
                        .bind(&p.status)
                        .bind(serde_json::to_string(&p.pull_requests).expect("pull requests serialize"))
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
                        sqlx::query(
                            "UPDATE agent_sessions SET next_poll_at = $1, done = $2, updated_at = COALESCE($3, updated_at) \
                             WHERE session_id = $4 AND polls = $5 AND done = 0 RETURNING incident_number, url",
                        )
                        .bind(r.next_poll_at.0)
                        .bind(i64::from(r.done))
                        .bind(changed_at)
                        .bind(&r.session_id)
                        .bind(r.polls)
                        .fetch_optional(&mut *self.0)
                        .await?
                    }
                };
                row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
            }

            async fn upsert_postmortem(
                &mut self,
                incident_number: i64,
                session_id: &str,
                url: &str,
                body: &serde_json::Value,
                at: Millis,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO incident_postmortems (incident_number, session_id, url, body, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (incident_number) DO UPDATE SET \
                     session_id = excluded.session_id, url = excluded.url, body = excluded.body, \
                     updated_at = excluded.updated_at",
                )
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

        /// Reads a text column into one of the domain's enums.
        fn parse_col<T: FromStr, I: sqlx::ColumnIndex<$row> + std::fmt::Debug + Copy>(
            row: &$row,
            idx: I,
        ) -> Result<T, sqlx::Error> {
            let s: String = row.try_get(idx)?;
            s.parse::<T>().map_err(|_| sqlx::Error::Decode(format!("unexpected value {s:?} in column {idx:?}").into()))
        }

        const HELD_COLUMNS: &str = "id, integration_key, dedup_key, service, urgency, title, severity, source, \
             component, grp, class, details, received_at, opens_at";

        fn held_from_row(r: &$row) -> Result<HeldAlert, sqlx::Error> {
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

        fn head_from_row(r: &$row) -> Result<IncidentHead, sqlx::Error> {
            Ok(IncidentHead {
                number: r.try_get(0)?,
                id: r.try_get(1)?,
                service: r.try_get(2)?,
                status: parse_col(r, 3)?,
            })
        }

        /// Labels as stored (a JSON array, or NULL for none).
        fn labels_from(stored: Option<String>) -> Vec<String> {
            stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
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
                qb.push(" AND i.dedup_key = ").push_bind(key.clone());
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
