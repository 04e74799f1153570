//! The request headers every client sends: a browser-like set by default, or curl's minimal one.
//!
//! Header bytes are part of what a transport costs. A short poll repeats its request head several
//! times a second, so the header set decides much of its "bytes up per message"; a stream pays it
//! once. Testing with curl-sized heads would flatter polling, so by default every request carries
//! what a current Chrome sends from a page on the server's origin (`fetch`, `EventSource` or
//! `WebSocket`), including a session cookie. `Accept-Encoding: identity` is the one deliberate
//! difference: compressed bodies would hide the payload bytes we are here to count.

use clap::ValueEnum;
use serde::Serialize;

/// Which header set to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderProfile {
    /// What Chrome sends from a page on the same origin (~600-700 bytes per request head).
    Browser,
    /// What `curl` sends: Host, User-Agent, Accept.
    Curl,
}

/// What kind of request, which decides `Accept` and the `sec-fetch-*` values a browser would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `fetch()` of JSON: polls and POSTs.
    Fetch,
    /// `fetch()` reading a streaming body.
    Stream,
    /// `new EventSource(..)`.
    EventSource,
    /// `new WebSocket(..)`: tungstenite adds the upgrade headers itself.
    WebSocket,
}

pub const CHROME_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";
pub const CURL_USER_AGENT: &str = "curl/8.14.1";
/// A session cookie of the usual size (40 bytes as `name=value`): most real pages carry one.
pub const COOKIE: &str = "session=3f9a1c7be25d48a0b6e1f04c9d2a7e85";

/// The headers (name, value), in the order the client sends them, after the request line.
/// `Content-Type` is added for bodies; `Content-Length` is added by the HTTP client.
pub fn request_headers(
    profile: HeaderProfile,
    kind: RequestKind,
    authority: &str,
    origin: &str,
    content_type: Option<&str>,
) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = Vec::with_capacity(20);
    let mut add = |name: &str, value: &str| h.push((name.to_owned(), value.to_owned()));
    match profile {
        HeaderProfile::Curl => {
            if kind != RequestKind::WebSocket {
                add("Host", authority);
            }
            add("User-Agent", CURL_USER_AGENT);
            add("Accept", "*/*");
            if let Some(ct) = content_type {
                add("Content-Type", ct);
            }
        }
        HeaderProfile::Browser => {
            if kind != RequestKind::WebSocket {
                add("Host", authority);
                add("Connection", "keep-alive");
            } else {
                add("Pragma", "no-cache");
                add("Cache-Control", "no-cache");
            }
            add(
                "sec-ch-ua",
                "\"Chromium\";v=\"142\", \"Google Chrome\";v=\"142\", \"Not_A Brand\";v=\"99\"",
            );
            add("sec-ch-ua-mobile", "?0");
            add("sec-ch-ua-platform", "\"Linux\"");
            add("User-Agent", CHROME_USER_AGENT);
            if let Some(ct) = content_type {
                add("Content-Type", ct);
            }
            match kind {
                RequestKind::EventSource => {
                    add("Accept", "text/event-stream");
                    add("Cache-Control", "no-cache");
                }
                RequestKind::Fetch | RequestKind::Stream => add("Accept", "*/*"),
                RequestKind::WebSocket => {}
            }
            add("Origin", origin);
            if kind != RequestKind::WebSocket {
                add("Sec-Fetch-Site", "same-origin");
                add("Sec-Fetch-Mode", "cors");
                add("Sec-Fetch-Dest", "empty");
                add("Referer", &format!("{origin}/"));
            }
            add("Accept-Encoding", "identity");
            add("Accept-Language", "en-US,en;q=0.9");
            add("Cookie", COOKIE);
        }
    }
    h
}

/// Bytes these headers take in a request head (`name: value\r\n` each).
pub fn head_bytes(headers: &[(String, String)]) -> usize {
    headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_is_minimal() {
        let h = request_headers(
            HeaderProfile::Curl,
            RequestKind::Fetch,
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
            None,
        );
        let names: Vec<_> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "User-Agent", "Accept"]);
        assert_eq!(head_bytes(&h), 60);
    }

    #[test]
    fn browser_set_is_browser_sized() {
        assert_eq!(COOKIE.len(), 40);
        let h = request_headers(
            HeaderProfile::Browser,
            RequestKind::EventSource,
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
            None,
        );
        assert!(
            h.iter()
                .any(|(n, v)| n == "Accept" && v == "text/event-stream")
        );
        assert!(
            h.iter()
                .any(|(n, v)| n == "Accept-Encoding" && v == "identity")
        );
        let bytes = head_bytes(&h);
        assert!((550..800).contains(&bytes), "{bytes}");
    }
}
