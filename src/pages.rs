//! The HTML pages, rendered with askama from `templates/`: `/` (the six transports side by
//! side), `/transports/{name}` (a lesson per transport), `/overhead` (the comparison) and
//! `/walkthrough` (classroom mode), `/class` (the address and QR code students join with), `/lab`
//! (the fault lab). Every page carries a Content-Security-Policy that allows only
//! our own scripts, styles and connections, so text from a chat message can never become markup
//! or code (askama escapes it as well, and the scripts render messages with `textContent`).
//!
//! The pages are static shells: every number on them is fetched by their scripts from the ledger
//! (`/api/stats`, `/api/tap`, `/api/overhead`), never written in here.

use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use protocol::RoomName;

use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;
use crate::transports::Transport;
use crate::{classroom, overhead};

/// Only same-origin resources, no inline script, no framing by other sites.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// What a lesson page says about one transport. The prose is ours; the numbers are not here on
/// purpose: the page measures them live.
pub struct Lesson {
    pub transport: Transport,
    pub name: &'static str,
    /// One sentence under the title.
    pub summary: &'static str,
    /// "How it works", one paragraph per entry.
    pub how: &'static [&'static str],
    /// The terminal command that works against this server; `{base}` / `{ws}` are replaced by
    /// the address the browser used, `{cursor}` by the lobby's newest cursor.
    pub command: &'static str,
    pub strengths: &'static [&'static str],
    pub weaknesses: &'static [&'static str],
    /// What goes wrong in production, as users of realtime servers report it.
    pub pitfalls: &'static [&'static str],
}

impl Lesson {
    /// The transport's one word, as in the URL, the stats key and the module name.
    pub fn slug(&self) -> &'static str {
        self.transport.name()
    }

    /// The transport's browser client is a script of its own, `static/<name>.js` (Socket.IO's
    /// protocol is too long to sit in `transports.js`); the pages that run clients load it.
    pub fn own_client_script(&self) -> bool {
        self.transport == Transport::SocketIo
    }

    /// The transport starts on one carrier and upgrades to another (Socket.IO: polling, then a
    /// WebSocket): its lesson lists the steps of that dance as the tap shows them.
    pub fn upgrades(&self) -> bool {
        self.transport == Transport::SocketIo
    }
}

/// The lesson on `transport`.
pub fn lesson(transport: Transport) -> &'static Lesson {
    &LESSONS[transport.index()]
}

/// The transport the compose boxes send through unless the user picks another: the one that
/// sends without a request per message.
const DEFAULT_SEND: Transport = Transport::Ws;

