//! `bench`: what the shim costs Jenkins, measured on the mock Jenkins, side by side with the
//! naive poller a user would otherwise write (python-jenkins).
//!
//! For each job count it runs the real `jenkins-event-shim` binary as a child process against
//! an in-process mock Jenkins and an in-process receiver, and measures Jenkins requests and
//! response bytes per idle and per busy tick (counted by the mock), detection latency (the
//! mock's state change to the receiver getting the event), and the shim's CPU time per tick and
//! peak RSS (from /proc). Then the naive poller runs on the same mock with the same traffic.
//! Last, delivery throughput of the dispatcher to a loopback receiver in binary, structured and
//! batched modes, and to a local `nats-server -js` when one is installed. It prints a table and says which targets are met.
//!
//!   cargo build --release --workspace --bins && target/release/bench
//!   target/release/bench --quick        # the small configuration CI runs

#[path = "../../tests/util/test_env.rs"]
mod test_env;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use clap::Parser;
use jenkins_event_shim::event::{Format, Outgoing, Payload};
use jenkins_event_shim::sink::http::{Batching, Mode};
use jenkins_event_shim::sink::{Dispatcher, SinkConfig, SinkTarget};
use jenkins_event_shim::store::{Outbox, OverflowPolicy};
use jenkins_event_shim::telemetry::Telemetry;
use mock_jenkins::{Enqueue, MockJenkins, Plan, Settings, sim};

#[derive(Debug, Parser)]
#[command(about = "Measure the shim's cost to Jenkins against a naive poller")]
struct Cli {
    /// Job counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    jobs: Vec<usize>,
    /// Poll interval of both pollers, seconds.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Seconds of idle and of busy measurement.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Builds started per second during the busy window.
    #[arg(long, default_value_t = 5.0)]
    builds_per_second: f64,
    /// Events per throughput run (batched mode runs 5x as many).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Skip the naive poller.
    #[arg(long)]
    no_naive: bool,
    /// A small, fast configuration (what CI runs): 100 and 1000 jobs, short windows.
    #[arg(long)]
    quick: bool,
}

/// Counts events and detection latencies.
#[derive(Default)]
struct Inbox {
    events: AtomicU64,
    latencies_ms: Mutex<Vec<f64>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn receive(
    axum::extract::State(inbox): axum::extract::State<Arc<Inbox>>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    if method == axum::http::Method::OPTIONS {
        return ""; // the dispatcher's start-up check, not an event
    }
    let now = now_ms();
    let ty = headers
        .get("ce-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/cloudevents-batch") {
        let n = serde_json::from_slice::<Vec<serde_json::Value>>(&body).map_or(0, |v| v.len());
        inbox.events.fetch_add(n as u64, Ordering::Relaxed);
        return "";
    }
    inbox.events.fetch_add(1, Ordering::Relaxed);
    if ty == "org.jenkinsci.job.started"
        && let Ok(data) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(t) = data["build"]["timestamp"].as_i64()
    {
        inbox.latencies_ms.lock().unwrap().push((now - t) as f64);
    }
    ""
}

async fn start_receiver() -> (SocketAddr, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, inbox)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// utime + stime of a process, ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks * 10.0 // CLK_TCK = 100 on Linux
}

/// Peak resident set, MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn counters(mock: &MockJenkins) -> (u64, u64) {
    let w = mock.world();
    (w.requests, w.response_bytes)
}

async fn shim_polls(health: u16) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{health}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("jenkins_polls_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Queues a build with quiet period 0 that runs `duration_ms` and succeeds.
fn queue_build(mock: &MockJenkins, job: &str, duration_ms: i64) {
    let plan = Plan {
        duration_ms,
        result: "SUCCESS".into(),
    };
    let _ = mock.world().enqueue(
        job,
        Enqueue {
            quiet_ms: Some(0),
            user: None,
            params: vec![],
            plan: Some(plan),
        },
    );
}

/// Starts builds on random jobs for `seconds`.
async fn traffic(mock: &MockJenkins, jobs: &[String], per_second: f64, seconds: u64) {
    let mut rng = fastrand::Rng::with_seed(5);
    let every = Duration::from_secs_f64(1.0 / per_second);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        queue_build(mock, &jobs[rng.usize(..jobs.len())], rng.i64(300..1500));
        tokio::time::sleep(every).await;
    }
}

