//! The sixth lane in the pages: the Socket.IO panel on `/` (the page's own Engine.IO / Socket.IO
//! client, no library) upgrades from polling to a WebSocket, and the Socket.IO lesson ticks off
//! the polling → probe → upgrade dance from the tap, again after a drop.

use futures_util::FutureExt;
use serde_json::{Value, json};

use crate::driver::Browser;
use crate::helpers::TestApp;

/// Waits until the Socket.IO panel on `/` is live on its WebSocket.
async fn live_on_its_websocket(browser: &Browser) {
    browser
        .wait_for(
            "the Socket.IO panel live on its WebSocket",
            "return document.querySelector('#panel-socketio [data-role=state]').textContent === 'live · websocket';",
            15,
        )
        .await;
}

/// On `/`, the Socket.IO panel goes live on polling and then on its WebSocket; the ledger counts
/// its polling requests and the upgrade under `socketio`.
pub async fn the_socketio_panel_upgrades_to_a_websocket(browser: &Browser, app: &TestApp) {
    println!("step: the Socket.IO panel upgrades from polling to a WebSocket");
    let room = format!("sio-{}", format!("{:?}", browser.engine).to_lowercase());
    browser.goto(&app.url(&format!("/?room={room}"))).await;
    live_on_its_websocket(browser).await;
    let client = browser.js("return TLDemo.clientId();").await;
    let stats = app
        .get_json(&format!("/api/stats?client={}", client.as_str().unwrap()))
        .await;
    let sio = &stats["transports"]["socketio"];
    // The handshake, the CONNECT post, at least one poll, and the WebSocket's upgrade request.
    assert!(sio["requests"].as_u64().unwrap() >= 4, "{sio}");
    assert!(sio["connections"].as_u64().unwrap() >= 2, "{sio}");
    let rooms = app.get_json(&format!("/api/rooms/{room}")).await;
    assert_eq!(rooms["by_transport"]["socketio"], 1, "{rooms}");
}

/// The dance's steps, in the lesson's list: which are ticked, and when (seconds).
async fn dance(browser: &Browser) -> Value {
    browser
        .js("return [...document.querySelectorAll('#dance li')].map(li => [li.dataset.step, li.classList.contains('done'), Number(li.dataset.at)]);")
        .await
}

/// `/transports/socketio` ticks off every step of the dance (handshake, CONNECT, connected, probe,
/// noop, upgrade) as its tap shows them, the upgrade after the probe; the diagram names the
/// packets (`2probe`, `5 upgrade` on the WebSocket); after "Drop connection" a new session
/// dances again.
pub async fn the_socketio_lesson_shows_the_dance(browser: &Browser, app: &TestApp) {
    println!("step: the Socket.IO lesson shows polling → probe → upgrade from the tap");
    browser.open(&app.url("/transports/socketio"), 15).await;
    let all_done = "return [...document.querySelectorAll('#dance li')].every(li => li.classList.contains('done'));";
    browser
        .wait_for("every step of the dance", all_done, 15)
        .await;
    let steps = dance(browser).await;
    let names: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "handshake",
            "connect",
            "connected",
            "probe",
            "noop",
            "upgrade"
        ]
    );
    let at = |step: usize| steps[step][2].as_f64().unwrap();
    assert!(
        at(0) <= at(1) && at(3) <= at(5) && at(4) <= at(5),
        "{steps}"
    );
    let requests = browser
        .js("return document.querySelector('#dance-cost [data-dance=requests]').textContent;")
        .await;
    let requests: u64 = requests.as_str().unwrap().parse().unwrap();
    assert!(
        (3..=8).contains(&requests),
        "{requests} requests before the upgrade"
    );
    let labels = browser
        .js("return [...document.querySelectorAll('#seq text.label')].map(t => t.firstChild.textContent);")
        .await;
    let labels: Vec<String> = serde_json::from_value(labels).unwrap();
    for want in ["2probe", "3probe", "5 upgrade", "0 open", "6 noop"] {
        assert!(
            labels.iter().any(|l| l.contains(want)),
            "{want} not in {labels:?}"
        );
    }
    assert_eq!(
        browser
            .js("return document.getElementById('lesson-status').textContent;")
            .await,
        json!("live · websocket")
    );

    let upgraded_at = at(5);
    browser.click("#drop").await;
    // A new session dances again: every step ticked anew, after the drop (the whole dance can take
    // less than a poll of this test, so it is the times that tell).
    browser
        .wait_for(
            "every step of the dance again",
            &format!(
                "return [...document.querySelectorAll('#dance li')] \
                   .every(li => li.classList.contains('done') && Number(li.dataset.at) > {upgraded_at});"
            ),
            15,
        )
        .await;
    browser.goto("about:blank").await;
}

/// A server that freezes (SIGSTOP: its connections stay open, nothing answers) is noticed by the
/// Socket.IO panel as socket.io-client notices it: no ping within pingInterval + pingTimeout
/// (2 s + 2 s here) is a "ping timeout", and the panel reconnects. Thawed, the server has the
/// panel back, and a message posted then reaches it.
pub async fn a_frozen_server_is_a_ping_timeout(browser: &Browser) {
    println!("step: a frozen server is a ping timeout for the Socket.IO panel");
    let node = crate::cluster_services::Node::start_alone(&["--heartbeat", "2"]);
    let app = TestApp {
        addr: node.addr().parse().unwrap(),
        http: reqwest::Client::new(),
    };
    crate::index::open_index(browser, &app).await;
    live_on_its_websocket(browser).await;
    // Every state the panel shows from now on, however briefly.
    browser
        .js("window.sioStates = []; \
             const el = document.querySelector('#panel-socketio [data-role=state]'); \
             new MutationObserver(() => window.sioStates.push(el.textContent)) \
               .observe(el, { childList: true, characterData: true, subtree: true }); \
             return true;")
        .await;

    node.signal("STOP");
    let timed_out = "return (window.sioStates || []).some(s => s.startsWith('ping timeout'));";
    let outcome = std::panic::AssertUnwindSafe(browser.wait_for(
        "the Socket.IO panel to call the frozen server a ping timeout",
        timed_out,
        12,
    ))
    .catch_unwind()
    .await;
    node.signal("CONT");
    if let Err(panic) = outcome {
        let states = browser.js("return window.sioStates;").await;
        eprintln!("the Socket.IO panel showed: {states}");
        std::panic::resume_unwind(panic);
    }

    browser
        .wait_for(
            "the Socket.IO panel live again once the server is thawed",
            "return document.querySelector('#panel-socketio [data-role=state]').textContent.startsWith('live');",
            20,
        )
        .await;
    crate::index::post(&app.http, app.addr, "after the thaw").await;
    browser
        .wait_for(
            "the message posted after the thaw in the Socket.IO panel, once",
            "return [...document.querySelectorAll('#panel-socketio li .text')] \
               .filter(t => t.textContent === 'after the thaw').length === 1;",
            10,
        )
        .await;
}
