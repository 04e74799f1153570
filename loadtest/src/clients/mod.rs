//! The subscribers: one real protocol client per transport, each on its own connection(s).
//!
//! Files are named after the server's transports (`short_poll`, `long_poll`, `stream`, `sse`,
//! `ws`, `socketio`). Every client shares the machinery here: a [`Phase`] with what all clients of one
//! transport need, and a [`Receiver`] that turns whatever bytes arrive into probe deliveries
//! (sequence check + latency). Clients differ only in how they talk to the server and where the
//! message boundaries are.

pub mod long_poll;
pub mod short_poll;
pub mod socketio;
pub mod sse;
pub mod stream;
pub mod ws;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Response, StatusCode};
use protocol::{Control, HeaderProfile, Transport};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::http1::{self, Connection, HttpError};
use crate::http2;
use crate::latency::{LatencyRecorder, SharedHistogram};
use crate::probe::{Clock, Finder};
use crate::publish_log::PublishLog;
use crate::rooms::Rooms;
use crate::sequence::{Delivery, SequenceChecker, SequenceReport};
use crate::servers::{self, Server};
use crate::wire::{WireCounters, WireTotals};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a client reconnects after losing its connection before giving up: a healthy server
/// never drops a connection mid-run, so a few retries are enough to ride out a hiccup.
const MAX_RECONNECTS: u32 = 5;
/// Pause before reconnecting, so a refusing server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Runs one client of the phase's transport until the phase stops: the one place a transport's
/// name meets its client here.
pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    match phase.transport {
        Transport::Poll => short_poll::run(phase, index, permit).await,
        Transport::LongPoll => long_poll::run(phase, index, permit).await,
        Transport::Stream => stream::run(phase, index, permit).await,
        Transport::Sse => sse::run(phase, index, permit).await,
        Transport::Ws => ws::run(phase, index, permit).await,
        Transport::SocketIo => socketio::run(phase, index, permit).await,
    }
}

/// Everything the clients of one transport share during one phase.
pub struct Phase {
    pub transport: Transport,
    /// The servers subscribers are spread over (`--url` or `--subscribe-url`, one or more):
    /// client `index` talks to [`Phase::server`] only.
    pub servers: Vec<Server>,
    /// Talking to transport-lab: use its cursor parameters and control objects. False with
    /// `--subscribe-url`, where only the probe tokens are relied on.
    pub lab: bool,
    /// The header set each server's `headers` was made from: a client that sends more than one
    /// kind of request (Socket.IO's polls and POSTs beside its WebSocket) makes the others from
    /// it.
    pub profile: HeaderProfile,
    /// `--socketio-direct-ws`: the Socket.IO client opens a WebSocket at once, with no polling.
    pub socketio_direct_ws: bool,
    /// Run id of this phase, in every token and every `client=` id.
    pub run: String,
    pub finder: Finder,
    /// Sequence numbers of this phase: warm-up plus measured.
    pub capacity: u64,
    /// First measured sequence number; earlier ones are warm-up (no latency recorded).
    pub measured_from: u64,
    /// Which room each client and each message is in (`--rooms`).
    pub rooms: Rooms,
    /// Per room, the newest id before the phase: every client subscribes from its room's, so a
    /// client that connects late still gets every message (transport-lab only; `None` else).
    pub start_cursors: Vec<Option<u64>>,
    pub publish_log: Arc<PublishLog>,
    pub clock: Clock,
    pub histogram: SharedHistogram,
    pub poll_interval: Duration,
    pub longpoll_timeout_s: u64,
    /// Clients subscribed (ready to receive).
    pub connected: AtomicU64,
    /// The same, per room: what each room's messages are expected to reach.
    pub connected_by_room: Vec<AtomicU64>,
    /// The same, per server (in the order of [`Phase::servers`]).
    pub connected_by_server: Vec<AtomicU64>,
    /// Clients that gave up.
    pub failed: AtomicU64,
    /// First deliveries summed over clients: drives the drain progress and its end.
    pub delivered: AtomicU64,
    /// Ends every client of the phase.
    pub stop: CancellationToken,
    /// `--http2`: the connections this phase's clients multiplex their requests on; `None`
    /// for HTTP/1.1, one connection per client.
    pub http2: Option<http2::Pool>,
}

impl Phase {
    /// `client=` id of client `index`.
    pub fn client_id(&self, index: u64) -> String {
        format!("lt-{}-{index}", self.run)
    }

