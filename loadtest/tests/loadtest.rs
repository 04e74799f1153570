//! End to end: the real transport-lab server on 127.0.0.1:0 in this process, and the loadtest
//! library driving it over real sockets with small numbers.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use loadtest::cli::{Cli, RunArgs};
use loadtest::clients::Phase;
use loadtest::http1::Connection;
use loadtest::latency::SharedHistogram;
use loadtest::probe::{self, Clock, Finder};
use loadtest::publish_log::PublishLog;
use loadtest::report::{self, RunReport, TransportReport};
use loadtest::rooms::Rooms;
use loadtest::sequence::SequenceReport;
use loadtest::servers::Server;
use loadtest::spawn::RedisServer;
use loadtest::target::HttpUrl;
use loadtest::wire::WireCounters;
use protocol::Transport;
use protocol::headers::{self, HeaderProfile, RequestKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use transport_lab::config::Config;
use transport_lab::startup::Application;

const CLIENTS: u64 = 20;
const MESSAGES: u64 = 50;
const PAYLOAD: u64 = 40;

/// Starts the server; heartbeats are pushed out of the test's time span, and presence events
/// (a cost of clients coming and going, sent once a second while they connect) are off, so byte
/// counts are exactly messages plus fixed per-connection costs.
fn spawn_server(extra: &[&str]) -> (String, transport_lab::startup::Shutdown) {
    let mut args = vec![
        "transport-lab",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--heartbeat",
        "60",
        "--no-presence-events",
    ];
    args.extend_from_slice(extra);
    let config = Config::try_parse_from(&args).unwrap();
    let app = Application::build(config).unwrap();
    let url = format!("http://{}", app.addr());
    let shutdown = app.shutdown_handle();
    tokio::spawn(app.run());
    (url, shutdown)
}

/// `GET /api/stats?client=ID`: the server's ledger for one client.
async fn ledger(url: &str, client: &str) -> serde_json::Value {
    get_json(url, &format!("/api/stats?client={client}")).await
}

/// `GET path` on the server, answered 200 with JSON.
async fn get_json(url: &str, path: &str) -> serde_json::Value {
    let addr = url["http://".len()..].parse().unwrap();
    let mut conn = loadtest::http1::Connection::connect(
        addr,
        &url["http://".len()..],
        loadtest::wire::WireCounters::new(),
    )
    .await
    .unwrap();
    let (status, body) = conn
        .fetch(hyper::Method::GET, path, &[], None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn args(list: &[&str]) -> RunArgs {
    let mut argv = vec!["loadtest", "--quiet"];
    argv.extend_from_slice(list);
    Cli::try_parse_from(argv).unwrap().run
}

/// `{"id":N,"room":"lobby","user":"loadtest","text":"<40 bytes>","ts":<13 digits>}`: the exact
/// JSON of one of our messages, as the server encodes it.
fn json_len(id: u64) -> u64 {
    let fixed = r#"{"id":,"room":"lobby","user":"loadtest","text":"","ts":}"#.len() as u64;
    fixed + id.to_string().len() as u64 + PAYLOAD + 13
}

/// Bytes one message costs on the wire of `transport`, beyond any per-connection cost.
fn wire_bytes(transport: Transport, id: u64) -> u64 {
    let json = json_len(id);
    let chunk = |body: u64| format!("{body:x}").len() as u64 + 2 + body + 2;
    match transport {
        Transport::Stream => chunk(json + 1),
        // The `id:` is a cursor: the run's 6-character epoch, a dash, the id.
        Transport::Sse => chunk(format!("id: epoch6-{id}\ndata: \n\n").len() as u64 + json),
        Transport::Ws => 2 + json,
        // A WebSocket frame of `42["chat",` + JSON + `]`, once upgraded.
        Transport::SocketIo => 2 + 11 + json,
        Transport::Poll | Transport::LongPoll => json,
    }
}

/// What a Socket.IO client of transport-lab at `url` writes for each of its requests, to the
/// byte: the handshake, a poll, CONNECT's POST (`auth.since` = `since`) and the WebSocket's
/// handshake for the session (`client`: its id). Session ids are 22 characters and
/// engine.io-client's `t` 8, whatever they are.
fn socketio_request_bytes(url: &str, client: &str, since: u64) -> [u64; 4] {
    let host = format!("Host: {}\r\n", &url["http://".len()..]).len();
    let set = |content_type| {
        headers::head_bytes(&headers::request_headers(
            HeaderProfile::Browser,
            RequestKind::Fetch,
            url,
            content_type,
        ))
    };
    let line = |method: &str, path: &str| format!("{method} {path} HTTP/1.1\r\n").len();
    let base = format!("/socket.io/?client={client}&EIO=4&transport=");
    let (sid, t) = (
        format!("&sid={}", "s".repeat(22)),
        format!("&t={}", "t".repeat(8)),
    );
    let handshake = line("GET", &format!("{base}polling{t}")) + host + set(None) + 2;
    let poll = line("GET", &format!("{base}polling{sid}{t}")) + host + set(None) + 2;
    let body = format!(r#"40{{"since":{since}}}"#);
    let connect = line("POST", &format!("{base}polling{sid}{t}"))
        + host
        + set(Some("text/plain;charset=UTF-8"))
        + format!("Content-Length: {}\r\n\r\n", body.len()).len()
        + body.len();
    let websocket = websocket_handshake_bytes(url, &format!("{base}websocket{sid}"));
    let [handshake, poll, connect] = [handshake, poll, connect].map(|n| n as u64);
    [handshake, poll, connect, websocket]
}

/// tungstenite's WebSocket handshake to `path` (request line, `Host`, `Connection`, `Upgrade`,
/// version and key), then the browser's WebSocket headers.
fn websocket_handshake_bytes(url: &str, path: &str) -> u64 {
    let ours = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n\r\n",
        &url["http://".len()..],
        "k".repeat(24)
    );
    let browser = headers::head_bytes(&headers::request_headers(
        HeaderProfile::Browser,
        RequestKind::WebSocket,
        url,
        None,
    ));
    (ours.len() + browser) as u64
}

fn by_name(report: &RunReport) -> Vec<(&'static str, &TransportReport)> {
    report
        .transports
        .iter()
        .map(|t| (t.transport.name(), t))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_everything_once_in_order() {
    let (url, shutdown) = spawn_server(&[]);
    let run_args = args(&[
        "--url",
        &url,
        "--transport",
        "all",
        "--clients",
        &CLIENTS.to_string(),
        "--messages",
        &MESSAGES.to_string(),
        "--rate",
        "200",
        "--payload-bytes",
        &PAYLOAD.to_string(),
        "--poll-interval-ms",
        "50",
        "--drain-s",
        "10",
        "--max-seconds",
        "50",
        "--server-pid",
        &std::process::id().to_string(),
    ]);
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();
    println!("{}", report::table::render(&report));
    assert_eq!(report.interrupted, None);
    let names: Vec<_> = by_name(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["sse", "ws", "stream", "longpoll", "poll", "socketio"]
    );

    // The browser's header set with the `Host` line our HTTP client writes first (tungstenite
    // writes its own for a WebSocket).
    let browser_head = |kind| {
        let host = if kind == RequestKind::WebSocket {
            0
        } else {
            format!("Host: {}\r\n", &url["http://".len()..]).len()
        };
        (host
            + headers::head_bytes(&headers::request_headers(
                HeaderProfile::Browser,
                kind,
                &url,
                None,
            ))) as u64
    };
    for t in &report.transports {
        let name = t.transport.name();
        // Delivery: everything, once, in order, to every client.
        assert_eq!((t.connected, t.failed), (CLIENTS, 0), "{name}");
        assert_eq!((t.published, t.publish_errors), (MESSAGES, 0), "{name}");
        assert_eq!(t.expected_deliveries, CLIENTS * MESSAGES, "{name}");
        assert_eq!(t.sequence.delivered, CLIENTS * MESSAGES, "{name}");
        assert_eq!(
            (
                t.sequence.lost,
                t.sequence.duplicated,
                t.sequence.reordered,
                t.sequence.foreign
            ),
            (0, 0, 0, 0),
            "{name}"
        );
        assert_eq!(
            (t.missed_by_gap, t.reconnects, t.clients_with_errors),
            (0, 0, 0),
            "{name}"
        );
        // Latency: one sample per delivery, real and ordered percentiles.
        let l = &t.latency;
        assert_eq!(l.count, CLIENTS * MESSAGES, "{name}");
        assert!(
            l.min_us > 0 && l.p50_us <= l.p99_us && l.p99_us <= l.max_us,
            "{name}"
        );
        assert!(l.max_us < 5_000_000, "{name}: {l:?}");

        // Bytes: what the messages themselves must have cost, and what is left over per client
        // (response head, `ready`, request heads) must be a plausible fixed cost.
        let w = t.wire;
        let first_id = 1 + report
            .transports
            .iter()
            .take_while(|o| o.transport != t.transport)
            .count() as u64
            * MESSAGES;
        let message_bytes: u64 = (first_id..first_id + MESSAGES)
            .map(|id| wire_bytes(t.transport, id))
            .sum();
        assert!(t.per_message.bytes_down > PAYLOAD as f64, "{name}");
        assert!(w.bytes_down >= CLIENTS * message_bytes, "{name}: {w:?}");
        assert_eq!(
            t.per_message.bytes_down,
            w.bytes_down as f64 / (CLIENTS * MESSAGES) as f64
        );
        match t.transport {
            Transport::Stream | Transport::Sse | Transport::Ws => {
                assert!(t.per_message.bytes_down < 2000.0, "{name}");
                // One connection and one request (or handshake) per client, nothing more.
                assert_eq!((w.connections, w.requests), (CLIENTS, CLIENTS), "{name}");
                let overhead = (w.bytes_down - CLIENTS * message_bytes) / CLIENTS;
                assert!(
                    (100..600).contains(&overhead),
                    "{name}: {overhead} B/client"
                );
                // Subscribing (request up, head + ready down) happened before any message.
                let s = t.subscribe_wire;
                assert_eq!(s.bytes_down / CLIENTS, overhead, "{name}");
                let kind = match t.transport {
                    Transport::Sse => RequestKind::EventSource,
                    Transport::Stream => RequestKind::Fetch,
                    _ => RequestKind::WebSocket,
                };
                let up = w.bytes_up / CLIENTS;
                assert!(
                    up >= browser_head(kind) && up < browser_head(kind) + 400,
                    "{name}: {up}"
                );
                assert_eq!(
                    s.bytes_up, w.bytes_up,
                    "{name}: nothing sent after subscribing"
                );
            }
            Transport::LongPoll => {
                // Every answer carries at least one message (no timeouts at this rate), so at
                // most one request per message plus the one left waiting at the end.
                assert_eq!(w.connections, CLIENTS, "{name}: keep-alive reused");
                assert!(
                    w.requests >= CLIENTS && w.requests <= CLIENTS * (MESSAGES + 1),
                    "{name}"
                );
                assert!(t.per_message.requests <= (MESSAGES + 1) as f64 / MESSAGES as f64);
            }
            Transport::Poll => {
                assert_eq!(w.connections, CLIENTS, "{name}: keep-alive reused");
                // At least the first poll and the polls that fetched 50 messages at 200/s.
                assert!(w.requests >= CLIENTS * 2, "{name}: {w:?}");
            }
            Transport::SocketIo => {
                // Polling, then the upgrade: the handshake and the polls on one kept-alive
                // connection, the POSTs on a second, the WebSocket on a third.
                assert_eq!(w.connections, 3 * CLIENTS, "{name}: {w:?}");
                // Per client: the handshake, CONNECT's POST, the WebSocket's handshake, and the
                // polls: at least the one the upgrade's noop released. No ping to answer (the
                // heartbeat is 60 s), so no other POST.
                assert!(
                    (4 * CLIENTS..=7 * CLIENTS).contains(&w.requests),
                    "{name}: {w:?}"
                );
                // All of it before the client counted as subscribed; after that nothing went
                // up, and what came down was each message's frame (a 2-byte header and
                // `42["chat",` + JSON + `]`), plus 3-byte noop frames: the `6` meant for a held
                // poll, when an answer had just taken the poll (one per client at most, two if
                // a second noop met the same answer).
                let s = t.subscribe_wire;
                assert_eq!(
                    (s.bytes_up, s.requests, s.connections),
                    (w.bytes_up, w.requests, w.connections),
                    "{name}: nothing sent after subscribing"
                );
                let besides = w.bytes_down - s.bytes_down - CLIENTS * message_bytes;
                assert!(
                    besides.is_multiple_of(3) && besides <= 2 * 3 * CLIENTS,
                    "{name}: {besides} bytes besides the messages after subscribing"
                );
                // Up, to the byte but for which clients made the extra polls (ids of one digit
                // or two): per client the handshake, CONNECT's POST (`auth.since`: the newest id
                // before the phase), a poll, the WebSocket's handshake and its masked `2probe`
                // and `5`; then the other polls.
                let (mut least, mut polls) = (0, Vec::new());
                for i in 0..CLIENTS {
                    let client = format!("lt-{}-{i}", t.run_id);
                    let [handshake, poll, connect, websocket] =
                        socketio_request_bytes(&url, &client, first_id - 1);
                    least += handshake + connect + poll + websocket + (2 + 4 + 6) + (2 + 4 + 1);
                    polls.push(poll);
                }
                let more = w.requests - 4 * CLIENTS;
                let (short, long) = (polls.iter().min().unwrap(), polls.iter().max().unwrap());
                assert!(
                    (least + more * short..=least + more * long).contains(&w.bytes_up),
                    "{name}: {} bytes up, {least} before {more} more polls",
                    w.bytes_up
                );
            }
        }
        if matches!(t.transport, Transport::Poll | Transport::LongPoll) {
            let head = browser_head(RequestKind::Fetch);
            let per_request = w.bytes_up / w.requests;
            assert!(
                per_request >= head && per_request < head + 150,
                "{name}: {per_request}"
            );
        }
        // --server-pid (here: this very process) samples /proc.
        let server = t.server.as_ref().unwrap();
        assert!(server.after_drain.cpu_us >= server.before_connect.cpu_us);
        // The publisher is counted apart: its 16 connections, one request per message.
        assert_eq!(
            (t.publisher_wire.connections, t.publisher_wire.requests),
            (16, MESSAGES),
            "{name}"
        );
        assert_eq!(t.publish_round_trip.count, MESSAGES, "{name}");
    }

    // The server's own ledger, per client: what it read is exactly what our clients wrote, and
    // what it wrote is what our clients read. One exception: a server-side stream or held long
    // poll outlives its client until a write fails, and the first write after the close still
    // succeeds into the kernel's buffer, so the ledger of every phase but the last has one more
    // write per client (carrying what the next phase published) than the client read.
    let last = report.transports.last().unwrap().transport;
    for t in &report.transports {
        let (mut up, mut down, mut requests) = (0, 0, 0);
        for i in 0..CLIENTS {
            let stats = ledger(&url, &format!("lt-{}-{i}", t.run_id)).await;
            let mine = &stats["transports"][t.transport.name()];
            up += mine["request_bytes"].as_u64().unwrap();
            down += mine["response_bytes"].as_u64().unwrap();
            requests += mine["requests"].as_u64().unwrap();
        }
        let name = t.transport.name();
        assert_eq!((up, requests), (t.wire.bytes_up, t.wire.requests), "{name}");
        if t.transport == last {
            assert_eq!(down, t.wire.bytes_down, "{name}");
        } else {
            assert!(down >= t.wire.bytes_down, "{name}");
            // That one answer can carry several messages when it is written while the next phase
            // publishes quickly: allow one response of up to ~15 messages per client.
            let extra = down - t.wire.bytes_down;
            assert!(
                extra <= CLIENTS * 2000,
                "{name}: {extra} bytes more than the clients read"
            );
        }
    }

    // JSON: parses, every transport, every headline figure.
    let json: serde_json::Value =
        serde_json::from_str(&report::json::to_string(&report).unwrap()).unwrap();
    let transports = json["transports"].as_array().unwrap();
    let names: Vec<_> = transports
        .iter()
        .map(|t| t["transport"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sse", "ws", "stream", "longpoll", "poll", "socketio"]
    );
    for t in transports {
        assert_eq!(t["sequence"]["lost"], 0);
        assert!(t["latency"]["p99_us"].as_u64().unwrap() > 0);
        assert!(t["per_message"]["bytes_down"].as_f64().unwrap() > 0.0);
        assert!(t["server"]["cpu_us_per_message"].is_number());
    }
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(json["settings"]["clients"], CLIENTS);
    // One room: the lobby, and no per-room lines.
    assert_eq!(json["settings"]["rooms"], 1);
    assert!(transports.iter().all(|t| t.get("rooms").is_none()));

    // HTML: self-contained, three inline charts.
    let html = report::html::render(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
    for name in names {
        assert!(html.contains(name));
    }
    shutdown.shutdown().await;
}

/// `--socketio-direct-ws`: each Socket.IO client is one WebSocket from its first byte (the open
/// packet, then CONNECT with `auth.since` as a masked frame), gets everything once and in order,
/// and pays for a message exactly its frame: a 2-byte header and `42["chat",` + JSON + `]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_direct_ws_is_one_websocket_per_client() {
    // Arrange: a fresh server, so the messages are ids 1 to MESSAGES of the lobby.
    let (url, shutdown) = spawn_server(&[]);
    let run_args = args(&[
        "--url",
        &url,
        "--transport",
        "socketio",
        "--socketio-direct-ws",
        "--clients",
        &CLIENTS.to_string(),
        "--messages",
        &MESSAGES.to_string(),
        "--rate",
        "200",
        "--payload-bytes",
        &PAYLOAD.to_string(),
        "--drain-s",
        "10",
        "--max-seconds",
        "30",
    ]);

    // Act
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();

    // Assert: delivery, once and in order, to every client.
    println!("{}", report::table::render(&report));
    assert_eq!(report.interrupted, None);
    let [t] = &report.transports[..] else {
        panic!("one phase")
    };
    assert_eq!(t.transport, Transport::SocketIo);
    assert_eq!((t.connected, t.failed), (CLIENTS, 0));
    assert_eq!(t.sequence.delivered, CLIENTS * MESSAGES);
    assert!(t.is_clean(), "{:?}", t.sequence);
    assert_eq!(
        (t.missed_by_gap, t.reconnects, t.clients_with_errors),
        (0, 0, 0),
        "{:?}",
        t.first_error
    );
    assert_eq!(t.latency.count, CLIENTS * MESSAGES);

    // One connection and one request per client, nothing sent after subscribing, and after it
    // nothing but the messages' frames.
    let (w, s) = (t.wire, t.subscribe_wire);
    assert_eq!((w.connections, w.requests), (CLIENTS, CLIENTS));
    assert_eq!((s.bytes_up, s.requests), (w.bytes_up, w.requests));
    let message_bytes: u64 = (1..=MESSAGES)
        .map(|id| wire_bytes(Transport::SocketIo, id))
        .sum();
    assert_eq!(w.bytes_down - s.bytes_down, CLIENTS * message_bytes);

    // Up, to the byte: the WebSocket's handshake and CONNECT `40{"since":0}` in a masked frame.
    let run = &t.run_id;
    let handshakes: u64 = (0..CLIENTS)
        .map(|i| {
            let path = format!("/socket.io/?client=lt-{run}-{i}&EIO=4&transport=websocket");
            websocket_handshake_bytes(&url, &path)
        })
        .sum();
    let connect = (2 + 4 + r#"40{"since":0}"#.len()) as u64;
    assert_eq!(w.bytes_up, handshakes + CLIENTS * connect);

    // Down before the first message: the 101 head, the open packet, CONNECT's answer and the
    // room's `ready`, each in a frame with a 2-byte header.
    let sid = "s".repeat(22);
    let frames = [
        format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":65536}}"#
        ),
        format!(r#"40{{"sid":"{sid}"}}"#),
        r#"42["ready",{"type":"ready","room":"lobby","since":0,"epoch":"epoch6"}]"#.to_owned(),
    ];
    let frames: u64 = frames.iter().map(|f| 2 + f.len() as u64).sum();
    let head = s.bytes_down / CLIENTS - frames;
    assert!(
        s.bytes_down.is_multiple_of(CLIENTS),
        "the same for every client"
    );
    assert!((100..300).contains(&head), "a 101 head of {head} bytes");

    // The server's ledger agrees, per client, in both directions.
    let (mut up, mut down, mut requests) = (0, 0, 0);
    for i in 0..CLIENTS {
        let stats = ledger(&url, &format!("lt-{run}-{i}")).await;
        let mine = &stats["transports"][Transport::SocketIo.name()];
        up += mine["request_bytes"].as_u64().unwrap();
        down += mine["response_bytes"].as_u64().unwrap();
        requests += mine["requests"].as_u64().unwrap();
    }
    assert_eq!((up, down, requests), (w.bytes_up, w.bytes_down, w.requests));
    let json: serde_json::Value =
        serde_json::from_str(&report::json::to_string(&report).unwrap()).unwrap();
    assert_eq!(json["settings"]["socketio_direct_ws"], true);
    assert!(
        report::table::render(&report).contains("socketio on a WebSocket from the start"),
        "the table says how socketio ran"
    );
    shutdown.shutdown().await;
}

/// A Socket.IO client whose WebSocket is refused (`--refuse-websocket`, what a proxy that strips
/// `Upgrade` does) stays on polling, as socket.io-client does: it still gets every message, once
/// and in order, in poll answers, and says why it did not upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_stays_on_polling_when_its_websocket_is_refused() {
    // Arrange: one client of run `fixed`, whose WebSocket the server refuses; a phase of three
    // messages, built by hand so the client id is known.
    const RUN: &str = "fixed";
    const SENT: u64 = 3;
    let (url, shutdown) = spawn_server(&["--refuse-websocket", &format!("lt-{RUN}-0")]);
    let base = HttpUrl::parse(&url).unwrap();
    let sub_url = HttpUrl {
        path_and_query: Transport::SocketIo.path().into(),
        ..base.clone()
    };
    let rooms = Rooms::new(1);
    let phase = Arc::new(Phase {
        transport: Transport::SocketIo,
        servers: vec![Server {
            addr: url["http://".len()..].parse().unwrap(),
            headers: headers::request_headers(
                HeaderProfile::Browser,
                RequestKind::WebSocket,
                &base.origin(),
                None,
            ),
            url: sub_url,
            node: None,
        }],
        profile: HeaderProfile::Browser,
        socketio_direct_ws: false,
        lab: true,
        run: RUN.into(),
        finder: Finder::new(RUN),
        capacity: SENT,
        measured_from: 0,
        rooms,
        start_cursors: vec![Some(0)],
        publish_log: Arc::new(PublishLog::new(SENT)),
        clock: Clock::new(),
        histogram: SharedHistogram::new(),
        poll_interval: Duration::from_millis(250),
        longpoll_timeout_s: 25,
        connected: AtomicU64::new(0),
        connected_by_room: vec![AtomicU64::new(0)],
        connected_by_server: vec![AtomicU64::new(0)],
        failed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        stop: CancellationToken::new(),
        http2: None,
    });
    let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
    let client = tokio::spawn(loadtest::clients::run(phase.clone(), 0, permit));
    wait_for(|| phase.connected.load(Ordering::Relaxed) == 1).await;

    // Act: three messages carrying this run's tokens.
    let addr = phase.servers[0].addr;
    let mut publisher = Connection::connect(addr, &base.authority(), WireCounters::new())
        .await
        .unwrap();
    for seq in 0..SENT {
        let text = probe::encode(RUN, seq, phase.clock.now_us(), PAYLOAD as usize);
        phase.publish_log.sending(seq);
        let (status, _) = publisher
            .fetch(
                hyper::Method::POST,
                "/api/messages?user=loadtest",
                &[("Content-Type", "text/plain".to_owned())],
                Some(text.into()),
            )
            .await
            .unwrap();
        assert_eq!(status, 201);
        phase.publish_log.completed(seq, true);
    }
    wait_for(|| phase.delivered.load(Ordering::Relaxed) == SENT).await;
    phase.stop.cancel();
    let outcome = client.await.unwrap();

    // Assert: everything once, in order, with no reconnect; the refusal noted.
    assert_eq!(
        outcome.sequence,
        SequenceReport {
            delivered: SENT,
            ..Default::default()
        }
    );
    assert_eq!((outcome.reconnects, outcome.missed), (0, 0));
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.starts_with("upgrade failed, stayed on polling") && error.contains("403"),
        "{error}"
    );
    // The polls' connection, the POSTs' and the refused WebSocket's; the handshake, CONNECT,
    // the refused handshake and the polls (at least the first, and one per message at most
    // beyond the one left waiting).
    let w = outcome.wire;
    assert_eq!(w.connections, 3, "{w:?}");
    assert!((4..=4 + SENT + 1).contains(&w.requests), "{w:?}");
    shutdown.shutdown().await;
}

/// Waits (at most 10 s) until `done` holds.
async fn wait_for(done: impl Fn() -> bool) {
    let limit = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < limit, "not within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `--rooms 3` over every transport: clients and messages spread round-robin over `lt-0..lt-2`,
/// every client gets exactly its own room's messages, and the server's rooms hold what was
/// posted to each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_deliver_each_room_to_its_own_clients() {
    // Arrange: 7 clients and 31 messages, so the rooms are uneven: clients 3, 2, 2 (0 3 6 |
    // 1 4 | 2 5), messages 11, 10, 10.
    const ROOMS: u64 = 3;
    let (clients, messages) = (7u64, 31u64);
    let room_clients = [3u64, 2, 2];
    let room_messages = [11u64, 10, 10];
    let (url, shutdown) = spawn_server(&[]);
    let run_args = args(&[
        "--url",
        &url,
        "--rooms",
        &ROOMS.to_string(),
        "--clients",
        &clients.to_string(),
        "--messages",
        &messages.to_string(),
        "--rate",
        "200",
        "--poll-interval-ms",
        "50",
        "--drain-s",
        "10",
        "--max-seconds",
        "50",
    ]);

    // Act
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();

    // Assert: every transport, in the run order, clean per room.
    let table = report::table::render(&report);
    println!("{table}");
    assert_eq!(report.interrupted, None);
    let names: Vec<_> = by_name(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["sse", "ws", "stream", "longpoll", "poll", "socketio"]
    );
    let expected: u64 = room_clients
        .iter()
        .zip(&room_messages)
        .map(|(c, m)| c * m)
        .sum();
    for t in &report.transports {
        let name = t.transport.name();
        assert_eq!((t.connected, t.failed), (clients, 0), "{name}");
        assert_eq!((t.published, t.publish_errors), (messages, 0), "{name}");
        assert_eq!(t.expected_deliveries, expected, "{name}");
        assert_eq!(t.sequence.delivered, expected, "{name}");
        assert_eq!(t.latency.count, expected, "{name}");
        assert!(t.is_clean(), "{name}: {:?}", t.sequence);
        assert_eq!(
            (t.missed_by_gap, t.reconnects, t.clients_with_errors),
            (0, 0, 0),
            "{name}: {:?}",
            t.first_error
        );
        let rooms: Vec<_> = t.rooms.iter().map(|r| r.room.as_str()).collect();
        assert_eq!(rooms, ["lt-0", "lt-1", "lt-2"], "{name}");
        for (k, r) in t.rooms.iter().enumerate() {
            let room = &r.room;
            assert_eq!(
                (r.clients, r.connected, r.published),
                (room_clients[k], room_clients[k], room_messages[k]),
                "{name} {room}"
            );
            assert_eq!(
                r.expected_deliveries,
                room_clients[k] * room_messages[k],
                "{name} {room}"
            );
            // No loss means each client got all of its room's messages; no duplicate and no
            // foreign message, that it got each once and nothing of another room's.
            let q = &r.sequence;
            assert_eq!(q.delivered, r.expected_deliveries, "{name} {room}");
            assert_eq!(
                (q.lost, q.duplicated, q.reordered, q.foreign),
                (0, 0, 0, 0),
                "{name} {room}"
            );
        }
        assert!(table.contains(&format!(
            "  {name} lt-2: 2/2 clients, delivered 20/20, 0 lost"
        )));
    }

    // The server: each room's ids count on their own, one phase after another, and nothing was
    // said in the lobby.
    let phases = report.transports.len() as u64;
    let listing = get_json(&url, "/api/rooms").await;
    let newest = |name: &str| {
        listing["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["room"] == name)
            .map(|r| r["newest_id"].as_u64().unwrap())
    };
    for (k, m) in room_messages.iter().enumerate() {
        assert_eq!(newest(&format!("lt-{k}")), Some(phases * m), "{listing}");
    }
    assert_eq!(newest("lt-3"), None, "{listing}");
    assert!(newest("lobby").is_none_or(|id| id == 0), "{listing}");

    // JSON: the room count, and one line per room of every transport.
    let json: serde_json::Value =
        serde_json::from_str(&report::json::to_string(&report).unwrap()).unwrap();
    assert_eq!(json["settings"]["rooms"], ROOMS);
    for t in json["transports"].as_array().unwrap() {
        let rooms = t["rooms"].as_array().unwrap();
        assert_eq!(rooms.len() as u64, ROOMS);
        for r in rooms {
            assert_eq!(r["sequence"]["delivered"], r["expected_deliveries"]);
            for figure in ["lost", "duplicated", "reordered", "foreign"] {
                assert_eq!(r["sequence"][figure], 0, "{r}");
            }
        }
    }
    shutdown.shutdown().await;
}

/// Several servers (issue #19), here two URLs naming one server, so two "servers" on one
/// in-memory bus: subscribers alternate between the URLs and so do the publisher connections;
/// over two rooms, every message reaches every subscriber of its room exactly once and in
/// order, both URLs have half of each room's subscribers, and `--server-pid` takes a list
/// (summed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_spread_over_a_list_of_servers() {
    // Arrange
    let (url, shutdown) = spawn_server(&[]);
    let me = std::process::id().to_string();
    let (list, pids) = (format!("{url},{url}"), format!("{me},{me}"));
    for transport in ["sse", "ws", "longpoll"] {
        let run_args = small_run(
            &list,
            &[
                "--transport",
                transport,
                "--server-pid",
                &pids,
                "--rooms",
                "2",
            ],
        );

        // Act
        let report = loadtest::run::run(&run_args, CancellationToken::new())
            .await
            .unwrap();

        // Assert
        let table = report::table::render(&report);
        println!("{table}");
        let [t] = &report.transports[..] else {
            panic!("one transport expected")
        };
        assert_clean_multi(t, &url, transport, 2);
        assert!(
            t.server.is_some(),
            "{transport}: --server-pid list not sampled"
        );
        assert!(
            t.servers.iter().all(|s| s.node.is_none()),
            "a memory bus has no node names"
        );
        assert_eq!(report.settings.server_pid.len(), 2);
        let html = report::html::render(&report).unwrap();
        let path = t.transport.path();
        assert!(html.contains(&format!("<td>2. {url}{path}</td>")), "{html}");
        assert!(
            table.contains(&format!(
                "  {transport} server 2 ({url}{}): 10/10 clients, delivered 250, 0 lost, 0 dup, 0 reord",
                t.transport.path(),
            )),
            "{table}"
        );
    }
    shutdown.shutdown().await;
}

/// Two servers on one Redis bus (a redis-server started for the test): publisher connections
/// post to both and subscribers listen on both, so most messages cross Redis; every subscriber
/// of either server gets every message of its room exactly once and in order, and `--redis-url`
/// reads what Redis spent. Skipped (visibly) without redis-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_redis_bus_deliver_everything_once_in_order() {
    // Arrange
    let test = "two_servers_on_one_redis_bus_deliver_everything_once_in_order";
    let Some(redis) = redis_or_skip(test) else {
        return;
    };
    let bus = redis.url();
    let (a, stop_a) = spawn_server(&["--bus", &bus, "--node", "a"]);
    let (b, stop_b) = spawn_server(&["--bus", &bus, "--node", "b"]);
    // Listening is not ready: a server answers 503 until it has connected to Redis.
    for url in [&a, &b] {
        let mut health = serde_json::Value::Null;
        for _ in 0..100 {
            health = get_json(url, "/healthz").await;
            if health["status"] == "ok" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(health["status"], "ok", "{url}: {health}");
    }
    let list = format!("{a},{b}");
    for transport in ["sse", "ws", "longpoll"] {
        let run_args = small_run(
            &list,
            &[
                "--transport",
                transport,
                "--rooms",
                "2",
                "--redis-url",
                &bus,
            ],
        );

        // Act
        let report = loadtest::run::run(&run_args, CancellationToken::new())
            .await
            .unwrap();

        // Assert
        println!("{}", report::table::render(&report));
        let [t] = &report.transports[..] else {
            panic!("one transport expected")
        };
        assert_clean_multi(t, &a, transport, 2);
        assert!(t.servers[1].url.starts_with(&b), "{:?}", t.servers[1]);
        let nodes: Vec<_> = t.servers.iter().map(|s| s.node.as_deref()).collect();
        assert_eq!(nodes, [Some("a"), Some("b")], "{transport}");
        assert!(t.redis.is_some(), "{transport}: no Redis figures");
    }
    stop_a.shutdown().await;
    stop_b.shutdown().await;
}

/// A multi-server run of `transport` over `rooms` rooms against `url` listed twice (or two
/// servers): every subscriber got every message of its room once and in order, half of them on
/// each server.
fn assert_clean_multi(t: &TransportReport, url: &str, transport: &str, rooms: u64) {
    let each = MESSAGES / rooms;
    assert_eq!((t.connected, t.failed), (CLIENTS, 0), "{transport}");
    assert_eq!(
        (t.published, t.publish_errors),
        (MESSAGES, 0),
        "{transport}"
    );
    let q = &t.sequence;
    assert_eq!(
        (q.delivered, q.lost, q.duplicated, q.reordered, q.foreign),
        (CLIENTS * each, 0, 0, 0, 0),
        "{transport}"
    );
    assert_eq!(t.expected_deliveries, CLIENTS * each, "{transport}");
    let spread: Vec<(usize, u64, u64, u64)> = t
        .servers
        .iter()
        .map(|s| (s.index, s.clients, s.connected, s.sequence.delivered))
        .collect();
    let half = CLIENTS / 2;
    assert_eq!(
        spread,
        [(0, half, half, half * each), (1, half, half, half * each)],
        "{transport}"
    );
    assert!(t.servers[0].url.starts_with(url), "{:?}", t.servers[0]);
}

/// A throwaway redis-server for a test, or `None` (with a visible `SKIPPED:` line) when there is
/// none on this machine, unless TRANSPORT_LAB_REQUIRE_SERVICES=1 makes that a failure.
fn redis_or_skip(test: &str) -> Option<RedisServer> {
    match RedisServer::start("redis-server") {
        Ok(redis) => Some(redis),
        Err(e) if std::env::var("TRANSPORT_LAB_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{test}: redis-server is required (TRANSPORT_LAB_REQUIRE_SERVICES=1): {e:#}")
        }
        Err(e) => {
            skipped(&format!("{test}: no redis-server ({e:#})"));
            None
        }
    }
}

/// Says `SKIPPED: why` on the process's stderr itself: `eprintln!` would be captured by the test
/// harness and shown only for a failing test, and a skip must be seen.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// `--redis-url`: Redis's own CPU time (`INFO cpu`) is read before publishing and after the
/// drain, and reported per delivery; the servers here do not use it, so it did next to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cpu_is_read_around_each_phase() {
    // Arrange
    let Some(redis) = redis_or_skip("redis_cpu_is_read_around_each_phase") else {
        return;
    };
    let (url, shutdown) = spawn_server(&[]);
    let run_args = small_run(&url, &["--transport", "ws", "--redis-url", &redis.url()]);

    // Act
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();

    // Assert
    let table = report::table::render(&report);
    println!("{table}");
    let t = &report.transports[0];
    assert!(t.is_clean(), "{:?}", t.sequence);
    let r = t.redis.as_ref().expect("no Redis figures");
    assert!(r.after_drain_cpu_us >= r.before_publish_cpu_us, "{r:?}");
    assert!(
        table.lines().nth(2).unwrap().ends_with("redis µs/msg"),
        "{table}"
    );
    let json = report::json::to_string(&report).unwrap();
    assert!(json.contains("\"cpu_us_per_message\""), "{json}");
    assert_eq!(
        report.settings.redis_url.as_deref(),
        Some(redis.url().as_str())
    );
    shutdown.shutdown().await;
}

/// A server that drops messages must be reported as losing them: short polls every 2 s against
/// a history of 5, while 30 messages are published in 150 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_is_reported_as_loss() {
    let (url, shutdown) = spawn_server(&["--history", "5"]);
    let run_args = args(&[
        "--url",
        &url,
        "--transport",
        "poll",
        "--clients",
        "3",
        "--messages",
        "30",
        "--rate",
        "200",
        "--poll-interval-ms",
        "2000",
        "--drain-s",
        "3",
    ]);
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();
    let t = &report.transports[0];
    assert_eq!(t.transport, Transport::Poll);
    // Each client got the 5 newest, with a gap notice for the other 25.
    assert_eq!(t.sequence.delivered, 3 * 5);
    assert_eq!(t.sequence.lost, 3 * 25);
    assert_eq!(t.missed_by_gap, 3 * 25);
    assert_eq!(t.sequence.lost_examples, (0..10).collect::<Vec<_>>());
    assert!(!t.is_clean());
    shutdown.shutdown().await;
}

/// `--publish-url` / `--subscribe-url`: nothing transport-lab specific is used (no cursor, no
/// `ready`), only the probe token found in whatever arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_server_mode_finds_probes_anywhere() {
    let (url, shutdown) = spawn_server(&[]);
    for transport in ["sse", "ws", "stream"] {
        let run_args = args(&[
            "--url",
            &url,
            "--publish-url",
            &format!("{url}/api/messages"),
            "--subscribe-url",
            &format!("{url}/api/{{transport}}"),
            "--transport",
            transport,
            "--clients",
            "5",
            "--messages",
            "20",
            "--rate",
            "200",
            "--headers",
            "curl",
        ]);
        let report = loadtest::run::run(&run_args, CancellationToken::new())
            .await
            .unwrap();
        let t = &report.transports[0];
        assert_eq!(t.transport.name(), transport);
        assert_eq!(t.connected, 5, "{transport}");
        assert_eq!(
            (
                t.sequence.delivered,
                t.sequence.lost,
                t.sequence.duplicated,
                t.sequence.reordered
            ),
            (100, 0, 0, 0),
            "{transport}"
        );
        assert_eq!(t.latency.count, 100);
    }
    shutdown.shutdown().await;
}

