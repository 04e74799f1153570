//! Rooms on `/` (the picker, `?room=`, "to others"), `/class` and the walkthrough's rooms step.
//!
//! Two pages at once, as two windows of the one session. A page of `/` holds three of the
//! browser's six HTTP/1.1 connections per host, so the second page is opened through
//! `localhost` and the first through `127.0.0.1`: two hosts, two connection pools.

use fantoccini::Locator;
use fantoccini::wd::WindowHandle;
use serde_json::Value;

use crate::driver::Browser;
use crate::helpers::TestApp;
use crate::index::{TRANSPORTS, compose};

/// Waits until the page is in `room` with all six panels live.
async fn wait_live_in(browser: &Browser, room: &str) {
    browser
        .wait_for(
            &format!("six live panels in {room}"),
            &format!(
                "return document.body.dataset.ready === 'yes' && document.body.dataset.room === '{room}' && \
                 [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));"
            ),
            15,
        )
        .await;
}

/// For each panel: the rooms of the messages it shows with `text` (empty: not shown there).
async fn rooms_showing(browser: &Browser, text: &str) -> Value {
    let script = format!(
        "const t = {}; return {TRANSPORTS:?}.map(p => \
           [...document.querySelectorAll('#panel-' + p + ' li[data-id]')] \
             .filter(li => li.querySelector('.text').textContent === t) \
             .map(li => li.querySelector('.room').textContent));",
        serde_json::to_string(text).unwrap()
    );
    browser.js(&script).await
}

/// Waits until all six panels show `text`, each once, in `room`.
async fn wait_in_all_six(browser: &Browser, text: &str, room: &str) {
    let want = serde_json::json!(vec![[room]; TRANSPORTS.len()]);
    for _ in 0..150 {
        if rooms_showing(browser, text).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{text:?} did not reach all six panels in {room}: {}",
        rooms_showing(browser, text).await
    );
}

/// Asserts that no panel shows `text`.
async fn in_no_panel(browser: &Browser, text: &str) {
    let none = serde_json::json!(vec![Vec::<String>::new(); TRANSPORTS.len()]);
    assert_eq!(rooms_showing(browser, text).await, none, "{text:?} shown");
}

/// Two pages: A on `127.0.0.1`, B on `localhost`, each in its own window.
struct TwoPages {
    a: WindowHandle,
    b: WindowHandle,
}

async fn open_two(browser: &Browser, app: &TestApp, room_a: &str, room_b: &str) -> TwoPages {
    browser.goto(&app.url(&format!("/?room={room_a}"))).await;
    wait_live_in(browser, room_a).await;
    let a = browser.client.window().await.unwrap();
    let b = browser.client.new_window(false).await.unwrap().handle;
    browser.client.switch_to_window(b.clone()).await.unwrap();
    browser
        .goto(&format!(
            "http://localhost:{}/?room={room_b}",
            app.addr.port()
        ))
        .await;
    wait_live_in(browser, room_b).await;
    TwoPages { a, b }
}

impl TwoPages {
    async fn to(&self, browser: &Browser, which: &WindowHandle) {
        browser
            .client
            .switch_to_window(which.clone())
            .await
            .unwrap();
    }

    /// Closes B and leaves A on a blank page, so no connection of either stays open.
    async fn close(self, browser: &Browser) {
        self.to(browser, &self.b).await;
        browser.client.close_window().await.unwrap();
        self.to(browser, &self.a).await;
        browser.goto("about:blank").await;
    }
}

