//! The test harness: `spawn_app()` starts the real server on 127.0.0.1:0 in this process and
//! returns typed clients that speak each transport over real sockets.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use transport_lab::startup::LocalServer;

/// How long any single wait in a test may take before it counts as a failure.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    server: Option<LocalServer>,
}

/// Starts the server with the defaults, a short heartbeat, and `extra` flags.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    spawn_app_on("127.0.0.1:0", extra).await
}

/// Starts the server with `presence` events on, as a real server sends them: for the tests of
/// rooms and presence. (Every other test reads its streams byte for byte, and a head count
/// arriving once a second would land between any two of their reads.)
pub async fn spawn_app_with_presence(extra: &[&str]) -> TestApp {
    let mut args = vec![PRESENCE_ON];
    args.extend_from_slice(extra);
    spawn_app_on("127.0.0.1:0", &args).await
}

/// A marker for `spawn_app_on`, not a server flag.
const PRESENCE_ON: &str = "(presence events on)";

/// Starts the server on `bind`: `restart()` uses it to come back on the address it had.
pub async fn spawn_app_on(bind: &str, extra: &[&str]) -> TestApp {
    let mut args = vec!["--workers", "2"];
    let (presence, extra): (Vec<&str>, Vec<&str>) = extra.iter().partition(|a| **a == PRESENCE_ON);
    if presence.is_empty() {
        args.push("--no-presence-events");
    }
    let extra = &extra[..];
    // Tests wait for heartbeats, so they come every 0.3 s unless a test asks otherwise.
    if !extra.contains(&"--heartbeat") {
        args.extend_from_slice(&["--heartbeat", "0.3"]);
    }
    args.extend_from_slice(extra);
    let server =
        LocalServer::start_on(bind, &args).expect("valid test flags, and the server binds");
    let addr = server.addr();
    TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        server: Some(server),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// A handle on a server that runs elsewhere (no shutdown of its own): for code that needs
    /// only its address.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            server: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a JSON message and returns the stored message.
    pub async fn post(&self, user: &str, text: &str) -> Value {
        serde_json::from_str(&self.post_raw(user, text).await).unwrap()
    }

    /// Posts a JSON message and returns the 201 body exactly as the server wrote it.
    pub async fn post_raw(&self, user: &str, text: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/messages"))
            .json(&serde_json::json!({"user": user, "text": text}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 201, "post failed: {body}");
        body
    }

    /// GETs a text document (a page, `/metrics`), returning its body; any status but 200 fails.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// GETs a JSON endpoint, returning status and body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// This run's epoch, the first half of every cursor, from `/healthz` (which no transport's
    /// ledger counts).
    pub async fn epoch(&self) -> String {
        let (_, health) = self.get_json("/healthz").await;
        health["epoch"]
            .as_str()
            .expect("/healthz names the epoch")
            .to_owned()
    }

    /// The cursor of message `id` of this run: `EPOCH-ID`.
    pub async fn cursor(&self, id: u64) -> String {
        format!("{}-{id}", self.epoch().await)
    }

    /// The `ready` object a stream that starts after `since` opens with.
    pub async fn ready(&self, since: u64) -> Value {
        serde_json::json!({"type": "ready", "since": since, "epoch": self.epoch().await})
    }

    /// The `ready` object exactly as the server writes it (field order included).
    pub async fn ready_text(&self, since: u64) -> String {
        let epoch = protocol::Epoch::parse(&self.epoch().await).expect("the server's epoch");
        protocol::Control::Ready {
            room: None,
            since,
            epoch,
            node: None,
        }
        .to_json()
    }

    /// The WebSocket's `ready` for the lobby, exactly as the server writes it.
    pub async fn ws_ready_text(&self, since: u64) -> String {
        let epoch = protocol::Epoch::parse(&self.epoch().await).expect("the server's epoch");
        protocol::Control::Ready {
            room: Some(protocol::RoomName::lobby()),
            since,
            epoch,
            node: None,
        }
        .to_json()
    }

    /// The `ready` object a WebSocket gets for a room it joins: it names the room.
    pub async fn ws_ready(&self, room: &str, since: u64) -> Value {
        serde_json::json!({"type": "ready", "room": room, "since": since, "epoch": self.epoch().await})
    }

    /// A poll answer without a gap: `messages`, and the cursor after them.
    pub async fn batch(&self, messages: Value, last_id: u64) -> Value {
        serde_json::json!({
            "messages": messages,
            "last_id": last_id,
            "cursor": self.cursor(last_id).await,
            "gap": false,
        })
    }

    /// Ids of every message currently in history, via the short poll.
    pub async fn stored_ids(&self) -> Vec<u64> {
        let (_, body) = self.get_json("/api/poll?since=0").await;
        ids(&body["messages"])
    }

    /// Opens the SSE stream at `path_and_query`, with an optional `Last-Event-ID`.
    pub async fn sse(&self, path_and_query: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = self.http.get(self.url(path_and_query));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient {
            lines: LineReader::new(Box::pin(response.bytes_stream())),
        }
    }

    /// Opens the NDJSON stream at `path_and_query`.
    pub async fn stream(&self, path_and_query: &str) -> NdjsonClient {
        let response = self
            .http
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        assert_eq!(response.headers()["transfer-encoding"], "chunked");
        NdjsonClient {
            lines: LineReader::new(Box::pin(response.bytes_stream())),
        }
    }

    /// Opens a WebSocket at `path_and_query`.
    pub async fn ws(&self, path_and_query: &str) -> WsClient {
        let url = format!("ws://{}{path_and_query}", self.addr);
        let (socket, response) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket handshake");
        assert_eq!(response.status(), 101);
        WsClient { socket }
    }

    /// Stops this server and starts a new run on the same address: empty history, ids from 1,
    /// a new epoch, as a restarted process would be.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        *self = spawn_app_on(&self.addr.to_string(), &[]).await;
    }

    /// Starts a graceful shutdown and waits for the server to stop.
    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            // Shutdown itself may wait out `--shutdown-timeout` (5 s) for open connections.
            tokio::time::timeout(3 * WAIT, server.stop())
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

/// The `id`s of a JSON array of messages.
pub fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

/// Splits a byte stream into `\n`-terminated lines, whatever the chunk boundaries.
pub struct LineReader<S> {
    stream: S,
    buf: BytesMut,
}

impl<S: Stream<Item = reqwest::Result<Bytes>> + Unpin> LineReader<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// The next line without its `\n`; `None` when the response ended.
    pub async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                return Some(String::from_utf8(line[..i].to_vec()).unwrap());
            }
            match tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("line within WAIT")
            {
                Some(chunk) => self.buf.extend_from_slice(&chunk.unwrap()),
                None => return None,
            }
        }
    }
}

