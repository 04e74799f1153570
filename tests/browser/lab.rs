//! The fault lab (`/lab`) and its auto client (`static/lab-client.js`): for each fault, set through
//! the page's own form (and so through `POST /api/lab`) while a burst of posts is arriving, the
//! auto client ends on the transport the fault leaves it, with every message of the burst exactly
//! once, in order, and nothing dropped by its safety net (the cursor alone kept it exact).
//!
//! Each case uses a room and client id of its own, so ids run from 1 and one case's faults never
//! reach the next. The test server beats every 2 s (`--heartbeat 2`, helpers.rs).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::driver::{Browser, Engine};
use crate::helpers::TestApp;

/// Messages in each burst, and the time between two posts: about 1.4 s of posts.
const BURST: u64 = 24;
const SPACING: Duration = Duration::from_millis(60);

/// What the page shows of its auto client.
async fn auto(browser: &Browser) -> Value {
    browser
        .js("const a = document.getElementById('lab-auto'), d = document.getElementById('auto-detector'); \
             return {transport: a.dataset.transport, state: a.dataset.state, \
               ids: [...document.querySelectorAll('#auto-messages li[data-id]')].map(li => Number(li.dataset.id)), \
               shown_twice: Number(d.dataset.dups), net: Number(d.dataset.net), gaps: Number(d.dataset.gaps), \
               switches: Number(d.dataset.switches), reconnects: Number(d.dataset.reconnects), \
               log: [...document.querySelectorAll('#auto-log li')].map(li => li.textContent.replace(/^\\+[0-9.]+ s /, ''))};")
        .await
}

