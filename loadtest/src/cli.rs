//! The command line (clap derive): `loadtest [run flags]`, `loadtest bench`, `curve` and
//! `cluster`.
//!
//! Limits live here, at the edge: `--clients` at most 20 000, `--messages` at most 1 000 000,
//! `--rooms` at most 999, and `--max-seconds` bounds the whole run, so no command line can start
//! an unbounded load.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use protocol::{HeaderProfile, Transport};

pub const MAX_CLIENTS: u64 = 20_000;
pub const MAX_MESSAGES: u64 = 1_000_000;
/// transport-lab's default `--max-rooms` (1000) less the lobby: more would be refused with 503.
pub const MAX_ROOMS: u64 = 999;

/// Drives transport-lab's six transports (or any server that echoes text verbatim) under load
/// and reports delivery latency, loss and bytes per message, per transport.
#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The standard suite: every transport at 100 and 1000 clients, 40-byte payload, 200 msg/s,
    /// 2000 messages; writes a Markdown table with the machine it ran on.
    Bench(BenchArgs),
    /// The cost curve: every transport at 100, 1000, 5000 and 10000 subscribers (`--sizes`),
    /// server CPU per delivery, RSS per connection, p50/p99; a Markdown table and an SVG chart.
    Curve(CurveArgs),
    /// Beyond one machine: 1 server on the memory bus, 1 server on a Redis bus and 2 servers on
    /// one Redis bus, side by side (servers and redis-server started here, on loopback): p50,
    /// p99, loss across servers, server and Redis CPU per delivery, the latency the backplane
    /// adds; a Markdown table.
    Cluster(ClusterArgs),
}

/// The order `--transport all` runs the six in: of the web platform's five, the cheapest
/// connections last, so the polling phases (which leave the most sockets in TIME_WAIT) do not
/// follow each other; then Socket.IO, which is built from them. Its length is
/// `Transport::COUNT`, so a new transport does not build until it has its place here.
pub const RUN_ORDER: [Transport; Transport::COUNT] = [
    Transport::Sse,
    Transport::Ws,
    Transport::Stream,
    Transport::LongPoll,
    Transport::Poll,
    Transport::SocketIo,
];

/// `--transport all`: every transport, one after another in [`RUN_ORDER`].
pub const ALL_TRANSPORTS: &str = "all";

/// `--transport`: one of the six, by its one name, or all of them one after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportArg {
    One(Transport),
    All,
}

impl TransportArg {
    /// Every value, as `--help` lists them: the six in teaching order, then `all`.
    const VARIANTS: [Self; Transport::COUNT + 1] = {
        let mut variants = [Self::All; Transport::COUNT + 1];
        let mut i = 0;
        while i < Transport::COUNT {
            variants[i] = Self::One(Transport::ALL[i]);
            i += 1;
        }
        variants
    };

    /// The transports to run, in the order they run.
    pub fn transports(self) -> Vec<Transport> {
        match self {
            Self::One(transport) => vec![transport],
            Self::All => RUN_ORDER.to_vec(),
        }
    }
}

