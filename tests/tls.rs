//! HTTPS without a proxy: `serve` terminates TLS itself and picks up a renewed certificate.

use firehouse::config::Config;
use firehouse::server::{Ready, Settings};
use firehouse::tls::TlsFiles;
use std::path::Path;
use std::time::{Duration, Instant};

/// A self-signed certificate for localhost, written as PEM files; returns the certificate's PEM.
fn write_cert(dir: &Path) -> String {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = cert.cert.pem();
    // Key first, then certificate: the reloader must not pick up a half-written pair for good.
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), &pem).unwrap();
    pem
}

fn client_trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_reloads_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_cert(dir.path());
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}?mode=rwc", dir.path().join("fh.db").display()),
        config: Config::default(),
        tls: Some(TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") }),
    };
    let ready = Ready::bind(settings).await.unwrap();
    let port = ready.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ready.run(async {
        let _ = stopped.await;
    }));
    let url = format!("https://localhost:{port}/healthz");

    let r = client_trusting(&first).get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // PagerDuty's JavaScript and Python clients accept only https:// URLs: the intake works over TLS.
    let event = serde_json::json!({"routing_key": "k", "event_action": "trigger",
        "payload": {"summary": "over TLS", "source": "h", "severity": "info"}});
    let r = client_trusting(&first).post(format!("https://localhost:{port}/v2/enqueue")).json(&event).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 202);
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err(), "plain HTTP is not served");

    // Renew: the server picks the new certificate up without a restart.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a new modification time
    let second = write_cert(dir.path());
    let start = Instant::now();
    loop {
        if client_trusting(&second).get(&url).send().await.is_ok() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the renewed certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(client_trusting(&first).get(&url).send().await.is_err(), "the old certificate is no longer served");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
