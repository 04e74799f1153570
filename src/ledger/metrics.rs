//! `GET /metrics`: the ledger in the Prometheus exposition format (OpenMetrics text), via the
//! `prometheus-client` crate.
//!
//! A collector reads the same counters `/api/stats` reads, at scrape time, so the two can never
//! disagree: there is no second set of metrics to keep in step.
//!
//! With `--metrics-rooms`, `transport_lab_room_bytes` and `transport_lab_room_messages_delivered`
//! repeat the byte and message counts per room. Off by default: rooms are named by clients, and
//! every name would become a series a Prometheus server keeps (its cardinality).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Ledger;
use super::counts::{Direction, Kind, Snapshot};
use crate::backplane::{Backplane, Health};
use crate::transports::Transport;

/// The content type Prometheus negotiates for OpenMetrics text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct LedgerCollector {
    ledger: Ledger,
    rooms: bool,
}

impl fmt::Debug for LedgerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LedgerCollector")
    }
}

/// A per-transport counter family: name, help, and which snapshot field it reads.
type Family = (&'static str, &'static str, fn(&Snapshot) -> u64);

const PER_TRANSPORT: [Family; 6] = [
    (
        "transport_lab_requests",
        "HTTP requests, a WebSocket handshake counting as one.",
        |s| s.requests,
    ),
    (
        "transport_lab_connections",
        "TCP connections that carried a request for the transport.",
        |s| s.connections,
    ),
    (
        "transport_lab_messages_delivered",
        "Chat messages delivered to clients.",
        |s| s.messages,
    ),
    (
        "transport_lab_empty_responses",
        "Poll answers that carried no message.",
        |s| s.empty_responses,
    ),
    (
        "transport_lab_slow_disconnects",
        "Connections closed because their client stopped reading.",
        |s| s.slow_disconnects,
    ),
    (
        "transport_lab_http2_requests",
        "Requests that came as HTTP/2 streams (the rest were HTTP/1.1).",
        |s| s.http2_requests,
    ),
];

