//! Numbers that answer the questions (issue #16): the walkthrough counts each step from zero and
//! sends nothing before the presenter's key, its keys work whatever has focus, it fits a projector,
//! lesson pages fit a phone, the pages do not jump while loading, and scroll regions and buttons
//! can be reached and told apart with a keyboard and a screen reader.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::driver::{Browser, Engine};
use crate::helpers::TestApp;

const LESSONS: [&str; 6] = ["poll", "longpoll", "stream", "sse", "ws", "socketio"];

/// A room no other step uses, so "nothing was posted" is about this page alone.
fn fresh_room(engine: Engine, what: &str) -> String {
    format!("{what}-{}", format!("{engine:?}").to_lowercase())
}

async fn messages_in(app: &TestApp, room: &str) -> Vec<Value> {
    app.get_json(&format!("/api/poll?since=0&room={room}"))
        .await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

async fn open_walkthrough(browser: &Browser, app: &TestApp, query: &str) {
    browser
        .goto(&app.url(&format!("/walkthrough{query}")))
        .await;
    browser
        .wait_for(
            "walkthrough ready",
            "return document.body.dataset.ready === 'yes';",
            15,
        )
        .await;
}

/// The step on screen: its number and its title.
async fn step(browser: &Browser) -> Value {
    browser
        .js("return [document.body.dataset.step, document.querySelector('#steps > li:not([hidden]) h1').textContent];")
        .await
}

/// Sends `key` to whatever has focus, as a presenter's clicker would.
async fn press(browser: &Browser, key: Key) {
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys(&key).await.unwrap();
}

/// Opening the walkthrough posts nothing (every student may open it); the presenter's key starts
/// step 1, whose panel then counts exactly the step's 3 messages: no history from the room, no
/// requests or messages of before the step.
pub async fn walkthrough_counts_each_step_from_zero(browser: &Browser, app: &TestApp) {
    println!(
        "step: the walkthrough posts nothing before a key, and step 1 counts its own 3 messages"
    );
    let room = fresh_room(browser.engine, "walk-zero");
    open_walkthrough(browser, app, &format!("?room={room}")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        messages_in(app, &room).await,
        Vec::<Value>::new(),
        "the walkthrough posted before any key was pressed"
    );
    // History the step must not count: two messages already in the room.
    for text in ["old one", "old two"] {
        app.http
            .post(app.url(&format!("/api/messages?room={room}")))
            .json(&json!({"user": "earlier", "text": text}))
            .send()
            .await
            .unwrap();
    }
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    press(browser, Key::Right).await;
    let poll = "document.querySelector('#panel-poll')";
    browser
        .wait_for(
            "step 1's 3 messages counted by the poll panel",
            &format!("return {poll}.querySelector('[data-stat=messages]').dataset.value === '3';"),
            15,
        )
        .await;
    // A few more counter ticks: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let shown = browser
        .js(&format!(
            "const p = {poll}; return [document.body.dataset.step, p.querySelector('[data-stat=messages]').dataset.value, \
             p.querySelector('[data-role=detector]').dataset.received, p.querySelectorAll('[data-role=messages] li').length];"
        ))
        .await;
    assert_eq!(
        shown,
        json!(["1", "3", "3", 3]),
        "step, counted, received, listed"
    );
    let texts: Vec<String> = messages_in(app, &room)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "old one",
            "old two",
            "burst 1 of 3",
            "burst 2 of 3",
            "burst 3 of 3"
        ]
    );
    browser.goto("about:blank").await;
}

/// Keys move the walkthrough even after a mouse click left a button focused, and the keys a
/// presentation clicker sends (PageDown, PageUp) work like the arrows.
pub async fn walkthrough_keys_work_after_a_click(browser: &Browser, app: &TestApp) {
    println!("step: walkthrough keys after a click: PageDown, ArrowRight, Space, PageUp");
    open_walkthrough(browser, app, "?room=walk-keys").await;
    // The click starts step 1 and leaves "next" focused.
    browser.click("#next").await;
    let focused = browser
        .js("return document.activeElement && document.activeElement.id;")
        .await;
    // WebKit-style engines do not focus a clicked button; both engines here do.
    assert_eq!(focused, json!("next"), "the clicked button has focus");
    for (key, want) in [
        (Key::PageDown, ["2", "2. Long polling"]),
        (Key::Right, ["3", "3. HTTP streaming"]),
        (Key::Space, ["4", "4. Server-Sent Events"]),
        (Key::PageUp, ["3", "3. HTTP streaming"]),
        (Key::Left, ["2", "2. Long polling"]),
    ] {
        press(browser, key).await;
        browser
            .wait_for(
                &format!("step {} after {key:?}", want[0]),
                &format!("return document.body.dataset.step === '{}';", want[0]),
                5,
            )
            .await;
        // A moment for a second move (a button's own click on key-up) to show.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(step(browser).await, json!(want), "after {key:?}");
    }
    // Typing in the compose box moves nothing.
    browser
        .js("document.querySelector('details.more').open = true; return true;")
        .await;
    let text = browser.client.find(Locator::Id("c-text")).await.unwrap();
    text.send_keys(" ab").await.unwrap();
    text.send_keys(&Key::Left).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(step(browser).await, json!(["2", "2. Long polling"]));
    browser.goto("about:blank").await;
}

