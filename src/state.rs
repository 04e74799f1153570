//! What every handler shares: the bus (every room), the configuration and the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::backplane::Backplane;
use crate::bus::{Bus, random_epoch};
use crate::config::{BusUrl, Config};
use crate::ledger::Ledger;
use crate::limits::{ConnectionLimiter, PublishLimiter};
use crate::shutdown::ShutdownGate;
use crate::teacher::Teacher;
use crate::transports::socketio::session::Sessions;

/// Handed to every request through `web::Data`; cloning is a few reference-count bumps.
#[derive(Clone)]
pub struct AppState {
    pub bus: Bus,
    pub config: Arc<Config>,
    /// What every transport has cost on the wire; fed by the connection wrapper in `startup`.
    pub ledger: Ledger,
    /// The shutdown sequence: publishes check it, streams watch `shutdown.streams()`, so no
    /// acknowledged message is missing from a stream that ends, and no stream holds shutdown up.
    pub shutdown: ShutdownGate,
    /// How fast each IP address may publish.
    pub publish_limiter: PublishLimiter,
    /// Open connections against the caps; `/healthz` reports its fill level.
    pub connections: ConnectionLimiter,
    /// Who may start a room over.
    pub teacher: Teacher,
    /// Starts a private server for `/api/overhead`'s measurement. Set by `startup`, which is the
    /// one module that builds servers; handed down so the page handler need not import it.
    pub start_private: StartPrivate,
    /// Socket.IO's open sessions: they outlive the requests that carry them.
    pub socketio: Sessions,
    /// The TLS listener, when `--tls-bind` is on: the pages link to it and show its certificate.
    pub tls: Option<Arc<TlsInfo>>,
}

/// The TLS listener as the pages describe it.
#[derive(Debug)]
pub struct TlsInfo {
    pub addr: SocketAddr,
    /// The certificate chain (PEM), for a client that wants to trust it.
    pub cert_pem: String,
    pub cert_path: std::path::PathBuf,
    /// SHA-256 of the certificate, `AB:CD:...`, as browsers show it.
    pub fingerprint: String,
}

/// Starts a private server on a free loopback port with extra command-line flags.
pub type StartPrivate = fn(&[&str]) -> std::io::Result<PrivateServer>;

/// A private server: where it listens, and the future that stops it.
pub struct PrivateServer {
    pub addr: SocketAddr,
    pub stop: Pin<Box<dyn Future<Output = ()>>>,
}

impl AppState {
    /// The state of a server built from `config`; fails only on a `--bus` it cannot use.
    pub fn new(config: Config, start_private: StartPrivate) -> std::io::Result<Self> {
        let bus = match &config.bus {
            BusUrl::Memory => Bus::new(config.bus_settings()),
            BusUrl::Redis(url) => {
                let node: Arc<str> = match &config.node {
                    Some(node) => Arc::from(node.as_str()),
                    None => Arc::from(format!("node-{}", random_epoch())),
                };
                let backplane = Backplane::new(url, node, config.history)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.0))?;
                Bus::shared(config.bus_settings(), backplane)
            }
        };
        Ok(Self {
            start_private,
            bus,
            publish_limiter: PublishLimiter::new(&config),
            connections: ConnectionLimiter::new(&config),
            teacher: Teacher::new(&config),
            config: Arc::new(config),
            ledger: Ledger::new(),
            shutdown: ShutdownGate::default(),
            tls: None,
            socketio: Sessions::default(),
        })
    }
}