/// The lessons, one per transport, in [`Transport::ALL`]'s order (so [`lesson`] can index them).
pub const LESSONS: [Lesson; Transport::COUNT] = [
    Lesson {
        transport: Transport::Poll,
        name: "Short polling",
        summary: "Ask again and again on a timer; the server answers at once, usually with nothing.",
        how: &[
            "The client sends an ordinary GET every few seconds. The server answers immediately with \
             whatever arrived after the client's cursor (since=<last id>), which is often nothing at all.",
            "Every answer is a complete HTTP exchange: request line and headers up, status line and \
             headers down, then a small JSON envelope. That price is paid per interval, per client, \
             whether or not anything happened.",
            "A message waits, on average, half an interval before anyone asks for it.",
        ],
        command: "curl '{base}/api/poll?since=0'",
        strengths: &[
            "The simplest thing that works: one GET, a JSON answer, no open connection.",
            "Passes every proxy, load balancer and firewall unchanged; trivial to cache or rate-limit.",
            "Fine for data that changes rarely (a build status, a daily counter).",
        ],
        weaknesses: &[
            "Latency is bounded below by the interval; shortening it multiplies requests.",
            "Most answers are empty: the headers are the cost, and a browser's headers are large.",
            "Load grows with clients x polling rate, not with activity.",
        ],
        pitfalls: &[
            "Polling without a cursor: a client cannot tell what it missed between two polls.",
            "Thousands of clients with the same interval poll in lockstep after a deploy: add jitter.",
            "Behind a load balancer each poll may reach a different server: state must be shared.",
        ],
    },
    Lesson {
        transport: Transport::LongPoll,
        name: "Long polling",
        summary: "Ask, and let the server hold the question open until it has an answer.",
        how: &[
            "The client sends a GET with its cursor. If nothing is newer, the server does not answer: \
             it holds the request until a message arrives or a timeout passes (25 s here), then \
             answers with what it has.",
            "The client asks again at once, with the new cursor. While the room is quiet that is one \
             exchange per timeout; while it is busy, about one exchange per message.",
            "Delivery is nearly instant, but every delivery still pays a whole request and response head.",
        ],
        // The newest cursor, not 0: with `since=0` a long poll on a room with history answers at
        // once and never visibly holds, which is the one thing this lesson shows.
        command: "curl '{base}/api/longpoll?since={cursor}&timeout=25'",
        strengths: &[
            "Near-instant delivery with plain HTTP requests; works wherever polling works.",
            "Quiet rooms cost almost nothing: one held request per client.",
        ],
        weaknesses: &[
            "A busy room degrades toward one full request per message.",
            "One message wakes every held request at once, and they all ask again at once: a burst.",
            "Holds a connection (and often a thread or task) per client on the server.",
        ],
        pitfalls: &[
            "The loss window: a message that arrives after an answer was sent and before the next \
             request arrives is lost unless the request carries a cursor.",
            "Proxies with a 30 or 60 s idle limit cut held requests: keep the timeout below it.",
            "Each held request is one of the browser's 6 connections per origin.",
        ],
    },
    Lesson {
        transport: Transport::Stream,
        name: "HTTP streaming",
        summary: "One request, one response that never ends; each message is one more chunk.",
        how: &[
            "The client sends one GET. The server answers 200 with Transfer-Encoding: chunked and \
             simply never finishes the body: each message is written as a chunk \
             (<hex length>CRLF<data>CRLF).",
            "Here every chunk is one line of JSON (NDJSON), so fetch() with a ReadableStream in a \
             browser, or curl -N in a terminal, reads messages as they come.",
            "Quiet streams get a heartbeat line now and then, so idle proxies do not cut them.",
        ],
        command: "curl -N '{base}/api/stream?since=0'",
        strengths: &[
            "Headers once per connection; a message costs its bytes plus a few bytes of chunk framing.",
            "Plain HTTP: no new protocol, any language can read it.",
        ],
        weaknesses: &[
            "One direction only; the client sends with ordinary POSTs.",
            "Browsers bring no reconnect and no resume: the client must keep its own cursor.",
        ],
        pitfalls: &[
            "Proxies and anti-virus software that buffer responses deliver chunks late or in batches.",
            "A dropped connection is silent unless heartbeats are expected and checked.",
            "Each open stream is one of the browser's 6 connections per origin.",
        ],
    },
    Lesson {
        transport: Transport::Sse,
        name: "Server-Sent Events",
        summary: "A standard format for a never-ending response, with reconnect and resume built into browsers.",
        how: &[
            "The client's EventSource sends one GET; the server answers with Content-Type: \
             text/event-stream and writes events: lines such as id:, event: and data:, each event \
             ended by a blank line. Lines starting with a colon are comments, used as heartbeats.",
            "When the connection drops, the browser reconnects by itself after the retry: delay and \
             sends the last id it saw as a Last-Event-ID header; this server resumes from there, so \
             nothing is lost. Its ids are cursors such as k3x9qa-7: message 7 of the server's run \
             k3x9qa, so a server that restarted in between (and numbers from 1 again) says so \
             instead of skipping its new messages.",
            "The first connection cannot set headers, so it passes its cursor in the query string.",
        ],
        command: "curl -N '{base}/api/sse?since=0'",
        strengths: &[
            "Reconnect and resume come free with EventSource; a few bytes of framing per message.",
            "Plain HTTP and plain text: readable with curl, passes most infrastructure.",
        ],
        weaknesses: &[
            "Server to client only; the client sends with ordinary POSTs.",
            "Text only; EventSource cannot set request headers (no Authorization header).",
        ],
        pitfalls: &[
            "Over HTTP/1.1 a browser opens at most 6 connections per origin: a 7th tab with a \
             stream hangs silently.",
            "Buffering proxies (nginx without X-Accel-Buffering: no) hold events back.",
            "Idle timeouts (nginx's default is 60 s) cut quiet streams unless heartbeats flow.",
        ],
    },
    Lesson {
        transport: Transport::Ws,
        name: "WebSocket",
        summary: "An HTTP request that turns into a two-way connection of small frames.",
        how: &[
            "The client sends a GET with Upgrade: websocket and a random Sec-WebSocket-Key; the server \
             answers 101 Switching Protocols with Sec-WebSocket-Accept (SHA-1 of the key and a fixed \
             GUID, base64). From then on the connection carries frames, not HTTP.",
            "A short server-to-client frame has a 2-byte header; client-to-server frames are masked \
             and add 4 bytes. Ping, pong and close are control frames.",
            "Both directions share one connection: this page sends its chat messages on the socket and \
             gets an ack with the stored id.",
        ],
        command: "websocat '{ws}/api/ws?since=0&user=ada'",
        strengths: &[
            "The cheapest per message, in both directions; no per-message headers at all.",
            "Full duplex: sending costs a frame, not a request.",
        ],
        weaknesses: &[
            "A different protocol after the handshake: some proxies and corporate networks block it.",
            "No built-in resume: a reconnecting client must send its cursor itself.",
        ],
        pitfalls: &[
            "Servers must check Origin on the handshake, or another site's page can open a socket \
             with the user's cookies (cross-site WebSocket hijacking).",
            "Reconnect storms after a restart: every client reconnects at once unless back-off has jitter.",
            "Slow clients: a server that queues per connection without bound grows its memory.",
        ],
    },
    Lesson {
        transport: Transport::SocketIo,
        name: "Socket.IO",
        summary: "A protocol built on the others: long polling first, then an upgrade to a WebSocket, \
                  with events, acknowledgements, rooms and its own heartbeat.",
        how: &[
            "Two layers. Engine.IO makes a session: a GET answers with the open packet \
             0{\"sid\":..,\"upgrades\":[\"websocket\"],\"pingInterval\":..}; then held GETs carry the \
             server's packets and POSTs the client's, several per body joined by the byte 0x1e. \
             Socket.IO adds events on top: 42[\"chat\",{..}] is message 4, event 2, named chat.",
            "The upgrade: while polling, the client opens a WebSocket with the same sid and sends \
             2probe; the server answers 3probe and a 6 (noop) releases the held poll; the client \
             sends 5 and from then on every packet is a WebSocket frame.",
            "The server pings (2) and the client must pong (3) within pingTimeout, on whichever \
             carrier holds the session. An emit with a callback carries an id, 421[\"chat\",{..}], \
             and the server's 431[{\"id\":..}] calls it back.",
            "Here it reads the same rooms as the other five: a chat event publishes, every message \
             of a joined room arrives as a chat event, and auth.since on connect resumes at a \
             cursor on every reconnect.",
        ],
        command: "curl -s '{base}/socket.io/?EIO=4&transport=polling&user=ada'",
        strengths: &[
            "Works where WebSockets do not: it starts on plain HTTP and only upgrades when a probe \
             succeeds.",
            "Events, acknowledgements, rooms and reconnection come with the client library.",
        ],
        weaknesses: &[
            "Not a WebSocket: a plain WebSocket client cannot talk to it, nor a Socket.IO client to \
             a plain WebSocket server.",
            "The polling phase and the upgrade cost requests and bytes before the first message; \
             every message carries an envelope (42[\"chat\",..]).",
            "A polling session lives in one server's memory: behind a load balancer, every request \
             of a session must reach the same server (sticky sessions).",
        ],
        pitfalls: &[
            "Sticky sessions forgotten behind a load balancer: polling requests land on another \
             server and get 400 Session ID unknown.",
            "Missed messages across a reconnect: Socket.IO's own recovery is optional and time-bound; \
             without it, a client must resume at its own cursor.",
            "Version mismatch: Engine.IO 3 and 4 clients and servers do not talk (EIO=4 here).",
        ],
    },
];

