//! Which web pages may act on this server: the host and cross-site request checks.
//!
//! DNS rebinding first: a page of `evil.example` can make its own name resolve to 127.0.0.1 (or a
//! classroom's LAN address), and its requests then reach this server as *same-origin* requests of
//! `evil.example`, with `Host: evil.example`, passing every origin check below. So a request is
//! answered only when its `Host` is an IP address (a page served from an address cannot rebind
//! it), `localhost`, or a name in `--allowed-hosts`; anything else gets 421.
//!
//! A browser attaches the user's cookies to requests a page of *another* site makes, and some need
//! no CORS permission at all: an HTML form, `navigator.sendBeacon`, a `no-cors` `fetch()` can all
//! POST `text/plain` or form bodies. Without a check, any page the user visits could post chat
//! messages in their name. Browsers say where a request comes from (`Origin`, and
//! `Sec-Fetch-Site` when they leave `Origin` out), so a request from a page that is not ours is
//! refused; a request with neither comes from curl or a script, not from a page, and is allowed.

use actix_web::HttpRequest;
use actix_web::http::header::{HOST, ORIGIN};

use crate::config::Config;
use crate::error::AppError;

/// The host the request names: its `Host` header, or over HTTP/2, where there is none, the
/// `:authority` pseudo-header (which actix-http puts in the URI). Without this, HTTP/2 requests
/// passed the host check unchecked, and a page's own posts were refused as cross-site.
fn request_host(req: &HttpRequest) -> Option<String> {
    match req.headers().get(HOST) {
        Some(host) => Some(String::from_utf8_lossy(host.as_bytes()).into_owned()),
        None => req.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

/// Whether `origin` (`http://host:port`) is a page allowed here: one in `--allowed-origins`, or
/// by default the server's own (its host:port is the request's `Host`), or, for the API calls that
/// CORS opens (`also`), one in `--cors-origins`.
fn permitted(req: &HttpRequest, origin: &str, allowed: &[String], also: &[String]) -> bool {
    let listed = |list: &[String]| {
        list.iter()
            .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    let own = || {
        let host = request_host(req);
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(&h))
    };
    (if allowed.is_empty() {
        own()
    } else {
        listed(allowed)
    }) || listed(also)
}

/// A WebSocket handshake: refused (403) when a page of another origin opens it (cross-site
/// WebSocket hijacking); allowed without `Origin`.
pub fn check_handshake(req: &HttpRequest, config: &Config) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if permitted(req, origin, &config.allowed_origins, &[]) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "WebSocket connections from origin {origin:?} are not allowed here (see --allowed-origins)"
        )))
    }
}

/// A request that changes something (a post): refused (403) when a page of another origin
/// makes it, by its `Origin`, or without one by `Sec-Fetch-Site: cross-site`.
pub fn check_write(req: &HttpRequest, config: &Config) -> Result<(), AppError> {
    check_page(req, config, Act::Post)
}

/// The teacher's reset: as [`check_write`], but `--cors-origins` do not open it. Otherwise any
/// page the teacher's browser opens on the server's own machine (which the reset trusts) could
/// start a room over.
pub fn check_teacher(req: &HttpRequest, config: &Config) -> Result<(), AppError> {
    check_page(req, config, Act::Reset)
}

/// What a page asks to do, for the origins it may come from and the refusal's words.
#[derive(Clone, Copy)]
enum Act {
    Post,
    Reset,
}

fn check_page(req: &HttpRequest, config: &Config, act: Act) -> Result<(), AppError> {
    let (also, from_origin, from_site): (&[String], _, _) = match act {
        Act::Post => (
            &config.cors_origins,
            "posts from origin {} are not allowed here (see --allowed-origins and --cors-origins)",
            "posts from a page of another site are not allowed here",
        ),
        Act::Reset => (
            &[],
            "starting a room over from origin {} is not allowed here (see --allowed-origins)",
            "starting a room over from a page of another site is not allowed here",
        ),
    };
    match req.headers().get(ORIGIN) {
        Some(origin) => {
            let origin = origin.to_str().unwrap_or_default();
            if permitted(req, origin, &config.allowed_origins, also) {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    from_origin.replace("{}", &format!("{origin:?}")),
                ))
            }
        }
        None => match req.headers().get("sec-fetch-site") {
            Some(site) if site.as_bytes().eq_ignore_ascii_case(b"cross-site") => {
                Err(AppError::Forbidden(from_site.into()))
            }
            _ => Ok(()),
        },
    }
}

/// Whether this server answers to `host` (a `Host` header: `name[:port]` or `[v6]:port`).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal: only an address can be in brackets.
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(name))
}

/// Any request: refused (421) when its `Host` names a host this server does not answer to.
pub fn check_host(req: &HttpRequest, config: &Config) -> Result<(), AppError> {
    let Some(host) = request_host(req) else {
        return Ok(());
    };
    if host_allowed(&host, &config.allowed_hosts) {
        Ok(())
    } else {
        Err(AppError::MisdirectedRequest(format!(
            "host {host:?} is not served here: use the server's address or localhost, or name \
             it in --allowed-hosts"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses and localhost always; names only when allowed; ports do not matter.
    #[test]
    fn hosts() {
        let allowed = vec!["class.example".to_owned()];
        for ok in [
            "127.0.0.1:8080",
            "192.168.1.20",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "Class.Example:8080",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "[evil]:1",
            "",
        ] {
            assert!(!host_allowed(refused, &allowed), "{refused}");
        }
    }

    /// Over HTTP/2 there is no `Host` header: the `:authority` (in the URI) is checked instead,
    /// so a rebound name is refused and a page's own post is its own origin.
    #[test]
    fn http2_requests_are_checked_by_their_authority() {
        use actix_web::http::Version;
        use actix_web::test::TestRequest;
        use clap::Parser;
        let config = Config::parse_from(["transport-lab"]);
        let h2 = |uri: &str, origin: &str| {
            TestRequest::post()
                .version(Version::HTTP_2)
                .uri(uri)
                .insert_header((ORIGIN, origin))
                .to_http_request()
        };
        let rebound = h2(
            "http://evil.example:8080/api/messages",
            "http://evil.example:8080",
        );
        assert!(check_host(&rebound, &config).is_err());
        let own = h2(
            "https://127.0.0.1:8443/api/messages",
            "https://127.0.0.1:8443",
        );
        assert!(check_host(&own, &config).is_ok());
        assert!(check_write(&own, &config).is_ok());
        let other = h2(
            "https://127.0.0.1:8443/api/messages",
            "https://evil.example",
        );
        assert!(check_write(&other, &config).is_err());
    }
}
