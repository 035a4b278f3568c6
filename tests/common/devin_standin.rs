//! A local stand-in for Devin's API v3 (`/v3/organizations/{org_id}/sessions…`) that enforces the contract of
//! `shared/spec/devin-api.md`: a request the real API would refuse is refused here, with the real status.
//!
//! - `Authorization: Bearer <token>` must carry the configured token (401 otherwise), before anything else.
//! - The organization in the path must be the configured one (404).
//! - Create: a JSON object whose `prompt` is a non-empty string; `title`, `playbook_id` strings; `tags`,
//!   `knowledge_ids`, `secret_ids`, `repos`, `attachment_urls`, `session_links` arrays of strings; `max_acu_limit` a
//!   positive integer; `session_secrets` an array of `{key, value, sensitive?}`; `structured_output_schema` an object
//!   of at most 64 KB, self-contained (every `$ref` local) and draft 7 when it names its `$schema`. Anything else is a 422 with a `detail` naming the field (stricter than the real API on unknown
//!   fields, on purpose: a misspelt field must not pass silently).
//! - List: `tags` (repeated and/or comma-separated; sessions carrying ALL of them), `session_ids`, `playbook_id`,
//!   `first` (1–200, default 100), `after` (a cursor from `end_cursor`); answers `{items, end_cursor, has_next_page,
//!   total}`.
//! - Get one (`status`, `pull_requests`, `structured_output` as the test set them), post a message
//!   (`{"message": non-empty string}`), list messages.
//!
//! Tests move a session along as Devin would: [`DevinStandIn::set_status`] (`new → running → exit`; an ended session
//! changes no more), [`DevinStandIn::set_pull_request`], [`DevinStandIn::set_structured_output`].
//!
//! Faults a test queues apply to the next creates, one fault per create, in order. Every request is recorded (method,
//! path, query, headers with the token's value removed, body).
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the next create does instead of (or before) being served normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer 429 with this `Retry-After` value; nothing is created.
    TooManyRequests { retry_after: String },
    /// Answer 500; nothing is created.
    ServerError,
    /// Wait this long, then serve the request normally (the session is created even if the client has gone).
    Hang(Duration),
    /// Create the session at once, then wait this long before answering (the client times out).
    CreateThenHang(Duration),
}

/// One request as received. The token's value is never kept: `authorization` says only how it compared.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Headers, with `authorization` replaced by `Bearer [valid token]`, `Bearer [wrong token]` or `[not bearer]`.
    pub headers: Vec<(String, String)>,
    /// The body, as JSON when it is.
    pub body: Option<Value>,
    /// The status answered (0 while a hung request has not answered yet).
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_create(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/sessions")
    }

    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.path.ends_with("/sessions")
    }
}

/// A session as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StoredSession {
    pub session_id: String,
    pub url: String,
    pub status: String,
    pub tags: Vec<String>,
    pub org_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub acus_consumed: f64,
    pub pull_requests: Vec<Value>,
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_output: Option<Value>,
    #[serde(skip)]
    pub seq: u64,
    /// The whole create body as received (session secrets' values included: tests check them).
    #[serde(skip)]
    pub request: Value,
    #[serde(skip)]
    pub messages: Vec<String>,
}

