#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Browser tests: the pages driven in a real headless Chromium through WebDriver (chromedriver),
//! against the real server started in this process on 127.0.0.1:0.
//!
//! The same checks run in Chromium (chromedriver) and in Firefox (geckodriver). Per engine one
//! WebDriver server and one browser session serve the whole suite (starting a browser is the slow
//! part), so the checks run as one test, step by step, each step named when it starts.
//! Without a browser and its driver on the PATH (found at build time, by `build.rs`) that
//! engine's suite is *ignored*, with the reason and the install command, so the summary says
//! "1 ignored" rather than a pass; `TRANSPORT_LAB_REQUIRE_BROWSER=1` (CI) runs it anyway, and a
//! missing browser fails it.
//! Set `TRANSPORT_LAB_SCREENSHOTS=1` to (re)write `docs/screenshots/*.png` (from Chromium).

// redis-server and the binary on a shared bus, as tests/cluster starts them (the nodes step uses
// the Redis half of it).
#[allow(dead_code)]
#[path = "../cluster/services.rs"]
mod cluster_services;
mod cross_site;
mod driver;
mod helpers;
mod https;
mod index;
mod lab;
mod labels;
mod layout;
mod nodes;
mod overhead;
mod pages;
mod queue;
mod rooms;
mod socketio;
mod weight;

use std::time::Instant;

use driver::Engine;
use futures_util::FutureExt;

/// One engine at a time: two browsers at once on a 2-core machine would make every wait a race.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every browser check in Chromium, in one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_chromium),
    ignore = "chromium and chromedriver are not on the PATH: apt-get install chromium chromium-driver"
)]
async fn chromium_suite() {
    suite(Engine::Chromium).await;
}

/// Every browser check again in Firefox: the pages must work in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_firefox),
    ignore = "firefox-esr and geckodriver are not on the PATH: apt-get install firefox-esr; cargo install geckodriver"
)]
async fn firefox_suite() {
    suite(Engine::Firefox).await;
}

/// `/` over the TLS port, in Chromium: HTTP/2 for every panel but the WebSocket, two tabs live;
/// a lesson's diagram over HTTP/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_chromium),
    ignore = "chromium and chromedriver are not on the PATH: apt-get install chromium chromium-driver"
)]
async fn chromium_https() {
    https_suite(Engine::Chromium).await;
}

/// The same in Firefox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_firefox),
    ignore = "firefox-esr and geckodriver are not on the PATH: apt-get install firefox-esr; cargo install geckodriver"
)]
async fn firefox_https() {
    https_suite(Engine::Firefox).await;
}

