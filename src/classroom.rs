//! What `/class` shows a class: the address students type (or scan) to reach this server, and
//! that address as a QR code drawn here, as inline SVG (no script, no CDN, works offline).
//!
//! The address is the one the teacher's browser used (its `Host`). When that is `localhost` or
//! the server listens on every interface (`--bind 0.0.0.0:8080`), the machine's LAN addresses are
//! what students can reach, so they are listed too, and the QR code points at the first of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use qrcode::QrCode;
use qrcode::render::svg;

/// Private and documentation addresses a UDP socket is "connected" to, only so the kernel picks
/// the interface it would route through; UDP `connect` sends nothing. Several, so a machine
/// with one network per range (Wi-Fi and a wired lab network) shows each.
const PROBES: [&str; 4] = [
    "192.0.2.1:9",
    "10.254.254.254:9",
    "172.31.254.254:9",
    "192.168.254.254:9",
];

/// This machine's non-loopback IPv4 addresses, as the routing table picks them; empty without
/// a network.
pub fn lan_ipv4() -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    for probe in PROBES {
        let local = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect(probe).and_then(|()| s.local_addr()));
        if let Ok(SocketAddr::V4(addr)) = local {
            let ip = *addr.ip();
            if !ip.is_loopback() && !ip.is_unspecified() && !found.contains(&ip) {
                found.push(ip);
            }
        }
    }
    found
}

/// Whether `host` (a `Host` header's name, without the port) names this machine only.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` split into its name and port (`[::1]:8080` keeps its brackets).
pub fn split_host(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.parse::<u16>().is_ok() => {
            (name, port.parse().ok())
        }
        _ => (authority, None),
    }
}

/// `text` (a URL) as an SVG QR code, ready to put inline in HTML: black on white with the quiet
/// zone scanners need, sized by the page's CSS.
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let svg = QrCode::new(text.as_bytes())?
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // The XML declaration belongs to a standalone file, not to an element inside HTML.
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the address\" ",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and addresses of this machine only are told apart from the LAN's.
    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("192.168.1.20"));
        assert!(!is_loopback_host("lab.example"));
    }

    /// The port comes off the authority, IPv6 brackets stay.
    #[test]
    fn hosts_split() {
        assert_eq!(split_host("127.0.0.1:8080"), ("127.0.0.1", Some(8080)));
        assert_eq!(split_host("[::1]:80"), ("[::1]", Some(80)));
        assert_eq!(split_host("lab.example"), ("lab.example", None));
    }

    /// The QR code is one inline `<svg>` element, without an XML declaration.
    #[test]
    fn qr_is_inline_svg() {
        let svg = qr_svg("http://192.168.1.20:8080/?room=math").unwrap();
        assert!(svg.starts_with("<svg role=\"img\""), "{svg:.60}");
        assert!(svg.ends_with("</svg>"));
    }
}
