//! One sink's table (or URL) to the [`SinkConfig`] its sink takes: which sink the URL names,
//! its format, backoff, filter, authentication and TLS, each mistake named by its key.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::file::{SinkEntry, SinkTable};
use super::values::{http_url, read_token, tls};
use crate::event::Format;
use crate::secret::Secret;
use crate::sink::http::{Auth, Batching, Mode};
use crate::sink::nats::{NatsAuth, NatsConfig};
use crate::sink::{SinkConfig, SinkTarget};

/// What a sink table does not say, from the top-level options.
pub(super) struct Defaults {
    /// `sink-timeout`.
    pub timeout: Duration,
    /// `sink-mode`.
    pub mode: Mode,
    /// `sink-format`.
    pub format: Format,
}

/// The `i`th sink entry, checked.
pub(super) fn resolve(
    i: usize,
    entry: SinkEntry,
    defaults: &Defaults,
) -> Result<SinkConfig, ConfigError> {
    let table = match entry {
        SinkEntry::Url(url) => SinkTable {
            url,
            ..SinkTable::default()
        },
        SinkEntry::Table(t) => t,
    };
    let filter =
        crate::sink::Filter::new(&table.types, &table.jobs, &table.controllers).map_err(|e| {
            ConfigError::Invalid {
                key: "sink.types / sink.jobs / sink.controllers",
                expected: "glob patterns such as org.jenkinsci.job.* or team/*",
                got: e.msg.to_string(),
            }
        })?;
    let format = table.format.unwrap_or(defaults.format);
    let backoff = {
        let default = crate::sink::Backoff::default();
        let initial = table.retry_initial.unwrap_or(default.initial);
        let max = table.retry_max.unwrap_or(default.max.max(initial));
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
        return Ok(SinkConfig {
            name: table.name.clone().unwrap_or_else(|| format!("nats-{i}")),
            target: SinkTarget::Nats(nats_sink(table, defaults.timeout)?),
            format,
            backoff,
            filter,
        });
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
            mode: table.mode.unwrap_or(defaults.mode),
            timeout: table.timeout.unwrap_or(defaults.timeout),
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
                max_wait: table.batch_wait.unwrap_or(Batching::default().max_wait),
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
    Ok(SinkConfig {
        name,
        target,
        format,
        backoff,
        filter,
    })
}

pub(super) fn sink_auth(table: &SinkTable) -> Result<Auth, ConfigError> {
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
pub(super) fn nats_sink(
    table: SinkTable,
    default_timeout: Duration,
) -> Result<crate::sink::nats::NatsConfig, ConfigError> {
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
    if table.mode.is_some_and(|m| m != Mode::Structured) {
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
        timeout: table.timeout.unwrap_or(default_timeout),
        auth,
        ca_file: table.ca_file,
    })
}

pub(super) fn sink_headers(
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