#[derive(Default, Clone)]
struct Row {
    idle_requests: f64,
    idle_bytes: f64,
    busy_requests: f64,
    busy_bytes: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    cpu_ms_per_tick: f64,
    peak_rss_mb: f64,
    /// Bytes of one job-tree scan (the safety net, every --scan-interval).
    scan_bytes: f64,
}

/// A mock Jenkins with `jobs` jobs (as the simulator lays them out) and a receiver.
async fn scene(jobs: usize) -> (MockJenkins, Vec<String>, SocketAddr, Arc<Inbox>) {
    let settings = Settings {
        max_builds_per_job: Some(20),
        ..Settings::default()
    };
    let mock = MockJenkins::start(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let names = sim::populate(
        &mock.shared(),
        &sim::Simulation {
            jobs,
            ..Default::default()
        },
    );
    let (rx, inbox) = start_receiver().await;
    (mock, names, rx, inbox)
}

/// The release shim as a child process against `mock`, delivering to `rx`; returns once ready.
/// `scan` overrides the job-scan interval (the default, 60 s, when `None`).
async fn spawn_shim(
    cli: &Cli,
    mock: &MockJenkins,
    rx: SocketAddr,
    scan: Option<&str>,
) -> (tokio::process::Child, u16) {
    let health = free_port();
    let exe = std::env::current_exe()
        .unwrap()
        .with_file_name("jenkins-event-shim");
    let child = tokio::process::Command::new(&exe)
        .args([
            "run",
            "--jenkins-url",
            &mock.url(),
            "--sink",
            &format!("http://{rx}/"),
        ])
        .args([
            "--poll-interval",
            &format!("{}ms", (cli.interval * 1000.0) as u64),
        ])
        .args(scan.map(|s| ["--scan-interval", s]).into_iter().flatten())
        .args(["--listen", &format!("127.0.0.1:{health}")])
        .env("LOG_LEVEL", "error")
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build --release --workspace --bins)",
                exe.display()
            )
        });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{health}/readyz")).await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "the shim never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, health)
}

/// Builds shorter than 100 ms, with quiet period 0, started at random instants: each is queued,
/// run and finished between two polls. Returns the `started` latencies, ms.
async fn measure_fast_builds(cli: &Cli) -> Vec<f64> {
    let (mock, names, rx, inbox) = scene(100).await;
    let (mut child, _) = spawn_shim(cli, &mock, rx, None).await;
    tokio::time::sleep(Duration::from_secs_f64(cli.interval)).await;
    let mut rng = fastrand::Rng::with_seed(11);
    let end = Instant::now() + Duration::from_secs(cli.seconds);
    let mean_gap_ms = 1000.0 / cli.builds_per_second;
    while Instant::now() < end {
        queue_build(&mock, &names[rng.usize(..names.len())], rng.i64(5..100));
        let gap = rng.f64() * 2.0 * mean_gap_ms;
        tokio::time::sleep(Duration::from_secs_f64(gap / 1000.0)).await;
    }
    tokio::time::sleep(Duration::from_secs_f64(cli.interval * 2.0 + 1.0)).await;
    let lat = inbox.latencies_ms.lock().unwrap().clone();
    let _ = child.start_kill();
    let _ = child.wait().await;
    mock.stop().await;
    lat
}