/// `/`: the six transports side by side.
#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    nav: &'static str,
    lessons: &'static [Lesson],
    default_send: Transport,
    /// `http://host:port` as the browser reached us, so every command on the page works when pasted.
    base: String,
    /// `ws://host:port`.
    ws_base: String,
    /// The room in the URL (`/?room=math`); the lobby without one, or with one the server would
    /// refuse (the page's script says why).
    room: RoomName,
    /// The page came over TLS (the TLS port): it says HTTP/2 is in use rather than pointing to it.
    secure: bool,
    /// `curl` and `websocat` as the page's commands call them: trusting the self-signed
    /// certificate when the page came over TLS, so they work when pasted.
    curl: String,
    websocat: String,
    /// The TLS port, when `--tls-bind` is on: the plain page points there.
    tls: Option<TlsLink>,
}

/// The TLS listener as the plain page points to it.
struct TlsLink {
    /// `https://host:port/`, with the host the browser used for this page.
    url: String,
    /// SHA-256 of the certificate, as the browser's warning page shows it.
    fingerprint: String,
    /// Where the certificate is, for `curl --cacert`.
    cert_path: String,
}

/// `/class`.
#[derive(Template)]
#[template(path = "class.html")]
struct Class {
    nav: &'static str,
    lessons: &'static [Lesson],
    /// The address students open, the one the QR code holds.
    url: String,
    /// The QR code of `url`, an inline `<svg>` drawn here.
    qr: String,
    /// Other addresses of this machine that reach the server (its LAN addresses).
    also: Vec<String>,
    /// `?room=`: the QR code opens that room.
    room: Option<RoomName>,
    /// The server listens on a loopback address: no student can reach it.
    local_only: bool,
    /// The address the server listens on.
    bind: String,
}

