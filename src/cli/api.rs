//! What the commands that talk to a running server share: REST calls with the API's error messages, and plain-text
//! output (values, truncation, tables).

use anyhow::{bail, Context};
use serde_json::Value;

/// A running Firehouse's REST API.
pub struct Api {
    /// As given (for messages).
    server: String,
    base: reqwest::Url,
    client: reqwest::Client,
    token: Option<String>,
}

impl Api {
    /// The server named by `--server` / `FIREHOUSE_URL`.
    pub fn new(server: &super::ServerArg) -> anyhow::Result<Self> {
        let given = server.server.trim();
        let base = reqwest::Url::parse(given).with_context(|| format!("--server {given:?} is not a URL"))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            bail!("--server {given:?} is not an http(s) URL");
        }
        let token = server.token.clone().filter(|t| !t.trim().is_empty());
        Ok(Api { server: given.trim_end_matches('/').to_owned(), base, client: reqwest::Client::new(), token })
    }

    /// The URL of `segments` under the base URL, each segment percent-encoded (an ID cannot change the path).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut().expect("checked in Api::new").pop_if_empty().extend(segments);
        url
    }

    /// GET, with a query.
    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.client.get(self.url(segments)).query(query)).await
    }

    /// POST, with a JSON body or none.
    pub async fn post(&self, segments: &[&str], body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self.client.post(self.url(segments));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// DELETE; answers `Null` for a 204.
    pub async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.send(self.client.delete(self.url(segments))).await
    }

    /// The JSON of a 2xx answer; otherwise an error carrying the API's message and the status.
    async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.server))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("cannot read the answer of {}", self.server))?;
        match serde_json::from_slice::<Value>(&bytes) {
            _ if status == reqwest::StatusCode::NO_CONTENT => Ok(Value::Null),
            Ok(body) if status.is_success() => Ok(body),
            Ok(body) => bail!("{} ({status})", body["error"]["message"].as_str().unwrap_or("request failed")),
            Err(_) if status.is_success() => bail!("the server's answer is not JSON"),
            Err(_) => bail!("request failed ({status})"),
        }
    }
}

/// Prints a value as indented JSON.
pub fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A JSON value as one line of text: strings as they are (control characters as spaces, so a receiver's answer
/// cannot move the cursor or break a table), null as `-`, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// At most `max` characters, the last one `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A table whose columns are as wide as their widest cell; the last column is not padded.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(headings: &[&str]) -> Self {
        Table { rows: vec![headings.iter().map(|h| (*h).to_owned()).collect()] }
    }

    /// Adds a row (as many cells as headings).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.rows[0].len());
        self.rows.push(cells);
    }

    /// The rows, headings first, each line starting with `indent`, two spaces between columns.
    pub fn render(&self, indent: &str) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = indent.to_owned();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints [`Table::render`].
    pub fn print(&self, indent: &str) {
        print!("{}", self.render(indent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_read_as_text_on_one_line() {
        assert_eq!(text(&json!("a\nb\u{1b}[2J")), "a b [2J");
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 0), "…");
    }

    #[test]
    fn tables_align_on_their_widest_cells() {
        let mut t = Table::new(&["ID", "NAME", "NOTE"]);
        t.row(vec!["1".into(), "a-long-name".into(), "x".into()]);
        t.row(vec!["12".into(), "b".into(), "".into()]);
        assert_eq!(t.render("  "), "  ID  NAME         NOTE\n  1   a-long-name  x\n  12  b\n");
    }

    #[test]
    fn ids_cannot_change_the_path() {
        let server = super::super::ServerArg { server: "http://h:1/prefix/".into(), token: None };
        let api = Api::new(&server).unwrap();
        assert_eq!(
            api.url(&["api", "v1", "incidents", "../x?y"]).as_str(),
            "http://h:1/prefix/api/v1/incidents/..%2Fx%3Fy"
        );
        assert!(Api::new(&super::super::ServerArg { server: "localhost:8080".into(), token: None }).is_err());
    }
}