/// A message sent in room r1 reaches the six panels of a page in r1 and none of a page in r2;
/// the picker lists both rooms with their people; a name the server refuses shows its reason.
pub async fn a_message_stays_in_its_room(browser: &Browser, app: &TestApp) {
    println!("step: a message sent in r1 reaches r1's six panels and none of r2's");
    let pages = open_two(browser, app, "r1", "r2").await;
    pages.to(browser, &pages.a).await;
    compose(browser, "sse", "only for r1").await;
    wait_in_all_six(browser, "only for r1", "r1").await;
    // B's panels are live in r2: its own message arrives, and the r1 message never did.
    pages.to(browser, &pages.b).await;
    compose(browser, "ws", "only for r2").await;
    wait_in_all_six(browser, "only for r2", "r2").await;
    in_no_panel(browser, "only for r1").await;
    pages.to(browser, &pages.a).await;
    in_no_panel(browser, "only for r2").await;

    // The picker lists both rooms, each with one person on each of the five transports.
    browser
        .wait_for(
            "r1 and r2 in the room list, one person each",
            "const row = (r) => document.querySelector('#room-list tr[data-room=\"' + r + '\"]'); \
             return ['r1', 'r2'].every(r => row(r) && row(r).children[1].textContent === '1' && \
               [...row(r).children].slice(2, 7).every(td => td.textContent === '1'));",
            10,
        )
        .await;
    let here = browser
        .js("return [document.getElementById('room-current').textContent, document.getElementById('room-people').dataset.members];")
        .await;
    assert_eq!(here, serde_json::json!(["Room r1", "1"]));

    // A name the server refuses: its 400 says why, and the page stays where it was.
    let name = browser.client.find(Locator::Id("room-name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("no spaces!").await.unwrap();
    browser.click("#room-form button[type=submit]").await;
    browser
        .wait_for(
            "the server's reason",
            "return document.getElementById('room-status').textContent.startsWith('not joined: room must be 1 to 64 characters');",
            10,
        )
        .await;
    let room = browser.js("return document.body.dataset.room;").await;
    assert_eq!(room, "r1");
    pages.close(browser).await;
}

/// Two pages in one room: "to others" from A reaches all six of B's panels and none of A's
/// (they share A's client id, the one the send names in `except`), on a POST and on the socket.
/// B joins through the picker, which puts the room in its URL.
pub async fn to_others_skips_every_panel_of_the_sender(browser: &Browser, app: &TestApp) {
    println!("step: 'to others' reaches the other page's five panels and none of the sender's");
    let pages = open_two(browser, app, "r1", "lobby").await;
    pages.to(browser, &pages.b).await;
    let name = browser.client.find(Locator::Id("room-name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("r1").await.unwrap();
    browser.click("#room-form button[type=submit]").await;
    wait_live_in(browser, "r1").await;
    let search = browser.js("return location.search;").await;
    assert_eq!(search, "?room=r1");

    pages.to(browser, &pages.a).await;
    browser.click("#c-others").await;
    for via in ["poll", "ws", "socketio"] {
        compose(browser, via, &format!("to others via {via}")).await;
    }
    browser
        .wait_for(
            "the second send acknowledged",
            "return document.getElementById('c-status').textContent.includes('(others only) via socketio');",
            10,
        )
        .await;
    // Then one to everyone: once A shows it, A would have shown the earlier ones too.
    browser.click("#c-others").await;
    compose(browser, "poll", "to everyone").await;
    wait_in_all_six(browser, "to everyone", "r1").await;
    for via in ["poll", "ws", "socketio"] {
        in_no_panel(browser, &format!("to others via {via}")).await;
    }
    pages.to(browser, &pages.b).await;
    for via in ["poll", "ws", "socketio"] {
        wait_in_all_six(browser, &format!("to others via {via}"), "r1").await;
    }
    wait_in_all_six(browser, "to everyone", "r1").await;

    if crate::pages::saving_screenshots(browser) {
        browser.viewport(1280, 720).await;
        browser.js("window.scrollTo(0, 0); return true;").await;
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        crate::pages::save_screenshot(browser, "rooms").await;
    }
    pages.close(browser).await;
}

/// `/class?room=r1` shows the address of `/?room=r1` as text and as an inline SVG QR code, and
/// counts the people in the rooms.
pub async fn class_shows_the_address_and_its_qr_code(browser: &Browser, app: &TestApp) {
    println!("step: /class shows the address and its QR code");
    browser.goto(&app.url("/class?room=r1")).await;
    browser
        .wait_for(
            "the counts",
            "return document.body.dataset.ready === 'yes' && document.getElementById('class-total').dataset.members !== undefined;",
            10,
        )
        .await;
    let shown = browser
        .js("return [document.getElementById('class-url').textContent, \
               document.querySelectorAll('#class-qr svg path').length, \
               document.querySelector('#class-qr svg').getAttribute('viewBox')];")
        .await;
    assert_eq!(shown[0], app.url("/?room=r1").as_str(), "{shown}");
    assert_eq!(shown[1], 1, "{shown}");
    assert!(shown[2].as_str().unwrap().starts_with("0 0 "), "{shown}");
    if crate::pages::saving_screenshots(browser) {
        crate::pages::save_screenshot(browser, "class").await;
    }
}

/// The walkthrough's rooms step: of two clients in group-a and group-b, only group-a's gets the
/// message posted to group-a.
pub async fn walkthrough_rooms_step(browser: &Browser, app: &TestApp) {
    println!("step: the walkthrough's rooms step");
    browser.open(&app.url("/walkthrough"), 15).await;
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    let page = browser.client.find(Locator::Css("body")).await.unwrap();
    // The first key starts step 1, six more reach step 7.
    for _ in 0..7 {
        page.send_keys(&fantoccini::key::Key::Right).await.unwrap();
    }
    browser
        .wait_for("step 7", "return document.body.dataset.step === '7';", 5)
        .await;
    browser
        .wait_for(
            "group-a's client receiving the message",
            "return document.querySelector('[data-room=group-a]').dataset.received === '1';",
            15,
        )
        .await;
    let got = browser
        .js("return [...document.querySelectorAll('#rooms-demo [data-room]')].map(s => [s.dataset.room, s.dataset.received, s.querySelector('li') ? s.querySelector('li').textContent : null]);")
        .await;
    let a = got[0][2].as_str().unwrap();
    assert!(
        a.ends_with(" in group-a: teacher: only for group-a"),
        "{got}"
    );
    assert_eq!(got[1], serde_json::json!(["group-b", "0", null]), "{got}");
    browser.goto("about:blank").await;
}