async fn measure_shim(cli: &Cli, jobs: usize) -> Row {
    let (mock, names, rx, inbox) = scene(jobs).await;
    let (mut child, health) = spawn_shim(cli, &mock, rx, Some("10m")).await;
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_secs_f64(cli.interval)).await;
    // Idle.
    let (r0, p0, c0) = (counters(&mock), shim_polls(health).await, cpu_ms(pid));
    tokio::time::sleep(Duration::from_secs(cli.seconds)).await;
    let (r1, p1, c1) = (counters(&mock), shim_polls(health).await, cpu_ms(pid));
    let idle_ticks = (p1 - p0).max(1.0);
    // Busy.
    traffic(&mock, &names, cli.builds_per_second, cli.seconds).await;
    let (r2, p2, c2) = (counters(&mock), shim_polls(health).await, cpu_ms(pid));
    let busy_ticks = (p2 - p1).max(1.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut lat = inbox.latencies_ms.lock().unwrap().clone();
    let scan_url = format!(
        "{}api/json?tree={}",
        mock.url(),
        jenkins_event_shim::jenkins::tree::job_tree(5)
    );
    let scan_bytes = reqwest::get(scan_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len() as f64;
    let row = Row {
        scan_bytes,
        idle_requests: (r1.0 - r0.0) as f64 / idle_ticks,
        idle_bytes: (r1.1 - r0.1) as f64 / idle_ticks,
        busy_requests: (r2.0 - r1.0) as f64 / busy_ticks,
        busy_bytes: (r2.1 - r1.1) as f64 / busy_ticks,
        p50: percentile(&mut lat, 0.50),
        p95: percentile(&mut lat, 0.95),
        p99: percentile(&mut lat, 0.99),
        cpu_ms_per_tick: ((c1 - c0) + (c2 - c1)) / (idle_ticks + busy_ticks),
        peak_rss_mb: peak_rss_mb(pid),
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    mock.stop().await;
    row
}

async fn measure_naive(cli: &Cli, jobs: usize) -> Option<Row> {
    let (mock, names, rx, inbox) = scene(jobs).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/naive_poller.py");
    // python-jenkins lives in the project's virtualenv (`cargo xtask test` makes it).
    let python = match test_env::try_python() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("naive poller not measured: {e}");
            return None;
        }
    };
    let run = |seconds: u64| {
        tokio::process::Command::new(&python)
            .args([
                script,
                &mock.url(),
                &format!("http://{rx}/"),
                &seconds.to_string(),
                &cli.interval.to_string(),
            ])
            .stderr(std::process::Stdio::null())
            .output()
    };
    // Idle: its own ticks (a tick at 10,000 jobs takes far longer than the interval).
    let r0 = counters(&mock);
    let idle = run(cli.seconds).await.ok()?;
    let idle_ticks: f64 = String::from_utf8_lossy(&idle.stdout)
        .trim()
        .lines()
        .last()?
        .parse()
        .ok()?;
    let r1 = counters(&mock);
    let (busy, _) = tokio::join!(
        run(cli.seconds),
        traffic(&mock, &names, cli.builds_per_second, cli.seconds)
    );
    let busy_ticks: f64 = String::from_utf8_lossy(&busy.ok()?.stdout)
        .trim()
        .lines()
        .last()?
        .parse()
        .ok()?;
    let r2 = counters(&mock);
    let mut lat = inbox.latencies_ms.lock().unwrap().clone();
    mock.stop().await;
    Some(Row {
        idle_requests: (r1.0 - r0.0) as f64 / idle_ticks.max(1.0),
        idle_bytes: (r1.1 - r0.1) as f64 / idle_ticks.max(1.0),
        busy_requests: (r2.0 - r1.0) as f64 / busy_ticks.max(1.0),
        busy_bytes: (r2.1 - r1.1) as f64 / busy_ticks.max(1.0),
        p50: percentile(&mut lat, 0.50),
        p95: percentile(&mut lat, 0.95),
        p99: percentile(&mut lat, 0.99),
        ..Row::default()
    })
}

/// Events per second from an outbox through one dispatcher to the loopback receiver.
async fn throughput(mode: Mode, events: usize) -> f64 {
    let (rx, _inbox) = start_receiver().await;
    let url = url::Url::parse(&format!("http://{rx}/")).unwrap();
    let target = SinkTarget::Http {
        url,
        mode,
        timeout: Duration::from_secs(10),
        batching: Batching {
            max_events: 500,
            max_wait: Duration::from_millis(5),
        },
        auth: Default::default(),
        headers: Vec::new(),
        tls: Default::default(),
    };
    drain_rate(target, events).await
}

