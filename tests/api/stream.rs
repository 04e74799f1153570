//! The HTTP stream, read from a raw socket so the chunked framing itself is checked.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{WAIT, spawn_app};

/// Reads from `socket` until `buf` holds `want`; panics after WAIT.
async fn read_until(socket: &mut TcpStream, buf: &mut Vec<u8>, want: &[u8]) {
    tokio::time::timeout(WAIT, async {
        while !buf.windows(want.len()).any(|w| w == want) {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "connection closed; got {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "never saw {:?} in {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(buf)
        )
    });
}

fn chunk(line: &str) -> Vec<u8> {
    format!("{:X}\r\n{line}\r\n", line.len()).into_bytes()
}

/// Each NDJSON line is exactly one HTTP chunk: `<hex length>\r\n<json>\n\r\n`.
#[tokio::test]
async fn stream_is_chunked_ndjson_one_line_per_chunk() {
    let app = spawn_app().await;
    let first = app.post_raw("ada", "one").await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            format!(
                "GET /api/stream?since=0 HTTP/1.1\r\nHost: {}\r\nUser-Agent: raw\r\n\r\n",
                app.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    let mut buf = Vec::new();
    let ready = &format!("{}\n", app.ready_text(0).await);
    read_until(&mut socket, &mut buf, &chunk(ready)).await;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: application/x-ndjson\r\n"),
        "{head}"
    );
    assert!(!head.contains("content-length"), "{head}");

    let first_line = format!("{first}\n");
    read_until(&mut socket, &mut buf, &chunk(&first_line)).await;
    let second = app.post_raw("bob", "two").await;
    read_until(&mut socket, &mut buf, &chunk(&format!("{second}\n"))).await;

    let body = &buf[head_end..];
    let expected = [
        chunk(ready),
        chunk(&first_line),
        chunk(&format!("{second}\n")),
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&expected),
        "nothing else between the chunks"
    );
}

/// An idle stream sends a heartbeat line each heartbeat interval (0.3 s in tests).
#[tokio::test]
async fn idle_stream_sends_heartbeat_lines() {
    let app = spawn_app().await;
    let mut stream = app.stream("/api/stream").await;
    assert_eq!(stream.next_json().await.unwrap()["type"], "ready");
    let started = std::time::Instant::now();
    assert_eq!(
        stream.next_json().await.unwrap(),
        serde_json::json!({"type": "heartbeat"})
    );
    assert_eq!(
        stream.next_json().await.unwrap(),
        serde_json::json!({"type": "heartbeat"})
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "heartbeats came too fast: {:?}",
        started.elapsed()
    );
}
