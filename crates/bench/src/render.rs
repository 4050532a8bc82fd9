//! The report as markdown: the page `docs/benchmark.md` (and `target/bench/bench.md`), which is
//! the text of `crates/bench/page.md` with the run's tables in place of its `{{tables}}` line.

use crate::backchannel;
use crate::read_cache;
use crate::report::Report;
use crate::targets;

/// The page's text around the tables: how the benchmark works and what bounds its numbers.
const PAGE: &str = include_str!("../page.md");

/// The whole page for `report`.
pub fn page(report: &Report) -> String {
    PAGE.replace("{{tables}}\n", &tables(report))
}

/// The Redis read cache, for the stores on Redis: page views with it (the first table's second
/// level) and without it, and how soon a logout elsewhere is refused.
fn read_cache_table(md: &mut String, report: &Report) {
    let cached = || {
        report.stores.iter().filter_map(|run| {
            let views = &run.levels.get(1)?.views.load;
            Some((run, views, run.read_cache.as_ref()?))
        })
    };
    if cached().next().is_none() {
        return;
    }
    let rows = cached().map(|(run, on, step)| {
        let off = &step.uncached.load;
        let ceiling = run.ceiling.requests_per_second();
        vec![
            format!(
                "{} store, {} sessions",
                run.store,
                count(step.uncached_sessions)
            ),
            format!(
                "{} ({})",
                thousands(on.requests_per_second),
                percent(on.requests_per_second / ceiling)
            ),
            format!(
                "{} ({})",
                thousands(off.requests_per_second),
                percent(off.requests_per_second / ceiling)
            ),
            format!("{:.2} / {:.2}", on.latency.p99_ms, off.latency.p99_ms),
            format!(
                "{:.2} / {:.2} / {:.2}",
                step.quantile_ms(0.5),
                step.quantile_ms(0.99),
                step.max_ms()
            ),
            format!("{} ({} failed)", step.stale_views, step.failed),
            format!("max < {} ms", read_cache::BOUND_MS),
            met(step.held()).to_owned(),
        ]
    });
    let header = "read cache | page views/s on (of ceiling) | off (of ceiling) | p99 ms on / \
                  off | logout on B refused on A: median / p99 / max ms | stale pages (failed) | \
                  bound | ";
    table(md, header, rows, false);
    md.push_str(
        "\n\"On\" is the store's second level above (the instance under test, cache on as by \
         default); \"off\" is a second instance on the same Redis or PostgreSQL with \
         `REDIS_READ_CACHE=off` or `POSTGRES_READ_CACHE=off`, \
         measured right after with the same cookies, against the same ceiling. Each trial views \
         a fresh login on A twice (A now serves it from its cache), logs it out on B, and from \
         the moment B's answer is read asks A for the page until it shows the guest page; stale \
         pages are A's answers with the user in between.\n",
    );
}

