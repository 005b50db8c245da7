//! Values as the options give them (text), checked: durations, URLs, enumerations, TLS files
//! and secret files. Each error names the key and what is expected.

use std::path::Path;
use std::time::Duration;

use super::ConfigError;
use crate::secret::Secret;
use crate::sink::http::Mode;

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
pub(super) const FORMATS: &str = "plugin, cdevents or kubesphere";

/// One of `choices` by name; none given is the first.
pub(super) fn one_of<T: Copy>(
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
pub(super) fn duration_or(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    duration(key, value.as_deref().unwrap_or(default))
}

pub(super) fn mode(key: &'static str, value: &str) -> Result<Mode, ConfigError> {
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