impl Collector for LedgerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let Some(stats) = self.ledger.stats(None) else {
            return Ok(());
        };
        let snapshots: Vec<(&str, Snapshot)> = Transport::ALL
            .iter()
            .map(|t| (t.name(), *stats.transports.get(*t)))
            .collect();

        let bytes = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "transport_lab_bytes",
            "Bytes on the wire, by transport, direction (up: client to server) and kind.",
            None,
            bytes.metric_type(),
        )?;
        for (transport, snapshot) in &snapshots {
            for (direction, split) in [
                (Direction::Up, snapshot.up),
                (Direction::Down, snapshot.down),
            ] {
                for kind in Kind::ALL {
                    let labels = [
                        ("transport", *transport),
                        ("direction", direction.name()),
                        ("kind", kind.name()),
                    ];
                    ConstCounter::new(split.get(kind)).encode(family.encode_family(&labels)?)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "transport_lab_tls_bytes",
            "TLS's own bytes (records, handshake) on the TLS port, apart from transport_lab_bytes.",
            None,
            bytes.metric_type(),
        )?;
        for (transport, snapshot) in &snapshots {
            for (direction, value) in [
                (Direction::Up, snapshot.tls_request_bytes),
                (Direction::Down, snapshot.tls_response_bytes),
            ] {
                let labels = [("transport", *transport), ("direction", direction.name())];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }

        for (name, help, field) in PER_TRANSPORT {
            let mut family = encoder.encode_descriptor(name, help, None, bytes.metric_type())?;
            for (transport, snapshot) in &snapshots {
                ConstCounter::new(field(snapshot))
                    .encode(family.encode_family(&[("transport", *transport)])?)?;
            }
        }

        let open = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "transport_lab_open_connections",
            "Connections open now, by the transport of their latest request.",
            None,
            open.metric_type(),
        )?;
        for (transport, snapshot) in &snapshots {
            let value = i64::try_from(snapshot.open).unwrap_or(i64::MAX);
            ConstGauge::new(value).encode(family.encode_family(&[("transport", *transport)])?)?;
        }
        // Posts sent "via" a transport, kept apart from what receiving with it costs.
        let mut family = encoder.encode_descriptor(
            "transport_lab_send_bytes",
            "Bytes of posts that named a transport (?transport=), by direction.",
            None,
            bytes.metric_type(),
        )?;
        for t in Transport::ALL {
            let snapshot = stats.sends.get(t);
            for (direction, n) in [
                (Direction::Up, snapshot.request_bytes),
                (Direction::Down, snapshot.response_bytes),
            ] {
                let labels = [("transport", t.name()), ("direction", direction.name())];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "transport_lab_send_requests",
            "Posts that named a transport (?transport=).",
            None,
            bytes.metric_type(),
        )?;
        for t in Transport::ALL {
            ConstCounter::new(stats.sends.get(t).requests)
                .encode(family.encode_family(&[("transport", t.name())])?)?;
        }
        if self.rooms {
            self.encode_rooms(&mut encoder)?;
        }
        Ok(())
    }
}

impl LedgerCollector {
    /// Bytes (down and up) and messages per room and transport.
    fn encode_rooms(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let rooms = self.ledger.rooms();
        let counter = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "transport_lab_room_bytes",
            "Bytes on the wire, by room, transport and direction (up: client to server).",
            None,
            counter.metric_type(),
        )?;
        for (room, stats) in &rooms {
            for t in Transport::ALL {
                let snapshot = stats.get(t);
                for (direction, bytes) in [
                    (Direction::Up, snapshot.request_bytes),
                    (Direction::Down, snapshot.response_bytes),
                ] {
                    let labels = [
                        ("room", room.as_str()),
                        ("transport", t.name()),
                        ("direction", direction.name()),
                    ];
                    ConstCounter::new(bytes).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "transport_lab_room_messages_delivered",
            "Chat messages delivered to clients, by room and transport.",
            None,
            counter.metric_type(),
        )?;
        for (room, stats) in &rooms {
            for t in Transport::ALL {
                let labels = [("room", room.as_str()), ("transport", t.name())];
                ConstCounter::new(stats.get(t).messages).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// On a shared bus: what the link to Redis carried, labelled with the server's node name, so
/// one Prometheus scraping several servers can tell (and add) them.
#[derive(Debug)]
struct BackplaneCollector {
    backplane: Backplane,
}

impl Collector for BackplaneCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let node = &**self.backplane.node();
        let counts = self.backplane.counts();
        let counter = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "transport_lab_backplane_bytes",
            "Bytes between this server and Redis (--bus redis://), by connection and direction.",
            None,
            counter.metric_type(),
        )?;
        for (connection, wire) in [
            ("publish", counts.publish),
            ("announcements", counts.announcements),
            ("control", counts.control),
        ] {
            for (direction, bytes) in [("to_redis", wire.to_redis), ("from_redis", wire.from_redis)]
            {
                let labels = [
                    ("node", node),
                    ("connection", connection),
                    ("direction", direction),
                ];
                ConstCounter::new(bytes).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "transport_lab_backplane_messages",
            "Messages this server published into Redis, and heard announced by it.",
            None,
            counter.metric_type(),
        )?;
        for (kind, n) in [("published", counts.published), ("heard", counts.heard)] {
            ConstCounter::new(n)
                .encode(family.encode_family(&[("node", node), ("kind", kind)])?)?;
        }
        let up = matches!(self.backplane.health(), Health::Up);
        let gauge = ConstGauge::new(i64::from(up));
        gauge.encode(
            encoder
                .encode_descriptor(
                    "transport_lab_backplane_up",
                    "1 while this server is connected to Redis.",
                    None,
                    gauge.metric_type(),
                )?
                .encode_family(&[("node", node)])?,
        )?;
        Ok(())
    }
}

/// The exposition text for the ledger's current counters; per room too when `rooms`; the link to
/// Redis when there is one.
pub fn render(
    ledger: &Ledger,
    rooms: bool,
    backplane: Option<&Backplane>,
) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(LedgerCollector {
        ledger: ledger.clone(),
        rooms,
    }));
    if let Some(backplane) = backplane {
        registry.register_collector(Box::new(BackplaneCollector {
            backplane: backplane.clone(),
        }));
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}
