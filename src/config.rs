//! Every option, once: its CLI flag, its environment twin and its key in the TOML file.
//!
//! Precedence: command line, then environment, then `--config FILE`, then defaults. A bad value
//! anywhere gives one line naming the key and what is expected ([`ConfigError`]); the binary
//! exits 2 on it. Keys in the file are spelled like the flags (`poll-interval = "2s"`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::event::{Encoder, Extras, Format, InvalidSources, JobBodies, Unstable};
use crate::jenkins::ClientConfig;
use crate::secret::Secret;
use crate::sink::http::{Auth, Batching, Mode};
use crate::sink::{SinkConfig, SinkTarget};
use crate::store::OverflowPolicy;

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

/// Options shared by `run`, `check` and `once`. Each is also an environment variable and a key
/// of the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct Options {
    /// TOML file with any of these options (keys spelled like the flags, e.g. `jenkins-url`).
    #[arg(long, env = "SHIM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Jenkins root URL, e.g. https://ci.example/jenkins/.
    #[arg(long, env = "JENKINS_URL", value_name = "URL")]
    pub jenkins_url: Option<String>,
    /// Jenkins user whose API token is used (read-only permissions are enough).
    #[arg(long, env = "JENKINS_USER", value_name = "USER")]
    pub jenkins_user: Option<String>,
    /// The user's API token. Prefer --jenkins-token-file: command lines are visible to others.
    #[arg(
        long,
        env = "JENKINS_API_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub jenkins_token: Option<Secret>,
    /// File holding the API token (e.g. a mounted Kubernetes secret).
    #[arg(long, env = "JENKINS_API_TOKEN_FILE", value_name = "FILE")]
    pub jenkins_token_file: Option<PathBuf>,
    /// PEM bundle of CAs to trust for Jenkins' certificate, besides the usual roots (an
    /// internal CA).
    #[arg(long, env = "JENKINS_CA_FILE", value_name = "FILE")]
    pub jenkins_ca_file: Option<PathBuf>,
    /// Do not verify Jenkins' TLS certificate (testing only; logged as a warning).
    #[arg(long, env = "JENKINS_INSECURE_SKIP_VERIFY")]
    pub jenkins_insecure_skip_verify: bool,
    /// Where to deliver events: an http(s) URL, `stdout`, or `file:///path` (JSON lines).
    /// Repeatable; in the environment, comma-separated.
    #[arg(
        long = "sink",
        env = "SINK_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub sink: Vec<String>,
    /// How HTTP sinks given on the command line carry events: binary (headers, as the plugin),
    /// structured (application/cloudevents+json) or batch (application/cloudevents-batch+json,
    /// only if the receiver asks for it). Default: binary.
    #[arg(long, env = "SINK_MODE", value_name = "MODE")]
    pub sink_mode: Option<String>,
    /// What sinks given on the command line receive: plugin (the CloudEvents plugin's
    /// org.jenkinsci.* events), cdevents (CDEvents v0.5 pipelinerun/taskrun events as
    /// CloudEvents) or kubesphere (generic-event-plugin envelopes for ks-devops). Default: plugin.
    #[arg(long, env = "SINK_FORMAT", value_name = "FORMAT")]
    pub sink_format: Option<String>,
    /// What an UNSTABLE build or stage counts as in CDEvents, which has no such outcome:
    /// success or failure. Default: success.
    #[arg(long, env = "CDEVENTS_UNSTABLE", value_name = "OUTCOME")]
    pub cdevents_unstable: Option<String>,
    /// Time between polls of the queue and the executors, e.g. 500ms, 2s. Default: 5s.
    #[arg(long, env = "POLL_INTERVAL", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// Time between full job-tree scans (the safety net for builds missed between polls). Default: 60s.
    #[arg(long, env = "SCAN_INTERVAL", value_name = "DURATION")]
    pub scan_interval: Option<String>,
    /// Folder levels the job-tree scan descends (deeper jobs are found through their builds). Default: 5.
    #[arg(long, env = "FOLDER_DEPTH", value_name = "N")]
    pub folder_depth: Option<String>,
    /// Timeout of each request to Jenkins. Default: 30s.
    #[arg(long, env = "JENKINS_TIMEOUT", value_name = "DURATION")]
    pub jenkins_timeout: Option<String>,
    /// Largest Jenkins response read, in MiB (after gzip decoding); a larger one is refused, so
    /// memory stays bounded. A job-tree scan of 10,000 jobs is about 3 MiB. Default: 64.
    #[arg(long, env = "JENKINS_MAX_RESPONSE_MB", value_name = "MIB")]
    pub jenkins_max_response_mb: Option<String>,
    /// Timeout of each delivery attempt to an HTTP sink. Default: 10s.
    #[arg(long, env = "SINK_TIMEOUT", value_name = "DURATION")]
    pub sink_timeout: Option<String>,
    /// Directory for the watcher's state (cursor and outbox); without it state is in memory only.
    #[arg(long, env = "STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Address for /healthz, /readyz and /metrics. Default: 0.0.0.0:9102.
    #[arg(long, env = "LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Bodies of org.jenkinsci.job.* events: intended (the plugin's documented JSON) or
    /// plugin-1.0.0 (empty, as the released plugin really sends them). Default: intended.
    #[arg(long, env = "JOB_BODIES", value_name = "MODE")]
    pub job_bodies: Option<String>,
    /// Sources java.net.URI rejects (spaces, {, |, …): encode (percent-encode and emit) or drop
    /// (as the plugin). Default: encode.
    #[arg(long, env = "INVALID_SOURCES", value_name = "MODE")]
    pub invalid_sources: Option<String>,
    /// userId/userName of run events (the plugin reports the listener's principal). Default:
    /// SYSTEM; an empty value gives null.
    #[arg(long, env = "RUN_USER", value_name = "NAME")]
    pub run_user: Option<String>,
    /// Attributes the plugin never sets, comma-separated: time, subject, jenkinsurl (the
    /// controller URL as an extension). Default: none, exactly the plugin's attributes.
    #[arg(long, env = "EXTRAS", value_name = "LIST")]
    pub extras: Option<String>,
    /// On a first start (no saved state), also report builds that started this long ago or
    /// later, e.g. 1h (default: begin at "now").
    #[arg(long, env = "BACKFILL", value_name = "DURATION")]
    pub backfill: Option<String>,
    /// Most events waiting for delivery. Default: 100000.
    #[arg(long, env = "OUTBOX_CAPACITY", value_name = "N")]
    pub outbox_capacity: Option<String>,
    /// When the outbox is full: block (pause polling until a sink catches up; nothing is lost)
    /// or drop-oldest (keep polling, drop the oldest events, logged and counted). Default: block.
    #[arg(long, env = "OUTBOX_FULL", value_name = "POLICY")]
    pub outbox_full: Option<String>,
}

