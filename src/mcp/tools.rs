//! The MCP tools: reads through the store, writes through the ingestor, as the REST API does.
//!
//! Every result is JSON, sent as text content. A problem the agent can act on (no such incident, a
//! bad argument, a refused change) is a tool error result carrying
//! `{"error": {"code": "...", "message": "..."}}`; a database failure is a protocol error whose cause
//! is logged, not shown.

use crate::domain::{Incident, IncidentStatus, ManualAction, Millis};
use crate::http::incidents::{IncidentDetail, MAX_LIMIT};
use crate::http::AppState;
use crate::ingest::IngestError;
use crate::store::{
    ChangeQuery, Command, DispatchQuery, DispatchRecord, IncidentQuery, IncidentRef, Rejection, StoreError,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Every tool, by name.
pub const TOOL_NAMES: [&str; 7] = [
    "list_incidents",
    "get_incident",
    "get_alert_events",
    "get_change_events",
    "find_similar_incidents",
    "add_note",
    "set_incident_status",
];

/// What the server tells agents it is for (the `instructions` of its initialize answer).
pub const INSTRUCTIONS: &str = "\
Firehouse is an incident gateway. Monitoring tools send it alerts (PagerDuty-compatible events); it \
deduplicates them into incidents (triggered -> acknowledged -> resolved), keeps every event as the \
incident's timeline, keeps change events (deploys, config changes) per service, and dispatches \
responders such as AI agent sessions. Use these tools to investigate an incident and report back:
- list_incidents: find incidents (e.g. the open ones of a service).
- get_incident: one incident with its timeline (the latest events) and its dispatches (agent sessions).
- get_alert_events: the raw payloads the monitoring tools sent for an incident, paged, oldest first.
- get_change_events: what changed on a service in a time window (by default the last 24 hours); \
look at the window before the incident's created_at.
- find_similar_incidents: past incidents of the same service (and source, component, class), how long \
they took to resolve, and links to their postmortem sessions.
- add_note: write a finding on the incident's timeline, where responders see it. Record what you learn \
as you go (cause, evidence, links, what you tried).
- set_incident_status: acknowledge or resolve an incident, when the operators allowed it.
Incidents are named by number (e.g. 42) or id (a UUID). Times are RFC 3339, UTC.";

/// Timeline entries `get_incident` returns by default (the latest ones).
const DEFAULT_TIMELINE: u32 = 100;
/// The most timeline entries `get_incident` returns.
const MAX_TIMELINE: u32 = 1000;
/// Events one `get_alert_events` page holds by default and at most.
const DEFAULT_EVENTS: u32 = 20;
const MAX_EVENTS: u32 = 100;
/// Similar incidents returned by default and at most.
const DEFAULT_SIMILAR: u32 = 5;
const MAX_SIMILAR: u32 = 20;
/// The most incidents of each kind (resolved, open) read to find similar ones.
const SIMILAR_SCAN: u32 = 1000;
/// Default author of notes and actor of status changes.
const DEFAULT_AUTHOR: &str = "mcp";

/// The MCP server handler: one per request (the transport is stateless), cheap to clone.
#[derive(Clone)]
pub struct FirehouseMcp {
    state: AppState,
    allow_status_changes: bool,
    tool_router: Arc<ToolRouter<FirehouseMcp>>,
}

/// An incident, by number or id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(inline)] // no `$ref`s: not every MCP client resolves them
pub enum IncidentArg {
    /// Its number, e.g. 42.
    Number(i64),
    /// Its id (a UUID), or its number as text ("42" or "#42").
    Text(String),
}

impl IncidentArg {
    fn to_ref(&self) -> Result<IncidentRef, ToolError> {
        match self {
            IncidentArg::Number(n) if *n > 0 => Ok(IncidentRef::Number(*n)),
            IncidentArg::Number(n) => Err(ToolError::Invalid(format!("incident number {n} is invalid"))),
            IncidentArg::Text(s) => {
                let s = s.trim();
                let s = s.strip_prefix('#').filter(|n| n.parse::<i64>().is_ok()).unwrap_or(s);
                if s.is_empty() {
                    return Err(ToolError::Invalid("incident must not be empty".into()));
                }
                Ok(IncidentRef::parse(s))
            }
        }
    }
}

/// An incident status: triggered (open, paging), acknowledged (open, someone is on it) or resolved.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)] // no `$ref`s: not every MCP client resolves them
pub enum StatusArg {
    // (Variants undocumented, so that the schema is a plain `enum` of the three words.)
    Triggered,
    Acknowledged,
    Resolved,
}

impl From<StatusArg> for IncidentStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Triggered => IncidentStatus::Triggered,
            StatusArg::Acknowledged => IncidentStatus::Acknowledged,
            StatusArg::Resolved => IncidentStatus::Resolved,
        }
    }
}

