//! A phase's first step: find where its clients subscribe from, start them, and wait until they
//! are subscribed (or failed, or the connect limit passed).
//!
//! Publishing starts only after this, so every measured message meets every client already
//! listening; a client that is still connecting is covered by the start cursor anyway, so a slow
//! connector costs time here but never a message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::{Method, StatusCode};
use protocol::Transport;
use protocol::headers::{self, HeaderProfile, RequestKind};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::clients::{self, ClientOutcome, Phase};
use crate::http1::Connection;
use crate::rooms::Rooms;
use crate::run::progress::{Progress, TICK};
use crate::target::HttpUrl;
use crate::wire::WireCounters;

/// transport-lab's health check, which names the server on a shared bus.
pub const HEALTH_PATH: &str = "/healthz";
/// How long the connect phase may take before the run goes on with whoever connected.
const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(60);

/// The newest message id of every room, in room order (transport-lab's short poll without a
/// cursor answers with `last_id`): the cursors the next phase's clients subscribe from. Ids
/// count per room, so each room needs its own; one connection asks for all of them.
pub async fn newest_ids(addr: SocketAddr, url: &HttpUrl, rooms: Rooms) -> anyhow::Result<Vec<u64>> {
    let mut conn = Connection::connect(addr, &url.authority(), WireCounters::new()).await?;
    let headers =
        headers::request_headers(HeaderProfile::Curl, RequestKind::Fetch, &url.origin(), None);
    let poll = HttpUrl {
        path_and_query: Transport::Poll.path().into(),
        ..url.clone()
    };
    let mut ids = Vec::with_capacity(rooms.count() as usize);
    for room in 0..rooms.count() {
        let path = rooms
            .url_in(&poll, room)
            .with_param("client", "loadtest-setup");
        let (status, body) = conn.fetch(Method::GET, &path, &headers, None).await?;
        if status != StatusCode::OK {
            bail!(
                "GET {path} answered {} ({}): is {} a transport-lab server? (use --publish-url \
                 and --subscribe-url for others)",
                status.as_u16(),
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>(),
                url.origin()
            );
        }
        let answer: clients::short_poll::PollAnswer = serde_json::from_slice(&body)
            .with_context(|| format!("GET {path} did not answer poll JSON"))?;
        ids.push(
            answer
                .last_id
                .with_context(|| format!("GET {path} answer has no last_id"))?,
        );
    }
    Ok(ids)
}

/// The server's name on a shared bus: `bus.node` of transport-lab's `/healthz`; `None` if it
/// has none (a memory bus) or does not say.
pub async fn node_name(addr: SocketAddr, url: &HttpUrl) -> Option<String> {
    let mut conn = Connection::connect(addr, &url.authority(), WireCounters::new())
        .await
        .ok()?;
    let (status, body) = conn.fetch(Method::GET, HEALTH_PATH, &[], None).await.ok()?;
    if status != StatusCode::OK {
        return None;
    }
    let health: serde_json::Value = serde_json::from_slice(&body).ok()?;
    health["bus"]["node"].as_str().map(str::to_owned)
}

/// The clients of a phase, running.
pub struct Connected {
    /// One task per client; each returns its outcome once the phase is stopped.
    pub handles: Vec<JoinHandle<ClientOutcome>>,
    /// Seconds from the first connect to the last subscription (or the limit).
    pub seconds: f64,
}

/// Starts `clients` clients, at most `concurrency` connecting at once, and waits until each is
/// subscribed or has given up.
pub async fn connect(
    phase: &Arc<Phase>,
    clients: u64,
    concurrency: u64,
    progress: Progress,
) -> anyhow::Result<Connected> {
    let t0 = Instant::now();
    let bar = progress.bar(clients, format!("{} connect", phase.transport.name()));
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let mut handles: Vec<JoinHandle<ClientOutcome>> = Vec::with_capacity(clients as usize);
    for index in 0..clients {
        let permit = tokio::select! {
            () = phase.stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.context("connect semaphore closed")?,
        };
        let p = phase.clone();
        handles.push(tokio::spawn(
            async move { clients::run(p, index, permit).await },
        ));
        bar.set_position(phase.connected.load(Ordering::Relaxed));
    }
    let connect_limit = Instant::now() + CONNECT_PHASE_LIMIT;
    loop {
        let connected = phase.connected.load(Ordering::Relaxed);
        let failed = phase.failed.load(Ordering::Relaxed);
        bar.set_position(connected);
        if connected + failed >= handles.len() as u64
            || Instant::now() >= connect_limit
            || phase.stop.is_cancelled()
        {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    bar.finish();
    Ok(Connected {
        handles,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
