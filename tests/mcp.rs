//! The MCP server at `/mcp`, driven by the official Rust MCP client (`rmcp`) over streamable HTTP:
//! tool listing, every tool against real incidents, change events and dispatches sent over HTTP, and
//! authentication.
//!
//! The server is assembled here from Firehouse's own parts (store, ingestor, REST router), with the
//! MCP service mounted under several MCP configurations side by side, so that one database serves
//! every case: `/mcp` (a token, status changes refused), `/mcp-admin` (another token, status changes
//! allowed) and `/mcp-open` (no token: loopback clients only).

mod common;

use common::*;
use firehouse::config::Config;
use firehouse::domain::Millis;
use firehouse::http::{AppState, Shared};
use firehouse::ingest::Ingestor;
use firehouse::mcp::{McpConfig, TOOL_NAMES};
use firehouse::metrics::Metrics;
use firehouse::store::{DispatchStatus, DispatchUpdate, Store};
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

const TOKEN: &str = "mcp-test-token-0123456789";
const ADMIN_TOKEN: &str = "mcp-admin-token-9876543210";

/// A postmortem rule, so that resolving an incident writes a dispatch (no worker delivers it here).
const RULES: &str = r#"
[[rules]]
name = "postmortem"
on = ["resolved"]
actions = ["devin-postmortem"]

[actions.devin-postmortem]
type = "devin"
org_id = "org-test"
token_env = "FIREHOUSE_MCP_TEST_UNUSED"
flow = "postmortem"
"#;

type Client = RunningService<RoleClient, ()>;

/// Firehouse in this process: the REST API and intake, plus MCP mounts.
struct Server {
    base: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// Serves with connect info (so loopback clients can be told apart) unless `connect_info` is false.
    async fn start(connect_info: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(RULES, Path::new("mcp-test.toml")).unwrap_or_else(|e| panic!("config: {e:?}"));
        let store = firehouse::store::open(&sqlite_url(dir.path())).await.unwrap();
        let directory = config.directory();
        store.sync_services(directory.services()).await.unwrap();
        let metrics = Arc::new(Metrics::new());
        let rules = Arc::new(config.rules());
        let dispatched = Arc::new(tokio::sync::Notify::new());
        let (ingestor, _writer) =
            Ingestor::start(store.clone(), rules.clone(), dispatched.clone(), metrics.clone(), None).await.unwrap();
        let state = AppState::new(Shared {
            ingestor,
            store: store.clone(),
            directory: Arc::new(directory),
            metrics,
            rate_limits: Default::default(),
            mcp: Default::default(),
            sources: Arc::new(firehouse::sources::Sources::build(&config.webhooks).unwrap()),
            rules,
            dispatched,
        });
        let mcp = |tokens: &[&str], allow_status_changes| McpConfig {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            allow_status_changes,
        };
        let app = axum::Router::new()
            .nest_service("/mcp", firehouse::mcp::service(state.clone(), mcp(&[TOKEN], false)))
            .nest_service("/mcp-admin", firehouse::mcp::service(state.clone(), mcp(&["", ADMIN_TOKEN], true)))
            .nest_service("/mcp-open", firehouse::mcp::service(state.clone(), McpConfig::default()))
            .fallback_service(firehouse::http::router(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        if connect_info {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap() });
        } else {
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap() });
        }
        Server { base: format!("http://{addr}"), http: reqwest::Client::new(), store, _dir: dir, stop: Some(stop) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let r = self.http.post(self.url(path)).json(body).send().await.unwrap();
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// An alert event for the open-mode service of `KEY`.
    async fn alert(&self, action: &str, dedup_key: &str, source: &str, component: &str, class: &str) {
        let body = json!({
            "routing_key": KEY,
            "event_action": action,
            "dedup_key": dedup_key,
            "payload": {
                "summary": format!("{dedup_key} on {source}"), "source": source, "severity": "critical",
                "component": component, "class": class, "custom_details": {"used_pct": 97},
            },
        });
        self.post(V2_PATH, &body).await;
    }

    /// A raw POST to an MCP path: status, `WWW-Authenticate`, body text.
    async fn mcp_raw(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
        let mut request = self
            .http
            .post(self.url(path))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(init.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.unwrap();
        let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), challenge, r.text().await.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The rmcp client over streamable HTTP, with `token` as its bearer token.
async fn connect(url: String, token: Option<&str>) -> Result<Client, rmcp::service::ClientInitializeError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(t) = token {
        config = config.auth_header(t);
    }
    ().serve(StreamableHttpClientTransport::from_config(config)).await
}

/// Calls a tool; returns whether it was a tool error, and its JSON text content parsed.
async fn call(client: &Client, tool: &str, args: Value) -> (bool, Value) {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_eq!(result.content.len(), 1, "{tool}: one content block");
    let text = &result.content[0].as_text().unwrap_or_else(|| panic!("{tool}: text content")).text;
    let value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{tool}: not JSON ({e}): {text}"));
    (result.is_error == Some(true), value)
}

/// Calls a tool that must succeed.
async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let (is_error, value) = call(client, tool, args.clone()).await;
    assert!(!is_error, "{tool} {args}: {value}");
    value
}