/// A session that accepts the TLS port's self-signed certificate, on a server with a TLS port.
async fn https_suite(engine: Engine) {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let Some(driver) = driver::Driver::start(engine).await else {
        return;
    };
    let app = https::spawn_tls_app();
    let browser = driver.session_trusting_any_certificate().await;
    let lap = Instant::now();
    let outcome = std::panic::AssertUnwindSafe(async {
        https::every_panel_works_over_http2(&browser, &app).await;
        https::the_lesson_diagram_shows_streams(&browser, &app).await;
    })
    .catch_unwind()
    .await;
    println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The fault lab's steps alone, in Chromium (they run in the full suites too):
/// `cargo test --test browser -- --ignored lab`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault lab's steps alone, which chromium_suite runs too"]
async fn chromium_lab() {
    lab_suite(Engine::Chromium).await;
}

/// The fault lab's steps alone, in Firefox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault lab's steps alone, which firefox_suite runs too"]
async fn firefox_lab() {
    lab_suite(Engine::Firefox).await;
}

async fn lab_suite(engine: Engine) {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let Some(driver) = driver::Driver::start(engine).await else {
        return;
    };
    let app = helpers::spawn_app().await;
    let browser = driver.session().await;
    let outcome = std::panic::AssertUnwindSafe(lab_steps(&browser, &app))
        .catch_unwind()
        .await;
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Which server answered each panel, in Chromium alone (the full suites run it too):
/// `cargo test --test browser -- --ignored nodes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the node steps alone, which chromium_suite runs too"]
async fn chromium_nodes() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let Some(driver) = driver::Driver::start(Engine::Chromium).await else {
        return;
    };
    let app = helpers::spawn_app().await;
    let browser = driver.session().await;
    let outcome = std::panic::AssertUnwindSafe(node_steps(&browser, &app))
        .catch_unwind()
        .await;
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Which server answered each panel: nobody named alone, the node named on a shared bus.
async fn node_steps(browser: &driver::Browser, app: &helpers::TestApp) {
    nodes::a_server_alone_names_no_node(browser, app).await;
    nodes::every_panel_names_its_node_on_a_shared_bus(browser).await;
}

/// Each fault of the lab, one after the other.
async fn lab_steps(browser: &driver::Browser, app: &helpers::TestApp) {
    let lap = Instant::now();
    lab::refused_upgrade_falls_back_to_sse(browser, app).await;
    lab::buffering_proxy_falls_back_to_long_polling(browser, app).await;
    lab::buffering_alone_keeps_the_websocket(browser, app).await;
    lab::idle_cuts_reconnect_on_the_same_transport(browser, app).await;
    lab::heartbeats_beat_the_idle_cut(browser, app).await;
    lab::latency_keeps_the_websocket(browser, app).await;
    lab::random_cuts_reconnect_without_loss(browser, app).await;
    lab::upgrade_mode_probes_before_it_switches(browser, app).await;
    lab::embedded_in_another_site(browser).await;
    lab::a_restart_is_an_outage_not_a_refusal(browser).await;
    println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
}

async fn suite(engine: Engine) {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let Some(driver) = driver::Driver::start(engine).await else {
        return;
    };
    let app = helpers::spawn_app().await;
    let browser = driver.session().await;
    let started = Instant::now();
    println!("{engine:?}:");

    let outcome = std::panic::AssertUnwindSafe(async {
        let lap = Instant::now();
        index::every_transport_delivers_to_every_panel(&browser, &app).await;
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
        index::a_restart_is_noticed_by_every_panel(&browser).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        socketio::a_frozen_server_is_a_ping_timeout(&browser).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        index::the_auto_panel_goes_live_and_receives_once(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        socketio::the_socketio_panel_upgrades_to_a_websocket(&browser, &app).await;
        socketio::the_socketio_lesson_shows_the_dance(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        node_steps(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        cross_site::a_page_of_another_site_cannot_post(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        pages::page_errors_are_reported(&browser, &app).await;
        let lap = Instant::now();
        pages::every_page_renders_without_console_errors(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        pages::walkthrough_moves_with_the_keyboard(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        rooms::a_message_stays_in_its_room(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        rooms::to_others_skips_every_panel_of_the_sender(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        rooms::class_shows_the_address_and_its_qr_code(&browser, &app).await;
        rooms::walkthrough_rooms_step(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        labels::a_send_through_a_paused_socket_says_what_to_do(&browser, &app).await;
        labels::diagram_labels_are_whole(&browser, &app).await;
        labels::sending_is_counted_apart_from_receiving(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        layout::walkthrough_counts_each_step_from_zero(&browser, &app).await;
        layout::walkthrough_keys_work_after_a_click(&browser, &app).await;
        layout::walkthrough_fits_a_projector(&browser, &app).await;
        layout::walkthrough_notes_toggle_with_n(&browser, &app).await;
        layout::walkthrough_starts_the_room_over(&browser, &app).await;
        layout::walkthrough_hostile_step_falls_back_to_long_polling(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        overhead::http2_beside_http1(&browser, &app).await;
        overhead::the_rate_slider_moves_the_crossover(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        queue::a_second_tab_says_its_requests_are_queued(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        let lap = Instant::now();
        layout::lessons_fit_a_phone(&browser, &app).await;
        layout::pages_do_not_shift_while_loading(&browser, &app).await;
        layout::scroll_regions_and_buttons_have_names(&browser, &app).await;
        println!("  ({:.1} s)", lap.elapsed().as_secs_f64());
        lab_steps(&browser, &app).await;
    })
    .catch_unwind()
    .await;

    println!(
        "{engine:?} suite took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Close the session (and with it the browser) before the driver guard ends its server.
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
