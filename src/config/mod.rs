//! Every option, once: its CLI flag, its environment twin and its key in the TOML file.
//!
//! Precedence: command line, then environment, then `--config FILE`, then defaults. A bad value
//! anywhere gives one line naming the key and what is expected ([`ConfigError`]); the binary
//! exits 2 on it. Keys in the file are spelled like the flags (`poll-interval = "2s"`).
//!
//! - `options.rs`: the flags (clap); `file.rs`: the file (serde, toml);
//! - `controller.rs` and `sinks.rs`: one controller's and one sink's settings, checked;
//! - `values.rs`: the checks of single values (durations, URLs, enumerations, files).

mod controller;
mod file;
mod options;
mod sinks;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use options::Options;
pub use values::duration;

use crate::event::{Encoder, Format};
use crate::jenkins::ClientConfig;
use crate::sink::SinkConfig;
use crate::sink::http::Mode;
use crate::store::OverflowPolicy;
use controller::ControllerRaw;
use file::{File, SinkEntry, read_file};

/// A configuration that cannot be used; one line, naming the key and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value of the wrong form.
    #[error("invalid value for {key}: expected {expected}, got {got:?}")]
    Invalid {
        /// The key (flag spelling).
        key: &'static str,
        /// What is expected.
        expected: &'static str,
        /// What was given (never a secret).
        got: String,
    },
    /// A required key is missing.
    #[error("missing {key}: {hint}")]
    Missing {
        /// The key.
        key: &'static str,
        /// How to set it.
        hint: &'static str,
    },
    /// The config file or a token file cannot be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Two options that exclude each other.
    #[error("{0}")]
    Conflict(&'static str),
}

/// One Jenkins controller to watch: its own URL, credentials, poll settings and cursor.
#[derive(Debug, Clone)]
pub struct Controller {
    /// Name in logs and `/readyz` (default: the URL's host).
    pub name: String,
    /// How to reach it.
    pub jenkins: ClientConfig,
    /// Poll interval.
    pub poll_interval: Duration,
    /// Job-tree scan interval.
    pub scan_interval: Duration,
    /// Folder levels scanned.
    pub folder_depth: usize,
    /// `--backfill` window.
    pub backfill: Option<Duration>,
    /// Event encoding (its `controller` is this controller's URL).
    pub encoder: Encoder,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The controllers watched (one, unless the file has `[[controller]]` tables).
    pub controllers: Vec<Controller>,
    /// Sinks (may be empty for `check` and `once`).
    pub sinks: Vec<SinkConfig>,
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// Health and metrics address.
    pub listen: SocketAddr,
    /// Most events waiting.
    pub outbox_capacity: usize,
    /// What a full outbox does.
    pub outbox_full: OverflowPolicy,
}

/// Defaults, documented in `--help` and the README.
pub mod defaults {
    use std::time::Duration;

    /// `--poll-interval`.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
    /// `--scan-interval`.
    pub const SCAN_INTERVAL: Duration = Duration::from_secs(60);
    /// `--folder-depth`.
    pub const FOLDER_DEPTH: usize = 5;
    /// `--jenkins-timeout`.
    pub const JENKINS_TIMEOUT: Duration = Duration::from_secs(30);
    /// `--jenkins-max-response-mb`.
    pub const JENKINS_MAX_RESPONSE_MB: u64 = 64;
    /// `--sink-timeout`.
    pub const SINK_TIMEOUT: Duration = Duration::from_secs(10);
    /// `--listen`.
    pub const LISTEN: std::net::SocketAddr = std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::UNSPECIFIED,
        9102,
    ));
    /// `--run-user`.
    pub const RUN_USER: &str = "SYSTEM";
    /// `--outbox-capacity`.
    pub const OUTBOX_CAPACITY: usize = 100_000;
}

