//! `/` over the TLS port (issue #12): the browser and the server agree on HTTP/2 (ALPN), every
//! panel still delivers, each panel's connection line says what the ledger counted (HTTP/2 for
//! the HTTP transports, HTTP/1.1 for the WebSocket, TLS for all), and a second tab is live too:
//! HTTP/2's one shared connection has no six-connection limit to fill.

use serde_json::{Value, json};
use transport_lab::startup::LocalServer;

use crate::driver::Browser;
use crate::index::{TRANSPORTS, compose, wait_in_all_panels};

/// A server with a TLS port, its self-signed certificate in a directory of this run's own.
pub struct TlsApp {
    /// `https://127.0.0.1:PORT`
    pub base: String,
    /// The plain port, for reading the ledger without a certificate.
    pub plain: String,
    pub http: reqwest::Client,
}

/// Starts the server with `--tls-bind 127.0.0.1:0`; it runs until the test binary exits.
pub fn spawn_tls_app() -> TlsApp {
    let dir =
        std::env::temp_dir().join(format!("transport-lab-tls-browser-{}", std::process::id()));
    let dir = dir.display().to_string();
    let server = LocalServer::start(&[
        "--workers",
        "2",
        "--heartbeat",
        "2",
        "--tls-bind",
        "127.0.0.1:0",
        "--tls-dir",
        &dir,
    ])
    .expect("valid test flags, and the server binds");
    let tls = server.tls_addr().expect("a TLS port");
    let plain = server.addr();
    // Dropping the handle detaches the server: it serves until the test binary exits.
    drop(server);
    TlsApp {
        base: format!("https://{tls}"),
        plain: format!("http://{plain}"),
        http: reqwest::Client::new(),
    }
}

const ALL_LIVE: &str = "return document.body.dataset.ready === 'yes' && \
    [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));";

/// Each panel's connection line as the page shows it: `[transport, protocol, tls, text]`.
async fn protocols(browser: &Browser) -> Value {
    browser
        .js(&format!(
            "return {TRANSPORTS:?}.map(t => {{ \
               const p = document.querySelector('#panel-' + t + ' [data-role=protocol]'); \
               return [t, p.dataset.protocol, p.dataset.tls, p.textContent]; }});"
        ))
        .await
}

/// Over `https://…/`, all six panels deliver a message sent through each transport; the
/// connection lines (from the ledger) say HTTP/2 over TLS for poll, long poll, stream and SSE,
/// HTTP/1.1 over TLS for the WebSocket, both for Socket.IO (polls, then its WebSocket), and the
/// ledger agrees; a second tab goes live and delivers too, and neither tab has a request queued
/// by the browser.
pub async fn every_panel_works_over_http2(browser: &Browser, app: &TlsApp) {
    println!(
        "step: / over https: six panels deliver, report HTTP/2 from the ledger, two tabs live"
    );
    let url = format!("{}/?room=https", app.base);
    browser.goto(&url).await;
    browser
        .wait_for("six live panels over https", ALL_LIVE, 20)
        .await;
    assert_eq!(
        browser
            .js("return [location.protocol, document.querySelector('.protocol-note').dataset.secure];")
            .await,
        json!(["https:", "yes"])
    );
    for via in TRANSPORTS {
        let text = format!("over https through {via}");
        compose(browser, via, &text).await;
        wait_in_all_panels(browser, &text).await;
    }

    // The counters are read once a second: wait for every panel's line to have a protocol.
    browser
        .wait_for(
            "every panel's connection line",
            &format!(
                "return {TRANSPORTS:?}.every(t => document.querySelector('#panel-' + t + ' [data-role=protocol]').dataset.protocol);"
            ),
            10,
        )
        .await;
    let lines = protocols(browser).await;
    for line in lines.as_array().unwrap() {
        let (t, kind, tls) = (
            line[0].as_str().unwrap(),
            line[1].as_str().unwrap(),
            line[2].as_str().unwrap(),
        );
        let want = match t {
            "ws" => "http/1.1",
            "socketio" => "mixed",
            _ => "h2",
        };
        assert_eq!((kind, tls), (want, "yes"), "{t}: {line}");
    }
    // The page read those off the ledger: the same client id's counters say the same.
    let client: String =
        serde_json::from_value(browser.js("return TLDemo.clientId();").await).unwrap();
    let stats: Value = app
        .http
        .get(format!("{}/api/stats?client={client}", app.plain))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut shared_tls = 0;
    for t in ["poll", "longpoll", "stream", "sse"] {
        let s = &stats["transports"][t];
        assert!(s["requests"].as_u64().unwrap() > 0, "{t}: {s}");
        assert_eq!(s["http2_requests"], s["requests"], "{t}: {s}");
        shared_tls += s["tls_response_bytes"].as_u64().unwrap();
    }
    // The shared connection's TLS bytes are counted under its latest request, which may be any
    // of these (or the counters' poll): together they have some.
    assert!(shared_tls > 0, "{stats}");
    let ws = &stats["transports"]["ws"];
    assert_eq!(ws["http2_requests"], 0, "{ws}");
    assert!(ws["tls_response_bytes"].as_u64().unwrap() > 0, "{ws}");

    // A second tab of the same page: over HTTP/1.1 it would fill the six connections (see
    // queue.rs); over HTTP/2 both tabs' requests are streams on one connection.
    let first = browser.client.window().await.unwrap();
    let second = browser.client.new_window(true).await.unwrap().handle;
    browser.client.switch_to_window(second).await.unwrap();
    browser.goto(&url).await;
    browser
        .wait_for("six live panels in the second tab", ALL_LIVE, 20)
        .await;
    compose(browser, "poll", "from the second tab").await;
    wait_in_all_panels(browser, "from the second tab").await;
    // Past the 3 s after which a request the browser holds back is marked queued.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        browser.js("return document.body.dataset.queued;").await,
        "0"
    );
    browser.client.close_window().await.unwrap();
    browser.client.switch_to_window(first).await.unwrap();
    wait_in_all_panels(browser, "from the second tab").await;
    assert_eq!(
        browser.js("return document.body.dataset.queued;").await,
        "0"
    );
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors over https: {errors:?}");
}