/// By hand rather than derived, so the accepted words are the protocol's transport names.
impl ValueEnum for TransportArg {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Self::One(transport) => transport.name(),
            Self::All => ALL_TRANSPORTS,
        }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Base URL of the server under test (publishes to /api/messages, subscribes to
    /// /api/<transport>, and Socket.IO at /socket.io/). A comma-separated list drives several
    /// servers on one bus: subscribers and publishers spread round-robin over them.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Which transport(s) to drive; `all` runs the six one after another.
    #[arg(long, value_enum, default_value_t = TransportArg::All)]
    pub transport: TransportArg,

    /// Subscribers per transport, each a real protocol client on its own connection (max 20000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_CLIENTS))]
    pub clients: u64,

    /// Messages published per transport (max 1000000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGES))]
    pub messages: u64,

    /// Rooms to spread clients and messages over, round-robin, named lt-0 .. lt-{N-1}; each
    /// client expects its room's messages only (max 999). 1: all in the lobby, no `room=` sent.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_ROOMS))]
    pub rooms: u64,

    /// Publish rate, messages per second (scheduled by intended send time).
    #[arg(long, default_value_t = 200.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Size of each message text in bytes (the probe token, padded with `x`; at least the token).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(0..=4096))]
    pub payload_bytes: u64,

    /// Short-poll interval of each poll client.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub poll_interval_ms: u64,

    /// `timeout` each long poll asks the server for, in seconds.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub longpoll_timeout_s: u64,

    #[command(flatten)]
    pub h2: Http2Args,

    /// Socket.IO clients open a WebSocket at once (`transport=websocket`, socket.io-client's
    /// `transports: ["websocket"]`) instead of polling first and upgrading.
    #[arg(long)]
    pub socketio_direct_ws: bool,

    /// Seconds of publishing at --rate before the measured messages; warm-up messages are
    /// checked for loss and counted in bytes, but left out of the latency histograms.
    #[arg(long, default_value_t = 0.0, value_parser = parse_seconds)]
    pub warmup_s: f64,

    /// After the last publish, how long to wait for every client to receive everything.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    pub drain_s: f64,

    /// Hard cap on the whole run (all transports), in seconds; then it stops and reports.
    #[arg(long, default_value_t = 300.0, value_parser = parse_seconds)]
    pub max_seconds: f64,

    /// Server process(es) to sample (CPU time, RSS) from /proc before and after each transport;
    /// a comma-separated list (several servers) is summed.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// The servers' Redis bus (`redis://127.0.0.1:PORT`): its CPU time (`INFO cpu`) is read
    /// around each transport and reported per delivery beside the servers'.
    #[arg(long)]
    pub redis_url: Option<String>,

    /// Header set of every HTTP request: a current Chrome's, or curl's minimal one.
    #[arg(long, value_parser = header_profiles(), default_value = HeaderProfile::Browser.name())]
    pub headers: HeaderProfile,

    /// Publisher connections, posting in parallel when answers are slow (0: 16). With 1, posts
    /// are strictly serial, and order is checked strictly by sequence number.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=16))]
    pub publishers: u64,

    /// Clients connecting at the same time during the connect phase.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub connect_concurrency: u64,

    /// Raw POST (text/plain body = the message text) URL, for servers other than transport-lab;
    /// a comma-separated list spreads the publisher connections round-robin over them.
    #[arg(long)]
    pub publish_url: Option<String>,

    /// Subscribe URL for other servers; `{transport}` is replaced by poll, longpoll, stream, sse,
    /// ws or socketio. ws:// URLs use WebSocket; the probe token is found anywhere in what arrives.
    /// A comma-separated list spreads the subscribers round-robin over them.
    #[arg(long)]
    pub subscribe_url: Option<String>,

    /// Allow targets other than loopback (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub allow_remote: bool,

    /// Write every figure, plus machine info, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report with SVG charts.
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Base URL of the server under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Where to write the Markdown table (it is also printed).
    #[arg(long)]
    pub markdown: Option<PathBuf>,

    /// `--http2`: also runs poll, longpoll, stream and sse over HTTP/2 at each client count,
    /// their rows beside the HTTP/1.1 ones.
    #[command(flatten)]
    pub h2: Http2Args,

    /// Also write the full JSON of every run.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Also write the HTML report of the 1000-client runs.
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// Server process(es) to sample, as for a run.
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Client counts to run every transport at.
    #[arg(long, value_delimiter = ',', default_values_t = [100u64, 1000])]
    pub clients: Vec<u64>,

    /// Messages per run.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub messages: u64,

    /// Publish rate, messages per second.
    #[arg(long, default_value_t = 200.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Allow targets other than loopback.
    #[arg(long)]
    pub allow_remote: bool,

    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--http2` and its connection size, the same for a run and for a bench.
#[derive(Debug, Clone, Copy, Args)]
pub struct Http2Args {
    /// Speak HTTP/2 (prior knowledge, h2c, on the http:// URL) for poll, longpoll, stream and
    /// sse, several subscribers' requests multiplexed on each connection; ws and socketio have
    /// no HTTP/2 and are left out (of `all`; named alone, refused). In a bench: a second run
    /// of those four at each client count.
    #[arg(long)]
    pub http2: bool,

    /// With --http2: subscribers sharing one connection, each request of theirs a stream on it.
    #[arg(
        long,
        default_value_t = crate::http2::DEFAULT_STREAMS_PER_CONN,
        value_parser = clap::value_parser!(u64).range(1..=crate::http2::MAX_STREAMS_PER_CONN)
    )]
    pub h2_streams_per_conn: u64,
}

#[derive(Debug, Clone, Args)]
pub struct CurveArgs {
    /// Base URL of the server under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Server process(es) to sample (needed for the CPU and memory columns).
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Subscriber counts to run at (each at most 20000); small ones for tests and CI.
    #[arg(long, value_delimiter = ',', default_values_t = [100u64, 1000, 5000, 10000],
          value_parser = clap::value_parser!(u64).range(1..=MAX_CLIENTS))]
    pub sizes: Vec<u64>,

    /// Which transport(s) to drive at each size.
    #[arg(long, value_enum, default_value_t = TransportArg::All)]
    pub transport: TransportArg,

    /// Deliveries per second to aim for at every size: each size publishes at this divided by
    /// its subscribers (1,000 x 200/s and 10,000 x 20/s are the same work), at most --rate.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub deliveries_per_second: u64,

    /// Highest publish rate, messages per second (the small sizes' rate).
    #[arg(long, default_value_t = 200.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Seconds of publishing at each size (messages = rate x seconds, at least 5).
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    pub publish_s: f64,

    /// Where to write the Markdown table (it is also printed).
    #[arg(long)]
    pub markdown: Option<PathBuf>,

    /// Where to write the chart (SVG).
    #[arg(long)]
    pub svg: Option<PathBuf>,

    /// Also write the full JSON of every run.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Allow targets other than loopback.
    #[arg(long)]
    pub allow_remote: bool,

    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The transport-lab binary to start (e.g. target/release/transport-lab); each set-up gets
    /// fresh ones on 127.0.0.1 port 0.
    #[arg(long)]
    pub server_bin: PathBuf,

    /// The redis-server to start for the Redis rows (on a free loopback port, saving nothing);
    /// if it cannot be started those rows are skipped, and the table says so.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,

    /// Transports to compare, comma-separated (`all`: the six).
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [TransportArg::One(Transport::Sse), TransportArg::One(Transport::Ws)])]
    pub transport: Vec<TransportArg>,

    /// Subscribers per run, spread over the set-up's servers (max 20000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=MAX_CLIENTS))]
    pub clients: u64,

    /// Messages per run.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub messages: u64,

    /// Publish rate, messages per second.
    #[arg(long, default_value_t = 30.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Times the set-ups take turns; the table shows medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub rounds: u32,

    /// Where to write the Markdown table (it is also printed).
    #[arg(long)]
    pub markdown: Option<PathBuf>,

    /// Also write every run's full report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// No progress bars and no per-run tables.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--headers`: the protocol's header sets by name. A parser rather than a `ValueEnum`, because
/// the type is the protocol crate's, which does not depend on clap.
fn header_profiles() -> impl TypedValueParser<Value = HeaderProfile> {
    let values = [HeaderProfile::Browser, HeaderProfile::Curl].map(|profile| {
        PossibleValue::new(profile.name()).help(match profile {
            HeaderProfile::Browser => {
                "What Chrome sends from a page on the same origin (about 400 bytes per request head)"
            }
            HeaderProfile::Curl => "What `curl` sends: Host, User-Agent, Accept",
        })
    });
    PossibleValuesParser::new(values).try_map(|name| {
        HeaderProfile::ALL
            .into_iter()
            .find(|profile| profile.name() == name)
            .ok_or("not a header set")
    })
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected messages per second between 0.01 and 100000, got {s:?}"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds between 0 and 86400, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let cli = Cli::try_parse_from(["loadtest"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.transport, TransportArg::All);
        assert_eq!(
            (cli.run.clients, cli.run.messages, cli.run.payload_bytes),
            (100, 1000, 40)
        );
        assert_eq!(cli.run.max_seconds, 300.0);
        assert_eq!(cli.run.rooms, 1);
        for bad in [
            &["loadtest", "--rooms", "0"][..],
            &["loadtest", "--rooms", "1000"],
            &["loadtest", "--clients", "20001"],
            &["loadtest", "--messages", "1000001"],
            &["loadtest", "--rate", "0"],
            &["loadtest", "--payload-bytes", "5000"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
        let cli = Cli::try_parse_from(["loadtest", "bench", "--markdown", "x.md"]).unwrap();
        let Some(Command::Bench(b)) = cli.command else {
            panic!("bench not parsed")
        };
        assert_eq!(b.clients, [100, 1000]);
        let cli = Cli::try_parse_from(["loadtest", "curve", "--sizes", "2,3"]).unwrap();
        let Some(Command::Curve(c)) = cli.command else {
            panic!("curve not parsed")
        };
        assert_eq!((c.sizes, c.rate, c.publish_s), (vec![2, 3], 200.0, 5.0));
        assert!(Cli::try_parse_from(["loadtest", "curve", "--sizes", "20001"]).is_err());
        let cli = Cli::try_parse_from(["loadtest", "cluster", "--server-bin", "t"]).unwrap();
        let Some(Command::Cluster(c)) = cli.command else {
            panic!("cluster not parsed")
        };
        assert_eq!(
            c.transport,
            [
                TransportArg::One(Transport::Sse),
                TransportArg::One(Transport::Ws)
            ]
        );
        assert_eq!(
            (c.clients, c.messages, c.rate, c.rounds),
            (200, 300, 30.0, 1)
        );
        let cli = Cli::try_parse_from([
            "loadtest",
            "--server-pid",
            "1,2",
            "--url",
            "http://a,http://b",
        ])
        .unwrap();
        assert_eq!(cli.run.server_pid, [1, 2]);
        assert_eq!(TransportArg::All.transports().len(), Transport::COUNT);
    }

    /// `--transport` takes each protocol name to its transport, and `all` to the run order.
    #[test]
    fn transport_flag_takes_the_protocol_names() {
        let names: Vec<String> = TransportArg::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_owned())
            .collect();
        let expected: Vec<&str> = Transport::ALL
            .iter()
            .map(|t| t.name())
            .chain([ALL_TRANSPORTS])
            .collect();
        assert_eq!(names, expected);
        for t in Transport::ALL {
            let cli = Cli::try_parse_from(["loadtest", "--transport", t.name()]).unwrap();
            assert_eq!(cli.run.transport, TransportArg::One(t));
            assert_eq!(cli.run.transport.transports(), [t]);
        }
        let cli = Cli::try_parse_from(["loadtest", "--transport", ALL_TRANSPORTS]).unwrap();
        assert_eq!(cli.run.transport.transports(), RUN_ORDER);
        assert!(Cli::try_parse_from(["loadtest", "--transport", "short_poll"]).is_err());
    }
}
