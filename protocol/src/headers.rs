//! The two request header sets every measurement uses: what `curl` sends, and what a desktop
//! Chrome sends from a page on the server's origin. `/overhead` and the load generator both take
//! them from here, so the page and the benchmark measure the same request heads.
//!
//! Header bytes are much of what a poll costs: it repeats its request head several times a second,
//! while a stream pays it once. So the browser set is a real one (user agent, `Sec-Fetch-*`,
//! referer, a session cookie), varied only where the browser varies it: an `EventSource` asks for
//! `text/event-stream`, a `WebSocket` handshake carries `Origin` and no `Connection: keep-alive`
//! (the client adds its own upgrade headers), a request with a body carries `Origin`.

use serde::{Deserialize, Serialize};

/// Which header set to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderProfile {
    /// What `curl` sends: `User-Agent` and `Accept` (37 bytes after `Host`).
    Curl,
    /// What Chrome sends from a page on the same origin (389 bytes after `Host` for a `fetch()`).
    Browser,
}

impl HeaderProfile {
    /// Both, in the order the reports list them.
    pub const ALL: [HeaderProfile; 2] = [Self::Curl, Self::Browser];

    /// `curl` or `browser`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Curl => "curl",
            Self::Browser => "browser",
        }
    }
}

impl std::fmt::Display for HeaderProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of request, which decides `Accept` and the headers a browser adds or leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `fetch()`: polls, the stream, POSTs (a `content_type` marks a body).
    Fetch,
    /// `new EventSource(..)`.
    EventSource,
    /// `new WebSocket(..)`: the client adds `Upgrade`, `Connection` and `Sec-WebSocket-*`.
    WebSocket,
}

/// `curl --version` of the set: one byte of user agent is one byte per poll.
pub const CURL_USER_AGENT: &str = "curl/8.5.0";
pub const CHROME_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// A session cookie and a preference, as most real pages carry.
pub const COOKIE: &str = "session=7f3a9c1e2b8d4f60; theme=dark";
/// The origin a page served at the default address has; `/overhead` models that page.
pub const DEFAULT_ORIGIN: &str = "http://127.0.0.1:8080";

/// The headers (name, value) in the order the client sends them, after `Host` (which the caller
/// writes first, as every client does). `Content-Length` is the HTTP client's to add.
pub fn request_headers(
    profile: HeaderProfile,
    kind: RequestKind,
    origin: &str,
    content_type: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&'static str, String)> = Vec::with_capacity(14);
    match profile {
        HeaderProfile::Curl => {
            h.push(("User-Agent", CURL_USER_AGENT.into()));
            h.push(("Accept", "*/*".into()));
            if let Some(ct) = content_type {
                h.push(("Content-Type", ct.into()));
            }
        }
        HeaderProfile::Browser => {
            if kind == RequestKind::WebSocket {
                h.push(("Pragma", "no-cache".into()));
                h.push(("Cache-Control", "no-cache".into()));
            }
            h.push(("User-Agent", CHROME_USER_AGENT.into()));
            match kind {
                RequestKind::Fetch => h.push(("Accept", "*/*".into())),
                RequestKind::EventSource => {
                    h.push(("Accept", "text/event-stream".into()));
                    h.push(("Cache-Control", "no-cache".into()));
                }
                RequestKind::WebSocket => {}
            }
            h.push(("Accept-Language", "en-US,en;q=0.9,de;q=0.8".into()));
            h.push(("Accept-Encoding", "gzip, deflate, br, zstd".into()));
            if let Some(ct) = content_type {
                h.push(("Content-Type", ct.into()));
            }
            if kind == RequestKind::WebSocket || content_type.is_some() {
                h.push(("Origin", origin.into()));
            }
            if kind != RequestKind::WebSocket {
                h.push(("Referer", format!("{origin}/")));
                h.push(("Sec-Fetch-Dest", "empty".into()));
                h.push(("Sec-Fetch-Mode", "cors".into()));
                h.push(("Sec-Fetch-Site", "same-origin".into()));
            }
            h.push(("Cookie", COOKIE.into()));
            if kind != RequestKind::WebSocket {
                h.push(("Connection", "keep-alive".into()));
            }
        }
    }
    h
}

/// The headers as they stand in a request head: `Name: value\r\n` each.
pub fn to_head(headers: &[(&str, String)]) -> String {
    headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect()
}

/// Bytes these headers take in a request head.
pub fn head_bytes(headers: &[(&str, String)]) -> usize {
    headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The curl set is curl's default: two headers after `Host`.
    #[test]
    fn curl_is_minimal() {
        let h = request_headers(
            HeaderProfile::Curl,
            RequestKind::Fetch,
            DEFAULT_ORIGIN,
            None,
        );
        assert_eq!(to_head(&h), "User-Agent: curl/8.5.0\r\nAccept: */*\r\n");
        assert_eq!(head_bytes(&h), 37);
    }

    /// The browser's `fetch()` head, byte for byte: `/overhead`'s published figures rest on it.
    #[test]
    fn browser_fetch_head_is_fixed() {
        let h = request_headers(
            HeaderProfile::Browser,
            RequestKind::Fetch,
            DEFAULT_ORIGIN,
            None,
        );
        assert_eq!(
            to_head(&h),
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.9,de;q=0.8\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://127.0.0.1:8080/\r\nSec-Fetch-Dest: empty\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Site: same-origin\r\n\
Cookie: session=7f3a9c1e2b8d4f60; theme=dark\r\nConnection: keep-alive\r\n"
        );
        assert_eq!(head_bytes(&h), 389);
    }

    /// An EventSource asks for the event stream; a WebSocket handshake shows its origin.
    #[test]
    fn browser_varies_by_kind() {
        let sse = to_head(&request_headers(
            HeaderProfile::Browser,
            RequestKind::EventSource,
            DEFAULT_ORIGIN,
            None,
        ));
        assert!(sse.contains("Accept: text/event-stream\r\nCache-Control: no-cache\r\n"));
        let ws = to_head(&request_headers(
            HeaderProfile::Browser,
            RequestKind::WebSocket,
            DEFAULT_ORIGIN,
            None,
        ));
        assert!(ws.contains("Origin: http://127.0.0.1:8080\r\n"));
        assert!(!ws.contains("Connection"));
        let post = to_head(&request_headers(
            HeaderProfile::Browser,
            RequestKind::Fetch,
            DEFAULT_ORIGIN,
            Some("application/json"),
        ));
        assert!(
            post.contains("Content-Type: application/json\r\nOrigin: http://127.0.0.1:8080\r\n")
        );
    }
}
