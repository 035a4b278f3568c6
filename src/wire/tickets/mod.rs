//! Ticket webhooks: one module per tracker, each turning a delivery into a [`Ticket`] or a reason to
//! ignore it.
//!
//! Every tracker's `parse(body, event_header)` takes the raw body and the value of the tracker's event
//! header, when it has one (`X-GitHub-Event`, `X-Gitlab-Event`; Jira and the generic format name the event
//! in the body). [`Ticket::action`] keeps the tracker's own word (`opened`, `labeled`, `reopened` on GitHub;
//! `open`, `update`, `reopen` on GitLab; `created`, `updated` on Jira; `created` for the generic format).
//!
//! Verify the delivery first ([`super::signature`]): GitHub signs with `X-Hub-Signature-256`
//! ([`super::signature::Encoding::Prefixed`]), GitLab sends its secret token in `X-Gitlab-Token`
//! ([`super::signature::verify_token`]); for Jira and the generic format it is whatever the sender is set up
//! to do (an HMAC header or a shared-secret header).

pub mod generic;
pub mod github;
pub mod gitlab;
pub mod jira;

pub use super::pagerduty_v3::InvalidWebhook;
pub use crate::domain::external::Ticket;

use serde_json::{Map, Value};

/// What a ticket delivery means.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketEvent {
    /// A ticket was opened or changed in a way Firehouse follows.
    Ticket(Ticket),
    /// A well-formed delivery Firehouse does not act on (a ping, a close, a comment, …): answer 2xx and
    /// drop it. The text says why, for logs.
    Ignored(String),
}

/// The trackers Firehouse reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tracker {
    /// `{id, title, description, labels, url?, reporter?}` (see [`generic`]).
    Generic,
    /// GitHub `issues` webhooks.
    GitHub,
    /// GitLab issue hooks.
    GitLab,
    /// Jira Cloud / Data Center issue webhooks.
    Jira,
}

impl Tracker {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Tracker::Generic => "generic",
            Tracker::GitHub => "github",
            Tracker::GitLab => "gitlab",
            Tracker::Jira => "jira",
        }
    }

    /// The header that names the event, to pass to `parse` (none for Jira and the generic format).
    pub fn event_header(self) -> Option<&'static str> {
        match self {
            Tracker::GitHub => Some("X-GitHub-Event"),
            Tracker::GitLab => Some("X-Gitlab-Event"),
            Tracker::Generic | Tracker::Jira => None,
        }
    }

    /// Parses a delivery with this tracker's module.
    pub fn parse(self, body: &[u8], event_header: Option<&str>) -> Result<TicketEvent, InvalidWebhook> {
        match self {
            Tracker::Generic => generic::parse(body, event_header),
            Tracker::GitHub => github::parse(body, event_header),
            Tracker::GitLab => gitlab::parse(body, event_header),
            Tracker::Jira => jira::parse(body, event_header),
        }
    }
}

impl std::str::FromStr for Tracker {
    type Err = crate::domain::severity::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "generic" => Ok(Tracker::Generic),
            "github" => Ok(Tracker::GitHub),
            "gitlab" => Ok(Tracker::GitLab),
            "jira" => Ok(Tracker::Jira),
            other => Err(crate::domain::severity::UnknownValue(other.to_owned())),
        }
    }
}

/// Reads the body as a JSON object.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, InvalidWebhook> {
    super::pagerduty_v3::parse_body(body)
}

/// The value at `path` (object keys), if every step exists.
fn value_at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, init) = path.split_last()?;
    let mut cur = obj;
    for key in init {
        cur = cur.get(*key)?.as_object()?;
    }
    cur.get(*last)
}

/// The string at `path`, when it is a non-empty string.
fn str_at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    value_at(obj, path)?.as_str().filter(|s| !s.is_empty())
}

