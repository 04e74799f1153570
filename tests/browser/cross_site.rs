//! A page of another site, in a real browser, tries the three ways to post that need no CORS
//! permission (a `no-cors` `fetch()`, `navigator.sendBeacon`, an auto-submitted form): the server
//! refuses all three and stores nothing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::driver::Browser;
use crate::helpers::TestApp;

/// Serves one plain page (no Content-Security-Policy, as a hostile site would) to every request:
/// the other site. Returns its address; it serves until the test binary exits.
async fn other_site() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Bounded: the test loads one page (and maybe a favicon).
        for _ in 0..16 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let page = "<!doctype html><title>another site</title><p>nothing to see</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// Whether any stored message has this text.
async fn stored(app: &TestApp, text: &str) -> bool {
    let poll = app.get_json("/api/poll?since=0").await;
    poll["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["text"] == text)
}

pub async fn a_page_of_another_site_cannot_post(browser: &Browser, app: &TestApp) {
    println!("step: a page of another site cannot post");
    let site = other_site().await;
    browser.goto(&format!("http://{site}/")).await;
    let target = app.url("/api/messages?user=ada");
    let script = format!(
        "const target = {target:?}; \
         fetch(target, {{ method: 'POST', mode: 'no-cors', headers: {{ 'Content-Type': 'text/plain' }}, \
                          body: 'forged by fetch' }}).catch(() => {{}}); \
         navigator.sendBeacon(target, new Blob(['forged by beacon'], {{ type: 'text/plain' }})); \
         const form = document.createElement('form'); \
         form.method = 'POST'; form.action = {form_target:?}; \
         const text = document.createElement('input'); text.name = 'text'; text.value = 'forged by form'; \
         form.append(text); document.body.append(form); \
         setTimeout(() => form.submit(), 300); \
         return true;",
        form_target = app.url("/api/messages?user=ada"),
    );
    browser.js(&script).await;
    // The form's answer replaces the page: wait for it, then give the beacon time to land.
    browser
        .wait_for(
            "the form's answer",
            "return location.href.includes('/api/messages');",
            10,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = browser.js("return document.body.textContent;").await;
    assert!(
        answer
            .as_str()
            .unwrap_or_default()
            .contains("are not allowed here"),
        "the form got: {answer:?}"
    );
    for text in ["forged by fetch", "forged by beacon", "forged by form"] {
        assert!(!stored(app, text).await, "{text:?} was stored");
    }
}