impl StoredSession {
    pub fn prompt(&self) -> &str {
        self.request["prompt"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    sessions: Vec<StoredSession>,
    faults: VecDeque<Fault>,
    requests: Vec<Recorded>,
    seq: u64,
}

struct Shared {
    token: String,
    org_id: String,
    prefix: String,
    inner: Mutex<Inner>,
}

/// The running stand-in. Dropping it stops the server.
pub struct DevinStandIn {
    /// `http://127.0.0.1:PORT`, the `base_url` to configure.
    pub base_url: String,
    pub token: String,
    pub org_id: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DevinStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DevinStandIn {
    /// Serves `/v3/organizations/{org_id}/…` for `token` on a random local port.
    pub async fn start(token: &str, org_id: &str) -> Self {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            org_id: org_id.to_owned(),
            prefix: "/v3".to_owned(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        DevinStandIn {
            base_url: format!("http://{addr}"),
            token: token.to_owned(),
            org_id: org_id.to_owned(),
            shared,
            task,
        }
    }

    /// Queues `fault` for the next `n` creates.
    pub fn fault(&self, fault: Fault, n: usize) {
        let mut inner = self.shared.inner.lock().unwrap();
        for _ in 0..n {
            inner.faults.push_back(fault.clone());
        }
    }

    /// The sessions created so far, oldest first.
    pub fn sessions(&self) -> Vec<StoredSession> {
        self.shared.inner.lock().unwrap().sessions.clone()
    }

    pub fn session_count(&self) -> usize {
        self.shared.inner.lock().unwrap().sessions.len()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// The create requests received so far.
    pub fn creates(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_create).collect()
    }

    /// Changes one session as `change` says (bumping `updated_at`); panics on an unknown session.
    fn change(&self, session_id: &str, change: impl FnOnce(&mut StoredSession)) {
        let mut inner = self.shared.inner.lock().unwrap();
        let session = inner
            .sessions
            .iter_mut()
            .find(|s| s.session_id == session_id)
            .unwrap_or_else(|| panic!("no session {session_id}"));
        change(session);
        session.updated_at = now_secs();
    }

    /// Moves a session to `status`, one of the API's; a session that ended (`exit`, `error`) stays ended.
    pub fn set_status(&self, session_id: &str, status: &str) {
        assert!(SESSION_STATUSES.contains(&status), "{status} is not a session status of the API");
        self.change(session_id, |s| {
            assert!(!["exit", "error"].contains(&s.status.as_str()), "{} has ended ({})", s.session_id, s.status);
            s.status = status.to_owned();
        });
    }

    /// Attaches a pull request to a session, or changes the state of the one with that URL.
    pub fn set_pull_request(&self, session_id: &str, pr_url: &str, pr_state: &str) {
        self.change(session_id, |s| {
            let pr = json!({ "pr_url": pr_url, "pr_state": pr_state });
            match s.pull_requests.iter_mut().find(|p| p["pr_url"] == pr_url) {
                Some(existing) => *existing = pr,
                None => s.pull_requests.push(pr),
            }
        });
    }

    /// Sets a session's structured output (what it filled in of its `structured_output_schema`).
    pub fn set_structured_output(&self, session_id: &str, output: Value) {
        self.change(session_id, |s| s.structured_output = Some(output));
    }

    /// One session as the API answers it now.
    pub fn session(&self, session_id: &str) -> Option<StoredSession> {
        find(&self.shared, session_id)
    }

    /// How many times a session was read (`GET …/sessions/{id}`) with the right token, whatever the answer.
    pub fn reads_of(&self, session_id: &str) -> usize {
        let path = format!("{}/organizations/{}/sessions/{session_id}", self.shared.prefix, self.org_id);
        self.requests()
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path == path && r.header("authorization") == Some("Bearer [valid token]")
            })
            .count()
    }

    /// Waits until `n` sessions exist (a hung create finishing); panics after `within`.
    pub async fn wait_for_sessions(&self, n: usize, within: Duration) {
        let start = Instant::now();
        while self.session_count() < n {
            assert!(start.elapsed() < within, "expected {n} sessions within {within:?}, have {}", self.session_count());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn detail(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": text.into() }))).into_response()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let auth_ok = auth == Some(format!("Bearer {}", shared.token).as_str());
    let recorded_headers = headers
        .iter()
        .map(|(k, v)| {
            let value = if k == header::AUTHORIZATION {
                match (auth_ok, auth.is_some_and(|a| a.starts_with("Bearer "))) {
                    (true, _) => "Bearer [valid token]".to_owned(),
                    (false, true) => "Bearer [wrong token]".to_owned(),
                    (false, false) => "[not bearer]".to_owned(),
                }
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (k.as_str().to_owned(), value)
        })
        .collect();
    let index = {
        let mut inner = shared.inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: recorded_headers,
            body: serde_json::from_slice(&body).ok(),
            status: 0,
        });
        inner.requests.len() - 1
    };
    let response = route(shared.clone(), auth_ok, &method, &uri, &headers, body).await;
    shared.inner.lock().unwrap().requests[index].status = response.status().as_u16();
    response
}

async fn route(
    shared: Arc<Shared>,
    auth_ok: bool,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if !auth_ok {
        return detail(StatusCode::UNAUTHORIZED, "Missing or invalid API key");
    }
    let Some(rest) = uri.path().strip_prefix(shared.prefix.as_str()) else {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    };
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let (org, tail) = match parts.as_slice() {
        ["organizations", org, "sessions", tail @ ..] => (*org, tail.to_vec()),
        _ => return detail(StatusCode::NOT_FOUND, "Not Found"),
    };
    if org != shared.org_id {
        return detail(StatusCode::NOT_FOUND, format!("Organization {org} not found"));
    }
    match (method.clone(), tail.as_slice()) {
        (Method::POST, []) => create(shared, headers, body).await,
        (Method::GET, []) => list(&shared, uri),
        (Method::GET, [id]) => match find(&shared, id) {
            Some(s) => Json(s).into_response(),
            None => detail(StatusCode::NOT_FOUND, "Session not found"),
        },
        (Method::POST, [id, "messages"]) => post_message(&shared, id, headers, &body),
        (Method::GET, [id, "messages"]) => match find(&shared, id) {
            Some(s) => {
                let items: Vec<Value> = s.messages.iter().map(|m| json!({ "message": m })).collect();
                Json(json!({"items": items, "end_cursor": null, "has_next_page": false, "total": items.len()}))
                    .into_response()
            }
            None => detail(StatusCode::NOT_FOUND, "Session not found"),
        },
        (_, [] | [_] | [_, "messages"]) => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        _ => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn find(shared: &Shared, id: &str) -> Option<StoredSession> {
    shared.inner.lock().unwrap().sessions.iter().find(|s| s.session_id == id).cloned()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
}

/// The body as a JSON object, or the `detail` of the API's 422.
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    if !is_json(headers) {
        return Err("body must be JSON (Content-Type: application/json)".into());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("body must be a JSON object".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// The statuses the API reports.
pub const SESSION_STATUSES: [&str; 7] = ["new", "claimed", "running", "exit", "error", "suspended", "resuming"];

const STRING_FIELDS: [&str; 2] = ["title", "playbook_id"];
const STRING_ARRAY_FIELDS: [&str; 6] =
    ["tags", "knowledge_ids", "secret_ids", "repos", "attachment_urls", "session_links"];

/// Checks a create body as the API does; the message is the 422's `detail`.
fn validate_create(body: &Map<String, Value>) -> Result<(), String> {
    for key in body.keys() {
        let known = key == "prompt"
            || key == "max_acu_limit"
            || key == "session_secrets"
            || key == "structured_output_schema"
            || STRING_FIELDS.contains(&key.as_str())
            || STRING_ARRAY_FIELDS.contains(&key.as_str());
        if !known {
            return Err(format!("{key}: extra field not permitted"));
        }
    }
    match body.get("prompt") {
        Some(Value::String(p)) if !p.is_empty() => {}
        Some(Value::String(_)) => return Err("prompt: must be a non-empty string".into()),
        Some(_) => return Err("prompt: must be a string".into()),
        None => return Err("prompt: field required".into()),
    }
    for key in STRING_FIELDS {
        match body.get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("{key}: must be a string")),
        }
    }
    for key in STRING_ARRAY_FIELDS {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if let Some(i) = items.iter().position(|v| !v.is_string()) {
                    return Err(format!("{key}[{i}]: must be a string"));
                }
            }
            Some(_) => return Err(format!("{key}: must be an array of strings")),
        }
    }
    match body.get("max_acu_limit") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => {}
        Some(_) => return Err("max_acu_limit: must be a positive integer".into()),
    }
    match body.get("session_secrets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(m) = item else { return Err(format!("session_secrets[{i}]: must be an object")) };
                if let Some(k) = m.keys().find(|k| !["key", "value", "sensitive"].contains(&k.as_str())) {
                    return Err(format!("session_secrets[{i}].{k}: extra field not permitted"));
                }
                if !matches!(m.get("key"), Some(Value::String(k)) if !k.is_empty()) {
                    return Err(format!("session_secrets[{i}].key: must be a non-empty string"));
                }
                if !matches!(m.get("value"), Some(Value::String(_))) {
                    return Err(format!("session_secrets[{i}].value: must be a string"));
                }
                if !matches!(m.get("sensitive"), None | Some(Value::Bool(_))) {
                    return Err(format!("session_secrets[{i}].sensitive: must be a boolean"));
                }
            }
        }
        Some(_) => return Err("session_secrets: must be an array".into()),
    }
    match body.get("structured_output_schema") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) if v.to_string().len() <= 64 * 1024 => check_schema(v)?,
        Some(Value::Object(_)) => return Err("structured_output_schema: larger than 64 KB".into()),
        Some(_) => return Err("structured_output_schema: must be an object".into()),
    }
    Ok(())
}

