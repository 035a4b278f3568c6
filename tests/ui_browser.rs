//! The web UI end to end: a real Firehouse, a webhook receiver that fails once, and headless Chromium driven over
//! WebDriver (chromedriver, from the distribution's packages; `.ci/run` installs them). The browser opens the list,
//! sees an incident arrive live, moves with the keyboard, opens an incident, acknowledges it with the button,
//! retries the dead letter from the dispatches page, and resolves with a shortcut; every step is checked through
//! the API too, and saved as a screenshot in `target/ui-screenshots/`.
//!
//! Without chromedriver the test fails, unless `FIREHOUSE_TEST_SKIP_BROWSER=1`. `FIREHOUSE_CHROMEDRIVER` and
//! `FIREHOUSE_CHROMIUM` point at other binaries than `/usr/bin/chromedriver` and `/usr/bin/chromium`.

mod common;

use common::receiver::Receiver;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";
/// How long any one thing may take to show up.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A minimal W3C WebDriver client over chromedriver.
// ---------------------------------------------------------------------------------------------

/// chromedriver and one Chromium session; both are ended on drop.
struct Browser {
    driver: Child,
    port: u16,
    base: String,
    session: String,
    http: reqwest::Client,
    shots: PathBuf,
    shot: usize,
    born: Instant,
    _profile: tempfile::TempDir,
}