/// One SSE event as the spec's parser assembles it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<String>,
    pub comments: Vec<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap()).unwrap()
    }
}

/// A response body as a boxed byte stream.
pub type Body = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

pub struct SseClient {
    pub lines: LineReader<Body>,
}

impl SseClient {
    /// The next event (lines up to a blank line); `None` when the stream ended.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        let mut event = SseEvent::default();
        loop {
            let line = self.lines.next_line().await?;
            if line.is_empty() {
                return Some(event);
            }
            if let Some(comment) = line.strip_prefix(':') {
                event.comments.push(comment.trim().to_owned());
                continue;
            }
            let (field, value) = line.split_once(": ").unwrap_or((&line, ""));
            let value = value.to_owned();
            match field {
                "id" => event.id = Some(value),
                "event" => event.event = Some(value),
                // Per the SSE spec, several data lines join with newlines.
                "data" => {
                    event.data = Some(match event.data.take() {
                        Some(before) => format!("{before}\n{value}"),
                        None => value,
                    })
                }
                "retry" => event.retry = Some(value),
                other => panic!("unexpected SSE field {other:?}"),
            }
        }
    }

    /// The next event that is not a heartbeat comment.
    pub async fn next_non_heartbeat(&mut self) -> Option<SseEvent> {
        loop {
            let event = self.next_event().await?;
            if !(event.data.is_none() && event.comments == ["heartbeat"]) {
                return Some(event);
            }
        }
    }
}

pub struct NdjsonClient {
    pub lines: LineReader<Body>,
}

impl NdjsonClient {
    /// The next JSON line; `None` when the stream ended.
    pub async fn next_json(&mut self) -> Option<Value> {
        let line = self.lines.next_line().await?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
    }

    /// The next line that is not a heartbeat.
    pub async fn next_non_heartbeat(&mut self) -> Option<Value> {
        loop {
            let value = self.next_json().await?;
            if value["type"] != "heartbeat" {
                return Some(value);
            }
        }
    }
}

pub struct WsClient {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// The next frame of any kind; `None` when the connection ended.
    pub async fn next_frame(&mut self) -> Option<WsMessage> {
        match tokio::time::timeout(WAIT, self.socket.next())
            .await
            .expect("frame within WAIT")
        {
            Some(Ok(frame)) => Some(frame),
            Some(Err(_)) | None => None,
        }
    }

    /// The next text frame as JSON, skipping pings and pongs.
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_frame().await.expect("connection open") {
                WsMessage::Text(text) => return serde_json::from_str(&text).unwrap(),
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(WsMessage::text(text)).await.unwrap();
    }
}

/// The ids of the next `n` messages on an SSE, a stream and a WebSocket client (heartbeats and
/// pings skipped), for checking that all three delivered the same thing.
pub async fn next_ids(
    sse: &mut SseClient,
    stream: &mut NdjsonClient,
    ws: &mut WsClient,
    n: usize,
) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut got = (vec![], vec![], vec![]);
    for _ in 0..n {
        got.0.push(
            sse.next_non_heartbeat().await.unwrap().json()["id"]
                .as_u64()
                .unwrap(),
        );
        got.1.push(
            stream.next_non_heartbeat().await.unwrap()["id"]
                .as_u64()
                .unwrap(),
        );
        got.2.push(ws.next_json().await["id"].as_u64().unwrap());
    }
    got
}

/// A stored message's exact JSON, rebuilt from its parsed form: the server keeps the field order
/// id, room, user, text, ts, which `serde_json::Value` (sorted keys) would lose.
pub fn stored_json(m: &Value) -> String {
    format!(
        r#"{{"id":{},"room":{},"user":{},"text":{},"ts":{}}}"#,
        m["id"], m["room"], m["user"], m["text"], m["ts"]
    )
}

/// One transport's response bytes by kind, summed: the ledger's split must add up to its
/// `response_bytes` at every instant.
pub fn down_split_sum(snapshot: &Value) -> u64 {
    [
        "response_header_bytes",
        "framing_bytes",
        "payload_bytes",
        "heartbeat_bytes",
        "other_bytes",
    ]
    .iter()
    .map(|kind| {
        snapshot[kind]
            .as_u64()
            .unwrap_or_else(|| panic!("{kind} missing in {snapshot}"))
    })
    .sum()
}
