//! A full disk under `--state-dir`: the state directory is a 4 MiB tmpfs that a filler file
//! fills while builds run. A tick whose commit fails is undone (nothing of it published, the
//! cursor stays), polling pauses, `/readyz` says why and `state_store_writable` is 0; freeing
//! the space recovers without a restart. A SIGKILL and a restart afterwards lose nothing and
//! give no event a second id.
//!
//! Mounting a tmpfs needs root, as CI runs; the test says so and fails otherwise.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use mock_jenkins::{Kind, Settings};
use util::{Receiver, eventually, free_port, jenkins};

const SHIM: &str = env!("CARGO_BIN_EXE_jenkins-event-shim");

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("shim-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs as the state directory and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a child still holding the file must not keep the mount alive.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spawn_shim(
    jenkins: &str,
    sink: &str,
    state: &std::path::Path,
    port: u16,
) -> tokio::process::Child {
    shim_command(jenkins, sink, state, port)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the shim binary runs")
}

fn shim_command(
    jenkins: &str,
    sink: &str,
    state: &std::path::Path,
    port: u16,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(SHIM);
    cmd.args(["run", "--jenkins-url", jenkins, "--sink", sink])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--poll-interval", "100ms", "--scan-interval", "500ms"])
        .arg("--state-dir")
        .arg(state)
        .env("LOG_LEVEL", "error")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn get(port: u16, path: &str) -> (u16, String) {
    match reqwest::get(format!("http://127.0.0.1:{port}{path}")).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// Fills the file system under `dir` with one file, to the last byte it takes.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file
        .write_all(&chunk)
        .and_then(|()| file.sync_data())
        .is_ok()
    {}
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_disk_pauses_polling_loses_nothing_and_recovers_when_space_is_freed() {
    let disk = Tmpfs::mount("full-disk", "4m");
    let mock = jenkins(Settings::default()).await;
    for job in ["app", "web"] {
        mock.world().create(job, Kind::Freestyle).unwrap();
    }
    let rx = Receiver::start().await;
    let port = free_port();
    let mut shim = spawn_shim(&mock.url(), &rx.url(), &disk.0, port);
    eventually("the shim ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut builds = 0;
    for job in ["app", "web"] {
        util::run_build(&mock, job, "SUCCESS");
        builds += 1;
    }
    rx.wait_for("the first builds", |r| r.len() >= 5 * builds)
        .await;

    // The disk fills up; builds go on.
    let filler = fill(&disk.0);
    let mut paused = false;
    for _ in 0..60 {
        for job in ["app", "web"] {
            util::run_build(&mock, job, "SUCCESS");
            builds += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = get(port, "/readyz").await;
        if status == 503 && body.contains("cannot save state") {
            paused = true;
            break;
        }
    }
    assert!(paused, "a full disk shows in /readyz");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(metrics.contains("state_store_writable 0"), "{metrics}");
    let delivered_while_full = rx.received().len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        rx.received().len(),
        delivered_while_full,
        "nothing is published that is not on disk"
    );

    // Space comes back: the store is opened again, polling resumes, no restart.
    std::fs::remove_file(filler).unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if get(port, "/readyz").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "recovers by itself: {:?}",
        get(port, "/readyz").await
    );
    let (_, metrics) = get(port, "/metrics").await;
    assert!(metrics.contains("state_store_writable 1"), "{metrics}");
    rx.wait_for("every build", |r| r.len() >= 5 * builds).await;

    // A SIGKILL, then a restart on the same state: nothing lost, no event under a new id.
    shim.start_kill().unwrap();
    let _ = shim.wait().await;
    let mut shim = spawn_shim(&mock.url(), &rx.url(), &disk.0, port);
    eventually("the restarted shim ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let got = rx.received();
    let mut ids_per_event: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for r in &got {
        let data = r.json();
        let n = data["build"]["number"]
            .as_u64()
            .or(data["jenkinsQueueId"].as_u64())
            .unwrap_or(0);
        ids_per_event
            .entry((
                r.header("ce-source").unwrap_or("").into(),
                r.ty().into(),
                n.to_string(),
            ))
            .or_default()
            .insert(r.header("ce-id").unwrap_or("").into());
    }
    let started = ids_per_event
        .keys()
        .filter(|k| k.1 == "org.jenkinsci.job.finalized")
        .count();
    assert_eq!(started, builds, "every build finalized, none lost");
    assert!(
        ids_per_event.values().all(|ids| ids.len() == 1),
        "no event under two ids"
    );
    let resent = got.len() - ids_per_event.len();
    println!(
        "full disk: {builds} builds, {} events, {resent} re-sent after the SIGKILL",
        got.len()
    );
    assert!(
        resent <= got.len() / 2,
        "re-sends bounded to what was not acknowledged"
    );

    shim.start_kill().unwrap();
    let _ = shim.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_state_cannot_be_saved_exits_non_zero_and_says_what_was_lost() {
    let disk = Tmpfs::mount("sigterm-full", "4m");
    let mock = jenkins(Settings::default()).await;
    mock.world().create("app", Kind::Freestyle).unwrap();
    let rx = Receiver::start().await;
    let port = free_port();
    let shim = shim_command(&mock.url(), &rx.url(), &disk.0, port)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the shim binary runs");
    eventually("the shim ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _filler = fill(&disk.0);
    let mut full = false;
    for _ in 0..60 {
        util::run_build(&mock, "app", "SUCCESS");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(port, "/readyz").await.0 == 503 {
            full = true;
            break;
        }
    }
    assert!(full, "the disk is full: {:?}", get(port, "/readyz").await);
    let pid = shim.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = shim.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit code: {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("state not saved at shutdown") && stderr.contains("re-derives"),
        "{stderr}"
    );
    // One line for the failure, not one per tick.
    let lines = stderr
        .lines()
        .filter(|l| l.contains("saving state failed"))
        .count();
    assert!(lines <= 2, "logged once (and when it changes): {stderr}");
}
