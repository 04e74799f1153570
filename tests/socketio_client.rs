//! The Socket.IO transport judged by the real published `socket.io-client`: runs the Node suite
//! in `tests/socketio-client` (`node --test`) against this build's binary, and fails with node's
//! output when it fails.
//!
//! Without node on the PATH, or without the suite's packages (`npm ci` in `tests/socketio-client`),
//! the test says `SKIPPED:` on stderr and passes; `TRANSPORT_LAB_REQUIRE_NODE=1` (CI) makes that
//! a failure. The sticky-session tests (`sticky.test.js`) need nginx and redis-server as well;
//! without them those tests alone say `SKIPPED:` (passed on to stderr here) and pass, and
//! `TRANSPORT_LAB_REQUIRE_SERVICES=1` (CI) makes that a failure.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Set to make a missing node or `node_modules` a failure instead of a skip (CI does).
const REQUIRE: &str = "TRANSPORT_LAB_REQUIRE_NODE";
/// The suite takes about 30 s (the sticky-session tests start nginx, redis and two servers at a
/// time); this bounds a hung one, with room for a loaded machine.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Every test of the Node suite passes against this build's server.
#[test]
fn socketio_client_suite() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio-client");
    let Some(node) = on_path("node") else {
        return skip("node is not on the PATH (apt-get install nodejs npm)");
    };
    if !suite
        .join("node_modules/socket.io-client/package.json")
        .is_file()
    {
        return skip("socket.io-client is not installed (run npm ci in tests/socketio-client)");
    }

    let mut child = Command::new(node)
        .args(["--test", "--test-reporter=spec"])
        .current_dir(&suite)
        .env("TRANSPORT_LAB_BIN", env!("CARGO_BIN_EXE_transport-lab"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout ends node and every server it started.
        .process_group(0)
        .spawn()
        .expect("node starts");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("node can be waited for") {
            break Some(status);
        }
        if started.elapsed() > SUITE_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "{}{}",
        stdout.join().expect("stdout read"),
        stderr.join().expect("stderr read")
    );
    match status {
        Some(status) if !status.success() => panic!("node --test failed ({status}):\n{output}"),
        None => panic!("node --test did not finish in {SUITE_TIMEOUT:?}:\n{output}"),
        Some(_) => {}
    }
    // A run that found no test files passes too; that is not a pass of the suite.
    let ran = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("ℹ tests "))
        .and_then(|n| n.trim().parse::<u32>().ok());
    assert!(
        ran.is_some_and(|n| n > 0),
        "node --test ran no tests:\n{output}"
    );
    // A test of the suite that skipped itself (no nginx, say): shown past the harness's capture.
    for line in output.lines().filter(|line| line.starts_with("SKIPPED:")) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    println!("{output}");
}

/// Says why the suite did not run, or fails when `TRANSPORT_LAB_REQUIRE_NODE=1`.
fn skip(why: &str) {
    let message = format!("SKIPPED: the socket.io-client suite: {why}");
    if std::env::var(REQUIRE).is_ok_and(|v| v == "1") {
        panic!("{message}, and {REQUIRE}=1 makes it mandatory");
    }
    // Straight to stderr, past the test harness's capture, so a local run shows it.
    let _ = writeln!(std::io::stderr(), "{message}");
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Reads a pipe to its end on a thread of its own, so node never blocks on a full one.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
