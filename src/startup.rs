//! Building and running the server: bind first (so port 0 works and the real port is known
//! before anything starts), then serve the app on that listener.
//!
//! We assemble the server from actix-web's lower layers (`actix_server` + `actix_http::HttpService`)
//! rather than `HttpServer`, because those layers hand us each accepted TCP stream: that is where
//! the wire ledger counts bytes. With it we own what `HttpServer` did for us: workers, keep-alive,
//! timeouts and the shutdown sequence, all set here.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::error::DispatchError;
use actix_http::{Extensions, HttpMessage as _, HttpService, KeepAlive, Protocol, Request};
use actix_rt::net::TcpStream;
use actix_server::{GracefulShutdownSignal, Server, ServerHandle};
use actix_service::{ServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, web};
use clap::Parser;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::admission::{self, OverCap};
use crate::config::Config;
use crate::error::{AppError, RETRY_AFTER_UNAVAILABLE_S};
use crate::ledger::Ledger;
use crate::ledger::follower::{Followed, Follower};
use crate::ledger::http1::Conversation;
use crate::ledger::http2::H2Conversation;
use crate::ledger::metered::{Metered, TlsMeter};
use crate::ledger::wire::{CountingStream, WireLimits};
use crate::limits::Refusal;
use crate::state::{AppState, PrivateServer, TlsInfo};
use crate::tls::Tls;
use crate::{response_headers, routes};

/// How long a refused connection may take to receive its 503 before it is dropped.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// A bound, running (once awaited) server.
pub struct Application {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
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
    /// Runs the shutdown sequence (see [`crate::shutdown`]): stop taking messages, let publishes
    /// under way finish, tell every stream to drain and end; then stop the server, which waits up
    /// to `--shutdown-timeout` for connections. Resolves when the server has stopped.
    pub async fn shutdown(&self) {
        tracing::info!("shutting down: finishing publishes, draining streams, closing connections");
        self.state.shutdown.close().await;
        self.server.stop(true).await;
    }
}

impl Application {
    /// Binds `config.bind` (and `--tls-bind`) and prepares the server; nothing is served until
    /// [`Self::run`].
    pub fn build(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = match config.tls_bind {
            Some(bind) => {
                let tls = Tls::load(&config)?;
                let listener = TcpListener::bind(bind)?;
                listener.set_nonblocking(true)?;
                Some((listener.local_addr()?, listener, tls))
            }
            None => None,
        };
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 512);
        let shutdown_timeout = config.shutdown_timeout;
        let mut state = AppState::new(config, start_private)?;
        state.tls = tls.as_ref().map(|(addr, _, tls)| {
            Arc::new(TlsInfo {
                addr: *addr,
                cert_pem: tls.cert_pem.clone(),
                cert_path: tls.cert_path.clone(),
                fingerprint: tls.fingerprint.clone(),
            })
        });

