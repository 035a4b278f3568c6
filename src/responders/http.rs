//! What every HTTP responder shares: the client, reading secrets from the environment, and turning
//! one HTTP exchange into a [`Delivery`].
//!
//! The rules are PagerDuty's for its own webhooks: 2xx is delivered; 429 is retried after the
//! receiver's `Retry-After` (seconds or an HTTP-date); 5xx, timeouts, connection and DNS errors are
//! retried; every other 4xx fails for good. Redirects are not followed (a 3xx fails): following
//! them would send signatures and custom headers to a host nobody configured.
//!
//! Error texts never carry URLs (they may hold credentials, and a Slack webhook URL *is* one) nor
//! secrets: transport errors are described without their URL, and every text passes through the
//! responder's [`Redactor`] before it leaves.

use crate::dispatch::Delivery;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use std::error::Error as _;
use std::fmt;
use std::time::{Duration, SystemTime};

/// `Firehouse/<version>`, sent as `User-Agent`.
pub fn user_agent() -> String {
    format!("Firehouse/{}", env!("CARGO_PKG_VERSION"))
}

/// A responder that cannot start: bad configuration or a missing environment variable. Texts name
/// the action and the variable or key, never a secret's value nor a full URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action {action:?}: {message}")]
pub struct SetupError {
    /// The action's name.
    pub action: String,
    /// What is wrong.
    pub message: String,
}

impl SetupError {
    /// A problem with action `action`.
    pub fn new(action: &str, message: impl Into<String>) -> Self {
        SetupError { action: action.to_owned(), message: message.into() }
    }
}

/// Reads an environment variable's value; tests pass their own lookup instead of the process's.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`EnvLookup`]. A variable that is not valid Unicode counts as unset.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// A secret read from the environment: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads variable `var` (a name from the configuration) for action `action`. Missing or empty
    /// is an error naming the variable.
    pub fn from_env(action: &str, var: &str, env: EnvLookup<'_>) -> Result<Self, SetupError> {
        if var.trim().is_empty() {
            return Err(SetupError::new(action, "an environment variable name is empty"));
        }
        match env(var) {
            None => Err(SetupError::new(action, format!("environment variable {var} is not set"))),
            Some(v) if v.trim().is_empty() => {
                Err(SetupError::new(action, format!("environment variable {var} is empty")))
            }
            Some(v) => Ok(Secret(v)),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Removes known secret strings from texts that leave a responder (errors, receivers' answers).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Redacts nothing yet.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Also redacts `secret` (ignored when empty).
    pub fn add(&mut self, secret: impl Into<String>) {
        let s = secret.into();
        if !s.is_empty() && !self.secrets.contains(&s) {
            self.secrets.push(s);
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Also redacts a URL: the whole text, its password and its query (where credentials live),
    /// and with `path_is_secret` its path too (a Slack webhook URL's path is its token).
    pub fn add_url(&mut self, url: &reqwest::Url, path_is_secret: bool) {
        self.add(url.as_str());
        if let Some(p) = url.password() {
            self.add(p);
        }
        if let Some(q) = url.query() {
            self.add(q);
        }
        if path_is_secret && url.path().len() > 1 {
            self.add(url.path());
            self.add(url.path().trim_start_matches('/'));
        }
    }

    /// `text` with every known secret replaced by `[redacted]`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }

    /// The same delivery with its error text redacted.
    pub fn delivery(&self, d: Delivery) -> Delivery {
        match d {
            Delivery::Retry { error, after } => Delivery::Retry { error: self.apply(&error), after },
            Delivery::Fail { error } => Delivery::Fail { error: self.apply(&error) },
            done @ Delivery::Done { .. } => done,
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Parses a configured URL: absolute, `http` or `https`. Errors never repeat the URL.
pub fn parse_url(action: &str, key: &str, text: &str) -> Result<reqwest::Url, SetupError> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| SetupError::new(action, format!("{key} is not a valid URL ({e})")))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err(SetupError::new(action, format!("{key} has no host"))),
        other => Err(SetupError::new(action, format!("{key} must be an http or https URL, not {other}:"))),
    }
}

/// A URL reduced to what is safe to print: scheme, host and port (no credentials, path or query).
pub fn safe_url(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}/…", url.scheme()),
        (Some(h), None) => format!("{}://{h}/…", url.scheme()),
        _ => format!("{}:…", url.scheme()),
    }
}

/// Checks a configured timeout (whole seconds, 1 to 300).
pub fn timeout(action: &str, seconds: u64) -> Result<Duration, SetupError> {
    if (1..=300).contains(&seconds) {
        Ok(Duration::from_secs(seconds))
    } else {
        Err(SetupError::new(action, format!("timeout_seconds must be between 1 and 300, not {seconds}")))
    }
}

/// A client for one responder: the whole exchange (connect, send, read the answer) bounded by
/// `timeout`, no redirects, `User-Agent: Firehouse/<version>`.
pub fn client(action: &str, timeout: Duration) -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent())
        .build()
        .map_err(|e| SetupError::new(action, format!("cannot build the HTTP client: {}", describe(e))))
}

