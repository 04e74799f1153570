//! The real parts these tests start: `redis-server` on a free loopback port, and the server
//! binary on port 0 with `--bus` naming it. Each is killed when its handle drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Set to make a missing `redis-server` a failure instead of a skip (CI does).
const REQUIRE: &str = "TRANSPORT_LAB_REQUIRE_SERVICES";

/// A Redis for one test, or `None` (after saying `SKIPPED:`) when there is no `redis-server`.
pub fn require_redis() -> Option<Redis> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(Redis::start());
    }
    let why = "redis-server is not on the PATH (apt-get install redis-server)";
    assert!(
        std::env::var_os(REQUIRE).is_none_or(|v| v != "1"),
        "{REQUIRE}=1 and {why}"
    );
    // Straight to stderr: the test harness captures `eprintln!`, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

/// `redis-server` with persistence off, in a directory of its own (where `stop_keeping_data`
/// saves, so a restart finds the data again).
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "transport-lab-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir,
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command("PING").as_deref() != Some("+PONG\r\n") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL the servers are given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Shuts Redis down, saving its data first (as an operator's restart would keep it).
    pub fn stop_keeping_data(&mut self) {
        let _ = self.command("SHUTDOWN SAVE");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Starts Redis again on the same port, with the data it saved.
    pub fn restart(&mut self) {
        self.spawn();
    }

    /// Kills Redis and starts it again with nothing: a Redis that lost its data.
    pub fn restart_empty(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.spawn();
    }

    /// One inline command; the raw reply, or `None` when Redis does not answer.
    pub fn command(&self, line: &str) -> Option<String> {
        let mut socket = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        socket.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        socket.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        let mut reply = [0u8; 512];
        let n = socket.read(&mut reply).ok()?;
        Some(String::from_utf8_lossy(&reply[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on now (taken from the kernel, then freed for redis-server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary on the shared bus.
pub struct Node {
    child: Child,
    addr: String,
}

impl Node {
    /// Starts the binary on a free port with `--bus` naming `redis` and `--node name`, and waits
    /// until it has connected to Redis.
    pub fn start(redis: &Redis, name: &str, extra: &[&str]) -> Self {
        let bus = redis.url();
        let mut args = vec!["--bus", &bus, "--node", name, "--no-presence-events"];
        args.extend_from_slice(extra);
        Self::spawn(&args, "the bus is connected")
    }

    /// Starts the binary on a free port with `args`; waits for its address, then for a log line
    /// containing `ready`.
    fn spawn(args: &[&str], ready: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_transport-lab"))
            .args(["--bind", "127.0.0.1:0", "--workers", "2"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(at) = line.find("listening on http://") {
                addr = Some(line[at + "listening on http://".len()..].trim().to_owned());
            }
            if addr.is_some() && line.contains(ready) {
                break;
            }
        }
        let addr = addr.expect("the server logged its address (and was ready)");
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown sequence, no goodbye to anyone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the browser tests' frozen-server step needs (they include this file); the cluster tests
/// do not use it.
#[allow(dead_code)]
impl Node {
    /// Starts the binary alone (the memory bus) on a free port with `args`.
    pub fn start_alone(args: &[&str]) -> Self {
        Self::spawn(args, "listening on")
    }

    /// `host:port` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process: SIGSTOP freezes it with every connection
    /// left open, a server that is there for the kernel and gone for its clients.
    pub fn signal(&self, signal: &str) {
        // bash's own kill: a bare machine may have no kill(1) (procps).
        let line = format!("kill -s {signal} {}", self.child.id());
        let status = Command::new("bash").args(["-c", &line]).status().unwrap();
        assert!(status.success(), "kill -s {signal}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the binary with `--bus` naming a Redis that is not there; returns its URL as soon as
/// it listens (it never logs that the bus is connected).
pub fn start_unconnected(bus: &str) -> (String, Node) {
    let node = Node::spawn(&["--bus", bus], "listening on");
    (node.url(), node)
}

/// A command line run by bash in the background, killed when dropped.
pub struct Background(Child);

impl Background {
    pub fn bash(line: &str) -> Self {
        Self(
            Command::new("bash")
                .args(["-c", line])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