/// The config file: the same keys as the flags.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    jenkins_url: Option<String>,
    jenkins_user: Option<String>,
    jenkins_token: Option<Secret>,
    jenkins_token_file: Option<PathBuf>,
    jenkins_ca_file: Option<PathBuf>,
    #[serde(default)]
    jenkins_insecure_skip_verify: bool,
    #[serde(default)]
    sink: Vec<SinkEntry>,
    #[serde(default)]
    controller: Vec<ControllerRaw>,
    sink_mode: Option<String>,
    sink_format: Option<String>,
    cdevents_unstable: Option<String>,
    poll_interval: Option<String>,
    scan_interval: Option<String>,
    folder_depth: Option<usize>,
    jenkins_timeout: Option<String>,
    jenkins_max_response_mb: Option<u64>,
    sink_timeout: Option<String>,
    state_dir: Option<PathBuf>,
    listen: Option<String>,
    job_bodies: Option<String>,
    invalid_sources: Option<String>,
    run_user: Option<String>,
    extras: Option<String>,
    backfill: Option<String>,
    outbox_capacity: Option<usize>,
    outbox_full: Option<String>,
}

/// `sink = ["http://…", { url = "http://…", mode = "structured", name = "argo" }]`.
#[allow(clippy::large_enum_variant)] // built once at start-up: boxing would buy nothing
enum SinkEntry {
    Url(String),
    Table(SinkTable),
}