    /// The server client `index` subscribes on (its place in [`Phase::servers`]).
    pub fn server_of(&self, index: u64) -> usize {
        servers::of_client(index, self.rooms, self.servers.len())
    }

    /// The server client `index` subscribes on.
    pub fn server(&self, index: u64) -> &Server {
        &self.servers[self.server_of(index)]
    }

    /// The cursor client `index` first subscribes from: its room's newest id before the phase.
    pub fn start_cursor(&self, index: u64) -> Option<u64> {
        let room = self.rooms.of_client(index);
        self.start_cursors.get(room as usize).copied().flatten()
    }

    /// The request path: the URL plus room (with `--rooms` above 1), cursor, long-poll timeout
    /// and client id.
    pub fn request_path(&self, cursor: Option<u64>, index: u64) -> String {
        let mut url = self
            .rooms
            .url_in(&self.server(index).url, self.rooms.of_client(index));
        if let Some(cursor) = cursor {
            url.path_and_query = url.with_param("since", &cursor.to_string());
        }
        if self.lab && self.transport == Transport::LongPoll {
            url.path_and_query = url.with_param("timeout", &self.longpoll_timeout_s.to_string());
        }
        url.with_param("client", &self.client_id(index))
    }
}

/// What one client saw, returned when its phase ends.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    /// The room it was in (its index in `--rooms`).
    pub room: u64,
    /// The server it subscribed on (its place in the subscribe list).
    pub server: usize,
    /// Counted in its room's sequence, but lost examples are the run's sequence numbers.
    pub sequence: SequenceReport,
    /// Everything this client's sockets carried, from the first connect to the end.
    pub wire: WireTotals,
    /// What had been carried when the client became ready: the cost of subscribing.
    pub at_ready: Option<WireTotals>,
    /// Messages the server said this client could no longer get (gap notices).
    pub missed: u64,
    pub reconnects: u64,
    /// The first error, if any.
    pub error: Option<String>,
}

/// Turns received bytes into deliveries, and keeps a client's bookkeeping.
pub struct Receiver {
    pub phase: Arc<Phase>,
    pub index: u64,
    /// The room this client is in: only that room's messages are deliveries.
    pub room: u64,
    pub counters: Arc<WireCounters>,
    /// Counts in the room's local indices (see [`crate::rooms`]).
    checker: SequenceChecker,
    recorder: LatencyRecorder,
    at_ready: Option<WireTotals>,
    /// Held until ready, so only `--connect-concurrency` clients are connecting at once.
    permit: Option<OwnedSemaphorePermit>,
    missed: u64,
    reconnects: u64,
    error: Option<String>,
}

