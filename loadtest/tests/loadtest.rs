//! End to end: the real transport-lab server on 127.0.0.1:0 in this process, and the loadtest
//! library driving it over real sockets with small numbers.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use loadtest::cli::{Cli, RunArgs};
use loadtest::report::{self, RunReport, TransportReport};
use protocol::Transport;
use protocol::headers::{self, HeaderProfile, RequestKind};
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
    assert_eq!(names, ["sse", "ws", "stream", "longpoll", "poll"]);

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
            // TODO(socketio load client): its polling-then-upgrade checks land with the client.
            Transport::SocketIo => {}
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
    assert_eq!(names, ["sse", "ws", "stream", "longpoll", "poll"]);
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
    assert_eq!(names, ["sse", "ws", "stream", "longpoll", "poll"]);
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
