//! Requests the browser holds back (issue #16, item 5): over HTTP/1.1 a browser opens at most six
//! connections to one server, so a second tab of `/` (three held connections each: long poll,
//! stream, SSE) leaves every other request waiting in the browser, unsent. The pages must say so
//! rather than show "live" while nothing moves.

use crate::driver::Browser;
use crate::helpers::TestApp;

/// Panels whose badge says the browser holds their request, and whether the banner explains it.
const QUEUED: &str = "const banner = document.getElementById('queued-banner'); \
    return Number(document.body.dataset.queued) > 0 && !banner.hidden && \
      /at most six connections to one server/.test(banner.textContent) && \
      [...document.querySelectorAll('.panel [data-role=state].queued')] \
        .some(s => s.textContent === 'queued by the browser');";

/// A lesson beside `/` leaves a connection free, so nothing waits. Two tabs of `/` fill the
/// browser's six connections: the second tab's waiting requests are marked "queued by the
/// browser" on their panel and in the banner; once it is closed, the first tab's requests go out
/// and its panels are live again, with no banner.
pub async fn a_second_tab_says_its_requests_are_queued(browser: &Browser, app: &TestApp) {
    println!("step: two tabs of / fill six connections, and the pages say which requests wait");
    let room = format!("queue-{}", format!("{:?}", browser.engine).to_lowercase());
    let url = app.url(&format!("/?room={room}"));
    browser.goto(&url).await;
    browser
        .wait_for(
            "six live panels in the first tab",
            "return document.body.dataset.ready === 'yes' && \
             [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));",
            15,
        )
        .await;
    assert_eq!(
        browser.js("return [document.body.dataset.queued, document.getElementById('queued-banner').hidden];").await,
        serde_json::json!(["0", true]),
        "one tab holds three connections: nothing waits"
    );
    let first = browser.client.window().await.unwrap();
    let second = browser.client.new_window(true).await.unwrap().handle;
    browser.client.switch_to_window(second).await.unwrap();
    // A lesson beside `/` fits: its tap carries its counters, so it holds two connections (tap
    // and long poll), and with `/`'s three one is left for polls and posts.
    browser.open(&app.url("/transports/longpoll"), 15).await;
    browser
        .wait_for(
            "the lesson's figure under the plan",
            "return /^[0-9]+$/.test(document.querySelector('#plan-cost [data-plan=bytes]').textContent);",
            30,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        browser.js("return [document.body.dataset.queued, document.getElementById('lesson-status').textContent];").await,
        serde_json::json!(["0", "held"]),
        "beside a lesson, nothing waits"
    );
    browser.goto(&url).await;
    browser
        .wait_for("a panel queued by the browser, and the banner", QUEUED, 20)
        .await;
    browser.client.close_window().await.unwrap();
    browser.client.switch_to_window(first).await.unwrap();
    browser
        .wait_for(
            "the first tab live again, with no banner",
            "return document.body.dataset.queued === '0' && document.getElementById('queued-banner').hidden && \
             [...document.querySelectorAll('.panel [data-role=state]')].every(s => s.classList.contains('live'));",
            30,
        )
        .await;
}
