//! The configuration's errors and precedence, as a user meets them.
use std::path::Path;

use super::*;
use crate::sink::SinkTarget;
use crate::sink::http::Mode;

/// The error of a config file that must not load (`File` has no `Debug`: it holds tokens).
fn file_error(path: &Path) -> ConfigError {
    match read_file(path) {
        Err(e) => e,
        Ok(_) => panic!("{} loaded, but it is malformed", path.display()),
    }
}

/// Config files with a known secret in every position a person gets wrong: the values of
/// misspelt keys, unquoted values, broken quotes, unknown keys in every table, a token pasted
/// where a key goes. The error names the line (and a key that looks like one), never the
/// secret.
fn secret_positions(secret: &str) -> Vec<String> {
    vec![
        format!("jenkins-tokn = \"{secret}\"\n"),
        format!("jenkins-token = {secret}\n"),
        format!("jenkins-token = \"{secret}\n"),
        format!("jenkins-token = '{secret}\n"),
        format!("jenkins-url = \"http://ci/\"\njenkins-token = \"\"\"{secret}\n"),
        format!("[[sink]]\nurl = \"http://x/\"\nbasic-password = \"{secret}\"\n"),
        format!("sink = [{{ url = \"http://x/\", bearer-tokn = \"{secret}\" }}]\n"),
        format!(
            "[[controller]]\nname = \"a\"\njenkins-url = \"http://ci/\"\njenkins-tokn = \"{secret}\"\n"
        ),
        format!("poll-interval = 5\njenkins-token = [\"{secret}\"]\n"),
        format!("{secret} = \"x\"\n"),
        format!("jenkins-token {secret}\n"),
    ]
}

proptest::proptest! {
    #[test]
    fn config_file_errors_never_show_a_secret(
        secret in "(11[0-9a-f]{32})|([A-Za-z0-9]{4}[0-9]{4}[A-Za-z0-9-]{4,12})",
    ) {
        let dir = std::env::temp_dir().join(format!("shim-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (n, text) in secret_positions(&secret).into_iter().enumerate() {
            let path = dir.join(format!("c{n}.toml"));
            std::fs::write(&path, &text).unwrap();
            let e = file_error(&path);
            let shown = format!("{e} {e:?}");
            proptest::prop_assert!(!shown.contains(&secret), "{text:?} gave {shown}");
            proptest::prop_assert!(shown.contains("line "), "{text:?} gave {shown}");
        }
    }
}

#[test]
fn durations_are_bounded_to_what_makes_sense() {
    assert!(duration("poll-interval", "30d").is_ok());
    let e = duration("poll-interval", "99999999999999999s")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("poll-interval") && e.contains("at most 30 days"),
        "{e}"
    );
    assert!(duration("poll-interval", "31d").is_err());
}

#[test]
fn config_file_errors_name_the_misspelt_key_and_its_line() {
    let dir = std::env::temp_dir().join(format!("shim-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "jenkins-url = \"http://ci/\"\njenkins-tokn = \"s3cr3t-9999\"\n",
    )
    .unwrap();
    let e = file_error(&path).to_string();
    assert!(e.contains("line 2") && e.contains("jenkins-tokn"), "{e}");
    assert!(!e.contains("s3cr3t-9999"), "{e}");
}

fn options() -> Options {
    Options {
        jenkins_url: Some("http://ci.example/".into()),
        ..Options::default()
    }
}

#[test]
fn durations_accept_milliseconds_and_seconds_and_name_the_key_when_wrong() {
    assert_eq!(
        duration("poll-interval", "500ms").unwrap(),
        Duration::from_millis(500)
    );
    assert_eq!(
        duration("poll-interval", "2s").unwrap(),
        Duration::from_secs(2)
    );
    let err = duration("poll-interval", "soon").unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid value for poll-interval: expected a positive duration of at most 30 days, such as 500ms, 2s or 1m, got \"soon\""
    );
}

