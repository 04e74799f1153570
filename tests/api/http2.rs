//! HTTP/2: every HTTP transport over HTTP/2 (with prior knowledge on the plain port, and by ALPN
//! on the TLS port), counted by the ledger to the byte as a raw client counts its own socket;
//! HPACK's effect on repeated requests; and hostile HTTP/2 answered without harm.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use bytes::Bytes;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, WAIT, down_split_sum, spawn_app, spawn_app_with, stored_json};

/// Bytes a client read and wrote on one socket, as it saw them.
#[derive(Clone, Default)]
struct Tally {
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl Tally {
    fn read(&self) -> u64 {
        self.read.load(Relaxed)
    }
    fn written(&self) -> u64 {
        self.written.load(Relaxed)
    }
}

/// A socket whose bytes are counted into a [`Tally`].
struct Counted<T> {
    io: T,
    tally: Tally,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        this.tally
            .read
            .fetch_add((buf.filled().len() - before) as u64, Relaxed);
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.tally.written.fetch_add(n as u64, Relaxed);
        }
        result
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

type H2 = h2::client::SendRequest<Bytes>;

/// An HTTP/2 connection with prior knowledge to the plain port, its bytes counted.
async fn h2c(app: &TestApp) -> (H2, Tally) {
    let tally = Tally::default();
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let io = Counted {
        io: tcp,
        tally: tally.clone(),
    };
    let (send, connection) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(connection);
    (send, tally)
}

/// GETs `path` on the connection; the response's status and whole body (for a request that
/// ends), with the body's flow-control window given back as it is read.
async fn get(h2: &mut H2, authority: &str, path: &str) -> (u16, String) {
    get_with(h2, authority, path, &[]).await
}

/// As [`get`], with request headers.
async fn get_with(
    h2: &mut H2,
    authority: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut body = open_with(h2, authority, path, headers).await;
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, body.1.data())
        .await
        .expect("the response ends")
    {
        let chunk = chunk.unwrap();
        body.1.flow_control().release_capacity(chunk.len()).unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    (body.0, text)
}

/// Opens a request on the connection: its status and body stream.
async fn open(h2: &mut H2, authority: &str, path: &str) -> (u16, h2::RecvStream) {
    open_with(h2, authority, path, &[]).await
}

async fn open_with(
    h2: &mut H2,
    authority: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, h2::RecvStream) {
    let mut request = http::Request::get(format!("http://{authority}{path}"));
    // HTTP/2 has no connection-specific headers (RFC 9113 §8.2.2).
    let specific = [
        "connection",
        "host",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
    ];
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if !specific.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let request = request.body(()).unwrap();
    *h2 = h2.clone().ready().await.unwrap();
    let (response, _) = h2.send_request(request, true).unwrap();
    let response = tokio::time::timeout(WAIT, response)
        .await
        .expect("a response")
        .unwrap();
    let status = response.status().as_u16();
    (status, response.into_body())
}

/// Reads a streaming body until `until` holds for what arrived so far.
async fn read_until(body: &mut h2::RecvStream, text: &mut String, until: impl Fn(&str) -> bool) {
    while !until(text) {
        let chunk = tokio::time::timeout(WAIT, body.data())
            .await
            .expect("more of the stream")
            .expect("the stream goes on")
            .unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// One client's snapshot of `transport`.
async fn snapshot(app: &TestApp, client: &str, transport: &str) -> Value {
    let (status, stats) = app.get_json(&format!("/api/stats?client={client}")).await;
    assert_eq!(status, 200, "{stats}");
    stats["transports"][transport].clone()
}

/// Waits until the ledger has counted, for `client` on `transport`, exactly what the client's
/// socket carried (the last frames may still be on their way), and returns the snapshot.
async fn counted_exactly(app: &TestApp, client: &str, transport: &str, tally: &Tally) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = snapshot(app, client, transport).await;
        let exact = s["request_bytes"] == tally.written() && s["response_bytes"] == tally.read();
        if exact || tokio::time::Instant::now() > deadline {
            assert_eq!(
                (s["request_bytes"].as_u64(), s["response_bytes"].as_u64()),
                (Some(tally.written()), Some(tally.read())),
                "{client} on {transport}: the ledger against the client's own count: {s}"
            );
            assert_eq!(down_split_sum(&s), tally.read(), "the split adds up: {s}");
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Polls over one HTTP/2 connection, counted to the byte; the second request's HEADERS frame is
/// smaller than the first's, because HPACK sends its repeated fields as dynamic-table indexes.
#[tokio::test]
async fn polls_over_http2_are_counted_to_the_byte_and_hpack_shrinks_the_second() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let posted = app.post("ada", "over h2").await;
    let (mut h2, tally) = h2c(&app).await;
    let path = "/api/poll?since=0&client=h2-poll";
    // A browser's headers (as /overhead measures with): what HPACK's table saves.
    let browser = protocol::headers::request_headers(
        protocol::headers::HeaderProfile::Browser,
        protocol::RequestKind::Fetch,
        &format!("http://{authority}"),
        None,
    );

    let (status, body) = get_with(&mut h2, &authority, path, &browser).await;
    assert_eq!(status, 200);
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["messages"][0]["text"], "over h2");
    let after_one = counted_exactly(&app, "h2-poll", "poll", &tally).await;
    let (_, body) = get_with(&mut h2, &authority, path, &browser).await;
    let after_two = counted_exactly(&app, "h2-poll", "poll", &tally).await;

    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), first);
    assert_eq!(
        (
            after_two["requests"].as_u64(),
            after_two["http2_requests"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(after_two["connections"], 1, "two streams, one connection");
    assert_eq!(after_two["messages"], 2);
    assert_eq!(
        after_two["payload_bytes"].as_u64().unwrap(),
        2 * stored_json(&posted).len() as u64
    );
    let up = |s: &Value| s["request_header_bytes"].as_u64().unwrap();
    let down = |s: &Value| s["response_header_bytes"].as_u64().unwrap();
    let (first_up, second_up) = (up(&after_one), up(&after_two) - up(&after_one));
    let (first_down, second_down) = (down(&after_one), down(&after_two) - down(&after_one));
    assert!(
        second_up * 3 < first_up,
        "the repeated request's header block is a fraction of the first: {first_up} then {second_up}"
    );
    assert!(
        second_down < first_down,
        "and so is the repeated response's: {first_down} then {second_down}"
    );
    assert_eq!(
        after_two["tls_request_bytes"], 0,
        "no TLS on the plain port"
    );
}

/// A long poll held over HTTP/2 and answered by a message, counted to the byte.
#[tokio::test]
async fn a_long_poll_over_http2_is_counted_to_the_byte() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let (mut h2, tally) = h2c(&app).await;
    let path = "/api/longpoll?since=0&client=h2-long";
    let held = tokio::spawn(async move {
        let answer = get(&mut h2, &authority, path).await;
        (answer, h2)
    });
    // The poll is held once the ledger has counted its request.
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.get_json("/api/stats?client=h2-long").await.1["transports"]["longpoll"]["requests"]
        != 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the long poll arrives"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let posted = app.post("ada", "answered").await;
    let ((status, body), _h2) = held.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("answered"), "{body}");
    let s = counted_exactly(&app, "h2-long", "longpoll", &tally).await;
    assert_eq!(
        (s["messages"].as_u64(), s["empty_responses"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        s["payload_bytes"].as_u64().unwrap(),
        stored_json(&posted).len() as u64
    );
}

/// The NDJSON stream and SSE over HTTP/2: long-lived streams whose DATA frames are classified
/// as their HTTP/1.1 bodies are (minus chunk framing, which HTTP/2 does not have), and whose
/// cancel (RST_STREAM) is counted too.
#[tokio::test]
async fn streams_over_http2_are_counted_to_the_byte() {
    for (transport, path, line_end) in [
        ("stream", "/api/stream?since=0&client=h2-stream", "\n"),
        ("sse", "/api/sse?since=0&client=h2-sse", "\n\n"),
    ] {
        let app = spawn_app_with(&["--heartbeat", "60"]).await;
        let authority = app.addr.to_string();
        let client = path.split("client=").nth(1).unwrap();
        let (mut h2, tally) = h2c(&app).await;
        let (status, mut body) = open(&mut h2, &authority, path).await;
        assert_eq!(status, 200);
        let mut text = String::new();
        // The stream's opening `ready`, then two messages.
        read_until(&mut body, &mut text, |t| {
            t.contains("ready") && t.ends_with(line_end)
        })
        .await;
        let first = app.post("ada", &format!("{transport} one")).await;
        let second = app.post("ada", &format!("{transport} two")).await;
        read_until(&mut body, &mut text, |t| {
            t.contains(&format!("{transport} two")) && t.ends_with(line_end)
        })
        .await;
        let s = counted_exactly(&app, client, transport, &tally).await;
        assert_eq!(s["messages"], 2, "{s}");
        assert_eq!(
            s["payload_bytes"].as_u64().unwrap(),
            (stored_json(&first).len() + stored_json(&second).len()) as u64,
            "{text}"
        );
        assert_eq!(
            (s["http2_requests"].as_u64(), s["open"].as_u64()),
            (Some(1), Some(1))
        );
        // The client cancels the stream (RST_STREAM), then closes the connection.
        drop(body);
        let s = counted_exactly(&app, client, transport, &tally).await;
        assert!(s["other_bytes"].as_u64().unwrap() > 0);
        drop(h2);
        let deadline = tokio::time::Instant::now() + WAIT;
        while snapshot(&app, client, transport).await["open"] != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the close is counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Closing, both sides may say GOAWAY: the client's is counted both ways; the server's
        // (17 bytes) may reach a socket the client has stopped reading, written and counted by
        // the server, never read by the client.
        let s = snapshot(&app, client, transport).await;
        assert_eq!(s["request_bytes"], tally.written(), "{s}");
        let unread = s["response_bytes"].as_u64().unwrap() - tally.read();
        assert!(
            matches!(unread, 0 | 17),
            "{unread} bytes more than the client read: {s}"
        );
    }
}

/// A server with the TLS port on, its certificate in a directory of its own.
struct TlsApp {
    server: transport_lab::startup::LocalServer,
    app: TestApp,
    dir: std::path::PathBuf,
}

impl TlsApp {
    fn start(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("transport-lab-test-{name}-{}", std::process::id()));
        let dir_flag = dir.to_string_lossy().into_owned();
        let server = transport_lab::startup::LocalServer::start(&[
            "--tls-bind",
            "127.0.0.1:0",
            "--tls-dir",
            &dir_flag,
            "--no-presence-events",
        ])
        .unwrap();
        let app = TestApp::at(server.addr());
        Self { server, app, dir }
    }

    /// A TLS connection to the TLS port, trusting its certificate for `localhost`, offering
    /// `alpn`; ciphertext counted into `cipher`.
    async fn connect(
        &self,
        alpn: &[u8],
        cipher: &Tally,
    ) -> tokio_rustls::client::TlsStream<Counted<TcpStream>> {
        let cert = std::fs::read(self.dir.join("cert-127.0.0.1.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&cert) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(self.server.tls_addr().unwrap())
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(
                rustls_pki_types::ServerName::try_from("localhost").unwrap(),
                Counted {
                    io: tcp,
                    tally: cipher.clone(),
                },
            )
            .await
            .expect("the certificate is trusted for localhost");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        tls
    }

    async fn stop(self) {
        self.server.stop().await.unwrap();
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

/// Waits until plaintext + TLS overhead in the ledger is what crossed the client's socket.
async fn wire_counted_exactly(app: &TestApp, client: &str, transport: &str, cipher: &Tally) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = snapshot(app, client, transport).await;
        let wire = |bytes: &str, tls: &str| s[bytes].as_u64().unwrap() + s[tls].as_u64().unwrap();
        let got = (
            wire("request_bytes", "tls_request_bytes"),
            wire("response_bytes", "tls_response_bytes"),
        );
        if got == (cipher.written(), cipher.read()) || tokio::time::Instant::now() > deadline {
            assert_eq!(
                got,
                (cipher.written(), cipher.read()),
                "plaintext + TLS = the wire: {s}"
            );
            assert!(s["tls_request_bytes"].as_u64().unwrap() > 0, "{s}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The TLS port: HTTP/2 by ALPN, the plaintext counted as on the plain port, and TLS's own bytes
/// (handshake, record headers, tags) apart, so plaintext + TLS is what crossed the socket.
#[tokio::test]
async fn the_tls_port_serves_http2_and_counts_tls_apart() {
    let server = TlsApp::start("h2");
    let (cipher, plain) = (Tally::default(), Tally::default());
    let tls = server.connect(b"h2", &cipher).await;
    let (mut h2, connection) = h2::client::handshake(Counted {
        io: tls,
        tally: plain.clone(),
    })
    .await
    .unwrap();
    tokio::spawn(connection);

    let authority = server.server.tls_addr().unwrap().to_string();
    for _ in 0..2 {
        let (status, body) = get(&mut h2, &authority, "/api/poll?since=0&client=h2-tls").await;
        assert_eq!(
            (status, body.contains("\"messages\":[]")),
            (200, true),
            "{body}"
        );
    }
    let s = counted_exactly(&server.app, "h2-tls", "poll", &plain).await;
    wire_counted_exactly(&server.app, "h2-tls", "poll", &cipher).await;
    assert_eq!(s["http2_requests"], 2);
    drop(h2);
    server.stop().await;
}

/// WebSocket on the TLS port: HTTP/1.1 by ALPN (actix has no WebSocket over HTTP/2, and says so
/// to one asked for over it), counted to the byte, TLS apart.
#[tokio::test]
async fn websocket_on_the_tls_port_is_http11_and_counted() {
    let server = TlsApp::start("ws");
    let (cipher, plain) = (Tally::default(), Tally::default());
    let tls = server.connect(b"http/1.1", &cipher).await;
    let (mut socket, response) = tokio_tungstenite::client_async(
        "wss://localhost/api/ws?since=0&client=tls-ws",
        Counted {
            io: tls,
            tally: plain.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 101);
    use futures_util::StreamExt;
    let ready = socket.next().await.unwrap().unwrap();
    assert!(ready.to_text().unwrap().contains("ready"), "{ready}");
    server.app.post("ada", "over wss").await;
    let message = socket.next().await.unwrap().unwrap();
    assert!(message.to_text().unwrap().contains("over wss"), "{message}");
    let s = counted_exactly(&server.app, "tls-ws", "ws", &plain).await;
    wire_counted_exactly(&server.app, "tls-ws", "ws", &cipher).await;
    assert_eq!(
        (s["http2_requests"].as_u64(), s["messages"].as_u64()),
        (Some(0), Some(1))
    );
    socket.close(None).await.unwrap();

    // Asked for over HTTP/2, it is refused in words.
    let (mut h2, _) = h2c(&server.app).await;
    let (status, body) = get(&mut h2, &server.app.addr.to_string(), "/api/ws").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("WebSocket over HTTP/2 (RFC 8441) is not supported"),
        "{body}"
    );
    server.stop().await;
}

// ---- Hostile HTTP/2, in raw frames ----

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ENHANCE_YOUR_CALM: u32 = 0xB;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK integer with an `n`-bit prefix under `flags`.
fn integer(flags: u8, n: u32, mut value: usize) -> Vec<u8> {
    let max = (1usize << n) - 1;
    if value < max {
        return vec![flags | value as u8];
    }
    let mut out = vec![flags | max as u8];
    value -= max;
    while value >= 128 {
        out.push(0x80 | (value % 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
    out
}

/// A literal header field without indexing, new name, no Huffman coding.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend(integer(0, 7, name.len()));
    out.extend_from_slice(name.as_bytes());
    out.extend(integer(0, 7, value.len()));
    out.extend_from_slice(value.as_bytes());
    out
}

fn get_block(authority: &str, path: &str) -> Vec<u8> {
    [
        literal(":method", "GET"),
        literal(":scheme", "http"),
        literal(":path", path),
        literal(":authority", authority),
    ]
    .concat()
}

/// Reads frames until the server closes the connection, which it must within `WAIT`: each as
/// (type, flags, stream, payload).
async fn frames_until_close(socket: &mut TcpStream) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut bytes = Vec::new();
    let closed = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 16384];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server ends the connection");
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        if rest.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7FFF_FFFF;
        frames.push((rest[3], rest[4], stream, rest[9..9 + len].to_vec()));
        rest = &rest[9 + len..];
    }
    frames
}

/// The GOAWAY among `frames`: its error code and debug text.
fn goaway(frames: &[(u8, u8, u32, Vec<u8>)]) -> Option<(u32, String)> {
    frames.iter().find(|f| f.0 == GOAWAY).map(|f| {
        let code = u32::from_be_bytes([f.3[4], f.3[5], f.3[6], f.3[7]]);
        (code, String::from_utf8_lossy(&f.3[8..]).into_owned())
    })
}

/// A connection that opens with `opening` after the preface and an empty SETTINGS frame.
async fn hostile(app: &TestApp, opening: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(PREFACE).await.unwrap();
    socket.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    // The server may close before reading everything: a refused write is part of the answer.
    let _ = socket.write_all(opening).await;
    socket
}

/// After each attack: the server still answers, over HTTP/2 too.
async fn still_healthy(app: &TestApp) {
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    let (mut h2, _) = h2c(app).await;
    let (status, _) = get(&mut h2, &app.addr.to_string(), "/healthz").await;
    assert_eq!(status, 200);
}

/// An HPACK bomb (one 4,000-byte entry added, then indexed a hundred times: 400 KB of headers
/// from 4 KB) is refused at 64 KiB with GOAWAY ENHANCE_YOUR_CALM, before h2 builds it.
#[tokio::test]
async fn an_hpack_bomb_gets_goaway_enhance_your_calm() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let mut block = get_block(&authority, "/api/poll");
    block.push(0x40);
    block.extend(integer(0, 7, 1));
    block.push(b'x');
    block.extend(integer(0, 7, 4000));
    block.extend(std::iter::repeat_n(b'v', 4000));
    block.extend(std::iter::repeat_n(0xBE, 100));
    let mut socket = hostile(&app, &frame(HEADERS, END_STREAM | END_HEADERS, 1, &block)).await;
    let frames = frames_until_close(&mut socket).await;
    assert_eq!(
        goaway(&frames),
        Some((
            ENHANCE_YOUR_CALM,
            "a header block larger than 65536 bytes".to_owned()
        ))
    );
    still_healthy(&app).await;
}

/// More than 256 streams open at once on one connection (each an SSE subscription, which never
/// ends) gets GOAWAY ENHANCE_YOUR_CALM: one connection cannot hold more than that many
/// subscriptions, whatever `--max-connections` allows.
#[tokio::test]
async fn too_many_open_streams_get_goaway() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let mut opening = Vec::new();
    for i in 0..300u32 {
        let block = get_block(&authority, "/api/sse?since=0");
        opening.extend(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, &block));
    }
    let mut socket = hostile(&app, &opening).await;
    let frames = frames_until_close(&mut socket).await;
    assert_eq!(
        goaway(&frames),
        Some((
            ENHANCE_YOUR_CALM,
            "more than 256 streams open at once".to_owned()
        ))
    );
    still_healthy(&app).await;
}

/// "Rapid reset" (CVE-2023-44487): streams opened and cancelled at once, by the thousand. The h2
/// crate under actix counts resets of streams the server has not yet accepted and ends the
/// connection with GOAWAY ENHANCE_YOUR_CALM past its limit.
#[tokio::test]
async fn rapid_reset_gets_goaway() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let block = get_block(&authority, "/api/longpoll?since=0");
    let mut opening = Vec::new();
    for i in 0..5000u32 {
        let stream = 2 * i + 1;
        opening.extend(frame(HEADERS, END_STREAM | END_HEADERS, stream, &block));
        opening.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
    }
    let mut socket = hostile(&app, &opening).await;
    let frames = frames_until_close(&mut socket).await;
    let (code, _) = goaway(&frames).expect("a GOAWAY");
    assert_eq!(code, ENHANCE_YOUR_CALM, "{:?}", goaway(&frames));
    still_healthy(&app).await;
}

/// A SETTINGS flood from a client that never reads: every SETTINGS frame needs an ACK, and a
/// server that queued ACKs without bound would grow with the flood. h2 sends each ACK before it
/// reads the next frame, so once the ACKs fill the socket buffers the server stops reading: the
/// flood stops at the client's own send buffer, and the stall timeout ends the connection. (The
/// client's receive buffer is made small so the ACKs fill the buffers soon, whatever the
/// machine's defaults.)
#[tokio::test]
async fn a_settings_flood_stops_at_the_socket_and_ends() {
    let app = spawn_app_with(&["--stall-timeout", "1"]).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut socket = socket.connect(app.addr).await.unwrap();
    socket.write_all(PREFACE).await.unwrap();
    // Empty SETTINGS frames, 1,000 (9 KB) at a time: each asks for an ACK as long as itself.
    let batch: Vec<u8> = std::iter::repeat_n(frame(SETTINGS, 0, 0, &[]), 1000)
        .flatten()
        .collect();
    // Up to 20,000 batches (180 MB), each given 2 s: a write that waits that long is a server
    // that stopped reading; one that fails, a server that ended the connection.
    let mut taken = 0;
    let stopped = loop {
        if taken == 20_000 {
            break "never";
        }
        match tokio::time::timeout(std::time::Duration::from_secs(2), socket.write_all(&batch))
            .await
        {
            Ok(Ok(())) => taken += 1,
            Ok(Err(_)) => break "ended",
            Err(_) => break "stopped reading",
        }
    };
    assert_ne!(stopped, "never", "the server read all {taken} batches");
    // Then the stall timeout (1 s) ends the connection: a write fails (the server's close, with
    // the flood unread, is a reset).
    let ended = tokio::time::timeout(3 * WAIT, async {
        loop {
            if socket.write_all(&batch).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the server ends the connection ({stopped} after {taken} batches)"
    );
    still_healthy(&app).await;
}

/// A preface that goes wrong after its first twelve bytes: the connection is HTTP/2 by then, and
/// h2 refuses it: the connection ends (after a GOAWAY PROTOCOL_ERROR, if any); nothing else is
/// affected.
#[tokio::test]
async fn a_bad_preface_is_refused() {
    let app = spawn_app().await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        .await
        .unwrap();
    let frames = frames_until_close(&mut socket).await;
    if let Some((code, _)) = goaway(&frames) {
        assert_eq!(code, 0x1, "PROTOCOL_ERROR");
    }
    still_healthy(&app).await;
}

/// Window starvation: a client that announces a zero window and never opens it. The server can
/// send it no DATA; its subscription waits without growing (the stream is pulled only as the
/// window allows), and everyone else is served.
#[tokio::test]
async fn a_starved_window_holds_nothing_back_from_others() {
    let app = spawn_app().await;
    let authority = app.addr.to_string();
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(PREFACE).await.unwrap();
    // SETTINGS_INITIAL_WINDOW_SIZE = 0.
    socket
        .write_all(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0]))
        .await
        .unwrap();
    let block = get_block(&authority, "/api/sse?since=0&client=starved");
    socket
        .write_all(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
        .await
        .unwrap();
    let mut others = app.sse("/api/sse?since=0", None).await;
    for i in 0..200 {
        app.post("ada", &format!("message {i}")).await;
    }
    for _ in 0..200 {
        others
            .next_non_heartbeat()
            .await
            .expect("the others are served");
    }
    let starved = snapshot(&app, "starved", "sse").await;
    assert_eq!(
        starved["messages"], 0,
        "no DATA went past a zero window: {starved}"
    );
    still_healthy(&app).await;
}

/// The README's HTTP/2 recipes, run as written with curl (its address and certificate directory
/// put in): HTTP/2 over TLS trusting the certificate the server made, h2c with prior knowledge,
/// SSE as a stream, and the stats that show what it cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_http2_recipes_work_as_written() {
    let readme = include_str!("../../README.md");
    let start = readme.find("## HTTP/2 and TLS").expect("the section");
    let block = readme[start..]
        .split("```sh\n")
        .nth(2)
        .and_then(|b| b.split("```").next())
        .expect("the recipes");
    let server = TlsApp::start("readme");
    let tls_port = server.server.tls_addr().unwrap().port();
    let script = block
        .replace("/tmp/transport-lab-tls", &server.dir.to_string_lossy())
        .replace("localhost:8443", &format!("localhost:{tls_port}"))
        .replace("localhost:8080", &server.app.addr.to_string());
    let lines: Vec<&str> = script
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let mut outputs = Vec::new();
    for line in lines {
        let line = line.to_owned();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("timeout")
                .args(["2", "bash", "-c", &line])
                .output()
                .expect("bash, timeout and curl run")
        })
        .await
        .unwrap();
        // 124: `timeout` ended the SSE stream, as it should.
        assert!(matches!(out.status.code(), Some(0 | 124)), "{out:?}");
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert!(outputs[0].contains("\"messages\":[]"), "{}", outputs[0]);
    assert!(outputs[1].contains("\"messages\":[]"), "{}", outputs[1]);
    assert!(outputs[2].contains("event: ready"), "{}", outputs[2]);
    let stats: Value = serde_json::from_str(&outputs[3]).unwrap();
    let poll = &stats["transports"]["poll"];
    assert_eq!(
        (poll["requests"].as_u64(), poll["http2_requests"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(poll["tls_request_bytes"].as_u64().unwrap() > 0, "{poll}");
    assert_eq!(stats["transports"]["sse"]["http2_requests"], 1);
    server.stop().await;
}

/// The tap shows an HTTP/2 request's decoded header list, and says which fields hit HPACK's
/// dynamic table: none the first time, the repeated ones on the second request.
#[tokio::test]
async fn the_tap_shows_decoded_headers_and_dynamic_table_hits() {
    let app = spawn_app().await;
    let mut tap = app.sse("/api/tap?client=h2-tap", None).await;
    tap.next_event().await.unwrap();
    let authority = app.addr.to_string();
    let (mut h2, _) = h2c(&app).await;
    let headers = [("user-agent", "a-test/1.0".to_owned())];
    for _ in 0..2 {
        get_with(
            &mut h2,
            &authority,
            "/api/poll?since=0&client=h2-tap",
            &headers,
        )
        .await;
    }
    let mut request_heads = Vec::new();
    while request_heads.len() < 2 {
        let event = tap.next_event().await.expect("tap records");
        let data = event.data.unwrap_or_default();
        if data.starts_with("→ poll HTTP/2 HEADERS") {
            request_heads.push(data);
        }
    }
    assert!(
        request_heads[0].contains("0 from the dynamic table")
            && request_heads[0]
                .contains("user-agent: a-test/1.0    [literal, added to the dynamic table]"),
        "{}",
        request_heads[0]
    );
    assert!(
        request_heads[1].contains("user-agent: a-test/1.0    [dynamic table hit]"),
        "{}",
        request_heads[1]
    );
}