/// The short-poll lesson over `https://…`: its sequence diagram draws HTTP/2 frames, each arrow
/// with its stream id, several streams on the one connection, and the request head pane shows
/// the decoded header list (pseudo-headers and all) rather than an HTTP/1.1 head; its curl
/// command trusts the certificate and works as pasted.
pub async fn the_lesson_diagram_shows_streams(browser: &Browser, app: &TlsApp) {
    println!("step: a lesson over https draws HTTP/2 streams on one connection");
    browser
        .open(&format!("{}/transports/poll", app.base), 20)
        .await;
    // The poll lesson asks every 2 s: each poll is a new stream.
    browser
        .wait_for(
            "three streams on the diagram",
            "return Number(document.body.dataset.http2Streams || 0) >= 3;",
            20,
        )
        .await;
    let seen = browser
        .js("const s = document.getElementById('seq'); \
             return [s.querySelector('[data-role=connection]').textContent, \
                     [...s.querySelectorAll('text.stream')].map(t => t.textContent), \
                     document.getElementById('req-head').textContent, \
                     document.getElementById('seq-caption').textContent, \
                     !!document.getElementById('https-link')];")
        .await;
    assert!(
        seen[0]
            .as_str()
            .unwrap()
            .starts_with("one HTTP/2 connection"),
        "{seen}"
    );
    let ids: Vec<u64> = seen[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_str()
                .unwrap()
                .trim_start_matches("stream ")
                .parse()
                .unwrap()
        })
        .collect();
    // Streams the browser opens have odd ids, new ones higher.
    assert!(ids.iter().all(|id| id % 2 == 1), "{seen}");
    assert!(ids.first() < ids.last(), "{seen}");
    let head = seen[2].as_str().unwrap();
    assert!(
        head.contains("HTTP/2 HEADERS") && head.contains(":path: /api/poll?"),
        "{seen}"
    );
    assert!(
        seen[3]
            .as_str()
            .unwrap()
            .starts_with("Newest at the bottom. HTTP/2"),
        "{seen}"
    );
    assert_eq!(seen[4], false, "no link to https on the https page");
    // The lesson's command works when pasted: curl trusts the self-signed certificate.
    let command = browser
        .js("return document.getElementById('command').textContent;")
        .await;
    let command = command.as_str().unwrap();
    assert!(command.starts_with("curl --cacert "), "{command}");
    let out = std::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("sh runs");
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{command}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(answer["messages"].is_array(), "{command}: {answer}");
    let errors = browser.console_errors().await;
    assert!(
        errors.is_empty(),
        "console errors on the lesson over https: {errors:?}"
    );
}
