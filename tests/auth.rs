//! Who may use the REST API: this machine until a token exists, then token holders only.

mod common;

use common::{run_cli, sqlite_url, v2_trigger, TestServer, KEY};

async fn status_with(server: &TestServer, token: Option<&str>) -> u16 {
    let mut req = server.client.get(server.url("/api/v1/incidents"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_created_by_the_cli_gate_the_api() {
    let server = TestServer::open().await;
    assert_eq!(status_with(&server, None).await, 200, "no token yet: this machine may use the API");

    let db = sqlite_url(server.dir.path());
    let (code, token, err) = run_cli(&["token", "create", "--name", "grafana", "--database", &db], None);
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("fh_"), "{token}");

    assert_eq!(status_with(&server, None).await, 401, "a token is now required");
    assert_eq!(status_with(&server, Some("fh_wrong")).await, 401);
    assert_eq!(status_with(&server, Some(&token)).await, 200);
    // The intake is authenticated by integration key, not by API token.
    assert_eq!(server.post("/v2/enqueue", &v2_trigger(KEY, "k", "x")).await.0, 202);
    assert_eq!(server.get("/healthz").await.0, 200);

    let (code, listed, _) = run_cli(&["token", "list", "--database", &db], None);
    assert_eq!(code, 0);
    assert!(listed.contains("grafana") && !listed.contains(&token), "{listed}");
    let stored = std::fs::read(server.dir.path().join("firehouse.db")).unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&token), "only the hash is stored");

    // The CLI sends the token from FIREHOUSE_TOKEN / --token.
    let (code, out, err) = run_cli(&["incidents", "list", "--server", &server.base, "--token", &token], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("TITLE"), "{out}");
    let (code, _, err) = run_cli(&["incidents", "list", "--server", &server.base], None);
    assert_ne!(code, 0);
    assert!(err.contains("token"), "{err}");

    let (code, _, err) = run_cli(&["token", "revoke", "1", "--database", &db], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_with(&server, Some(&token)).await, 401, "revoked");
    assert_eq!(status_with(&server, None).await, 200, "no active token left: back to this machine only");
}
