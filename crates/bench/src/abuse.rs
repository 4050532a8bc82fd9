//! The abuse step (issue 11), against a store's running `sesame` after its scale levels: a flood
//! of cookieless `GET /login` and what the server kept of it; half-open connections from
//! 127.0.0.2 while logged-in users view pages on connections opened before the attack and after
//! it began; page views alone and under a `/login` flood paced at [`FLOOD_PER_SECOND`]. Floods run
//! on a thread of their own with a one-thread runtime, so `/proc/thread-self` gives their CPU.

use std::cell::Cell;
use std::net::SocketAddr;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use futures_util::future::join_all;
use hyper::{StatusCode, Uri};
use serde::{Deserialize, Serialize};
use sesame_testkit::procfs;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::runtime::Runtime;
use url::Url;

use crate::client::{self, Connection, Origin, REQUEST_TIMEOUT};
use crate::loadgen::{self, LoadConfig, LoadReport};
use crate::render::thousands;
use crate::report::{Plan, StoreSize};
use crate::stack::Sesame;

/// The rate of the `/login` flood held during page views.
pub const FLOOD_PER_SECOND: f64 = 2_000.0;

/// Keep-alive connections a flood spreads its requests over.
const FLOOD_CONNECTIONS: usize = 32;

/// What the abuse step measured for one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abuse {
    /// Cookieless `GET /login`, as fast as one thread sends them.
    pub login_flood: Flood,
    /// Sesame's RSS before that flood and a second after, KiB.
    pub rss_kib: [u64; 2],
    /// The store before that flood and a second after.
    pub store: [StoreSize; 2],
    /// Half-open connections opened, and how many of them the server had closed (end of stream
    /// or reset) by the plan's check time after their opening.
    pub half_open: [usize; 2],
    /// Page views on connections opened before the half-open attack, and after it began.
    pub users: [LoadReport; 2],
    /// Page views without, and with the paced `/login` flood.
    pub page_views: [LoadReport; 2],
    /// The paced flood.
    pub paced_flood: Flood,
}

/// One run of the flood generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flood {
    /// Requests sent.
    pub requests: u64,
    /// Of which answered with a redirect (what `/login` answers).
    pub redirected: u64,
    /// From the first request to the last answer.
    pub seconds: f64,
    /// CPU seconds the flood's thread used.
    pub cpu_seconds: f64,
    /// The first answer that was not a redirect, or the first error.
    pub first_problem: Option<String>,
}

/// Runs the step against `s`; `users` is the logged-in page-view load (the half-open part splits
/// its connections between before and after the attack).
pub fn measure(runtime: &Runtime, plan: &Plan, s: &Sesame, users: &LoadConfig) -> Result<Abuse> {
    let (pid, app) = (s.server.pid, &s.server.url);
    let (rss, store) = (procfs::rss_kib(pid)?, s.store_size()?);
    let login_flood = join(flood(app, plan.login_flood as u64, None)?)?;
    thread::sleep(Duration::from_secs(1));
    let (rss_kib, store) = ([rss, procfs::rss_kib(pid)?], [store, s.store_size()?]);
    println!("    abuse: {}", describe(&login_flood));
    let (half_open, users_half) = runtime.block_on(half_open(plan, app, users))?;
    println!("    abuse: half-open connections [opened, closed in time]: {half_open:?}");
    let alone = runtime.block_on(loadgen::run(users))?;
    let paced = (FLOOD_PER_SECOND * (users.warmup + users.duration).as_secs_f64()) as u64;
    let paced = flood(app, paced, Some(FLOOD_PER_SECOND))?;
    let flooded = runtime.block_on(loadgen::run(users));
    let (paced_flood, flooded) = (join(paced)?, flooded?);
    let rates = [&alone, &flooded].map(|run| run.requests_per_second);
    println!(
        "    abuse: page views {rates:.0?}/s, alone and under {}",
        describe(&paced_flood)
    );
    Ok(Abuse {
        login_flood,
        rss_kib,
        store,
        half_open,
        users: users_half,
        page_views: [alone, flooded],
        paced_flood,
    })
}

