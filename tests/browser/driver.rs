//! The WebDriver servers for the suite (chromedriver for Chromium, geckodriver for Firefox): found
//! on the PATH, started on a free port, stopped by a guard even when a test panics, so no browser
//! outlives the test binary.

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

/// The two browser engines the pages must work in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

impl Engine {
    /// The browser binaries (first found wins), its WebDriver server, and how to install both.
    fn programs(self) -> (&'static [&'static str], &'static str, &'static str) {
        match self {
            Self::Chromium => (
                &["chromium", "chromium-browser"],
                "chromedriver",
                "apt-get install chromium chromium-driver",
            ),
            Self::Firefox => (
                &["firefox-esr", "firefox"],
                "geckodriver",
                "apt-get install firefox-esr; cargo install geckodriver",
            ),
        }
    }
}

/// A running WebDriver server. Dropping it ends the server and every browser it started.
pub struct Driver {
    child: Child,
    pub url: String,
    engine: Engine,
    /// The browser binary found on the PATH.
    binary: String,
}

fn on_path(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Driver {
    /// Starts the engine's WebDriver server, or returns `None` (after saying so) when the browser
    /// or its driver is missing.
    pub async fn start(engine: Engine) -> Option<Self> {
        let (browsers, driver_name, install) = engine.programs();
        let binary = browsers.iter().find_map(|b| on_path(b));
        let driver_path = on_path(driver_name);
        let (Some(binary), Some(driver_path)) = (binary, driver_path) else {
            let message = format!(
                "SKIPPED: {engine:?} browser tests need {} and {driver_name} on the PATH ({install})",
                browsers[0]
            );
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
        let child = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the guard can end the browser with it.
            .process_group(0)
            .spawn()
            .expect("the WebDriver server starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            engine,
            binary,
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
                "{driver_name} did not answer in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(driver)
    }

    /// A new headless session with its own fresh profile.
    pub async fn session(&self) -> Browser {
        self.session_with(false).await
    }

    /// A new session that accepts any certificate (`acceptInsecureCerts`, and Chromium's
    /// `--ignore-certificate-errors` for its WebSockets too), for the TLS port's self-signed one.
    pub async fn session_trusting_any_certificate(&self) -> Browser {
        self.session_with(true).await
    }

    async fn session_with(&self, insecure: bool) -> Browser {
        let mut caps = Capabilities::new();
        match self.engine {
            Engine::Chromium => {
                let profile = std::env::temp_dir().join(format!(
                    "transport-lab-chromium-{}-{}",
                    std::process::id(),
                    self.child.id()
                ));
                let mut args = vec![
                    "--headless".to_string(),
                    "--no-sandbox".into(),
                    "--disable-gpu".into(),
                    "--disable-dev-shm-usage".into(),
                    "--disable-background-networking".into(),
                    "--disable-component-update".into(),
                    "--disable-sync".into(),
                    "--no-first-run".into(),
                    "--disable-quic".into(),
                    "--window-size=1280,720".into(),
                    format!("--user-data-dir={}", profile.display()),
                ];
                if insecure {
                    args.push("--ignore-certificate-errors".into());
                }
                caps.insert(
                    "goog:chromeOptions".into(),
                    json!({"binary": self.binary, "args": args}),
                );
                caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
            }
            Engine::Firefox => {
                caps.insert("browserName".into(), json!("firefox"));
                // geckodriver makes a fresh profile per session; these prefs keep Firefox from
                // reaching for the network it does not have here.
                caps.insert(
                    "moz:firefoxOptions".into(),
                    json!({"binary": self.binary, "args": ["-headless", "-width", "1280", "-height", "720"],
                        "prefs": {
                            "app.update.enabled": false,
                            "browser.shell.checkDefaultBrowser": false,
                            "datareporting.policy.dataSubmissionEnabled": false,
                            "toolkit.telemetry.enabled": false,
                            "network.captive-portal-service.enabled": false,
                            "network.connectivity-service.enabled": false,
                        }}),
                );
            }
        }
        if insecure {
            caps.insert("acceptInsecureCerts".into(), json!(true));
        }
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("a {:?} session: {e}", self.engine));
        Browser {
            client,
            engine: self.engine,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: the WebDriver server and any browser it left behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session and the helpers the tests use on it.
pub struct Browser {
    pub client: Client,
    pub engine: Engine,
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

    /// Opens `url` and waits (at most `secs`) until its script says the page is ready
    /// (`body[data-ready=yes]`), so a check never reads a page still starting.
    pub async fn open(&self, url: &str, secs: u64) {
        self.goto(url).await;
        self.wait_for(
            &format!("{url} ready"),
            "return document.body.dataset.ready === 'yes';",
            secs,
        )
        .await;
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
                    .js("return [...document.querySelectorAll('[data-role=state], .status')].map(s => s.textContent).concat(['focus: ' + (document.activeElement && (document.activeElement.tagName + '#' + document.activeElement.id)), 'step: ' + document.body.dataset.step, 'hasFocus: ' + document.hasFocus()]);")
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

    /// Errors since the last call (reading clears them). Chromium: console messages at level
    /// SEVERE from chromedriver's log. Firefox, whose geckodriver has no log endpoint: what the
    /// page's `errors.js` recorded (script errors, failed loads, CSP violations).
    pub async fn console_errors(&self) -> Vec<String> {
        match self.engine {
            Engine::Chromium => {
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
            Engine::Firefox => {
                let recorded = self
                    .js("const e = window.tlErrors || []; window.tlErrors = []; return e;")
                    .await;
                serde_json::from_value(recorded).unwrap_or_default()
            }
        }
    }
}
