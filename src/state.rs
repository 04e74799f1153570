//! What every handler shares: the bus, the configuration and the shutdown signal.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::Config;
use crate::ledger::Ledger;

/// Handed to every request through `web::Data`; cloning is a few reference-count bumps.
#[derive(Clone)]
pub struct AppState {
    pub bus: Bus,
    pub config: Arc<Config>,
    /// What every transport has cost on the wire; fed by the connection wrapper in `startup`.
    pub ledger: Ledger,
    /// Cancelled when the server begins to shut down: every stream, long poll and WebSocket
    /// watches it and ends promptly, so graceful shutdown is not held up by open connections.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self {
            bus: Bus::new(config.history),
            config: Arc::new(config),
            ledger: Ledger::new(),
            shutdown: CancellationToken::new(),
        }
    }
}
