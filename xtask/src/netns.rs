//! The compose layout's `docker compose restart mock-idp`, rehearsed without Docker (CI cannot
//! pull images): `mock-idp` and `sesame` share a network namespace of their own, as the two
//! containers do; the namespace then loses its one real interface, which is what a restart of
//! the namespace's owner does to `sesame`. Without `EXIT_ON_NETWORK_LOSS` sesame stays up on a
//! dead network (the bug); with it, sesame exits within seconds, so `restart: unless-stopped`
//! can bring it back on the owner's new network.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use sesame_testkit::bins::{App, Bins, Store};
use sesame_testkit::process::{ChildGuard, Output};

use crate::fresh_dir;

/// How long sesame may take to notice (its watch polls every 2 s).
const NOTICE_WITHIN: Duration = Duration::from_secs(6);

/// Fails early, with the reason, where network namespaces cannot be made (not root).
pub fn preflight() -> Result<()> {
    let made = Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    ensure!(
        made,
        "`unshare -n` failed: the network-loss check needs root (as CI runs) and util-linux"
    );
    Ok(())
}

/// Runs the rehearsal twice: the flag off (sesame must still be running: the failure the flag
/// exists for), then on (sesame must exit 1 with its reason logged).
pub fn run(bins: &Bins) -> Result<()> {
    println!("\n==> network loss in a shared namespace (the compose file's mock-idp restart)");
    let dir = fresh_dir("netns")?;
    let stays_up = rehearse(bins, &dir.join("flag-off"), false)?;
    ensure!(
        stays_up.is_none(),
        "without the flag sesame should have stayed up"
    );
    println!("  ok    without EXIT_ON_NETWORK_LOSS sesame stays up on a dead network (the bug)");
    match rehearse(bins, &dir.join("flag-on"), true)? {
        Some(code) => ensure!(code == 1, "sesame exited with {code}, not 1"),
        None => bail!(
            "sesame with EXIT_ON_NETWORK_LOSS=true was still running {} s after its network went \
             (logs: {})",
            NOTICE_WITHIN.as_secs(),
            dir.display()
        ),
    }
    let log = std::fs::read_to_string(dir.join("flag-on/sesame.log")).unwrap_or_default();
    ensure!(
        log.contains("exiting so the supervisor"),
        "sesame exited without saying why"
    );
    println!("  ok    with EXIT_ON_NETWORK_LOSS=true sesame exits 1 and says why");
    Ok(())
}

/// One namespace, both binaries in it, the interface deleted: sesame's exit code if it exited
/// within [`NOTICE_WITHIN`], `None` if it was still running.
fn rehearse(bins: &Bins, dir: &Path, exit_on_loss: bool) -> Result<Option<i32>> {
    std::fs::create_dir_all(dir)?;
    // The namespace lives as long as this holder; the others join it with nsenter.
    let mut holder = ChildGuard::spawn(
        "netns",
        {
            let mut holder = Command::new("unshare");
            holder.args(["-n", "sleep", "600"]);
            holder
        },
        Output::File(dir.join("netns.log")),
    )?;
    let pid = holder
        .id()
        .context("the namespace holder has no PID")?
        .to_string();
    // unshare execs sleep once the namespace exists; give it that moment.
    thread::sleep(Duration::from_millis(200));
    let ip = |args: &[&str]| -> Result<()> {
        let status = Command::new("nsenter")
            .args(["-t", &pid, "-n", "ip"])
            .args(args)
            .status()?;
        ensure!(
            status.success(),
            "ip {} failed in the namespace",
            args.join(" ")
        );
        Ok(())
    };
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ])?;
    ip(&["link", "set", "eth0", "up"])?;

    let (idp_port, app_port) = (9000, 3000);
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut idp = ChildGuard::spawn(
        "mock-idp",
        inside(&pid, bins.mock_idp(dir, idp_port, &issuer)),
        Output::File(dir.join("mock-idp.log")),
    )?;
    let app = App::local(&issuer, app_port, Store::Memory)?;
    let mut sesame_command = app.command(&bins.sesame, dir);
    sesame_command.env("EXIT_ON_NETWORK_LOSS", exit_on_loss.to_string());
    let mut sesame = ChildGuard::spawn(
        "sesame",
        inside(&pid, sesame_command),
        Output::File(dir.join("sesame.log")),
    )?;
    // Nothing outside the namespace can reach them: readiness is sesame's own log line.
    let log = dir.join("sesame.log");
    sesame.wait_until("its `sesame listening` log line", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("sesame listening"))
    })?;

    ip(&["link", "del", "eth0"])?;
    let deadline = Instant::now() + NOTICE_WITHIN;
    let exited = loop {
        if let Some(status) = sesame.exited()? {
            break Some(status.code().unwrap_or(-1));
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    for guard in [&mut sesame, &mut idp, &mut holder] {
        guard.stop()?;
    }
    Ok(exited)
}

/// `command`, run inside the namespace of process `pid`, with the same environment.
fn inside(pid: &str, command: Command) -> Command {
    let mut wrapped = Command::new("nsenter");
    wrapped
        .args(["-t", pid, "-n", "--"])
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(name, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}
