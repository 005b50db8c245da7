//! The binary as a user runs it: exit codes, one-line errors, `--help`, `check`, `once`, and
//! secrets kept out of every output.

mod util;

use std::process::Output;

use mock_jenkins::{Enqueue, Kind, Settings};

const SHIM: &str = env!("CARGO_BIN_EXE_jenkins-event-shim");

async fn shim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(SHIM);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("the binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_value_gets_one_line_naming_the_key_and_exit_code_2() {
    let out = shim(
        &[
            "run",
            "--jenkins-url",
            "http://ci/",
            "--sink",
            "stdout",
            "--poll-interval",
            "often",
        ],
        &[],
    )
    .await;
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("poll-interval") && err.contains("500ms"),
        "{err}"
    );

    let out = shim(&["run", "--sink", "stdout"], &[]).await;
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("missing jenkins-url") && err.contains("JENKINS_URL"),
        "{err}"
    );

    let out = shim(
        &["run", "--sink", "ftp://x"],
        &[("JENKINS_URL", "http://ci/")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("invalid value for sink"));
}

#[tokio::test]
async fn help_explains_every_option_with_its_environment_variable() {
    let out = shim(&["run", "--help"], &[]).await;
    let (help, _) = text(&out);
    for (flag, env) in [
        ("--jenkins-url", "JENKINS_URL"),
        ("--jenkins-user", "JENKINS_USER"),
        ("--jenkins-token", "JENKINS_API_TOKEN"),
        ("--jenkins-token-file", "JENKINS_API_TOKEN_FILE"),
        ("--sink", "SINK_URL"),
        ("--poll-interval", "POLL_INTERVAL"),
        ("--scan-interval", "SCAN_INTERVAL"),
        ("--state-dir", "STATE_DIR"),
        ("--listen", "LISTEN"),
        ("--log-format", "LOG_FORMAT"),
        ("--config", "SHIM_CONFIG"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from --help"
        );
    }
}

#[tokio::test]
async fn check_prints_version_identity_and_permissions() {
    let mock = util::jenkins(Settings {
        users: vec![("watcher".into(), "t0ken-abc".into())],
        ..Settings::default()
    })
    .await;
    let url = mock.url();
    let out = shim(
        &["check"],
        &[
            ("JENKINS_URL", &url),
            ("JENKINS_USER", "watcher"),
            ("JENKINS_API_TOKEN", "t0ken-abc"),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("version 2.150.3"), "{stdout}");
    assert!(stdout.contains("identity: watcher"), "{stdout}");
    assert!(stdout.contains("queue and executors readable"), "{stdout}");
    assert!(stdout.contains("jobs: none visible to watcher"), "{stdout}");
}

#[tokio::test]
async fn check_says_which_jobs_and_files_a_restricted_token_cannot_read() {
    let mock = util::jenkins_for_watcher_in("t0ken-abc", &["team"]).await;
    {
        let mut w = mock.world();
        w.create("team", Kind::Folder).unwrap();
        w.create("app", Kind::Freestyle).unwrap();
        w.create("other", Kind::Freestyle).unwrap();
    }
    let url = mock.url();
    let env = [
        ("JENKINS_URL", url.as_str()),
        ("JENKINS_USER", "watcher"),
        ("JENKINS_API_TOKEN", "t0ken-abc"),
    ];
    let (stdout, _) = text(&shim(&["check"], &env).await);
    assert!(
        stdout.contains("jobs: 1 visible at the top level"),
        "{stdout}"
    );
    // Now with a job it can read but whose config.xml it cannot.
    mock.world().settings.access[0].folders.push("app".into());
    let (stdout, _) = text(&shim(&["check"], &env).await);
    assert!(
        stdout.contains("config.xml: not readable (403)") && stdout.contains("Job/ExtendedRead"),
        "{stdout}"
    );
}

#[tokio::test]
async fn bad_credentials_and_anonymous_access_are_explained_without_the_token() {
    let mock = util::jenkins(Settings {
        users: vec![("watcher".into(), "right".into())],
        ..Settings::default()
    })
    .await;
    let url = mock.url();
    let out = shim(
        &["check"],
        &[
            ("JENKINS_URL", &url),
            ("JENKINS_USER", "watcher"),
            ("JENKINS_API_TOKEN", "wr0ng-s3cret"),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("401") && stderr.contains("--jenkins-user"),
        "{stderr}"
    );
    assert!(!stdout.contains("wr0ng-s3cret") && !stderr.contains("wr0ng-s3cret"));
    assert!(stderr.contains("rejected the credentials"), "{stderr}");

    // A user without a token: nothing was rejected, nothing was sent.
    let out = shim(
        &["check"],
        &[("JENKINS_URL", &url), ("JENKINS_USER", "watcher")],
    )
    .await;
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("401")
            && stderr.contains("none were sent")
            && stderr.contains("--jenkins-token"),
        "{stderr}"
    );

    let out = shim(&["check"], &[("JENKINS_URL", &url)]).await;
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("403") && stderr.contains("anonymous"),
        "{stderr}"
    );
}