/// Opens the half-open connections while `users` view pages; how many opened and were closed, and
/// the page views before and after.
async fn half_open(
    plan: &Plan,
    app: &Url,
    users: &LoadConfig,
) -> Result<([usize; 2], [LoadReport; 2])> {
    let server = Origin::of(app)?.addr;
    let half = |duration| LoadConfig {
        connections: (users.connections / 2).max(1),
        warmup: Duration::ZERO,
        duration,
        ..users.clone()
    };
    let before = half(users.duration + Duration::from_secs(1));
    let before = tokio::spawn(async move { loadgen::run(&before).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let opened = join_all((0..plan.half_open).map(|_| open_half(server))).await;
    let check = Duration::from_secs_f64(plan.half_open_check_seconds);
    let watchers: Vec<_> = (opened.into_iter().flatten())
        .map(|(stream, at)| {
            let deadline = tokio::time::Instant::from_std(at + check);
            tokio::spawn(async move { tokio::time::timeout_at(deadline, closed(stream)).await })
        })
        .collect();
    let after = loadgen::run(&half(users.duration)).await?;
    let before = before.await.context("the page-view task panicked")??;
    let opened = watchers.len();
    let mut closed = 0;
    for watcher in watchers {
        closed += usize::from(watcher.await.is_ok_and(|outcome| outcome.is_ok()));
    }
    Ok(([opened, closed], [before, after]))
}

/// A connection from 127.0.0.2 that has sent half a request line; it and when it was opened.
async fn open_half(server: SocketAddr) -> Result<(TcpStream, Instant)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    let mut stream = tokio::time::timeout(REQUEST_TIMEOUT, socket.connect(server)).await??;
    stream.write_all(b"GET / HTTP/1.").await?;
    Ok((stream, Instant::now()))
}

/// Returns once the server has closed `stream` (whatever it sent before).
async fn closed(mut stream: TcpStream) {
    let mut buffer = [0; 1024];
    while matches!(stream.read(&mut buffer).await, Ok(read) if read > 0) {}
}

/// Starts `requests` cookieless `GET /login` on `app`, on a thread of its own over
/// [`FLOOD_CONNECTIONS`] keep-alive connections, paced at `per_second` when given.
fn flood(app: &Url, requests: u64, per_second: Option<f64>) -> Result<JoinHandle<Result<Flood>>> {
    let login = app.join("/login")?;
    let (origin, target) = (Origin::of(&login)?, client::target(&login)?);
    Ok(thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (cpu, start, next) = (procfs::thread_cpu_seconds()?, Instant::now(), Cell::new(0));
        let (next, origin, target) = (&next, &origin, &target);
        let senders = (0..FLOOD_CONNECTIONS).map(|_| async move {
            let (mut connection, mut redirected, mut problem) = (None, 0, None);
            while next.get() < requests {
                let index = next.replace(next.get() + 1);
                if let Some(rate) = per_second {
                    let due = start + Duration::from_secs_f64(index as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                match get(&mut connection, origin, target).await {
                    Ok(status) if status.is_redirection() => redirected += 1,
                    Ok(status) => problem = problem.or(Some(format!("status {status}"))),
                    Err(err) => problem = problem.or(Some(format!("{err:#}"))),
                }
            }
            (redirected, problem)
        });
        let outcomes = runtime.block_on(join_all(senders));
        Ok(Flood {
            requests,
            redirected: outcomes.iter().map(|(redirected, _)| redirected).sum(),
            seconds: start.elapsed().as_secs_f64(),
            cpu_seconds: procfs::thread_cpu_seconds()? - cpu,
            first_problem: outcomes.into_iter().find_map(|(_, problem)| problem),
        })
    }))
}

/// One request on `connection`, opened first when there is none; a failed one is dropped.
async fn get(slot: &mut Option<Connection>, origin: &Origin, target: &Uri) -> Result<StatusCode> {
    let connection = match slot {
        Some(connection) => connection,
        None => slot.insert(Connection::open(origin.addr).await?),
    };
    let request = client::get(origin, target.clone(), None)?;
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, connection.send(request)).await;
    let answer = answer.unwrap_or_else(|_| Err(anyhow!("no answer in {REQUEST_TIMEOUT:?}")));
    if answer.is_err() {
        *slot = None;
    }
    Ok(answer?.0.status)
}

fn join(flood: JoinHandle<Result<Flood>>) -> Result<Flood> {
    (flood.join()).map_err(|_| anyhow!("the flood thread panicked"))?
}

fn describe(flood: &Flood) -> String {
    let (seconds, failed) = (flood.seconds, flood.requests - flood.redirected);
    let (rate, cores) = (flood.requests as f64 / seconds, flood.cpu_seconds / seconds);
    format!("{rate:.0} GET /login/s ({failed} not redirected) on {cores:.2} cores")
}