/// Events per second published to a local `nats-server -js` (one acknowledged publish at a
/// time); `None` when nats-server is not installed.
async fn nats_throughput(events: usize) -> Option<f64> {
    use jenkins_event_shim::sink::nats::{NatsAuth, NatsConfig};
    let program = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("bench-nats-{}", std::process::id()));
    let _server = tokio::process::Command::new(program)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let url = format!("nats://127.0.0.1:{port}");
    let mut client = None;
    for _ in 0..100 {
        if let Ok(c) = async_nats::connect(url.as_str()).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    async_nats::jetstream::new(client?)
        .create_stream(async_nats::jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.events".into()],
            ..Default::default()
        })
        .await
        .ok()?;
    let target = SinkTarget::Nats(NatsConfig {
        url,
        subject: "bench.events".into(),
        timeout: Duration::from_secs(10),
        auth: NatsAuth::None,
        ca_file: None,
    });
    let rate = drain_rate(target, events).await;
    let _ = std::fs::remove_dir_all(&dir);
    Some(rate)
}

/// Times one dispatcher emptying an outbox of `events` job events into a sink at `target`.
async fn drain_rate(target: SinkTarget, events: usize) -> f64 {
    let outbox = Arc::new(Outbox::new(1, events + 1, OverflowPolicy::Block));
    let batch: Vec<_> = (0..events)
        .map(|i| {
            use cloudevents::EventBuilder;
            let e = cloudevents::EventBuilderV10::new()
                .id(format!("id-{i}"))
                .source("job/app")
                .ty("org.jenkinsci.job.started")
                .data("application/json", serde_json::json!({"userId": "SYSTEM", "name": "app", "build": {"number": i, "timestamp": 0, "phase": "STARTED"}}))
                .build()
                .unwrap();
            Outgoing {
                format: Format::Plugin,
                payload: Payload::Cloud(e),
                job: Some("job/app/".to_string()),
                controller: "bench".to_string(),
            }
        })
        .collect();
    let config = SinkConfig {
        name: "bench".into(),
        target,
        format: Format::Plugin,
        backoff: Default::default(),
        filter: Default::default(),
    };
    let dispatcher = Dispatcher::new(
        0,
        &config,
        outbox.clone(),
        Arc::new(Telemetry::new()),
        Default::default(),
        Arc::new(jenkins_event_shim::store::Claims::in_memory()),
    )
    .expect("the bench's sink builds");
    let stop = tokio_util::sync::CancellationToken::new();
    let entries = outbox.prepare(batch, now_ms());
    let start = Instant::now();
    outbox.publish(entries);
    let task = tokio::spawn(dispatcher.run(stop.clone()));
    // Every event acknowledged by the sink.
    while outbox.depth() > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = events as f64 / start.elapsed().as_secs_f64();
    stop.cancel();
    let _ = task.await;
    rate
}

fn fmt_ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.3}", a / b)
    } else {
        "n/a".into()
    }
}