/// One status or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(inline)] // no `$ref`s: not every MCP client resolves them
pub enum StatusFilter {
    /// Any of these.
    Many(Vec<StatusArg>),
    /// Just this one.
    One(StatusArg),
}

/// Arguments of `list_incidents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIncidentsArgs {
    /// Only incidents in these statuses (default: all), e.g. ["triggered", "acknowledged"] for the open ones.
    #[serde(default)]
    pub status: Option<StatusFilter>,
    /// Only incidents of this service (its name, as in an incident's `service`).
    #[serde(default)]
    pub service: Option<String>,
    /// Only incidents opened by this dedup key.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// Page size, 1 to 100 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Incidents to skip, for the next pages (default 0).
    #[serde(default)]
    pub offset: Option<u32>,
}

/// Arguments of `get_incident`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetIncidentArgs {
    /// The incident: its number (e.g. 42) or its id (a UUID).
    pub incident: IncidentArg,
    /// How many of the latest timeline entries to include, 1 to 1000 (default 100); `timeline_total`
    /// tells how many there are, and get_alert_events pages through all of them.
    #[serde(default)]
    pub timeline_limit: Option<u32>,
}

/// Arguments of `get_alert_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAlertEventsArgs {
    /// The incident: its number (e.g. 42) or its id (a UUID).
    pub incident: IncidentArg,
    /// Page size, 1 to 100 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Events to skip, oldest first (default 0).
    #[serde(default)]
    pub offset: Option<u32>,
}

/// Arguments of `get_change_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetChangeEventsArgs {
    /// The service (its name, as in an incident's `service`).
    pub service: String,
    /// From, RFC 3339 (default: 24 hours before `until`).
    #[serde(default)]
    pub since: Option<String>,
    /// Until, RFC 3339 (default: now).
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many, the latest ones, 1 to 100 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of `find_similar_incidents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSimilarArgs {
    /// The incident to find look-alikes of: its number (e.g. 42) or its id (a UUID).
    pub incident: IncidentArg,
    /// At most this many, 1 to 20 (default 5).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of `add_note`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNoteArgs {
    /// The incident: its number (e.g. 42) or its id (a UUID).
    pub incident: IncidentArg,
    /// The note: a finding, evidence, a link, what was tried.
    pub note: String,
    /// Who writes it (default "mcp"), e.g. the agent's name.
    #[serde(default)]
    pub author: Option<String>,
}

/// The status to move an incident to.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)] // no `$ref`s: not every MCP client resolves them
pub enum NewStatus {
    // (Undocumented variants: a plain `enum` schema.)
    Acknowledged,
    Resolved,
}

/// Arguments of `set_incident_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusArgs {
    /// The incident: its number (e.g. 42) or its id (a UUID).
    pub incident: IncidentArg,
    /// "acknowledged" or "resolved".
    pub status: NewStatus,
    /// Who does it (default "mcp"), recorded on the timeline.
    #[serde(default)]
    pub actor: Option<String>,
}

/// Why a tool failed.
#[derive(Debug)]
enum ToolError {
    Invalid(String),
    NotFound(String),
    Conflict(String),
    Forbidden(String),
    Unavailable,
    Internal(String),
}

impl ToolError {
    fn code(&self) -> &'static str {
        match self {
            ToolError::Invalid(_) => "bad_request",
            ToolError::NotFound(_) => "not_found",
            ToolError::Conflict(_) => "conflict",
            ToolError::Forbidden(_) => "forbidden",
            ToolError::Unavailable => "unavailable",
            ToolError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> &str {
        match self {
            ToolError::Invalid(m) | ToolError::NotFound(m) | ToolError::Conflict(m) | ToolError::Forbidden(m) => m,
            ToolError::Unavailable => "Firehouse is shutting down; try again",
            ToolError::Internal(_) => "internal error",
        }
    }
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        ToolError::Internal(e.to_string())
    }
}

impl From<IngestError> for ToolError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Store(e) => ToolError::Internal(e.to_string()),
            IngestError::Stopped => ToolError::Unavailable,
        }
    }
}

impl From<Rejection> for ToolError {
    fn from(e: Rejection) -> Self {
        match e {
            Rejection::IncidentNotFound => ToolError::NotFound(e.to_string()),
            Rejection::Manual(m) => ToolError::Conflict(m.to_string()),
        }
    }
}

impl From<serde_json::Error> for ToolError {
    fn from(e: serde_json::Error) -> Self {
        ToolError::Internal(e.to_string())
    }
}

