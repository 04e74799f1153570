//! chromedriver and Chromium for the suite: found on the PATH, started on a free port, stopped
//! by a guard even when a test panics, so no browser outlives the test binary.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Set to make a missing browser a failure instead of a skip (CI does).
const REQUIRE: &str = "TRANSPORT_LAB_REQUIRE_BROWSER";

/// The running chromedriver. Dropping it ends chromedriver and every process it started.
pub struct Driver {
    child: Child,
    pub url: String,
}

fn on_path(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Driver {
    /// Starts chromedriver, or returns `None` (after saying so) when the browser is missing.
    pub async fn start() -> Option<Self> {
        let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
        let chromedriver = on_path("chromedriver");
        let (Some(_), Some(chromedriver)) = (chromium, chromedriver) else {
            let message = "SKIPPED: browser tests need chromium and chromedriver on the PATH \
                           (Debian: apt-get install chromium chromium-driver)";
            if std::env::var(REQUIRE).is_ok_and(|v| v == "1") {
                panic!("{message}, and {REQUIRE}=1 makes them mandatory");
            }
            // Straight to stderr, past the test harness's capture, so a local run shows it.
            let _ = writeln!(std::io::stderr(), "{message}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the guard can end Chromium with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(driver)
    }

    /// A new headless Chromium session with its own fresh profile.
    pub async fn session(&self) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "transport-lab-chromium-{}-{}",
            std::process::id(),
            self.child.id()
        ));
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1280,720",
                format!("--user-data-dir={}", profile.display()),
            ]}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        Browser { client }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it left behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session and the helpers the tests use on it.
pub struct Browser {
    pub client: Client,
}

/// chromedriver's log endpoint: the console messages since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns true, polling every 100 ms for at most `secs`.
    pub async fn wait_for(&self, what: &str, script: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let states = self
                    .js("return [...document.querySelectorAll('[data-role=state], .status')].map(s => s.textContent);")
                    .await;
                let errors = self.console_errors().await;
                panic!("waited {secs} s for {what}; states {states}; console errors {errors:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sizes the window so the page itself (the viewport) is `width` x `height`.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self.js("return [innerWidth, innerHeight];").await;
        let extra = |i: usize, want: u32| want.saturating_sub(inner[i].as_u64().unwrap() as u32);
        self.client
            .set_window_size(width + extra(0, width), height + extra(1, height))
            .await
            .unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Console messages at level SEVERE since the last call (reading clears them).
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
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