/// A string or a table, read by what it is, so that a mistake inside a table is reported with
/// its key (serde's `untagged` would only say that nothing matched).
impl<'de> Deserialize<'de> for SinkEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = SinkEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sink URL or a table with url = \"…\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SinkEntry, E> {
                Ok(SinkEntry::Url(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SinkEntry, A::Error> {
                SinkTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SinkEntry::Table)
            }
        }
        d.deserialize_any(Entry)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
struct SinkTable {
    url: String,
    name: Option<String>,
    mode: Option<String>,
    timeout: Option<String>,
    batch_size: Option<usize>,
    batch_wait: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    jobs: Vec<String>,
    #[serde(default)]
    controllers: Vec<String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    basic_user: Option<String>,
    basic_password_file: Option<PathBuf>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
    subject: Option<String>,
    format: Option<String>,
    retry_initial: Option<String>,
    retry_max: Option<String>,
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

/// Parses `500ms`, `2s`, `1m30s`.
pub fn duration(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    // Nothing here means more than a month; far larger values overflow the clock's arithmetic.
    const MAX: Duration = Duration::from_secs(30 * 24 * 3600);
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() && d <= MAX => Ok(d),
        _ => Err(ConfigError::Invalid {
            key,
            expected: "a positive duration of at most 30 days, such as 500ms, 2s or 1m",
            got: value.into(),
        }),
    }
}

/// The accepted spellings of a sink format.
const FORMATS: &str = "plugin, cdevents or kubesphere";

/// One of `choices` by name; none given is the first.
fn one_of<T: Copy>(
    key: &'static str,
    value: Option<String>,
    choices: &[(&str, T)],
    expected: &'static str,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(choices[0].1);
    };
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or(ConfigError::Invalid {
            key,
            expected,
            got: value,
        })
}

/// A duration given, or the default.
fn duration_or(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    duration(key, value.as_deref().unwrap_or(default))
}

fn mode(key: &'static str, value: &str) -> Result<Mode, ConfigError> {
    match value {
        "binary" => Ok(Mode::Binary),
        "structured" => Ok(Mode::Structured),
        "batch" => Ok(Mode::Batch),
        _ => Err(ConfigError::Invalid {
            key,
            expected: "binary, structured or batch",
            got: value.into(),
        }),
    }
}

fn http_url(key: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    let credentials_hint = if key == "jenkins-url" {
        "credentials in jenkins-url would be logged: use --jenkins-user and --jenkins-token-file instead"
    } else {
        "credentials in a sink URL would be logged: use bearer-token-file, or basic-user and basic-password, in the sink's table instead"
    };
    let invalid = || ConfigError::Invalid {
        key,
        expected: "an http:// or https:// URL",
        got: redact_userinfo(value),
    };
    let url = url::Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::Conflict(credentials_hint));
    }
    Ok(url)
}