/// A tool's answer: JSON text, a tool error the agent sees, or (database trouble) a protocol error.
fn respond(result: Result<Value, ToolError>) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(value) => Ok(CallToolResult::success(vec![ContentBlock::text(value.to_string())])),
        Err(ToolError::Internal(cause)) => {
            tracing::error!(%cause, "MCP tool failed");
            Err(ErrorData::internal_error("internal error", None))
        }
        Err(e) => Ok(error_result(e.code(), e.message())),
    }
}

/// A tool error result: `{"error": {"code", "message"}}` as JSON text.
fn error_result(code: &str, message: &str) -> CallToolResult {
    let body = json!({ "error": { "code": code, "message": message } });
    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
}

/// The SDK answers arguments that do not fit a tool's schema with a plain-text tool error; this gives
/// it the shape of every other tool error.
fn with_json_error(result: CallToolResult) -> CallToolResult {
    if result.is_error != Some(true) {
        return result;
    }
    let text = match result.content.as_slice() {
        [block] => block.as_text().map(|t| t.text.clone()),
        _ => None,
    };
    match text {
        Some(text) if serde_json::from_str::<Value>(&text).is_err() => error_result("bad_request", &text),
        _ => result,
    }
}

/// `value` within `1..=max`, `default` when absent.
fn bounded(value: Option<u32>, default: u32, max: u32) -> u32 {
    value.unwrap_or(default).clamp(1, max)
}

/// A trimmed, non-blank name, else `DEFAULT_AUTHOR`.
fn who(name: Option<String>) -> String {
    name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_AUTHOR.to_owned())
}

#[tool_router]
impl FirehouseMcp {
    #[tool(
        description = "List incidents, newest first, filtered by status and service and paged. Returns \
                       {incidents, limit, offset, total, more}, as GET /api/v1/incidents does.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_incidents(
        &self,
        Parameters(args): Parameters<ListIncidentsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        respond(self.list(args).await)
    }

    #[tool(
        description = "One incident with its timeline (every event, alert or operator action or note, oldest \
                       first; the latest timeline_limit of them) and its dispatches (rules' actions, with agent \
                       sessions in their result). As GET /api/v1/incidents/{id}, plus timeline_total.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_incident(&self, Parameters(args): Parameters<GetIncidentArgs>) -> Result<CallToolResult, ErrorData> {
        let timeline_limit = bounded(args.timeline_limit, DEFAULT_TIMELINE, MAX_TIMELINE);
        respond(async { self.detail(&args.incident.to_ref()?, timeline_limit).await }.await)
    }

    #[tool(
        description = "The events of an incident with the raw payloads the monitoring tools sent (integration \
                       keys redacted), oldest first, paged: {incident, events, limit, offset, total, more}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_alert_events(
        &self,
        Parameters(args): Parameters<GetAlertEventsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        respond(self.alert_events(args).await)
    }

    #[tool(
        description = "Change events (deploys, config changes) of a service in a time window, oldest first; by \
                       default the 24 hours before now. To see what changed before an incident, pass its service \
                       and a window ending at its created_at.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_change_events(
        &self,
        Parameters(args): Parameters<GetChangeEventsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        respond(self.change_events(args).await)
    }

    #[tool(
        description = "Past incidents like this one: same service, and the same source, component and class where \
                       this incident has them. Resolved ones first, newest first; each with its resolution time \
                       and, when a postmortem agent session ran for it, that session's link.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_similar_incidents(
        &self,
        Parameters(args): Parameters<FindSimilarArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        respond(self.similar(args).await)
    }

    #[tool(
        description = "Add a note to an incident's timeline (a finding, evidence, a link, what was tried), where \
                       responders see it. Returns the incident as get_incident does.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_note(&self, Parameters(args): Parameters<AddNoteArgs>) -> Result<CallToolResult, ErrorData> {
        respond(self.note(args).await)
    }

    #[tool(
        description = "Acknowledge or resolve an incident, as an operator would. Only when this Firehouse allows \
                       status changes over MCP (otherwise the call is refused). A resolved incident stays \
                       resolved. Returns the incident as get_incident does.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn set_incident_status(
        &self,
        Parameters(args): Parameters<SetStatusArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        respond(self.set_status(args).await)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FirehouseMcp {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.tool_router.call(ToolCallContext::new(self, request, context)).await? {
            CallToolResponse::Complete(result) => Ok(CallToolResponse::Complete(with_json_error(result))),
            other => Ok(other),
        }
    }

    fn get_info(&self) -> ServerConfig {
        let mut implementation = Implementation::new("firehouse", env!("CARGO_PKG_VERSION"));
        implementation.title = Some("Firehouse incident gateway".into());
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(implementation)
            .with_instructions(INSTRUCTIONS)
    }
}