/// The receiver's answer: status, headers and the start of the body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, up to [`MAX_REPLY_BYTES`].
    pub body: Bytes,
}

/// How much of an answer's body is read.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

impl Reply {
    /// The body as trimmed text on one line, at most `max` characters (for error texts).
    pub fn excerpt(&self, max: usize) -> String {
        excerpt(&String::from_utf8_lossy(&self.body), max)
    }

    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `HTTP 500 Internal Server Error` and, when there is one, `: <body excerpt>`.
    pub fn describe(&self) -> String {
        let mut s = format!("HTTP {}", self.status.as_u16());
        if let Some(reason) = self.status.canonical_reason() {
            s.push(' ');
            s.push_str(reason);
        }
        let body = self.excerpt(300);
        if !body.is_empty() {
            s.push_str(": ");
            s.push_str(&body);
        }
        s
    }
}

/// `text` on one line (runs of whitespace become one space), at most `max` characters (then `…`).
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Sends a request and reads the answer (up to [`MAX_REPLY_BYTES`] of body). A transport failure
/// comes back as the [`Delivery`] it amounts to (see [`transport_error`]).
pub async fn send(request: RequestBuilder, timeout: Duration) -> Result<Reply, Delivery> {
    let mut response = request.send().await.map_err(|e| transport_error(e, timeout))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_REPLY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_REPLY_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            // The status is what counts; a 2xx whose body breaks off was still received. Other
            // answers are classified by their status with what body arrived.
            Err(e) if status.is_success() => {
                tracing::debug!(error = %describe(e), "answer body broke off after a success status");
                break;
            }
            Err(_) => break,
        }
    }
    Ok(Reply { status, headers, body: body.freeze() })
}

/// What a transport failure amounts to: timeouts, connection, DNS and other I/O errors are
/// retried; a request that cannot even be built (bad configuration) fails.
pub fn transport_error(err: reqwest::Error, timeout: Duration) -> Delivery {
    if err.is_timeout() {
        return Delivery::Retry { error: format!("timed out after {}s", timeout.as_secs()), after: None };
    }
    if err.is_builder() {
        return Delivery::Fail { error: format!("cannot build the request: {}", describe(err)) };
    }
    let what = if err.is_connect() { "connection failed" } else { "request failed" };
    Delivery::Retry { error: format!("{what}: {}", describe(err)), after: None }
}

/// An error and its causes on one line, without the URL reqwest attaches.
pub fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The general rules for an answer: 2xx → done (no result); 429 → retry after `Retry-After`;
/// 5xx → retry; everything else (other 4xx, 3xx, 1xx) → fail.
pub fn classify(reply: &Reply) -> Delivery {
    classify_at(reply, SystemTime::now())
}

/// [`classify`] at a given time (for `Retry-After` dates).
pub fn classify_at(reply: &Reply, now: SystemTime) -> Delivery {
    let status = reply.status;
    if status.is_success() {
        Delivery::Done { result: None }
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Delivery::Retry { error: reply.describe(), after: retry_after(&reply.headers, now) }
    } else if status.is_redirection() {
        Delivery::Fail { error: format!("{} (redirects are not followed; configure the final URL)", reply.describe()) }
    } else {
        Delivery::Fail { error: reply.describe() }
    }
}

