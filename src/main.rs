//! The `jenkins-event-shim` binary: CLI, logging, configuration, and exit codes.
//!
//! Exit codes: 0 done, 1 a runtime failure, 2 a configuration error (one line naming the key).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use jenkins_event_shim::config::{Config, Options};
#[cfg(feature = "demo")]
use jenkins_event_shim::demo;
use jenkins_event_shim::jenkins::{self, model::WhoAmI};
use jenkins_event_shim::{poller, run, sink, watch};
use tokio_util::sync::CancellationToken;

/// Jenkins' build lifecycle as the Jenkins CloudEvents plugin's events, polled from the REST
/// API of any Jenkins 2.x, delivered to HTTP CloudEvents receivers (Argo Events, Knative, …).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Poll Jenkins and deliver events until SIGTERM or Ctrl-C.
    Run(Options),
    /// Validate the configuration, reach Jenkins, show its version and who we are.
    Check {
        #[command(flatten)]
        options: Options,
        /// Also probe each sink, delivering nothing: OPTIONS to a webhook, an envelope ks-devops
        /// ignores to a kubesphere sink, a connection to NATS.
        #[arg(long)]
        probe_sinks: bool,
    },
    /// Poll once and print the events as JSON lines; nothing is sent. Without saved state the
    /// first poll is the starting point, so it polls again after --poll-interval and prints
    /// what changed in between.
    Once(Options),
    /// The whole flow on an embedded mock Jenkins with simulated builds, events to stdout.
    #[cfg(feature = "demo")]
    Demo(demo::DemoOptions),
}

fn main() -> ExitCode {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| exit_on_usage_error(e));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some((_, sub)) = matches.subcommand() {
        flags_win_over_the_environment(sub, &mut cli.command);
    }
    let log_format = cli.log_format;
    init_logging(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(options) => {
                let config = resolve(options, true)?;
                let shutdown = shutdown_on_signal()?;
                run::run(config, shutdown, None)
                    .await
                    .context("jenkins-event-shim run")?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Check {
                options,
                probe_sinks,
            } => check(resolve(options, false)?, probe_sinks).await,
            Command::Once(options) => once(resolve(options, false)?).await,
            #[cfg(feature = "demo")]
            Command::Demo(options) => {
                demo::run(options, shutdown_on_signal()?).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let config_error = e
                .downcast_ref::<jenkins_event_shim::config::ConfigError>()
                .map(ToString::to_string);
            let text = config_error.clone().unwrap_or_else(|| format!("{e:#}"));
            report_fatal(log_format, &text);
            ExitCode::from(if config_error.is_some() { 2 } else { 1 })
        }
    }
}

/// clap prints help, versions and usage mistakes itself. A value a parser refused (a flag's or
/// its environment twin's) becomes one line like every other configuration error, in the
/// chosen log format: the key, what is expected and what was given, exit code 2.
fn exit_on_usage_error(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ValueValidation {
        e.exit()
    }
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(text)) => text.clone(),
        _ => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    let key = arg
        .trim_start_matches('-')
        .split([' ', '='])
        .next()
        .unwrap_or_default()
        .to_string();
    let expected = std::error::Error::source(&e)
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = context(ContextKind::InvalidValue);
    // The log format, read past the refused value.
    let log_format = Cli::command()
        .ignore_errors(true)
        .try_get_matches()
        .ok()
        .and_then(|m| m.get_one::<LogFormat>("log_format").copied())
        .unwrap_or(LogFormat::Text);
    init_logging(log_format);
    report_fatal(
        log_format,
        &format!("invalid value for {key}: {expected}, got {value:?}"),
    );
    std::process::exit(2);
}

/// A fatal error as one line: a JSON log line under `--log-format json`, else plain text.
fn report_fatal(log_format: LogFormat, text: &str) {
    match log_format {
        // One JSON line like every other, for log pipelines.
        LogFormat::Json => tracing::error!(fatal = true, "{text}"),
        LogFormat::Text => eprintln!("error: {text}"),
    }
}

/// The token and the token file exclude each other, but a flag wins over the environment: with
/// `--jenkins-token-file` given and `JENKINS_API_TOKEN` set in the environment (or the other way
/// round), the flag is used.
fn flags_win_over_the_environment(matches: &clap::ArgMatches, command: &mut Command) {
    let options = match command {
        Command::Run(o) | Command::Once(o) | Command::Check { options: o, .. } => o,
        #[cfg(feature = "demo")]
        Command::Demo(_) => return,
    };
    let source = |id: &str| {
        matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .and(matches.value_source(id))
    };
    match (source("jenkins_token"), source("jenkins_token_file")) {
        (Some(ValueSource::EnvVariable), Some(ValueSource::CommandLine)) => {
            options.jenkins_token = None;
        }
        (Some(ValueSource::CommandLine), Some(ValueSource::EnvVariable)) => {
            options.jenkins_token_file = None;
        }
        _ => {}
    }
}