/// `http://user:pass@host/` → `http://***@host/`: values are echoed in errors, secrets never.
fn redact_userinfo(value: &str) -> String {
    match (value.find("://"), value.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &value[..s + 3], &value[at..]),
        _ => value.to_string(),
    }
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
        let mut sinks = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let table = match entry {
                SinkEntry::Url(url) => SinkTable {
                    url,
                    name: None,
                    mode: None,
                    timeout: None,
                    batch_size: None,
                    batch_wait: None,
                    types: Vec::new(),
                    jobs: Vec::new(),
                    controllers: Vec::new(),
                    bearer_token_env: None,
                    bearer_token_file: None,
                    basic_user: None,
                    basic_password_file: None,
                    headers: Default::default(),
                    ca_file: None,
                    insecure_skip_verify: false,
                    subject: None,
                    format: None,
                    retry_initial: None,
                    retry_max: None,
                },
                SinkEntry::Table(t) => t,
            };
            let filter = crate::sink::Filter::new(&table.types, &table.jobs, &table.controllers)
                .map_err(|e| ConfigError::Invalid {
                    key: "sink.types / sink.jobs / sink.controllers",
                    expected: "glob patterns such as org.jenkinsci.job.* or team/*",
                    got: e.msg.to_string(),
                })?;
            let format = match &table.format {
                Some(f) => Format::parse(f).ok_or(ConfigError::Invalid {
                    key: "sink.format",
                    expected: FORMATS,
                    got: f.clone(),
                })?,
                None => default_format,
            };
            let backoff = {
                let default = crate::sink::Backoff::default();
                let initial = match &table.retry_initial {
                    Some(d) => duration("sink.retry-initial", d)?,
                    None => default.initial,
                };
                let max = match &table.retry_max {
                    Some(d) => duration("sink.retry-max", d)?,
                    None => default.max.max(initial),
                };
                if max < initial {
                    return Err(ConfigError::Conflict(
                        "sink.retry-max is shorter than sink.retry-initial",
                    ));
                }
                crate::sink::Backoff { initial, max }
            };
            let is_nats = ["nats://", "tls://"]
                .iter()
                .any(|scheme| table.url.trim().starts_with(scheme));
            if table.subject.is_some() && !is_nats {
                return Err(ConfigError::Conflict(
                    "sink.subject is for nats:// sinks only",
                ));
            }
            if is_nats {
                sinks.push(SinkConfig {
                    name: table.name.clone().unwrap_or_else(|| format!("nats-{i}")),
                    target: SinkTarget::Nats(nats_sink(table, sink_timeout)?),
                    format,
                    backoff,
                    filter,
                });
                continue;
            }
            let auth = sink_auth(&table)?;
            let tls = tls(
                "sink.ca-file",
                table.ca_file.as_deref(),
                table.insecure_skip_verify,
            )?;
            let headers = sink_headers(&table.headers)?;
            let target = if matches!(table.url.as_str(), "stdout" | "-") {
                SinkTarget::Stdout
            } else if let Some(path) = table
                .url
                .strip_prefix("file://")
                .or_else(|| table.url.strip_prefix("file:"))
            {
                SinkTarget::File(PathBuf::from(path))
            } else {
                SinkTarget::Http {
                    url: http_url("sink", table.url.trim())?,
                    mode: match &table.mode {
                        Some(m) => mode("sink.mode", m)?,
                        None => default_mode,
                    },
                    timeout: match &table.timeout {
                        Some(t) => duration("sink.timeout", t)?,
                        None => sink_timeout,
                    },
                    batching: Batching {
                        max_events: match table.batch_size {
                            Some(0) => {
                                return Err(ConfigError::Invalid {
                                    key: "sink.batch-size",
                                    expected: "a positive number of events",
                                    got: "0".into(),
                                });
                            }
                            Some(n) => n,
                            None => Batching::default().max_events,
                        },
                        max_wait: match &table.batch_wait {
                            Some(w) => duration("sink.batch-wait", w)?,
                            None => Batching::default().max_wait,
                        },
                    },
                    auth,
                    headers,
                    tls,
                }
            };
            if format == Format::KubeSphere
                && matches!(
                    &target,
                    SinkTarget::Http {
                        auth: Auth::Basic { .. },
                        ..
                    }
                )
            {
                return Err(ConfigError::Conflict(
                    "a kubesphere sink cannot use basic auth: KubeSphere's API server answers an Authorization header it does not accept with 401, so no PipelineRun would ever be created; remove basic-user and basic-password-file (the in-cluster ks-devops webhook needs none)",
                ));
            }
            if format == Format::KubeSphere
                && matches!(&target, SinkTarget::Http { mode, .. } if *mode != Mode::Binary)
            {
                return Err(ConfigError::Conflict(
                    "a kubesphere sink sends generic-event envelopes (plain JSON, one per request): remove its mode (structured and batch are CloudEvents modes)",
                ));
            }
            let name = table.name.unwrap_or_else(|| match &target {
                SinkTarget::Stdout => "stdout".into(),
                SinkTarget::File(_) => format!("file-{i}"),
                SinkTarget::Http { .. } => format!("http-{i}"),
                SinkTarget::Nats(_) => format!("nats-{i}"),
            });
            sinks.push(SinkConfig {
                name,
                target,
                format,
                backoff,
                filter,
            });
        }
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

