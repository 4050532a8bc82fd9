//! Watching a server from `/proc` while page views run against it: its largest RSS (sampled every
//! 100 ms), its CPU time and its helpers' (its Redis), and the machine's CPU time that none of
//! them nor the load generator used ("other load": other programs, and kernel network work
//! charged to no process).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use sesame_testkit::procfs;
use tokio::runtime::Runtime;

use crate::loadgen::{self, LoadConfig};
use crate::report::PageViews;

/// Runs the load `config` describes against the server `server` (helped by `helpers`), sampling
/// both meanwhile.
pub fn page_views(
    runtime: &Runtime,
    config: &LoadConfig,
    server: u32,
    helpers: &[u32],
) -> Result<PageViews> {
    let helpers_cpu = || -> Result<f64> {
        let cpu = helpers.iter().map(|&pid| procfs::cpu_seconds(pid));
        Ok(cpu.sum::<std::io::Result<f64>>()?)
    };
    let server_before = procfs::cpu_seconds(server)?;
    let helpers_before = helpers_cpu()?;
    let machine_before = procfs::machine_busy_seconds()?;
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let (load, rss_max) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut rss_max = 0;
            while !done.load(Ordering::Relaxed) {
                rss_max = procfs::rss_kib(server).map_or(rss_max, |rss| rss.max(rss_max));
                thread::sleep(Duration::from_millis(100));
            }
            rss_max
        });
        let load = runtime.block_on(loadgen::run(config));
        done.store(true, Ordering::Relaxed);
        (load, sampler.join())
    });
    let load = load?;
    let rss_max = rss_max.map_err(|_| anyhow!("the RSS sampler panicked"))?;
    let wall = started.elapsed().as_secs_f64();
    let machine = procfs::machine_busy_seconds()? - machine_before;
    let server_cpu = procfs::cpu_seconds(server)? - server_before;
    let helpers = helpers_cpu()? - helpers_before;
    // The server's CPU time covers the warm-up too: spread the measured window's share of it
    // over the measured requests.
    let (warmup, window) = (config.warmup.as_secs_f64(), config.duration.as_secs_f64());
    let measured_share = window / (window + warmup);
    let others = machine - server_cpu - helpers - load.generator_cpu_seconds;
    Ok(PageViews {
        rss_max_under_load_kib: rss_max,
        server_cpu_us_per_request: server_cpu * measured_share * 1e6 / load.requests.max(1) as f64,
        other_load_cores: (others / wall).max(0.0),
        load,
    })
}
