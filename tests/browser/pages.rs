//! Every page renders in Chromium without a console error; screenshots for the docs.

use std::time::Duration;

use crate::driver::Browser;
use crate::helpers::TestApp;
use crate::weight::PAGES;

/// Where the screenshots go, and which pages get one (1280x720; `-wide` 1920x1080, a projector
/// or a large screen; `-phone` 390x844).
const SHOTS: [(&str, &str); 5] = [
    ("/", "index"),
    ("/transports/sse", "transport-sse"),
    ("/transports/socketio", "transport-socketio"),
    ("/overhead", "overhead"),
    ("/walkthrough", "walkthrough"),
];

/// Whether this run (re)writes the documentation's pictures: `TRANSPORT_LAB_SCREENSHOTS=1`, and
/// only from Chromium.
pub fn saving_screenshots(browser: &Browser) -> bool {
    std::env::var("TRANSPORT_LAB_SCREENSHOTS").is_ok_and(|v| v == "1")
        && browser.engine == crate::driver::Engine::Chromium
}

/// Writes what the window shows to `docs/screenshots/{name}.png`.
pub async fn save_screenshot(browser: &Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
}

/// The error channel the page checks rely on works in this engine: an inline script (which the
/// CSP must block) and a script that fails to load are both reported, so "no console errors"
/// below can fail.
pub async fn page_errors_are_reported(browser: &Browser, app: &TestApp) {
    println!("step: a CSP violation and a failed load reach the error check");
    browser.open(&app.url("/overhead"), 15).await;
    let _ = browser.console_errors().await;
    browser
        .js("const inline = document.createElement('script'); inline.textContent = 'window.ranInline = true;'; document.body.append(inline); \
             const missing = document.createElement('script'); missing.src = '/static/no-such-file.js'; document.body.append(missing); return true;")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ran = browser.js("return window.ranInline === true;").await;
    assert_eq!(
        ran,
        serde_json::json!(false),
        "the CSP let an inline script run"
    );
    let errors = browser.console_errors().await;
    let reported = |needle: &str| errors.iter().any(|e| e.to_lowercase().contains(needle));
    assert!(
        reported("inline") && reported("no-such-file.js"),
        "{:?}: not both errors were reported: {errors:?}",
        browser.engine
    );
}

/// Each page loads, its script marks it ready, it runs live for a moment, and the console shows
/// no error (CSP violations, failed loads and uncaught exceptions are all errors there).
pub async fn every_page_renders_without_console_errors(browser: &Browser, app: &TestApp) {
    println!("step: every page renders without console errors");
    // The documentation's pictures come from Chromium.
    let save = std::env::var("TRANSPORT_LAB_SCREENSHOTS").is_ok_and(|v| v == "1")
        && browser.engine == crate::driver::Engine::Chromium;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    // Leave `/` first, so its connections close before the log is cleared.
    browser.goto("about:blank").await;
    browser.viewport(1280, 720).await;
    let _ = browser.console_errors().await;
    for page in PAGES {
        let lap = std::time::Instant::now();
        browser.goto(&app.url(page)).await;
        println!("  {page}: loaded in {:.1} s", lap.elapsed().as_secs_f64());
        // Pages that hold streams must release them when left, or the next page waits for one
        // of the browser's six connections (we saw a minute).
        assert!(
            lap.elapsed().as_secs() < 10,
            "{page} took {:?} to load",
            lap.elapsed()
        );
        browser
            .wait_for(
                &format!("{page} ready"),
                "return document.body.dataset.ready === 'yes';",
                15,
            )
            .await;
        // Messages flowing while the page is live: traffic, tap and counters all move.
        app.http
            .post(app.url("/api/messages"))
            .json(&serde_json::json!({"user": "grace", "text": format!("hello from the tests on {page}")}))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Some((_, name)) = SHOTS.iter().find(|(p, _)| *p == page) {
            // A lesson's picture is its live part: the diagram drawn from the tap.
            browser
                .js("const c = document.querySelector('.lesson-controls'); if (c) c.scrollIntoView(); return true;")
                .await;
            let png = browser.client.screenshot().await.unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{page}: a PNG screenshot");
            if save {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
                browser.viewport(1920, 1080).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let wide = browser.client.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}-wide.png")), &wide).unwrap();
                browser.viewport(390, 844).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let phone = browser.client.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}-phone.png")), &phone).unwrap();
                browser.viewport(1280, 720).await;
            }
        }
        let errors = browser.console_errors().await;
        assert!(errors.is_empty(), "{page}: console errors {errors:?}");
    }
}

/// The classroom walkthrough moves with real key presses (the first right arrow starts step 1,
/// then right arrow and space forward, left arrow back), each step showing its title and question
/// and starting its own demo.
pub async fn walkthrough_moves_with_the_keyboard(browser: &Browser, app: &TestApp) {
    println!("step: the walkthrough moves with the keyboard");
    browser.open(&app.url("/walkthrough"), 15).await;
    let step = || async {
        browser
            .js("const li = document.querySelector('#steps > li:not([hidden])'); return [document.body.dataset.step, li.querySelector('h1').textContent, li.querySelector('.ask').textContent.length > 20];")
            .await
    };
    assert_eq!(
        step().await,
        serde_json::json!(["1", "1. Short polling", true])
    );
    // Keys go to whatever has focus; a teacher's focus is the page itself.
    browser
        .js("document.activeElement && document.activeElement.blur(); return true;")
        .await;
    let page = browser
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap();
    for (key, want) in [
        (fantoccini::key::Key::Right, ["1", "1. Short polling"]),
        (fantoccini::key::Key::Right, ["2", "2. Long polling"]),
        (fantoccini::key::Key::Space, ["3", "3. HTTP streaming"]),
        (fantoccini::key::Key::Left, ["2", "2. Long polling"]),
    ] {
        page.send_keys(&key).await.unwrap();
        browser
            .wait_for(
                &format!("step {}", want[0]),
                &format!("return document.body.dataset.step === '{}';", want[0]),
                5,
            )
            .await;
        assert_eq!(step().await, serde_json::json!([want[0], want[1], true]));
    }
    // The step drives the live demo: its burst reaches the long-poll panel it starts.
    browser
        .wait_for(
            "the long-poll panel receiving the step's burst",
            "const p = document.querySelector('[data-transport=longpoll] [data-received]'); return !!p && Number(p.dataset.received) > 0;",
            15,
        )
        .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "walkthrough: console errors {errors:?}");
}
