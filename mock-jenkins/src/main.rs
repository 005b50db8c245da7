//! `mock-jenkins`: the mock Jenkins as its own process.

use std::net::SocketAddr;

use clap::Parser;
use mock_jenkins::{MockJenkins, Settings, sim};

/// A Jenkins stand-in that speaks the REST and queue API a watcher reads.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MOCK_JENKINS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Jenkins version to imitate (`X-Jenkins`; shapes follow it).
    #[arg(long, env = "MOCK_JENKINS_VERSION", default_value = "2.150.3")]
    jenkins_version: String,
    /// A user and API token, `name:token` (repeatable). Without any, anonymous access is allowed.
    #[arg(long = "user")]
    users: Vec<String>,
    /// Generate traffic.
    #[arg(long)]
    simulate: bool,
    /// Jobs to create when simulating.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Builds per minute when simulating.
    #[arg(long, default_value_t = 20.0)]
    builds_per_minute: f64,
    /// Random seed of the simulation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let users = cli
        .users
        .iter()
        .map(|u| match u.split_once(':') {
            Some((n, t)) => (n.to_string(), t.to_string()),
            None => (u.clone(), String::new()),
        })
        .collect();
    let settings = Settings {
        version: cli.jenkins_version,
        users,
        ..Settings::default()
    };
    let mock = MockJenkins::start(settings, cli.listen).await?;
    eprintln!(
        "mock-jenkins {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        mock.url()
    );
    if cli.simulate {
        let simulation = sim::Simulation {
            jobs: cli.jobs,
            builds_per_minute: cli.builds_per_minute,
            seed: cli.seed,
            ..Default::default()
        };
        let jobs = sim::populate(&mock.shared(), &simulation);
        tokio::spawn(sim::run(mock.shared(), simulation, jobs, mock.token()));
    }
    tokio::signal::ctrl_c().await?;
    mock.stop().await;
    Ok(())
}