/// `/transports/{name}`.
#[derive(Template)]
#[template(path = "transport.html")]
struct TransportPage {
    nav: &'static str,
    lessons: &'static [Lesson],
    lesson: &'static Lesson,
    /// The lesson's command with this server's address filled in.
    command: String,
    plan: PlanView,
    /// This lesson on the TLS port, when `--tls-bind` is on and the page came over plain HTTP:
    /// there the browser speaks HTTP/2, and the diagram shows streams on one connection.
    https_url: Option<String>,
}

/// `/overhead`.
#[derive(Template)]
#[template(path = "overhead.html")]
struct Overhead {
    nav: &'static str,
    lessons: &'static [Lesson],
    plan: PlanView,
    /// With `--bus redis://`: what the link to Redis has cost per message so far.
    scale_out: Option<ScaleOut>,
}

/// The row "what scale-out adds per message", from this server's counted sockets to Redis
/// ([`crate::backplane::Counts`]): averages over its life, connection set-up left out.
struct ScaleOut {
    node: String,
    url: String,
    /// Servers beating on the bus now, this one included.
    servers: usize,
    published: u64,
    heard: u64,
    /// Bytes per publish, up and down, on the publishing server; `None` before the first.
    publish_up: Option<f64>,
    publish_down: Option<f64>,
    /// Bytes per announcement, on every server.
    announcement: Option<f64>,
}