/// A structured output schema must be JSON Schema draft 7 (when it says which) and self-contained: no `$ref` out.
fn check_schema(schema: &Value) -> Result<(), String> {
    match schema.get("$schema") {
        None => {}
        Some(Value::String(s)) if s.trim_end_matches('#').ends_with("json-schema.org/draft-07/schema") => {}
        Some(other) => return Err(format!("structured_output_schema: $schema {other} is not JSON Schema draft 7")),
    }
    fn refs(v: &Value) -> Result<(), String> {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref") {
                    if !r.as_str().is_some_and(|r| r.starts_with('#')) {
                        return Err(format!("structured_output_schema: $ref {r} is not self-contained"));
                    }
                }
                m.values().try_for_each(refs)
            }
            Value::Array(items) => items.iter().try_for_each(refs),
            _ => Ok(()),
        }
    }
    refs(schema)
}

async fn create(shared: Arc<Shared>, headers: &HeaderMap, body: Bytes) -> Response {
    let fault = shared.inner.lock().unwrap().faults.pop_front();
    match fault {
        None => serve_create(&shared, headers, &body),
        Some(Fault::TooManyRequests { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after)],
            Json(json!({"detail": "Rate limit exceeded"})),
        )
            .into_response(),
        Some(Fault::ServerError) => detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Some(Fault::Hang(d)) => {
            // In a task of its own, so the work completes even when the client gives up and the handler is dropped.
            let headers = headers.clone();
            let work = tokio::spawn(async move {
                tokio::time::sleep(d).await;
                serve_create(&shared, &headers, &body)
            });
            work.await.unwrap()
        }
        Some(Fault::CreateThenHang(d)) => {
            let response = serve_create(&shared, headers, &body);
            tokio::time::sleep(d).await;
            response
        }
    }
}

