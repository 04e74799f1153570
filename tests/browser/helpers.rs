//! The server under test, started in this process on 127.0.0.1:0 (as in tests/api/helpers.rs).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use transport_lab::startup::LocalServer;

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

/// Starts the server; it runs until the test binary exits.
pub async fn spawn_app() -> TestApp {
    let server = LocalServer::start(&[
        "--workers",
        "2",
        // Heartbeats during the suite, so their bytes show in the counters too.
        "--heartbeat",
        "2",
    ])
    .expect("valid test flags, and the server binds");
    let addr = server.addr();
    // Dropping the handle detaches the server: it serves until the test binary exits.
    drop(server);
    TestApp {
        addr,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}