impl Receiver {
    pub fn new(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> Self {
        let room = phase.rooms.of_client(index);
        Self {
            checker: SequenceChecker::new(phase.rooms.share(room, phase.capacity)),
            recorder: phase.histogram.recorder(),
            phase,
            index,
            room,
            counters: WireCounters::new(),
            at_ready: None,
            permit: Some(permit),
            missed: 0,
            reconnects: 0,
            error: None,
        }
    }

    /// Scans one message, line, event, frame or poll answer for this run's probes. Returns how
    /// many it held.
    pub fn on_bytes(&mut self, bytes: &[u8]) -> usize {
        let probes = self.phase.finder.find_all(bytes);
        if probes.is_empty() {
            return 0;
        }
        let now = self.phase.clock.now_us();
        let rooms = self.phase.rooms;
        for probe in &probes {
            let delivery = if rooms.of_seq(probe.seq) == self.room {
                let floor = self.phase.publish_log.floor(probe.seq);
                let floor = rooms.local_floor(self.room, floor);
                self.checker.record(rooms.local(probe.seq), floor)
            } else {
                // Posted to another room: the server should never have sent it here.
                self.checker.record_foreign()
            };
            match delivery {
                Delivery::New | Delivery::NewOutOfOrder => {
                    self.phase.delivered.fetch_add(1, Ordering::Relaxed);
                    if probe.seq >= self.phase.measured_from {
                        self.recorder.record(now.saturating_sub(probe.intended_us));
                    }
                }
                Delivery::Duplicate | Delivery::Foreign => {}
            }
        }
        probes.len()
    }

    /// The client is subscribed: count it, note the subscription cost, free a connect slot.
    pub fn ready(&mut self) {
        if self.at_ready.is_none() {
            self.at_ready = Some(self.counters.totals());
            self.phase.connected.fetch_add(1, Ordering::Relaxed);
            if let Some(in_room) = self.phase.connected_by_room.get(self.room as usize) {
                in_room.fetch_add(1, Ordering::Relaxed);
            }
            let server = self.phase.server_of(self.index);
            if let Some(on_server) = self.phase.connected_by_server.get(server) {
                on_server.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.permit = None;
    }

    pub fn is_ready(&self) -> bool {
        self.at_ready.is_some()
    }

    /// A control object (`{"type":..}` line, frame or SSE event data) from transport-lab.
    pub fn on_control(&mut self, json: &[u8]) {
        // Objects of a type this build does not know are skipped.
        match serde_json::from_slice::<Control>(json) {
            Ok(Control::Ready { .. }) => self.ready(),
            Ok(Control::Gap { missed, .. }) => self.missed += missed,
            _ => {}
        }
    }

    /// Notes a failure; returns whether the client should try again (not stopping, retries left).
    pub async fn failed(&mut self, error: impl std::fmt::Display) -> bool {
        if self.phase.stop.is_cancelled() {
            return false;
        }
        if self.error.is_none() {
            self.error = Some(error.to_string());
        }
        if self.reconnects >= u64::from(MAX_RECONNECTS) {
            return false;
        }
        self.reconnects += 1;
        tokio::select! {
            () = self.phase.stop.cancelled() => false,
            () = tokio::time::sleep(RECONNECT_PAUSE) => true,
        }
    }

    /// Notes an error the client lives with rather than reconnects for (a Socket.IO upgrade
    /// that was refused: the session goes on polling). Reported as the client's error.
    pub fn note(&mut self, error: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(error.to_string());
        }
    }

    pub fn missed(&mut self, missed: u64) {
        self.missed += missed;
    }

    /// Ends the client: flushes latencies and returns its outcome.
    pub fn finish(mut self) -> ClientOutcome {
        self.recorder.flush();
        if self.at_ready.is_none() {
            self.phase.failed.fetch_add(1, Ordering::Relaxed);
        }
        let (log, rooms, room) = (&self.phase.publish_log, self.phase.rooms, self.room);
        let mut sequence = self
            .checker
            .report(|local| log.accepted(rooms.seq(room, local)));
        // Named as the run's sequence numbers, the ones in the tokens, for reproducing.
        for example in &mut sequence.lost_examples {
            *example = rooms.seq(room, *example);
        }
        ClientOutcome {
            room,
            server: self.phase.server_of(self.index),
            sequence,
            wire: self.counters.totals(),
            at_ready: self.at_ready,
            missed: self.missed,
            reconnects: self.reconnects,
            error: self.error,
        }
    }

    /// A subscription ended, cleanly or not: notes why and returns whether to reconnect (see
    /// [`Self::failed`]). A server that ends a stream that should never end is a failure too.
    pub async fn ended(&mut self, result: Result<(), impl std::fmt::Display>) -> bool {
        match result {
            Ok(()) => self.failed("the server ended the subscription").await,
            Err(e) => self.failed(e).await,
        }
    }

    /// Opens a streaming subscription (the HTTP stream or SSE): connects, sends the GET and
    /// checks the answer is 2xx. A foreign server sends no `ready`, so there a 2xx head is the
    /// best sign of a subscription.
    pub async fn subscribe(
        &mut self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Subscription, HttpError> {
        let (status, body) = match &self.phase.http2 {
            Some(pool) => {
                let conn = pool.connection(self.index).await?;
                let response = conn.get(path, headers, &self.counters).await?.await?;
                let (status, body) = http2::Frames::new(response);
                (status, Subscription::Http2(body))
            }
            None => {
                let mut conn = self.connect().await?;
                let response = conn.send(Method::GET, path, headers, None).await?.await?;
                let (parts, body) = response.into_parts();
                let body = http1::LiveBody::new(conn, body);
                (parts.status, Subscription::Http1(body))
            }
        };
        if !status.is_success() {
            let body = http1::read_body(body).await.unwrap_or_default();
            return Err(status_error(status, &body));
        }
        if !self.phase.lab {
            self.ready();
        }
        Ok(body)
    }

    /// Opens a connection to this client's server (bounded by [`CONNECT_TIMEOUT`]).
    pub async fn connect(&self) -> Result<Connection, HttpError> {
        connect(self.phase.server(self.index), self.counters.clone()).await
    }

    /// Awaits `response`, marking the client subscribed as soon as its request is on the wire
    /// (more than `up_before` bytes written up): a long poll is then waiting at the server, and
    /// its answer may be held for the whole timeout.
    async fn ready_once_written(
        &mut self,
        up_before: u64,
        response: impl Future<Output = Result<Response<Incoming>, HttpError>>,
    ) -> Result<Response<Incoming>, HttpError> {
        let counters = self.counters.clone();
        let mut response = std::pin::pin!(response);
        tokio::select! {
            biased;
            () = counters.wrote_past(up_before) => {
                self.ready();
                response.await
            }
            response = &mut response => {
                if counters.totals().bytes_up > up_before {
                    self.ready();
                }
                response
            }
        }
    }
}

/// Opens a connection to `server`, counted in `counters` (bounded by [`CONNECT_TIMEOUT`]).
pub async fn connect(
    server: &Server,
    counters: Arc<WireCounters>,
) -> Result<Connection, HttpError> {
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect(server.addr, &server.url.authority(), counters),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(HttpError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))),
    }
}