/// The required non-blank string at `path` (named `name` in the refusal).
fn required_str(obj: &Map<String, Value>, path: &[&str]) -> Result<String, InvalidWebhook> {
    let name = path.join(".");
    match value_at(obj, path) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(InvalidWebhook::new(format!("{name} must not be blank"))),
        None | Some(Value::Null) => Err(InvalidWebhook::new(format!("{name} is required"))),
        Some(_) => Err(InvalidWebhook::new(format!("{name} must be a string"))),
    }
}

/// An optional text field: absent or `null` is empty, a string is itself, anything else is refused.
fn optional_text(obj: &Map<String, Value>, path: &[&str]) -> Result<String, InvalidWebhook> {
    match value_at(obj, path) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(InvalidWebhook::new(format!("{} must be a string or null", path.join(".")))),
    }
}

/// An id that may be a string or an integer (`42` and `"42"` are the same ticket).
fn id_at(obj: &Map<String, Value>, path: &[&str]) -> Result<String, InvalidWebhook> {
    let name = path.join(".");
    match value_at(obj, path) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(InvalidWebhook::new(format!("{name} must not be blank"))),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        None | Some(Value::Null) => Err(InvalidWebhook::new(format!("{name} is required"))),
        Some(_) => Err(InvalidWebhook::new(format!("{name} must be a string or an integer"))),
    }
}

/// Labels from an array at `path`: each element a string, or an object whose `key` is a string (GitHub's
/// `name`, GitLab's `title`). Absent or `null` is no labels; blank names are skipped.
fn labels_at(obj: &Map<String, Value>, path: &[&str], key: Option<&str>) -> Result<Vec<String>, InvalidWebhook> {
    let name = path.join(".");
    let items = match value_at(obj, path) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(InvalidWebhook::new(format!("{name} must be an array"))),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let label = match (item, key) {
            (Value::String(s), _) => s.as_str(),
            (Value::Object(o), Some(k)) => match o.get(k) {
                Some(Value::String(s)) => s.as_str(),
                _ => return Err(InvalidWebhook::new(format!("{name}[].{k} must be a string"))),
            },
            (_, Some(k)) => return Err(InvalidWebhook::new(format!("{name} must hold strings or objects with {k}"))),
            (_, None) => return Err(InvalidWebhook::new(format!("{name} must be an array of strings"))),
        };
        let label = label.trim();
        if !label.is_empty() && !out.iter().any(|l: &String| l == label) {
            out.push(label.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ids_may_be_strings_or_integers() {
        assert_eq!(id_at(&obj(json!({"id": 42})), &["id"]).unwrap(), "42");
        assert_eq!(id_at(&obj(json!({"id": "T-1"})), &["id"]).unwrap(), "T-1");
        assert_eq!(id_at(&obj(json!({"id": 1.5})), &["id"]).unwrap_err().message, "id must be a string or an integer");
        assert_eq!(id_at(&obj(json!({})), &["id"]).unwrap_err().message, "id is required");
    }

    #[test]
    fn labels_are_trimmed_and_deduplicated() {
        let o = obj(json!({"l": [" a", "b", "a", ""], "m": [{"name": "x"}, "y"], "n": [1]}));
        assert_eq!(labels_at(&o, &["l"], None).unwrap(), vec!["a", "b"]);
        assert_eq!(labels_at(&o, &["m"], Some("name")).unwrap(), vec!["x", "y"]);
        assert_eq!(labels_at(&o, &["n"], None).unwrap_err().message, "n must be an array of strings");
        assert!(labels_at(&o, &["missing"], None).unwrap().is_empty());
    }

    #[test]
    fn trackers_dispatch_and_name_their_headers() {
        assert_eq!("github".parse::<Tracker>().unwrap(), Tracker::GitHub);
        assert_eq!(Tracker::GitLab.event_header(), Some("X-Gitlab-Event"));
        assert_eq!(Tracker::Jira.event_header(), None);
        assert!(matches!(Tracker::GitHub.parse(b"{}", Some("ping")), Ok(TicketEvent::Ignored(_))));
        assert!("trac".parse::<Tracker>().is_err());
    }
}
