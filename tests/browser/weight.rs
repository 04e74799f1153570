//! Each page loads in under 100 KB of its own assets (HTML, CSS, JS). Needs no browser.

use crate::helpers::spawn_app;

/// The budget the issue sets per page.
const BUDGET: usize = 100 * 1000;

pub const PAGES: [&str; 11] = [
    "/",
    "/transports/poll",
    "/transports/longpoll",
    "/transports/stream",
    "/transports/sse",
    "/transports/ws",
    "/transports/socketio",
    "/overhead",
    "/walkthrough",
    "/class",
    "/lab",
];

/// Every page's HTML plus the scripts and styles it links stays under 100 KB.
#[tokio::test]
async fn every_page_is_under_100_kb() {
    let app = spawn_app().await;
    for page in PAGES {
        let html = app
            .http
            .get(app.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut total = html.len();
        let mut assets = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for (at, _) in html.match_indices(attr) {
                let rest = &html[at + attr.len()..];
                let url = &rest[..rest.find('"').unwrap()];
                if url.starts_with("/static/") {
                    assets.push(url.to_owned());
                }
            }
        }
        assert!(!assets.is_empty(), "{page} links its assets");
        for url in &assets {
            let response = app.http.get(app.url(url)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            total += response.bytes().await.unwrap().len();
        }
        println!("{page}: {total} bytes ({} assets)", assets.len());
        assert!(total < BUDGET, "{page} weighs {total} bytes");
    }
}

/// Every page answers with the Content-Security-Policy that forbids inline script and style.
#[tokio::test]
async fn every_page_carries_the_csp() {
    let app = spawn_app().await;
    for page in PAGES {
        let response = app.http.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(
            response.headers()["content-security-policy"],
            transport_lab::pages::CSP,
            "{page}"
        );
    }
    let missing = app
        .http
        .get(app.url("/transports/carrier-pigeon"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