impl ScaleOut {
    fn of(backplane: &crate::backplane::Backplane) -> Self {
        let counts = backplane.counts();
        let per = |bytes: u64, n: u64| (n > 0).then(|| bytes as f64 / n as f64);
        Self {
            node: backplane.node().to_string(),
            url: backplane.url().to_owned(),
            servers: backplane.other_nodes().len() + 1,
            published: counts.published,
            heard: counts.heard,
            publish_up: per(counts.publish.to_redis_after_setup(), counts.published),
            publish_down: per(counts.publish.from_redis_after_setup(), counts.published),
            announcement: per(counts.announcements.from_redis_after_setup(), counts.heard),
        }
    }

    /// One decimal, or a dash before there is anything to divide.
    fn show(value: &Option<f64>) -> String {
        value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
    }

    /// The publish plus one announcement per server: a sum of the measured parts.
    fn per_message(&self) -> String {
        match (self.publish_up, self.publish_down, self.announcement) {
            (Some(up), Some(down), Some(heard)) => {
                format!("{:.1}", up + down + heard * self.servers as f64)
            }
            _ => "–".to_owned(),
        }
    }
}

/// The one measurement plan ([`overhead::PLAN`]) in the words and numbers a page states it with.
pub struct PlanView {
    pub messages: u64,
    /// Bytes of text in each message.
    pub text_bytes: usize,
    /// Milliseconds between two messages.
    pub publish_every: u128,
    /// Messages a second, as written (`2`, `0.5`).
    pub rate: String,
    /// Milliseconds between two short polls.
    pub poll_every: u128,
    /// Messages a second where short polling makes one request per message.
    pub crossover: String,
    /// The rates the slider stops at, space-separated, and the plan's own among them.
    pub stops: String,
    pub stop_count: usize,
    pub default_stop: usize,
}

/// Where the `/overhead` slider stops, in messages a second: denser around the crossover.
pub const RATE_STOPS: [f64; 13] = [
    0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.5, 15.0, 20.0,
];

