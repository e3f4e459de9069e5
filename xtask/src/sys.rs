//! Process measurement and machine facts for the benchmarks (Linux).

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How a measured child process ran.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Its exit status.
    pub status: ExitStatus,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
    /// User CPU time.
    pub user: Duration,
    /// System CPU time.
    pub sys: Duration,
}

/// Spawns `cmd` and waits for it with `wait4(2)`, which gives the peak RSS of that one child
/// (not of every child this process ever waited for, as `getrusage(RUSAGE_CHILDREN)` would).
pub fn run_measured(cmd: &mut Command) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let (status, usage) = wait4(child)?;
    let wall = start.elapsed();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Measured {
        status,
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
    })
}

/// Reaps `child` and returns its status and resource usage.
#[allow(unsafe_code)]
fn wait4(child: Child) -> anyhow::Result<(ExitStatus, libc::rusage)> {
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child (std never waits on its own unless asked);
        // both pointers are to live, writable locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if r == -1 && e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        bail!("wait4({pid}) failed: {e}");
    }
    // `child` is dropped without waiting: it has been reaped above.
    drop(child);
    Ok((ExitStatus::from_raw(status), usage))
}

/// Peak RSS so far of a running process, KiB (`VmHWM` in /proc/PID/status).
pub fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

/// CPU time (user + system) used so far by a running process, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc/PID/stat")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// What the figures were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPUs available to this process.
    pub cpus: usize,
    /// CPU model name.
    pub cpu_model: String,
    /// Total memory, MiB.
    pub mem_mib: u64,
    /// `rustc -V`.
    pub rustc: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// One line for a report: CPUs, memory, kernel, compiler.
    pub fn describe(&self) -> String {
        format!(
            "{} × {}, {:.1} GiB RAM, Linux {}, {}",
            self.cpus,
            self.cpu_model.trim(),
            self.mem_mib as f64 / 1024.0,
            self.kernel,
            self.rustc
        )
    }

    /// Reads the facts from /proc and `rustc -V`.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "rustc (unknown)".into());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            mem_mib: mem_kib / 1024,
            rustc,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// Writes every dirty page of the machine back to disk (`sync(1)`) so that a measured run does
/// not pay for the write-back of what the step before it left (the CSV, the previous store):
/// on ext4 an `fsync` commits the journal and with it other files' pending data. It plays the
/// role `CHECKPOINT` plays before each PostgreSQL step.
pub fn settle_disk() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// CPU time (user + system) used so far by the local PostgreSQL server: every live process
/// named `postgres`, plus the CPU time of the children they have reaped (the postmaster reaps
/// every backend that has exited). Readable for any user's processes.
pub fn postgres_cpu() -> anyhow::Result<Duration> {
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may exit between read_dir and here.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        // utime, stime, cutime, cstime: fields 14–17.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let Some(times) = fields.get(11..15) {
            for t in times {
                ticks += t.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}
