//! What the pages are served as, seen from HTTP: pages and static files gzipped for a client that
//! accepts it (the API never, so every byte the ledger counts and the pages teach is the byte on
//! the wire), and the lesson commands filled in with this server's state.

use crate::helpers::spawn_app;

/// (status, Content-Encoding, body) of a GET that accepts gzip.
async fn get_gzip(app: &crate::helpers::TestApp, path: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = app
        .http
        .get(app.url(path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let encoding = response
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status().as_u16(),
        encoding,
        response.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn pages_are_gzipped_and_the_api_never_is() {
    let app = spawn_app().await;
    app.post("ada", "one").await;
    for path in [
        "/",
        "/transports/sse",
        "/overhead",
        "/walkthrough",
        "/class",
        "/static/style.css",
        "/static/transports.js",
    ] {
        let (status, encoding, body) = get_gzip(&app, path).await;
        assert_eq!((status, encoding.as_deref()), (200, Some("gzip")), "{path}");
        assert_eq!(&body[..2], [0x1f, 0x8b], "{path}: a gzip stream");
    }
    for path in [
        "/api/poll?since=0",
        "/api/longpoll?since=0",
        "/api/stats",
        "/api/rooms",
        "/healthz",
        "/metrics",
    ] {
        let (status, encoding, body) = get_gzip(&app, path).await;
        assert_eq!((status, encoding), (200, None), "{path}");
        assert!(
            body.starts_with(b"{") || body.starts_with(b"#"),
            "{path}: plain"
        );
    }
    // A stream too: its first bytes arrive as written.
    let response = app
        .http
        .get(app.url("/api/sse"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
}

/// The long-poll lesson's command starts from the newest cursor, so running it visibly holds.
#[tokio::test]
async fn the_long_poll_lesson_command_holds() {
    let app = spawn_app().await;
    app.post("ada", "one").await;
    app.post("ada", "two").await;
    let page = app.get_text("/transports/longpoll").await;
    let cursor = app.cursor(2).await;
    assert!(
        page.contains(&format!("/api/longpoll?since={cursor}&#38;timeout=25")),
        "{page}"
    );
}

/// Without `--bus`, nothing of the shared bus shows: no node header, no `backplane` in the stats,
/// no bus on `/healthz`, no scale-out row on `/overhead` (the `ready` notices are checked byte for
/// byte elsewhere).
#[tokio::test]
async fn without_a_shared_bus_nothing_of_one_shows() {
    let app = spawn_app().await;
    for path in ["/", "/api/poll?since=0", "/healthz", "/overhead"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert!(
            response.headers().get("x-transport-lab-node").is_none(),
            "{path}"
        );
    }
    let (_, stats) = app.get_json("/api/stats").await;
    assert!(stats.get("backplane").is_none(), "{stats}");
    let (_, health) = app.get_json("/healthz").await;
    let keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["connections", "epoch", "status"], "{health}");
    assert!(!app.get_text("/overhead").await.contains("scale-out"));
}