/// A rate as a person writes it: `2`, `0.5`, `12.5`.
fn rate_text(rate: f64) -> String {
    let text = format!("{rate:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl PlanView {
    pub fn new() -> Self {
        let plan = overhead::PLAN;
        Self {
            messages: plan.messages,
            text_bytes: overhead::TEXT.len(),
            publish_every: plan.publish_every.as_millis(),
            rate: rate_text(plan.rate()),
            poll_every: plan.poll_every.as_millis(),
            crossover: rate_text(plan.crossover_rate()),
            stops: RATE_STOPS.map(rate_text).join(" "),
            stop_count: RATE_STOPS.len(),
            default_stop: RATE_STOPS
                .iter()
                .position(|&r| (r - plan.rate()).abs() < 1e-9)
                .unwrap_or(0),
        }
    }
}

impl Default for PlanView {
    fn default() -> Self {
        Self::new()
    }
}

/// `/walkthrough`.
#[derive(Template)]
#[template(path = "walkthrough.html")]
struct Walkthrough {
    nav: &'static str,
    lessons: &'static [Lesson],
    default_send: Transport,
}

/// `/lab`: the fault lab's page.
#[derive(Template)]
#[template(path = "lab.html")]
struct Lab {
    nav: &'static str,
    lessons: &'static [Lesson],
    /// The order the auto client tries, and the plain clients' panels.
    order: [Transport; 5],
}

/// The order `static/lab-client.js` tries by default: cheapest per message first, long polling
/// before short polling. Socket.IO is not among them: it is a protocol of its own on top.
const LAB_ORDER: [Transport; 5] = [
    Transport::Ws,
    Transport::Sse,
    Transport::Stream,
    Transport::LongPoll,
    Transport::Poll,
];

/// `http://host` and `ws://host` as the browser addressed us (`https://` and `wss://` on the TLS
/// port).
fn bases(req: &HttpRequest, state: &AppState) -> (String, String) {
    let host = req.connection_info().host().to_owned();
    if is_secure(req, state) {
        (format!("https://{host}"), format!("wss://{host}"))
    } else {
        (format!("http://{host}"), format!("ws://{host}"))
    }
}

/// Whether `req` came to the TLS port. An HTTP/2 request names its scheme (`:scheme https`);
/// an HTTP/1.1 one does not, so its `Host` port is compared with the TLS port's.
fn is_secure(req: &HttpRequest, state: &AppState) -> bool {
    let Some(tls) = &state.tls else {
        return false;
    };
    let info = req.connection_info();
    info.scheme() == "https" || classroom::split_host(info.host()).1 == Some(tls.addr.port())
}

/// How the page's commands call `curl` and `websocat`: on the TLS port with the self-signed
/// certificate, trusting it (`--cacert` its file; websocat has no such flag, so `-k`); a
/// certificate of one's own (`--tls-cert`) is taken to be trusted already.
fn clients(req: &HttpRequest, state: &AppState) -> (String, String) {
    match &state.tls {
        Some(tls) if is_secure(req, state) && state.config.tls_cert.is_none() => (
            format!("curl --cacert {}", tls.cert_path.display()),
            "websocat -k".to_owned(),
        ),
        _ => ("curl".to_owned(), "websocat".to_owned()),
    }
}

/// A lesson's command, its `curl` or `websocat` called as [`clients`] says.
fn with_clients(command: &str, (curl, websocat): (String, String)) -> String {
    if let Some(rest) = command.strip_prefix("curl ") {
        format!("{curl} {rest}")
    } else if let Some(rest) = command.strip_prefix("websocat ") {
        format!("{websocat} {rest}")
    } else {
        command.to_owned()
    }
}

/// `path` on the TLS port, with the host the browser used for this page.
fn tls_url(req: &HttpRequest, port: u16, path: &str) -> String {
    let authority = req.connection_info().host().to_owned();
    let (host, _) = classroom::split_host(&authority);
    format!("https://{host}:{port}{path}")
}

pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let (base, ws_base) = bases(&req, &state);
    let room = Params::query(req.query_string())
        .and_then(|p| p.room())
        .unwrap_or_else(|_| RoomName::lobby());
    let tls = state.tls.as_ref().map(|tls| TlsLink {
        url: tls_url(&req, tls.addr.port(), "/"),
        fingerprint: tls.fingerprint.clone(),
        cert_path: tls.cert_path.display().to_string(),
    });
    render(&Index {
        nav: "index",
        lessons: &LESSONS,
        default_send: DEFAULT_SEND,
        base,
        ws_base,
        room,
        secure: is_secure(&req, &state),
        curl: clients(&req, &state).0,
        websocat: clients(&req, &state).1,
        tls,
    })
}

/// `/class`: the address (from the `Host` the teacher's browser used), the machine's LAN
/// addresses when that one is `localhost` or the server listens everywhere, and the QR code.
pub async fn class(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    let room = match params.get("room") {
        Some(_) => Some(params.room()?),
        None => None,
    };
    let path = match &room {
        Some(r) => format!("/?room={}", r.as_str()),
        None => "/".to_owned(),
    };
    let bind = state.config.bind;
    let authority = req.connection_info().host().to_owned();
    let (host, port) = classroom::split_host(&authority);
    let port = port.unwrap_or(bind.port());
    let here = format!("http://{authority}{path}");
    let local_only = bind.ip().is_loopback();
    let mut also = Vec::new();
    // The LAN addresses reach the server only when it listens on them.
    if !local_only && (bind.ip().is_unspecified() || classroom::is_loopback_host(host)) {
        for ip in classroom::lan_ipv4() {
            let url = format!("http://{ip}:{port}{path}");
            if url != here {
                also.push(url);
            }
        }
    }
    // A phone cannot open `localhost`: when the teacher's browser used it, the QR code holds the
    // first LAN address instead (if the server can be reached there at all).
    let url = if classroom::is_loopback_host(host) && !local_only && !also.is_empty() {
        also.remove(0)
    } else {
        here.clone()
    };
    // The teacher's own `localhost` is no use to anyone else.
    if url != here && !classroom::is_loopback_host(host) {
        also.push(here);
    }
    let qr = classroom::qr_svg(&url)
        .map_err(|e| AppError::Internal(format!("no QR code for {url}: {e}")))?;
    render(&Class {
        nav: "class",
        lessons: &LESSONS,
        url,
        qr,
        also,
        room,
        local_only,
        bind: bind.ip().to_string(),
    })
}