        let builder = Server::build()
            .workers(workers)
            // We handle signals ourselves (main.rs), so shutdown always runs our sequence.
            .disable_signals()
            // Our own cap answers 503; this only keeps a worker from accepting without bound.
            .max_concurrent_connections(state.config.max_connections + 1024)
            .shutdown_timeout(shutdown_timeout);
        let graceful = builder.graceful_shutdown_signal();
        let app_state = state.clone();
        let plain_graceful = graceful.clone();
        let mut builder = builder.listen("transport-lab", listener, move || {
            let state = app_state.clone();
            let service = http_service(&state, addr, plain_graceful.clone());
            let wire = WireLimits::of(&state.config);
            let (ledger, limiter) = (state.ledger.clone(), state.connections.clone());
            let timeout = Duration::from_secs(state.config.request_timeout);
            // Every accepted connection is admitted against the caps, then wrapped, so the
            // ledger sees each byte it carries and a client that stops reading is let go. A
            // connection that opens with HTTP/2's preface is served HTTP/2 (h2c with prior
            // knowledge, as actix-http's own `tcp_auto_h2c` decides it).
            fn_service(move |mut io: TcpStream| {
                let (ledger, limiter) = (ledger.clone(), limiter.clone());
                async move {
                    let peer = io.peer_addr().ok();
                    let permit = match limiter.admit(peer.map(|p| p.ip())) {
                        Ok(permit) => permit,
                        Err(refusal) => {
                            tracing::debug!(?peer, %refusal, "connection refused");
                            // Boxed: this future is a state of every connection's task,
                            // and its 4 KiB read sink would otherwise be part of each
                            // (twice: see "Where the bytes of an idle connection go").
                            Box::pin(refuse(&mut io, &refusal)).await;
                            return Err(DispatchError::Io(std::io::Error::other(
                                refusal.to_string(),
                            )));
                        }
                    };
                    let protocol = if starts_with_preface(&io, timeout).await {
                        Protocol::Http2
                    } else {
                        Protocol::Http1
                    };
                    let conn = follow(protocol, &ledger, wire, None);
                    Ok((
                        CountingStream::followed(io, conn, wire, Some(permit)),
                        protocol,
                        peer,
                    ))
                }
            })
            .and_then(service)
        })?;
        let mut tls_addr = None;
        if let Some((bound, listener, tls)) = tls {
            tls_addr = Some(bound);
            let app_state = state.clone();
            let acceptor = TlsAcceptor::from(Arc::clone(&tls.config));
            builder = builder.listen("transport-lab-tls", listener, move || {
                let state = app_state.clone();
                let service = http_service(&state, bound, graceful.clone());
                let wire = WireLimits::of(&state.config);
                let (ledger, limiter) = (state.ledger.clone(), state.connections.clone());
                let timeout = Duration::from_secs(state.config.request_timeout);
                let acceptor = acceptor.clone();
                // As on the plain port, with TLS between the socket and the follower: the
                // follower sees plaintext, the meter under TLS the ciphertext, and the
                // protocol is what ALPN agreed.
                fn_service(move |io: TcpStream| {
                    let (ledger, limiter, acceptor) =
                        (ledger.clone(), limiter.clone(), acceptor.clone());
                    async move {
                        let peer = io.peer_addr().ok();
                        // An over-cap TLS connection cannot be told why in plain HTTP: it is
                        // closed before the handshake.
                        let permit = limiter.admit(peer.map(|p| p.ip())).map_err(|refusal| {
                            tracing::debug!(?peer, %refusal, "TLS connection refused");
                            DispatchError::Io(std::io::Error::other(refusal.to_string()))
                        })?;
                        let metered = Metered::new(io);
                        let meter = metered.meter();
                        let stream = tokio::time::timeout(timeout, acceptor.accept(metered))
                            .await
                            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))
                            .and_then(|accepted| accepted)
                            .map_err(|e| {
                                tracing::debug!(?peer, %e, "TLS handshake failed");
                                DispatchError::Io(e)
                            })?;
                        let protocol = match stream.get_ref().1.alpn_protocol() {
                            Some(b"h2") => Protocol::Http2,
                            _ => Protocol::Http1,
                        };
                        let conn = follow(protocol, &ledger, wire, Some(meter));
                        Ok((
                            CountingStream::followed(stream, conn, wire, Some(permit)),
                            protocol,
                            peer,
                        ))
                    }
                })
                .and_then(service)
            })?;
            tracing::info!(
                "TLS (HTTP/2 and HTTP/1.1): https://{bound}, certificate {} (SHA-256 {})",
                tls.cert_path.display(),
                tls.fingerprint
            );
        }
        let server = builder.run();
        let shutdown = Shutdown {
            state,
            server: server.handle(),
        };
        Ok(Self {
            addr,
            tls_addr,
            server,
            shutdown,
        })
    }

    /// The TLS listener's address, when `--tls-bind` was given.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The address actually bound (the real port when `--bind` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that starts a graceful shutdown.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The teacher token (`POST /api/reset` from another machine), to print at start.
    pub fn teacher_token(&self) -> &str {
        self.shutdown.state.teacher.token()
    }

    /// Serves until shut down. The bus's sweep (presence, idle rooms) runs beside the server.
    pub async fn run(self) -> std::io::Result<()> {
        let bus = &self.shutdown.state.bus;
        let sweep = tokio::spawn(bus.clone().sweep_forever());
        // With `--bus redis://`: the connection to Redis, kept up for as long as the server runs.
        let backplane = bus
            .backplane()
            .map(|backplane| tokio::spawn(backplane.clone().run(bus.clone())));
        let served = self.server.await;
        sweep.abort();
        if let Some(backplane) = backplane {
            backplane.abort();
        }
        served
    }
}

/// A server on a free loopback port, serving in the current runtime: what the test harnesses and
/// the overhead measurement's private instance start.
pub struct LocalServer {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    shutdown: Shutdown,
    server: JoinHandle<io::Result<()>>,
}

impl LocalServer {
    /// Starts a server on `127.0.0.1:0` with `flags` (command-line flags, over the defaults).
    pub fn start(flags: &[&str]) -> io::Result<Self> {
        Self::start_on("127.0.0.1:0", flags)
    }

    /// Starts a server on `bind` (a restart on the address a stopped one had, say).
    pub fn start_on(bind: &str, flags: &[&str]) -> io::Result<Self> {
        let mut args = vec!["transport-lab", "--bind", bind];
        args.extend_from_slice(flags);
        let config = Config::try_parse_from(&args)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let app = Application::build(config)?;
        Ok(Self {
            addr: app.addr(),
            tls_addr: app.tls_addr(),
            shutdown: app.shutdown_handle(),
            server: tokio::spawn(app.run()),
        })
    }

    /// The port it got.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS port it got, when started with `--tls-bind`.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// A handle that starts its graceful shutdown.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Shuts it down gracefully and waits until it has stopped.
    pub async fn stop(self) -> io::Result<()> {
        self.shutdown.shutdown().await;
        self.server.await.map_err(io::Error::other)?
    }
}

