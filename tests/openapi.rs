//! The OpenAPI document at `GET /api/v1/openapi.json` against the real REST API: every route the router
//! registers under `/api/v1` is in the document, every documented operation is exercised, and every
//! answer (successes and errors) validates against the schema the document declares for its path,
//! method and status, with objects closed so an undocumented field fails too.

mod common;

use common::receiver::Receiver;

use common::*;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The document as a validator.
// ---------------------------------------------------------------------------------------------

/// Keywords whose value is one schema, and those whose value is a list of schemas.
const SCHEMA_KEYWORDS: [&str; 4] = ["items", "not", "additionalProperties", "unevaluatedProperties"];
const SCHEMA_LIST_KEYWORDS: [&str; 4] = ["allOf", "oneOf", "anyOf", "prefixItems"];

/// `schema` with every `$ref` to a component inlined, each `allOf` of objects (serde's `flatten`) merged
/// into one object, and every object closed (`additionalProperties: false`): the answers must have no
/// field the document does not declare.
fn strict(schema: &Value, components: &Map<String, Value>, depth: usize) -> Value {
    assert!(depth < 40, "the schema is recursive: {schema}");
    let Value::Object(map) = schema else { return schema.clone() };
    if let Some(Value::String(reference)) = map.get("$ref") {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a $ref outside the component schemas: {reference}"));
        let target = components.get(name).unwrap_or_else(|| panic!("a $ref to a missing component: {name}"));
        return strict(target, components, depth + 1);
    }
    let mut out = Map::new();
    for (key, value) in map {
        let value = match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                Value::Object(props.iter().map(|(name, s)| (name.clone(), strict(s, components, depth + 1))).collect())
            }
            (k, Value::Array(list)) if SCHEMA_LIST_KEYWORDS.contains(&k) => {
                Value::Array(list.iter().map(|s| strict(s, components, depth + 1)).collect())
            }
            (k, s @ Value::Object(_)) if SCHEMA_KEYWORDS.contains(&k) => strict(s, components, depth + 1),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    let merged = match out.get("allOf") {
        Some(Value::Array(parts)) if parts.iter().all(|p| p.get("properties").is_some()) => {
            let (mut properties, mut required) = (Map::new(), Vec::new());
            for part in parts {
                properties.extend(part["properties"].as_object().unwrap().clone());
                required.extend(part.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
            }
            Some((properties, required))
        }
        _ => None,
    };
    if let Some((properties, required)) = merged {
        out.remove("allOf");
        out.insert("type".into(), json!("object"));
        out.insert("properties".into(), Value::Object(properties));
        out.insert("required".into(), Value::Array(required));
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    Value::Object(out)
}

/// Where `instance` breaks `schema` (from the document), as JSON Schema 2020-12, which OpenAPI 3.1's
/// schemas are, formats (`date-time`) included; and the strict schema it was checked against.
fn violations(doc: &Value, schema: &Value, instance: &Value) -> (Vec<String>, Value) {
    let components = doc["components"]["schemas"].as_object().expect("the document has component schemas");
    let mut schema = strict(schema, components, 0);
    assert!(schema.is_object(), "the schema is not an object: {schema}");
    schema.as_object_mut().unwrap().insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}\n{schema:#}"));
    let errors = validator.iter_errors(instance).map(|e| format!("  at {:?}: {e}", e.instance_path.as_str())).collect();
    (errors, schema)
}

/// Asserts that `instance` matches `schema` (from the document).
fn validate(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let (errors, schema) = violations(doc, schema, instance);
    assert!(
        errors.is_empty(),
        "{what}: does not match the document:\n{}\nbody: {instance:#}\nschema: {schema:#}",
        errors.join("\n")
    );
}

/// The documented path template `path` falls under (`/api/v1/incidents/7` under
/// `/api/v1/incidents/{id}`), preferring literal segments over parameters.
fn template_of(doc: &Value, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let paths = doc["paths"].as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')));
            fits.then(|| (parts.iter().filter(|t| !t.starts_with('{')).count(), template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

/// Every (method, path) the router registers under `/api/v1`, read from the `.route(PATH, METHOD(..)..)`
/// calls of `src/http/mod.rs`: the router is the list, none is kept by hand.
fn api_routes() -> BTreeSet<(String, String)> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs");
    let source: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let method = regex::Regex::new(r"(?:^|[^A-Za-z0-9_])(get|post|put|delete|patch)\s*\(").unwrap();
    let mut routes = BTreeSet::new();
    for (at, _) in source.match_indices(".route(") {
        // The call's arguments, up to its closing parenthesis.
        let rest = &source[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("unbalanced .route( in {}", file.display()));
        let args = rest[..end].trim_start();
        let Some(path) = args.strip_prefix('"').and_then(|s| s.split('"').next()) else { continue };
        if !path.starts_with("/api/v1") {
            continue;
        }
        let methods: Vec<String> = method.captures_iter(&args[path.len() + 2..]).map(|c| c[1].to_owned()).collect();
        assert!(!methods.is_empty(), "no method found for the route {path}: {args}");
        routes.extend(methods.into_iter().map(|m| (m, path.to_owned())));
    }
    assert!(routes.len() >= 10, "too few /api/v1 routes found in {}: {routes:?}", file.display());
    routes
}

/// The document's operations: (lowercase method, path template).
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            if item.get(method).is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn every_api_route_in_the_router_is_in_the_document() {
    let doc: Value = serde_json::from_str(firehouse::http::openapi::document()).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "{}", doc["openapi"]);
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")), "{bearer}");
    assert_eq!(doc["security"], json!([{"bearer": []}]), "the API needs the token unless an operation says not");
    let ops = documented(&doc);
    let routes = api_routes();
    let missing: Vec<_> = routes.difference(&ops).collect();
    assert!(missing.is_empty(), "routes the router has and the document lacks: {missing:?}");
    // And the other way round (which also shows the reading of the router found every route).
    let api_ops: BTreeSet<_> = ops.iter().filter(|(_, path)| path.starts_with("/api/v1")).cloned().collect();
    let extra: Vec<_> = api_ops.difference(&routes).collect();
    assert!(extra.is_empty(), "operations the document has and the router lacks: {extra:?}");
    // Operation ids are unique (client generators name methods after them).
    let mut ids = BTreeSet::new();
    for (method, path) in &ops {
        let id = doc["paths"][path][method]["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
    }
}

// ---------------------------------------------------------------------------------------------
// The API, called for real, each answer checked against the document.
// ---------------------------------------------------------------------------------------------

/// A client that checks every answer against the document the server serves.
struct Api {
    server: TestServer,
    doc: Value,
    /// (method, path template, status) of every answer checked.
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Api {
    async fn new(server: TestServer) -> Self {
        let r = server.client.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(r.status(), 200, "the document is served");
        let doc: Value = r.json().await.unwrap();
        Api { server, doc, seen: Mutex::default() }
    }

    /// Calls the API and checks the answer: its status and content type are documented for the
    /// operation, and its body matches the schema documented for them (or is empty where none is; a
    /// text body is checked as a JSON string). The body of a successful request is checked against the
    /// documented request body too.
    async fn call(&self, method: Method, path: &str, body: Option<&str>, token: Option<&str>) -> (u16, Value) {
        let mut req = self.server.client.request(method.clone(), self.server.url(path));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_owned());
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let text = r.text().await.unwrap();
        let what = format!("{method} {path} → {status}");

        let template = template_of(&self.doc, path).unwrap_or_else(|| panic!("{what}: the document has no such path"));
        let operation = &self.doc["paths"][&template][method.as_str().to_lowercase()];
        assert!(operation.is_object(), "{what}: the document has no {method} {template}");
        let response = &operation["responses"][status.to_string()];
        assert!(response.is_object(), "{what}: status not documented for {method} {template}; body: {text}");
        let value = match response["content"].as_object() {
            Some(declared) => {
                let media_type = ctype.split(';').next().unwrap_or_default().trim();
                let media = declared.get(media_type).unwrap_or_else(|| {
                    let documented: Vec<_> = declared.keys().collect();
                    panic!("{what}: content type {ctype:?} is not documented ({documented:?}); body: {text}")
                });
                let value: Value = if media_type == "application/json" || media_type.ends_with("+json") {
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
                } else {
                    Value::String(text)
                };
                validate(&self.doc, &media["schema"], &value, &what);
                value
            }
            None => {
                assert!(text.is_empty(), "{what}: a body where the document declares none: {text}");
                Value::Null
            }
        };
        if let (true, Some(b)) = ((200..300).contains(&status), body) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{what}: a body was accepted where the document declares none");
            validate(&self.doc, schema, &serde_json::from_str(b).unwrap(), &format!("{what} (request body)"));
        }
        self.seen.lock().unwrap().insert((method.as_str().to_lowercase(), template, status));
        (status, value)
    }

    /// Calls the API, expecting `status`.
    async fn expect(&self, method: Method, path: &str, body: Option<&str>, status: u16) -> Value {
        let (got, value) = self.call(method.clone(), path, body, None).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        value
    }

    async fn get(&self, path: &str, status: u16) -> Value {
        self.expect(Method::GET, path, None, status).await
    }

    async fn post(&self, path: &str, body: Option<&str>, status: u16) -> Value {
        self.expect(Method::POST, path, body, status).await
    }

    async fn delete(&self, path: &str, status: u16) -> Value {
        self.expect(Method::DELETE, path, None, status).await
    }

    /// Polls a dispatch until it has `status`; bounded.
    async fn dispatch_becomes(&self, id: i64, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let d = self.get(&format!("/api/v1/dispatches/{id}"), 200).await;
            if d["status"] == status {
                return d;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "dispatch {id} did not become {status}: {d}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls an incident until it has a dispatch that is no longer pending; bounded.
    async fn settled_dispatch(&self, incident: i64) -> Value {
        let start = Instant::now();
        loop {
            let detail = self.get(&format!("/api/v1/incidents/{incident}"), 200).await;
            if let Some(d) =
                detail["dispatches"].as_array().and_then(|d| d.first()).filter(|d| d["status"] != "pending")
            {
                return d.clone();
            }
            assert!(start.elapsed() < Duration::from_secs(30), "incident {incident}'s dispatch did not settle");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_every_route_matches_the_document() {
    let receiver = Receiver::start().await;
    let config = format!(
        r#"
[dispatch]
poll_millis = 100

[[services]]
name = "payments"
integration_keys = ["{KEY}"]

[[rules]]
name = "page-bridge"
on = ["triggered"]
actions = ["bridge"]

[actions.bridge]
type = "webhook"
url = "{}"
timeout_seconds = 2
"#,
        receiver.url
    );
    let api = Api::new(TestServer::with_config(&config).await).await;
    let server = &api.server;

    // Open routes.
    let health = api.get("/healthz", 200).await;
    assert_eq!(health["status"], "ok");
    api.get("/api/v1/openapi.json", 200).await;

    // Data, through the intake: an incident whose dispatch is dead (the receiver's first answer is 410) …
    let trigger = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "db1/disk",
        "payload": {"summary": "Disk 95% full on db1", "source": "db1", "severity": "critical",
                    "component": "disk", "group": "storage", "class": "capacity",
                    "custom_details": {"free": "5%"}},
        "links": [{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"}]
    });
    assert_eq!(server.post(V2_PATH, &trigger).await.0, 202);
    let dead = api.settled_dispatch(1).await;
    assert_eq!(dead["status"], "dead", "{dead}");
    let dead_id = dead["id"].as_i64().unwrap();
    // … one whose dispatch is done, and a change event of the service.
    assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, "db2/cpu", "CPU 99% on db2")).await.0, 202);
    let done = api.settled_dispatch(2).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(server.post(CHANGE_PATH, &fixture_json("pd_docs_change.json")).await.0, 202);

    // Incidents: list, filters, paging.
    let page = api.get("/api/v1/incidents", 200).await;
    assert_eq!(page["total"], 2);
    let uuid = page["incidents"][1]["id"].as_str().unwrap().to_owned();
    let page = api.get("/api/v1/incidents?status=triggered,acknowledged&service=payments&limit=1&offset=1", 200).await;
    assert_eq!((page["incidents"][0]["number"].as_i64(), page["more"].as_bool()), (Some(1), Some(false)), "{page}");
    api.get("/api/v1/incidents?dedup_key=db1/disk", 200).await;
    api.get("/api/v1/incidents?status=open", 400).await;
    api.get("/api/v1/incidents?limit=0", 400).await;
    api.get("/api/v1/incidents?limit=101", 400).await;
    api.get("/api/v1/incidents?offset=-1", 400).await;

    // One incident, by number and by id.
    let one = api.get("/api/v1/incidents/1", 200).await;
    assert_eq!((one["timeline"].as_array().unwrap().len(), one["dispatches"].as_array().unwrap().len()), (1, 1));
    assert_eq!(api.get(&format!("/api/v1/incidents/{uuid}"), 200).await["number"], 1);
    api.get("/api/v1/incidents/999", 404).await;
    api.get("/api/v1/incidents/00000000-0000-0000-0000-000000000000", 404).await;

    // Notes.
    let noted = api.post("/api/v1/incidents/1/notes", Some(r#"{"note": "looking", "author": "alice"}"#), 200).await;
    assert_eq!(noted["timeline"].as_array().unwrap().len(), 2);
    api.post("/api/v1/incidents/1/notes", Some(r#"{"note": "no author"}"#), 200).await;
    api.post("/api/v1/incidents/1/notes", Some(r#"{"note": "  "}"#), 400).await;
    api.post("/api/v1/incidents/1/notes", Some(r#"{"author": "alice"}"#), 400).await;
    api.post("/api/v1/incidents/1/notes", Some("{"), 400).await;
    api.post("/api/v1/incidents/1/notes", None, 400).await;
    api.post("/api/v1/incidents/999/notes", Some(r#"{"note": "x"}"#), 404).await;

    // Acknowledge and resolve; a resolved incident refuses both.
    let acked = api.post("/api/v1/incidents/1/acknowledge", Some(r#"{"actor": "alice"}"#), 200).await;
    assert_eq!(acked["status"], "acknowledged");
    api.post("/api/v1/incidents/1/acknowledge", None, 200).await;
    api.post("/api/v1/incidents/1/acknowledge", Some("not json"), 400).await;
    api.post("/api/v1/incidents/999/acknowledge", None, 404).await;
    let resolved = api.post("/api/v1/incidents/1/resolve", None, 200).await;
    assert_eq!(resolved["status"], "resolved");
    api.post("/api/v1/incidents/2/resolve", Some(r#"{"actor": "bob"}"#), 200).await;
    api.post("/api/v1/incidents/1/resolve", None, 409).await;
    api.post("/api/v1/incidents/1/acknowledge", None, 409).await;
    api.post("/api/v1/incidents/1/resolve", Some("[1"), 400).await;
    api.post("/api/v1/incidents/999/resolve", None, 404).await;

    // Change events.
    let window = "since=2026-03-14T00:00:00Z&until=2026-03-15T00:00:00Z";
    let changes = api.get(&format!("/api/v1/services/payments/change_events?{window}"), 200).await;
    assert_eq!(changes["change_events"].as_array().unwrap().len(), 1, "{changes}");
    api.get("/api/v1/services/payments/change_events", 200).await;
    api.get("/api/v1/services/nobody/change_events?limit=5", 200).await;
    api.get("/api/v1/services/payments/change_events?since=yesterday", 400).await;
    api.get("/api/v1/services/payments/change_events?limit=x", 400).await;

    // Dispatches: list, one, retry a dead letter; errors.
    let list = api.get("/api/v1/dispatches", 200).await;
    assert_eq!(list["dispatches"].as_array().unwrap().len(), 2);
    api.get("/api/v1/dispatches?status=dead&incident=1&limit=10&offset=0", 200).await;
    api.get("/api/v1/dispatches?status=sent", 400).await;
    api.get("/api/v1/dispatches?limit=500", 400).await;
    api.get("/api/v1/dispatches?incident=first", 400).await;
    api.get(&format!("/api/v1/dispatches/{dead_id}"), 200).await;
    api.get("/api/v1/dispatches/abc", 400).await;
    api.get("/api/v1/dispatches/999999", 404).await;
    let retried = api.post(&format!("/api/v1/dispatches/{dead_id}/retry"), None, 200).await;
    assert_eq!(retried["status"], "pending");
    let redelivered = api.dispatch_becomes(dead_id, "done").await;
    assert!(redelivered["result"].is_object(), "{redelivered}");
    api.post(&format!("/api/v1/dispatches/{dead_id}/retry"), None, 409).await;
    api.post("/api/v1/dispatches/999999/retry", None, 404).await;
    api.post("/api/v1/dispatches/abc/retry", None, 400).await;
    assert_eq!(receiver.hits(), 3);

    // Silences.
    let silence = api
        .post(
            "/api/v1/silences",
            Some(
                r#"{"matchers": [{"field": "source", "equals": "db1"}], "duration_minutes": 60,
                    "created_by": "alice", "comment": "migration"}"#,
            ),
            201,
        )
        .await;
    let silence_id = silence["id"].as_i64().unwrap();
    api.post(
        "/api/v1/silences",
        Some(
            r#"{"matchers": [{"field": "service", "in": ["payments", "checkout"]},
                             {"field": "summary", "regex": "^Disk"}],
                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00+01:00",
                "created_by": "bob", "comment": "window"}"#,
        ),
        201,
    )
    .await;
    let who = r#""created_by": "a", "comment": "c""#;
    for bad in [
        format!(r#"{{"matchers": [], "duration_minutes": 60, {who}}}"#),
        format!(r#"{{"matchers": [{{"field": "colour", "equals": "red"}}], "duration_minutes": 60, {who}}}"#),
        format!(r#"{{"matchers": [{{"field": "source", "equals": "db1"}}], {who}}}"#),
        // Overflows 64-bit milliseconds; ends past the last instant a timestamp can show.
        format!(r#"{{"matchers": [{{"field": "source", "equals": "db1"}}], "duration_minutes": {}, {who}}}"#, i64::MAX),
        format!(
            r#"{{"matchers": [{{"field": "source", "equals": "db1"}}], "duration_minutes": 100000000000000, {who}}}"#
        ),
        format!(r#"{{"matchers": [{{"field": "source", "equals": "db1"}}], "duration_minutes": 60, {who}, "x": 1}}"#),
        format!(r#"{{"matchers": [{{"field": "source", "equals": "db1"}}], "ends_at": "soon", {who}}}"#),
        r#"{"matchers": [{"field": "source", "equals": "db1"}], "duration_minutes": 60}"#.to_owned(),
        "{".to_owned(),
    ] {
        api.post("/api/v1/silences", Some(&bad), 400).await;
    }
    let silences = api.get("/api/v1/silences", 200).await;
    assert_eq!(silences["silences"].as_array().unwrap().len(), 2);
    api.get("/api/v1/silences?all=true", 200).await;
    let services = api.get("/api/v1/services", 200).await;
    assert!(!services["services"].as_array().unwrap().is_empty());
    let events = api.get("/api/v1/events?limit=5", 200).await;
    assert!(!events["events"].as_array().unwrap().is_empty());
    api.get("/api/v1/events?since=yesterday", 400).await;
    api.get("/api/v1/events?since=&until=", 200).await;
    api.get("/api/v1/silences?all=maybe", 400).await;
    api.delete(&format!("/api/v1/silences/{silence_id}"), 204).await;
    api.delete(&format!("/api/v1/silences/{silence_id}"), 404).await;
    api.delete("/api/v1/silences/abc", 400).await;

    // The postmortem: 404 until an agent session delivered one (recorded here as the session tracker does).
    api.get("/api/v1/incidents/1/postmortem.md", 404).await;
    api.get("/api/v1/incidents/999/postmortem.md", 404).await;
    let store = firehouse::store::open(&sqlite_url(server.dir.path())).await.unwrap();
    let never = firehouse::domain::Millis(i64::MAX);
    let session = firehouse::store::NewAgentSession {
        incident_number: 1,
        dispatch_id: dead_id,
        action: "bridge".into(),
        session_id: "devin-openapi".into(),
        url: "https://app.devin.ai/sessions/openapi".into(),
        status: "new".into(),
        next_poll_at: never,
        at: firehouse::domain::Millis::now(),
    };
    let note = firehouse::store::SessionNote { author: "firehouse".into(), text: "started".into(), details: json!({}) };
    let tracked = firehouse::store::Command::TrackSession { session, note };
    let tracked = store.apply(&[tracked], &Default::default()).await.unwrap().remove(0).unwrap();
    assert_eq!(tracked.transition, firehouse::domain::Transition::Appended);
    let report = firehouse::store::SessionReport {
        session_id: "devin-openapi".into(),
        polls: 0,
        polled: None,
        notes: Vec::new(),
        postmortem: Some(json!({"summary": "s", "timeline": [], "root_cause": "r", "action_items": ["a"]})),
        events: Vec::new(),
        next_poll_at: never,
        done: true,
    };
    let command = firehouse::store::Command::AgentSession { report, received_at: firehouse::domain::Millis::now() };
    store.apply(&[command], &Default::default()).await.unwrap();
    let md = api.get("/api/v1/incidents/1/postmortem.md", 200).await;
    assert!(md.as_str().unwrap().contains("## Root cause"), "{md}");
    // The incident's detail lists the session it follows, as the document says.
    let detail = api.get("/api/v1/incidents/1", 200).await;
    let sessions = detail["agent_sessions"].as_array().unwrap();
    assert_eq!((sessions.len(), sessions[0]["session_id"].as_str()), (1, Some("devin-openapi")), "{detail}");

    // Tokens: a wrong one is refused (401) on any API route; once a token exists, a request without one
    // is refused too, while the document and /healthz stay open.
    let (status, _) = api.call(Method::GET, "/api/v1/incidents", None, Some("fh_wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = api.call(Method::POST, "/api/v1/silences", Some("{}"), Some("fh_wrong")).await;
    assert_eq!(status, 401);
    let db = sqlite_url(server.dir.path());
    let (code, token, err) = run_cli(&["token", "create", "--name", "openapi", "--database", &db], None);
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    api.get("/api/v1/openapi.json", 200).await;
    api.get("/healthz", 200).await;
    api.get("/api/v1/dispatches", 401).await;
    api.delete("/api/v1/silences/1", 401).await;
    let (status, page) = api.call(Method::GET, "/api/v1/incidents", None, Some(&token)).await;
    assert_eq!((status, page["total"].as_i64()), (200, Some(2)));

    // Every operation in the document was exercised, with a success.
    let seen = api.seen.lock().unwrap().clone();
    let unexercised: Vec<_> = documented(&api.doc)
        .into_iter()
        .filter(|(m, p)| !seen.iter().any(|(sm, sp, s)| sm == m && sp == p && (200..300).contains(s)))
        .collect();
    assert!(unexercised.is_empty(), "documented operations this test never called successfully: {unexercised:?}");
    // And every error status in the document but these was seen somewhere: 403 (needs a client off the
    // server's machine), 500 and 503 (need a failing database or a shutdown).
    let unseen: BTreeSet<u16> = documented(&api.doc)
        .iter()
        .flat_map(|(m, p)| api.doc["paths"][p][m]["responses"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        .map(|s| s.parse::<u16>().unwrap())
        .filter(|s| !seen.iter().any(|(_, _, seen)| seen == s))
        .collect();
    assert_eq!(unseen, BTreeSet::from([403, 500, 503]), "statuses documented but never answered");
}

#[test]
fn the_checks_refuse_what_the_document_does_not_say() {
    let doc: Value = serde_json::from_str(firehouse::http::openapi::document()).unwrap();
    let schema = json!({"$ref": "#/components/schemas/IncidentDetail"});
    let good = json!({
        "id": "0b9f0a8e-2c5e-4d7b-9a43-5f8e1f0a7c11", "number": 1, "status": "triggered", "dedup_key": "k",
        "service": "payments", "title": "t", "severity": "critical", "urgency": "high", "source": null,
        "component": null, "group": null, "class": null, "created_at": "2026-03-14T08:42:58.315Z",
        "acknowledged_at": null, "resolved_at": null, "updated_at": "2026-03-14T08:42:58.315Z", "event_count": 1,
        "last_event_at": "2026-03-14T08:42:58.315Z", "origin": "events", "external_id": null, "external_url": null,
        "description": null, "labels": [], "timeline": [], "dispatches": [], "agent_sessions": []
    });
    validate(&doc, &schema, &good, "a good incident");
    let bad = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut body = good.clone();
        edit(body.as_object_mut().unwrap());
        !violations(&doc, &schema, &body).0.is_empty()
    };
    assert!(bad(&|b| drop(b.insert("surprise".into(), json!(1)))), "an undocumented field");
    assert!(bad(&|b| drop(b.remove("timeline"))), "a missing field of the flattened part");
    assert!(bad(&|b| drop(b.remove("number"))), "a missing field of the incident");
    assert!(bad(&|b| drop(b.insert("status".into(), json!("open")))), "a value outside the enum");
    assert!(bad(&|b| drop(b.insert("created_at".into(), json!(1_700_000_000_000_i64)))), "milliseconds");
    assert!(bad(&|b| drop(b.insert("created_at".into(), json!("yesterday")))), "not a date-time");
    assert!(bad(&|b| drop(b.insert("resolved_at".into(), json!("never")))), "nullable, but a date-time");
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    validate(&doc, &error, &json!({"error": {"code": "not_found", "message": "no such incident"}}), "an error");
    assert!(!violations(&doc, &error, &json!({"error": {"code": "nope", "message": "m"}})).0.is_empty());
}