/// Waits (at most `secs`) until `done` holds for the auto client; panics with what it shows.
async fn wait_auto(
    browser: &Browser,
    what: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = auto(browser).await;
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "waited {secs} s for the auto client to be {what}: {now:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(auto: &Value) -> Vec<u64> {
    auto["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn live_on(auto: &Value, transport: &str) -> bool {
    auto["transport"] == transport && auto["state"] == "live"
}

/// Opens `/lab` for `case` (its own room and client id) and waits until the auto client is live
/// on `first`. Returns the room and the client id.
async fn open(
    browser: &Browser,
    app: &TestApp,
    case: &str,
    query: &str,
    first: &str,
) -> (String, String) {
    let engine = match browser.engine {
        Engine::Chromium => "c",
        Engine::Firefox => "f",
    };
    let room = format!("lab-{case}-{engine}");
    let client = format!("t-{case}-{engine}");
    browser
        .open(
            &app.url(&format!("/lab?room={room}&client={client}{query}")),
            15,
        )
        .await;
    wait_auto(browser, &format!("live on {first}"), 10, |a| {
        live_on(a, first)
    })
    .await;
    (room, client)
}

/// Posts `from..=to` to `room` from the test (no client id: no fault touches the posts), one
/// every [`SPACING`], in a task of its own.
fn burst(app: &TestApp, room: &str, from: u64, to: u64) -> JoinHandle<()> {
    let http = app.http.clone();
    let url = app.url(&format!("/api/messages?room={room}"));
    tokio::spawn(async move {
        for i in from..=to {
            let response = http
                .post(&url)
                .json(&json!({"user": "burst", "text": format!("m{i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201, "post {i}");
            tokio::time::sleep(SPACING).await;
        }
    })
}

/// Ticks exactly `faults` in the page's form (with their values) and presses Apply; waits until
/// the page says they are set, and checks the server holds them for both of the page's ids.
async fn apply(browser: &Browser, app: &TestApp, client: &str, faults: Value) {
    let before = browser
        .js("return document.getElementById('lab-status').dataset.applied;")
        .await;
    browser
        .js(&format!(
            "const want = {faults}; \
             for (const box of document.querySelectorAll('#lab-faults input[data-fault]')) {{ \
               const k = box.dataset.fault; box.checked = k in want; \
               const input = document.querySelector('#lab-faults input[data-value=\"' + k + '\"]'); \
               if (input && k in want) input.value = String(want[k]); }} \
             return true;"
        ))
        .await;
    browser.click("#lab-faults button[type=submit]").await;
    browser
        .wait_for(
            "the faults applied",
            &format!("return document.getElementById('lab-status').dataset.applied !== {before};"),
            10,
        )
        .await;
    for id in [client.to_owned(), format!("{client}-auto")] {
        let state = app.get_json(&format!("/api/lab?client={id}")).await;
        for (key, value) in faults.as_object().unwrap() {
            assert_eq!(&state["faults"][key], value, "{id}: {state}");
        }
    }
}

/// The page's error log (Chromium's console, Firefox's `errors.js`) may hold the refused
/// handshakes and cut connections the faults caused, never a script error.
async fn no_script_errors(browser: &Browser) {
    let errors = browser.console_errors().await;
    let scripts: Vec<&String> = errors
        .iter()
        .filter(|e| {
            let e = e.to_lowercase();
            e.contains("uncaught") || e.contains("unhandled") || e.contains("typeerror")
        })
        .collect();
    assert!(scripts.is_empty(), "script errors: {scripts:?}");
}

/// Runs one fault: opens the lab on `first`, starts a burst, applies `faults` once a few
/// messages arrived, and waits until the auto client is live on `expected` with the whole burst.
/// Returns what the page showed then.
async fn fault_case(
    browser: &Browser,
    app: &TestApp,
    case: &str,
    query: &str,
    first: &str,
    faults: Value,
    expected: &str,
) -> Value {
    let (room, client) = open(browser, app, case, query, first).await;
    let _ = browser.console_errors().await;
    let posts = burst(app, &room, 1, BURST);
    wait_auto(browser, "given the burst's first messages", 10, |a| {
        ids(a).len() >= 4
    })
    .await;
    apply(browser, app, &client, faults).await;
    posts.await.unwrap();
    let done = wait_auto(
        browser,
        &format!("live on {expected} with all {BURST}"),
        20,
        |a| live_on(a, expected) && ids(a).len() as u64 >= BURST,
    )
    .await;
    assert_eq!(ids(&done), (1..=BURST).collect::<Vec<_>>(), "{done:#}");
    assert_eq!(
        (&done["shown_twice"], &done["net"], &done["gaps"]),
        (&json!(0), &json!(0), &json!(0)),
        "{done:#}"
    );
    done
}

/// Clears the case's faults (through the API first: a cut fault could cut the page's own
/// request), then through the page, and leaves it.
async fn close(browser: &Browser, app: &TestApp) {
    let client = browser.js("return document.body.dataset.client;").await;
    let client = client.as_str().unwrap();
    for id in [client.to_owned(), format!("{client}-auto")] {
        let response = app
            .http
            .delete(app.url(&format!("/api/lab?client={id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
    browser.click("#lab-clear").await;
    browser
        .wait_for(
            "the faults cleared",
            "return document.getElementById('lab-status').textContent.startsWith('faults: none');",
            10,
        )
        .await;
    no_script_errors(browser).await;
    browser.goto("about:blank").await;
}

fn logged(auto: &Value, line: &str) -> bool {
    auto["log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().starts_with(line))
}

/// Refused upgrade mid-burst: the auto client's socket is refused, it moves to SSE, and the plain
/// WebSocket client is left without a connection.
pub async fn refused_upgrade_falls_back_to_sse(browser: &Browser, app: &TestApp) {
    println!(
        "step: lab: a refused upgrade mid-burst, the auto client on SSE with every message once"
    );
    let done = fault_case(
        browser,
        app,
        "refuse",
        "",
        "ws",
        json!({"refuse_upgrade": true}),
        "sse",
    )
    .await;
    assert!(logged(&done, "ws refused → sse"), "{done:#}");
    assert_eq!(done["switches"], 1, "{done:#}");
    let plain_ws = browser
        .js("return document.getElementById('plain-ws').dataset.state;")
        .await;
    assert_ne!(plain_ws, "live");
    close(browser, app).await;
}

/// A buffering proxy that also strips `Upgrade`: WebSocket refused, SSE buffered (no `ready` in
/// 3 s), the stream skipped as buffered too, long polling works. The plain SSE and stream
/// clients sit connected, waiting for their first byte, while the plain long poll has it all.
pub async fn buffering_proxy_falls_back_to_long_polling(browser: &Browser, app: &TestApp) {
    println!("step: lab: a buffering proxy that strips Upgrade, the auto client on long polling");
    let done = fault_case(
        browser,
        app,
        "buffer",
        "",
        "ws",
        json!({"refuse_upgrade": true, "buffer_kib": 8}),
        "longpoll",
    )
    .await;
    assert!(logged(&done, "ws refused → sse"), "{done:#}");
    assert!(logged(&done, "sse buffered → longpoll"), "{done:#}");
    browser
        .wait_for(
            "the plain long poll with the whole burst",
            &format!(
                "return document.getElementById('plain-longpoll').dataset.received === '{BURST}';"
            ),
            10,
        )
        .await;
    let stalled = browser
        .js("return ['sse', 'stream'].map(t => document.getElementById('plain-' + t).dataset.state);")
        .await;
    assert_eq!(stalled, json!(["connecting", "connecting"]));
    if crate::pages::saving_screenshots(browser) {
        browser.viewport(1280, 900).await;
        browser.js("window.scrollTo(0, 0); return true;").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        crate::pages::save_screenshot(browser, "lab").await;
    }
    close(browser, app).await;
}

/// A buffering proxy alone passes the WebSocket (an upgraded connection is no response to hold):
/// the auto client stays on it.
pub async fn buffering_alone_keeps_the_websocket(browser: &Browser, app: &TestApp) {
    println!("step: lab: a buffering proxy alone, the auto client stays on the WebSocket");
    let done = fault_case(
        browser,
        app,
        "buffer-ws",
        "",
        "ws",
        json!({"buffer_kib": 8}),
        "ws",
    )
    .await;
    assert_eq!(done["switches"], 0, "{done:#}");
    close(browser, app).await;
}

/// An idle cut shorter than the heartbeat: the quiet socket is cut and reconnected, on the same
/// transport, and a message after the cut still arrives once.
pub async fn idle_cuts_reconnect_on_the_same_transport(browser: &Browser, app: &TestApp) {
    println!("step: lab: idle cuts of 1 s (heartbeat 2 s), the auto client reconnects on ws");
    let done = fault_case(
        browser,
        app,
        "idle",
        "",
        "ws",
        json!({"idle_cut_s": 1.0}),
        "ws",
    )
    .await;
    assert_eq!(done["switches"], 0, "{done:#}");
    // After the burst the socket is quiet: it is cut within about a second, and comes back.
    let before = done["reconnects"].as_u64().unwrap();
    wait_auto(browser, "cut and back on ws", 10, |a| {
        a["reconnects"].as_u64().unwrap() > before && live_on(a, "ws")
    })
    .await;
    let after = more(browser, app, BURST + 1).await;
    assert!(logged(&after, "ws cut (1006)"), "{after:#}");
    close(browser, app).await;
}

/// Posts `BURST + 1..=to` and waits until the auto client shows exactly 1..=`to`, once each.
async fn more(browser: &Browser, app: &TestApp, to: u64) -> Value {
    let room = browser.js("return document.body.dataset.room;").await;
    burst(app, room.as_str().unwrap(), BURST + 1, to)
        .await
        .unwrap();
    let after = wait_auto(browser, &format!("given all {to}"), 15, |a| {
        ids(a).len() as u64 >= to && a["state"] == "live"
    })
    .await;
    assert_eq!(ids(&after), (1..=to).collect::<Vec<_>>(), "{after:#}");
    assert_eq!(
        (&after["shown_twice"], &after["net"], &after["gaps"]),
        (&json!(0), &json!(0), &json!(0)),
        "{after:#}"
    );
    after
}

/// Latency on every write: slower, and still the WebSocket.
pub async fn latency_keeps_the_websocket(browser: &Browser, app: &TestApp) {
    println!("step: lab: 300 ms latency, the auto client stays on ws");
    let done = fault_case(
        browser,
        app,
        "latency",
        "",
        "ws",
        json!({"latency_ms": 300}),
        "ws",
    )
    .await;
    assert_eq!(done["switches"], 0, "{done:#}");
    close(browser, app).await;
}

/// Random cuts about every second: the auto client is cut and reconnects, on the same transport,
/// at its cursor, during a second burst too.
pub async fn random_cuts_reconnect_without_loss(browser: &Browser, app: &TestApp) {
    println!("step: lab: random cuts about every second, reconnects on ws without loss");
    let done = fault_case(
        browser,
        app,
        "cuts",
        "",
        "ws",
        json!({"cut_every_s": 1.0}),
        "ws",
    )
    .await;
    assert_eq!(done["switches"], 0, "{done:#}");
    // Each connection is cut at most 1.5 s after it opened: the live one is cut during a second
    // burst of 30 (1.8 s of posts at least), which then goes on over the next connection.
    wait_auto(browser, "cut and back", 10, |a| {
        a["reconnects"].as_u64().unwrap() >= 1 && a["state"] == "live"
    })
    .await;
    let after = more(browser, app, BURST + 30).await;
    assert_eq!(after["transport"], "ws", "{after:#}");
    assert!(after["reconnects"].as_u64().unwrap() >= 2, "{after:#}");
    close(browser, app).await;
}

/// Upgrade mode: the auto client starts on long polling and moves to the WebSocket once its
/// probe is `ready`; with the upgrade refused mid-burst, the probe fails and it stays on long
/// polling, with every message once either way.
pub async fn upgrade_mode_probes_before_it_switches(browser: &Browser, app: &TestApp) {
    println!("step: lab: upgrade mode, long polling then ws; refused, it stays on long polling");
    let done = fault_case(
        browser,
        app,
        "upgrade",
        "&upgrade=1",
        "ws",
        json!({"refuse_upgrade": true}),
        "longpoll",
    )
    .await;
    let log: Vec<&str> = done["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(log[0], "connecting longpoll", "{done:#}");
    assert!(logged(&done, "ws probe ready → ws"), "{done:#}");
    assert!(
        logged(&done, "ws probe refused; staying on longpoll"),
        "{done:#}"
    );
    close(browser, app).await;
}

/// Serves the page of another site that embeds the room with lab-client.js (a copy of it, as the
/// README says), and that copy, to every request; no Content-Security-Policy. Returns its
/// address; it serves until the test binary exits.
async fn embedding_site(listener: tokio::net::TcpListener, app: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let page = format!(
        "<!doctype html><title>another site</title><ul id=\"chat\"></ul>\n\
         <script type=\"module\">\n\
         import {{ connect }} from '/lab-client.js';\n\
         window.states = [];\n\
         window.chat = connect('{app}', {{ room: 'embedded', since: 0, client: 'embed-1', readyTimeoutMs: 3000,\n\
           onMessage: (m) => {{ const li = document.createElement('li'); li.dataset.id = m.id; li.textContent = m.text;\n\
             document.getElementById('chat').append(li); }},\n\
           onState: (text) => window.states.push(text) }});\n\
         </script>\n"
    );
    tokio::spawn(async move {
        // Bounded: the test loads one page and one script (and maybe a favicon).
        for _ in 0..16 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let n = socket.read(&mut head).await.unwrap_or(0);
                let script = head[..n].starts_with(b"GET /lab-client.js ");
                let (kind, body) = if script {
                    (
                        "text/javascript",
                        include_str!("../../static/lab-client.js").to_owned(),
                    )
                } else {
                    ("text/html", page)
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
}

/// The README's embedding: a page of another site imports lab-client.js and connects to this
/// server, which lets that origin in (`--cors-origins`, `--allowed-origins`). With its WebSocket
/// refused by the lab, the client still tells a refusal from an outage (it cannot read
/// `/healthz` from there, but gets an answer), falls back to SSE across origins, reads the
/// history from its cursor, and sends with a cross-origin POST.
pub async fn embedded_in_another_site(browser: &Browser) {
    println!("step: lab: lab-client.js embedded in another site's page falls back and sends");
    // The other site first: the server is told its origin.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    let server = transport_lab::startup::LocalServer::start(&[
        "--workers",
        "1",
        "--cors-origins",
        &site,
        "--allowed-origins",
        &site,
    ])
    .unwrap();
    let app = TestApp {
        addr: server.addr(),
        http: reqwest::Client::new(),
    };
    drop(server);
    embedding_site(listener, app.url("")).await;
    let refused = app
        .http
        .post(app.url("/api/lab?client=embed-1"))
        .json(&json!({"refuse_upgrade": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    burst(&app, "embedded", 1, 3).await.unwrap();

    browser.goto(&format!("{site}/")).await;
    browser
        .wait_for(
            "the embedded client live on SSE with the history",
            "return !!window.chat && window.chat.transport === 'sse' && window.chat.state === 'live' && \
               document.querySelectorAll('#chat li').length === 3;",
            15,
        )
        .await;
    browser
        .js("window.chat.send('from another site'); return true;")
        .await;
    browser
        .wait_for(
            "the page's own message",
            "return document.querySelectorAll('#chat li').length === 4;",
            10,
        )
        .await;
    burst(&app, "embedded", 5, 6).await.unwrap();
    browser
        .wait_for(
            "six messages",
            "return document.querySelectorAll('#chat li').length >= 6;",
            10,
        )
        .await;
    let shown = browser
        .js("return [[...document.querySelectorAll('#chat li')].map(li => [Number(li.dataset.id), li.textContent]), \
                    window.states, window.chat.stats.duplicates];")
        .await;
    assert_eq!(
        shown[0],
        json!([
            [1, "m1"],
            [2, "m2"],
            [3, "m3"],
            [4, "from another site"],
            [5, "m5"],
            [6, "m6"]
        ]),
        "{shown:#}"
    );
    let states = shown[1].as_array().unwrap();
    assert!(states.contains(&json!("ws refused → sse")), "{shown:#}");
    assert_eq!(shown[2], 0, "{shown:#}");
    // The send went out as a POST counted as an SSE send (a JSON POST across origins has a
    // CORS preflight too, which the browser may have cached: counted when it is made).
    let body = json!({"user": "anonymous", "text": "from another site"}).to_string();
    let sends = app.get_json("/api/stats?client=embed-1").await;
    assert_eq!(
        sends["sends"]["sse"]["up"]["payload"],
        body.len(),
        "{sends}"
    );
    browser.js("window.chat.close(); return true;").await;
    let _ = browser.console_errors().await;
    browser.goto("about:blank").await;
}

/// A restart is an outage, not a refusal: while the server is away the auto client retries its
/// WebSocket (the health check does not answer either) and never falls back; when the server is
/// back it reconnects on the WebSocket, takes the reset notice (a new run) and shows the new
/// run's messages from its first.
pub async fn a_restart_is_an_outage_not_a_refusal(browser: &Browser) {
    println!("step: lab: a server restart, the auto client waits on ws and takes the new run");
    // A server of its own, so restarting it leaves the suite's server alone.
    let flags = ["--workers", "2", "--heartbeat", "2"];
    let server = transport_lab::startup::LocalServer::start(&flags).unwrap();
    let addr = server.addr();
    let app = TestApp {
        addr,
        http: reqwest::Client::new(),
    };
    let (room, _) = open(browser, &app, "restart", "", "ws").await;
    burst(&app, &room, 1, 5).await.unwrap();
    wait_auto(browser, "given the first run", 10, |a| ids(a).len() == 5).await;

    server.stop().await.unwrap();
    let away = wait_auto(browser, "trying ws again with the server away", 10, |a| {
        logged(a, "ws failed: the server does not answer")
    })
    .await;
    assert_eq!(away["switches"], 0, "{away:#}");
    let restarted =
        transport_lab::startup::LocalServer::start_on(&addr.to_string(), &flags).unwrap();
    let back = wait_auto(browser, "live on ws again", 15, |a| {
        live_on(a, "ws") && a["reconnects"].as_u64().unwrap() >= 1
    })
    .await;
    burst(&app, &room, 1, 5).await.unwrap();
    let done = wait_auto(browser, "given the new run", 10, |a| ids(a).len() == 10).await;
    assert_eq!(ids(&done), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5], "{done:#}");
    assert!(logged(&done, "the server started over (reset)"), "{done:#}");
    assert_eq!(
        (&done["switches"], &done["shown_twice"], &done["net"]),
        (&json!(0), &json!(0), &json!(0)),
        "{back:#} {done:#}"
    );
    let _ = browser.console_errors().await;
    browser.goto("about:blank").await;
    restarted.stop().await.unwrap();
}

/// Heartbeats shorter than the idle cut save the connections: with a 1 s idle cut and the page's
/// streams and sockets asking for a heartbeat every 0.4 s (its heartbeat box, `?heartbeat=`),
/// neither the auto client nor the plain WebSocket, SSE and stream clients is cut in 3 quiet
/// seconds after a burst they all received.
pub async fn heartbeats_beat_the_idle_cut(browser: &Browser, app: &TestApp) {
    println!(
        "step: lab: heartbeats every 0.4 s keep every stream and socket through a 1 s idle cut"
    );
    let (room, client) = open(browser, app, "beat", "", "ws").await;
    browser
        .js("document.getElementById('lab-heartbeat').value = '0.4'; return true;")
        .await;
    apply(browser, app, &client, json!({"idle_cut_s": 1.0})).await;
    wait_auto(browser, "live on ws again", 10, |a| live_on(a, "ws")).await;
    burst(app, &room, 1, BURST).await.unwrap();
    let done = wait_auto(browser, &format!("given all {BURST}"), 10, |a| {
        ids(a).len() as u64 >= BURST
    })
    .await;
    assert_eq!(ids(&done), (1..=BURST).collect::<Vec<_>>(), "{done:#}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let quiet = auto(browser).await;
    assert!(live_on(&quiet, "ws"), "{quiet:#}");
    assert_eq!(quiet["reconnects"], 0, "{quiet:#}");
    let plain = browser
        .js("return ['ws', 'sse', 'stream'].map(t => { const p = document.getElementById('plain-' + t); \
               return [p.dataset.state, p.dataset.reconnects, p.dataset.received]; });")
        .await;
    let whole = BURST.to_string();
    assert_eq!(
        plain,
        json!([
            ["live", "0", whole],
            ["live", "0", whole],
            ["live", "0", whole]
        ])
    );
    close(browser, app).await;
}
