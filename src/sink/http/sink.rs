//! The HTTP client side of a sink.

use std::time::{Duration, SystemTime};

use cloudevents::Event;

use super::{Auth, Mode};
use crate::event::Payload;
use crate::secret::Secret;
use crate::sink::classify::{Verdict, classify};
use crate::sink::encoding::{encode_batch, encode_binary, encode_generic, encode_structured};
use crate::sink::{Cause, SendError};

/// An HTTP CloudEvents receiver.
#[derive(Debug)]
pub struct HttpSink {
    client: reqwest::Client,
    url: url::Url,
    mode: Mode,
    auth: Auth,
    headers: Vec<(String, Secret)>,
    /// Per-attempt timeout (named when an attempt times out).
    timeout: Duration,
    /// A token file's last modification time and content, re-read when the file changes.
    token_cache: std::sync::Mutex<Option<(std::time::SystemTime, Secret)>>,
    /// It is ks-devops's webhook (the `kubesphere` format): answers are explained in its terms.
    kubesphere: bool,
}

impl HttpSink {
    /// A client with the sink's timeout; redirects are never followed (webhook spec).
    pub fn new(url: url::Url, mode: Mode, timeout: Duration) -> Result<HttpSink, reqwest::Error> {
        Self::with_tls(url, mode, timeout, &crate::tls::Tls::default())
    }

    /// A client with the sink's timeout and TLS settings.
    pub fn with_tls(
        url: url::Url,
        mode: Mode,
        timeout: Duration,
        tls: &crate::tls::Tls,
    ) -> Result<HttpSink, reqwest::Error> {
        let client = tls
            .apply(reqwest::Client::builder())
            .user_agent(concat!("jenkins-event-shim/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()?;
        Ok(HttpSink {
            client,
            url,
            mode,
            auth: Auth::None,
            headers: Vec::new(),
            timeout,
            token_cache: std::sync::Mutex::new(None),
            kubesphere: false,
        })
    }

    /// The limit of one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Explains answers as ks-devops's webhook gives them (the `kubesphere` format).
    pub fn for_kubesphere(mut self, kubesphere: bool) -> HttpSink {
        self.kubesphere = kubesphere;
        self
    }

    /// Adds authentication and extra headers.
    pub fn with_auth(mut self, auth: Auth, headers: Vec<(String, Secret)>) -> HttpSink {
        self.auth = auth;
        self.headers = headers;
        self
    }

    /// The bearer token from its file, read again only when the file's mtime changed.
    fn file_token(&self, path: &std::path::Path) -> Result<Secret, SendError> {
        let unreadable = |e: String| SendError::Retry {
            reason: format!("bearer token file {}: {e}", path.display()),
            cause: Cause::AuthConfig,
            after: None,
        };
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| unreadable(e.to_string()))?;
        let mut cache = self.token_cache.lock().expect("token cache lock");
        if let Some((seen, token)) = cache.as_ref()
            && *seen == mtime
        {
            return Ok(token.clone());
        }
        let token = Secret::from_file(path).map_err(|e| unreadable(e.reason))?;
        *cache = Some((mtime, token.clone()));
        Ok(token)
    }

    /// POSTs one event and classifies the answer.
    pub async fn send(&self, payload: &Payload) -> Result<(), SendError> {
        let encoded = match (payload, self.mode) {
            (Payload::Generic(g), _) => encode_generic(g),
            (Payload::Cloud(event), Mode::Binary) => encode_binary(event),
            (Payload::Cloud(event), Mode::Structured) => encode_structured(event),
            (Payload::Cloud(event), Mode::Batch) => encode_batch(std::slice::from_ref(event)),
        };
        self.post(encoded).await
    }

    /// POSTs several events as one batch.
    pub async fn send_batch(&self, events: &[Event]) -> Result<(), SendError> {
        self.post(encode_batch(events)).await
    }

    async fn post(&self, encoded: crate::sink::encoding::Encoded) -> Result<(), SendError> {
        let mut request = self.client.post(self.url.clone()).body(encoded.body);
        for (name, value) in &self.headers {
            request = request.header(name, value.expose());
        }
        for (name, value) in &encoded.headers {
            request = request.header(name, value);
        }
        request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::BearerFile(path) => request.bearer_auth(self.file_token(path)?.expose()),
            Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
        };
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" to {}", shown_location(l)))
            .unwrap_or_default();
        // ks-devops's 500 carries the decoding error: worth showing, and telling apart.
        let said = if self.kubesphere && status == 500 {
            first_line(&response.text().await.unwrap_or_default())
                .map(|line| format!(": {line}"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let reason = || format!("{} answered HTTP {status}{said}", self.shown());
        match classify(status, retry_after.as_deref(), SystemTime::now()) {
            Verdict::Delivered => Ok(()),
            Verdict::Retry { after } => Err(SendError::Retry {
                reason: reason(),
                cause: Cause::Status(status),
                after,
            }),
            Verdict::Disable => Err(SendError::Disable {
                reason: format!("{} (410 Gone: the receiver asked us to stop)", reason()),
            }),
            Verdict::Misconfigured { fix } => {
                let fix = match (self.kubesphere, status) {
                    (true, 401) => KUBESPHERE_401,
                    (true, 404) => KUBESPHERE_404,
                    _ => fix,
                };
                Err(SendError::Misconfigured {
                    reason: format!(
                        "{}{location}: {fix}; events wait until it is fixed",
                        reason()
                    ),
                })
            }
            Verdict::Reject => Err(SendError::Reject { reason: reason() }),
        }
    }

    /// A webhook's handshake, without delivering anything: ks-devops's webhook takes a probe
    /// envelope (one whose `dataType` it does not handle, which it answers 200 and ignores),
    /// so its path, version and credentials are checked; other receivers get OPTIONS with
    /// `WebHook-Request-Origin`, and any answer that is not a connection failure shows the
    /// endpoint is there.
    pub async fn probe(&self) -> Result<String, SendError> {
        if self.kubesphere {
            return self.post(kubesphere_probe()).await.map(|()| {
                format!(
                    "{} took a probe envelope (ks-devops ignores it)",
                    self.shown()
                )
            });
        }
        let response = self
            .client
            .request(reqwest::Method::OPTIONS, self.url.clone())
            .header("WebHook-Request-Origin", "jenkins-event-shim")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Ok(format!(
            "{} answered OPTIONS with HTTP {}",
            self.shown(),
            response.status().as_u16()
        ))
    }

    /// A request that got no answer: whether it may have arrived depends on how far it went.
    fn transport_error(&self, e: &reqwest::Error) -> SendError {
        SendError::Retry {
            reason: format!("{}: {}", self.shown(), self.transport_reason(e)),
            cause: if e.is_connect() {
                Cause::Connect
            } else if e.is_timeout() {
                Cause::Timeout
            } else {
                Cause::Transport
            },
            after: None,
        }
    }

    /// The URL without query (it may carry an access token).
    /// Why an attempt failed: the limit for a timeout, else the innermost cause.
    fn transport_reason(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!(
                "no answer within {} (--sink-timeout, or timeout in this sink's table)",
                humantime::format_duration(self.timeout)
            );
        }
        crate::tls::transport_cause(e, "ca-file in this sink's table")
    }

    fn shown(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        let _ = url.set_password(None);
        url.to_string()
    }
}

