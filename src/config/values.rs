//! Values as the options give them (text), checked: durations, numbers, enumerations, URLs, TLS
//! files and secret files. Each error names the key and what is expected.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::event::{Extras, Format, InvalidSources, JobBodies, Unstable};
use crate::secret::Secret;
use crate::sink::http::Mode;
use crate::store::OverflowPolicy;

/// A value as the options spell it, from a flag, the environment or the file: clap parses flags
/// and the environment with [`Kind::flag`] (`value_parser`), serde the file with a
/// `deserialize_with` function built on [`Kind::file`]. One spelling and one error wording
/// per kind of value, whatever the source.
pub(super) struct Kind<T> {
    /// What an error says is expected.
    pub expected: &'static str,
    /// The value, if the (trimmed) text spells one.
    pub parse: fn(&str) -> Option<T>,
}

impl<T> Kind<T> {
    /// clap's value parser: the message is completed with the flag and the value by `main`.
    pub fn flag(&self, text: &str) -> Result<T, String> {
        (self.parse)(text.trim()).ok_or_else(|| format!("expected {}", self.expected))
    }

    /// serde's side: a string (or a TOML number, read as its digits) that spells a value.
    pub fn file<'de, D: serde::Deserializer<'de>>(&self, d: D) -> Result<Option<T>, D::Error> {
        let Some(Text(text)) = Option::<Text>::deserialize(d)? else {
            return Ok(None);
        };
        (self.parse)(text.trim()).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected {}, got {text:?}", self.expected))
        })
    }

    /// A value that already came as text (a sink given as a URL on the command line): the
    /// error names `key`.
    pub fn check(&self, key: &'static str, text: &str) -> Result<T, ConfigError> {
        (self.parse)(text.trim()).ok_or(ConfigError::Invalid {
            key,
            expected: self.expected,
            got: text.into(),
        })
    }
}

/// A TOML string or number, as text.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        Ok(Text(match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        }))
    }
}

/// One of a kind's spellings.
fn one_of<T: Copy>(text: &str, spellings: &[(&str, T)]) -> Option<T> {
    spellings
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, value)| *value)
}

/// `500ms`, `2s`, `1m30s`: positive, at most 30 days (far larger values overflow the clock's
/// arithmetic, and nothing here means more than a month).
pub(super) const DURATION: Kind<Duration> = Kind {
    expected: "a positive duration of at most 30 days, such as 500ms, 2s or 1m",
    parse: |t| {
        humantime::parse_duration(t)
            .ok()
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(30 * 24 * 3600))
    },
};

/// `--folder-depth`.
pub(super) const FOLDER_DEPTH: Kind<usize> = Kind {
    expected: "a whole number from 1 to 20",
    parse: |t| t.parse().ok().filter(|d| (1..=20).contains(d)),
};

/// `--jenkins-max-response-mb`.
pub(super) const MAX_RESPONSE_MB: Kind<u64> = Kind {
    expected: "a whole number of MiB from 1 to 4096",
    parse: |t| t.parse().ok().filter(|m| (1..=4096).contains(m)),
};

/// `--outbox-capacity`.
pub(super) const OUTBOX_CAPACITY: Kind<usize> = Kind {
    expected: "a positive whole number of events",
    parse: |t| t.parse().ok().filter(|n| *n > 0),
};

/// `--listen`.
pub(super) const LISTEN: Kind<SocketAddr> = Kind {
    expected: "an address such as 0.0.0.0:9102 or 127.0.0.1:9102",
    parse: |t| t.parse().ok(),
};

/// `--sink-mode`, a sink's `mode`.
pub(super) const MODE: Kind<Mode> = Kind {
    expected: "binary, structured or batch",
    parse: |t| {
        one_of(
            t,
            &[
                ("binary", Mode::Binary),
                ("structured", Mode::Structured),
                ("batch", Mode::Batch),
            ],
        )
    },
};

/// `--sink-format`, a sink's `format`.
pub(super) const FORMAT: Kind<Format> = Kind {
    expected: "plugin, cdevents or kubesphere",
    parse: Format::parse,
};

/// `--cdevents-unstable`.
pub(super) const UNSTABLE: Kind<Unstable> = Kind {
    expected: "success or failure",
    parse: |t| {
        one_of(
            t,
            &[
                ("success", Unstable::Success),
                ("failure", Unstable::Failure),
            ],
        )
    },
};

