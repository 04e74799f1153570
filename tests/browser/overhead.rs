//! `/overhead`'s message-rate slider: the plan measured again at another rate, and the page saying
//! which of short and long polling is cheaper there (issue #16, item 4).

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::driver::Browser;
use crate::helpers::TestApp;

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
