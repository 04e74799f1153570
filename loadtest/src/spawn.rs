//! The processes `loadtest cluster` starts and stops itself: transport-lab servers on 127.0.0.1
//! port 0 (the address read back from their log's `listening on http://ADDR`, then ready once
//! `/healthz` says `ok`: on a Redis bus, once connected), and a throwaway
//! `redis-server` on a free loopback port, saving nothing to disk.
//!
//! Each is a guard: dropping it kills the process and reaps it, so an error, a panic in a test or
//! the end of a set-up leaves nothing running. Only these children are ever signalled, by the
//! handle `std::process` gave us.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http1::Connection;
use crate::run::connect::HEALTH_PATH;
use crate::target::HttpUrl;
use crate::wire::WireCounters;

/// What transport-lab logs once it has bound its listener (`src/main.rs`).
pub const LISTENING: &str = "listening on http://";
/// How long a process may take to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Between readiness checks.
const POLL: Duration = Duration::from_millis(50);

/// A running transport-lab.
pub struct LabServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, as it logged it.
    pub url: String,
    pub pid: u32,
}

impl LabServer {
    /// Starts `bin --bind 127.0.0.1:0 ARGS..` and waits for its address. Its log goes on being
    /// read (and dropped) by a thread, so a chatty server never blocks on a full pipe.
    pub async fn start(bin: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Plain text (no colour codes), and the INFO line that names the address.
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (found, address) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = listening_url(&line)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url);
                }
            }
        });
        // The guard exists from here on, so an early return kills the child.
        let mut server = Self {
            child,
            url: String::new(),
            pid,
        };
        let started = Instant::now();
        match tokio::time::timeout(START_TIMEOUT, address).await {
            Ok(Ok(url)) => server.url = url,
            Ok(Err(_)) => bail!(
                "{} {} exited before it was listening",
                bin.display(),
                args.join(" ")
            ),
            Err(_) => bail!(
                "{} did not log {LISTENING:?} within {START_TIMEOUT:?}",
                bin.display()
            ),
        }
        // Listening is not ready: on a Redis bus the server answers 503 until it has connected.
        while !server.healthy().await {
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{} at {} was not healthy (`/healthz` status ok) within {START_TIMEOUT:?}",
                    bin.display(),
                    server.url
                );
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(server)
    }

    /// `GET /healthz` answers 200 with `"status":"ok"` (not `degraded`: still connecting to its
    /// bus, or cut off from it).
    async fn healthy(&self) -> bool {
        let Ok(url) = HttpUrl::parse(&self.url) else {
            return false;
        };
        let Ok(addr) = crate::target::resolve(&url, false).await else {
            return false;
        };
        let Ok(mut conn) = Connection::connect(addr, &url.authority(), WireCounters::new()).await
        else {
            return false;
        };
        match conn.fetch(hyper::Method::GET, HEALTH_PATH, &[], None).await {
            Ok((status, body)) => {
                status.is_success()
                    && serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|health| health["status"] == "ok")
            }
            Err(_) => false,
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL in a `listening on http://ADDR` log line.
pub fn listening_url(line: &str) -> Option<String> {
    let at = line.find(LISTENING)?;
    let addr = line[at + LISTENING.len()..].split_whitespace().next()?;
    Some(format!("http://{addr}"))
}

/// A throwaway Redis: no snapshots, no append-only file, loopback only.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub pid: u32,
}

impl RedisServer {
    /// Starts `bin --port P --bind 127.0.0.1 --save '' --appendonly no` on a free port and waits
    /// until it answers `PING`. An error whose text starts with [`RedisServer::MISSING`] means
    /// the binary is not there.
    pub fn start(bin: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("{} {bin:?}: {e}", Self::MISSING))?;
        let server = Self {
            pid: child.id(),
            child,
            port,
        };
        let started = Instant::now();
        while !server.answers_ping() {
            if started.elapsed() > START_TIMEOUT {
                bail!("{bin} did not answer PING on port {port} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(POLL);
        }
        Ok(server)
    }

    /// How a failed start says the binary is missing.
    pub const MISSING: &'static str = "cannot run redis-server";

    /// `redis://127.0.0.1:PORT`: the `--bus` of its servers and the loadtest's `--redis-url`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", crate::redis::REDIS_SCHEME, self.port)
    }

    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, POLL) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now (the kernel's pick for port 0, released).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_from_the_log() {
        let line =
            "2026-11-29T07:00:00.123456Z  INFO transport_lab: listening on http://127.0.0.1:41234";
        assert_eq!(
            listening_url(line).as_deref(),
            Some("http://127.0.0.1:41234")
        );
        assert_eq!(listening_url("INFO teacher token: x"), None);
    }
}
