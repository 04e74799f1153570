//! WebSocket client: tokio-tungstenite driving the handshake and framing over our
//! [`CountingStream`], so the upgrade request, the 101 head, frame headers, client masks and
//! ping/pong are all in the byte counts.
//!
//! Pings from the server are answered by tungstenite while the socket is being read (it queues
//! the pong and flushes it on the next read), which this loop does continuously. A dropped socket
//! is reopened with `since` = the last message id seen.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::clients::{CONNECT_TIMEOUT, ClientOutcome, Phase, Receiver};
use crate::http1::HttpError;
use crate::probe;
use crate::servers::Server;
use crate::target::WS_SCHEME;
use crate::wire::{CountingStream, WireCounters};

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor(index);
    loop {
        let result = tokio::select! {
            () = phase.stop.cancelled() => break,
            result = read_frames(&mut receiver, &mut cursor) => result,
        };
        if !receiver.ended(result).await {
            break;
        }
    }
    receiver.finish()
}

/// A WebSocket on our counting stream, as the handshake left it.
pub type Socket = WebSocketStream<CountingStream<TcpStream>>;

/// Opens a WebSocket to `path_and_query` on `server` with its headers: the handshake (counted
/// as one request) and its 101 answer on a counted connection of its own.
pub async fn open(
    server: &Server,
    counters: Arc<WireCounters>,
    path_and_query: &str,
) -> Result<Socket, String> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server.addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| HttpError::from(e).to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let stream = CountingStream::new(tcp, counters.clone());
    let url = format!("{WS_SCHEME}://{}{path_and_query}", server.url.authority());
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    for (name, value) in &server.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        request.headers_mut().append(name, value);
    }
    counters.add_request();
    let (socket, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    if response.status().as_u16() != 101 {
        return Err(format!("handshake status {}", response.status()));
    }
    Ok(socket)
}

async fn read_frames(receiver: &mut Receiver, cursor: &mut Option<u64>) -> Result<(), String> {
    let phase = receiver.phase.clone();
    let path = phase.request_path(*cursor, receiver.index);
    let mut socket = open(
        phase.server(receiver.index),
        receiver.counters.clone(),
        &path,
    )
    .await?;
    if !phase.lab {
        receiver.ready();
    }
    while let Some(frame) = socket.next().await {
        let payload = match frame {
            Ok(Message::Text(text)) => Bytes::from(text),
            Ok(Message::Binary(bytes)) => bytes,
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => continue,
            Err(WsError::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if receiver.on_bytes(&payload) > 0 {
            if phase.lab
                && let Some(id) = probe::message_id(&payload)
            {
                *cursor = Some(id);
            }
        } else if memchr::memmem::find(&payload, b"\"type\"").is_some() {
            receiver.on_control(&payload);
        }
    }
    Ok(())
}
