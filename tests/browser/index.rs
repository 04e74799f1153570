//! `/`: six live clients, one compose box, counters from the ledger, the detector.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;

use transport_lab::startup::LocalServer;

use crate::driver::Browser;
use crate::helpers::TestApp;

pub const TRANSPORTS: [&str; 6] = ["poll", "longpoll", "stream", "sse", "ws", "socketio"];

/// Opens `/` and waits until all six panels are live.
pub async fn open_index(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/")).await;
    browser
        .wait_for(
            "five live panels",
            "return document.body.dataset.ready === 'yes' && \
             [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));",
            15,
        )
        .await;
}

/// The id under which each panel shows the message whose text is `text` (null if not yet).
async fn ids_of(browser: &Browser, text: &str) -> Vec<Value> {
    let script = format!(
        "const t = {}; return {TRANSPORTS:?}.map(p => {{ \
           const li = [...document.querySelectorAll('#panel-' + p + ' li[data-id]')] \
             .find(li => li.querySelector('.text').textContent === t); \
           return li ? Number(li.dataset.id) : null; }});",
        serde_json::to_string(text).unwrap(),
    );
    browser.js(&script).await.as_array().unwrap().clone()
}

/// Waits until all six panels show `text`, and returns the id they show it with.
pub async fn wait_in_all_panels(browser: &Browser, text: &str) -> u64 {
    const SECONDS: u64 = 10;
    for _ in 0..SECONDS * 10 {
        let ids = ids_of(browser, text).await;
        if ids.iter().all(Value::is_number) {
            let first = ids[0].as_u64().unwrap();
            assert!(
                ids.iter().all(|id| id.as_u64() == Some(first)),
                "panels show {text:?} under different ids: {ids:?}"
            );
            return first;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What each panel says of itself (its state line and its six newest lines, notices
    // included), so a failure shows where the missing lane stood.
    let panels = browser
        .js(
            "return [...document.querySelectorAll('.panel')].map(p => p.id + ': ' + \
               (p.querySelector('[data-role=state]') || {}).textContent + ' | ' + \
               [...p.querySelectorAll('li')].slice(0, 6).map(li => li.textContent).join(' / '));",
        )
        .await;
    panic!(
        "{text:?} did not reach all six panels in {SECONDS} s: {:?}\npanels: {panels:#}",
        ids_of(browser, text).await
    );
}

/// Types `text` into the compose box and sends it through `via`'s own send path.
pub async fn compose(browser: &Browser, via: &str, text: &str) {
    let select = browser.client.find(Locator::Id("c-via")).await.unwrap();
    select.select_by_value(via).await.unwrap();
    let input = browser.client.find(Locator::Id("c-text")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
    browser.click("#compose button[type=submit]").await;
}

/// A message sent through each transport's compose path appears in all six panels, same id.
pub async fn every_transport_delivers_to_every_panel(browser: &Browser, app: &TestApp) {
    println!("step: every transport's send path reaches all six panels");
    open_index(browser, app).await;
    let mut ids = Vec::new();
    for via in TRANSPORTS {
        let text = format!("hello through {via}");
        compose(browser, via, &text).await;
        let id = wait_in_all_panels(browser, &text).await;
        // The server stored exactly this text under that id.
        let stored = app.get_json(&format!("/api/poll?since={}", id - 1)).await;
        assert_eq!(stored["messages"][0]["text"], text.as_str());
        ids.push(id);
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in send order: {ids:?}"
    );
    let status = browser
        .js("return document.getElementById('c-status').textContent;")
        .await;
    assert!(
        status.as_str().unwrap().starts_with("sent #"),
        "compose status: {status}"
    );
}

/// `<img src=x onerror=alert(1)>` in a message is shown as text and runs nothing.
pub async fn markup_in_a_message_is_shown_as_text(browser: &Browser, app: &TestApp) {
    println!("step: markup in a message stays text");
    let evil = "<img src=x onerror=alert(1)>";
    compose(browser, "poll", evil).await;
    wait_in_all_panels(browser, evil).await;
    let images = browser
        .js("return document.querySelectorAll('.messages img, .messages script').length;")
        .await;
    assert_eq!(images, 0, "no element was created from the message");
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no alert dialog is open"
    );
    // The page's CSP forbids inline script in any case.
    let response = app.http.get(app.url("/")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
}

/// The figures a panel shows (from its `data-value`s).
async fn panel_figures(browser: &Browser, transport: &str) -> Value {
    browser
        .js(&format!(
            "const o = {{}}; document.querySelectorAll('#panel-{transport} [data-stat]') \
               .forEach(d => o[d.dataset.stat] = d.dataset.value === undefined ? null : Number(d.dataset.value)); return o;"
        ))
        .await
}

/// The counters move, and once the panels are paused they equal `/api/stats?client=` exactly.
pub async fn counters_move_and_match_the_ledger(browser: &Browser, app: &TestApp) {
    println!("step: counters move and match /api/stats?client=");
    let client = browser
        .js("return TLDemo.clientId();")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    for t in TRANSPORTS {
        browser.click(&format!("#panel-{t} [data-act=pause]")).await;
    }
    // Let closed connections settle and at least two stats ticks arrive.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut last = Vec::new();
    for _ in 0..10 {
        let stats = app.get_json(&format!("/api/stats?client={client}")).await;
        last.clear();
        for t in TRANSPORTS {
            let s = &stats["transports"][t];
            let shown = panel_figures(browser, t).await;
            let expected = [
                ("requests", &s["requests"]),
                ("messages", &s["messages"]),
                ("down", &s["response_bytes"]),
                ("up", &s["request_bytes"]),
                ("empty", &s["empty_responses"]),
            ];
            for (key, want) in expected {
                if shown[key].as_f64() != want.as_f64() {
                    last.push(format!("{t}.{key}: page {} ledger {want}", shown[key]));
                }
            }
            // Everything sent so far reached each panel, and its bytes were counted.
            assert!(s["messages"].as_u64().unwrap() >= 6, "{t}: {s}");
            assert!(s["payload_bytes"].as_u64().unwrap() > 0, "{t}: {s}");
            assert!(s["requests"].as_u64().unwrap() >= 1, "{t}: {s}");
        }
        if last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(last.is_empty(), "page and ledger disagree: {last:?}");
    for t in TRANSPORTS {
        browser.click(&format!("#panel-{t} [data-act=pause]")).await;
    }
}

/// After "drop connection" on every panel while a burst is sent, every panel has every message
/// once, in order: the detector reports no gap, duplicate or reorder.
pub async fn no_gap_after_drop_connection(browser: &Browser, app: &TestApp) {
    println!("step: drop connection loses nothing");
    browser
        .wait_for(
            "panels live again",
            "return [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));",
            15,
        )
        .await;
    for t in TRANSPORTS {
        browser.click(&format!("#panel-{t} [data-act=drop]")).await;
    }
    // Sent while the panels are reconnecting (the back-off waits at least 250 ms).
    let select = browser.client.find(Locator::Id("c-via")).await.unwrap();
    select.select_by_value("poll").await.unwrap();
    browser.click("#c-burst").await;
    let newest = loop {
        let body = app.get_json("/api/poll").await;
        let status = browser
            .js("return document.getElementById('c-status').textContent;")
            .await;
        if status
            .as_str()
            .unwrap_or_default()
            .starts_with("burst of 10")
        {
            break body["last_id"].as_u64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    browser
        .wait_for(
            "the whole burst in every panel",
            &format!(
                "return [...document.querySelectorAll('.panel')].every(p => p.querySelector('li[data-id=\"{newest}\"]'));"
            ),
            15,
        )
        .await;
    let detectors = browser
        .js("return [...document.querySelectorAll('[data-role=detector]')].map(d => ({...d.dataset}));")
        .await;
    let detectors = detectors.as_array().unwrap();
    assert_eq!(detectors.len(), TRANSPORTS.len());
    let received = &detectors[0]["received"];
    for d in detectors {
        assert_eq!(d["gaps"], "0", "{detectors:?}");
        assert_eq!(d["dups"], "0", "{detectors:?}");
        assert_eq!(d["reorders"], "0", "{detectors:?}");
        assert_eq!(
            &d["received"], received,
            "every panel got as many: {detectors:?}"
        );
    }
}

/// Posts `text` as `ada` to the server at `addr`.
pub async fn post(http: &reqwest::Client, addr: std::net::SocketAddr, text: &str) {
    let response = http
        .post(format!("http://{addr}/api/messages"))
        .json(&serde_json::json!({"user": "ada", "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// The server restarts under the open page and its new run publishes past the ids the panels
/// had seen: every panel, the browser's own `EventSource` resume included, announces the restart
/// and shows the new run from its first message, with no gap, duplicate or reorder counted.
pub async fn a_restart_is_noticed_by_every_panel(browser: &Browser) {
    println!("step: a server restart is noticed, and nothing of the new run is skipped");
    // A server of its own, so restarting it leaves the suite's server alone.
    let server = LocalServer::start(&["--workers", "2", "--heartbeat", "2"]).unwrap();
    let addr = server.addr();
    let http = reqwest::Client::new();
    let app = TestApp {
        addr,
        http: http.clone(),
    };
    for i in 1..=8 {
        post(&http, addr, &format!("first run {i}")).await;
    }
    open_index(browser, &app).await;
    wait_in_all_panels(browser, "first run 8").await;

    server.stop().await.unwrap();
    let restarted =
        LocalServer::start_on(&addr.to_string(), &["--workers", "2", "--heartbeat", "2"]).unwrap();
    for i in 1..=12 {
        post(&http, addr, &format!("second run {i}")).await;
    }

    // Message 1 of the new run reaches every panel under id 1: nothing was skipped.
    assert_eq!(wait_in_all_panels(browser, "second run 1").await, 1);
    assert_eq!(wait_in_all_panels(browser, "second run 12").await, 12);
    let notices = browser
        .js("return [...document.querySelectorAll('.panel')].map(p => \
               [...p.querySelectorAll('li.notice')].map(li => li.textContent));")
        .await;
    for (t, panel) in TRANSPORTS.iter().zip(notices.as_array().unwrap()) {
        assert!(
            panel
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().starts_with("server restarted")),
            "{t}: {notices:?}"
        );
    }
    let detectors = browser
        .js("return [...document.querySelectorAll('[data-role=detector]')].map(d => ({...d.dataset}));")
        .await;
    for d in detectors.as_array().unwrap() {
        assert_eq!(
            (&d["gaps"], &d["dups"], &d["reorders"]),
            (&Value::from("0"), &Value::from("0"), &Value::from("0")),
            "{detectors:?}"
        );
    }
    restarted.stop().await.unwrap();
}

/// The auto panel (lab-client.js), once started, goes live on the WebSocket beside the six, and a message posted
/// to the room shows in it once, with no gap or duplicate, while the transport panels stay six.
pub async fn the_auto_panel_goes_live_and_receives_once(browser: &Browser, app: &TestApp) {
    println!("step: the auto panel on / goes live on ws and receives a posted message once");
    let room = format!("auto-{}", format!("{:?}", browser.engine).to_lowercase());
    browser.goto(&app.url(&format!("/?room={room}"))).await;
    browser
        .wait_for(
            "the page ready, the auto panel waiting for its start",
            "return document.body.dataset.ready === 'yes' && document.getElementById('auto-panel').dataset.state === 'stopped';",
            15,
        )
        .await;
    browser.click("#auto-panel [data-act=auto-start]").await;
    browser
        .wait_for(
            "the auto panel live",
            "const a = document.getElementById('auto-panel'); \
             return a.dataset.state === 'live' && a.querySelector('.auto-start').hidden;",
            15,
        )
        .await;
    let shape = browser
        .js("const a = document.getElementById('auto-panel'); \
             return [document.querySelectorAll('.panel').length, a.dataset.on, \
               a.dataset.client === document.getElementById('client-id').textContent + '-auto', \
               a.getAttribute('aria-labelledby') && document.getElementById(a.getAttribute('aria-labelledby')).textContent.trim()];")
        .await;
    assert_eq!(
        shape,
        serde_json::json!([6, "ws", true, "Auto (lab-client.js)"])
    );

    let text = format!("to the auto panel in {room}");
    let response = app
        .http
        .post(app.url(&format!("/api/messages?room={room}")))
        .json(&serde_json::json!({"user": "ada", "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].clone();

    let probe = format!(
        "(() => {{ const a = document.getElementById('auto-panel'); const t = {}; \
         const shown = [...a.querySelectorAll('[data-role=auto-messages] li')].filter(li => li.querySelector('.text').textContent === t); \
         const d = a.querySelector('[data-role=auto-detector]').dataset; \
         return [shown.map(li => Number(li.dataset.id)), shown.map(li => li.dataset.transport), d.gaps, d.dups]; }})()",
        serde_json::to_string(&text).unwrap()
    );
    browser
        .wait_for(
            "the posted message in the auto panel",
            &format!("return {probe}[0].length > 0;"),
            10,
        )
        .await;
    // A moment for a duplicate to show, if one were coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        browser.js(&format!("return {probe};")).await,
        serde_json::json!([[id], ["ws"], "0", "0"])
    );
}
