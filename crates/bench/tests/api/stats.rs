//! Latency summaries are in milliseconds and merge across workers.

use std::time::Duration;

use anyhow::Result;
use sesame_bench::stats::Latencies;

#[test]
fn summarises_in_milliseconds() -> Result<()> {
    let mut a = Latencies::new()?;
    let mut b = Latencies::new()?;
    for ms in 1..=99 {
        a.record(Duration::from_millis(ms));
    }
    b.record(Duration::from_millis(100));
    a.merge(&b)?;
    let summary = a.summary();
    assert_eq!(summary.count, 100);
    assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary:?}");
    assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
    Ok(())
}
