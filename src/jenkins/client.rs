//! The HTTP client for Jenkins' REST API.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::Error;
use crate::secret::Secret;

/// How to reach one Jenkins controller.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Root URL, e.g. `https://ci.example/jenkins/`.
    pub url: url::Url,
    /// User for Basic auth; none = anonymous.
    pub user: Option<String>,
    /// The user's API token.
    pub token: Option<Secret>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra CAs, or no verification.
    pub tls: crate::tls::Tls,
    /// Largest response body read (bytes, after gzip decoding).
    pub max_response: usize,
}

/// What every response tells besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `X-Jenkins`: the version (distributions may append text).
    pub version: Option<String>,
    /// `X-Jenkins-Session`: new on every restart.
    pub session: Option<String>,
    /// Body bytes as received (after gzip decoding).
    pub bytes: usize,
}

/// A Jenkins REST client: cheap to clone, one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    user: Option<String>,
    token: Option<Secret>,
    timeout: Duration,
    max_response: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client. Fails only if the TLS backend cannot initialise.
    pub fn new(config: ClientConfig) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        // Jenkins localises `why` and offline reasons by request locale; the contract is English.
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = config
            .tls
            .apply(reqwest::Client::builder())
            .default_headers(headers)
            .user_agent(concat!("jenkins-event-shim/", env!("CARGO_PKG_VERSION")))
            .gzip(true)
            // An API call that redirects means a wrong URL or a login proxy: say so, don't follow.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .timeout(config.timeout)
            .build()?;
        let mut base = config.url;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Client {
            http,
            base,
            user: config.user,
            token: config.token,
            timeout: config.timeout,
            max_response: config.max_response,
        })
    }

    /// The root URL we reach Jenkins at.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// GETs `path` (relative to the root, e.g. `queue/api/json`) with an optional `tree=`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        tree: Option<&str>,
    ) -> Result<(T, Meta), Error> {
        let (body, meta, shown) = self.get(path, tree).await?;
        let value = serde_json::from_slice(&body)
            .map_err(|source| Error::Malformed { url: shown, source })?;
        Ok((value, meta))
    }

    /// GETs `path` as text (e.g. `job/x/config.xml`).
    pub async fn get_text(&self, path: &str) -> Result<(String, Meta), Error> {
        let (body, meta, _) = self.get(path, None).await?;
        Ok((String::from_utf8_lossy(&body).into_owned(), meta))
    }

    async fn get(&self, path: &str, tree: Option<&str>) -> Result<(Vec<u8>, Meta, String), Error> {
        let mut url = self.base.join(path).map_err(|e| Error::Connect {
            url: format!("{}{path}", self.base),
            reason: format!("invalid URL: {e}"),
        })?;
        let shown = url.to_string();
        if let Some(tree) = tree {
            url.query_pairs_mut().append_pair("tree", tree);
        }
        let mut request = self.http.get(url);
        if let Some(user) = &self.user {
            // Pre-emptive: Jenkins answers anonymous requests with 403, never a 401 challenge.
            request = request.basic_auth(user, self.token.as_ref().map(Secret::expose));
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport(&shown, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut meta = Meta {
            version: text("x-jenkins"),
            session: text("x-jenkins-session"),
            bytes: 0,
        };
        if !status.is_success() {
            return Err(match status.as_u16() {
                401 => Error::Unauthorized {
                    url: shown,
                    hint: if self.token.is_none() {
                        "it wants credentials and none were sent: set --jenkins-user and --jenkins-token (or --jenkins-token-file)"
                    } else {
                        "it rejected the credentials: check --jenkins-user and the API token (--jenkins-token / --jenkins-token-file); create a token under <user> → Configure → API Token"
                    },
                },
                403 => {
                    let who =
                        text("x-you-are-authenticated-as").unwrap_or_else(|| "anonymous".into());
                    let hint = if self.user.is_none() || who == "anonymous" {
                        "anonymous access is refused: set --jenkins-user and --jenkins-token"
                    } else {
                        "grant this user Overall/Read and Job/Read (a read-only user is enough)"
                    };
                    Error::Forbidden {
                        url: shown,
                        who,
                        hint,
                    }
                }
                404 => Error::NotFound { url: shown },
                300..=399 => Error::Redirect {
                    url: shown,
                    status: status.as_u16(),
                    location: text("location").unwrap_or_default(),
                },
                code => {
                    let body = response.text().await.unwrap_or_default();
                    let first = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    let detail = if first.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", first.chars().take(160).collect::<String>())
                    };
                    Error::Status {
                        url: shown,
                        status: code,
                        detail,
                    }
                }
            });
        }
        // Read in chunks up to the limit: a runaway answer (a proxy's error page looping, a
        // `depth=` gone wrong) must not take the process's memory with it.
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(&shown, e))?
        {
            if body.len() + chunk.len() > self.max_response {
                return Err(Error::TooLarge {
                    url: shown,
                    limit_mb: self.max_response / (1024 * 1024),
                });
            }
            body.extend_from_slice(&chunk);
        }
        meta.bytes = body.len();
        Ok((body, meta, shown))
    }

    fn transport(&self, url: &str, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                url: url.to_string(),
                timeout_ms: self.timeout.as_millis(),
            }
        } else {
            Error::Connect {
                url: url.to_string(),
                reason: crate::tls::transport_cause(&e, "--jenkins-ca-file"),
            }
        }
    }
}