/// When a GET's client counts as subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyAt {
    /// Whoever called decides, once it has the answer (a short poll: its first 2xx answer).
    Answer,
    /// As soon as the request is on the wire (a long poll, held at the server until there is
    /// something to say).
    Sent,
}

/// A GET on a kept-alive connection (opened if needed), returning status and whole body. A
/// request on a reused connection that the server had meanwhile closed is retried once on a new
/// one, as browsers do.
pub async fn get(
    receiver: &mut Receiver,
    conn: &mut Option<Connection>,
    path: &str,
    ready_at: ReadyAt,
) -> Result<(StatusCode, Vec<u8>), HttpError> {
    let phase = receiver.phase.clone();
    if let Some(pool) = &phase.http2 {
        return get_http2(receiver, pool, path, ready_at).await;
    }
    for attempt in 0..2 {
        // Closed by the server since its last answer (`Connection: close`, an idle timeout):
        // nothing was sent on it, so it is simply replaced, as a browser's would be.
        if let Some(c) = conn.as_mut()
            && c.ready().await.is_err()
        {
            *conn = None;
        }
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(receiver.connect().await?),
        };
        let up_before = receiver.counters.totals().bytes_up;
        let result = async {
            let headers = &phase.server(receiver.index).headers;
            let response = c.send(Method::GET, path, headers, None).await?;
            let response = match ready_at {
                ReadyAt::Sent => receiver.ready_once_written(up_before, response).await?,
                ReadyAt::Answer => response.await?,
            };
            let (parts, body) = response.into_parts();
            Ok::<_, HttpError>((parts.status, http1::read_body(body).await?))
        }
        .await;
        match result {
            Ok(answer) => return Ok(answer),
            Err(e) => {
                *conn = None;
                let stale = reused && matches!(e, HttpError::Closed | HttpError::Io(_));
                if !(stale && attempt == 0) {
                    return Err(e);
                }
            }
        }
    }
    Err(HttpError::Closed)
}

/// [`get`] as a stream on the client's HTTP/2 connection. A connection that went away is
/// reopened by the pool at the next request, so there is no retry here.
async fn get_http2(
    receiver: &mut Receiver,
    pool: &http2::Pool,
    path: &str,
    ready_at: ReadyAt,
) -> Result<(StatusCode, Vec<u8>), HttpError> {
    let conn = pool.connection(receiver.index).await?;
    let response = conn
        .get(
            path,
            &receiver.phase.server(receiver.index).headers,
            &receiver.counters,
        )
        .await?;
    // h2 has taken the stream and writes its HEADERS next, on a connection already open.
    if ready_at == ReadyAt::Sent {
        receiver.ready();
    }
    let (status, body) = http2::Frames::new(response.await?);
    Ok((status, http1::read_body(body).await?))
}

/// A subscription's body still arriving (the HTTP stream's, SSE's), over either HTTP version:
/// the readers above it do not know which.
pub enum Subscription {
    Http1(http1::LiveBody),
    Http2(http2::Frames),
}

impl Subscription {
    /// See [`http1::next_data`].
    pub async fn next_data(&mut self) -> Result<Option<Bytes>, HttpError> {
        http1::next_data(self).await
    }
}