#[tokio::test]
async fn once_prints_what_changed_over_one_poll_as_json_lines() {
    let mock = util::jenkins(Settings::default()).await;
    mock.world().create("app", Kind::Freestyle).unwrap();
    let url = mock.url();
    let run = tokio::spawn(async move {
        shim(&["once", "--poll-interval", "1s"], &[("JENKINS_URL", &url)]).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    mock.world()
        .enqueue(
            "app",
            Enqueue {
                quiet_ms: Some(60_000),
                ..Enqueue::default()
            },
        )
        .unwrap();
    let out = run.await.unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["type"], "org.jenkinsci.queue.entered_waiting");
    assert_eq!(lines[0]["data"]["startedBy"], "TIMER");
}

#[tokio::test]
async fn the_token_never_appears_in_logs_of_a_failing_run() {
    let mock = util::jenkins(Settings {
        users: vec![("watcher".into(), "right".into())],
        ..Settings::default()
    })
    .await;
    let url = mock.url();
    let dir = std::env::temp_dir().join(format!("shim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "v3ry-s3cret-t0ken\n").unwrap();
    let child = tokio::process::Command::new(SHIM)
        .args([
            "--log-format",
            "json",
            "run",
            "--sink",
            "stdout",
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "200ms",
        ])
        .env("JENKINS_URL", &url)
        .env("JENKINS_USER", "watcher")
        .env("JENKINS_API_TOKEN_FILE", &token_file)
        .env("LOG_LEVEL", "debug")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // SIGTERM: the shim stops by itself and exits 0.
    let pid = child.id().unwrap().to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().await.unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("401"), "the failure is logged: {stderr}");
    assert!(!stderr.contains("v3ry-s3cret-t0ken") && !stdout.contains("v3ry-s3cret-t0ken"));
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("JSON log line: {line}"));
    }
}

#[tokio::test]
async fn the_configuration_reference_lists_exactly_the_options_of_run() {
    let (help, _) = text(&shim(&["run", "--help"], &[]).await);
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `--")).collect();
    let mut flags_in_help = Vec::new();
    for line in help.lines().map(str::trim).filter(|l| l.starts_with("--")) {
        let flag = line.split_whitespace().next().unwrap();
        if flag == "--help" {
            continue;
        }
        flags_in_help.push(flag.to_string());
        let env = line
            .split("[env: ")
            .nth(1)
            .and_then(|e| e.split(['=', ']']).next())
            .unwrap_or_else(|| panic!("{flag} has no env twin"));
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{flag}` ")))
            .unwrap_or_else(|| panic!("{flag} is missing from docs/configuration.md"));
        assert!(
            row.contains(&format!("`{env}`")),
            "{flag}: docs name another variable than {env}: {row}"
        );
    }
    for row in rows {
        let flag = row.split('`').nth(1).unwrap();
        assert!(
            flags_in_help.iter().any(|f| f == flag),
            "docs/configuration.md lists {flag}, which `run` does not have"
        );
    }
}