fn binary(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session; None when the browser is missing and
    /// `FIREHOUSE_TEST_SKIP_BROWSER=1`.
    async fn start() -> Option<Browser> {
        let chromedriver = binary("FIREHOUSE_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("FIREHOUSE_CHROMIUM", "/usr/bin/chromium");
        let skip = std::env::var("FIREHOUSE_TEST_SKIP_BROWSER").is_ok_and(|v| v == "1");
        for (what, path) in [("chromedriver", &chromedriver), ("Chromium", &chromium)] {
            if !path.exists() {
                if skip {
                    eprintln!("FIREHOUSE_TEST_SKIP_BROWSER=1: {what} not found at {}; UI test skipped", path.display());
                    return None;
                }
                panic!(
                    "{what} not found at {}: the UI test needs headless Chromium and chromedriver \
                     (`apt-get install -y chromium chromium-driver`, as .ci/run does), or set \
                     FIREHOUSE_TEST_SKIP_BROWSER=1 to skip it",
                    path.display()
                );
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let profile = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(profile.path().join("chromedriver.log")).unwrap();
        let mut command = Command::new(&chromedriver);
        command.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        // Its own process group, so that Chromium goes with it even if the session is not closed.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", chromedriver.display()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r.json::<Value>().await.ok().is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(start.elapsed() < WAIT, "chromedriver did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        for old in std::fs::read_dir(&shots).unwrap().flatten() {
            if old.path().extension().is_some_and(|e| e == "png") {
                let _ = std::fs::remove_file(old.path());
            }
        }
        let mut browser = Browser {
            driver,
            port,
            base,
            session: String::new(),
            http,
            shots,
            shot: 0,
            born: Instant::now(),
            _profile: profile,
        };
        let user_data = browser._profile.path().join("profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=en-US",
                    format!("--user-data-dir={}", user_data.display()),
                ],
            },
        }}});
        let session = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = session["sessionId"].as_str().expect("a session id").to_owned();
        Some(browser)
    }

    /// One WebDriver command; answers its `value`, panics on an error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" { format!("{}{path}", self.base) } else { self.url(path) };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {method} {path}: {status} {value}");
        value["value"].clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn current_url(&self) -> String {
        self.call("GET", "/url", None).await.as_str().unwrap().to_owned()
    }

    /// Runs a script (a function body) in the page; answers what it returns.
    async fn js(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Waits until `script` returns something other than null / false / ""; answers it.
    async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, args.clone()).await;
            if !(v.is_null() || v == false || v == "") {
                return v;
            }
            if start.elapsed() > WAIT {
                let page = self.js("return document.body.innerText", json!([])).await;
                panic!("timed out waiting for {what}; the page says:\n{}", page.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects (waiting for it).
    async fn find(&self, css: &str) -> String {
        self.wait_for(css, "return document.querySelector(arguments[0]) !== null", json!([css])).await;
        let v = self.call("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    /// A real click (WebDriver moves the pointer and clicks), as a person would.
    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call("POST", &format!("/element/{el}/click"), None).await;
    }

    /// Types `text` into the element `css` selects.
    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call("POST", &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    /// Types keys to whatever has the focus.
    async fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.call("POST", "/actions", Some(body)).await;
    }

    /// Saves a PNG of the whole page as `target/ui-screenshots/NN-name.png` (the viewport when Chromium's DevTools
    /// commands are not reachable).
    async fn screenshot(&mut self, name: &str) -> PathBuf {
        // Let transitions and focus rings settle.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let data = match self.full_page().await {
            Some(data) => data,
            None => self.call("GET", "/screenshot", None).await.as_str().unwrap().to_owned(),
        };
        let png = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        self.shot += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot));
        std::fs::write(&path, png).unwrap();
        eprintln!("{:>6.1?} {}", self.born.elapsed(), path.display());
        path
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Option<Value> {
        let body = json!({ "cmd": cmd, "params": params });
        let r = self.http.post(self.url("/goog/cdp/execute")).json(&body).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<Value>().await.ok().map(|v| v["value"].clone())
    }

    async fn full_page(&self) -> Option<String> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (size["width"].as_f64()?, size["height"].as_f64()?.min(6000.0));
        let clip = json!({"x": 0, "y": 0, "width": width, "height": height, "scale": 1});
        let shot = self
            .cdp("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true, "clip": clip}))
            .await?;
        shot["data"].as_str().map(str::to_owned)
    }

    /// The browser console's errors so far (CSP violations, script errors, failed requests).
    async fn console_errors(&self) -> Vec<String> {
        let r = self.http.post(self.url("/se/log")).json(&json!({"type": "browser"})).send().await.unwrap();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        v["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes the session (Chromium exits), with a plain blocking request: no runtime is needed here.
        if !self.session.is_empty() {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let request = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.session, self.port
                );
                // chromedriver answers once Chromium has quit; the first bytes of the answer are enough.
                if s.write_all(request.as_bytes()).is_ok() {
                    let _ = s.read(&mut [0u8; 256]);
                }
            }
        }
        // Then chromedriver and anything left in its process group.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The world around the UI: a webhook receiver that answers 410 once, then 200.
// ---------------------------------------------------------------------------------------------

fn config(hook: &str) -> String {
    format!(
        r#"
[dispatch]
poll_millis = 100

[[rules]]
name = "page-bridge"
on = ["triggered"]
actions = ["bridge"]

[actions.bridge]
type = "webhook"
url = "{hook}"
timeout_seconds = 2
"#
    )
}

/// Polls the API until `check` accepts what `path` answers; bounded.
async fn api_until(server: &TestServer, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = server.get(path).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(start.elapsed() < WAIT, "{what}: {path} answers {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rfc3339_minutes_ago(minutes: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The id of the table row of incident `number` on the list, with its status; null while absent.
const LIST_ROW: &str = "const r = document.querySelector(`#incident-rows tr[data-number='${arguments[0]}']`);
     return r ? r.dataset.status : null;";
/// Which incident row is selected on the list.
const SELECTED_ROW: &str = "const r = document.querySelector('#incident-rows tr.selected');
     return r ? { number: r.dataset.number, current: r.getAttribute('aria-current'),
                  focused: r.contains(document.activeElement) } : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_an_incident_in_the_browser() {
    let started = Instant::now();
    let Some(mut browser) = Browser::start().await else { return };
    let receiver = Receiver::start().await;
    let server = TestServer::with_config(&config(&receiver.url)).await;

    // Context first: a deploy ten minutes before the incident.
    let change = json!({
        "routing_key": KEY,
        "payload": {"summary": "Deploy api v1.4.2 to db1", "source": "ci", "timestamp": rfc3339_minutes_ago(10),
                    "custom_details": {"commit": "4f2a9c1", "api_token": "do-not-show-me"}},
        "links": [{"href": "https://ci.example.com/builds/88", "text": "Build 88"}]
    });
    assert_eq!(server.post(CHANGE_PATH, &change).await.0, 202);
    // Incident #1, before the page loads; its webhook gets 410 Gone and is dead-lettered.
    let mut trigger = v2_trigger(KEY, "db1/disk", "Disk 95% full on db1");
    trigger["links"] = json!([
        {"href": "https://grafana.example.com/d/db1", "text": "Disk dashboard"},
        {"href": "javascript:alert(1)", "text": "not a link"}
    ]);
    assert_eq!(server.post(V2_PATH, &trigger).await.0, 202);
    let dead = api_until(&server, "/api/v1/dispatches?status=dead", "the webhook dies", |b| {
        b["dispatches"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    let dispatch_id = dead["dispatches"][0]["id"].as_i64().unwrap();
    let first_id = server.incident(1).await["id"].as_str().unwrap().to_owned();

    // `/` redirects to the list, which shows #1.
    browser.goto(&server.url("/")).await;
    assert_eq!(browser.current_url().await, server.url("/ui/"));
    assert_eq!(browser.wait_for("incident #1 listed", LIST_ROW, json!([1])).await, "triggered");
    browser.screenshot("list").await;

    // Live: #2 arrives after the page loaded, and shows up without a reload. Its title is markup, shown as text.
    browser.js("window.firehouseMarker = 42", json!([])).await;
    let title = r#"CPU <b>hot</b> on web-3 <img src=x onerror="window.pwned=1"> & "friends""#;
    assert_eq!(server.post(V2_PATH, &v2_trigger(KEY, "web3/cpu", title)).await.0, 202);
    assert_eq!(browser.wait_for("incident #2 to appear live", LIST_ROW, json!([2])).await, "triggered");
    assert_eq!(browser.js("return window.firehouseMarker", json!([])).await, 42, "the page did not reload");
    let shown = browser
        .js(
            "const a = document.querySelector(\"#incident-rows tr[data-number='2'] td.title a\");
             return { text: a.textContent, elements: a.children.length, pwned: !!window.pwned,
                      first: document.querySelector('#incident-rows tr').dataset.number };",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!({"text": title, "elements": 0, "pwned": false, "first": "2"}), "newest first, as text");
    browser.screenshot("live-update").await;

    // The keyboard: `/` focuses the filter and Esc leaves it; j/k move; `a` acknowledges the selected incident.
    browser.keys("/").await;
    assert_eq!(browser.js("return document.activeElement.id", json!([])).await, "filter-service");
    browser.keys(ESCAPE).await;
    assert_eq!(browser.js("return document.activeElement.tagName", json!([])).await, "BODY");
    browser.keys("j").await;
    let sel = browser.js(SELECTED_ROW, json!([])).await;
    assert_eq!(sel, json!({"number": "2", "current": "true", "focused": true}));
    browser.keys("a").await;
    let second =
        api_until(&server, "/api/v1/incidents/2", "#2 acknowledged with `a`", |b| b["status"] == "acknowledged").await;
    assert_eq!(second["timeline"].as_array().unwrap().last().unwrap()["raw"]["actor"], "ui");
    browser
        .wait_for(
            "#2 shown acknowledged",
            "return document.querySelector(\"#incident-rows tr[data-number='2']\").dataset.status === 'acknowledged'",
            json!([]),
        )
        .await;
    browser.keys("jkj").await;
    assert_eq!(browser.js(SELECTED_ROW, json!([])).await["number"], "1");
    browser.screenshot("keyboard-selection").await;
    // Enter opens the selected incident.
    browser.keys(ENTER).await;
    browser
        .wait_for(
            "the incident page",
            "return location.pathname === '/ui/incidents/' + arguments[0]",
            json!([first_id]),
        )
        .await;

    // The incident page: fields, links, timeline, the dead dispatch, change events.
    browser
        .wait_for(
            "the timeline",
            "return document.querySelectorAll('#timeline-rows tr[data-entry]').length === 1",
            json!([]),
        )
        .await;
    browser
        .wait_for("the dispatch", "return document.querySelector('#dispatch-rows tr[data-status=dead]')", json!([]))
        .await;
    browser
        .wait_for("the change event", "return document.querySelectorAll('#change-rows tr').length === 1", json!([]))
        .await;
    let page = browser
        .js(
            "const links = [...document.querySelectorAll('#incident-links a')].map(a => a.getAttribute('href'));
             return { title: document.getElementById('incident-title').textContent,
                      links, text: document.body.innerText,
                      error: document.querySelector('#dispatch-rows td.error').textContent,
                      changes: document.getElementById('change-rows').textContent };",
            json!([]),
        )
        .await;
    assert_eq!(page["title"], "#1 Disk 95% full on db1");
    assert_eq!(page["links"], json!(["https://grafana.example.com/d/db1"]), "http(s) links only");
    assert!(page["error"].as_str().unwrap().contains("410"), "{page}");
    assert!(page["changes"].as_str().unwrap().contains("Deploy api v1.4.2 to db1"), "{page}");
    assert!(page["changes"].as_str().unwrap().contains("10 min before"), "{page}");
    // The raw body, on demand: the integration key is never shown, only its fingerprint.
    browser.click("#timeline-rows button[aria-controls]").await;
    let raw = browser
        .wait_for("the raw body", "const p = document.querySelector('pre.raw'); return p && p.textContent", json!([]))
        .await;
    let raw = raw.as_str().unwrap();
    assert!(raw.contains("db1/disk") && raw.contains(&open_service_name(KEY)), "{raw}");
    let everything = browser.js("return document.documentElement.outerHTML", json!([])).await;
    assert!(!everything.as_str().unwrap().contains(KEY), "the integration key is shown");
    // A secret a sender put in a change event's details is masked too.
    assert!(!everything.as_str().unwrap().contains("do-not-show-me"), "a secret-looking field is shown");
    assert!(page["changes"].as_str().unwrap().contains("\"api_token\": \"[redacted]\""), "{page}");
    browser.screenshot("incident").await;

    // Acknowledge with the button; the API agrees.
    browser.click("#incident-acknowledge").await;
    browser
        .wait_for(
            "the incident shown acknowledged",
            "return document.getElementById('incident-badges').dataset.status === 'acknowledged'",
            json!([]),
        )
        .await;
    let first = server.incident(1).await;
    assert_eq!(first["status"], "acknowledged", "{first}");
    assert_eq!(first["timeline"].as_array().unwrap().last().unwrap()["raw"]["actor"], "ui", "{first}");
    assert_eq!(browser.js("return document.getElementById('incident-acknowledge').disabled", json!([])).await, true);
    let status = browser.js("return document.getElementById('status').textContent", json!([])).await;
    assert_eq!(status, "Incident #1 acknowledged.");
    browser.screenshot("acknowledged").await;

    // The dead letter, retried from the dispatches page; the receiver answers 200 this time.
    browser.click("a[data-nav=dispatches]").await;
    browser
        .wait_for(
            "the dead letter listed",
            "return document.querySelector(`#dispatch-rows tr[data-key='${arguments[0]}'][data-status=dead]`)",
            json!([dispatch_id]),
        )
        .await;
    browser.screenshot("dead-letters").await;
    browser.click(&format!("button[data-retry='{dispatch_id}']")).await;
    let done = api_until(&server, &format!("/api/v1/dispatches/{dispatch_id}"), "the retry delivered", |d| {
        d["status"] == "done"
    })
    .await;
    assert_eq!((done["attempts"].as_i64(), receiver.hits()), (Some(2), 3), "{done}");
    browser
        .wait_for("no dead letters left", "return document.querySelector('#dispatch-rows td.empty')", json!([]))
        .await;
    browser.screenshot("retried").await;
    browser.goto(&server.url("/ui/dispatches?status=all")).await;
    browser
        .wait_for(
            "both dispatches, done",
            "return document.querySelectorAll('#dispatch-rows tr[data-status=done]').length === 2",
            json!([]),
        )
        .await;
    browser.screenshot("all-dispatches").await;

    // Back on the incident (Enter on the selected dispatch): delivered on the second attempt; `r` resolves it.
    browser.keys("jj").await;
    browser.keys(ENTER).await;
    browser.wait_for("incident #1", "return location.pathname === '/ui/incidents/1'", json!([])).await;
    browser
        .wait_for(
            "the dispatch done",
            "return document.querySelector('#dispatch-rows tr[data-status=done]')",
            json!([]),
        )
        .await;
    browser.keys("r").await;
    api_until(&server, "/api/v1/incidents/1", "#1 resolved with `r`", |b| b["status"] == "resolved").await;
    browser
        .wait_for(
            "the incident shown resolved",
            "return document.getElementById('incident-badges').dataset.status === 'resolved'",
            json!([]),
        )
        .await;
    browser.screenshot("resolved").await;

    // API errors land in the alert region.
    browser.goto(&server.url("/ui/incidents/999")).await;
    let alert = browser
        .wait_for("the alert", "const a = document.getElementById('alerts'); return a.textContent", json!([]))
        .await;
    assert!(alert.as_str().unwrap().contains("no such incident (404 not_found)"), "{alert}");
    assert_eq!(browser.js("return document.getElementById('alerts').getAttribute('role')", json!([])).await, "alert");
    browser.screenshot("error").await;

    // The help lists the shortcuts; Esc closes it.
    browser.goto(&server.url("/ui/?status=all")).await;
    browser.wait_for("the list", LIST_ROW, json!([1])).await;
    browser.keys("?").await;
    assert_eq!(browser.js("return document.getElementById('help').open", json!([])).await, true);
    browser.screenshot("help").await;
    browser.keys(ESCAPE).await;
    assert_eq!(browser.js("return document.getElementById('help').open", json!([])).await, false);

    // Agent sessions and pull requests are read from dispatch results (a Devin session's `session_id` and `url`).
    let found = browser
        .js(
            "const src = document.querySelector('script[type=module]').src;
             const result = { session_id: 'devin-1', url: 'https://app.devin.ai/sessions/1',
                              pull_requests: [{ url: 'https://github.com/acme/api/pull/7' }, 'javascript:alert(1)'],
                              note: 'see https://gitlab.com/acme/api/-/merge_requests/3',
                              mr: 'https://gitlab.com/acme/api/-/merge_requests/3' };
             return import(src.replace(/main\\.js$/, 'incident.js'))
               .then((m) => ({ session: m.sessionOf(result), prs: m.pullRequestsOf(result) }));",
            json!([]),
        )
        .await;
    assert_eq!(
        found,
        json!({"session": {"id": "devin-1", "url": "https://app.devin.ai/sessions/1"},
               "prs": ["https://github.com/acme/api/pull/7", "https://gitlab.com/acme/api/-/merge_requests/3"]}),
    );

    // Dark mode is readable too.
    if browser
        .cdp("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}))
        .await
        .is_some()
    {
        browser.goto(&server.url("/ui/incidents/2")).await;
        browser.wait_for("incident #2", "return document.querySelector('#timeline-rows tr')", json!([])).await;
        browser.screenshot("incident-dark").await;
    }

    // Nothing was blocked by the Content-Security-Policy and no script failed (the 404 above is expected).
    let errors: Vec<String> =
        browser.console_errors().await.into_iter().filter(|e| !e.contains("/api/v1/incidents/999")).collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Once an API token exists the API wants it: the UI asks for it, keeps it for the tab and never shows it.
    let dir = server.dir.path().to_path_buf();
    let (code, out, err) =
        run_cli_env(&["token", "create", "--name", "ui-test", "--database", &sqlite_url(&dir)], Some(&dir), &[]);
    assert_eq!(code, 0, "token create: {out}{err}");
    let token = out.trim().to_owned();
    browser.goto(&server.url("/ui/?status=all")).await;
    let why = browser
        .wait_for(
            "the token prompt",
            "const d = document.getElementById('token-dialog'); return d.open && document.getElementById('token-why').textContent",
            json!([]),
        )
        .await;
    assert!(why.as_str().unwrap().contains("an API token is required"), "{why}");
    browser.screenshot("token-prompt").await;
    browser.type_into("#token-input", &token).await;
    browser.keys(ENTER).await;
    assert_eq!(browser.wait_for("the list, with the token", LIST_ROW, json!([1])).await, "resolved");
    let after = browser
        .js(
            "return { html: document.documentElement.outerHTML, text: document.body.innerText,
                      forget: !document.getElementById('token-forget').hidden };",
            json!([]),
        )
        .await;
    assert!(!after["html"].as_str().unwrap().contains(&token), "the token is shown");
    assert_eq!(after["forget"], true, "{after}");
    browser.screenshot("list-with-token").await;

    eprintln!("UI test took {:?}; screenshots in {}", started.elapsed(), browser.shots.display());
}

/// The HTTP side, no browser needed: redirects, content types, the policy, caching.
#[tokio::test]
async fn the_ui_is_served_with_strict_headers() {
    let server = TestServer::open().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &str| client.get(server.url(path)).send();

    for path in ["/", "/ui"] {
        let r = get(path).await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], "/ui/", "{path}");
    }

    let r = get("/ui/").await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = r.text().await.unwrap();
    // Revalidation: the same shell is not sent twice.
    let etag = headers["etag"].to_str().unwrap();
    let again = client.get(server.url("/ui/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // Every page is the same shell.
    for path in ["/ui/incidents/1", "/ui/incidents/2b1d6a1e-0000-4000-8000-000000000000", "/ui/dispatches"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), html, "{path}");
    }

    // The assets it names: versioned, typed, cached for good.
    let mut assets: Vec<&str> = html.split('"').filter(|s| s.starts_with("/ui/assets/")).collect();
    assets.sort();
    assets.dedup();
    assert_eq!(assets.len(), 3, "{assets:?}");
    let version = assets[0].split('/').nth(3).unwrap().to_owned();
    for (file, ctype) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("list.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let r = get(&format!("/ui/assets/{version}/{file}")).await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["content-type"], ctype, "{file}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{file}");
        assert!(r.headers().contains_key("content-security-policy"), "{file}");
    }
    // An asset asked for under an older version is answered, to be revalidated; an unknown one is a JSON 404.
    let r = get("/ui/assets/0000/main.js").await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["cache-control"].to_str().unwrap()), (200, "no-cache"));
    let (status, body) = server.get(&format!("/ui/assets/{version}/secrets.toml")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    // The API is untouched.
    assert_eq!(server.get("/api/v1/incidents").await.0, 200);
}
