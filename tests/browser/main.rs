#![allow(clippy::unwrap_used)]
//! Browser tests: the pages driven in a real headless Chromium through WebDriver (chromedriver),
//! against the real server started in this process on 127.0.0.1:0.
//!
//! One chromedriver and one browser session serve the whole suite (starting Chromium is the slow
//! part), so the browser checks run as one test, step by step, each step named when it starts.
//! Without `chromium` and `chromedriver` on the PATH the suite says it was skipped and passes,
//! unless `TRANSPORT_LAB_REQUIRE_BROWSER=1` (CI) makes that a failure.
//! Set `TRANSPORT_LAB_SCREENSHOTS=1` to (re)write `docs/screenshots/*.png`.

mod driver;
mod helpers;
mod index;
mod pages;
mod weight;

use std::time::Instant;

use futures_util::FutureExt;

/// Every browser check, in one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_suite() {
    let Some(driver) = driver::Driver::start().await else {
        return;
    };
    let app = helpers::spawn_app().await;
    let browser = driver.session().await;
    let started = Instant::now();

    let outcome = std::panic::AssertUnwindSafe(async {
        let lap = Instant::now();
        index::every_transport_delivers_to_all_five_panels(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        index::markup_in_a_message_is_shown_as_text(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        index::counters_move_and_match_the_ledger(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        index::no_gap_after_drop_connection(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        pages::every_page_renders_without_console_errors(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        pages::walkthrough_moves_with_the_keyboard(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
    })
    .catch_unwind()
    .await;

    println!(
        "browser suite took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Close the session (and with it Chromium) before the driver guard ends chromedriver.
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