impl Options {
    /// Merges the config file (if any) under the flags and checks every value.
    /// `need_sinks`: `run` refuses to start without a sink.
    pub fn resolve(self, need_sinks: bool) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        // The controller the flags (and top-level keys) describe; `[[controller]]` tables in
        // the file describe several instead, each falling back to it for poll settings.
        let top = ControllerRaw {
            name: None,
            jenkins_url: self.jenkins_url.or(file.jenkins_url),
            jenkins_user: self.jenkins_user.or(file.jenkins_user),
            jenkins_token: self.jenkins_token.or(file.jenkins_token),
            jenkins_token_file: self.jenkins_token_file.or(file.jenkins_token_file),
            jenkins_ca_file: self.jenkins_ca_file.or(file.jenkins_ca_file),
            jenkins_insecure_skip_verify: self.jenkins_insecure_skip_verify
                || file.jenkins_insecure_skip_verify,
            jenkins_timeout: self.jenkins_timeout.or(file.jenkins_timeout),
            jenkins_max_response_mb: self
                .jenkins_max_response_mb
                .or(file.jenkins_max_response_mb),
            poll_interval: self.poll_interval.or(file.poll_interval),
            scan_interval: self.scan_interval.or(file.scan_interval),
            folder_depth: self.folder_depth.or(file.folder_depth),
            backfill: self.backfill.or(file.backfill),
        };
        let raws = if file.controller.is_empty() {
            vec![top]
        } else if top.jenkins_url.is_some() {
            return Err(ConfigError::Conflict(
                "jenkins-url and [[controller]] tables exclude each other: give each controller its jenkins-url in its table",
            ));
        } else {
            file.controller.into_iter().map(|c| c.under(&top)).collect()
        };
        let default_format = self.sink_format.or(file.sink_format).unwrap_or_default();
        let entries: Vec<SinkEntry> = if self.sink.is_empty() {
            file.sink
        } else {
            self.sink.into_iter().map(SinkEntry::Url).collect()
        };
        let defaults = sinks::Defaults {
            timeout: self
                .sink_timeout
                .or(file.sink_timeout)
                .unwrap_or(defaults::SINK_TIMEOUT),
            mode: self.sink_mode.or(file.sink_mode).unwrap_or(Mode::Binary),
            format: default_format,
        };
        let sinks = entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| sinks::resolve(i, entry, &defaults))
            .collect::<Result<Vec<_>, _>>()?;
        if need_sinks && sinks.is_empty() {
            return Err(ConfigError::Missing {
                key: "sink",
                hint: "set --sink (SINK_URL) to a CloudEvents HTTP endpoint, or --sink stdout",
            });
        }
        let run_user = self
            .run_user
            .or(file.run_user)
            .unwrap_or_else(|| defaults::RUN_USER.into());
        // Each change is encoded once per dialect a sink speaks (`check` and `once`, without
        // sinks, show the default one).
        let mut formats: Vec<Format> = sinks.iter().map(|s| s.format).collect();
        if formats.is_empty() {
            formats.push(default_format);
        }
        formats.sort();
        formats.dedup();
        let encoder = Encoder {
            formats,
            unstable: self
                .cdevents_unstable
                .or(file.cdevents_unstable)
                .unwrap_or_default(),
            controller: String::new(),
            name: String::new(),
            job_bodies: self.job_bodies.or(file.job_bodies).unwrap_or_default(),
            invalid_sources: self
                .invalid_sources
                .or(file.invalid_sources)
                .unwrap_or_default(),
            // An empty --run-user gives null, as under Authorize-Project.
            run_user: (!run_user.is_empty()).then_some(run_user),
            extras: self.extras.or(file.extras).unwrap_or_default(),
        };
        let controllers = raws
            .into_iter()
            .map(|raw| raw.resolve(&encoder))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names: Vec<&str> = controllers.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::Conflict(
                "two controllers have the same name: give each [[controller]] a distinct name",
            ));
        }
        let mut urls: Vec<&str> = controllers.iter().map(|c| c.jenkins.url.as_str()).collect();
        urls.sort_unstable();
        if urls.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::Conflict(
                "two controllers have the same jenkins-url: each is polled once",
            ));
        }
        Ok(Config {
            controllers,
            sinks,
            state_dir: self.state_dir.or(file.state_dir),
            listen: self.listen.or(file.listen).unwrap_or(defaults::LISTEN),
            outbox_capacity: self
                .outbox_capacity
                .or(file.outbox_capacity)
                .unwrap_or(defaults::OUTBOX_CAPACITY),
            outbox_full: self.outbox_full.or(file.outbox_full).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests;
