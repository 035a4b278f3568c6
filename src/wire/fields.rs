//! Typed reading of JSON event objects that collects every problem, one line each, as PagerDuty does.

use crate::domain::alert_event::DedupKeyError;
use crate::domain::{DedupKey, Image, Link, Millis};
use serde_json::{Map, Value};

/// A request the protocol refuses: answered 400 with one line per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {}", errors.join("; "))]
pub struct InvalidEvent {
    /// One human-readable line per problem.
    pub errors: Vec<String>,
}

impl InvalidEvent {
    /// A refusal with a single reason.
    pub fn one(line: impl Into<String>) -> Self {
        InvalidEvent { errors: vec![line.into()] }
    }
}

/// Parses a request body into a JSON object, or explains why it is not one.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, InvalidEvent> {
    let text = std::str::from_utf8(body).map_err(|_| InvalidEvent::one("request body is not valid UTF-8 JSON"))?;
    if text.trim().is_empty() {
        return Err(InvalidEvent::one("request body is empty (expected a JSON object)"));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(InvalidEvent::one("request body must be a JSON object")),
        Err(e) => Err(InvalidEvent::one(format!("request body is not valid JSON ({e})"))),
    }
}

/// Takes `field` out of `obj`, JSON `null` counting as absent: a value the event keeps whole (custom details) is moved
/// into it rather than copied.
pub fn take(obj: &mut Map<String, Value>, field: &str) -> Option<Value> {
    obj.remove(field).filter(|v| !v.is_null())
}

/// [`take`]s `payload.custom_details` (v2 alert and change events).
pub fn take_custom_details(obj: &mut Map<String, Value>) -> Option<Value> {
    obj.get_mut("payload").and_then(Value::as_object_mut).and_then(|p| take(p, "custom_details"))
}

