//! The machine a run happened on, and the server process's CPU time and memory, read from /proc.
//!
//! A benchmark figure without the machine is not a figure, so every JSON report and bench table
//! carries cores, CPU model, RAM, kernel and toolchain. `--server-pid` adds what the server itself
//! spent: CPU time (user + system, from `/proc/PID/stat`) and resident memory (`VmRSS` from
//! `/proc/PID/status`), sampled before and after each phase; with several servers (a list of
//! pids) the figures are their sums. Linux only; elsewhere the fields are
//! simply absent.

use std::process::Command;

use serde::Serialize;

/// Where and with what a run was made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MachineInfo {
    /// Logical CPUs this process may use.
    pub cores: usize,
    pub cpu_model: Option<String>,
    pub mem_total_kib: Option<u64>,
    /// `ostype osrelease`, e.g. `Linux 6.8.0`.
    pub os: Option<String>,
    pub arch: &'static str,
    pub loadtest_version: &'static str,
    /// `rustc --version` if a toolchain is on PATH.
    pub rustc: Option<String>,
}

impl MachineInfo {
    pub fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os = match (
            std::fs::read_to_string("/proc/sys/kernel/ostype"),
            std::fs::read_to_string("/proc/sys/kernel/osrelease"),
        ) {
            (Ok(t), Ok(r)) => Some(format!("{} {}", t.trim(), r.trim())),
            _ => None,
        };
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo),
            mem_total_kib: kib_field(&meminfo, "MemTotal:"),
            os,
            arch: std::env::consts::ARCH,
            loadtest_version: env!("CARGO_PKG_VERSION"),
            rustc,
        }
    }

    /// One line for tables: `2 cores, AMD EPYC, 7.8 GiB RAM, Linux 6.8.0`.
    pub fn one_line(&self) -> String {
        let mut parts = vec![format!("{} cores", self.cores)];
        if let Some(model) = &self.cpu_model {
            parts.push(model.clone());
        }
        if let Some(kib) = self.mem_total_kib {
            parts.push(format!("{:.1} GiB RAM", kib as f64 / 1024.0 / 1024.0));
        }
        if let Some(os) = &self.os {
            parts.push(os.clone());
        }
        parts.join(", ")
    }
}

/// The first `model name` (x86) or `Model`/`Hardware` (ARM) line.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        matches!(key.trim(), "model name" | "Model" | "Hardware")
            .then(|| value.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// A `Name:   1234 kB` field of /proc/meminfo or /proc/PID/status, in KiB.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// One sample of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcSample {
    /// User + system CPU time, microseconds (resolution: one clock tick, usually 10 ms).
    pub cpu_us: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Clock ticks per second for /proc/PID/stat times. `getconf` is asked once; Linux uses 100 on
/// every common configuration, which is the fallback.
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Samples `pid` now; `None` if the process is gone or /proc is unavailable.
pub fn sample(pid: u32, ticks_per_s: u64) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_us: parse_stat_cpu_ticks(&stat)? * 1_000_000 / ticks_per_s.max(1),
        rss_kib: kib_field(&status, "VmRSS:")?,
    })
}

/// Samples every process of `pids` now and adds them up (several servers behind one bus are one
/// service); `None` if there are none, or one is gone.
pub fn sample_all(pids: &[u32], ticks_per_s: u64) -> Option<ProcSample> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(
        ProcSample {
            cpu_us: 0,
            rss_kib: 0,
        },
        |sum, &pid| {
            let one = sample(pid, ticks_per_s)?;
            Some(ProcSample {
                cpu_us: sum.cpu_us + one.cpu_us,
                rss_kib: sum.rss_kib + one.rss_kib,
            })
        },
    )
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// This process's soft limit on open files (`ulimit -n`), from `/proc/self/limits`; `None` when
/// unlimited or not on Linux.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Files a run of `clients` subscribers needs besides them: publishers, the setup connection,
/// stdio, the runtime's own descriptors.
pub const OPEN_FILES_SLACK: u64 = 64;

/// Refuses to start a run that would run out of open files halfway (every client is a socket),
/// with the fix, instead of letting connects fail with `Too many open files` (EMFILE).
pub fn check_open_files(clients: u64) -> Result<(), String> {
    let needed = clients + OPEN_FILES_SLACK;
    match open_files_limit() {
        Some(limit) if limit < needed => Err(format!(
            "{clients} clients need about {needed} open files, but `ulimit -n` is {limit} here: \
             raise it first (`ulimit -n {}`, up to the hard limit `ulimit -Hn`), and start the \
             server with as many (and `--max-connections` above the clients)",
            needed.next_power_of_two().max(4096)
        )),
        _ => Ok(()),
    }
}

/// A hint for an error that is the open-files limit (EMFILE, `os error 24`).
pub fn emfile_hint(error: &str) -> Option<&'static str> {
    (error.contains("os error 24") || error.contains("Too many open files")).then_some(
        "out of open files (EMFILE): raise `ulimit -n` for the loadtest and the server, \
         and the server's --max-connections",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats() {
        let stat = "1234 (transport lab) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 75 0 0 20 0 4 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(12345));
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
    }

    /// Our own process is always there to sample.
    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id(), clock_ticks()).unwrap();
        assert!(s.rss_kib > 0);
        let me = std::process::id();
        let twice = sample_all(&[me, me], clock_ticks()).unwrap();
        assert!(twice.rss_kib > s.rss_kib, "{twice:?} vs {s:?}");
        assert_eq!(sample_all(&[], clock_ticks()), None);
        let m = MachineInfo::collect();
        assert!(m.cores >= 1);
        assert!(m.one_line().contains("cores"));
    }

    /// The open-files check passes small runs and names the fix for ones over the limit.
    #[test]
    fn open_files_check() {
        let Some(limit) = open_files_limit() else {
            return; // unlimited, or not Linux: nothing to check
        };
        assert!(check_open_files(1).is_ok());
        let refused = check_open_files(limit).unwrap_err();
        assert!(refused.contains("ulimit -n"), "{refused}");
        assert!(emfile_hint("connect: Too many open files (os error 24)").is_some());
        assert!(emfile_hint("connection refused").is_none());
    }
}
