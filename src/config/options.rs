//! The command line (clap): every option as a flag with its environment twin, each value
//! parsed by clap with the same parser the file uses (`values`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::flag;
use crate::event::{Extras, Format, InvalidSources, JobBodies, Unstable};
use crate::secret::Secret;
use crate::sink::http::Mode;
use crate::store::OverflowPolicy;

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
    #[arg(long, env = "SINK_MODE", value_name = "MODE", value_parser = flag::mode)]
    pub sink_mode: Option<Mode>,
    /// What sinks given on the command line receive: plugin (the CloudEvents plugin's
    /// org.jenkinsci.* events), cdevents (CDEvents v0.5 pipelinerun/taskrun events as
    /// CloudEvents) or kubesphere (generic-event-plugin envelopes for ks-devops). Default: plugin.
    #[arg(long, env = "SINK_FORMAT", value_name = "FORMAT", value_parser = flag::format)]
    pub sink_format: Option<Format>,
    /// What an UNSTABLE build or stage counts as in CDEvents, which has no such outcome:
    /// success or failure. Default: success.
    #[arg(long, env = "CDEVENTS_UNSTABLE", value_name = "OUTCOME", value_parser = flag::unstable)]
    pub cdevents_unstable: Option<Unstable>,
    /// Time between polls of the queue and the executors, e.g. 500ms, 2s. Default: 5s.
    #[arg(long, env = "POLL_INTERVAL", value_name = "DURATION", value_parser = flag::duration)]
    pub poll_interval: Option<Duration>,
    /// Time between full job-tree scans (the safety net for builds missed between polls). Default: 60s.
    #[arg(long, env = "SCAN_INTERVAL", value_name = "DURATION", value_parser = flag::duration)]
    pub scan_interval: Option<Duration>,
    /// Folder levels the job-tree scan descends (deeper jobs are found through their builds). Default: 5.
    #[arg(long, env = "FOLDER_DEPTH", value_name = "N", value_parser = flag::folder_depth)]
    pub folder_depth: Option<usize>,
    /// Timeout of each request to Jenkins. Default: 30s.
    #[arg(long, env = "JENKINS_TIMEOUT", value_name = "DURATION", value_parser = flag::duration)]
    pub jenkins_timeout: Option<Duration>,
    /// Largest Jenkins response read, in MiB (after gzip decoding); a larger one is refused, so
    /// memory stays bounded. A job-tree scan of 10,000 jobs is about 3 MiB. Default: 64.
    #[arg(long, env = "JENKINS_MAX_RESPONSE_MB", value_name = "MIB", value_parser = flag::max_response_mb)]
    pub jenkins_max_response_mb: Option<u64>,
    /// Timeout of each delivery attempt to an HTTP sink. Default: 10s.
    #[arg(long, env = "SINK_TIMEOUT", value_name = "DURATION", value_parser = flag::duration)]
    pub sink_timeout: Option<Duration>,
    /// Directory for the watcher's state (cursor and outbox); without it state is in memory only.
    #[arg(long, env = "STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Address for /healthz, /readyz and /metrics. Default: 0.0.0.0:9102.
    #[arg(long, env = "LISTEN", value_name = "ADDR", value_parser = flag::listen)]
    pub listen: Option<SocketAddr>,
    /// Bodies of org.jenkinsci.job.* events: intended (the plugin's documented JSON) or
    /// plugin-1.0.0 (empty, as the released plugin really sends them). Default: intended.
    #[arg(long, env = "JOB_BODIES", value_name = "MODE", value_parser = flag::job_bodies)]
    pub job_bodies: Option<JobBodies>,
    /// Sources java.net.URI rejects (spaces, {, |, …): encode (percent-encode and emit) or drop
    /// (as the plugin). Default: encode.
    #[arg(long, env = "INVALID_SOURCES", value_name = "MODE", value_parser = flag::invalid_sources)]
    pub invalid_sources: Option<InvalidSources>,
    /// userId/userName of run events (the plugin reports the listener's principal). Default:
    /// SYSTEM; an empty value gives null.
    #[arg(long, env = "RUN_USER", value_name = "NAME")]
    pub run_user: Option<String>,
    /// Attributes the plugin never sets, comma-separated: time, subject, jenkinsurl (the
    /// controller URL as an extension). Default: none, exactly the plugin's attributes.
    #[arg(long, env = "EXTRAS", value_name = "LIST", value_parser = flag::extras)]
    pub extras: Option<Extras>,
    /// On a first start (no saved state), also report builds that started this long ago or
    /// later, e.g. 1h (default: begin at "now").
    #[arg(long, env = "BACKFILL", value_name = "DURATION", value_parser = flag::duration)]
    pub backfill: Option<Duration>,
    /// Most events waiting for delivery. Default: 100000.
    #[arg(long, env = "OUTBOX_CAPACITY", value_name = "N", value_parser = flag::outbox_capacity)]
    pub outbox_capacity: Option<usize>,
    /// When the outbox is full: block (pause polling until a sink catches up; nothing is lost)
    /// or drop-oldest (keep polling, drop the oldest events, logged and counted). Default: block.
    #[arg(long, env = "OUTBOX_FULL", value_name = "POLICY", value_parser = flag::outbox_full)]
    pub outbox_full: Option<OverflowPolicy>,
}