/// The run's numbers: the machine and plan, then page views, logins, memory, scale, back-channel
/// logout, abuse and targets.
pub fn tables(report: &Report) -> String {
    let (machine, plan) = (&report.machine, &report.plan);
    let mut md = format!(
        "Machine: {} cores, {}, {:.0} GiB, Linux {}, {}  \nRun: logins {} (after {} warm-up) at \
         concurrency {}; page views with {} connections, {:.1} s after a {:.1} s warm-up; all on \
         loopback, the load generator on the same cores. {:.2} cores were busy with other work \
         before the start.\n",
        machine.cores,
        machine.cpu_model,
        machine.memory_gib,
        machine.kernel,
        machine.rustc,
        plan.logins,
        plan.warmup_logins,
        plan.login_concurrency,
        plan.connections,
        plan.duration_seconds,
        plan.warmup_seconds,
        report.busy_cores_before_start
    );
    let runs = || {
        report
            .stores
            .iter()
            .filter_map(|run| Some((run, run.first_and_top()?.0)))
    };

    let rows = runs().map(|(run, first)| {
        let (load, ceiling) = (&first.views.load, &run.ceiling);
        let (low, high) = ceiling.range();
        vec![
            format!("{} store, {} sessions", run.store, count(first.sessions)),
            thousands(load.requests_per_second),
            format!(
                "{} ({}–{})",
                thousands(ceiling.requests_per_second()),
                thousands(low),
                thousands(high)
            ),
            percent(run.of_ceiling()),
            format!("{:.2}", load.latency.p50_ms),
            format!("{:.2}", load.latency.p99_ms),
            format!("{:.1}", load.latency.max_ms),
            format!(
                "{:.0} ({:.0})",
                first.views.server_cpu_us_per_request,
                ceiling.cpu_us_per_request()
            ),
            format!("{:.2}", first.views.other_load_cores),
            (load.errors + load.non_2xx).to_string(),
            format!("{} / {}", load.wrong_user, load.checked),
        ]
    });
    let header = "page views of `/`, logged in | req/s | ceiling req/s (before–after) | of ceiling | \
                  p50 ms | p99 ms | max ms | CPU µs/req (ceiling) | other load, cores | errors | \
                  wrong user / checked";
    table(&mut md, header, rows, true);
    if let Some(first) = report.stores.first() {
        md.push_str(&format!(
            "\nThe ceiling is `bench-ceiling`: a bare axum handler answering a static {}-byte page \
             (the size of Sesame's logged-in page) with no session layer, measured with the same \
             generator and cookies just before and just after each store's page views; the ratio \
             is against the mean of the two.\n",
            first.page_bytes
        ));
    }

    // The same ratio from a second generator: how much of it is our generator's own limit.
    let rows = runs().map(|(run, first)| {
        let own = &first.views.load;
        let mut row = vec![
            format!("{} store", run.store),
            thousands(own.requests_per_second),
            thousands(run.ceiling.requests_per_second()),
            percent(run.of_ceiling()),
        ];
        row.extend(match &run.wrk {
            Some(wrk) => [
                thousands(wrk.page.requests_per_second),
                thousands(wrk.ceiling_requests_per_second()),
                percent(wrk.of_ceiling()),
                (wrk.page.errors + wrk.ceiling_before.errors + wrk.ceiling_after.errors)
                    .to_string(),
            ],
            None => ["–", "–", "–", "–"].map(str::to_owned),
        });
        row
    });
    let header = "page views, two generators | own req/s | own ceiling | own: of ceiling | wrk \
                  req/s | wrk ceiling | wrk: of ceiling | wrk errors";
    table(&mut md, header, rows, true);
    md.push_str(&match &report.wrk {
        Some(_) => format!(
            "\n`wrk -t{} -c{} -d{:.0}s` with the first login's cookie on every request: the \
             ceiling, the logged-in page, the ceiling again (the ratio is against their mean), \
             right after our own generator's runs. wrk checks no page.\n",
            crate::wrk::THREADS,
            plan.connections,
            plan.duration_seconds.max(1.0)
        ),
        None => "\nwrk was not installed (Debian package `wrk`): this run has no second \
                 generator's numbers.\n"
            .to_owned(),
    });

    let provider = &report.provider_alone.flows;
    let rows = report.stores.iter().map(|run| {
        let (logins, cpu) = (&run.logins, &run.login_cpu_ms);
        vec![
            format!("{} store", run.store),
            thousands(logins.flows_per_second),
            format!("{:.1}", logins.per_flow.p50_ms),
            format!("{:.1}", logins.per_flow.p99_ms),
            ms(Some(cpu.sesame)),
            ms(Some(cpu.mock_idp)),
            ms(cpu.redis),
            ms(Some(cpu.driver)),
        ]
    });
    let provider_row = vec![
        "mock IdP alone: authorize → token → userinfo".to_owned(),
        thousands(provider.flows_per_second),
        format!("{:.1}", provider.per_flow.p50_ms),
        format!("{:.1}", provider.per_flow.p99_ms),
        ms(None),
        ms(Some(report.provider_alone.idp_cpu_ms_per_flow)),
        ms(None),
        ms(Some(provider.ms_per_flow(provider.driver_cpu_seconds))),
    ];
    let header = "logins (`/login` → IdP → `/callback`) | logins/s | p50 ms | p99 ms | CPU ms per \
                  login: sesame | mock IdP | redis | driver";
    table(&mut md, header, rows.chain([provider_row]), true);

    let rows = runs().map(|(run, first)| {
        let per = run.bytes_per_session.as_ref();
        vec![
            format!("{} store", run.store),
            mib(run.rss_idle_kib),
            mib(run.rss_after_logins_kib),
            mib(first.views.rss_max_under_load_kib),
            optional(per.and_then(|per| per.logged_in)),
            optional(per.and_then(|per| per.filler)),
            optional(per.map(|per| per.all_sessions_at_top_level)),
        ]
    });
    let header = format!(
        "memory | sesame RSS idle | after logins | under load | bytes per logged-in session | per \
         filler session | per session at {}",
        count(plan.total_level)
    );
    table(&mut md, &header, rows, true);
    md.push_str(
        "\nBytes per session: memory store, the change of sesame's RSS between scale levels over \
         the sessions added; Redis, the change of `used_memory` over the keys added; SQLite, the \
         change of the database's pages over the rows added. Logged-in sessions come from real \
         logins; filler sessions, from the second level to the top, are copies of a logged-in one \
         written straight into Redis or SQLite, and real logins for the memory store.\n",
    );

    let rows = runs().flat_map(|(run, first)| {
        let first_rate = first.views.load.requests_per_second;
        run.levels.iter().map(move |level| {
            let (views, rate) = (&level.views, level.views.load.requests_per_second);
            vec![
                format!("{} store", run.store),
                format!("{} ({})", count(level.sessions), count(level.logged_in)),
                thousands(rate),
                percent(rate / first_rate),
                format!("{:.2}", views.load.latency.p99_ms),
                format!("{:.0}", views.server_cpu_us_per_request),
                format!("{:.2}", views.other_load_cores),
            ]
        })
    });
    let header = "scale: page views with more sessions in the store | sessions (requested) | req/s | \
                  vs first level | p99 ms | CPU µs/req | other load, cores";
    table(&mut md, header, rows, true);
    md.push_str(
        "\nPage views spread every logged-in session's cookie over the requests; at the top level \
         the sessions beyond those are filler logged-in sessions, which sit in the store but are \
         not requested. \"Other load\" is CPU time not charged to sesame, its Redis or the generator: \
         other programs, and kernel network work charged to no process.\n",
    );

    let rows = report.stores.iter().map(|run| {
        let logout = &run.backchannel_logout;
        vec![
            format!("{} store", run.store),
            count(logout.other_sessions),
            format!("{} × {}", logout.users, logout.sessions_per_user),
            format!("{:.2}", logout.median_ms()),
            format!("{:.2}", logout.max_ms()),
            logout.wrong().to_string(),
            format!("max < {} ms, 0 wrong", backchannel::BOUND_MS),
            met(logout.held()).to_owned(),
        ]
    });
    let header = "back-channel logout, `sub` token | other logged-in sessions | users × sessions | \
                  median ms | max ms | wrong | bound | ";
    table(&mut md, header, rows, false);
    md.push_str(
        "\nEach user is logged out by a fresh logout token naming only the user, minted by the mock \
         IdP and POSTed to `/backchannel-logout`; the time runs from sending it until the whole \
         200 answer is read. \"Wrong\" counts answers other than 200, the user's sessions still \
         showing their page afterwards, and sessions that should have stayed (the user's own \
         before, another user's throughout) showing anything else.\n",
    );

    read_cache_table(&mut md, report);

    let rows = report.stores.iter().flat_map(|run| {
        let rows = run.abuse.rows(plan).into_iter();
        rows.map(|(what, measured, bound, held)| {
            let (store, held) = (run.store.to_string(), held.map_or("–", met).to_owned());
            vec![what, store, measured, bound.to_owned(), held]
        })
    });
    table(&mut md, "abuse | store | this run | bound | ", rows, false);

    let rows = targets::judge(report).into_iter().map(|verdict| {
        let met = met(verdict.met).to_owned();
        vec![verdict.target, verdict.measured, met]
    });
    table(&mut md, "target (2 cores) | this run | ", rows, false);
    md
}

/// A verdict's cell.
fn met(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// Appends a blank line and a markdown table: the header's cells (separated by `" | "`), then
/// the rows; with `numeric`, every column but the first is right-aligned.
fn table(md: &mut String, header: &str, rows: impl Iterator<Item = Vec<String>>, numeric: bool) {
    let columns = header.split(" | ").count();
    let align = if numeric { "---:" } else { "---" };
    md.push_str(&format!("\n| {} |\n|---", header.trim_end()));
    md.push_str(&format!("|{align}").repeat(columns - 1));
    md.push_str("|\n");
    for row in rows {
        md.push_str(&format!("| {} |\n", row.join(" | ")));
    }
}

/// 12345.6 → "12,346"; not a number → "–".
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && out != "0" {
        format!("-{out}")
    } else {
        out
    }
}

/// A count of things, grouped by thousands.
fn count(n: usize) -> String {
    thousands(n as f64)
}

/// A share as a whole percentage; "–" when not a number.
fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", 100.0 * share)
    } else {
        "–".to_owned()
    }
}

/// Milliseconds to two decimals; "–" when not measured.
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.2}"))
}

/// A figure grouped by thousands; "–" when not measured.
fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), thousands)
}

/// KiB as MiB to one decimal.
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
