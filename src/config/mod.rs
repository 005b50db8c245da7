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

use crate::event::{Encoder, Extras, Format, InvalidSources, JobBodies, Unstable};
use crate::jenkins::ClientConfig;
use crate::sink::SinkConfig;
use crate::store::OverflowPolicy;
use controller::ControllerRaw;
use file::{File, SinkEntry, read_file};
use values::{FORMATS, duration_or, mode, one_of};

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
    /// `--poll-interval`.
    pub const POLL_INTERVAL: &str = "5s";
    /// `--scan-interval`.
    pub const SCAN_INTERVAL: &str = "60s";
    /// `--folder-depth`.
    pub const FOLDER_DEPTH: usize = 5;
    /// `--jenkins-timeout`.
    pub const JENKINS_TIMEOUT: &str = "30s";
    /// `--jenkins-max-response-mb`.
    pub const JENKINS_MAX_RESPONSE_MB: u64 = 64;
    /// `--sink-timeout`.
    pub const SINK_TIMEOUT: &str = "10s";
    /// `--listen`.
    pub const LISTEN: &str = "0.0.0.0:9102";
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
        let pick = |cli: Option<String>, file: Option<String>| cli.or(file);
        // The controller the flags (and top-level keys) describe; `[[controller]]` tables in
        // the file describe several instead, each falling back to it for poll settings.
        let top = ControllerRaw {
            name: None,
            jenkins_url: pick(self.jenkins_url, file.jenkins_url),
            jenkins_user: pick(self.jenkins_user, file.jenkins_user),
            jenkins_token: self.jenkins_token.or(file.jenkins_token),
            jenkins_token_file: self.jenkins_token_file.or(file.jenkins_token_file),
            jenkins_ca_file: self.jenkins_ca_file.or(file.jenkins_ca_file),
            jenkins_insecure_skip_verify: self.jenkins_insecure_skip_verify
                || file.jenkins_insecure_skip_verify,
            jenkins_timeout: pick(self.jenkins_timeout, file.jenkins_timeout),
            jenkins_max_response_mb: self
                .jenkins_max_response_mb
                .or(file.jenkins_max_response_mb.map(|m| m.to_string())),
            poll_interval: pick(self.poll_interval, file.poll_interval),
            scan_interval: pick(self.scan_interval, file.scan_interval),
            folder_depth: self
                .folder_depth
                .or(file.folder_depth.map(|d| d.to_string())),
            backfill: pick(self.backfill, file.backfill),
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
        let sink_timeout = duration_or(
            "sink-timeout",
            pick(self.sink_timeout, file.sink_timeout),
            defaults::SINK_TIMEOUT,
        )?;
        let default_mode = mode(
            "sink-mode",
            &pick(self.sink_mode, file.sink_mode).unwrap_or_else(|| "binary".into()),
        )?;
        let default_format = match pick(self.sink_format, file.sink_format) {
            Some(f) => Format::parse(&f).ok_or(ConfigError::Invalid {
                key: "sink-format",
                expected: FORMATS,
                got: f,
            })?,
            None => Format::Plugin,
        };
        let entries: Vec<SinkEntry> = if self.sink.is_empty() {
            file.sink
        } else {
            self.sink.into_iter().map(SinkEntry::Url).collect()
        };
        let defaults = sinks::Defaults {
            timeout: sink_timeout,
            mode: default_mode,
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
        let listen_text = pick(self.listen, file.listen).unwrap_or_else(|| defaults::LISTEN.into());
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            expected: "an address such as 0.0.0.0:9102 or 127.0.0.1:9102",
            got: listen_text.clone(),
        })?;
        let job_bodies = one_of(
            "job-bodies",
            pick(self.job_bodies, file.job_bodies),
            &[
                ("intended", JobBodies::Intended),
                ("plugin-1.0.0", JobBodies::Plugin100),
            ],
            "intended or plugin-1.0.0",
        )?;
        let invalid_sources = one_of(
            "invalid-sources",
            pick(self.invalid_sources, file.invalid_sources),
            &[
                ("encode", InvalidSources::Encode),
                ("drop", InvalidSources::Drop),
            ],
            "encode or drop",
        )?;
        let run_user =
            pick(self.run_user, file.run_user).unwrap_or_else(|| defaults::RUN_USER.into());
        let mut extras = Extras::default();
        for name in pick(self.extras, file.extras)
            .iter()
            .flat_map(|e| e.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            match name {
                "time" => extras.time = true,
                "subject" => extras.subject = true,
                "jenkinsurl" => extras.jenkins_url = true,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "extras",
                        expected: "a comma-separated list of time, subject, jenkinsurl",
                        got: other.into(),
                    });
                }
            }
        }
        let outbox_capacity = match self.outbox_capacity {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    key: "outbox-capacity",
                    expected: "a positive whole number of events",
                    got: v,
                })?,
            None => file.outbox_capacity.unwrap_or(defaults::OUTBOX_CAPACITY),
        };
        let outbox_full = one_of(
            "outbox-full",
            pick(self.outbox_full, file.outbox_full),
            &[
                ("block", OverflowPolicy::Block),
                ("drop-oldest", OverflowPolicy::DropOldest),
            ],
            "block or drop-oldest",
        )?;
        let unstable = one_of(
            "cdevents-unstable",
            pick(self.cdevents_unstable, file.cdevents_unstable),
            &[
                ("success", Unstable::Success),
                ("failure", Unstable::Failure),
            ],
            "success or failure",
        )?;
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
            unstable,
            controller: String::new(),
            name: String::new(),
            job_bodies,
            invalid_sources,
            // An empty --run-user gives null, as under Authorize-Project.
            run_user: (!run_user.is_empty()).then_some(run_user),
            extras,
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
            listen,
            outbox_capacity,
            outbox_full,
        })
    }
}

#[cfg(test)]
mod tests;
