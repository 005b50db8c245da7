//! Secrets (the Jenkins token, sink credentials and header values): a value that no `Debug`,
//! `Display`, log line, error or metric can show, and the one reader of secret files.

use std::path::{Path, PathBuf};

/// A secret whose `Debug` never shows it (it has no `Display`).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret file that cannot be used; names the file, never its content.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct SecretFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl Secret {
    /// Reads a secret from a file, trimmed (Kubernetes mounts Secrets as files, often with a
    /// trailing newline).
    pub fn from_file(path: &Path) -> Result<Secret, SecretFileError> {
        let error = |reason: String| SecretFileError {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| error(format!("cannot read the secret file: {e}")))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(error("the secret file is empty".into()));
        }
        Ok(Secret::new(token))
    }
}
