//! The config file (`--config FILE`): its TOML shape, read with serde (unknown keys refused),
//! and its errors as one line that never shows a value.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::controller::ControllerRaw;
use super::values::de;
use crate::event::{Extras, Format, InvalidSources, JobBodies, Unstable};
use crate::secret::Secret;
use crate::sink::http::Mode;
use crate::store::OverflowPolicy;

/// The config file: the same keys as the flags.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct File {
    pub(super) jenkins_url: Option<String>,
    pub(super) jenkins_user: Option<String>,
    pub(super) jenkins_token: Option<Secret>,
    pub(super) jenkins_token_file: Option<PathBuf>,
    pub(super) jenkins_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) jenkins_insecure_skip_verify: bool,
    #[serde(default)]
    pub(super) sink: Vec<SinkEntry>,
    #[serde(default)]
    pub(super) controller: Vec<ControllerRaw>,
    #[serde(default, deserialize_with = "de::mode")]
    pub(super) sink_mode: Option<Mode>,
    #[serde(default, deserialize_with = "de::format")]
    pub(super) sink_format: Option<Format>,
    #[serde(default, deserialize_with = "de::unstable")]
    pub(super) cdevents_unstable: Option<Unstable>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) scan_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de::folder_depth")]
    pub(super) folder_depth: Option<usize>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) jenkins_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de::max_response_mb")]
    pub(super) jenkins_max_response_mb: Option<u64>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) sink_timeout: Option<Duration>,
    pub(super) state_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "de::listen")]
    pub(super) listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "de::job_bodies")]
    pub(super) job_bodies: Option<JobBodies>,
    #[serde(default, deserialize_with = "de::invalid_sources")]
    pub(super) invalid_sources: Option<InvalidSources>,
    pub(super) run_user: Option<String>,
    #[serde(default, deserialize_with = "de::extras")]
    pub(super) extras: Option<Extras>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) backfill: Option<Duration>,
    #[serde(default, deserialize_with = "de::outbox_capacity")]
    pub(super) outbox_capacity: Option<usize>,
    #[serde(default, deserialize_with = "de::outbox_full")]
    pub(super) outbox_full: Option<OverflowPolicy>,
}

/// `sink = ["http://…", { url = "http://…", mode = "structured", name = "argo" }]`.
#[allow(clippy::large_enum_variant)] // built once at start-up: boxing would buy nothing
pub(super) enum SinkEntry {
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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
pub(super) struct SinkTable {
    pub(super) url: String,
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "de::mode")]
    pub(super) mode: Option<Mode>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) timeout: Option<Duration>,
    pub(super) batch_size: Option<usize>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) batch_wait: Option<Duration>,
    #[serde(default)]
    pub(super) types: Vec<String>,
    #[serde(default)]
    pub(super) jobs: Vec<String>,
    #[serde(default)]
    pub(super) controllers: Vec<String>,
    pub(super) bearer_token_env: Option<String>,
    pub(super) bearer_token_file: Option<PathBuf>,
    pub(super) basic_user: Option<String>,
    pub(super) basic_password_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) headers: std::collections::BTreeMap<String, String>,
    pub(super) ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) insecure_skip_verify: bool,
    pub(super) subject: Option<String>,
    #[serde(default, deserialize_with = "de::format")]
    pub(super) format: Option<Format>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) retry_initial: Option<Duration>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) retry_max: Option<Duration>,
}

pub(super) fn read_file(path: &Path) -> Result<File, ConfigError> {
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
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> String {
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
