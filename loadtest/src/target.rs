//! The server under test: the URLs the tool accepts, and the guard that keeps its traffic on
//! loopback unless told otherwise.
//!
//! Every URL the command line gives (`--url`, `--publish-url`, `--subscribe-url`) is parsed here
//! and checked before the first byte is sent: a load generator pointed at the wrong host is a
//! denial-of-service tool, so anything but 127.0.0.0/8, ::1 and localhost is refused without
//! `--allow-remote`, both as written and as resolved.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};

/// Plain HTTP. TLS is deliberately unsupported: this tool measures plain bytes on loopback.
pub const HTTP_SCHEME: &str = "http";
/// A WebSocket URL (`--subscribe-url ws://...`): an upgrade over plain HTTP.
pub const WS_SCHEME: &str = "ws";
/// The port both schemes default to.
const DEFAULT_PORT: u16 = 80;

/// A URL the tool cannot use.
#[derive(Debug, thiserror::Error)]
#[error("bad url {url:?}: {why}")]
pub struct BadUrl {
    pub url: String,
    pub why: &'static str,
}

/// An `http://` or `ws://` URL, split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// [`HTTP_SCHEME`] or [`WS_SCHEME`].
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Path plus query, always starting with `/`.
    pub path_and_query: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<Self, BadUrl> {
        let bad = |why| BadUrl {
            url: url.to_owned(),
            why,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != HTTP_SCHEME && scheme != WS_SCHEME {
            return Err(bad("only http:// and ws:// are supported"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path_and_query = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None => DEFAULT_PORT,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), DEFAULT_PORT),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(Self {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == DEFAULT_PORT {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `http://authority`, what `Origin` and `Referer` are built from.
    pub fn origin(&self) -> String {
        format!("{HTTP_SCHEME}://{}", self.authority())
    }

    /// This URL's path and query with `key=value` appended.
    pub fn with_param(&self, key: &str, value: &str) -> String {
        let sep = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{key}={value}", self.path_and_query)
    }
}

/// Refuses anything but loopback unless `allow_remote`.
pub fn check_target(url: &HttpUrl, allow_remote: bool) -> anyhow::Result<()> {
    let loopback = url.host.eq_ignore_ascii_case("localhost")
        || url.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!(
            "refusing to load-test {}: only loopback targets (127.0.0.0/8, ::1, localhost) \
             unless --allow-remote is given",
            url.host
        );
    }
    Ok(())
}

/// Resolves a URL's host, preferring IPv4 (servers commonly bind 127.0.0.1 only).
pub async fn resolve(url: &HttpUrl, allow_remote: bool) -> anyhow::Result<SocketAddr> {
    check_target(url, allow_remote)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .with_context(|| format!("resolving {}", url.host))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{} resolves to nothing", url.host))?;
    if !allow_remote && !addr.ip().is_loopback() {
        bail!("{} resolved to non-loopback {addr}", url.host);
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/api/sse?since=3").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("127.0.0.1", 8080, "/api/sse?since=3")
        );
        assert_eq!(u.authority(), "127.0.0.1:8080");
        assert_eq!(u.with_param("client", "a"), "/api/sse?since=3&client=a");
        let u = HttpUrl::parse("ws://[::1]/x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.authority().as_str()),
            ("::1", 80, "[::1]")
        );
        let u = HttpUrl::parse("http://localhost:9").unwrap();
        assert_eq!(u.path_and_query, "/");
        assert!(HttpUrl::parse("https://x").is_err());
        assert!(HttpUrl::parse("127.0.0.1:80").is_err());
    }

    #[test]
    fn refuses_remote_targets() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(
                check_target(&HttpUrl::parse(ok).unwrap(), false).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://0.0.0.0:8080",
        ] {
            let url = HttpUrl::parse(bad).unwrap();
            assert!(check_target(&url, false).is_err(), "{bad}");
            assert!(check_target(&url, true).is_ok(), "{bad}");
        }
    }
}
