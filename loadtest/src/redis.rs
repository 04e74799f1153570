//! `--redis-url`: what the servers' Redis bus spent, read from Redis itself.
//!
//! Redis reports its own CPU time in `INFO cpu` (`used_cpu_sys` and `used_cpu_user`, seconds with
//! microsecond digits), so it is read before publishing and after the drain, as the servers' CPU
//! is from /proc, and divided by the same delivered messages. Two lines of RESP need no client
//! crate: the inline command `INFO cpu\r\n` is answered with one bulk string, `$<len>\r\n`, the
//! text, `\r\n`. The URL is checked like every other target (loopback unless `--allow-remote`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::target::{self, HttpUrl};

/// The scheme of `--redis-url` (and of transport-lab's `--bus`).
pub const REDIS_SCHEME: &str = "redis";
/// Redis's port when the URL names none.
const DEFAULT_PORT: u16 = 6379;
/// The longest a reading may take: a Redis this slow to answer `INFO` is not measurable anyway.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest `INFO cpu` answer believed (it is a few hundred bytes).
const MAX_REPLY: usize = 64 * 1024;

/// A Redis server to read, resolved.
#[derive(Debug, Clone)]
pub struct Redis {
    pub addr: SocketAddr,
}

impl Redis {
    /// Parses `redis://HOST[:PORT][/DB]` and resolves it (loopback unless `allow_remote`).
    pub async fn resolve(url: &str, allow_remote: bool) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix(REDIS_SCHEME)
            .and_then(|r| r.strip_prefix("://"))
            .with_context(|| format!("bad redis url {url:?}: expected redis://HOST:PORT"))?;
        // The same host and port rules as an http:// URL; the database number does not matter
        // here (INFO is the server's).
        let mut as_http = HttpUrl::parse(&format!("{}://{rest}", target::HTTP_SCHEME))?;
        if !rest.contains(':') || (rest.starts_with('[') && !rest.contains("]:")) {
            as_http.port = DEFAULT_PORT;
        }
        Ok(Self {
            addr: target::resolve(&as_http, allow_remote).await?,
        })
    }

    /// Redis's CPU time so far (system + user), µs.
    pub async fn cpu_us(&self) -> anyhow::Result<u64> {
        let reading = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(b"INFO cpu\r\n").await?;
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            reader.read_line(&mut head).await?;
            let len: usize = match head.trim_end().strip_prefix('$') {
                Some(len) => len.parse().context("bad bulk length")?,
                None => bail!("INFO cpu answered {:?}", head.trim_end()),
            };
            if len > MAX_REPLY {
                bail!("INFO cpu answer of {len} bytes");
            }
            let mut text = vec![0; len];
            reader.read_exact(&mut text).await?;
            cpu_us(&String::from_utf8_lossy(&text))
        };
        tokio::time::timeout(TIMEOUT, reading)
            .await
            .context("INFO cpu timed out")?
            .with_context(|| format!("reading Redis's CPU at {}", self.addr))
    }
}

/// `used_cpu_sys` + `used_cpu_user` of an `INFO cpu` answer, µs.
pub fn cpu_us(info: &str) -> anyhow::Result<u64> {
    let field = |name: &str| -> anyhow::Result<f64> {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .with_context(|| format!("no {name} in INFO cpu"))?
            .trim()
            .parse::<f64>()
            .with_context(|| format!("bad {name}"))
    };
    let seconds = field("used_cpu_sys")? + field("used_cpu_user")?;
    Ok((seconds * 1_000_000.0).round() as u64)
}

/// What Redis spent over a phase's measured window.
#[derive(Debug, Clone, Serialize)]
pub struct RedisUsage {
    /// CPU time at the start of publishing and at the end of the drain, µs.
    pub before_publish_cpu_us: u64,
    pub after_drain_cpu_us: u64,
    /// The difference, per delivered message.
    pub cpu_us_per_message: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_cpu() {
        let info = "# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:0.500001\r\n\
                    used_cpu_sys_children:9.000000\r\nused_cpu_user_children:0.000000\r\n";
        assert_eq!(cpu_us(info).unwrap(), 1_750_001);
        assert!(cpu_us("# CPU\r\n").is_err());
    }

    #[tokio::test]
    async fn parses_and_guards_urls() {
        let r = Redis::resolve("redis://127.0.0.1:7001/2", false)
            .await
            .unwrap();
        assert_eq!(r.addr, SocketAddr::from(([127, 0, 0, 1], 7001)));
        let r = Redis::resolve("redis://127.0.0.1", false).await.unwrap();
        assert_eq!(r.addr.port(), DEFAULT_PORT);
        assert!(Redis::resolve("http://127.0.0.1:1", false).await.is_err());
        assert!(
            Redis::resolve("redis://10.0.0.1:6379", false)
                .await
                .is_err()
        );
    }
}