/// So body-level parsers (the SSE decoder) can read it directly.
impl Body for Subscription {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let frame = match self.get_mut() {
            Self::Http1(body) => std::task::ready!(Pin::new(body).poll_frame(cx))
                .map(|frame| frame.map_err(HttpError::from)),
            Self::Http2(body) => std::task::ready!(Pin::new(body).poll_frame(cx))
                .map(|frame| frame.map_err(HttpError::from)),
        };
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Http1(body) => body.is_end_stream(),
            Self::Http2(body) => body.is_end_stream(),
        }
    }
}

/// A non-2xx answer, as an error.
pub fn status_error(status: StatusCode, body: &[u8]) -> HttpError {
    let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
    HttpError::Malformed(format!("status {}: {snippet}", status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe;
    use std::net::SocketAddr;

    use crate::target::HttpUrl;
    use tokio::sync::Semaphore;

    /// A phase of `messages` accepted messages over `rooms` rooms, on an address nothing listens at.
    fn phase(rooms: u64, messages: u64) -> Arc<Phase> {
        let rooms = Rooms::new(rooms);
        let publish_log = PublishLog::new(messages);
        for seq in 0..messages {
            publish_log.sending(seq);
            publish_log.completed(seq, true);
        }
        Arc::new(Phase {
            transport: Transport::Stream,
            servers: vec![Server {
                addr: SocketAddr::from(([127, 0, 0, 1], 9)),
                url: HttpUrl::parse("http://127.0.0.1:9/api/stream").unwrap(),
                headers: Vec::new(),
                node: None,
            }],
            lab: true,
            profile: HeaderProfile::Curl,
            socketio_direct_ws: false,
            run: "ab12".into(),
            finder: Finder::new("ab12"),
            capacity: messages,
            measured_from: 0,
            rooms,
            start_cursors: vec![Some(0); rooms.count() as usize],
            publish_log: Arc::new(publish_log),
            clock: Clock::new(),
            histogram: SharedHistogram::new(),
            poll_interval: Duration::from_millis(1),
            longpoll_timeout_s: 1,
            connected: AtomicU64::new(0),
            connected_by_room: (0..rooms.count()).map(|_| AtomicU64::new(0)).collect(),
            connected_by_server: vec![AtomicU64::new(0)],
            failed: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            stop: CancellationToken::new(),
            http2: None,
        })
    }

    async fn receiver(phase: &Arc<Phase>, index: u64) -> Receiver {
        let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
        Receiver::new(phase.clone(), index, permit)
    }

    /// Client 1 of 3 rooms is in `lt-1`: messages 1 and 4 of 6 are its own (in order, as local 0
    /// and 1), 0 and 5 are other rooms' and count as foreign, never as deliveries.
    #[tokio::test]
    async fn another_rooms_message_is_foreign() {
        let phase = phase(3, 6);
        let mut client = receiver(&phase, 1).await;
        assert_eq!(client.room, 1);
        assert_eq!(
            phase.request_path(phase.start_cursor(1), 1),
            "/api/stream?room=lt-1&since=0&client=lt-ab12-1"
        );
        for seq in [1, 0, 4, 5] {
            client.on_bytes(probe::encode("ab12", seq, 1, 0).as_bytes());
        }
        client.ready();
        assert_eq!(phase.connected_by_room[1].load(Ordering::Relaxed), 1);
        assert_eq!(phase.delivered.load(Ordering::Relaxed), 2);
        let outcome = client.finish();
        assert_eq!(outcome.room, 1);
        assert_eq!(
            outcome.sequence,
            SequenceReport {
                delivered: 2,
                foreign: 2,
                ..Default::default()
            }
        );
    }

    /// What a room's client misses is reported by the run's sequence numbers, and one room is
    /// the lobby with no `room=` at all.
    #[tokio::test]
    async fn lost_messages_are_named_by_run_sequence() {
        let phase3 = phase(3, 9);
        let mut client = receiver(&phase3, 2).await;
        client.on_bytes(probe::encode("ab12", 5, 1, 0).as_bytes());
        let outcome = client.finish();
        assert_eq!((outcome.sequence.lost, outcome.sequence.reordered), (2, 0));
        assert_eq!(outcome.sequence.lost_examples, [2, 8]);

        let lobby = phase(1, 2);
        assert_eq!(
            lobby.request_path(lobby.start_cursor(5), 5),
            "/api/stream?since=0&client=lt-ab12-5"
        );
    }
}