/// One controller's settings as given (flags, environment, file), before checking.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ControllerRaw {
    name: Option<String>,
    jenkins_url: Option<String>,
    jenkins_user: Option<String>,
    jenkins_token: Option<Secret>,
    jenkins_token_file: Option<PathBuf>,
    jenkins_ca_file: Option<PathBuf>,
    #[serde(default)]
    jenkins_insecure_skip_verify: bool,
    jenkins_timeout: Option<String>,
    #[serde(default, deserialize_with = "number_or_text")]
    jenkins_max_response_mb: Option<String>,
    poll_interval: Option<String>,
    scan_interval: Option<String>,
    #[serde(default, deserialize_with = "number_or_text")]
    folder_depth: Option<String>,
    backfill: Option<String>,
}

/// `folder-depth = 3` in a file, `"3"` from a flag: the same check for both.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::Number(n) => n.to_string(),
        Raw::Text(t) => t,
    }))
}

impl ControllerRaw {
    /// A `[[controller]]` table: its own URL and credentials; poll settings default to the
    /// top-level ones.
    fn under(self, top: &ControllerRaw) -> ControllerRaw {
        ControllerRaw {
            jenkins_timeout: self.jenkins_timeout.or(top.jenkins_timeout.clone()),
            jenkins_max_response_mb: self
                .jenkins_max_response_mb
                .or(top.jenkins_max_response_mb.clone()),
            poll_interval: self.poll_interval.or(top.poll_interval.clone()),
            scan_interval: self.scan_interval.or(top.scan_interval.clone()),
            folder_depth: self.folder_depth.or(top.folder_depth.clone()),
            backfill: self.backfill.or(top.backfill.clone()),
            ..self
        }
    }

    fn resolve(self, encoder: &Encoder) -> Result<Controller, ConfigError> {
        let url = self.jenkins_url.ok_or(ConfigError::Missing {
            key: "jenkins-url",
            hint: "set --jenkins-url, JENKINS_URL or jenkins-url in the config file (in each [[controller]] table)",
        })?;
        let url = http_url("jenkins-url", &url)?;
        let user = self.jenkins_user.filter(|u| !u.is_empty());
        let token = match (
            self.jenkins_token.filter(|t| !t.is_empty()),
            self.jenkins_token_file,
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "both jenkins-token and jenkins-token-file are set: keep one",
                ));
            }
            (Some(t), None) => Some(t),
            (None, Some(path)) => Some(read_token(&path)?),
            (None, None) => None,
        };
        if token.is_some() && user.is_none() {
            return Err(ConfigError::Missing {
                key: "jenkins-user",
                hint: "an API token needs its user: set --jenkins-user or JENKINS_USER",
            });
        }
        let tls = tls(
            "jenkins-ca-file",
            self.jenkins_ca_file.as_deref(),
            self.jenkins_insecure_skip_verify,
        )?;
        let timeout = duration_or(
            "jenkins-timeout",
            self.jenkins_timeout,
            defaults::JENKINS_TIMEOUT,
        )?;
        let poll_interval =
            duration_or("poll-interval", self.poll_interval, defaults::POLL_INTERVAL)?;
        let scan_interval =
            duration_or("scan-interval", self.scan_interval, defaults::SCAN_INTERVAL)?;
        let max_response = match self.jenkins_max_response_mb {
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|m| (1..=4096).contains(m))
                .ok_or(ConfigError::Invalid {
                    key: "jenkins-max-response-mb",
                    expected: "a whole number of MiB from 1 to 4096",
                    got: v,
                })?,
            None => defaults::JENKINS_MAX_RESPONSE_MB,
        } * 1024
            * 1024;
        let folder_depth = match self.folder_depth {
            Some(v) => {
                v.parse()
                    .ok()
                    .filter(|d| (1..=20).contains(d))
                    .ok_or(ConfigError::Invalid {
                        key: "folder-depth",
                        expected: "a whole number from 1 to 20",
                        got: v,
                    })?
            }
            None => defaults::FOLDER_DEPTH,
        };
        let backfill = self
            .backfill
            .map(|b| duration("backfill", &b))
            .transpose()?;
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| url.host_str().unwrap_or("jenkins").to_string());
        Ok(Controller {
            encoder: Encoder {
                controller: url.to_string(),
                name: name.clone(),
                ..encoder.clone()
            },
            name,
            jenkins: ClientConfig {
                url,
                user,
                token,
                timeout,
                tls,
                max_response: max_response as usize,
            },
            poll_interval,
            scan_interval,
            folder_depth,
            backfill,
        })
    }
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: shown.clone(),
        reason: format!("cannot read the config file: {e}"),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: shown,
        reason: toml_error(&text, &e),
    })
}

