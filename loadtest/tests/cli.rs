//! The command line's contract: the words scripts and the README type. These are spelled out here
//! on purpose, once, so a renamed transport or header set fails a test instead of a script.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use loadtest::cli::{Cli, RUN_ORDER};
use protocol::HeaderProfile;

/// `--transport` takes exactly the six names and `all`; `all` runs the five of the web platform
/// cheapest connections last, then Socket.IO.
#[test]
fn transport_names_are_unchanged() {
    for name in ["poll", "longpoll", "stream", "sse", "ws", "socketio"] {
        let cli = Cli::try_parse_from(["loadtest", "--transport", name]).unwrap();
        let names: Vec<&str> = cli
            .run
            .transport
            .transports()
            .iter()
            .map(|t| t.name())
            .collect();
        assert_eq!(names, [name]);
    }
    let cli = Cli::try_parse_from(["loadtest", "--transport", "all"]).unwrap();
    assert_eq!(cli.run.transport.transports(), RUN_ORDER);
    let order: Vec<&str> = RUN_ORDER.iter().map(|t| t.name()).collect();
    assert_eq!(
        order,
        ["sse", "ws", "stream", "longpoll", "poll", "socketio"]
    );
    for bad in [
        "short_poll",
        "ShortPoll",
        "long-poll",
        "websocket",
        "socket.io",
    ] {
        assert!(
            Cli::try_parse_from(["loadtest", "--transport", bad]).is_err(),
            "{bad}"
        );
    }
}

/// `--socketio-direct-ws` is a switch, off unless given.
#[test]
fn socketio_direct_ws_is_a_switch() {
    let cli = Cli::try_parse_from(["loadtest"]).unwrap();
    assert!(!cli.run.socketio_direct_ws);
    let cli = Cli::try_parse_from(["loadtest", "--socketio-direct-ws"]).unwrap();
    assert!(cli.run.socketio_direct_ws);
}

/// `--headers` takes `browser` (the default) and `curl`, and reports keep those names.
#[test]
fn header_set_names_are_unchanged() {
    let cli = Cli::try_parse_from(["loadtest"]).unwrap();
    assert_eq!(cli.run.headers, HeaderProfile::Browser);
    for (name, profile) in [
        ("browser", HeaderProfile::Browser),
        ("curl", HeaderProfile::Curl),
    ] {
        let cli = Cli::try_parse_from(["loadtest", "--headers", name]).unwrap();
        assert_eq!(cli.run.headers, profile);
        assert_eq!(
            serde_json::to_string(&profile).unwrap(),
            format!("\"{name}\"")
        );
    }
    assert!(Cli::try_parse_from(["loadtest", "--headers", "chrome"]).is_err());
}

/// `--http2` is a switch, off unless given, with `--h2-streams-per-conn` 100 by default and 1 to
/// 256; `bench` takes both too.
#[test]
fn http2_flags_are_unchanged() {
    let cli = Cli::try_parse_from(["loadtest"]).unwrap();
    assert_eq!(
        (cli.run.h2.http2, cli.run.h2.h2_streams_per_conn),
        (false, 100)
    );
    let cli = Cli::try_parse_from(["loadtest", "--http2", "--h2-streams-per-conn", "256"]).unwrap();
    assert_eq!(
        (cli.run.h2.http2, cli.run.h2.h2_streams_per_conn),
        (true, 256)
    );
    for bad in ["0", "257"] {
        let argv = ["loadtest", "--http2", "--h2-streams-per-conn", bad];
        assert!(Cli::try_parse_from(argv).is_err(), "{bad}");
    }
    let cli = Cli::try_parse_from(["loadtest", "bench", "--http2", "--h2-streams-per-conn", "8"])
        .unwrap();
    let Some(loadtest::cli::Command::Bench(bench)) = cli.command else {
        panic!("bench not parsed")
    };
    assert_eq!((bench.h2.http2, bench.h2.h2_streams_per_conn), (true, 8));
}
