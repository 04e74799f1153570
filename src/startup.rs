//! Building and running the server: bind first (so port 0 works and the real port is known
//! before anything starts), then serve the app on that listener.
//!
//! We assemble the server from actix-web's lower layers (`actix_server` + `actix_http::HttpService`)
//! rather than `HttpServer`, because those layers hand us each accepted TCP stream: that is where
//! the wire ledger counts bytes. With it we own what `HttpServer` did for us: workers, keep-alive,
//! timeouts and the shutdown sequence, all set here.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_rt::net::TcpStream;
use actix_server::{Server, ServerHandle};
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, web};

use crate::config::Config;
use crate::ledger::wire::CountingStream;
use crate::routes;
use crate::state::AppState;

/// How long an idle keep-alive connection stays open: long enough for a poll interval of a few
/// seconds to reuse its connection, short enough not to hoard sockets.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a client may take to send a request head (slowloris protection).
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound, running (once awaited) server.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    shutdown: Shutdown,
}

/// Begins a graceful shutdown from anywhere: a signal handler, or a test.
#[derive(Clone)]
pub struct Shutdown {
    state: AppState,
    server: ServerHandle,
}

impl Shutdown {
    /// Tells every stream, long poll and WebSocket to end, then stops the server, which waits up
    /// to `--shutdown-timeout` for connections to finish. Resolves when the server has stopped.
    pub async fn shutdown(&self) {
        tracing::info!("shutting down: ending streams, then closing connections");
        // Streams first: they end their responses, so connections go idle and close promptly.
        self.state.shutdown.cancel();
        self.server.stop(true).await;
    }
}

impl Application {
    /// Binds `config.bind` and prepares the server; nothing is served until [`Self::run`].
    pub fn build(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 512);
        let shutdown_timeout = config.shutdown_timeout;
        let state = AppState::new(config);

        let builder = Server::build()
            .workers(workers)
            // We handle signals ourselves (main.rs), so shutdown always runs our sequence.
            .disable_signals()
            .shutdown_timeout(shutdown_timeout);
        let graceful = builder.graceful_shutdown_signal();
        let app_state = state.clone();
        let ledger = state.ledger.clone();
        let server = builder
            .listen("transport-lab", listener, move || {
                let state = app_state.clone();
                let graceful = graceful.clone();
                let app = App::new()
                    .app_data(web::Data::new(state))
                    .configure(routes::configure);
                let service = HttpService::build()
                    .keep_alive(KeepAlive::Timeout(KEEP_ALIVE))
                    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                    .local_addr(addr)
                    // Closes idle keep-alive connections as soon as shutdown starts.
                    .graceful_shutdown_signal(move || {
                        let graceful = graceful.clone();
                        async move { graceful.notified().await }
                    })
                    .finish(map_config(app, |_| AppConfig::default()));
                // Every accepted connection is wrapped, so the ledger sees each byte it carries.
                let ledger = ledger.clone();
                fn_service(move |io: TcpStream| {
                    let ledger = ledger.clone();
                    async move {
                        let peer = io.peer_addr().ok();
                        Ok::<_, DispatchError>((
                            CountingStream::new(io, ledger),
                            Protocol::Http1,
                            peer,
                        ))
                    }
                })
                .and_then(service)
            })?
            .run();
        let shutdown = Shutdown {
            state,
            server: server.handle(),
        };
        Ok(Self {
            addr,
            server,
            shutdown,
        })
    }

    /// The address actually bound (the real port when `--bind` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that starts a graceful shutdown.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until shut down.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