/// Whether `field` holds something other than `null` or the empty string.
pub fn has_value(obj: &Map<String, Value>, field: &str) -> bool {
    match obj.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Reads fields of one JSON object, remembering every problem it meets.
pub struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: &'static str,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// Reads the top level of an event.
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Reader { obj, prefix: "", problems: Vec::new() }
    }

    /// Reads a nested object, naming its fields `prefix.field` in problems.
    pub fn nested(obj: &'a Map<String, Value>, prefix: &'static str) -> Self {
        Reader { obj, prefix, problems: Vec::new() }
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    /// Records a problem about a field.
    pub fn problem(&mut self, field: &str, what: &str) {
        let line = format!("{} {what}", self.name(field));
        self.problems.push(line);
    }

    /// Records a problem that is not about one field.
    pub fn problem_line(&mut self, line: impl Into<String>) {
        self.problems.push(line.into());
    }

    /// The raw value; JSON `null` counts as absent.
    pub fn value(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// An optional string; a present value of another type is a problem.
    pub fn string(&mut self, field: &str) -> Option<String> {
        match self.value(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(field, "must be a string");
                None
            }
        }
    }

    /// A required, non-blank string.
    pub fn required_string(&mut self, field: &str) -> Option<String> {
        let present = self.value(field).is_some();
        match self.string(field) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.problem(field, "must not be blank");
                None
            }
            None if !present => {
                self.problem(field, "is required");
                None
            }
            None => None,
        }
    }

    /// A string of at most `max` characters.
    pub fn bounded(&mut self, value: Option<String>, field: &str, max: usize) -> Option<String> {
        match value {
            Some(s) if s.chars().count() > max => {
                self.problem(field, &format!("is too long (maximum is {max} characters)"));
                None
            }
            other => other,
        }
    }

    /// An optional nested object.
    pub fn object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.value(field) {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.problem(field, "must be a JSON object");
                None
            }
        }
    }

    /// An optional array.
    pub fn array(&mut self, field: &str) -> Option<&'a Vec<Value>> {
        match self.value(field) {
            None => None,
            Some(Value::Array(a)) => Some(a),
            Some(_) => {
                self.problem(field, "must be an array");
                None
            }
        }
    }

    /// An optional value of an enumerated type, parsed by `parse`.
    pub fn one_of<T>(&mut self, field: &str, choices: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let s = self.string(field)?;
        let parsed = parse(&s);
        if parsed.is_none() {
            self.problem(field, &format!("is invalid (must be one of: {choices})"));
        }
        parsed
    }

    /// An optional ISO 8601 time; the empty string counts as absent (older go-pagerduty sends it).
    pub fn timestamp(&mut self, field: &str) -> Option<Millis> {
        let s = self.string(field).filter(|s| !s.is_empty())?;
        let parsed = Millis::parse_iso8601(&s);
        if parsed.is_none() {
            self.problem(field, "is invalid (must be an ISO 8601 date and time)");
        }
        parsed
    }

    /// An optional dedup key (also v1's `incident_key`); the empty string counts as absent.
    pub fn dedup_key(&mut self, field: &str) -> Option<DedupKey> {
        let s = self.string(field)?;
        match DedupKey::parse(&s) {
            Ok(k) => Some(k),
            Err(DedupKeyError::Empty) => None,
            Err(DedupKeyError::TooLong) => {
                self.problem(field, &format!("is too long (maximum is {} characters)", DedupKey::MAX_CHARS));
                None
            }
        }
    }

    /// `links`: an array of `{href, text?}`.
    pub fn links(&mut self, field: &str) -> Vec<Link> {
        let Some(items) = self.array(field) else { return Vec::new() };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                self.problem_line(format!("{}[{i}] must be a JSON object", self.name(field)));
                continue;
            };
            let mut r = Reader::nested(obj, "");
            let href = r.required_string("href");
            let text = r.string("text");
            self.absorb(r, &format!("{}[{i}]", self.name(field)));
            if let Some(href) = href {
                out.push(Link { href, text });
            }
        }
        out
    }

    /// `images`: an array of `{src, href?, alt?}`.
    pub fn images(&mut self, field: &str) -> Vec<Image> {
        let Some(items) = self.array(field) else { return Vec::new() };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                self.problem_line(format!("{}[{i}] must be a JSON object", self.name(field)));
                continue;
            };
            let mut r = Reader::nested(obj, "");
            let src = r.required_string("src");
            let href = r.string("href");
            let alt = r.string("alt");
            self.absorb(r, &format!("{}[{i}]", self.name(field)));
            if let Some(src) = src {
                out.push(Image { src, href, alt });
            }
        }
        out
    }

    /// Takes over a nested reader's problems, naming them under `path`.
    pub fn absorb(&mut self, nested: Reader<'_>, path: &str) {
        for p in nested.problems {
            self.problems.push(format!("{path}.{p}"));
        }
    }

    /// Takes over a nested reader's problems as they are (it already prefixed them).
    pub fn merge(&mut self, nested: Reader<'_>) {
        self.problems.extend(nested.problems);
    }

    /// Whether a problem about `field` was already recorded (so it is not reported twice).
    pub fn has_problems_for(&self, field: &str) -> bool {
        let name = self.name(field);
        self.problems.iter().any(|p| p.starts_with(&name))
    }

    /// Whether any problem was recorded.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Ends reading: the problems, if any.
    pub fn finish(self) -> Result<(), InvalidEvent> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidEvent { errors: self.problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn collects_every_problem_once() {
        let o = obj(json!({"a": 1, "b": "", "d": {"x": 1}}));
        let mut r = Reader::new(&o);
        assert_eq!(r.string("a"), None);
        assert_eq!(r.required_string("b"), None);
        assert_eq!(r.required_string("c"), None);
        assert!(r.object("d").is_some());
        let errs = r.finish().unwrap_err().errors;
        assert_eq!(errs, vec!["a must be a string", "b must not be blank", "c is required"]);
    }

    #[test]
    fn null_is_absent() {
        let o = obj(json!({"a": null}));
        let mut r = Reader::new(&o);
        assert_eq!(r.string("a"), None);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_object(b"{\"a\":1}").is_ok());
        assert!(parse_object(b"[1]").unwrap_err().errors[0].contains("JSON object"));
        assert!(parse_object(b"routing_key=x").unwrap_err().errors[0].contains("not valid JSON"));
        assert!(parse_object(b"").unwrap_err().errors[0].contains("empty"));
        assert!(parse_object(&[0xff, 0xfe]).unwrap_err().errors[0].contains("UTF-8"));
    }

    #[test]
    fn nested_link_problems_name_their_index() {
        let o = obj(json!({"links": [{"href": "https://a"}, {"text": "no href"}, 3]}));
        let mut r = Reader::new(&o);
        let links = r.links("links");
        assert_eq!(links.len(), 1);
        let errs = r.finish().unwrap_err().errors;
        assert_eq!(errs, vec!["links[1].href is required", "links[2] must be a JSON object"]);
    }
}
