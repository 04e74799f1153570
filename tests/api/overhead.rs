//! `GET /api/overhead`: the one measurement plan, and `?rate=` measuring it at another message
//! rate, on either side of the rate where short polling stops losing to long polling.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// The row of `transport` measured with `headers`.
fn row<'a>(report: &'a Value, transport: &str, headers: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transport"] == transport && r["headers"] == headers)
        .unwrap()
}

fn per_message(row: &Value) -> f64 {
    row["down_per_message"].as_f64().unwrap() + row["up_per_message"].as_f64().unwrap()
}

/// Without `rate`, the plan (2 messages a second, polls every 250 ms): short polling makes two
/// requests per message and costs more than long polling. At 10 a second, past the crossover at
/// 4, each poll carries several messages and short polling costs less.
#[tokio::test]
async fn the_rate_decides_whether_short_polling_wins() {
    let app = spawn_app().await;

    let (status, plan) = app.get_json("/api/overhead").await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan["plan"],
        json!({"messages": 10, "publish_every": 500, "poll_every": 250, "rate": 2.0, "crossover_rate": 4.0})
    );
    let (poll, longpoll) = (
        row(&plan, "poll", "browser"),
        row(&plan, "longpoll", "browser"),
    );
    let poll_requests = poll["requests_per_message"].as_f64().unwrap();
    assert!((1.7..=2.3).contains(&poll_requests), "{poll}");
    assert_eq!(longpoll["requests_per_message"], 1.0, "{longpoll}");
    assert!(per_message(poll) > per_message(longpoll), "{plan}");

    let (status, fast) = app.get_json("/api/overhead?rate=10").await;
    assert_eq!(status, 200, "{fast}");
    assert_eq!(
        fast["plan"],
        json!({"messages": 40, "publish_every": 100, "poll_every": 250, "rate": 10.0, "crossover_rate": 4.0})
    );
    let (poll, longpoll) = (
        row(&fast, "poll", "browser"),
        row(&fast, "longpoll", "browser"),
    );
    assert!(
        poll["requests_per_message"].as_f64().unwrap() < 0.6,
        "{poll}"
    );
    assert!(per_message(poll) < per_message(longpoll), "{fast}");
}

/// A rate that is not a plain number of messages a second from 0.5 to 20 is a 400 with JSON
/// that says so, and measures nothing.
#[tokio::test]
async fn a_bad_rate_is_refused() {
    let app = spawn_app().await;
    for query in [
        "rate=",
        "rate=0",
        "rate=0.4",
        "rate=21",
        "rate=-2",
        "rate=abc",
        "rate=NaN",
        "rate=inf",
        "rate=1e1",
        "rate=.5",
        "rate=2%20",
        "rate=2&rate=3",
    ] {
        let (status, body) = app.get_json(&format!("/api/overhead?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        let duplicate = query.contains('&');
        assert!(
            if duplicate {
                error.contains("more than once")
            } else {
                error.starts_with("rate must be messages per second, a number from 0.5 to 20")
            },
            "{query}: {error}"
        );
    }
}

/// One plan: the README's table and `/overhead` state the plan `overhead::PLAN` measures, so
/// changing it without saying so fails here.
#[tokio::test]
async fn the_readme_and_the_page_state_the_plan() {
    use transport_lab::overhead::PLAN;
    let (messages, every, poll) = (
        PLAN.messages,
        PLAN.publish_every.as_millis(),
        PLAN.poll_every.as_millis(),
    );
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let readme = flat(include_str!("../../README.md"));
    let stated = format!(
        "{messages} messages published one every {every} ms (2 a second); short polling polls every {poll} ms"
    );
    assert!(
        readme.contains(&stated),
        "the README does not say: {stated}"
    );

    let app = spawn_app().await;
    let page = flat(&app.get_text("/overhead").await);
    let stated = format!(
        "{messages} messages of 40 bytes of text, one every {every} ms (2 a second); short polling asks every {poll} ms"
    );
    assert!(page.contains(&stated), "/overhead does not say: {stated}");
}

/// The `http2` row of `transport` measured with `headers`.
fn h2_row<'a>(report: &'a Value, transport: &str, headers: &str) -> &'a Value {
    report["http2"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transport"] == transport && r["headers"] == headers)
        .unwrap()
}

/// Over HTTP/2 the polls and streams get rows of their own, every request an HTTP/2 stream
/// (and none of HTTP/1.1's): HPACK makes a poll's later request heads smaller than its first,
/// and its first smaller than the HTTP/1.1 head, so a poll costs fewer bytes per message; the
/// streams deliver the same payload, with DATA frames instead of chunks.
#[tokio::test]
async fn http2_rows_show_what_hpack_saves() {
    let app = spawn_app().await;

    let (status, report) = app.get_json("/api/overhead").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["http1_only"], json!(["ws", "socketio"]));
    assert_eq!(report["http2"].as_array().unwrap().len(), 8, "{report}");
    for headers in ["curl", "browser"] {
        for transport in ["poll", "longpoll", "stream", "sse"] {
            let (h1, h2) = (
                row(&report, transport, headers),
                h2_row(&report, transport, headers),
            );
            let what = format!("{transport} {headers}: {h2}");
            assert_eq!(h2["delta"]["messages"], 10, "{what}");
            assert_eq!(
                h2["payload_per_message"], h1["payload_per_message"],
                "{what}"
            );
            assert_eq!(
                h2["delta"]["http2_requests"], h2["delta"]["requests"],
                "{what}"
            );
            assert_eq!(h1["delta"]["http2_requests"], 0, "{h1}");
            let first = h2["first_request_header_bytes"].as_f64().unwrap();
            let http1 = h2["http1_request_header_bytes"].as_f64().unwrap();
            assert!(0.0 < first && first < http1, "{what}");
            if transport.contains("poll") {
                let later = h2["later_request_header_bytes"].as_f64().unwrap();
                assert!(later < first, "{what}");
                if headers == "browser" {
                    // A browser's long head is mostly fields that repeat: the table keeps them.
                    assert!(later < first / 2.0, "{what}");
                }
                assert!(per_message(h2) < per_message(h1), "{what}; {h1}");
            } else {
                assert_eq!(h2["later_request_header_bytes"], Value::Null, "{what}");
                assert_eq!(h2["requests_per_message"], 0.0, "{what}");
            }
        }
    }
}
