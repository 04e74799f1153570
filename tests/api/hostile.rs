//! Hostile bytes on a raw socket: malformed HTTP and WebSocket protocol violations. Each gets its
//! documented answer (a status, or a close code), and the server stays healthy for everyone else.
//! Bad requests that parse as HTTP are covered, with their JSON errors, in `bad_input`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// What the server must answer.
enum Expect {
    /// An HTTP response starting with this status line.
    Status(&'static str),
    /// After the WebSocket handshake: a close frame with this code.
    Close(u16),
    /// After the WebSocket handshake: the connection just ends (no frame can be trusted).
    Cut,
}

const HANDSHAKE: &[u8] =
    b"GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    assert!(payload.len() < 126);
    let mut frame = vec![first_byte, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::{Close, Cut, Status};
    let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut huge_length = vec![0x81, 0x80 | 127];
    huge_length.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge_length.extend_from_slice(&[1, 2, 3, 4]);
    let mut just_over_twice = vec![0x81, 0x80 | 127];
    just_over_twice.extend_from_slice(&(2 * 65536 + 1u64).to_be_bytes());
    just_over_twice.extend_from_slice(&[1, 2, 3, 4]);
    let mut long_ping = vec![0x89, 0x80 | 126, 0, 200, 1, 2, 3, 4];
    long_ping.extend_from_slice(&[b'p'; 200]);
    vec![
        ("slowloris: a head never finished", b"GET /api/poll HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec(), Status("HTTP/1.1 408 Request Timeout")),
        ("a 200 KB header", [&b"GET /api/poll HTTP/1.1\r\nHost: x\r\nX-Big: "[..], &vec![b'a'; 200_000], b"\r\n\r\n"].concat(), Status("HTTP/1.1 431 Request Header Fields Too Large")),
        ("100 headers", format!("GET /api/poll HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(), Status("HTTP/1.1 431 Request Header Fields Too Large")),
        ("binary garbage", b"\x00\x01\x02\x03\xff\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("an HTTP/2 preface on HTTP/1.1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("NUL in the request target", b"GET /api/po\x00ll HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("Content-Length and Transfer-Encoding together (smuggling)", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a non-numeric Content-Length", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: abc\r\n\r\nhello".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a negative Content-Length", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: -5\r\n\r\nhello".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a chunk size that is not hex", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("Expect: 100-continue with a body over the limit", b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n".to_vec(), Status("HTTP/1.1 413 Payload Too Large")),
        ("a WebSocket handshake of version 8", b"GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a WebSocket handshake without a key", b"GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("an unmasked client frame", b"\x81\x02hi".to_vec(), Close(1002)),
        ("a fragmented ping (control frames may not be fragmented)", masked(0x09, b""), Close(1002)),
        ("a reserved opcode", masked(0x83, b"x"), Close(1002)),
        ("a continuation with nothing to continue", masked(0x80, b"x"), Close(1002)),
        ("reserved bits set without an extension", masked(0xC1, br#"{"text":"x"}"#), Close(1002)),
        ("a text frame that is not UTF-8", masked(0x81, b"\xff\xfe\xfd"), Close(1007)),
        ("a 200-byte ping (control payloads stop at 125)", long_ping, Close(1002)),
        ("a close frame with an invalid code", masked(0x88, &999u16.to_be_bytes()), Close(1002)),
        ("a frame declaring 2^62 bytes", huge_length, Cut),
        ("a frame declaring just over twice the limit", just_over_twice, Cut),
    ]
}

/// Sends `bytes` on a fresh connection (after a WebSocket handshake for frame cases) and reads
/// what comes back until the server closes or 5 s pass.
async fn exchange(app: &TestApp, bytes: &[u8], websocket: bool) -> (Vec<u8>, bool) {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    if websocket {
        socket.write_all(HANDSHAKE).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let expected = app.ready_text(0).await;
        let mut ready = vec![0u8; 2 + expected.len()];
        socket.read_exact(&mut ready).await.unwrap();
        assert_eq!(&ready[2..], expected.as_bytes());
    }
    // A server that answers early may close before every byte is sent; that is its right.
    let _ = socket.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 4096];
        loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (out, closed)
}

/// Every hostile input gets its documented answer, and the server keeps serving.
#[tokio::test]
async fn hostile_bytes_get_their_answers_and_change_nothing() {
    let app = spawn_app_with(&["--request-timeout", "1"]).await;
    let mut failures = vec![];
    let total = cases().len();
    for (what, bytes, expect) in cases() {
        let websocket = !matches!(expect, Expect::Status(_));
        let (out, closed) = exchange(&app, &bytes, websocket).await;
        let ok = match &expect {
            Expect::Status(line) => out.starts_with(format!("{line}\r\n").as_bytes()),
            // A close frame: 0x88, a length under 126, then the code.
            Expect::Close(code) => {
                out.len() >= 4 && out[0] == 0x88 && u16::from_be_bytes([out[2], out[3]]) == *code
            }
            Expect::Cut => out.is_empty() && closed,
        };
        if !ok || !closed {
            failures.push(format!(
                "{what}: got {:?} (closed: {closed})",
                String::from_utf8_lossy(&out[..out.len().min(120)])
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!((status, &health["status"]), (200, &serde_json::json!("ok")));
    assert_eq!(
        app.stored_ids().await,
        Vec::<u64>::new(),
        "nothing hostile was stored"
    );
    assert_eq!(app.post("u", "still serving").await["id"], 1);
}