/// At 1280x720 the walkthrough's header spans the window, and every step fits without vertical
/// scrolling (its question and counters on screen).
pub async fn walkthrough_fits_a_projector(browser: &Browser, app: &TestApp) {
    println!("step: the walkthrough fits 1280x720, every step");
    browser.viewport(1280, 720).await;
    open_walkthrough(browser, app, "?room=walk-fit").await;
    let header = browser
        .js("return [document.querySelector('header.top').getBoundingClientRect().width, innerWidth];")
        .await;
    assert_eq!(header[0], header[1], "header width, window width");
    // The compose box's inputs keep their size (they lost it to the overhead form's rules).
    let input = browser
        .js("document.querySelector('details.more').open = true; const w = document.getElementById('c-text').getBoundingClientRect().width; document.querySelector('details.more').open = false; return w;")
        .await;
    assert!(
        input.as_f64().unwrap() > 200.0,
        "compose input {input} px wide"
    );
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    for n in 1..=8 {
        press(browser, Key::Right).await;
        browser
            .wait_for(
                &format!("step {n}"),
                &format!("return document.body.dataset.step === '{n}';"),
                5,
            )
            .await;
        // The step's panels and their first messages in place.
        tokio::time::sleep(Duration::from_millis(if n == 7 {
            2500
        } else if n == 8 {
            5000
        } else {
            3500
        }))
        .await;
        let fit = browser
            .js("const s = document.scrollingElement; const q = document.querySelector('#steps > li:not([hidden]) .question').getBoundingClientRect(); \
                 const hot = [...document.querySelectorAll('.panel:not(.hidden) .ledger')].map(l => l.getBoundingClientRect()); \
                 return [s.scrollHeight, innerHeight, q.bottom, Math.max(0, ...hot.map(r => r.bottom)), \
                 parseFloat(getComputedStyle(document.querySelector('#steps > li:not([hidden]) .question')).fontSize)];")
            .await;
        let f = |i: usize| fit[i].as_f64().unwrap();
        assert!(
            f(0) <= f(1) + 2.0,
            "step {n} scrolls: page {} px in a {} px window ({fit})",
            f(0),
            f(1)
        );
        assert!(
            f(2) <= f(1) && f(3) <= f(1),
            "step {n}: question or counters below the window ({fit})"
        );
        assert!(
            f(4) >= 22.0,
            "step {n}: the question is {} px, too small for the back row",
            f(4)
        );
    }
    browser.goto("about:blank").await;
}

/// On a phone (390 px), no lesson page is wider than the screen, and its strengths, weaknesses
/// and pitfalls stack instead of overlapping.
pub async fn lessons_fit_a_phone(browser: &Browser, app: &TestApp) {
    println!("step: lesson pages fit a 390 px phone");
    browser.goto("about:blank").await;
    browser.viewport(390, 844).await;
    for t in LESSONS {
        browser
            .open(&app.url(&format!("/transports/{t}")), 15)
            .await;
        let got = browser
            .js("const boxes = [...document.querySelectorAll('.pros > div, .heads > div')].map(d => d.getBoundingClientRect()); \
                 const overlaps = []; for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) { \
                   const a = boxes[i], b = boxes[j]; \
                   if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps.push([i, j]); } \
                 return [document.documentElement.scrollWidth, innerWidth, boxes.length, overlaps];")
            .await;
        assert!(
            got[0].as_f64().unwrap() <= got[1].as_f64().unwrap(),
            "/transports/{t}: {} px of content in a {} px window",
            got[0],
            got[1]
        );
        assert_eq!(
            got[2],
            json!(5),
            "/transports/{t}: three pros/cons boxes and two heads"
        );
        assert_eq!(got[3], json!([]), "/transports/{t}: boxes overlap");
    }
    browser.goto("about:blank").await;
    browser.viewport(1280, 720).await;
}

