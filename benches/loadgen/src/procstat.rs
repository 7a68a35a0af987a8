//! Process accounting from `/proc`: CPU time and resident memory of the
//! server under load and of the load generator itself (Linux only; elsewhere
//! the figures are reported as absent).

use std::time::Instant;

/// User + system CPU time of process `pid` in seconds, all threads included
/// (`utime` + `stime` of `/proc/PID/stat`). `None` when it cannot be read.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_sec())
}

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_rss_kib(&status).map(|kib| kib * 1024)
}

/// Proportional set size of process `pid` in bytes (`Pss` of
/// `/proc/PID/smaps_rollup`): resident memory with each shared page divided
/// by the number of mappings sharing it. RSS counts a page shared by N
/// mappings N times: every room's plugin instance maps the module's data
/// image copy-on-write, so RSS counts that image once per room.
pub fn pss_bytes(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_kib_field(&rollup, "Pss:").map(|kib| kib * 1024)
}

/// `utime + stime` in clock ticks from the text of `/proc/PID/stat`. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After `)`: state is field 3; utime is field 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
fn parse_rss_kib(status: &str) -> Option<u64> {
    parse_kib_field(status, "VmRSS:")
}

/// The number of the first line starting with `field` (`Name:  123 kB`).
fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's clock ticks per second (`USER_HZ`, almost always 100).
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// A process's CPU time at one instant, to measure a window: take one at the
/// start and call [`CpuProbe::percent_since`] at the end.
#[derive(Debug, Clone, Copy)]
pub struct CpuProbe {
    pid: u32,
    cpu: Option<f64>,
    at: Instant,
}

impl CpuProbe {
    /// Reads process `pid` now.
    pub fn start(pid: u32) -> CpuProbe {
        CpuProbe {
            pid,
            cpu: cpu_seconds(pid),
            at: Instant::now(),
        }
    }

    /// CPU used since the probe was taken, as a percentage of one core.
    pub fn percent_since(&self) -> Option<f64> {
        let now = cpu_seconds(self.pid)?;
        let wall = self.at.elapsed().as_secs_f64();
        let before = self.cpu?;
        (wall > 0.0).then(|| (now - before) / wall * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    123 45 0 0 20 0 3 0 100 1000000 300 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(168));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tarbiter\nVmPeak:\t 9000 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_rss_kib(status), Some(12345));
        assert_eq!(parse_rss_kib("Name: x\n"), None);
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  900 kB\nPss:  700 kB\nPss_Anon: 600 kB\n";
        assert_eq!(parse_kib_field(rollup, "Pss:"), Some(700));
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds(std::process::id()).is_some());
            assert!(rss_bytes(std::process::id()).unwrap_or(0) > 0);
            assert!(pss_bytes(std::process::id()).unwrap_or(0) > 0);
        }
    }
}