fn resolve(options: Options, need_sinks: bool) -> anyhow::Result<Config> {
    Ok(options.resolve(need_sinks)?)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        // rustls logs each TLS failure again at warn: the error line already says it.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_on_stderr())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Colours only for a person at a terminal: never into a file, a pipe or `kubectl logs`, and
/// never when `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Cancelled on SIGTERM (Kubernetes) or Ctrl-C. The handler is installed before this returns:
/// a process that could not hear SIGTERM would be killed mid-tick instead of draining, so that
/// is a start-up error, not a panic in a task nobody watches.
fn shutdown_on_signal() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let trigger = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .context("cannot install the SIGTERM handler (shutdown would not drain)")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            trigger.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        trigger.cancel();
    });
    Ok(token)
}

async fn check(config: Config, probe_sinks: bool) -> anyhow::Result<ExitCode> {
    println!("configuration: ok");
    for c in &config.controllers {
        check_controller(c)
            .await
            .with_context(|| format!("controller {}", c.name))?;
    }
    let mut failed = false;
    for s in &config.sinks {
        if !probe_sinks {
            println!(
                "sink {}: configured (not probed; add --probe-sinks)",
                s.name
            );
            continue;
        }
        match sink::Sink::new(s)?.probe().await {
            Ok(text) => println!("sink {}: {text}", s.name),
            Err(e) => {
                failed = true;
                println!("sink {}: failed: {e}", s.name);
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reaches one controller as the shim will: identity, version, and the reads it needs, so that
/// a missing permission shows now, not at the first poll.
async fn check_controller(c: &jenkins_event_shim::config::Controller) -> anyhow::Result<()> {
    let client = jenkins::Client::new(c.jenkins.clone())?;
    let (who, meta) = client
        .get_json::<WhoAmI>("whoAmI/api/json", None)
        .await
        .context("reaching Jenkins")?;
    println!(
        "jenkins {}: {} (version {}, session {})",
        c.name,
        client.base(),
        meta.version
            .as_deref()
            .unwrap_or("unknown: no X-Jenkins header (a proxy may strip it)"),
        meta.session.as_deref().unwrap_or("unknown"),
    );
    println!(
        "identity: {}{}",
        who.name,
        if who.anonymous {
            " (anonymous: set --jenkins-user and --jenkins-token)"
        } else {
            ""
        }
    );
    let (_, _) = client
        .get_json::<jenkins::model::QueueList>("queue/api/json", Some(&jenkins::tree::queue()))
        .await
        .context("reading the queue")?;
    let (_, _) = client
        .get_json::<jenkins::model::ComputerSet>(
            "computer/api/json",
            Some(jenkins::tree::COMPUTERS),
        )
        .await
        .context("reading the executors")?;
    println!("permissions: queue and executors readable");
    // Jenkins hides what the user cannot read (Jenkins.getItems): say what that means here.
    let (root, _) = client
        .get_json::<jenkins::model::JobTree>("api/json", Some(&jenkins::tree::job_tree(1)))
        .await
        .context("reading the job list")?;
    if root.jobs.is_empty() {
        println!(
            "jobs: none visible to {}: grant it Overall/Read and Job/Read (Item/Read on a folder shows only that folder)",
            who.name
        );
    } else {
        println!(
            "jobs: {} visible at the top level (jobs this user cannot read are hidden, and send no events)",
            root.jobs.len()
        );
    }
    let freestyle = root.jobs.iter().find(|j| {
        j.class
            .as_deref()
            .is_some_and(|c| watch::ABSTRACT_PROJECT_CLASSES.contains(&c))
    });
    if let Some(job) = freestyle
        .and_then(|j| j.url.as_deref())
        .and_then(jenkins::path::job_path)
    {
        match client.get_text(&format!("{job}config.xml")).await {
            Ok(_) => println!("config.xml: readable (job.created/updated carry configFile)"),
            Err(jenkins::Error::Forbidden { .. }) => println!(
                "config.xml: not readable (403): job.created/updated go out without configFile; grant Job/ExtendedRead to include it"
            ),
            Err(e) => println!("config.xml: could not be read: {e}"),
        }
    }
    Ok(())
}

async fn once(config: Config) -> anyhow::Result<ExitCode> {
    let telemetry = std::sync::Arc::new(jenkins_event_shim::telemetry::Telemetry::new());
    for c in &config.controllers {
        let client = jenkins::Client::new(c.jenkins.clone())?;
        let mut poller = poller::Poller::new(
            client,
            watch::State::default(),
            c.encoder.clone(),
            c.folder_depth,
            c.scan_interval,
            telemetry.clone(),
        );
        let mut events = poller.tick().await.context("polling Jenkins")?;
        if events.is_empty() && poller.state().baselined {
            tokio::time::sleep(c.poll_interval.max(Duration::from_millis(100))).await;
            events = poller.tick().await.context("polling Jenkins")?;
        }
        for out in events {
            println!("{}", String::from_utf8_lossy(&out.payload.to_json()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