/// `Retry-After` as a wait: delay-seconds, or an HTTP-date (a date in the past is no wait).
/// `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Reply { status: StatusCode::from_u16(status).unwrap(), headers: h, body: Bytes::from(body.to_owned()) }
    }

    #[test]
    fn classifies_statuses_as_pagerduty_does() {
        assert_eq!(classify(&reply(200, &[], "")), Delivery::Done { result: None });
        assert_eq!(classify(&reply(202, &[], "")), Delivery::Done { result: None });
        assert!(matches!(classify(&reply(500, &[], "boom")), Delivery::Retry { after: None, .. }));
        assert!(matches!(classify(&reply(503, &[], "")), Delivery::Retry { .. }));
        assert!(matches!(classify(&reply(429, &[], "")), Delivery::Retry { after: None, .. }));
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert!(matches!(classify(&reply(s, &[], "")), Delivery::Fail { .. }), "{s}");
        }
        let Delivery::Fail { error } = classify(&reply(301, &[("location", "https://elsewhere/")], "")) else {
            panic!("3xx must fail")
        };
        assert!(error.contains("redirects are not followed"), "{error}");
    }

    #[test]
    fn honours_retry_after_in_seconds_and_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let d = classify_at(&reply(429, &[("retry-after", "7")], ""), now);
        assert_eq!(
            d,
            Delivery::Retry { error: "HTTP 429 Too Many Requests".into(), after: Some(Duration::from_secs(7)) }
        );
        let d = classify_at(&reply(503, &[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")], ""), now);
        assert!(matches!(d, Delivery::Retry { after: Some(a), .. } if a == Duration::from_secs(30)));
        // The obsolete formats HTTP still allows.
        let d = classify_at(&reply(429, &[("retry-after", "Sunday, 06-Nov-94 08:49:47 GMT")], ""), now);
        assert!(matches!(d, Delivery::Retry { after: Some(a), .. } if a == Duration::from_secs(10)));
        let d = classify_at(&reply(429, &[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")], ""), now);
        assert!(matches!(d, Delivery::Retry { after: Some(Duration::ZERO), .. }));
        let d = classify_at(&reply(429, &[("retry-after", "soon")], ""), now);
        assert!(matches!(d, Delivery::Retry { after: None, .. }));
    }

    #[test]
    fn error_texts_are_one_line_and_bounded() {
        let long = "x".repeat(1000);
        let Delivery::Retry { error, .. } = classify(&reply(500, &[], &format!("line one\n\n  line two {long}")))
        else {
            panic!()
        };
        assert!(error.starts_with("HTTP 500 Internal Server Error: line one line two xxx"), "{error}");
        assert!(error.chars().count() < 400);
    }

    #[test]
    fn redactor_removes_secrets_and_url_credentials() {
        let mut r = Redactor::new();
        r.add("s3cr3t");
        r.add("");
        let url = reqwest::Url::parse("https://user:pw-123@hooks.example.com/services/T0/B0/XYZ?token=abc").unwrap();
        r.add_url(&url, true);
        let text = format!("got s3cr3t back from {url} with pw-123 and token=abc, path /services/T0/B0/XYZ");
        let out = r.apply(&text);
        for s in ["s3cr3t", "pw-123", "token=abc", "services/T0/B0/XYZ", "hooks.example.com/services"] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        assert_eq!(format!("{r:?}"), "Redactor(6 secrets)");
        assert_eq!(safe_url(&url), "https://hooks.example.com/…");
    }

    #[test]
    fn secrets_come_from_the_environment_by_name() {
        let env = |k: &str| match k {
            "SET" => Some("value-1".to_owned()),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        };
        let s = Secret::from_env("a", "SET", &env).unwrap();
        assert_eq!(s.expose(), "value-1");
        assert!(!format!("{s:?} {s}").contains("value-1"));
        let e = Secret::from_env("a", "MISSING", &env).unwrap_err();
        assert_eq!(e.to_string(), "action \"a\": environment variable MISSING is not set");
        let e = Secret::from_env("a", "BLANK", &env).unwrap_err();
        assert!(e.to_string().contains("BLANK is empty"));
    }

    #[test]
    fn checks_urls_and_timeouts() {
        assert!(parse_url("a", "url", "https://example.com/hook").is_ok());
        let e = parse_url("a", "url", "ftp://user:pw@example.com/").unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(parse_url("a", "url", "not a url").is_err());
        assert!(timeout("a", 0).is_err());
        assert_eq!(timeout("a", 5).unwrap(), Duration::from_secs(5));
    }
}