fn serve_create(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let body = match json_object(headers, body) {
        Ok(b) => b,
        Err(message) => return detail(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    if let Err(message) = validate_create(&body) {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let now = now_secs();
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut inner = shared.inner.lock().unwrap();
    inner.seq += 1;
    let session = StoredSession {
        session_id: format!("devin-{hex}"),
        url: format!("https://app.devin.ai/sessions/{hex}"),
        status: "new".into(),
        tags,
        org_id: shared.org_id.clone(),
        created_at: now,
        updated_at: now,
        acus_consumed: 0.0,
        pull_requests: Vec::new(),
        title: body.get("title").and_then(Value::as_str).map(str::to_owned),
        structured_output: None,
        seq: inner.seq,
        request: Value::Object(body),
        messages: Vec::new(),
    };
    inner.sessions.push(session.clone());
    Json(session).into_response()
}

/// Values of a list parameter given repeatedly and/or comma-separated.
fn multi(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn list(shared: &Shared, uri: &Uri) -> Response {
    let pairs: Vec<(String, String)> = match Query::<Vec<(String, String)>>::try_from_uri(uri) {
        Ok(Query(p)) => p,
        Err(e) => return detail(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid query: {e}")),
    };
    let one = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let first = match one("first").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => return detail(StatusCode::UNPROCESSABLE_ENTITY, "first: must be an integer from 1 to 200"),
    };
    let after = match one("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return detail(StatusCode::UNPROCESSABLE_ENTITY, "after: invalid cursor"),
    };
    let tags = multi(&pairs, "tags");
    let ids = multi(&pairs, "session_ids");
    let playbook = one("playbook_id");
    let inner = shared.inner.lock().unwrap();
    let matching: Vec<&StoredSession> = inner
        .sessions
        .iter()
        .filter(|s| tags.iter().all(|t| s.tags.contains(t)))
        .filter(|s| ids.is_empty() || ids.contains(&s.session_id))
        .filter(|s| playbook.is_none() || s.request.get("playbook_id").and_then(Value::as_str) == playbook)
        .collect();
    let page: Vec<&StoredSession> = matching.iter().filter(|s| s.seq > after).take(first).copied().collect();
    let has_next_page = page.last().is_some_and(|last| matching.iter().any(|s| s.seq > last.seq));
    Json(json!({
        "items": page,
        "end_cursor": page.last().map(|s| s.seq.to_string()),
        "has_next_page": has_next_page,
        "total": matching.len(),
    }))
    .into_response()
}

fn post_message(shared: &Shared, id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let body = match json_object(headers, body) {
        Ok(b) => b,
        Err(message) => return detail(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    if let Some(k) = body.keys().find(|k| *k != "message") {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, format!("{k}: extra field not permitted"));
    }
    let text = match body.get("message") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return detail(StatusCode::UNPROCESSABLE_ENTITY, "message: must be a non-empty string"),
    };
    let mut inner = shared.inner.lock().unwrap();
    let Some(session) = inner.sessions.iter_mut().find(|s| s.session_id == id) else {
        return detail(StatusCode::NOT_FOUND, "Session not found");
    };
    session.messages.push(text);
    session.updated_at = now_secs();
    if session.status == "suspended" {
        session.status = "resuming".into();
    }
    Json(json!({ "session_id": session.session_id, "message_count": session.messages.len() })).into_response()
}