#[tokio::test]
async fn refuses_non_loopback_targets_without_traffic() {
    let run_args = args(&[
        "--url",
        "http://192.0.2.1:8080",
        "--clients",
        "1",
        "--messages",
        "1",
    ]);
    let error = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--allow-remote"), "{error}");
}

/// A small bounded run against `url`: CLIENTS x MESSAGES at 200/s, short polls every 50 ms, at
/// most 10 s of drain and 40 s in all; then `extra`.
fn small_run(url: &str, extra: &[&str]) -> RunArgs {
    let (clients, messages) = (CLIENTS.to_string(), MESSAGES.to_string());
    let mut list = vec![
        "--url",
        url,
        "--clients",
        &clients,
        "--messages",
        &messages,
        "--rate",
        "200",
    ];
    list.extend([
        "--poll-interval-ms",
        "50",
        "--drain-s",
        "10",
        "--max-seconds",
        "40",
    ]);
    list.extend_from_slice(extra);
    args(&list)
}

/// Subscribers per HTTP/2 connection in the `--http2` tests: 20 clients make connections of
/// 8, 8 and 4 streams.
const STREAMS_PER_CONN: u64 = 8;

/// `--http2` for one transport: 20 subscribers multiplexed 8 to a connection over h2c get every
/// message once and in order; the server's ledger saw exactly the loadtest's streams as HTTP/2
/// requests on 3 connections, and exactly the bytes the loadtest counted on those sockets.
async fn http2_delivers_over_shared_connections(transport: Transport) {
    // Arrange
    let (url, shutdown) = spawn_server(&[]);
    let name = transport.name();
    let per_conn = STREAMS_PER_CONN.to_string();
    let run_args = small_run(
        &url,
        &[
            "--transport",
            name,
            "--http2",
            "--h2-streams-per-conn",
            &per_conn,
        ],
    );

    // Act
    let report = loadtest::run::run(&run_args, CancellationToken::new())
        .await
        .unwrap();

    // Assert: delivery, as over HTTP/1.1.
    println!("{}", report::table::render(&report));
    assert_eq!(report.interrupted, None);
    let [t] = &report.transports[..] else {
        panic!("one transport expected, got {}", report.transports.len())
    };
    assert_eq!((t.transport, t.http2), (transport, true));
    assert_eq!((t.connected, t.failed), (CLIENTS, 0), "{name}");
    assert_eq!(t.sequence.delivered, CLIENTS * MESSAGES, "{name}");
    let q = &t.sequence;
    assert_eq!(
        (q.lost, q.duplicated, q.reordered, q.foreign),
        (0, 0, 0, 0),
        "{name}"
    );
    assert_eq!(
        (
            t.reconnects,
            t.clients_with_errors,
            t.first_error.as_deref()
        ),
        (0, 0, None),
        "{name}"
    );
    assert_eq!(t.latency.count, CLIENTS * MESSAGES, "{name}");
    // Multiplexing: one connection per 8 subscribers, fewer than the subscribers.
    let connections = CLIENTS.div_ceil(STREAMS_PER_CONN);
    assert_eq!(t.wire.connections, connections, "{name}");
    assert!(t.wire.connections < CLIENTS);
    // The server's side: the transport's ledger less the setup poll (HTTP/1.1, its own
    // connection, under `poll`) is HTTP/2 only, and is what the loadtest counted, to the byte.
    // The connections close (GOAWAY) as the run ends, so the server may read their last
    // frames a moment after the loadtest wrote them. The ledger counts an HTTP/2 connection
    // once per transport however many clients share it: the 3 sockets, not the 20 subscribers.
    let counted = |stats: &serde_json::Value, field: &str| {
        stats["transports"][name][field].as_u64().unwrap_or(0)
    };
    let setup = get_json(&url, "/api/stats?client=loadtest-setup").await;
    let setup = match transport {
        Transport::Poll => setup,
        _ => serde_json::Value::Null,
    };
    let expected = [
        ("http2_requests", t.wire.requests),
        ("requests", t.wire.requests),
        ("connections", connections),
        ("request_bytes", t.wire.bytes_up),
        ("response_bytes", t.wire.bytes_down),
    ];
    let ledger = |stats: &serde_json::Value| -> Vec<u64> {
        expected
            .iter()
            .map(|(field, _)| counted(stats, field) - counted(&setup, field))
            .collect()
    };
    // Bytes down may exceed the loadtest's by what the server wrote as the connections closed,
    // which the loadtest, gone, never read: its GOAWAY (a 9-byte frame header and 8 bytes) on
    // each connection, and a poll answer written after its client had reset the stream.
    const GOAWAY: u64 = 17;
    let polled = matches!(transport, Transport::Poll | Transport::LongPoll);
    // A poll the loadtest counts as sent may be queued on its connection as the phase ends and
    // closes it, and never reach the wire (no bytes counted for it on either side): one per
    // connection at most.
    let agrees = |seen: &[u64]| {
        seen.iter()
            .zip(&expected)
            .all(|(seen, (field, n))| match *field {
                "response_bytes" => n <= seen && (polled || *seen <= n + GOAWAY * connections),
                "requests" | "http2_requests" if polled => seen <= n && *seen + connections >= *n,
                _ => seen == n,
            })
    };
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = ledger(&get_json(&url, "/api/stats").await);
        if agrees(&seen) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        agrees(&seen),
        "{name}: server ledger {seen:?} vs loadtest {expected:?}"
    );
    assert!(t.wire.requests >= CLIENTS, "{name}: {:?}", t.wire);
    shutdown.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_short_polls_share_connections() {
    http2_delivers_over_shared_connections(Transport::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_long_polls_share_connections() {
    http2_delivers_over_shared_connections(Transport::LongPoll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_share_connections() {
    http2_delivers_over_shared_connections(Transport::Stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_sse_shares_connections() {
    http2_delivers_over_shared_connections(Transport::Sse).await;
}

/// `--http2` refuses a transport it has no HTTP/2 client for, before any traffic, and leaves
/// the WebSocket ones out of `all`.
#[test]
fn http2_names_its_transports() {
    let pick = |named: bool, ts: &[Transport]| loadtest::http2::selected(ts.to_vec(), named);
    assert!(pick(true, &[Transport::Ws]).is_err());
    assert!(pick(true, &[Transport::SocketIo]).is_err());
    assert_eq!(
        pick(false, &loadtest::cli::RUN_ORDER).unwrap(),
        [
            Transport::Sse,
            Transport::Stream,
            Transport::LongPoll,
            Transport::Poll
        ]
    );
}

/// `loadtest curve --sizes 2,3`: one run per size, every point delivered in full, and the table
/// and the chart name each transport at each size (the figures themselves are the benchmark's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_cost_curve() {
    let (url, shutdown) = spawn_server(&[]);
    let cli = Cli::try_parse_from([
        "loadtest",
        "curve",
        "--quiet",
        "--url",
        &url,
        "--sizes",
        "2,3",
        "--transport",
        "sse",
        "--rate",
        "100",
        "--publish-s",
        "0.05",
    ])
    .unwrap();
    let Some(loadtest::cli::Command::Curve(curve_args)) = cli.command else {
        panic!("curve not parsed")
    };
    let reports = loadtest::curve::curve(&curve_args, CancellationToken::new())
        .await
        .unwrap();
    let points: Vec<(u64, u64)> = reports
        .iter()
        .flat_map(|r| &r.transports)
        .map(|t| (t.clients, t.sequence.delivered))
        .collect();
    assert_eq!(points, [(2, 10), (3, 15)]);
    let md = loadtest::curve::markdown(&reports, "loadtest curve");
    for (size, delivered) in [(2, "10/10"), (3, "15/15")] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| sse | {size} | ")))
            .unwrap_or_else(|| panic!("no row for {size}: {md}"));
        assert!(row.contains(&format!("| {delivered} | 0 |")), "{row}");
    }
    let svg = loadtest::curve::svg(&reports).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("sse"), "{svg}");
    shutdown.shutdown().await;
}

/// The transport-lab binary beside this test's (`target/debug/transport-lab`), if one was built.
fn server_bin() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("transport-lab");
    bin.is_file().then_some(bin)
}

/// `loadtest cluster` at a tiny size: three set-ups (servers and redis-server started by the
/// loadtest) for sse, every row delivered in full, the 2-server row spread 2 + 2, and Redis CPU
/// on the Redis rows only. Skipped visibly without a built transport-lab or a redis-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_cluster_comparison() {
    // Arrange
    let test = "a_tiny_cluster_comparison";
    let Some(bin) = server_bin() else {
        skipped(&format!(
            "{test}: no target/debug/transport-lab (cargo build -p transport-lab)"
        ));
        return;
    };
    if redis_or_skip(test).is_none() {
        return;
    }
    let cli = Cli::try_parse_from([
        "loadtest",
        "cluster",
        "--quiet",
        "--server-bin",
        bin.to_str().unwrap(),
        "--transport",
        "sse",
        "--clients",
        "4",
        "--messages",
        "10",
        "--rate",
        "100",
    ])
    .unwrap();
    let Some(loadtest::cli::Command::Cluster(cluster_args)) = cli.command else {
        panic!("cluster not parsed")
    };

    // Act
    let report = loadtest::cluster::cluster(&cluster_args, CancellationToken::new())
        .await
        .unwrap();

    // Assert
    let md = loadtest::cluster::markdown(&report, "loadtest cluster");
    println!("{md}");
    assert_eq!(report.redis_skipped, None, "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| sse |")).collect();
    let expected = [
        ("1 server, memory bus", "4"),
        ("1 server, Redis bus", "4"),
        ("2 servers, Redis bus", "2 + 2"),
    ];
    assert_eq!(rows.len(), expected.len(), "{md}");
    for (row, (setup, spread)) in rows.iter().zip(expected) {
        assert!(
            row.starts_with(&format!("| sse | {setup} | {spread} | 40/40 | 0 | 0 | 0 |")),
            "{row}"
        );
        let redis_cpu = row.trim_end_matches(" |").rsplit("| ").next().unwrap();
        assert_eq!(redis_cpu == "-", setup.contains("memory"), "{row}");
    }
    for run in &report.runs {
        assert!(run.report.transports[0].is_clean(), "{}", run.setup.label());
    }
}
