//! The command line (clap): every option as a flag with its environment twin.

use std::path::PathBuf;

use clap::Args;

use crate::secret::Secret;

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