#[tokio::main]
async fn main() {
    let mut cli = Cli::parse();
    if cli.quick {
        cli.jobs = vec![100, 1000];
        cli.seconds = 3;
        cli.events = 2_000;
    }
    println!(
        "bench: poll interval {} s, {} s idle + {} s busy at {} builds/s, per job count\n",
        cli.interval, cli.seconds, cli.seconds, cli.builds_per_second
    );
    let mut rows = Vec::new();
    for &jobs in &cli.jobs {
        let shim = measure_shim(&cli, jobs).await;
        let naive = if cli.no_naive {
            None
        } else {
            measure_naive(&cli, jobs).await
        };
        rows.push((jobs, shim, naive));
    }
    println!(
        "| jobs | poller | req/idle tick | bytes/idle tick | req/busy tick | bytes/busy tick | latency p50/p95/p99 ms | CPU ms/tick | peak RSS MB | scan bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (jobs, s, n) in &rows {
        println!(
            "| {jobs} | shim | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} / {:.0} / {:.0} | {:.2} | {:.1} | {:.0} |",
            s.idle_requests,
            s.idle_bytes,
            s.busy_requests,
            s.busy_bytes,
            s.p50,
            s.p95,
            s.p99,
            s.cpu_ms_per_tick,
            s.peak_rss_mb,
            s.scan_bytes
        );
        if let Some(n) = n {
            println!(
                "| {jobs} | naive | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} / {:.0} / {:.0} | | | |",
                n.idle_requests, n.idle_bytes, n.busy_requests, n.busy_bytes, n.p50, n.p95, n.p99
            );
            println!(
                "| {jobs} | shim/naive | {} | {} | {} | {} | {} / {} / {} | | | |",
                fmt_ratio(s.idle_requests, n.idle_requests),
                fmt_ratio(s.idle_bytes, n.idle_bytes),
                fmt_ratio(s.busy_requests, n.busy_requests),
                fmt_ratio(s.busy_bytes, n.busy_bytes),
                fmt_ratio(s.p50, n.p50),
                fmt_ratio(s.p95, n.p95),
                fmt_ratio(s.p99, n.p99)
            );
        }
    }
    let mut fast = measure_fast_builds(&cli).await;
    let fast_p99 = percentile(&mut fast, 0.99);
    println!(
        "\n| builds < 100 ms, quiet period 0, random instants, default 60 s scan | builds | latency p50/p95/p99 ms |\n|---|---|---|\n| shim | {} | {:.0} / {:.0} / {fast_p99:.0} |",
        fast.len(),
        percentile(&mut fast, 0.50),
        percentile(&mut fast, 0.95),
    );

    let binary = throughput(Mode::Binary, cli.events).await;
    let structured = throughput(Mode::Structured, cli.events).await;
    let batched = throughput(Mode::Batch, cli.events * 5).await;
    let nats = match nats_throughput(cli.events).await {
        Some(rate) => format!("{rate:.0}"),
        None => "not measured (nats-server not installed)".into(),
    };
    println!(
        "\n| delivery to loopback | events/s |\n|---|---|\n| binary | {binary:.0} |\n| structured | {structured:.0} |\n| batched (500/request) | {batched:.0} |\n| NATS JetStream (acknowledged, one at a time) | {nats} |"
    );

    let interval_ms = cli.interval * 1000.0;
    let first = &rows.first().unwrap().1;
    let last = &rows.last().unwrap().1;
    let targets = [
        (
            "requests per idle tick <= 3 at every job count",
            rows.iter().all(|(_, s, _)| s.idle_requests <= 3.0),
            format!(
                "{:?}",
                rows.iter()
                    .map(|(j, s, _)| format!("{j}: {:.2}", s.idle_requests))
                    .collect::<Vec<_>>()
            ),
        ),
        (
            "bytes per idle tick at the largest count <= 1.1x the smallest",
            last.idle_bytes <= 1.1 * first.idle_bytes,
            format!(
                "{:.0} vs {:.0} ({})",
                last.idle_bytes,
                first.idle_bytes,
                fmt_ratio(last.idle_bytes, first.idle_bytes)
            ),
        ),
        (
            "detection latency p99 <= poll interval + 100 ms",
            rows.iter().all(|(_, s, _)| s.p99 <= interval_ms + 100.0),
            format!(
                "{:?}",
                rows.iter()
                    .map(|(j, s, _)| format!("{j}: {:.0} ms", s.p99))
                    .collect::<Vec<_>>()
            ),
        ),
        (
            "fast builds: detection latency p99 <= poll interval + 100 ms",
            !fast.is_empty() && fast_p99 <= interval_ms + 100.0,
            format!("{} builds: {fast_p99:.0} ms", fast.len()),
        ),
        (
            ">= 5,000 events/s binary",
            binary >= 5_000.0,
            format!("{binary:.0}"),
        ),
        (
            ">= 50,000 events/s batched",
            batched >= 50_000.0,
            format!("{batched:.0}"),
        ),
        (
            "peak RSS <= 40 MB at the largest count",
            last.peak_rss_mb <= 40.0,
            format!("{:.1} MB", last.peak_rss_mb),
        ),
    ];
    println!("\n| target | met | figure |\n|---|---|---|");
    for (name, met, figure) in targets {
        println!("| {name} | {} | {figure} |", if met { "yes" } else { "NO" });
    }
}