impl FirehouseMcp {
    /// A handler over `state`; `allow_status_changes` enables `set_incident_status`.
    pub fn new(state: AppState, allow_status_changes: bool) -> Self {
        FirehouseMcp { state, allow_status_changes, tool_router: Arc::new(Self::tool_router()) }
    }

    async fn incident(&self, r: &IncidentRef) -> Result<Incident, ToolError> {
        self.state.store.get_incident(r).await?.ok_or_else(|| ToolError::NotFound("no such incident".into()))
    }

    async fn dispatches(&self, incident_number: i64) -> Result<Vec<DispatchRecord>, ToolError> {
        let query = DispatchQuery { incident_number: Some(incident_number), limit: 100, ..Default::default() };
        let mut dispatches = self.state.store.list_dispatches(&query).await?;
        dispatches.reverse();
        Ok(dispatches)
    }

    async fn list(&self, args: ListIncidentsArgs) -> Result<Value, ToolError> {
        let statuses = match args.status {
            None => Vec::new(),
            Some(StatusFilter::One(s)) => vec![s.into()],
            Some(StatusFilter::Many(v)) => v.into_iter().map(Into::into).collect(),
        };
        let query = IncidentQuery {
            statuses,
            service: args.service.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            dedup_key: args.dedup_key.filter(|s| !s.is_empty()),
            limit: bounded(args.limit, 25, MAX_LIMIT),
            offset: args.offset.unwrap_or(0),
        };
        Ok(serde_json::to_value(self.state.store.list_incidents(&query).await?)?)
    }

    /// The incident as the REST API shows it, with the latest `timeline_limit` timeline entries.
    async fn detail(&self, r: &IncidentRef, timeline_limit: u32) -> Result<Value, ToolError> {
        let incident = self.incident(r).await?;
        let mut timeline = self.state.store.timeline(incident.number).await?;
        let total = timeline.len();
        timeline.drain(..total.saturating_sub(timeline_limit as usize));
        let dispatches = self.dispatches(incident.number).await?;
        let agent_sessions = self.state.store.agent_sessions(incident.number).await?;
        let mut value = serde_json::to_value(IncidentDetail { incident, timeline, dispatches, agent_sessions })?;
        value["timeline_total"] = json!(total);
        Ok(value)
    }

    async fn alert_events(&self, args: GetAlertEventsArgs) -> Result<Value, ToolError> {
        let incident = self.incident(&args.incident.to_ref()?).await?;
        let timeline = self.state.store.timeline(incident.number).await?;
        let total = timeline.len();
        let limit = bounded(args.limit, DEFAULT_EVENTS, MAX_EVENTS);
        let offset = args.offset.unwrap_or(0);
        let events: Vec<_> = timeline.into_iter().skip(offset as usize).take(limit as usize).collect();
        let more = (offset as usize).saturating_add(events.len()) < total;
        Ok(json!({
            "incident": {
                "id": incident.id, "number": incident.number, "title": incident.title,
                "service": incident.service, "status": incident.status,
            },
            "events": events,
            "limit": limit,
            "offset": offset,
            "total": total,
            "more": more,
        }))
    }

