//! Every page renders in Chromium without a console error; screenshots for the docs.

use std::time::Duration;

use crate::driver::Browser;
use crate::helpers::TestApp;
use crate::weight::PAGES;

/// Where the screenshots go, and which pages get one (1280x720, and the phone width).
const SHOTS: [(&str, &str); 4] = [
    ("/", "index"),
    ("/transports/sse", "transport-sse"),
    ("/overhead", "overhead"),
    ("/walkthrough", "walkthrough"),
];

/// Each page loads, its script marks it ready, it runs live for a moment, and the console shows
/// no error (CSP violations, failed loads and uncaught exceptions are all errors there).
pub async fn every_page_renders_without_console_errors(browser: &Browser, app: &TestApp) {
    println!("step: every page renders without console errors");
    let save = std::env::var("TRANSPORT_LAB_SCREENSHOTS").is_ok_and(|v| v == "1");
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
