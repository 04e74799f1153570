//! `/overhead`'s message-rate slider: the plan measured again at another rate, and the page saying
//! which of short and long polling is cheaper there (issue #16, item 4); HTTP/1.1 beside HTTP/2,
//! and HPACK in words with the measured numbers (issue #12).

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::driver::Browser;
use crate::helpers::TestApp;

/// The HTTP/2 table and the HPACK paragraph show the measurement: for a poll with browser headers,
/// HTTP/2 costs fewer bytes a message, its later request heads are smaller than its first and
/// that smaller than the HTTP/1.1 head; the WebSocket rows say HTTP/1.1 only. The toggle to
/// curl-like headers redraws them with that set's (smaller) heads.
pub async fn http2_beside_http1(browser: &Browser, app: &TestApp) {
    println!("step: /overhead sets HTTP/1.1 beside HTTP/2 and explains HPACK with its numbers");
    browser.open(&app.url("/overhead"), 30).await;
    let read = "const n = (s) => Number(s.replace(/[^0-9.]/g, ''));         const row = (t) => [...document.querySelectorAll('#h2-table tbody tr')][t].children;         const hp = (k) => n(document.querySelector('[data-hp=' + k + ']').textContent);         const poll = row(0), ws = row(4);         return [n(poll[1].textContent), n(poll[2].textContent), hp('h1'), hp('first'), hp('later'),                 ws[2].textContent, document.querySelector('[data-hp=set]').textContent];";
    let browser_set = browser.js(read).await;
    let v = |i: usize| browser_set[i].as_f64().unwrap();
    assert!(
        v(1) < v(0),
        "HTTP/2 poll costs less a message: {browser_set}"
    );
    assert!(
        v(4) < v(3) && v(3) < v(2),
        "later < first < HTTP/1.1: {browser_set}"
    );
    assert_eq!(browser_set[5], "HTTP/1.1 only");
    assert_eq!(browser_set[6], "browser-like");
    browser.click("input[name=hs][value=curl]").await;
    let curl_set = browser.js(read).await;
    assert_eq!(curl_set[6], "curl-like");
    assert!(
        curl_set[2].as_f64().unwrap() < v(2),
        "curl's head is smaller: {curl_set}"
    );
    browser.click("input[name=hs][value=browser]").await;
}

/// At the plan's 2 messages a second long polling is cheaper; moved with the keyboard to 10 a
/// second (past the crossover at 4), the slider has the server measure again and the page says
/// short polling is cheaper, with the plan it measured.
pub async fn the_rate_slider_moves_the_crossover(browser: &Browser, app: &TestApp) {
    println!("step: the rate slider re-measures, and short polling wins past the crossover");
    browser.open(&app.url("/overhead"), 30).await;
    let verdict =
        "const v = document.getElementById('verdict'); return [v.dataset.rate, v.dataset.winner];";
    assert_eq!(browser.js(verdict).await, json!(["2", "longpoll"]));
    let slider = browser.client.find(Locator::Css("#rate")).await.unwrap();
    // 2 → 3 → 4 → 5 → 6 → 8 → 10: six stops, each a `change`; only where it rests is measured.
    for _ in 0..6 {
        slider.send_keys(&Key::Right.to_string()).await.unwrap();
    }
    assert_eq!(
        browser
            .js("return document.getElementById('rate-out').textContent;")
            .await,
        json!("10")
    );
    browser
        .wait_for(
            "the measurement at 10 messages a second",
            "return document.body.dataset.measured === '10';",
            30,
        )
        .await;
    assert_eq!(browser.js(verdict).await, json!(["10", "poll"]));
    let plan = browser
        .js("return document.getElementById('ov-plan').textContent;")
        .await;
    assert!(
        plan.as_str().unwrap().contains("40 messages")
            && plan.as_str().unwrap().contains("one every 100 ms"),
        "{plan}"
    );
}