/// Neither the walkthrough nor /overhead moves under the reader while it loads: the cumulative
/// layout shift (without recent input) stays under 0.1. Chromium reports layout shifts; Firefox
/// does not implement the 'layout-shift' entry type and is skipped with a message.
pub async fn pages_do_not_shift_while_loading(browser: &Browser, app: &TestApp) {
    println!("step: cumulative layout shift under 0.1 on /walkthrough and /overhead");
    browser.viewport(1280, 720).await;
    let supported = browser
        .js("return (PerformanceObserver.supportedEntryTypes || []).includes('layout-shift');")
        .await;
    if supported != json!(true) {
        println!(
            "  SKIPPED in {:?}: no 'layout-shift' performance entries",
            browser.engine
        );
        return;
    }
    for page in ["/walkthrough", "/overhead"] {
        browser.open(&app.url(page), 30).await;
        // Whatever a late answer redraws, too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let cls = browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; let sum = 0; const shifts = []; \
                 new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) { sum += e.value; \
                   shifts.push([e.value, e.sources.map(s => s.node ? (s.node.id || s.node.className || s.node.nodeName) : '?')]); } }) \
                   .observe({ type: 'layout-shift', buffered: true }); \
                 setTimeout(() => done([sum, shifts]), 300);",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            cls[0].as_f64().unwrap() < 0.1,
            "{page}: cumulative layout shift {} (shifts {})",
            cls[0],
            cls[1]
        );
    }
    browser.goto("about:blank").await;
}

/// Every region that scrolls can be reached with the keyboard (tabindex 0, with a name), and every
/// button on `/` has a name of its own ("Pause SSE", not five "Pause").
pub async fn scroll_regions_and_buttons_have_names(browser: &Browser, app: &TestApp) {
    println!("step: scroll regions are focusable and named, buttons on / are unique");
    browser.viewport(1280, 720).await;
    // Enough messages that the panels' lists scroll.
    for i in 0..30 {
        app.http
            .post(app.url("/api/messages?room=scroll-check"))
            .json(&json!({"user": "grace", "text": format!("filler {i} so the lists scroll")}))
            .send()
            .await
            .unwrap();
    }
    let mut pages: Vec<String> = vec![
        "/?room=scroll-check".into(),
        "/overhead".into(),
        "/walkthrough".into(),
    ];
    pages.extend(LESSONS.map(|t| format!("/transports/{t}")));
    for page in &pages {
        browser.open(&app.url(page), 30).await;
        if page.starts_with("/?") {
            browser
                .wait_for(
                    "the panels' lists to scroll",
                    "return [...document.querySelectorAll('.panel .messages')].every(l => l.scrollHeight > l.clientHeight);",
                    15,
                )
                .await;
        }
        let bad = browser
            .js("return [...document.querySelectorAll('body *')].filter(e => { \
                   const s = getComputedStyle(e); \
                   const scrolls = (['auto', 'scroll'].includes(s.overflowY) && e.scrollHeight > e.clientHeight) \
                     || (['auto', 'scroll'].includes(s.overflowX) && e.scrollWidth > e.clientWidth); \
                   return scrolls && !(e.tabIndex >= 0 && (e.getAttribute('aria-label') || '').trim()); \
                 }).map(e => e.id || e.className || e.nodeName);")
            .await;
        assert_eq!(
            bad,
            json!([]),
            "{page}: scroll regions without tabindex or name"
        );
    }
    browser.open(&app.url("/"), 15).await;
    let names = browser
        .js("return [...document.querySelectorAll('button')].map(b => (b.getAttribute('aria-label') || b.textContent).trim());")
        .await;
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "buttons on / with the same name: {names:?}"
    );
    assert!(names.iter().all(|n| !n.is_empty()), "{names:?}");
    assert!(
        names.contains(&"Pause SSE".to_owned()) || names.iter().any(|n| n.starts_with("Pause ")),
        "{names:?}"
    );
    browser.goto("about:blank").await;
}

/// The current step's teacher's notes, as shown: whether displayed, and their text.
const NOTES: &str = "const n = document.querySelector('#steps > li:not([hidden]) .teacher-notes'); \
    if (!n) return [false, null, 0]; \
    return [getComputedStyle(n).display !== 'none', n.textContent.replace(/\\s+/g, ' '), \
      [...document.querySelectorAll('.teacher-notes')].filter(x => x.getClientRects().length > 0).length];";