/// Calls a tool that must fail with this error code; returns the message.
async fn refused(client: &Client, tool: &str, args: Value, code: &str) -> String {
    let (is_error, value) = call(client, tool, args.clone()).await;
    assert!(is_error, "{tool} {args} should fail: {value}");
    assert_eq!(value["error"]["code"], code, "{tool} {args}: {value}");
    value["error"]["message"].as_str().unwrap().to_owned()
}

fn numbers(incidents: &Value) -> Vec<i64> {
    incidents.as_array().unwrap().iter().map(|i| i["number"].as_i64().unwrap()).collect()
}

/// Incidents #1–#5 of the open-mode service; #5 is the one under investigation.
/// #1 resolved with a postmortem session, #2 another source, #3 open and alike, #4 another component.
async fn seed(server: &Server) {
    server.alert("trigger", "db1/disk", "db1", "disk", "storage").await;
    server.alert("resolve", "db1/disk", "db1", "disk", "storage").await;
    server.alert("trigger", "db2/disk", "db2", "disk", "storage").await;
    server.alert("resolve", "db2/disk", "db2", "disk", "storage").await;
    server.alert("trigger", "db1/inodes", "db1", "disk", "storage").await;
    server.alert("trigger", "db1/cpu", "db1", "cpu", "compute").await;
    server.alert("resolve", "db1/cpu", "db1", "cpu", "compute").await;
    server.alert("trigger", "db1/disk", "db1", "disk", "storage").await;
    server.alert("trigger", "db1/disk", "db1", "disk", "storage").await;

    // The postmortem of #1 ran as an agent session (its dispatch done with the session's link); the
    // postmortems of #2 and #4 are still pending.
    let now = Millis::now();
    let claimed = server.store.claim_dispatches("mcp-test", now, Millis(now.0 + 60_000), 10).await.unwrap();
    assert_eq!(claimed.len(), 3, "one postmortem dispatch per resolved incident");
    let first = claimed.iter().find(|d| d.incident_number == 1).unwrap();
    let update = DispatchUpdate {
        status: DispatchStatus::Done,
        next_attempt_at: now,
        last_error: None,
        result: Some(json!({"session_id": "devin-pm-1", "url": "https://app.devin.ai/sessions/pm-1", "status": "new"})),
        at: now,
    };
    assert!(server.store.finish_dispatch(first.id, "mcp-test", &update).await.unwrap());

    // A deploy an hour ago and one three days ago.
    let service = open_service_name(KEY);
    for (hours, summary) in [(1, "Deploy api v1.2.3"), (72, "Deploy api v1.2.0")] {
        let at = Millis(now.0 - hours * 3600 * 1000).to_rfc3339();
        let body = json!({"routing_key": KEY, "payload": {"summary": summary, "timestamp": at, "source": "ci"}});
        server.post(CHANGE_PATH, &body).await;
    }
    assert_eq!(server.get("/api/v1/incidents").await["total"], 5, "{service}");
}

