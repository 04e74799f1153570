//! The TLS port's certificate and rustls configuration (`--tls-bind`).
//!
//! HTTP/2 in browsers needs TLS, and a lab on a laptop has no certificate, so when none is given
//! (`--tls-cert`/`--tls-key`) one is made at start with rcgen: self-signed, for `localhost`,
//! `127.0.0.1` and the `--bind` host. It is kept in `--tls-dir` and reused on the next start, so
//! `curl --cacert` and a browser's exception keep working across restarts, and its SHA-256
//! fingerprint is printed so a student can check what the browser shows. ALPN offers `h2` first,
//! then `http/1.1`: browsers take HTTP/2 for requests, and HTTP/1.1 for WebSockets (see the
//! README: actix-http has no RFC 8441 WebSocket over HTTP/2).

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// What the TLS listener serves with.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// The certificate chain, PEM: what a client may trust.
    pub cert_pem: String,
    /// Where that certificate is on disk (for `curl --cacert`).
    pub cert_path: PathBuf,
    /// SHA-256 of the certificate (DER), as browsers show it: `AB:CD:...`.
    pub fingerprint: String,
}

/// ALPN protocols, in the server's order of preference.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl Tls {
    /// Loads `--tls-cert`/`--tls-key`, or the self-signed certificate (made now if need be).
    pub fn load(config: &Config) -> io::Result<Self> {
        let (cert_path, key_path) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            _ => self_signed(config)?,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|certs| certs.collect())
            .map_err(|e| bad(&cert_path, e))?;
        let Some(first) = certs.first() else {
            return Err(bad(&cert_path, "no certificate in the file"));
        };
        let fingerprint = fingerprint(first);
        let cert_pem = fs::read_to_string(&cert_path)?;
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| bad(&key_path, e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(&cert_path, e))?;
        server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            config: Arc::new(server),
            cert_pem,
            cert_path,
            fingerprint,
        })
    }
}

fn bad(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}: {e}", path.display()),
    )
}

/// The self-signed certificate and key for this `--bind` host, made and saved if not there yet.
fn self_signed(config: &Config) -> io::Result<(PathBuf, PathBuf)> {
    let dir = config
        .tls_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("transport-lab-tls"));
    fs::create_dir_all(&dir)?;
    let host = config.bind.ip();
    let tag = host.to_string().replace(':', "_");
    let cert_path = dir.join(format!("cert-{tag}.pem"));
    let key_path = dir.join(format!("key-{tag}.pem"));
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !host.is_unspecified() && host != IpAddr::from([127, 0, 0, 1]) {
        names.push(host.to_string());
    }
    let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    // Written whole under a temporary name, then renamed: two servers starting at once never
    // read half a file.
    write_atomically(&key_path, made.key_pair.serialize_pem().as_bytes(), true)?;
    write_atomically(&cert_path, made.cert.pem().as_bytes(), false)?;
    Ok((cert_path, key_path))
}

fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    fs::rename(&tmp, path)
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