/// ks-devops's API server authenticates anonymous requests only when they carry no
/// `Authorization` header (`pkg/apiserver/apiserver.go`: anonymous, then bearer-token
/// authenticators); anything else it cannot verify is a 401.
const KUBESPHERE_401: &str = "ks-devops refuses the request's Authorization header (its webhook takes requests without one): remove this sink's bearer-token/bearer-token-file and any Authorization header";

/// The webhook route is `POST /kapis/devops.kubesphere.io/v1alpha3/webhooks/jenkins` from
/// ks-devops v3.3 on (`pkg/kapis/devops/v1alpha3/webhook/register.go`).
const KUBESPHERE_404: &str = "no ks-devops webhook at this URL: the path is /kapis/devops.kubesphere.io/v1alpha3/webhooks/jenkins on the devops-apiserver Service, and ks-devops older than v3.3 has no such route";

/// The `type` of the probe envelope.
const PROBE_TYPE: &str = "jenkins-event-shim.probe";

/// An envelope ks-devops answers 200 and ignores: its handler acts on `dataType`
/// `org.jenkinsci.plugins.workflow.job.WorkflowRun` only (`pkg/event/workflowrun/`).
fn kubesphere_probe() -> crate::sink::encoding::Encoded {
    let envelope = serde_json::json!({
        "type": PROBE_TYPE, "source": "", "url": "", "id": "jenkins-event-shim-probe",
        "time": crate::event::kubesphere::time(crate::clock::now_ms()), "dataType": "jenkins-event-shim.Probe",
        "data": {}, "metaData": null, "urlData": "",
    });
    crate::sink::encoding::Encoded {
        headers: vec![
            (
                "Content-Type".to_string(),
                "application/json; charset=UTF-8".to_string(),
            ),
            ("X-Event-Type".to_string(), PROBE_TYPE.to_string()),
        ],
        body: serde_json::to_vec(&envelope).expect("a JSON value serialises"),
    }
}

/// The first non-empty line of an answer, at most 200 characters.
fn first_line(body: &str) -> Option<String> {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

/// A `Location` as logs may show it: without credentials or query (either may hold a token).
fn shown_location(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut url) => {
            url.set_query(None);
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => location.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[tokio::test]
    async fn a_timeout_names_its_limit_and_the_option_that_sets_it() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let sink = HttpSink::new(url, Mode::Binary, Duration::from_millis(200)).unwrap();
        let event = EventBuilderV10::new()
            .id("1")
            .source("job/a")
            .ty("t")
            .build()
            .unwrap();
        let err = sink.send(&Payload::Cloud(event)).await.unwrap_err();
        match err {
            SendError::Retry { reason, cause, .. } => {
                assert_eq!(cause, Cause::Timeout);
                assert!(
                    reason.contains("no answer within 200ms") && reason.contains("--sink-timeout"),
                    "{reason}"
                );
            }
            other => panic!("{other}"),
        }
    }
}