#[tokio::test]
async fn an_agent_investigates_an_incident_over_mcp() {
    let server = Server::start(true).await;
    seed(&server).await;
    let service = open_service_name(KEY);
    let client = connect(server.url("/mcp"), Some(TOKEN)).await.expect("the client connects with the token");

    // The server says what it is for.
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "firehouse");
    let instructions = info.instructions.as_deref().unwrap();
    for word in ["incident gateway", "timeline", "change events", "similar", "add_note"] {
        assert!(instructions.contains(word), "instructions mention {word:?}: {instructions}");
    }

    // Seven tools, each described, each with an object schema for its arguments.
    let tools: Vec<Tool> = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut want = TOOL_NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    for tool in &tools {
        assert!(tool.description.as_deref().is_some_and(|d| d.len() > 40), "{} is described", tool.name);
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{}", tool.name);
        assert!(tool.input_schema.get("properties").is_some_and(Value::is_object), "{}", tool.name);
    }
    let schema = |name: &str| Value::Object((*tools.iter().find(|t| t.name == name).unwrap().input_schema).clone());
    assert_eq!(schema("get_incident")["required"], json!(["incident"]));
    assert_eq!(schema("add_note")["required"], json!(["incident", "note"]));
    assert_eq!(schema("get_change_events")["required"], json!(["service"]));
    let status_schema = schema("set_incident_status").to_string();
    assert!(status_schema.contains("acknowledged") && status_schema.contains("resolved"), "{status_schema}");
    assert!(
        tools.iter().find(|t| t.name == "get_incident").unwrap().annotations.as_ref().unwrap().read_only_hint
            == Some(true)
    );

    // list_incidents: the REST API's JSON, filtered and paged.
    let open = ok(&client, "list_incidents", json!({"status": ["triggered", "acknowledged"]})).await;
    assert_eq!(open, server.get("/api/v1/incidents?status=triggered,acknowledged").await);
    assert_eq!(numbers(&open["incidents"]), [5, 3]);
    let page = ok(&client, "list_incidents", json!({"status": "resolved", "service": service, "limit": 2})).await;
    assert_eq!(
        (numbers(&page["incidents"]), page["total"].clone(), page["more"].clone()),
        (vec![4, 2], json!(3), json!(true))
    );
    let all = ok(&client, "list_incidents", json!({})).await;
    assert_eq!(numbers(&all["incidents"]), [5, 4, 3, 2, 1]);
    assert!(ok(&client, "list_incidents", json!({"service": "nope"})).await["incidents"]
        .as_array()
        .unwrap()
        .is_empty());

    // get_incident: the REST detail (timeline and dispatches), by number, "#number" or id.
    let five = ok(&client, "get_incident", json!({"incident": 5})).await;
    let mut rest = server.get("/api/v1/incidents/5").await;
    rest["timeline_total"] = json!(2);
    assert_eq!(five, rest);
    assert_eq!((five["status"].as_str(), five["event_count"].as_i64()), (Some("triggered"), Some(2)));
    assert_eq!(five["timeline"].as_array().unwrap().len(), 2);
    let id = five["id"].as_str().unwrap();
    assert_eq!(ok(&client, "get_incident", json!({"incident": id})).await, five);
    assert_eq!(ok(&client, "get_incident", json!({"incident": "#5"})).await, five);
    let latest = ok(&client, "get_incident", json!({"incident": "5", "timeline_limit": 1})).await;
    assert_eq!((latest["timeline"].as_array().unwrap().len(), latest["timeline_total"].as_i64()), (1, Some(2)));
    assert_eq!(latest["timeline"][0], five["timeline"][1], "the latest entries are kept");
    let one = ok(&client, "get_incident", json!({"incident": 1})).await;
    assert_eq!(one["dispatches"][0]["result"]["url"], "https://app.devin.ai/sessions/pm-1");
    assert_eq!(refused(&client, "get_incident", json!({"incident": 999}), "not_found").await, "no such incident");
    refused(&client, "get_incident", json!({"incident": "0b6a5d4e-0000-4000-8000-000000000000"}), "not_found").await;
    let message = refused(&client, "get_incident", json!({}), "bad_request").await;
    assert!(message.contains("missing field `incident`"), "{message}");

    // get_alert_events: the raw payloads, paged, keys redacted.
    let page = ok(&client, "get_alert_events", json!({"incident": 5, "limit": 1})).await;
    assert_eq!(
        (page["total"].as_i64(), page["more"].as_bool(), page["limit"].as_i64()),
        (Some(2), Some(true), Some(1))
    );
    assert_eq!(page["incident"]["number"], 5);
    let raw = &page["events"][0]["raw"];
    assert_eq!(raw["payload"]["summary"], "db1/disk on db1");
    assert_eq!(raw["payload"]["custom_details"], json!({"used_pct": 97}));
    assert_ne!(raw["routing_key"], KEY, "the integration key is redacted");
    assert!(!page.to_string().contains(KEY));
    let next = ok(&client, "get_alert_events", json!({"incident": 5, "limit": 1, "offset": 1})).await;
    assert_eq!((next["events"].as_array().unwrap().len(), next["more"].as_bool()), (1, Some(false)));
    assert_eq!(next["events"][0]["id"], five["timeline"][1]["id"]);
    refused(&client, "get_alert_events", json!({"incident": 42}), "not_found").await;

    // get_change_events: the last 24 hours by default, or a window.
    let changes = ok(&client, "get_change_events", json!({"service": service})).await;
    let summaries = |v: &Value| -> Vec<String> {
        v["change_events"].as_array().unwrap().iter().map(|c| c["summary"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(summaries(&changes), ["Deploy api v1.2.3"]);
    assert_eq!(changes["service"], service.as_str());
    let since = Millis(Millis::now().0 - 4 * 24 * 3600 * 1000).to_rfc3339();
    let window = ok(&client, "get_change_events", json!({"service": service, "since": since})).await;
    assert_eq!(summaries(&window), ["Deploy api v1.2.0", "Deploy api v1.2.3"], "oldest first");
    let until = Millis(Millis::now().0 - 48 * 3600 * 1000).to_rfc3339();
    let before = ok(&client, "get_change_events", json!({"service": service, "since": since, "until": until})).await;
    assert_eq!(summaries(&before), ["Deploy api v1.2.0"]);
    let message =
        refused(&client, "get_change_events", json!({"service": service, "since": "yesterday"}), "bad_request").await;
    assert!(message.contains("since"), "{message}");
    assert!(summaries(&ok(&client, "get_change_events", json!({"service": "other"})).await).is_empty());

    // find_similar_incidents: same service, source, component and class; resolved first, newest first;
    // resolution time and postmortem link.
    let similar = ok(&client, "find_similar_incidents", json!({"incident": 5})).await;
    assert_eq!(numbers(&similar["similar"]), [1, 3], "{similar}");
    let (resolved, open) = (&similar["similar"][0], &similar["similar"][1]);
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string() && resolved["time_to_resolve_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(resolved["same_dedup_key"], true);
    assert_eq!(resolved["postmortem"]["url"], "https://app.devin.ai/sessions/pm-1");
    assert_eq!(resolved["postmortem"]["session_id"], "devin-pm-1");
    assert_eq!((open["status"].as_str(), open["postmortem"].is_null()), (Some("triggered"), true));
    assert!(open["resolved_at"].is_null() && open["time_to_resolve_seconds"].is_null());
    assert_eq!(
        similar["matched_on"],
        json!({"service": service, "source": "db1", "component": "disk", "class": "storage"})
    );
    let first = ok(&client, "find_similar_incidents", json!({"incident": 5, "limit": 1})).await;
    assert_eq!(numbers(&first["similar"]), [1]);
    // #4 (another component) has no look-alike before it; #1 has nothing before it at all.
    assert!(numbers(&ok(&client, "find_similar_incidents", json!({"incident": 4})).await["similar"]).is_empty());
    assert!(numbers(&ok(&client, "find_similar_incidents", json!({"incident": 1})).await["similar"]).is_empty());

    // add_note: on the timeline, as the REST API shows it.
    let noted = ok(
        &client,
        "add_note",
        json!({"incident": 5, "note": "Disk filled by core dumps in /var/crash", "author": "devin"}),
    )
    .await;
    assert_eq!(noted["timeline_total"], 3);
    let timeline = server.get("/api/v1/incidents/5").await["timeline"].clone();
    let note = timeline.as_array().unwrap().last().unwrap();
    assert_eq!((note["action"].as_str(), note["protocol"].as_str()), (Some("note"), Some("api")));
    assert_eq!(note["summary"], "Disk filled by core dumps in /var/crash");
    assert_eq!(note["raw"]["author"], "devin");
    assert_eq!(noted["timeline"].as_array().unwrap().last().unwrap(), note);
    let anonymous = ok(&client, "add_note", json!({"incident": id, "note": "Cleared /var/crash"})).await;
    assert_eq!(anonymous["timeline"].as_array().unwrap().last().unwrap()["raw"]["author"], "mcp");
    refused(&client, "add_note", json!({"incident": 5, "note": "  "}), "bad_request").await;
    refused(&client, "add_note", json!({"incident": 404, "note": "lost"}), "not_found").await;

    // set_incident_status: refused where the configuration does not allow it.
    let message =
        refused(&client, "set_incident_status", json!({"incident": 5, "status": "resolved"}), "forbidden").await;
    assert!(message.contains("allow_status_changes"), "{message}");
    assert_eq!(server.get("/api/v1/incidents/5").await["status"], "triggered");

    // ... and done where it does.
    let admin = connect(server.url("/mcp-admin"), Some(ADMIN_TOKEN)).await.expect("the admin client connects");
    let acked =
        ok(&admin, "set_incident_status", json!({"incident": 5, "status": "acknowledged", "actor": "devin"})).await;
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(server.get("/api/v1/incidents/5").await["status"], "acknowledged");
    let resolved = ok(&admin, "set_incident_status", json!({"incident": "#5", "status": "resolved"})).await;
    assert_eq!(resolved["status"], "resolved");
    let rest = server.get("/api/v1/incidents/5").await;
    assert_eq!(rest["status"], "resolved");
    let actions: Vec<&str> =
        rest["timeline"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["trigger", "trigger", "note", "note", "acknowledge", "resolve"]);
    let message =
        refused(&admin, "set_incident_status", json!({"incident": 5, "status": "resolved"}), "conflict").await;
    assert!(message.contains("already resolved"), "{message}");
    let message =
        refused(&admin, "set_incident_status", json!({"incident": 3, "status": "triggered"}), "bad_request").await;
    assert!(message.contains("unknown variant `triggered`"), "only acknowledged and resolved: {message}");
    assert!(admin.call_tool(CallToolRequestParams::new("page_everyone")).await.is_err(), "no such tool");
    // Resolving #5 asked for its postmortem, as any resolve does.
    assert_eq!(rest["dispatches"][0]["transition"], "resolved");

    client.cancel().await.unwrap();
    admin.cancel().await.unwrap();
}

#[tokio::test]
async fn requests_without_the_right_token_are_refused() {
    let server = Server::start(true).await;

    // The rmcp client cannot even initialize.
    assert!(connect(server.url("/mcp"), None).await.is_err(), "no token");
    assert!(connect(server.url("/mcp"), Some("wrong-token")).await.is_err(), "wrong token");
    assert!(connect(server.url("/mcp"), Some(ADMIN_TOKEN)).await.is_err(), "another mount's token");
    assert!(connect(server.url("/mcp-admin"), Some(TOKEN)).await.is_err(), "another mount's token");

    // On the wire: 401, a bearer challenge, a JSON error body that repeats no token.
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token")],
        vec![("authorization", "Bearer mcp-test-token-012345678")],
        vec![("authorization", "Basic bWNwOnRlc3Q=")],
        vec![("authorization", TOKEN)],
    ] {
        let (status, challenge, body) = server.mcp_raw("/mcp", &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"firehouse\""));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert!(!body.to_string().contains(TOKEN) && !body.to_string().contains("wrong-token"), "{body}");
    }
    let (status, _, body) = server.mcp_raw("/mcp", &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, 200, "{body}");
    // A token holder may reach the server by any host name (it is not a DNS-rebinding risk).
    let (status, _, body) = server
        .mcp_raw("/mcp", &[("authorization", &format!("bearer {TOKEN}")), ("host", "firehouse.example.com")])
        .await;
    assert_eq!(status, 200, "{body}");

    // With no token configured, loopback clients are served, by loopback names only.
    let open = connect(server.url("/mcp-open"), None).await.expect("a loopback client needs no token");
    assert_eq!(open.list_all_tools().await.unwrap().len(), TOOL_NAMES.len());
    open.cancel().await.unwrap();
    let (status, _, body) = server.mcp_raw("/mcp-open", &[("host", "rebound.example.com")]).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = server.mcp_raw("/mcp-open", &[("origin", "https://evil.example.com")]).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn without_client_addresses_a_token_is_required() {
    // Served without connect info, the MCP service cannot tell a loopback client: it refuses everyone
    // until a token is configured.
    let server = Server::start(false).await;
    let (status, _, body) = server.mcp_raw("/mcp-open", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("configure tokens"), "{body}");
    assert!(connect(server.url("/mcp-open"), None).await.is_err());
    let client = connect(server.url("/mcp"), Some(TOKEN)).await.expect("a token still works");
    assert_eq!(client.list_all_tools().await.unwrap().len(), TOOL_NAMES.len());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_gateway_mounts_mcp_at_slash_mcp_and_still_stops() {
    let server = TestServer::open().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = server
        .client
        .post(server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert!([200, 401].contains(&r.status().as_u16()), "mounted: {}", r.status());
    if r.status() == 200 {
        // Served with client addresses, and no token configured: this loopback client needs none.
        let client = connect(server.url("/mcp"), None).await.unwrap();
        assert_eq!(ok(&client, "list_incidents", json!({})).await["total"], 0);
        client.cancel().await.unwrap();
    }
    // No MCP session outlives its request, so the writer drains and the server stops.
    tokio::time::timeout(std::time::Duration::from_secs(10), server.stop()).await.expect("the server stops");
}

#[tokio::test]
async fn clients_of_earlier_protocol_versions_are_served_without_sessions() {
    // Served statelessly: no session id to keep, any request stands alone (as Claude Code or Cursor
    // speaking 2025-06-18 send them), answered with plain JSON.
    let server = Server::start(true).await;
    server.alert("trigger", "web/5xx", "web1", "nginx", "http").await;
    let (status, _, body) = server.mcp_raw("/mcp", &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, 200, "{body}");
    let init: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "firehouse");
    assert!(init["result"]["capabilities"]["tools"].is_object(), "{init}");

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "get_incident", "arguments": {"incident": 1}}});
    let r = server
        .http
        .post(server.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_none(), "no session");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let answer: Value = r.json().await.unwrap();
    let incident: Value = serde_json::from_str(answer["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!((incident["number"].as_i64(), incident["title"].as_str()), (Some(1), Some("web/5xx on web1")));

    // There is no server-initiated stream to open.
    let r = server.http.get(server.url("/mcp")).bearer_auth(TOKEN).header("accept", "text/event-stream").send().await;
    assert_eq!(r.unwrap().status(), 405);
}

#[tokio::test]
async fn a_client_of_the_newest_protocol_is_served_too() {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};
    let server = Server::start(true).await;
    server.alert("trigger", "web/5xx", "web1", "nginx", "http").await;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(TOKEN);
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = ().serve_with_lifecycle(StreamableHttpClientTransport::from_config(config), lifecycle).await.unwrap();
    assert_eq!(client.peer_info().unwrap().protocol_version, ProtocolVersion::V_2026_07_28);
    let listed = ok(&client, "list_incidents", json!({"status": "triggered"})).await;
    assert_eq!(numbers(&listed["incidents"]), [1]);
    client.cancel().await.unwrap();
}
