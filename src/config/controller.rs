//! One controller's settings (the flags and top-level keys, or a `[[controller]]` table) to the
//! [`Controller`] a poller takes.

use std::path::PathBuf;

use serde::Deserialize;

use std::time::Duration;

use super::values::{de, http_url, read_token, tls};
use super::{ConfigError, Controller, defaults};
use crate::event::Encoder;
use crate::jenkins::ClientConfig;
use crate::secret::Secret;

/// One controller's settings as given (flags, environment, file), before checking.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct ControllerRaw {
    pub(super) name: Option<String>,
    pub(super) jenkins_url: Option<String>,
    pub(super) jenkins_user: Option<String>,
    pub(super) jenkins_token: Option<Secret>,
    pub(super) jenkins_token_file: Option<PathBuf>,
    pub(super) jenkins_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) jenkins_insecure_skip_verify: bool,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) jenkins_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de::max_response_mb")]
    pub(super) jenkins_max_response_mb: Option<u64>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) scan_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de::folder_depth")]
    pub(super) folder_depth: Option<usize>,
    #[serde(default, deserialize_with = "de::duration")]
    pub(super) backfill: Option<Duration>,
}

impl ControllerRaw {
    /// A `[[controller]]` table: its own URL and credentials; poll settings default to the
    /// top-level ones.
    pub(super) fn under(self, top: &ControllerRaw) -> ControllerRaw {
        ControllerRaw {
            jenkins_timeout: self.jenkins_timeout.or(top.jenkins_timeout),
            jenkins_max_response_mb: self.jenkins_max_response_mb.or(top.jenkins_max_response_mb),
            poll_interval: self.poll_interval.or(top.poll_interval),
            scan_interval: self.scan_interval.or(top.scan_interval),
            folder_depth: self.folder_depth.or(top.folder_depth),
            backfill: self.backfill.or(top.backfill),
            ..self
        }
    }

    pub(super) fn resolve(self, encoder: &Encoder) -> Result<Controller, ConfigError> {
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
        let timeout = self.jenkins_timeout.unwrap_or(defaults::JENKINS_TIMEOUT);
        let poll_interval = self.poll_interval.unwrap_or(defaults::POLL_INTERVAL);
        let scan_interval = self.scan_interval.unwrap_or(defaults::SCAN_INTERVAL);
        let max_response = self
            .jenkins_max_response_mb
            .unwrap_or(defaults::JENKINS_MAX_RESPONSE_MB)
            * 1024
            * 1024;
        let folder_depth = self.folder_depth.unwrap_or(defaults::FOLDER_DEPTH);
        let backfill = self.backfill;
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