/// The overhead measurement's private instance (see [`crate::overhead`]), handed to the app
/// through [`AppState`] so the page handler needs nothing from this module.
fn start_private(flags: &[&str]) -> io::Result<PrivateServer> {
    let server = LocalServer::start(flags)?;
    Ok(PrivateServer {
        addr: server.addr(),
        stop: Box::pin(async move {
            if let Err(e) = server.stop().await {
                tracing::warn!(%e, "the private measurement server did not stop cleanly");
            }
        }),
    })
}

impl WireLimits {
    fn of(config: &Config) -> Self {
        Self {
            stall_timeout: config.stall_timeout(),
            max_client_frame: 2 * config.max_body_bytes as u64,
        }
    }
}

/// The follower for a connection speaking `protocol`.
fn follow(
    protocol: Protocol,
    ledger: &Ledger,
    wire: WireLimits,
    tls: Option<Arc<TlsMeter>>,
) -> Followed {
    let follower = match protocol {
        Protocol::Http2 => Follower::Http2(Box::new(H2Conversation::new(ledger.clone()))),
        _ => Follower::Http1(Conversation::new(ledger.clone(), wire.max_client_frame)),
    };
    Followed::new(follower, ledger.clone(), tls)
}

/// Whether the client's first bytes are HTTP/2's connection preface (its first 12 bytes, one
/// peek, as actix-http's `tcp_auto_h2c` checks). A client silent for `timeout` is handed to
/// HTTP/1.1, whose request timeout then answers it.
async fn starts_with_preface(io: &TcpStream, timeout: Duration) -> bool {
    const PREFACE: &[u8; 12] = b"PRI * HTTP/2";
    let mut buf = [0; 12];
    matches!(
        tokio::time::timeout(timeout, io.peek(&mut buf)).await,
        Ok(Ok(12..))
    ) && &buf == PREFACE
}

/// The app and its HTTP service, for connections of type `T` (a TCP socket or TLS over one).
fn http_service<T>(
    state: &AppState,
    addr: SocketAddr,
    graceful: GracefulShutdownSignal,
) -> impl ServiceFactory<
    (CountingStream<T>, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
> + use<T>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let config = Arc::clone(&state.config);
    let max_body = config.max_body_bytes;
    let max_connections = config.max_connections;
    let app = App::new()
        .wrap(Condition::new(
            !config.cors_origins.is_empty(),
            cors(&config.cors_origins),
        ))
        .wrap(from_fn(admission::health_only_over_cap))
        .wrap(from_fn(admission::known_hosts_only))
        .wrap(from_fn(admission::http11_only))
        // Outermost (the last wrapped), so the refusals above get its headers too.
        .wrap(from_fn(response_headers::add))
        .app_data(web::Data::new(state.clone()))
        .configure(routes::configure);
    HttpService::build()
        // Handlers learn that their peer left from the socket guard (see `PeerGone`).
        .on_connect_ext(move |io: &CountingStream<T>, ext: &mut Extensions| {
            ext.insert(io.peer_gone());
            if io.over_cap() {
                ext.insert(OverCap {
                    max: max_connections,
                });
            }
        })
        .keep_alive(KeepAlive::Timeout(Duration::from_secs(config.keep_alive)))
        .client_request_timeout(Duration::from_secs(config.request_timeout))
        .h1_write_buffer_size(config.write_buffer_bytes)
        // Refuse an oversized body before `100 Continue` invites the client to send it.
        .expect(fn_service(move |request: Request| async move {
            let declared = request
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            match declared {
                Some(length) if length > max_body as u64 => Err(actix_web::Error::from(
                    AppError::PayloadTooLarge(format!("body exceeds {max_body} bytes")),
                )),
                _ => Ok(request),
            }
        }))
        .local_addr(addr)
        // Closes idle keep-alive connections as soon as shutdown starts.
        .graceful_shutdown_signal(move || {
            let graceful = graceful.clone();
            async move { graceful.notified().await }
        })
        .finish(map_config(app, |_| AppConfig::default()))
}

/// Answers a connection over the caps with a JSON 503 and `Retry-After`, then closes it. The
/// request it may already have sent is read and discarded first: closing a socket with unread
/// data makes the kernel send a reset, which can destroy the answer before the client reads it.
async fn refuse(io: &mut TcpStream, refusal: &Refusal) {
    let body = serde_json::json!({ "error": format!("{refusal}; try again later") }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {RETRY_AFTER_UNAVAILABLE_S}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 4096];
        while io.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// CORS for the /api endpoints, for the configured origins only.
fn cors(origins: &[String]) -> Cors {
    let origins: Vec<String> = origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .collect();
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            head.uri.path().starts_with("/api/")
                && origins.iter().any(|o| o.as_bytes() == origin.as_bytes())
        })
        .allowed_methods(["GET", "POST"])
        .allowed_headers([CONTENT_TYPE, HeaderName::from_static("last-event-id")])
        .max_age(3600)
}
