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
    /// After the WebSocket handshake: a close frame with this code and reason (pings may come
    /// first, nothing else).
    Close(u16, &'static str),
}

pub const HANDSHAKE: &[u8] =
    b"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A client frame: `first_byte` (FIN, RSV, opcode), the masked length, mask and masked payload.
pub fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![first_byte];
    match payload.len() {
        len @ 0..126 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The server's (unmasked) frames in `bytes`, as (first byte, payload); a trailing partial frame
/// is left out.
pub fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = vec![];
    while bytes.len() >= 2 {
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => (
                usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            126 | 127 => break,
            len => (usize::from(len), 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((bytes[0], bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

/// The code and reason of the first close frame in `bytes`, if only pings and pongs (and, with
/// `text_allowed`, text frames) come before it.
pub fn close_frame(bytes: &[u8], text_allowed: bool) -> Option<(u16, String)> {
    for (first, payload) in server_frames(bytes) {
        match first {
            0x88 if payload.len() >= 2 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
            0x89 | 0x8A => continue,
            0x81 if text_allowed => continue,
            _ => return None,
        }
    }
    None
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::{Close, Status};
    let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut huge_length = vec![0x81, 0x80 | 127];
    huge_length.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge_length.extend_from_slice(&[1, 2, 3, 4]);
    let mut just_over_twice = vec![0x81, 0x80 | 127];
    just_over_twice.extend_from_slice(&(2 * 65536 + 1u64).to_be_bytes());
    just_over_twice.extend_from_slice(&[1, 2, 3, 4]);
    let mut long_ping = vec![0x89, 0x80 | 126, 0, 200, 1, 2, 3, 4];
    long_ping.extend_from_slice(&[b'p'; 200]);
    // 70,000 bytes in 10 fragments of 7,000: every frame is under the 65,536-byte limit, the
    // message is not.
    let mut ten_fragments = masked(0x01, &[b'f'; 7000]);
    for _ in 0..8 {
        ten_fragments.extend(masked(0x00, &[b'f'; 7000]));
    }
    ten_fragments.extend(masked(0x80, &[b'f'; 7000]));
    // Autobahn 6.4.1: valid UTF-8, then a fragment holding U+D800 (ED A0 80, a surrogate, never
    // valid), and no last fragment: the close must come at the bad fragment, not at the end.
    let mut bad_middle_fragment = masked(0x01, "κόσμε".as_bytes());
    bad_middle_fragment.extend(masked(0x00, b"\xed\xa0\x80more text"));
    let close =
        |code: u16, reason: &[u8]| masked(0x88, &[&code.to_be_bytes()[..], reason].concat());
    vec![
        ("slowloris: a head never finished", b"GET /api/poll HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".to_vec(), Status("HTTP/1.1 408 Request Timeout")),
        ("a 200 KB header", [&b"GET /api/poll HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "[..], &vec![b'a'; 200_000], b"\r\n\r\n"].concat(), Status("HTTP/1.1 431 Request Header Fields Too Large")),
        ("100 headers", format!("GET /api/poll HTTP/1.1\r\nHost: 127.0.0.1\r\n{many_headers}\r\n").into_bytes(), Status("HTTP/1.1 431 Request Header Fields Too Large")),
        ("binary garbage", b"\x00\x01\x02\x03\xff\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        // An HTTP/2 preface is no longer hostile: the plain port serves HTTP/2 with prior
        // knowledge (tests/api/http2.rs).
        ("NUL in the request target", b"GET /api/po\x00ll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("Content-Length and Transfer-Encoding together (smuggling)", b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a non-numeric Content-Length", b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: abc\r\n\r\nhello".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a negative Content-Length", b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: -5\r\n\r\nhello".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("a chunk size that is not hex", b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("Expect: 100-continue with a body over the limit", b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n".to_vec(), Status("HTTP/1.1 413 Payload Too Large")),
        ("a WebSocket handshake of version 8", b"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec(), Status("HTTP/1.1 426 Upgrade Required")),
        ("a WebSocket handshake without a key", b"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec(), Status("HTTP/1.1 400 Bad Request")),
        ("an unmasked client frame", b"\x81\x02hi".to_vec(), Close(1002, "Received an unmasked frame from client")),
        ("a fragmented ping (control frames may not be fragmented)", masked(0x09, b""), Close(1002, "a ping frame without FIN: control frames may not be fragmented")),
        ("a reserved opcode", masked(0x83, b"x"), Close(1002, "Invalid opcode (3)")),
        ("a continuation with nothing to continue", masked(0x80, b"x"), Close(1002, "a continuation frame with no fragmented message to continue")),
        ("a new message inside a fragmented one", [masked(0x01, b"a"), masked(0x81, b"b")].concat(), Close(1002, "a text frame inside a fragmented message (expected a continuation)")),
        ("reserved bits set without an extension", masked(0xC1, br#"{"text":"x"}"#), Close(1002, "Received a frame with non-zero reserved bits")),
        ("a text frame that is not UTF-8", masked(0x81, b"\xff\xfe\xfd"), Close(1007, "text is not valid UTF-8")),
        ("invalid UTF-8 in a middle fragment, the last never sent", bad_middle_fragment, Close(1007, "text is not valid UTF-8")),
        ("a 200-byte ping (control payloads stop at 125)", long_ping, Close(1002, "Invalid control frame length (200)")),
        ("a close frame with the invalid code 999", close(999, b""), Close(1002, "invalid close code 999")),
        ("a close frame with the reserved code 1005", close(1005, b""), Close(1002, "invalid close code 1005")),
        ("a close frame with the reserved code 1015", close(1015, b""), Close(1002, "invalid close code 1015")),
        ("a close frame with the unassigned code 2999", close(2999, b""), Close(1002, "invalid close code 2999")),
        ("a close frame with the code 5000", close(5000, b""), Close(1002, "invalid close code 5000")),
        ("a close frame with a 1-byte payload", masked(0x88, b"\x03"), Close(1002, "close frame payload of 1 byte (a code takes 2)")),
        ("a close reason that is not UTF-8", close(1000, b"\xff"), Close(1007, "close reason is not valid UTF-8")),
        ("a message over the limit in 10 fragments of 7,000 bytes", ten_fragments, Close(1009, "message larger than 65536 bytes")),
        ("a frame declaring 2^62 bytes", huge_length, Close(1009, "frame header declares more than 131072 bytes")),
        ("a frame declaring just over twice the limit", just_over_twice, Close(1009, "frame header declares more than 131072 bytes")),
    ]
}

/// Sends `bytes` on a fresh connection (after a WebSocket handshake for frame cases) and reads
/// what comes back until the server closes or 5 s pass.
pub async fn exchange(app: &TestApp, bytes: &[u8], websocket: bool) -> (Vec<u8>, bool) {
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
        let expected = app.ws_ready_text(0).await;
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
            Expect::Close(code, reason) => {
                close_frame(&out, false) == Some((*code, (*reason).to_owned()))
            }
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
