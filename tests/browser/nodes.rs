//! Which server answered each panel of `/`. On a shared bus (`--bus redis --node NAME`) every
//! panel names it, from the polls' `X-Transport-Lab-Node` header and the other panels' `ready`
//! notices, so a teacher behind a load balancer sees the requests alternate (README, "Sticky
//! sessions"). A server alone names nobody, and the page is as it was.

use std::time::Duration;

use crate::cluster_services::require_redis;
use crate::driver::Browser;
use crate::helpers::TestApp;
use crate::index::{TRANSPORTS, open_index};

/// Each panel's node element: `[transport, hidden, text]`.
async fn node_labels(browser: &Browser) -> serde_json::Value {
    browser
        .js(
            "return [...document.querySelectorAll('.panel[data-transport]')].map(p => { \
               const n = p.querySelector('[data-role=node]'); \
               return [p.dataset.transport, n.hidden, n.textContent]; });",
        )
        .await
}

/// A server alone (the suite's, memory bus): no panel names a server.
pub async fn a_server_alone_names_no_node(browser: &Browser, app: &TestApp) {
    println!("step: a server alone names no node on its panels");
    open_index(browser, app).await;
    let labels = node_labels(browser).await;
    let expected: Vec<_> = TRANSPORTS
        .iter()
        .map(|t| serde_json::json!([t, true, ""]))
        .collect();
    assert_eq!(labels, serde_json::Value::Array(expected));
}

/// A server on a Redis bus, `--node browser-a`: every panel, the polls by the header and the
/// streams, sockets and Socket.IO by their `ready` notice, says `node browser-a`. Skipped (said on
/// stderr) without `redis-server`, unless `TRANSPORT_LAB_REQUIRE_SERVICES=1`.
pub async fn every_panel_names_its_node_on_a_shared_bus(browser: &Browser) {
    println!("step: on a shared bus every panel names the server that answered it");
    let Some(redis) = require_redis() else {
        return;
    };
    let node = tokio::task::spawn_blocking(move || {
        let node = crate::cluster_services::Node::start(&redis, "browser-a", &["--heartbeat", "2"]);
        (redis, node)
    })
    .await
    .unwrap();
    let (_redis, node) = node;
    let addr = node.url().trim_start_matches("http://").parse().unwrap();
    let app = TestApp {
        addr,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };
    open_index(browser, &app).await;
    // A held long poll names its server only when it is answered: give it a message.
    let posted = app
        .http
        .post(app.url("/api/messages"))
        .json(&serde_json::json!({"user": "ada", "text": "which server?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    assert_eq!(
        posted.headers()["x-transport-lab-node"],
        "browser-a",
        "the post's own answer names the server too"
    );
    browser
        .wait_for(
            "every panel naming its node",
            "return [...document.querySelectorAll('.panel[data-transport] [data-role=node]')] \
               .every(n => !n.hidden && n.textContent.startsWith('node browser-a'));",
            10,
        )
        .await;
    let labels = node_labels(browser).await;
    for (t, label) in TRANSPORTS.iter().zip(labels.as_array().unwrap()) {
        let text = label[2].as_str().unwrap();
        // One server answered every request: its name, once per answer seen (at most six).
        let names: Vec<&str> = text.trim_start_matches("node ").split(' ').collect();
        assert!(
            !names.is_empty() && names.len() <= 6 && names.iter().all(|n| *n == "browser-a"),
            "{t}: {text:?}"
        );
    }
    // Leave the page before its server goes, so no panel is left reconnecting to it.
    browser.goto("about:blank").await;
}
