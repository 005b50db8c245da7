//! Helpers for the integration tests: a mock Jenkins, the shim running in-process, and a real
//! HTTP receiver that records every request byte for byte.
#![allow(dead_code)]

pub mod test_env;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jenkins_event_shim::config::Options;
use mock_jenkins::{MockJenkins, Settings};
use tokio_util::sync::CancellationToken;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names (lower case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `ce-type` (or, for KubeSphere's generic events, `X-Event-Type`).
    pub fn ty(&self) -> &str {
        self.header("ce-type")
            .or_else(|| self.header("x-event-type"))
            .unwrap_or("")
    }

    /// The body as JSON (null when empty).
    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("body is JSON")
        }
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    /// Every request, answered 2xx or not.
    requests: Vec<Received>,
    /// Statuses to answer next, front first; empty = 200; 0 = never answer (hang).
    script: Vec<(u16, Option<String>)>,
    attempts: usize,
    /// Answer 503 to everything while set.
    down: bool,
    /// Start-up checks answered (not events).
    probes: usize,
}

/// A CloudEvents HTTP receiver on 127.0.0.1 that records requests.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_at("127.0.0.1:0".parse().unwrap()).await
    }

    /// A receiver on a given address (one a sink was pointed at before it listened).
    pub async fn start_at(addr: SocketAddr) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, inbox }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Answer the next `n` requests with `status` (and `Retry-After`, or `Location` for a 3xx).
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<&str>) {
        let mut inbox = self.inbox.lock().unwrap();
        for _ in 0..n {
            inbox.script.push((status, retry_after.map(str::to_owned)));
        }
    }

    /// Answer 503 to everything (true) or go back to normal (false).
    pub fn set_down(&self, down: bool) {
        self.inbox.lock().unwrap().down = down;
    }

    /// Stop failing: answer 2xx from now on.
    pub fn heal(&self) {
        self.inbox.lock().unwrap().script.clear();
    }

    /// Requests accepted (answered 2xx).
    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    /// Leave the next `n` requests unanswered (the sender times out, not knowing whether the
    /// event arrived).
    pub fn hang_next(&self, n: usize) {
        self.fail_next(n, 0, None);
    }

    /// Every request, accepted, failed or left hanging.
    pub fn requests(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().requests.clone()
    }

    /// The shim's start-up checks of this sink (OPTIONS, or KubeSphere's probe envelope).
    pub fn probes(&self) -> usize {
        self.inbox.lock().unwrap().probes
    }

    /// Every request, accepted or not.
    pub fn attempts(&self) -> usize {
        self.inbox.lock().unwrap().attempts
    }

    /// Accepted `ce-type`s whose `ce-source` is `source`, in order.
    pub fn types_for(&self, source: &str) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.header("ce-source") == Some(source))
            .map(|r| r.ty().trim_start_matches("org.jenkinsci.").to_string())
            .collect()
    }

    /// Waits until `pred` holds on what was received, or panics with what was received.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let types: Vec<_> = got
                    .iter()
                    .map(|r| format!("{} {}", r.ty(), r.header("ce-source").unwrap_or("")))
                    .collect();
                panic!("timed out waiting for {what}; received: {types:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let mut reply = HeaderMap::new();
    // The shim's start-up check of a sink is not an event: the webhook spec's OPTIONS
    // handshake, or KubeSphere's probe envelope. Answered, counted apart, never scripted.
    let probe = method == axum::http::Method::OPTIONS
        || headers
            .get("x-event-type")
            .is_some_and(|v| v == "jenkins-event-shim.probe");
    if probe {
        inbox.lock().unwrap().probes += 1;
        reply.insert("webhook-allowed-origin", "*".parse().unwrap());
        return (StatusCode::OK, reply);
    }
    let request = Received {
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let scripted = {
        let mut inbox = inbox.lock().unwrap();
        inbox.attempts += 1;
        inbox.requests.push(request.clone());
        if inbox.down {
            return (StatusCode::SERVICE_UNAVAILABLE, reply);
        }
        if inbox.script.is_empty() {
            inbox.received.push(request);
            return (StatusCode::ACCEPTED, reply);
        }
        inbox.script.remove(0)
    };
    match scripted {
        (0, _) => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        (status, header) => {
            if let Some(v) = header {
                let name = if (300..400).contains(&status) {
                    "location"
                } else {
                    "retry-after"
                };
                reply.insert(name, v.parse().unwrap());
            }
            (StatusCode::from_u16(status).unwrap(), reply)
        }
    }
}

/// The sum of the samples whose line contains `pattern` (series exist at 0 from the start, so
/// a test that waits for a count must look at the value).
pub fn metric_sum(metrics: &str, pattern: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(pattern))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A port nothing listens on now (for a server started later, or by a child process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mock Jenkins on a free port.
pub async fn jenkins(settings: Settings) -> MockJenkins {
    MockJenkins::start(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The usual scene: a mock Jenkins with one job, a receiver, and a shim delivering to it.
pub async fn scene(job: &str, kind: mock_jenkins::Kind) -> (MockJenkins, Receiver, Shim) {
    let mock = jenkins(Settings::default()).await;
    mock.world().create(job, kind).unwrap();
    let rx = Receiver::start().await;
    let shim = Shim::start(options(&mock, vec![rx.url()])).await;
    (mock, rx, shim)
}

/// A mock Jenkins whose one user, `watcher`, reads only what is in `folders` and has no
/// Job/ExtendedRead (as with folder-scoped permissions).
pub async fn jenkins_for_watcher_in(token: &str, folders: &[&str]) -> MockJenkins {
    jenkins(Settings {
        users: vec![("watcher".into(), token.into())],
        access: vec![mock_jenkins::world::Access {
            user: "watcher".into(),
            folders: folders.iter().map(|f| f.to_string()).collect(),
            extended_read: false,
        }],
        ..Settings::default()
    })
    .await
}

/// A POST through Jenkins' own API as an anonymous client does it: crumb first
/// (`/crumbIssuer/api/json`), then the request with the crumb header. Returns the status.
pub async fn jenkins_post(jenkins: &MockJenkins, path: &str) -> u16 {
    let client = reqwest::Client::new();
    let crumb: serde_json::Value = client
        .get(format!("{}crumbIssuer/api/json", jenkins.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client
        .post(format!("{}{path}", jenkins.url()))
        .header(
            crumb["crumbRequestField"].as_str().unwrap(),
            crumb["crumb"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Options for a fast-polling shim against `jenkins`, delivering to `sinks`.
pub fn options(jenkins: &MockJenkins, sinks: Vec<String>) -> Options {
    Options {
        jenkins_url: Some(jenkins.url()),
        sink: sinks,
        poll_interval: Some(std::time::Duration::from_millis(150)),
        scan_interval: Some(std::time::Duration::from_secs(1)),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        sink_timeout: Some(std::time::Duration::from_secs(2)),
        ..Options::default()
    }
}

/// A shim running in-process; stopped (and drained) on drop of the token.
pub struct Shim {
    pub token: CancellationToken,
    pub health: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Shim {
    pub async fn start(options: Options) -> Shim {
        let config = options.resolve(true).expect("test config is valid");
        let token = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let run_token = token.clone();
        let handle = tokio::spawn(async move {
            jenkins_event_shim::run::run(config, run_token, Some(tx))
                .await
                .unwrap();
        });
        let health = rx.await.expect("shim started");
        let shim = Shim {
            token,
            health,
            handle,
        };
        shim.wait_ready().await;
        shim
    }

    /// Waits until the starting point is taken: /readyz says ready, or names only a sink (a
    /// sink's start-up check found its configuration wrong, which the test then looks at;
    /// readiness checks the store and the controllers first).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://{}/readyz", self.health)).await {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                if status == 200 || body.starts_with("not ready: sink ") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("shim never became ready");
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{path}", self.health))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn stop(self) {
        self.token.cancel();
        self.handle.await.unwrap();
    }
}

/// Waits until `pred` holds or panics after 20 s.
pub async fn eventually(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The keys of a JSON object, in order.
pub fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The plugin contract's data fields, in Jackson's order.
pub mod contract {
    /// `QueueModel` at entered_waiting.
    pub const QUEUE_ENTERED: &[&str] = &[
        "ciUrl",
        "displayName",
        "entryTime",
        "exitTime",
        "startedBy",
        "jenkinsQueueId",
        "status",
        "duration",
        "queueCauses",
    ];
    /// `QueueModel` at left: the same without `queueCauses`.
    pub const QUEUE_LEFT: &[&str] = QUEUE_ENTERED.split_at(8).0;
    /// `JobModel` of run events.
    pub const JOB_RUN: &[&str] = &["userId", "userName", "name", "displayName", "url", "build"];
    /// `BuildModel`.
    pub const BUILD: &[&str] = &[
        "fullUrl",
        "number",
        "queueId",
        "timestamp",
        "duration",
        "phase",
        "status",
        "url",
        "displayName",
        "parameters",
        "scmState",
    ];
    /// `JobModel` of `created`.
    pub const JOB_CREATED: &[&str] = &[
        "userId",
        "userName",
        "status",
        "name",
        "displayName",
        "url",
        "createdDate",
        "configFile",
    ];
    /// `JobModel` of `updated`.
    pub const JOB_UPDATED: &[&str] = &[
        "userId",
        "userName",
        "status",
        "name",
        "displayName",
        "url",
        "updatedDate",
        "configFile",
    ];
    /// `NodeModel`.
    pub const NODE: &[&str] = &[
        "numExecutors",
        "offlineCause",
        "nodeName",
        "cachedHostName",
        "terminatedBy",
        "connectTime",
    ];
    /// The types of one build's life, queue to finalized (without `org.jenkinsci.`).
    pub const LIFECYCLE: [&str; 5] = [
        "queue.entered_waiting",
        "queue.left",
        "job.started",
        "job.completed",
        "job.finalized",
    ];
}

/// Schedules, starts and finishes a build at once; returns its number.
pub fn run_build(mock: &MockJenkins, job: &str, result: &str) -> u64 {
    let n = start_build(mock, job);
    mock.world().finish(job, n, result).unwrap();
    n
}

/// Schedules and starts a build that keeps running; returns its number.
pub fn start_build(mock: &MockJenkins, job: &str) -> u64 {
    let mut w = mock.world();
    let id = w
        .enqueue(
            job,
            mock_jenkins::Enqueue {
                quiet_ms: Some(0),
                user: Some("x".into()),
                ..Default::default()
            },
        )
        .unwrap();
    w.start(id).unwrap()
}

/// Lets a few poll intervals pass.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}