/// The teacher's notes are hidden until `n` is pressed, then show the current step's expected
/// answer with its live number (step 1: the poll panel's 3 messages and its request count), the
/// time to spend and the common wrong answer; `n` again hides them.
pub async fn walkthrough_notes_toggle_with_n(browser: &Browser, app: &TestApp) {
    println!("step: n shows and hides the teacher's notes, with the step's live numbers");
    open_walkthrough(browser, app, "?room=walk-notes").await;
    let shown = browser.js(NOTES).await;
    assert_eq!(
        (&shown[0], &shown[2]),
        (&json!(false), &json!(0)),
        "hidden at first"
    );
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    press(browser, Key::Right).await;
    let poll = "document.querySelector('#panel-poll')";
    browser
        .wait_for(
            "step 1's 3 messages",
            &format!("return {poll}.querySelector('[data-stat=messages]').dataset.value === '3';"),
            15,
        )
        .await;
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys("n").await.unwrap();
    browser
        .wait_for(
            "the notes shown",
            "return document.body.dataset.notes === 'shown';",
            5,
        )
        .await;
    let shown = browser.js(NOTES).await;
    assert_eq!((&shown[0], &shown[2]), (&json!(true), &json!(1)), "{shown}");
    let text = shown[1].as_str().unwrap();
    for part in [
        "Expected answer:",
        "Time: 4 minutes.",
        "Common wrong answer: \"3 requests, one per message.\"",
    ] {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
    // The live numbers are the panel's own.
    browser
        .wait_for(
            "the notes' numbers equal the poll panel's",
            &format!(
                "const live = (k) => document.querySelector('#steps > li:not([hidden]) [data-live=\"poll.' + k + '\"]').textContent; \
                 const p = {poll}; return live('messages') === '3' && \
                   live('requests') === p.querySelector('[data-stat=requests]').dataset.value && \
                   live('empty') === p.querySelector('[data-stat=empty]').dataset.value && \
                   live('per_message') === String(Math.round(p.querySelector('[data-stat=per_message]').dataset.value));"
            ),
            5,
        )
        .await;
    assert_eq!(step(browser).await[0], json!("1"), "n moved no step");
    if crate::pages::saving_screenshots(browser) {
        crate::pages::save_screenshot(browser, "walkthrough-notes").await;
    }
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys("n").await.unwrap();
    browser
        .wait_for(
            "the notes hidden",
            "return document.body.dataset.notes === 'hidden';",
            5,
        )
        .await;
    let shown = browser.js(NOTES).await;
    assert_eq!(
        (&shown[0], &shown[2]),
        (&json!(false), &json!(0)),
        "hidden again"
    );
    browser.goto("about:blank").await;
}

/// The walkthrough's reset asks first: cancelled, the room keeps its messages; confirmed (from
/// loopback, so without a token), the room starts over, and step 1 then runs on it from id 1.
pub async fn walkthrough_starts_the_room_over(browser: &Browser, app: &TestApp) {
    println!("step: the walkthrough starts its room over after a confirmation");
    let room = fresh_room(browser.engine, "walk-reset");
    for text in ["old one", "old two"] {
        app.http
            .post(app.url(&format!("/api/messages?room={room}")))
            .json(&json!({"user": "earlier", "text": text}))
            .send()
            .await
            .unwrap();
    }
    let newest = |room: String| async move {
        app.get_json(&format!("/api/rooms/{room}")).await["newest_id"].clone()
    };
    open_walkthrough(browser, app, &format!("?room={room}")).await;
    browser
        .js("document.querySelector('details.more').open = true; return true;")
        .await;
    browser.click("#reset-open").await;
    assert_eq!(
        browser
            .js("return document.getElementById('reset-dialog').open;")
            .await,
        json!(true)
    );
    browser.click("#reset-cancel").await;
    assert_eq!(
        browser
            .js("return document.getElementById('reset-dialog').open;")
            .await,
        json!(false)
    );
    assert_eq!(
        newest(room.clone()).await,
        json!(2),
        "cancelled: nothing changed"
    );
    browser.click("#reset-open").await;
    browser.click("#reset-confirm").await;
    browser
        .wait_for(
            "the room started over",
            "return !!document.body.dataset.reset && !document.getElementById('reset-dialog').open;",
            10,
        )
        .await;
    assert_eq!(newest(room.clone()).await, json!(0));
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    press(browser, Key::Right).await;
    browser
        .wait_for(
            "step 1's 3 messages, from id 1 of the new run",
            "const p = document.querySelector('#panel-poll'); \
             return p.querySelector('[data-role=detector]').dataset.received === '3' && \
               [...p.querySelectorAll('[data-role=messages] li[data-id]')].map(li => li.dataset.id).join() === '3,2,1' && \
               p.querySelector('[data-role=detector]').dataset.gaps === '0';",
            15,
        )
        .await;
    browser.goto("about:blank").await;
}

/// The hostile step breaks the network for its own client ids only: SSE and the stream stall, the
/// auto client ends on long polling with each of the step's 5 messages once, and leaving the step
/// clears the faults.
pub async fn walkthrough_hostile_step_falls_back_to_long_polling(browser: &Browser, app: &TestApp) {
    println!("step: walkthrough step 8, the auto client on long polling with every message once");
    browser.viewport(1280, 720).await;
    let room = fresh_room(browser.engine, "walk-hostile");
    open_walkthrough(browser, app, &format!("?room={room}")).await;
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    // Quickly to step 7 (its message goes to group-a), then long enough for the earlier steps'
    // messages, sent after their 1.5 s pause, to be in the room before step 8 starts.
    for _ in 0..7 {
        press(browser, Key::Right).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let before = messages_in(app, &room).await.len();
    press(browser, Key::Right).await;
    browser
        .wait_for("step 8", "return document.body.dataset.step === '8';", 5)
        .await;
    browser
        .wait_for(
            "the auto client's 5 messages on long polling",
            "const a = document.getElementById('auto-panel'); \
             return !a.hidden && a.dataset.on === 'longpoll' && a.querySelector('[data-role=auto-detector]').dataset.received === '5';",
            30,
        )
        .await;
    // A moment for a duplicate to show, if one were coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = browser
        .js("const a = document.getElementById('auto-panel'); const d = a.querySelector('[data-role=auto-detector]').dataset; \
             const log = [...a.querySelectorAll('[data-role=auto-log] li')].map(li => li.textContent); \
             return [a.dataset.on, a.dataset.client, [...a.querySelectorAll('[data-role=auto-messages] li')].map(li => li.dataset.transport), \
               d.received, d.gaps, d.dups, log.some(l => l.includes('sse buffered → longpoll')), \
               ['sse', 'stream'].map(t => document.querySelector('#panel-' + t + ' [data-role=detector]').dataset.received), \
               document.querySelector('#panel-sse [data-role=state]').classList.contains('live'), document.body.dataset.queued];")
        .await;
    let auto_id = got[1].as_str().unwrap().to_owned();
    assert_eq!(
        got,
        json!([
            "longpoll",
            auto_id,
            ["longpoll", "longpoll", "longpoll", "longpoll", "longpoll"],
            "5",
            "0",
            "0",
            true,
            ["0", "0"],
            false,
            "0"
        ]),
        "transport, client, messages' transports, received, gaps, dups, fell back from buffered SSE, \
         SSE and stream received, SSE live, requests marked queued by the browser"
    );
    let page_id = auto_id.trim_end_matches("-auto").to_owned();
    let posted = messages_in(app, &room).await;
    let ids: Vec<_> = posted[before..].iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids.len(), 5, "{posted:?}");
    let shown = browser
        .js("return [...document.querySelectorAll('#auto-panel [data-role=auto-messages] li')].map(li => Number(li.dataset.id)).reverse();")
        .await;
    assert_eq!(shown, json!(ids));
    for id in [&page_id, &auto_id] {
        let faults = app.get_json(&format!("/api/lab?client={id}")).await;
        assert_eq!(faults["faults"]["refuse_upgrade"], true, "{id}: {faults}");
        assert_eq!(faults["faults"]["buffer_kib"], 8, "{id}: {faults}");
    }

    if crate::pages::saving_screenshots(browser) {
        crate::pages::save_screenshot(browser, "walkthrough-hostile").await;
    }

    // Leaving the step clears the faults of its ids.
    press(browser, Key::Left).await;
    browser
        .wait_for("step 7", "return document.body.dataset.step === '7';", 5)
        .await;
    for id in [&page_id, &auto_id] {
        let mut cleared = false;
        for _ in 0..50 {
            let faults = app.get_json(&format!("/api/lab?client={id}")).await;
            if faults["faults"]["refuse_upgrade"] == false
                && faults["faults"]["buffer_kib"].is_null()
            {
                cleared = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(cleared, "{id}: faults left on after leaving the step");
    }
    assert_eq!(
        browser
            .js("return document.getElementById('auto-panel').hidden;")
            .await,
        json!(true)
    );
    browser.goto("about:blank").await;
}
