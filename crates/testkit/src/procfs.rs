//! Reading Linux's `/proc`: a process's CPU time and resident memory, the machine's busy time and
//! what the machine is, for tooling that watches the processes it starts.

use std::fs;
use std::io;

use crate::error;

/// Clock ticks per second in `/proc` CPU times (`USER_HZ`, 100 on every Linux we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// Resident set size of `pid`, KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    kib_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The machine's memory, KiB, from `/proc/meminfo`.
pub fn memory_kib() -> io::Result<u64> {
    kib_field("/proc/meminfo", "MemTotal:")
}

/// CPU seconds (user + system) `pid` has used, from `/proc/<pid>/stat`. For this process, pass
/// `std::process::id()`: the figure covers all its threads.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds the calling thread alone has used, from `/proc/thread-self/stat`.
pub fn thread_cpu_seconds() -> io::Result<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// utime + stime of a `/proc/.../stat` file, seconds.
fn stat_cpu_seconds(path: &str) -> io::Result<f64> {
    let stat = fs::read_to_string(path)?;
    // After the parenthesised name (which may hold spaces) come fields 3...; utime and stime are
    // fields 14 and 15, so at indexes 11 and 12 of the rest.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| -> io::Result<u64> {
        let field = fields.get(index).copied().unwrap_or_default();
        field
            .parse()
            .map_err(|_| error(format!("{path}: no CPU time in field {}", index + 3)))
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

/// CPU seconds the whole machine has spent busy (all cores: everything but idle and iowait), from
/// the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> io::Result<f64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    // cpu user nice system idle iowait irq softirq steal ...
    let ticks = line
        .split_whitespace()
        .skip(1)
        .map(str::parse::<u64>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("/proc/stat: {e}")))?;
    let idle: u64 = ticks
        .get(3..5)
        .map_or(0, |idle_iowait| idle_iowait.iter().sum());
    Ok((ticks.iter().sum::<u64>() - idle) as f64 / TICKS_PER_SECOND)
}

/// The CPU's model name from `/proc/cpuinfo`, or "unknown".
pub fn cpu_model() -> String {
    field("/proc/cpuinfo", "model name")
        .map(|value| value.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The kernel's release, from `/proc/sys/kernel/osrelease`.
pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .unwrap_or_default()
}

/// The value of a `key  value kB` line, in KiB.
fn kib_field(path: &str, key: &str) -> io::Result<u64> {
    let value = field(path, key)?;
    value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| error(format!("{path}: {key} {value:?} is not a number of kB")))
}

/// What follows `key` on the first line of `path` that starts with it.
fn field(path: &str, key: &str) -> io::Result<String> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(str::to_owned)
        .ok_or_else(|| error(format!("no {key} in {path}")))
}
