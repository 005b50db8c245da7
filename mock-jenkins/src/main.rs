//! `mock-jenkins`: the mock Jenkins as its own process.

use std::io::IsTerminal;
use std::net::SocketAddr;

use clap::Parser;
use mock_jenkins::{MockJenkins, Settings, control, sim};

/// A Jenkins stand-in that speaks the REST and queue API a watcher reads: jobs, folders,
/// multibranch branches, pipelines, the queue and its left items, executors, users with API
/// tokens, CSRF crumbs, /api/json and /api/xml with tree= and depth=, config.xml, and the write
/// calls real clients make. Script it with the control API (POST /mock/do, /mock/scenario,
/// GET /mock/state) or a scenario file, or let it simulate traffic.
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
    /// Narrow a user's permissions, `name=folder[,folder…]`: Item/Read only in those folders
    /// (none listed: everywhere), and no Item/ExtendedRead (`config.xml` answers 403).
    /// Repeatable.
    #[arg(long = "restrict", value_name = "USER=FOLDERS")]
    restricted: Vec<String>,
    /// Serve under this context path, as Jenkins' `--prefix` (e.g. `/jenkins`).
    #[arg(long, default_value = "")]
    context_path: String,
    /// The configured Jenkins URL written into absolute `url`s (default: where it listens).
    #[arg(long)]
    root_url: Option<String>,
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
    /// Share of simulated builds that fail.
    #[arg(long, default_value_t = 0.2)]
    failure_rate: f64,
    /// Play a scenario file (JSON: {"steps": [{"at": "1s", "do": "build", "job": "app"}, ...]}).
    #[arg(long, value_name = "FILE")]
    scenario: Option<std::path::PathBuf>,
    /// How long builds stay in post-production (result set, still on the executor).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    post_production: std::time::Duration,
    /// How long a left queue item has no executable yet (Jenkins' left-item race).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    left_race: std::time::Duration,
    /// Keep at most this many builds per job (a build discarder).
    #[arg(long)]
    max_builds: Option<usize>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Colours only at a terminal, and not under NO_COLOR (no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(colour)
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
    let scenario = match &cli.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let scenario: control::Scenario = serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            scenario.validate().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Some(scenario)
        }
        None => None,
    };
    let settings = Settings {
        version: cli.jenkins_version,
        users,
        post_production_ms: cli.post_production.as_millis() as i64,
        left_race_ms: cli.left_race.as_millis() as i64,
        max_builds_per_job: cli.max_builds.or(cli.simulate.then_some(50)),
        context_path: cli.context_path,
        root_url: cli.root_url,
        access: cli
            .restricted
            .iter()
            .map(|r| {
                let (user, folders) = r.split_once('=').unwrap_or((r, ""));
                mock_jenkins::world::Access {
                    user: user.to_string(),
                    folders: folders
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    extended_read: false,
                }
            })
            .collect(),
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
            failure_rate: cli.failure_rate,
            ..Default::default()
        };
        let jobs = sim::populate(&mock.shared(), &simulation);
        tokio::spawn(sim::run(mock.shared(), simulation, jobs, mock.token()));
    }
    if let Some(scenario) = scenario {
        tokio::spawn(scenario.play(mock.shared(), mock.token()));
    }
    tokio::signal::ctrl_c().await?;
    mock.stop().await;
    Ok(())
}
