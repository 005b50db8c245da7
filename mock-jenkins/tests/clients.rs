//! Real Jenkins clients from PyPI (python-jenkins, api4jenkins) against the mock-jenkins
//! binary: they create jobs and folders, trigger builds, read queue items, builds and nodes,
//! stop and cancel, and get what Jenkins would give them.
//!
//! The clients come from the project's virtualenv (`cargo xtask test`).

#[path = "../../tests/util/test_env.rs"]
mod test_env;

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

async fn start_mock(version: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-jenkins"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--user",
            "alice:11a2b3c4d5",
            "--jenkins-version",
            version,
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mock-jenkins starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("mock-jenkins printed its address");
        if let Some(url) = line.split("listening on ").nth(1) {
            return (child, url.trim().to_string());
        }
    }
}

async fn clients_work_against(version: &str) {
    let (_mock, url) = start_mock(version).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/check_clients.py"
    );
    let out = tokio::process::Command::from(test_env::python())
        .args([script, &url, "alice", "11a2b3c4d5", version])
        .output()
        .await
        .expect("the virtualenv's python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client checks failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all client checks passed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok")).count() >= 25,
        "{stdout}"
    );
}

#[tokio::test]
async fn python_jenkins_and_api4jenkins_work_against_an_old_lts() {
    clients_work_against("2.150.3").await;
}

#[tokio::test]
async fn python_jenkins_and_api4jenkins_work_against_a_current_lts() {
    clients_work_against("2.479.3").await;
}
