//! The NATS JetStream sink against a real `nats-server -js` (Debian package `nats-server`):
//! structured CloudEvents on the configured subject, the event id as `Nats-Msg-Id` so the
//! server drops re-sends, delivery counted only on the stream's acknowledgement, and events
//! waiting in the outbox while the server is down.

mod util;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use jenkins_event_shim::event::Payload;
use mock_jenkins::{Kind, Settings};
use util::{Shim, jenkins, options};

/// A `nats-server` with JetStream on a free port, killed on drop.
struct NatsServer {
    port: u16,
    dir: PathBuf,
    child: Option<tokio::process::Child>,
    user: Option<(&'static str, &'static str)>,
}

impl NatsServer {
    /// A server not started yet (for "down at start" tests): its URL is known.
    fn planned(user: Option<(&'static str, &'static str)>) -> NatsServer {
        let port = util::free_port();
        let dir = std::env::temp_dir().join(format!("shim-nats-{}-{port}", std::process::id()));
        NatsServer {
            port,
            dir,
            child: None,
            user,
        }
    }

    async fn start(user: Option<(&'static str, &'static str)>) -> NatsServer {
        let mut s = Self::planned(user);
        s.launch().await;
        s
    }

    async fn launch(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let program = util::test_env::tool("nats-server", "nats-server");
        let mut cmd = tokio::process::Command::new(program);
        cmd.args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-sd",
        ])
        .arg(&self.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
        if let Some((user, pass)) = self.user {
            cmd.args(["--user", user, "--pass", pass]);
        }
        let child = cmd.spawn().expect("nats-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn jetstream(&self) -> jetstream::Context {
        let mut options = async_nats::ConnectOptions::new();
        if let Some((user, pass)) = self.user {
            options = options.user_and_password(user.into(), pass.into());
        }
        jetstream::new(options.connect(self.url()).await.unwrap())
    }

    /// A stream capturing `subject`, with a duplicate window of a minute.
    async fn stream(&self, subject: &str) -> jetstream::stream::Stream {
        self.jetstream()
            .await
            .create_stream(jetstream::stream::Config {
                name: "JENKINS".into(),
                subjects: vec![subject.into()],
                duplicate_window: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .unwrap()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        drop(self.child.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every message in the stream so far: (Nats-Msg-Id header, Content-Type header, payload JSON).
async fn messages(
    stream: &mut jetstream::stream::Stream,
) -> Vec<(String, String, serde_json::Value)> {
    let count = stream.info().await.unwrap().state.messages;
    let mut out = Vec::new();
    for seq in 1..=count {
        let m = stream.get_raw_message(seq).await.unwrap();
        let header = |name: &str| {
            m.headers
                .get(name)
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        out.push((
            header("Nats-Msg-Id"),
            header("Content-Type"),
            serde_json::from_slice(&m.payload).unwrap(),
        ));
    }
    out
}

async fn wait_for_messages(stream: &mut jetstream::stream::Stream, n: u64) {
    for _ in 0..400 {
        if stream.info().await.unwrap().state.messages >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the stream holds {} messages, expected {n}",
        stream.info().await.unwrap().state.messages
    );
}

fn config_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shim-nats-cfg-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shim.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn a_build_is_published_as_structured_cloudevents_with_the_event_id_as_message_id() {
    let nats = NatsServer::start(None).await;
    let mut stream = nats.stream("jenkins.events").await;
    let mock = jenkins(Settings::default()).await;
    mock.world().create("app", Kind::Freestyle).unwrap();
    let mut opts = options(&mock, vec![]);
    opts.config = Some(config_file(
        "basic",
        &format!(
            "sink = [{{ url = \"{}\", subject = \"jenkins.events\", name = \"bus\" }}]\n",
            nats.url()
        ),
    ));
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "app", "SUCCESS");
    wait_for_messages(&mut stream, 5).await;
    let got = messages(&mut stream).await;
    let types: Vec<_> = got
        .iter()
        .map(|(_, _, e)| {
            e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("org.jenkinsci.")
        })
        .collect();
    assert_eq!(types, util::contract::LIFECYCLE);
    for (msg_id, content_type, event) in &got {
        assert_eq!(msg_id, event["id"].as_str().unwrap());
        assert_eq!(content_type, "application/cloudevents+json; charset=utf-8");
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["source"], "job/app");
    }
    let (_, _, finished) = &got[4];
    assert_eq!(finished["data"]["build"]["status"], "SUCCESS");
    // The Python SDK's JSON event format reads the payload as it is.
    let mut python = util::test_env::python()
        .args([
            "-c",
            "import sys\nfrom cloudevents.core.formats.json import JSONFormat\ne = JSONFormat().read(None, sys.stdin.buffer.read())\nprint(e.get_attributes()['type'], e.get_data()['build']['status'])",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the virtualenv's python3 runs");
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(finished).unwrap())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "org.jenkinsci.job.finalized SUCCESS"
    );
    shim.stop().await;
}

#[tokio::test]
async fn a_re_sent_event_is_dropped_by_the_server_and_still_counts_as_delivered() {
    use cloudevents::{EventBuilder, EventBuilderV10};
    use jenkins_event_shim::sink::nats::{NatsAuth, NatsConfig, NatsSink};
    let nats = NatsServer::start(None).await;
    let mut stream = nats.stream("jenkins.events").await;
    let sink = NatsSink::new(NatsConfig {
        url: nats.url(),
        subject: "jenkins.events".into(),
        timeout: Duration::from_secs(2),
        auth: NatsAuth::None,
        ca_file: None,
    });
    let event = EventBuilderV10::new()
        .id("same-id")
        .source("job/app")
        .ty("org.jenkinsci.job.started")
        .build()
        .unwrap();
    let event = Payload::Cloud(event);
    sink.send(&event).await.unwrap();
    sink.send(&event).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_nats_is_down_and_arrive_once_it_is_up() {
    let mut nats = NatsServer::planned(Some(("shim", "s3cret-pass")));
    let mock = jenkins(Settings::default()).await;
    mock.world().create("app", Kind::Freestyle).unwrap();
    let password = config_file("down-pass", "");
    std::fs::write(&password, "s3cret-pass\n").unwrap();
    let mut opts = options(&mock, vec![]);
    opts.config = Some(config_file(
        "down",
        &format!(
            "sink = [{{ url = \"{}\", subject = \"ci.jenkins\", basic-user = \"shim\", basic-password-file = \"{}\", timeout = \"1s\" }}]\n",
            nats.url(),
            password.display()
        ),
    ));
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "app", "FAILURE");
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = shim.get("/metrics").await.1;
        if util::metric_sum(&metrics, "error_type=\"connect\"") > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        util::metric_sum(&metrics, "error_type=\"connect\"") > 0.0
            && metrics.contains("outbox_events 6"),
        "the failed connection is counted as a retry and the events wait:\n{metrics}"
    );
    assert!(!metrics.contains("s3cret-pass"));
    nats.launch().await;
    let mut stream = nats.stream("ci.jenkins").await;
    // A failed build: the lifecycle plus job.failed.
    wait_for_messages(&mut stream, 6).await;
    let got = messages(&mut stream).await;
    let failed: Vec<_> = got
        .iter()
        .filter(|(_, _, e)| e["type"] == "org.jenkinsci.job.failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].2["data"]["build"]["status"], "FAILURE");
    shim.stop().await;
}

#[tokio::test]
async fn a_missing_stream_is_named_in_the_error_and_the_event_is_delivered_once_it_exists() {
    use cloudevents::{EventBuilder, EventBuilderV10};
    use jenkins_event_shim::sink::SendError;
    use jenkins_event_shim::sink::nats::{NatsAuth, NatsConfig, NatsSink};
    let nats = NatsServer::start(None).await;
    let sink = NatsSink::new(NatsConfig {
        url: nats.url(),
        subject: "nobody.listens".into(),
        timeout: Duration::from_secs(2),
        auth: NatsAuth::None,
        ca_file: None,
    });
    let event = EventBuilderV10::new()
        .id("1")
        .source("job/app")
        .ty("org.jenkinsci.job.started")
        .build()
        .unwrap();
    let event = Payload::Cloud(event);
    let err = sink.send(&event).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Retry { reason, .. } if reason.contains("no JetStream stream captures subject \"nobody.listens\"")),
        "{err:?}"
    );
    assert!(sink.probe().await.is_err());
    let stream = nats.stream("nobody.listens").await;
    sink.send(&event).await.unwrap();
    assert!(sink.probe().await.unwrap().contains("JENKINS"));
    let mut batch = stream
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap()
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .unwrap();
    let m = batch.next().await.unwrap().unwrap();
    assert_eq!(
        m.headers
            .as_ref()
            .unwrap()
            .get("Nats-Msg-Id")
            .unwrap()
            .as_str(),
        "1"
    );
}