    async fn change_events(&self, args: GetChangeEventsArgs) -> Result<Value, ToolError> {
        let service = args.service.trim().to_owned();
        if service.is_empty() {
            return Err(ToolError::Invalid("service must not be empty".into()));
        }
        let time = |field: &str, v: &Option<String>| -> Result<Option<Millis>, ToolError> {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    Millis::parse_iso8601(s).ok_or_else(|| {
                        ToolError::Invalid(format!("{field} must be an RFC 3339 time, e.g. 2026-11-25T20:00:00Z"))
                    })
                })
                .transpose()
        };
        let until = time("until", &args.until)?.unwrap_or_else(Millis::now);
        let since = time("since", &args.since)?.unwrap_or(Millis(until.0 - 24 * 3600 * 1000));
        if since > until {
            return Err(ToolError::Invalid("since must not be after until".into()));
        }
        let limit = bounded(args.limit, MAX_LIMIT, MAX_LIMIT);
        let changes =
            self.state.store.change_events(&ChangeQuery { service: service.clone(), since, until, limit }).await?;
        Ok(json!({ "service": service, "since": since, "until": until, "change_events": changes }))
    }

    async fn similar(&self, args: FindSimilarArgs) -> Result<Value, ToolError> {
        let target = self.incident(&args.incident.to_ref()?).await?;
        let limit = bounded(args.limit, DEFAULT_SIMILAR, MAX_SIMILAR) as usize;
        let alike = |c: &Incident| {
            (c.created_at, c.number) < (target.created_at, target.number)
                && [(&target.source, &c.source), (&target.component, &c.component), (&target.class, &c.class)]
                    .iter()
                    .all(|(want, have)| want.is_none() || want == have)
        };
        let mut found = self.scan(&target.service, vec![IncidentStatus::Resolved], &alike, limit).await?;
        if found.len() < limit {
            let open = vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged];
            found.extend(self.scan(&target.service, open, &alike, limit - found.len()).await?);
        }
        let mut similar = Vec::with_capacity(found.len());
        for c in found {
            let postmortem = self.dispatches(c.number).await?.into_iter().rev().find_map(|d| postmortem_of(&d));
            let time_to_resolve_seconds = c.resolved_at.map(|r| (r.0 - c.created_at.0) / 1000);
            similar.push(json!({
                "id": c.id,
                "number": c.number,
                "title": c.title,
                "status": c.status,
                "severity": c.severity,
                "service": c.service,
                "source": c.source,
                "component": c.component,
                "class": c.class,
                "dedup_key": c.dedup_key,
                "same_dedup_key": c.dedup_key == target.dedup_key,
                "created_at": c.created_at,
                "resolved_at": c.resolved_at,
                "time_to_resolve_seconds": time_to_resolve_seconds,
                "event_count": c.event_count,
                "postmortem": postmortem,
            }));
        }
        Ok(json!({
            "incident": {
                "id": target.id, "number": target.number, "title": target.title, "service": target.service,
                "source": target.source, "component": target.component, "class": target.class,
            },
            "matched_on": {
                "service": target.service, "source": target.source,
                "component": target.component, "class": target.class,
            },
            "similar": similar,
        }))
    }

    /// Up to `want` incidents of `service` in `statuses` that are `alike`, newest first, reading at
    /// most `SIMILAR_SCAN` of them.
    async fn scan(
        &self,
        service: &str,
        statuses: Vec<IncidentStatus>,
        alike: &impl Fn(&Incident) -> bool,
        want: usize,
    ) -> Result<Vec<Incident>, ToolError> {
        let mut query =
            IncidentQuery { statuses, service: Some(service.to_owned()), dedup_key: None, limit: MAX_LIMIT, offset: 0 };
        let mut found = Vec::new();
        while query.offset < SIMILAR_SCAN {
            let page = self.state.store.list_incidents(&query).await?;
            found.extend(page.incidents.into_iter().filter(|c| alike(c)));
            if found.len() >= want || !page.more {
                break;
            }
            query.offset += MAX_LIMIT;
        }
        found.truncate(want);
        Ok(found)
    }

    async fn note(&self, args: AddNoteArgs) -> Result<Value, ToolError> {
        let incident = args.incident.to_ref()?;
        if args.note.trim().is_empty() {
            return Err(ToolError::Invalid("note must not be empty".into()));
        }
        let command = Command::Note {
            incident: incident.clone(),
            author: who(args.author),
            text: args.note,
            received_at: Millis::now(),
        };
        self.state.ingestor.submit(command).await??;
        self.detail(&incident, DEFAULT_TIMELINE).await
    }

    async fn set_status(&self, args: SetStatusArgs) -> Result<Value, ToolError> {
        if !self.allow_status_changes {
            return Err(ToolError::Forbidden(
                "status changes over MCP are not allowed on this Firehouse (an operator can allow them with \
                 allow_status_changes = true in [mcp]); add a note with your recommendation instead"
                    .into(),
            ));
        }
        let incident = args.incident.to_ref()?;
        let action = match args.status {
            NewStatus::Acknowledged => ManualAction::Acknowledge,
            NewStatus::Resolved => ManualAction::Resolve,
        };
        let command =
            Command::Manual { incident: incident.clone(), action, actor: who(args.actor), received_at: Millis::now() };
        let outcome = self.state.ingestor.submit(command).await??;
        self.state.metrics.event("api", outcome.transition.as_str());
        self.detail(&incident, DEFAULT_TIMELINE).await
    }
}

/// The postmortem session a dispatch started: a dispatch on resolve whose result links a session.
fn postmortem_of(d: &DispatchRecord) -> Option<Value> {
    if d.transition != "resolved" && d.rule != "resolved" {
        return None;
    }
    let result = d.result.as_ref()?;
    let url = result.get("url")?.as_str()?;
    Some(json!({
        "url": url,
        "session_id": result.get("session_id"),
        "rule": d.rule,
        "action": d.action,
        "dispatch_id": d.id,
    }))
}