#[test]
fn run_needs_a_sink_and_a_token_needs_a_user() {
    let err = options().resolve(true).unwrap_err().to_string();
    assert!(err.starts_with("missing sink:"), "{err}");
    let mut o = options();
    o.jenkins_token = Some("s3cret".into());
    let err = o.resolve(false).unwrap_err().to_string();
    assert!(err.starts_with("missing jenkins-user"), "{err}");
    assert!(!err.contains("s3cret"));
}

#[test]
fn file_values_sit_under_flags_and_unknown_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("shim-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shim.toml");
    std::fs::write(
        &path,
        "jenkins-url = \"http://file.example/\"\npoll-interval = \"2s\"\nsink = [\"stdout\", { url = \"http://r.example/x\", mode = \"structured\", name = \"argo\" }]\n",
    )
    .unwrap();
    let mut o = Options {
        config: Some(path.clone()),
        poll_interval: Some(Duration::from_millis(750)),
        ..Options::default()
    };
    let config = o.clone().resolve(true).unwrap();
    assert_eq!(
        config.controllers[0].jenkins.url.as_str(),
        "http://file.example/"
    );
    assert_eq!(
        config.controllers[0].poll_interval,
        Duration::from_millis(750)
    );
    assert_eq!(config.sinks.len(), 2);
    assert_eq!(config.sinks[1].name, "argo");
    assert!(matches!(
        config.sinks[1].target,
        SinkTarget::Http {
            mode: Mode::Structured,
            ..
        }
    ));
    std::fs::write(
        &path,
        "jenkins-url = \"http://x/\"\npoll-intervall = \"2s\"\n",
    )
    .unwrap();
    o.poll_interval = None;
    let err = o.resolve(false).unwrap_err().to_string();
    assert!(err.contains("poll-intervall"), "{err}");
}

#[test]
fn urls_with_credentials_are_refused_without_echoing_them() {
    let mut o = options();
    o.jenkins_url = Some("http://admin:hunter2@ci.example/".into());
    let err = o.resolve(false).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("--jenkins-user"), "{err}");
    let mut o = options();
    o.sink = vec!["http://admin:hunter2@sink.example/".into()];
    let err = o.resolve(true).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("sink's table") && !err.contains("--jenkins-user"),
        "the sink's own options, not Jenkins': {err}"
    );
}

#[test]
fn debug_output_never_shows_a_token_a_password_or_a_header_value() {
    let dir = std::env::temp_dir().join(format!("shim-debug-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pw"), "pa55-w0rd-1234\n").unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "jenkins-url = \"http://ci/\"\njenkins-user = \"w\"\njenkins-token = \"11aa22bb33cc44dd\"\nsink = [{{ url = \"http://x/\", basic-user = \"u\", basic-password-file = \"{}\", headers = {{ X-Api-Key = \"k3y-v4lue-9876\" }} }}]\n",
            dir.join("pw").display()
        ),
    )
    .unwrap();
    let options = Options {
        config: Some(path),
        jenkins_token: Some("flag-t0ken-5678".into()),
        ..Options::default()
    };
    let shown = format!("{options:?}");
    assert!(!shown.contains("flag-t0ken-5678"), "{shown}");
    let config = options.resolve(true).unwrap();
    let shown = format!("{config:?}");
    for secret in [
        "flag-t0ken-5678",
        "11aa22bb33cc44dd",
        "pa55-w0rd-1234",
        "k3y-v4lue-9876",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn a_kubesphere_sink_refuses_basic_auth_at_start_up() {
    let dir = std::env::temp_dir().join(format!("shim-ks-basic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pw"), "x\n").unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "jenkins-url = \"http://ci/\"\nsink = [{{ url = \"http://ks/kapis/devops.kubesphere.io/v1alpha3/webhooks/jenkins\", format = \"kubesphere\", basic-user = \"u\", basic-password-file = \"{}\" }}]\n",
            dir.join("pw").display()
        ),
    )
    .unwrap();
    let err = Options {
        config: Some(path),
        ..Options::default()
    }
    .resolve(true)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("kubesphere sink cannot use basic auth") && err.contains("401"),
        "{err}"
    );
}