pub async fn transport(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let transport = Transport::from_name(&name).ok_or_else(|| {
        let names: Vec<&str> = Transport::ALL.iter().map(|t| t.name()).collect();
        let (last, rest) = names.split_last().unwrap_or((&"", &[]));
        AppError::NotFound(format!(
            "no transport {:?}; try {} or {last}",
            name.as_str(),
            rest.join(", ")
        ))
    })?;
    let lesson = lesson(transport);
    let (base, ws_base) = bases(&req, &state);
    render(&TransportPage {
        nav: lesson.slug(),
        lessons: &LESSONS,
        lesson,
        command: with_clients(lesson.command, clients(&req, &state))
            .replace("{base}", &base)
            .replace("{ws}", &ws_base)
            .replace("{cursor}", &newest_cursor(&state)),
        plan: PlanView::new(),
        https_url: state
            .tls
            .as_ref()
            .filter(|_| !is_secure(&req, &state))
            .map(|tls| {
                tls_url(
                    &req,
                    tls.addr.port(),
                    &format!("/transports/{}", lesson.slug()),
                )
            }),
    })
}

/// The lobby's newest cursor, `EPOCH-ID`: a long poll from it waits for the next message.
fn newest_cursor(state: &AppState) -> String {
    let lobby = state.bus.lobby();
    format!("{}-{}", lobby.epoch(), lobby.newest_id())
}

pub async fn overhead(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(&Overhead {
        nav: "overhead",
        lessons: &LESSONS,
        plan: PlanView::new(),
        scale_out: state.bus.backplane().map(ScaleOut::of),
    })
}

/// `/walkthrough/notes`: the teacher's notes, one `<aside>` per step (an HTML fragment).
#[derive(Template)]
#[template(path = "walkthrough_notes.html")]
struct WalkthroughNotes;

/// The walkthrough's teacher's notes, fetched when the presenter first presses `n`: kept out of
/// the page every student opens (and out of its weight).
pub async fn walkthrough_notes() -> Result<HttpResponse, AppError> {
    render(&WalkthroughNotes)
}

pub async fn walkthrough() -> Result<HttpResponse, AppError> {
    render(&Walkthrough {
        nav: "walkthrough",
        lessons: &LESSONS,
        default_send: DEFAULT_SEND,
    })
}

/// `/lab`: a static shell; `static/lab.js` reads `?room=` and `?client=` and sets the faults.
pub async fn lab() -> Result<HttpResponse, AppError> {
    render(&Lab {
        nav: "lab",
        lessons: &LESSONS,
        order: LAB_ORDER,
    })
}

fn render(page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page
        .render()
        .map_err(|e| AppError::Internal(format!("page could not be rendered: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CONTENT_SECURITY_POLICY, CSP))
        .body(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slider stops at the plan's own rate and at the crossover, and every stop is a rate
    /// `?rate=` accepts.
    #[test]
    fn the_slider_stops_at_the_plan_and_the_crossover() {
        let view = PlanView::new();
        assert_eq!(RATE_STOPS[view.default_stop], overhead::PLAN.rate());
        assert!(RATE_STOPS.contains(&overhead::PLAN.crossover_rate()));
        for rate in RATE_STOPS {
            assert_eq!(overhead::parse_rate(&rate_text(rate)).ok(), Some(rate));
        }
        assert_eq!((view.rate.as_str(), view.crossover.as_str()), ("2", "4"));
    }

    /// Each transport's lesson is at its index, so `lesson()` finds the right one.
    #[test]
    fn lessons_are_in_transport_order() {
        for t in Transport::ALL {
            assert_eq!(lesson(t).transport, t);
        }
    }
}
