//! What the pages say, checked word for word: what a send through a paused panel says, sequence
//! diagram labels shown whole, and the counters saying what they count (receiving apart from
//! sending, written by the server apart from received by the page).

use crate::driver::Browser;
use crate::helpers::TestApp;
use crate::index::{compose, open_index};

/// Sending through a paused WebSocket panel says what to do, not only that it is "not open".
pub async fn a_send_through_a_paused_socket_says_what_to_do(browser: &Browser, app: &TestApp) {
    println!("step: a send through a paused socket says what to do");
    open_index(browser, app).await;
    browser.click("#panel-ws [data-act=pause]").await;
    compose(browser, "ws", "into a paused socket").await;
    browser
        .wait_for(
            "the compose status to say how to send",
            "return /press Resume on it, or send via another transport/ \
               .test(document.getElementById('c-status').textContent);",
            10,
        )
        .await;
    browser.click("#panel-ws [data-act=pause]").await;
}

/// A WebSocket frame's arrow label (longer than the 70 characters it was once cut at) is shown
/// whole, with its full text as the tooltip.
pub async fn diagram_labels_are_whole(browser: &Browser, app: &TestApp) {
    println!("step: sequence diagram labels are whole");
    browser.goto(&app.url("/transports/ws")).await;
    browser
        .wait_for(
            "an arrow for a WebSocket frame",
            "return [...document.querySelectorAll('#seq text.label')] \
               .some(t => /websocket frame/.test(t.firstChild.textContent));",
            15,
        )
        .await;
    let labels = browser
        .js("return [...document.querySelectorAll('#seq text.label')] \
               .filter(t => /websocket frame/.test(t.firstChild.textContent)) \
               .map(t => [t.firstChild.textContent, t.querySelector('title').textContent]);")
        .await;
    for pair in labels.as_array().unwrap() {
        let (shown, tooltip) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        assert!(shown.len() > 70, "a frame's label is long: {shown:?}");
        assert!(
            shown.ends_with("bytes)") && shown == tooltip,
            "shown whole: {shown:?} / {tooltip:?}"
        );
    }
}

/// Sending "via" a transport is counted apart from receiving with it: two posts via SSE leave
/// the SSE panel's requests at its one subscribe request, and show on its sending line and in
/// `/api/stats`'s `sends`.
pub async fn sending_is_counted_apart_from_receiving(browser: &Browser, app: &TestApp) {
    println!("step: sending is counted apart from receiving");
    open_index(browser, app).await;
    let client = browser.js("return TLDemo.clientId();").await;
    let client = client.as_str().unwrap().to_owned();
    for text in ["sent via sse, one", "sent via sse, two"] {
        compose(browser, "sse", text).await;
    }
    browser
        .wait_for(
            "the SSE panel's sending line to count two posts",
            "return document.querySelector('#panel-sse [data-role=sending]').dataset.requests === '2';",
            10,
        )
        .await;
    let receiving = browser
        .js("return document.querySelector('#panel-sse [data-stat=requests]').dataset.value;")
        .await;
    assert_eq!(
        receiving, "1",
        "one EventSource request; the posts are not in it"
    );
    // "written" (the ledger's messages) and "received" (the page's) are named apart, and the
    // legend says why they can differ after a drop.
    let named = browser
        .js("return [document.querySelector('#panel-sse [data-stat-box=messages] dt').textContent, \
             /written.* is what the server wrote/.test(document.querySelector('.legend').textContent)];")
        .await;
    assert_eq!(named, serde_json::json!(["written", true]));
    let stats = app.get_json(&format!("/api/stats?client={client}")).await;
    assert_eq!(
        (
            &stats["transports"]["sse"]["requests"],
            &stats["sends"]["sse"]["requests"]
        ),
        (&serde_json::json!(1), &serde_json::json!(2)),
        "{stats}"
    );
}
