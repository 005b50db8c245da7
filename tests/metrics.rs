//! `/metrics` as Prometheus reads it: Debian's `promtool check metrics` accepts the text format
//! 0.0.4 (served unless the scraper asks for OpenMetrics), every family has HELP and TYPE, and
//! the series an alert would watch exist at 0 for every sink and controller from the start.

mod util;

use std::io::Write;

use mock_jenkins::Kind;

async fn scrape(shim: &util::Shim, accept: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}/metrics", shim.health));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_pass_promtool_in_the_text_format_and_openmetrics_is_served_when_asked() {
    let (mock, _rx, shim) = util::scene("app", Kind::Freestyle).await;
    shim.wait_ready().await;
    util::run_build(&mock, "app", "SUCCESS");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let (content_type, text) = scrape(&shim, Some("text/plain; version=0.0.4")).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let promtool = util::test_env::tool("promtool", "prometheus");
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("# HELP jenkins_polls_total "), "{text}");

    let (content_type, open) = scrape(
        &shim,
        Some("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(open.trim_end().ends_with("# EOF"), "{open}");
    let (content_type, _) = scrape(&shim, None).await;
    assert!(content_type.starts_with("text/plain"), "{content_type}");
}

#[tokio::test]
async fn alertable_series_exist_at_zero_for_every_sink_and_controller_from_the_start() {
    let (_mock, _rx, shim) = util::scene("app", Kind::Freestyle).await;
    shim.wait_ready().await;
    let (_, text) = scrape(&shim, None).await;
    for series in [
        "component_errors_total{sink=\"",
        "sink_retries_total{sink=\"",
        "component_discarded_events_total{sink=\"",
        "jenkins_errors_total{controller=\"",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("no {series}…: {text}"));
        assert!(line.ends_with(" 0"), "{line}");
    }
    assert!(text.contains("error_type=\"misconfigured\"} 0"), "{text}");
    assert!(text.contains("state_store_writable 1"), "{text}");
}