/// `--job-bodies`.
pub(super) const JOB_BODIES: Kind<JobBodies> = Kind {
    expected: "intended or plugin-1.0.0",
    parse: |t| {
        one_of(
            t,
            &[
                ("intended", JobBodies::Intended),
                ("plugin-1.0.0", JobBodies::Plugin100),
            ],
        )
    },
};

/// `--invalid-sources`.
pub(super) const INVALID_SOURCES: Kind<InvalidSources> = Kind {
    expected: "encode or drop",
    parse: |t| {
        one_of(
            t,
            &[
                ("encode", InvalidSources::Encode),
                ("drop", InvalidSources::Drop),
            ],
        )
    },
};

/// `--outbox-full`.
pub(super) const OUTBOX_FULL: Kind<OverflowPolicy> = Kind {
    expected: "block or drop-oldest",
    parse: |t| {
        one_of(
            t,
            &[
                ("block", OverflowPolicy::Block),
                ("drop-oldest", OverflowPolicy::DropOldest),
            ],
        )
    },
};

/// `--extras`: a comma-separated list.
pub(super) const EXTRAS: Kind<Extras> = Kind {
    expected: "a comma-separated list of time, subject, jenkinsurl",
    parse: |t| {
        let mut extras = Extras::default();
        for name in t.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match name {
                "time" => extras.time = true,
                "subject" => extras.subject = true,
                "jenkinsurl" => extras.jenkins_url = true,
                _ => return None,
            }
        }
        Some(extras)
    },
};

/// Parses `500ms`, `2s`, `1m30s` (the `DURATION` kind); the error names `key`.
pub fn duration(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    DURATION.check(key, value)
}

/// serde `deserialize_with` functions, one per kind (serde takes a path, not a value).
pub(super) mod de {
    use super::*;

    macro_rules! file {
        ($($name:ident: $ty:ty = $kind:ident;)*) => {$(
            #[doc = concat!("A `", stringify!($kind), "` in the file.")]
            pub fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                $kind.file(d)
            }
        )*};
    }

    file! {
        duration: Duration = DURATION;
        folder_depth: usize = FOLDER_DEPTH;
        max_response_mb: u64 = MAX_RESPONSE_MB;
        outbox_capacity: usize = OUTBOX_CAPACITY;
        listen: SocketAddr = LISTEN;
        mode: Mode = MODE;
        format: Format = FORMAT;
        unstable: Unstable = UNSTABLE;
        job_bodies: JobBodies = JOB_BODIES;
        invalid_sources: InvalidSources = INVALID_SOURCES;
        outbox_full: OverflowPolicy = OUTBOX_FULL;
        extras: Extras = EXTRAS;
    }
}

/// clap `value_parser` functions, one per kind.
pub mod flag {
    use super::*;

    macro_rules! flag {
        ($($name:ident: $ty:ty = $kind:ident;)*) => {$(
            #[doc = concat!("A `", stringify!($kind), "` flag or environment value.")]
            pub fn $name(text: &str) -> Result<$ty, String> {
                $kind.flag(text)
            }
        )*};
    }

    flag! {
        duration: Duration = DURATION;
        folder_depth: usize = FOLDER_DEPTH;
        max_response_mb: u64 = MAX_RESPONSE_MB;
        outbox_capacity: usize = OUTBOX_CAPACITY;
        listen: SocketAddr = LISTEN;
        mode: Mode = MODE;
        format: Format = FORMAT;
        unstable: Unstable = UNSTABLE;
        job_bodies: JobBodies = JOB_BODIES;
        invalid_sources: InvalidSources = INVALID_SOURCES;
        outbox_full: OverflowPolicy = OUTBOX_FULL;
        extras: Extras = EXTRAS;
    }
}

pub(super) fn http_url(key: &'static str, value: &str) -> Result<url::Url, ConfigError> {
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
pub(super) fn redact_userinfo(value: &str) -> String {
    match (value.find("://"), value.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &value[..s + 3], &value[at..]),
        _ => value.to_string(),
    }
}

pub(super) fn tls(
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

/// Reads a secret from a file (trimmed); the error names the file, never the content.
pub(super) fn read_token(path: &Path) -> Result<Secret, ConfigError> {
    Secret::from_file(path).map_err(|e| ConfigError::File {
        path: e.path.display().to_string(),
        reason: e.reason,
    })
}
