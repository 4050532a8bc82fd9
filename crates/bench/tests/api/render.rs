//! The report rendered from `tests/report.json`, a run with made-up round numbers for the memory
//! and redis stores: every cell of every table is checked against a value worked out by hand.

use sesame_bench::render;
use sesame_bench::report::{self, Report};
use sesame_bench::targets;

fn fixture() -> Report {
    match serde_json::from_str(include_str!("../report.json")) {
        Ok(report) => report,
        Err(e) => panic!("tests/report.json does not match the report's types: {e}"),
    }
}

/// The rendered tables' rows (header and alignment rows included), each split into its cells.
fn cells(markdown: &str) -> Vec<Vec<String>> {
    markdown
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            let inner = line.trim_start_matches("| ").trim_end_matches(" |");
            inner.split(" | ").map(str::to_owned).collect()
        })
        .collect()
}

/// The expected rows, written as markdown.
const TABLES: &str = "\
| page views of `/`, logged in | req/s | ceiling req/s (before–after) | of ceiling | p50 ms | p99 ms | max ms | CPU µs/req (ceiling) | other load, cores | errors | wrong user / checked |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| memory store, 1,100 sessions | 38,000 | 95,000 (90,000–100,000) | 40% | 0.86 | 2.27 | 12.8 | 30 (11) | 0.01 | 0 | 0 / 7600 |
| redis store, 1,100 sessions | 23,750 | 95,000 (94,000–96,000) | 25% | 1.23 | 3.30 | 11.6 | 47 (10) | 0.03 | 3 | 0 / 4750 |
| page views, two generators | own req/s | own ceiling | own: of ceiling | wrk req/s | wrk ceiling | wrk: of ceiling | wrk errors |
|---|---:|---:|---:|---:|---:|---:|---:|
| memory store | 38,000 | 95,000 | 40% | 52,000 | 105,000 | 50% | 1 |
| redis store | 23,750 | 95,000 | 25% | – | – | – | – |
| logins (`/login` → IdP → `/callback`) | logins/s | p50 ms | p99 ms | CPU ms per login: sesame | mock IdP | redis | driver |
|---|---:|---:|---:|---:|---:|---:|---:|
| memory store | 800 | 20.0 | 31.0 | 0.50 | 1.80 | – | 0.11 |
| redis store | 720 | 21.7 | 36.9 | 0.61 | 1.78 | 0.09 | 0.12 |
| mock IdP alone: authorize → token → userinfo | 1,000 | 14.5 | 23.7 | – | 1.75 | – | 0.10 |
| memory | sesame RSS idle | after logins | under load | bytes per logged-in session | per filler session | per session at 100,000 |
|---|---:|---:|---:|---:|---:|---:|
| memory store | 10.0 MiB | 14.0 MiB | 16.0 MiB | 1,680 | 512 | 663 |
| redis store | 12.0 MiB | 15.2 MiB | 19.0 MiB | 1,674 | 388 | 518 |
| scale: page views with more sessions in the store | sessions (requested) | req/s | vs first level | p99 ms | CPU µs/req | other load, cores |
|---|---:|---:|---:|---:|---:|---:|
| memory store | 1,100 (1,100) | 38,000 | 100% | 2.27 | 30 | 0.01 |
| memory store | 10,000 (10,000) | 39,900 | 105% | 2.04 | 29 | 0.00 |
| memory store | 100,000 (10,000) | 41,800 | 110% | 1.96 | 29 | 0.02 |
| redis store | 1,100 (1,100) | 23,750 | 100% | 3.30 | 47 | 0.03 |
| redis store | 10,000 (10,000) | 28,500 | 120% | 2.61 | 41 | 0.00 |
| redis store | 100,000 (10,000) | 28,000 | 118% | 2.89 | 40 | 0.00 |
| back-channel logout, `sub` token | other logged-in sessions | users × sessions | median ms | max ms | wrong | bound | |
|---|---|---|---|---|---|---|---|
| memory store | 10,000 | 4 × 3 | 2.75 | 4.00 | 0 | max < 50 ms, 0 wrong | met |
| redis store | 10,000 | 4 × 3 | 6.50 | 60.00 | 0 | max < 50 ms, 0 wrong | **missed** |
| read cache | page views/s on (of ceiling) | off (of ceiling) | p99 ms on / off | logout on B refused on A: median / p99 / max ms | stale pages (failed) | bound | |
|---|---|---|---|---|---|---|---|
| redis store, 10,000 sessions | 28,500 (30%) | 14,250 (15%) | 2.61 / 4.10 | 0.60 / 3.00 / 3.00 | 2 (0 failed) | max < 50 ms | met |
| abuse | store | this run | bound | |
|---|---|---|---|---|
| `/login` flood, 100,000 cookieless requests at 10,000/s (0 not redirected): sessions added | memory | no outside view: see RSS | 0 | – |
| `/login` flood: sesame's RSS | memory | +52.43 MB | ≤ 5 MB | **missed** |
| 1,000 half-open connections from 127.0.0.2 (1,000 opened): logged-in page views on connections opened before | memory | p99 2.50 ms, 0 errors | p99 < 50 ms | met |
| half-open: logged-in page views on connections opened after the attack began | memory | p99 60.00 ms, 2 errors | p99 < 50 ms | **missed** |
| half-open: closed by the server 40 s after opening (sesame's default header-read timeout) | memory | 0% (0 of 1,000) | ≥ 90% | **missed** |
| logged-in page views under a `/login` flood held at 2,000/s | memory | 32,300 vs 38,000 req/s alone: 85%; flood 2,000/s on 0.15 cores | ≥ 80% of alone | met |
| `/login` flood, 100,000 cookieless requests at 8,000/s (10 not redirected): sessions added | redis | 0 | 0 | met |
| `/login` flood: Redis `used_memory` | redis | +0.50 MB | ≤ 1 MB | met |
| `/login` flood: sesame's RSS | redis | +1.02 MB | ≤ 5 MB | met |
| 1,000 half-open connections from 127.0.0.2 (998 opened): logged-in page views on connections opened before | redis | p99 3.00 ms, 0 errors | p99 < 50 ms | met |
| half-open: logged-in page views on connections opened after the attack began | redis | p99 4.00 ms, 0 errors | p99 < 50 ms | met |
| half-open: closed by the server 40 s after opening (sesame's default header-read timeout) | redis | 95% (950 of 998) | ≥ 90% | met |
| logged-in page views under a `/login` flood held at 2,000/s | redis | 17,800 vs 23,750 req/s alone: 75%; flood 2,000/s on 0.20 cores | ≥ 80% of alone | **missed** |
| target (2 cores) | this run | |
|---|---|---|
| memory store: ≥ 60% of the ceiling | 40% | **missed** |
| memory store: ≥ 45% of the ceiling with wrk | 50% | met |
| redis store: ≥ 45% of the ceiling, 0 errors | 25%, 3 errors | **missed** |
| memory store: p99 ≤ 5 ms at 32 connections | 2.27 ms | met |
| redis store: p99 ≤ 5 ms at 32 connections | 3.30 ms | met |
| memory store: ≥ 300 logins/s | 800/s | met |
| memory store: ≤ 2 KB per session | 1,680 bytes per logged-in session | met |
| memory store: RSS under load ≤ 30 MB with 1,000 sessions | 16.8 MB with 1,100 sessions | met |
| redis store: RSS under load ≤ 30 MB with 1,000 sessions | 19.9 MB with 1,100 sessions | met |
| memory store: page views at 100,000 sessions within 10% of the first level | 110% | met |
| redis store: page views at 100,000 sessions within 10% of the first level | 118% | met |
";

#[test]
fn every_cell_of_every_table() {
    let rendered = cells(&render::tables(&fixture()));
    let expected = cells(TABLES);
    for (row, (got, want)) in rendered.iter().zip(&expected).enumerate() {
        assert_eq!(got.len(), want.len(), "row {row}: {got:?}");
        for (column, (got, want)) in got.iter().zip(want).enumerate() {
            assert_eq!(
                got, want,
                "row {row}, column {column}: {:?}",
                expected[row][0]
            );
        }
    }
    assert_eq!(rendered.len(), expected.len(), "number of table rows");
}

#[test]
fn the_lines_around_the_tables() {
    let markdown = render::tables(&fixture());
    let mut lines = markdown.lines();
    assert_eq!(
        lines.next(),
        Some("Machine: 2 cores, Test CPU, 4 GiB, Linux 6.1.0-test, rustc 1.95.0 (test)  ")
    );
    assert_eq!(
        lines.next(),
        Some(
            "Run: logins 1000 (after 100 warm-up) at concurrency 16; page views with 32 \
             connections, 10.0 s after a 2.0 s warm-up; all on loopback, the load generator on \
             the same cores. 0.05 cores were busy with other work before the start."
        )
    );
    assert!(markdown.contains("a static 9569-byte page"));
}

#[test]
fn wrk_is_described_or_said_to_be_missing() {
    let mut report = fixture();
    let markdown = render::tables(&report);
    assert!(markdown.contains("`wrk -t2 -c32 -d10s` with the first login's cookie"));
    report.wrk = None;
    for run in &mut report.stores {
        run.wrk = None;
    }
    let markdown = render::tables(&report);
    assert!(markdown.contains("wrk was not installed (Debian package `wrk`)"));
    assert!(markdown.contains("| memory store | 38,000 | 95,000 | 40% | – | – | – | – |"));
}

#[test]
fn the_page_puts_the_tables_inside_the_text() {
    let report = fixture();
    let page = render::page(&report);
    assert!(page.starts_with("# Benchmark\n"));
    assert!(page.contains(&render::tables(&report)));
    assert!(!page.contains("{{tables}}"));
    let (before, after) = page
        .split_once("## What bounds the missed targets")
        .unwrap();
    assert!(before.contains("| target (2 cores) |") && !after.contains('|'));
}

#[test]
fn bytes_per_session_follow_from_the_levels() {
    for run in fixture().stores {
        let computed = report::bytes_per_session(run.rss_idle_kib, &run.store_idle, &run.levels);
        let (computed, stored) = (computed.unwrap(), run.bytes_per_session.unwrap());
        let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < 0.01;
        assert!(close(computed.logged_in, stored.logged_in), "{computed:?}");
        assert!(close(computed.filler, stored.filler), "{computed:?}");
        let top = computed.all_sessions_at_top_level - stored.all_sessions_at_top_level;
        assert!(top.abs() < 0.01, "{computed:?}");
    }
}

#[test]
fn the_report_reads_back_what_it_wrote() {
    let report = fixture();
    let text = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
}

#[test]
fn wrong_answers_name_the_store_and_level() {
    let problems = fixture().wrong_answers();
    assert_eq!(
        problems,
        [
            "redis with 1100 sessions: 1 errors, 2 non-2xx, 0 wrong user; first: status 503 Service \
          Unavailable"
        ]
    );
}

#[test]
fn a_wrong_page_under_abuse_is_a_wrong_answer() {
    let mut report = fixture();
    let users = &mut report.stores[0].abuse.users[1];
    users.wrong_user = 1;
    users.first_problem = Some("the page for session #3 lacks \"Welcome X!\"".to_owned());
    assert_eq!(
        report.wrong_answers().first().map(String::as_str),
        Some("memory abuse: 1 wrong user; first: the page for session #3 lacks \"Welcome X!\"")
    );
}

#[test]
fn a_failed_back_channel_logout_is_a_wrong_answer() {
    let mut report = fixture();
    let logout = &mut report.stores[1].backchannel_logout;
    logout.not_ended = 2;
    logout.first_problem = Some("after logging out mock|logout000001: a session lives on".into());
    assert!(
        !logout.held(),
        "sessions left behind fail the bound however fast"
    );
    let problems = report.wrong_answers();
    assert_eq!(
        problems.first().map(String::as_str),
        Some(
            "redis back-channel logout: 0 failed, 2 sessions left logged in, 0 others logged \
             out; first: after logging out mock|logout000001: a session lives on"
        )
    );
}

#[test]
fn back_channel_logout_figures() {
    let report = fixture();
    let [memory, redis] = [0, 1].map(|i| &report.stores[i].backchannel_logout);
    assert_eq!((memory.median_ms(), memory.max_ms()), (2.75, 4.0));
    assert!(memory.held() && !redis.held());
    let mut odd = memory.clone();
    odd.latencies_ms = vec![9.0, 1.0, 5.0];
    odd.users = 3;
    assert_eq!((odd.median_ms(), odd.max_ms()), (5.0, 9.0));
    // A logout that got no 200 has no latency: fewer latencies than users never holds.
    odd.users = 4;
    assert!(!odd.held());
    odd.latencies_ms.clear();
    assert!(odd.median_ms().is_nan() && odd.max_ms().is_nan());
}

#[test]
fn every_target_names_a_store_and_a_limit() {
    assert_eq!(targets::TARGETS.len(), 17);
    let verdicts = targets::judge(&fixture());
    assert_eq!(
        verdicts.len(),
        11,
        "the fixture has memory and redis runs only"
    );
    assert_eq!(verdicts.iter().filter(|verdict| !verdict.met).count(), 2);
}

#[test]
fn quick_is_smaller_than_full() {
    let (quick, full) = (report::Plan::new(true), report::Plan::new(false));
    assert!(quick.logins < full.logins && quick.duration_seconds < full.duration_seconds);
    assert!(full.logged_in_level > full.warmup_logins + full.logins);
    assert!(full.total_level > full.logged_in_level);
    assert_eq!(
        (full.logins, full.logged_in_level, full.total_level),
        (1_000, 10_000, 100_000)
    );
    assert_eq!((full.login_flood, full.half_open), (100_000, 1_000));
    assert!(quick.login_flood < full.login_flood && quick.half_open < full.half_open);
    // The half-open bound: closed within 40 s, so a full run checks then, with sesame's default.
    assert_eq!(full.half_open_check_seconds, 40.0);
    assert_eq!(full.header_read_timeout, None);
}

#[test]
fn thousands_groups_digits() {
    assert_eq!(render::thousands(0.4), "0");
    assert_eq!(render::thousands(999.0), "999");
    assert_eq!(render::thousands(1_000.0), "1,000");
    assert_eq!(render::thousands(1_234_567.8), "1,234,568");
    assert_eq!(render::thousands(-1_500.0), "-1,500");
    assert_eq!(render::thousands(f64::NAN), "–");
}