/// A TOML error as one line that names the line and the key but never a value: the file holds
/// tokens and passwords, and toml's own rendering quotes the offending line. Its message alone
/// can still carry a value (serde's `invalid type: string "…"`), so quoted text and the value
/// of the offending line are blanked out too.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line_start = e.span().map(|s| {
        text[..s.start.min(text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1)
    });
    let line_no = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let offending = line_start
        .map(|start| text[start..].lines().next().unwrap_or(""))
        .unwrap_or("");
    let (key, value) = match offending.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim().trim_matches(|c| c == '"' || c == '\'')),
        None => (offending.trim(), ""),
    };
    let mut message = e.message().lines().collect::<Vec<_>>().join(" ");
    if value.len() >= 3 {
        message = message.replace(value, "…");
    }
    let mut scrubbed = String::new();
    let mut in_quotes = false;
    let mut in_code = false; // `…`: a key name or a character toml expected
    for c in message.chars() {
        if c == '`' && !in_quotes {
            in_code = !in_code;
            scrubbed.push(c);
        } else if c == '"' && !in_code {
            if !in_quotes {
                scrubbed.push_str("\"…\"");
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            scrubbed.push(c);
        }
    }
    let key = key.trim_start_matches('[').trim_end_matches(']');
    // A key is named when it looks like one (kebab-case words); anything else in key position
    // (a pasted token, a broken line) is not repeated.
    let key_named = !key.is_empty()
        && key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        })
        && key.chars().filter(char::is_ascii_digit).count() < 4;
    if !key_named && key.len() >= 3 {
        scrubbed = scrubbed.replace(key, "…");
    }
    match (line_no, key_named) {
        (Some(n), true) => format!("line {n} (key {key}): {scrubbed}"),
        (Some(n), false) => format!("line {n}: {scrubbed}"),
        _ => scrubbed,
    }
}

fn tls(
    key: &'static str,
    ca_file: Option<&Path>,
    insecure: bool,
) -> Result<crate::tls::Tls, ConfigError> {
    let extra_roots = match ca_file {
        Some(path) => crate::tls::Tls::read_ca_file(path).map_err(|reason| ConfigError::File {
            path: format!("{key} {}", path.display()),
            reason,
        })?,
        None => Vec::new(),
    };
    Ok(crate::tls::Tls {
        extra_roots,
        insecure_skip_verify: insecure,
    })
}

fn sink_auth(table: &SinkTable) -> Result<Auth, ConfigError> {
    Ok(
        match (
            &table.bearer_token_env,
            &table.bearer_token_file,
            &table.basic_user,
        ) {
            (None, None, None) => Auth::None,
            (Some(var), None, None) => match std::env::var(var) {
                Ok(token) if !token.is_empty() => Auth::Bearer(Secret::new(token)),
                _ => {
                    return Err(ConfigError::Missing {
                        key: "sink.bearer-token-env",
                        hint: "the environment variable it names is not set or empty",
                    });
                }
            },
            (None, Some(path), None) => {
                read_token(path)?; // fail now, not at the first delivery
                Auth::BearerFile(path.clone())
            }
            (None, None, Some(user)) => {
                let path = table
                    .basic_password_file
                    .as_ref()
                    .ok_or(ConfigError::Missing {
                        key: "sink.basic-password-file",
                        hint: "basic-user needs basic-password-file",
                    })?;
                Auth::Basic {
                    user: user.clone(),
                    password: read_token(path)?,
                }
            }
            _ => {
                return Err(ConfigError::Conflict(
                    "a sink takes one of bearer-token-env, bearer-token-file or basic-user",
                ));
            }
        },
    )
}