/// A row of the abuse table: what was done and measured, what this run saw, the bound, and
/// whether it held (`None`: nothing outside sesame can see it).
pub type Row = (String, String, &'static str, Option<bool>);

impl Abuse {
    /// The abuse table's rows for this store.
    pub fn rows(&self, plan: &Plan) -> Vec<Row> {
        let flood = &self.login_flood;
        let sessions = format!(
            "`/login` flood, {} cookieless requests at {}/s ({} not redirected): sessions added",
            thousands(flood.requests as f64),
            thousands(flood.requests as f64 / flood.seconds),
            thousands((flood.requests - flood.redirected) as f64)
        );
        let mut rows = Vec::new();
        match self.store.each_ref().map(sessions_and_bytes) {
            [Some((keys, bytes)), Some((keys_after, bytes_after))] => {
                let (added, grown) = (keys_after as i64 - keys as i64, bytes_after - bytes);
                let what = match self.store[0] {
                    StoreSize::Redis { .. } => "Redis `used_memory`",
                    StoreSize::Postgres { .. } => "PostgreSQL session table",
                    _ => "SQLite file + WAL",
                };
                let sign = if added > 0 { "+" } else { "" };
                let measured = format!("{sign}{}", thousands(added as f64));
                rows.push((sessions, measured, "0", Some(added == 0)));
                let what = format!("`/login` flood: {what}");
                rows.push((what, megabytes(grown), "≤ 1 MB", Some(grown <= 1e6)));
            }
            _ => rows.push((sessions, "no outside view: see RSS".into(), "0", None)),
        }
        let rss = (self.rss_kib[1] as f64 - self.rss_kib[0] as f64) * 1024.0;
        let what = "`/login` flood: sesame's RSS".to_owned();
        rows.push((what, megabytes(rss), "≤ 5 MB", Some(rss <= 5e6)));

        let [opened, closed] = self.half_open;
        let before = format!(
            "{} half-open connections from 127.0.0.2 ({} opened): logged-in page views on \
             connections opened before",
            thousands(plan.half_open as f64),
            thousands(opened as f64)
        );
        let after = "half-open: logged-in page views on connections opened after the attack began";
        for (what, users) in [before, after.to_owned()].into_iter().zip(&self.users) {
            let (p99, errors) = (users.latency.p99_ms, users.errors + users.non_2xx);
            let measured = format!("p99 {p99:.2} ms, {errors} errors");
            let held = Some(p99 < 50.0 && errors == 0);
            rows.push((what, measured, "p99 < 50 ms", held));
        }
        let timeout = (plan.header_read_timeout.as_ref()).map_or_else(
            || "sesame's default header-read timeout".to_owned(),
            |timeout| format!("header-read timeout {timeout}"),
        );
        let what = format!(
            "half-open: closed by the server {} s after opening ({timeout})",
            plan.half_open_check_seconds
        );
        let share = closed as f64 / opened as f64;
        let (closed, opened) = (thousands(closed as f64), thousands(opened as f64));
        let measured = format!("{:.0}% ({closed} of {opened})", 100.0 * share);
        rows.push((what, measured, "≥ 90%", Some(share >= 0.9)));

        let [alone, flooded] = &self.page_views;
        let (alone, flooded) = (alone.requests_per_second, flooded.requests_per_second);
        let paced = &self.paced_flood;
        let what = format!(
            "logged-in page views under a `/login` flood held at {}/s",
            thousands(FLOOD_PER_SECOND)
        );
        let measured = format!(
            "{} vs {} req/s alone: {:.0}%; flood {}/s on {:.2} cores",
            thousands(flooded),
            thousands(alone),
            100.0 * flooded / alone,
            thousands(paced.requests as f64 / paced.seconds),
            paced.cpu_seconds / paced.seconds
        );
        let held = Some(flooded >= 0.8 * alone);
        rows.push((what, measured, "≥ 80% of alone", held));
        rows
    }
}

/// Sessions in the store and its bytes (Redis: keys and `used_memory`; SQLite: rows, and the file
/// with its WAL; PostgreSQL: rows and the table); `None` for the memory store.
fn sessions_and_bytes(size: &StoreSize) -> Option<(u64, f64)> {
    match *size {
        StoreSize::Memory => None,
        StoreSize::Redis { used_memory, keys } => Some((keys, used_memory as f64)),
        StoreSize::Sqlite {
            rows,
            file_bytes,
            wal_bytes,
            ..
        } => Some((rows, (file_bytes + wal_bytes) as f64)),
        StoreSize::Postgres {
            rows, table_bytes, ..
        } => Some((rows, table_bytes as f64)),
    }
}

/// Bytes as signed megabytes (10⁶ bytes) to two decimals.
fn megabytes(bytes: f64) -> String {
    format!("{:+.2} MB", bytes / 1e6)
}
