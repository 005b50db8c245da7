//! `demo`: the whole flow on an embedded mock Jenkins with simulated traffic.
//!
//! Starts mock-jenkins in-process (jobs in folders, pipelines, a multibranch branch, names with
//! spaces and accents), simulates builds, and runs the shim against it with a stdout sink (or
//! the sinks given), so a newcomer sees real events with one command.

use std::time::Duration;

use clap::Args;
use mock_jenkins::{MockJenkins, Settings, sim};
use tokio_util::sync::CancellationToken;

use crate::config::Options;

/// Options of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoOptions {
    /// Jobs the mock Jenkins creates.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Builds scheduled per minute.
    #[arg(long, default_value_t = 30.0)]
    pub builds_per_minute: f64,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Where to deliver (default: stdout).
    #[arg(long = "sink", value_name = "URL")]
    pub sink: Vec<String>,
    /// Poll interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Health and metrics address.
    #[arg(long, default_value = "127.0.0.1:9102")]
    pub listen: std::net::SocketAddr,
}

/// Runs the demo until `shutdown` (or `--duration`).
pub async fn run(options: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mock = MockJenkins::start(Settings::default(), "127.0.0.1:0".parse()?).await?;
    let simulation = sim::Simulation {
        jobs: options.jobs,
        builds_per_minute: options.builds_per_minute,
        ..Default::default()
    };
    let jobs = sim::populate(&mock.shared(), &simulation);
    tracing::info!(url = %mock.url(), jobs = jobs.len(), "mock Jenkins running with simulated builds");
    let config = Options {
        jenkins_url: Some(mock.url()),
        sink: if options.sink.is_empty() {
            vec!["stdout".into()]
        } else {
            options.sink
        },
        poll_interval: Some(options.poll_interval),
        scan_interval: Some(Duration::from_secs(10)),
        listen: Some(options.listen),
        ..Options::default()
    }
    .resolve(true)?;
    let stop = shutdown.clone();
    if let Some(duration) = options.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.cancel();
        });
    }
    // Traffic starts once the shim has taken its starting point.
    let traffic = mock.shared();
    let token = mock.token();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sim::run(traffic, simulation, jobs, token).await;
    });
    crate::run::run(config, shutdown, None).await?;
    mock.stop().await;
    Ok(())
}