/// A `nats://` (or `tls://`) sink: the subject is required; bearer settings give a token,
/// basic settings a user and password; HTTP-only keys are refused rather than ignored.
fn nats_sink(
    table: SinkTable,
    default_timeout: Duration,
) -> Result<crate::sink::nats::NatsConfig, ConfigError> {
    use crate::sink::nats::{NatsAuth, NatsConfig};
    let subject = match table.subject.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains(['*', '>']) => {
            s.to_string()
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "sink.subject",
                expected: "a NATS subject without spaces or wildcards, e.g. jenkins.events",
                got: other.into(),
            });
        }
        None => {
            return Err(ConfigError::Missing {
                key: "sink.subject",
                hint: "a nats:// sink needs the subject to publish to, e.g. subject = \"jenkins.events\"",
            });
        }
    };
    if table.mode.as_deref().is_some_and(|m| m != "structured") {
        return Err(ConfigError::Conflict(
            "a nats:// sink publishes structured CloudEvents: remove sink.mode or set it to structured",
        ));
    }
    if !table.headers.is_empty() || table.batch_size.is_some() || table.batch_wait.is_some() {
        return Err(ConfigError::Conflict(
            "sink.headers, batch-size and batch-wait are for HTTP sinks, not nats://",
        ));
    }
    if table.insecure_skip_verify {
        return Err(ConfigError::Conflict(
            "insecure-skip-verify is not offered for nats:// sinks: set ca-file to the server's CA bundle",
        ));
    }
    if url::Url::parse(table.url.trim())
        .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        return Err(ConfigError::Conflict(
            "credentials in a URL would be logged: use basic-user and basic-password-file (or bearer-token-file for a NATS token)",
        ));
    }
    let auth = match sink_auth(&table)? {
        Auth::None => NatsAuth::None,
        Auth::Bearer(token) => NatsAuth::Token(token),
        // NATS authenticates once per connection: the file is read at start.
        Auth::BearerFile(path) => NatsAuth::Token(read_token(&path)?),
        Auth::Basic { user, password } => NatsAuth::UserPassword { user, password },
    };
    if let Some(path) = &table.ca_file {
        tls("sink.ca-file", Some(path), false)?; // fail now, naming the file
    }
    Ok(NatsConfig {
        url: table.url.trim().to_string(),
        subject,
        timeout: match &table.timeout {
            Some(t) => duration("sink.timeout", t)?,
            None => default_timeout,
        },
        auth,
        ca_file: table.ca_file,
    })
}

fn sink_headers(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(String, Secret)>, ConfigError> {
    headers
        .iter()
        .map(|(name, value)| {
            let ok = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && http::HeaderValue::from_str(value).is_ok();
            if ok {
                Ok((name.clone(), Secret::new(value.clone())))
            } else {
                Err(ConfigError::Invalid {
                    key: "sink.headers",
                    expected: "header names and visible-ASCII values",
                    got: name.clone(),
                })
            }
        })
        .collect()
}

/// Reads a secret from a file (trimmed); the error names the file, never the content.
fn read_token(path: &Path) -> Result<Secret, ConfigError> {
    Secret::from_file(path).map_err(|e| ConfigError::File {
        path: e.path.display().to_string(),
        reason: e.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            poll_interval: Some("750ms".into()),
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
        let err =
            resolve(r#"{ url = "nats://bus:4222", subject = "a", insecure-skip-verify = true }"#)
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
}
