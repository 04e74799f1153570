//! A hand-written HTTP/1.1 and WebSocket client over a raw TCP socket that counts every byte it
//! sends and receives, to check the server's ledger against.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::headers::{self, HeaderProfile, RequestKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::WAIT;

/// What a browser tab sends with a `fetch`, cookie included: the one browser set that `/overhead`
/// and the load generator measure with too.
pub fn browser_headers() -> String {
    headers::to_head(&headers::request_headers(
        HeaderProfile::Browser,
        RequestKind::Fetch,
        headers::DEFAULT_ORIGIN,
        None,
    ))
}

/// Sends `request` on a new connection and reads everything until the server closes it (at most
/// 5 s): for answers that end their connection (refusals, `Connection: close`).
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    read_to_close(socket).await
}

/// Everything `socket` receives until the server closes it (at most 5 s).
pub async fn read_to_close(mut socket: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut out))
        .await
        .expect("the server closed the connection within 5 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// One keep-alive connection and its own byte counts.
pub struct RawConn {
    socket: TcpStream,
    addr: SocketAddr,
    /// Bytes written to the socket.
    pub sent: u64,
    /// Bytes read from the socket.
    pub received: u64,
    /// Read but not yet consumed.
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            socket: TcpStream::connect(addr).await.unwrap(),
            addr,
            sent: 0,
            received: 0,
            buf: vec![],
        }
    }

    /// Closes the connection cleanly (FIN), as a client that read everything and left does.
    pub async fn close(mut self) {
        self.socket.shutdown().await.unwrap();
    }

    /// Resets the connection (RST), as a crashed client or a cut network does.
    pub fn reset(self) {
        // A zero linger time turns the close into a reset.
        self.socket.set_zero_linger().unwrap();
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).await.unwrap();
        self.sent += bytes.len() as u64;
    }

    /// Sends a GET with the browser header set; returns the exact head sent.
    pub async fn get(&mut self, path: &str) -> String {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{}\r\n",
            self.addr,
            browser_headers()
        );
        self.send(head.as_bytes()).await;
        head
    }

    /// Sends a JSON POST with the browser header set.
    pub async fn post_json(&mut self, path: &str, body: &str) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            browser_headers(),
            body.len()
        );
        self.send(head.as_bytes()).await;
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.socket.read(&mut chunk))
            .await
            .expect("data within WAIT")
            .unwrap();
        assert!(
            n > 0,
            "server closed the connection; unread: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.received += n as u64;
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn find(&self, pattern: &[u8], from: usize) -> Option<usize> {
        self.buf
            .get(from..)?
            .windows(pattern.len())
            .position(|w| w == pattern)
            .map(|i| i + from)
    }

    /// Reads a whole `Content-Length` response; returns head and body.
    pub async fn read_response(&mut self) -> (String, Vec<u8>) {
        let head_end = loop {
            if let Some(i) = self.find(b"\r\n\r\n", 0) {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a Content-Length response");
        while self.buf.len() < head_end + length {
            self.fill().await;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        (head, body)
    }

    /// Reads until `first` has been seen and then `then` after it; consumes through `then`.
    pub async fn read_through(&mut self, first: &[u8], then: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.find(first, 0)
                && let Some(j) = self.find(then, i + first.len())
            {
                return self.buf.drain(..j + then.len()).collect();
            }
            self.fill().await;
        }
    }

    /// Reads WebSocket frames (server frames are unmasked) until `count` complete ones arrived;
    /// returns their opcodes and payloads.
    pub async fn read_frames(&mut self, count: usize) -> Vec<(u8, Vec<u8>)> {
        let mut frames = vec![];
        while frames.len() < count {
            match parse_frame(&self.buf) {
                Some((opcode, payload, used)) => {
                    frames.push((opcode, payload));
                    self.buf.drain(..used);
                }
                None => self.fill().await,
            }
        }
        frames
    }

    /// Sends a masked text frame, as every client must.
    pub async fn send_text_frame(&mut self, text: &str, mask: [u8; 4]) {
        let payload = text.as_bytes();
        assert!(payload.len() < 126);
        let mut frame = vec![0x81, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.send(&frame).await;
    }
}

fn parse_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, header) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 => panic!("no frame here is that long"),
        126 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= header + len).then(|| {
        (
            buf[0] & 0x0F,
            buf[header..header + len].to_vec(),
            header + len,
        )
    })
}