/// The demo with text logs, its standard error a pipe (as for a file or `kubectl logs`).
async fn demo_logs(env: &[(&str, &str)]) -> String {
    let out = shim(
        &["demo", "--duration", "1s", "--listen", "127.0.0.1:0"],
        env,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out).1);
    text(&out).1
}

#[tokio::test]
async fn text_logs_into_a_pipe_or_file_carry_no_colour_codes() {
    let stderr = demo_logs(&[]).await;
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escapes in piped logs: {stderr:?}"
    );
}

#[tokio::test]
async fn text_logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    // `script` (util-linux, in every Debian) gives the demo a pseudo-terminal.
    let on_tty = |no_color: Option<&str>| {
        let mut cmd = std::process::Command::new("script");
        cmd.args([
            "-qec",
            &format!("{SHIM} demo --duration 1s --listen 127.0.0.1:0 >/dev/null"),
            "/dev/null",
        ])
        .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("script runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_tty(None).contains("\x1b["), "a terminal gets colours");
    assert!(
        on_tty(Some("")).contains("\x1b["),
        "an empty NO_COLOR is ignored"
    );
    let plain = on_tty(Some("1"));
    assert!(
        plain.contains("INFO") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

#[tokio::test]
async fn a_token_file_flag_wins_over_a_token_in_the_environment() {
    let mock = util::jenkins(Settings {
        users: vec![("watcher".into(), "from-the-file".into())],
        ..Settings::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("shim-cli-precedence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "from-the-file\n").unwrap();
    let url = mock.url();
    let out = shim(
        &[
            "check",
            "--jenkins-token-file",
            token_file.to_str().unwrap(),
        ],
        &[
            ("JENKINS_URL", &url),
            ("JENKINS_USER", "watcher"),
            ("JENKINS_API_TOKEN", "stale-from-the-env"),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("identity: watcher"), "{stdout}");
}

#[tokio::test]
async fn fatal_errors_are_json_lines_under_log_format_json() {
    let out = shim(
        &[
            "--log-format",
            "json",
            "run",
            "--jenkins-url",
            "http://ci/",
            "--sink",
            "stdout",
            "--poll-interval",
            "often",
        ],
        &[],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["message"].as_str().unwrap().contains("poll-interval"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bad_value_reads_the_same_from_a_flag_the_environment_or_the_file() {
    let expected = "expected a whole number from 1 to 20";
    let flag = shim(
        &[
            "run",
            "--jenkins-url",
            "http://ci/",
            "--sink",
            "stdout",
            "--folder-depth",
            "99",
        ],
        &[],
    )
    .await;
    let env = shim(
        &["run", "--jenkins-url", "http://ci/", "--sink", "stdout"],
        &[("FOLDER_DEPTH", "99")],
    )
    .await;
    let file = std::env::temp_dir().join(format!("shim-cli-depth-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "jenkins-url = \"http://ci/\"\nsink = [\"stdout\"]\nfolder-depth = 99\n",
    )
    .unwrap();
    let from_file = shim(&["run", "--config", file.to_str().unwrap()], &[]).await;
    for (source, out) in [("flag", &flag), ("environment", &env), ("file", &from_file)] {
        let (_, err) = text(out);
        assert_eq!(out.status.code(), Some(2), "{source}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{source}: {err}");
        assert!(
            err.contains("folder-depth") && err.contains(expected),
            "{source}: {err}"
        );
    }
    let (_, err) = text(&flag);
    assert_eq!(
        err.trim(),
        format!("error: invalid value for folder-depth: {expected}, got \"99\"")
    );
}