#[test]
fn a_typo_inside_a_sink_table_names_the_key_and_its_line() {
    let dir = std::env::temp_dir().join(format!("shim-sink-typo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "jenkins-url = \"http://ci/\"\nsink = [\n  \"stdout\",\n  { url = \"http://x/\", bearer-tokn-file = \"/run/t\" },\n]\n",
    )
    .unwrap();
    let e = file_error(&path).to_string();
    assert!(
        e.contains("bearer-tokn-file") && e.contains("line 4"),
        "{e}"
    );
    assert!(!e.contains("untagged"), "{e}");
}

#[test]
fn a_nats_sink_needs_a_subject_and_refuses_http_only_keys() {
    let dir = std::env::temp_dir().join(format!("shim-config-nats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shim.toml");
    let resolve = |sink: &str| {
        std::fs::write(
            &path,
            format!("jenkins-url = \"http://ci/\"\nsink = [{sink}]\n"),
        )
        .unwrap();
        Options {
            config: Some(path.clone()),
            ..Options::default()
        }
        .resolve(true)
    };
    let err = resolve(r#"{ url = "nats://bus:4222" }"#)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("missing sink.subject"), "{err}");
    let err = resolve(r#"{ url = "nats://bus:4222", subject = "a.>" }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("without spaces or wildcards"), "{err}");
    let err = resolve(r#"{ url = "nats://bus:4222", subject = "a", insecure-skip-verify = true }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ca-file"), "{err}");
    let err = resolve(r#"{ url = "nats://shim:hunter2@bus:4222", subject = "a" }"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("credentials in a URL") && !err.contains("hunter2"),
        "{err}"
    );
    let err = resolve(r#"{ url = "http://r/", subject = "a" }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nats:// sinks only"), "{err}");
    let config = resolve(r#"{ url = "nats://bus:4222", subject = "jenkins.events" }"#).unwrap();
    assert_eq!(config.sinks[0].name, "nats-0");
    assert!(
        matches!(&config.sinks[0].target, SinkTarget::Nats(n) if n.subject == "jenkins.events")
    );
}

#[test]
fn controller_tables_take_their_own_credentials_and_inherit_poll_settings() {
    let dir = std::env::temp_dir().join(format!("shim-config-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shim.toml");
    let resolve = |text: &str, url: Option<&str>| {
        std::fs::write(&path, text).unwrap();
        Options {
            config: Some(path.clone()),
            jenkins_url: url.map(str::to_owned),
            ..Options::default()
        }
        .resolve(false)
    };
    let two = "poll-interval = \"2s\"\n[[controller]]\nname = \"a\"\njenkins-url = \"http://a/\"\n[[controller]]\njenkins-url = \"http://b.example/\"\npoll-interval = \"3s\"\nfolder-depth = 2\n";
    let config = resolve(two, None).unwrap();
    let c = &config.controllers;
    assert_eq!((c[0].name.as_str(), c[1].name.as_str()), ("a", "b.example"));
    assert_eq!(c[0].poll_interval, Duration::from_secs(2), "inherited");
    assert_eq!(c[1].poll_interval, Duration::from_secs(3), "its own");
    assert_eq!(c[1].folder_depth, 2);
    assert_eq!(c[1].encoder.controller, "http://b.example/");
    let err = resolve(two, Some("http://c/")).unwrap_err().to_string();
    assert!(err.contains("exclude each other"), "{err}");
    let same = "[[controller]]\nname = \"x\"\njenkins-url = \"http://a/\"\n[[controller]]\nname = \"x\"\njenkins-url = \"http://b/\"\n";
    let err = resolve(same, None).unwrap_err().to_string();
    assert!(err.contains("same name"), "{err}");
    let err = resolve("[[controller]]\nname = \"x\"\n", None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("missing jenkins-url"), "{err}");
}
