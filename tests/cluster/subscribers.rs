//! Clients of the five transports, as small as the tests need: each collects the ids of the
//! messages it receives, and the notices around them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// POST a message to `room` on `url`: the status and the JSON answer.
pub async fn post(url: &str, room: &str, text: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/messages?room={room}"))
        .header("content-type", "text/plain")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads `n` messages of `room` from the start (`since=0`) over `transport`; `urls` is one
/// server, or for the polls two joined by `|`, asked in turn. Returns the transport and the ids.
pub async fn collect_ids(
    urls: String,
    transport: &'static str,
    room: &str,
    n: u64,
) -> (String, Vec<u64>) {
    let ids = match transport {
        "sse" => {
            Sse::open(&urls, room, Some("0"))
                .await
                .ids_until(n as usize, super::PATIENCE)
                .await
        }
        "stream" => stream_ids(&urls, room, n as usize).await,
        "ws" => ws_ids(&urls, room, n as usize).await,
        "longpoll" | "poll" => {
            let urls: Vec<&str> = urls.split('|').collect();
            let mut poller = LongPoller::new(room);
            poller.path = if transport == "poll" {
                "poll"
            } else {
                "longpoll"
            };
            poller.cursor = "0".to_owned();
            let mut ids = Vec::new();
            let mut turn = 0;
            while (ids.len() as u64) < n {
                ids.extend(poller.once(urls[turn % urls.len()]).await);
                turn += 1;
                if transport == "poll" {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            ids
        }
        other => panic!("no client for {other}"),
    };
    (format!("{transport} on {urls}"), ids)
}

/// An SSE client: the ids of the messages, the gap notices, and the cursor to resume from.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    pub gaps: Vec<Value>,
    pub epoch: Option<String>,
    pub last_event_id: Option<String>,
}

impl Sse {
    /// `GET /api/sse?room=ROOM`, resuming from `since` (sent as `Last-Event-ID`, as
    /// EventSource does) when given.
    pub async fn open(url: &str, room: &str, since: Option<&str>) -> Self {
        Self::request(format!("{url}/api/sse?room={room}"), since).await
    }

    /// A member called `client`.
    pub async fn open_as(url: &str, room: &str, client: &str) -> Self {
        Self::request(format!("{url}/api/sse?room={room}&client={client}"), None).await
    }

    async fn request(url: String, since: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(url);
        if let Some(since) = since {
            request = request.header("last-event-id", since);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut sse = Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            gaps: Vec::new(),
            epoch: None,
            last_event_id: None,
        };
        // The `ready` event: the stream is in the room from here on.
        let (kind, _) = sse.event().await;
        assert_eq!(kind, "ready");
        sse
    }

    /// The next event: its type (`message` when none is named) and its data.
    async fn event(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let mut kind = "message".to_owned();
                let mut data = Value::Null;
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        self.last_event_id = Some(v.to_owned());
                        self.epoch = v.split_once('-').map(|(e, _)| e.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap();
                    }
                }
                return (kind, data);
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("the stream stays open")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The ids of the next `n` messages (gap notices are kept in `gaps`), within `patience`.
    pub async fn ids_until(&mut self, n: usize, patience: Duration) -> Vec<u64> {
        let mut ids = Vec::new();
        tokio::time::timeout(patience, async {
            while ids.len() < n {
                match self.event().await {
                    (kind, data) if kind == "message" => ids.push(data["id"].as_u64().unwrap()),
                    (kind, data) if kind == "gap" => self.gaps.push(data),
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("only {ids:?} of {n} messages arrived"));
        ids
    }
}

/// A long-polling (or short-polling) client carrying its cursor from server to server.
pub struct LongPoller {
    room: String,
    pub cursor: String,
    pub path: &'static str,
}

impl LongPoller {
    /// Starts from the room's beginning.
    pub fn new(room: &str) -> Self {
        Self {
            room: room.to_owned(),
            cursor: "0".to_owned(),
            path: "longpoll",
        }
    }

    /// One request to `url`: the ids it brought; the cursor moves on.
    pub async fn once(&mut self, url: &str) -> Vec<u64> {
        let response = reqwest::get(format!(
            "{url}/api/{}?room={}&since={}&timeout=2",
            self.path, self.room, self.cursor
        ))
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["gap"], false, "{body}");
        self.cursor = body["cursor"].as_str().unwrap().to_owned();
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect()
    }

    /// Polls `url` until the cursor reaches id `last`; the ids that came.
    pub async fn poll_until(&mut self, url: &str, last: u64) -> Vec<u64> {
        let mut ids = Vec::new();
        tokio::time::timeout(super::PATIENCE, async {
            while ids.last().is_none_or(|&id| id < last) {
                ids.extend(self.once(url).await);
            }
        })
        .await
        .expect("the polls reached the last id");
        ids
    }
}

/// The ids of the first `n` messages of an NDJSON stream from the start.
async fn stream_ids(url: &str, room: &str, n: usize) -> Vec<u64> {
    let response = reqwest::get(format!("{url}/api/stream?room={room}&since=0"))
        .await
        .unwrap();
    let mut body = Box::pin(response.bytes_stream());
    let mut buffer = String::new();
    let mut ids = Vec::new();
    while ids.len() < n {
        let chunk = body.next().await.expect("the stream stays open").unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let value: Value = serde_json::from_str(&line).unwrap();
            if value.get("type").is_none() {
                ids.push(value["id"].as_u64().unwrap());
            }
        }
    }
    ids
}

/// The ids of the first `n` messages a WebSocket gets from the start.
async fn ws_ids(url: &str, room: &str, n: usize) -> Vec<u64> {
    let ws_url = format!(
        "{}/api/ws?room={room}&since=0",
        url.replacen("http", "ws", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < n {
        match socket.next().await.expect("the socket stays open").unwrap() {
            WsMessage::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value.get("type").is_none() {
                    ids.push(value["id"].as_u64().unwrap());
                }
            }
            WsMessage::Ping(payload) => socket.send(WsMessage::Pong(payload)).await.unwrap(),
            _ => {}
        }
    }
    ids
}
