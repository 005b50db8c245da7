//! A receiver that answers and acts exactly as ks-devops's webhook does (kubesphere/ks-devops,
//! master as of 2026-12), over a real socket. Each rule names the Go file it follows:
//!
//! - `pkg/apiserver/apiserver.go`: the anonymous authenticator accepts only requests without an
//!   `Authorization` header; anything it cannot verify is 401.
//! - `pkg/kapis/devops/v1alpha3/webhook/register.go` (under `runtime.NewWebService`'s `/kapis/`
//!   root): one route, `POST /kapis/devops.kubesphere.io/v1alpha3/webhooks/jenkins`; any
//!   other path is 404.
//! - go-restful's `Request.ReadEntity`: the JSON reader is chosen by a `Content-Type`
//!   containing `application/json`, else 400; a body that does not decode into
//!   `pkg/event/common/types.go`'s `Event` is a 500 (`kapis.HandleError`).
//! - `pkg/event/workflowrun/workflowrun_handler.go`: for `dataType`
//!   `org.jenkinsci.plugins.workflow.job.WorkflowRun` the data is decoded into `Data`
//!   (`types.go`) for *every* event type, strictly (a type error is a 500); other data types
//!   are ignored (200).
//! - `pkg/kapis/devops/v1alpha3/webhook/workflowrun_handler.go`: only `run.initialize` acts.
//!   An empty `_parentFullName` (a top-level job) or a parent of the wrong depth is ignored.
//!   The handler answers 200 at once; in a goroutine it looks up a PipelineRun by the
//!   `pipelinerun.identifier` index (`retryCheckPipelineRunList`: `retry.DefaultRetry`, 5
//!   tries, each 1 s after finding none), and creates one only if none was found. Parameters
//!   come from the first `hudson.model.ParametersAction` (`actions.go`,
//!   `parameter_action.go`), empty names dropped, values formatted by `fmt.Sprint`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;
use serde_json::Value;

/// The webhook route.
pub const WEBHOOK_PATH: &str = "/kapis/devops.kubesphere.io/v1alpha3/webhooks/jenkins";
const WORKFLOW_RUN: &str = "org.jenkinsci.plugins.workflow.job.WorkflowRun";

/// What ks-devops creates: a PipelineRun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRun {
    pub namespace: String,
    pub pipeline: String,
    /// `scmRefName`: the branch of a multibranch pipeline.
    pub branch: Option<String>,
    /// The `devops.kubesphere.io/jenkins-pipelinerun-id` annotation.
    pub run_id: String,
    pub parameters: Vec<(String, String)>,
}

/// One request and the status it was answered (0: never answered).
#[derive(Debug, Clone)]
pub struct Answered {
    pub ty: String,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    answered: Vec<Answered>,
    runs: Vec<PipelineRun>,
    /// Act on the next n requests, then leave them unanswered (the sender times out).
    act_then_hang: usize,
    /// Answer every request with this 500 body (a ks-devops that cannot decode anything).
    broken: Option<String>,
    /// The shim's start-up probe envelopes, with their answers (kept apart from events).
    probes: Vec<u16>,
}

/// The ks-devops webhook over a real socket.
#[derive(Clone)]
pub struct KsDevops {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    lookup: Duration,
}

impl KsDevops {
    pub async fn start() -> KsDevops {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ks = KsDevops {
            addr,
            inner: Arc::default(),
            // retry.DefaultRetry: 5 steps of 10 ms (jitter 0.1), each after a 1 s sleep.
            lookup: Duration::from_millis(1010),
        };
        let app = axum::Router::new().fallback(handle).with_state(ks.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ks
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.addr)
    }

    /// PipelineRuns created so far.
    pub fn pipeline_runs(&self) -> Vec<PipelineRun> {
        self.inner.lock().unwrap().runs.clone()
    }

    /// Every request with its answer.
    pub fn answered(&self) -> Vec<Answered> {
        self.inner.lock().unwrap().answered.clone()
    }

    /// Requests answered 2xx.
    pub fn taken(&self) -> Vec<Answered> {
        self.answered()
            .into_iter()
            .filter(|a| a.status == 200)
            .collect()
    }

    /// Acts on the next `n` requests as usual but never answers them.
    pub fn act_then_hang(&self, n: usize) {
        self.inner.lock().unwrap().act_then_hang = n;
    }

    /// Answers every request 500 with `body` (`None`: back to normal).
    pub fn break_with(&self, body: Option<&str>) {
        self.inner.lock().unwrap().broken = body.map(str::to_owned);
    }

    /// The shim's start-up probes and how they were answered.
    pub fn probes(&self) -> Vec<u16> {
        self.inner.lock().unwrap().probes.clone()
    }

    /// Records the answer (0: none will be given) and returns it.
    fn answer(&self, ty: &str, status: u16) -> (StatusCode, String) {
        let mut inner = self.inner.lock().unwrap();
        if ty == "jenkins-event-shim.probe" {
            inner.probes.push(status);
        } else {
            inner.answered.push(Answered {
                ty: ty.to_string(),
                status,
            });
        }
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            String::new(),
        )
    }
}

async fn handle(
    State(ks): State<KsDevops>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ty = envelope["type"].as_str().unwrap_or("").to_string();
    if headers.contains_key("authorization") {
        return ks.answer(&ty, 401);
    }
    if uri.path() != WEBHOOK_PATH {
        return ks.answer(&ty, 404);
    }
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !json {
        return ks.answer(&ty, 400);
    }
    let broken = ks.inner.lock().unwrap().broken.clone();
    if let Some(broken) = broken {
        let mut answer = ks.answer(&ty, 500);
        answer.1 = broken;
        return answer;
    }
    let (status, create) = match decide(&body) {
        Ok(create) => (200, create),
        Err(_) => (500, None),
    };
    if let Some((id, data)) = create {
        let ks = ks.clone();
        tokio::spawn(async move { ks.look_up_then_create(id, data).await });
    }
    // Fault injection is for events, not for the shim's start-up probe.
    let hang = ty != "jenkins-event-shim.probe" && {
        let mut inner = ks.inner.lock().unwrap();
        let hang = inner.act_then_hang > 0;
        inner.act_then_hang = inner.act_then_hang.saturating_sub(1);
        hang
    };
    if hang {
        ks.answer(&ty, 0); // acted on, never answered
        std::future::pending::<()>().await;
    }
    ks.answer(&ty, status)
}

/// `pipelineRunIdentifier`: the namespace and the identifier index value.
#[derive(Debug, Clone)]
struct Identifier {
    namespace: String,
    pipeline: String,
    branch: Option<String>,
    build: String,
}

impl KsDevops {
    /// The goroutine of `handleWorkflowRunInitialize`.
    async fn look_up_then_create(&self, id: Identifier, data: Data) {
        for _ in 0..5 {
            let found = self.inner.lock().unwrap().runs.iter().any(|r| {
                r.namespace == id.namespace
                    && r.pipeline == id.pipeline
                    && r.branch == id.branch
                    && r.run_id == id.build
            });
            if found {
                return;
            }
            tokio::time::sleep(self.lookup).await;
        }
        let Ok(parameters) = parameters(&data.actions) else {
            return; // GetParameters failed: no PipelineRun, and no error anyone sees
        };
        self.inner.lock().unwrap().runs.push(PipelineRun {
            namespace: id.namespace,
            pipeline: id.pipeline,
            branch: id.branch,
            run_id: id.build,
            parameters,
        });
    }
}

/// `common.Event`: go-restful decodes the envelope into it (strings must be strings).
#[derive(Deserialize)]
#[allow(dead_code)] // decoded for their types
struct Event {
    #[serde(rename = "type", default)]
    ty: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(rename = "dataType", default)]
    data_type: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

/// `workflowrun.Data` with Go's types: JSON null leaves a field at its zero value, a value of
/// another type is an error; unknown fields are ignored.
#[derive(Deserialize)]
#[allow(dead_code)] // decoded for their types
struct Data {
    #[serde(default)]
    actions: Option<Vec<Action>>,
    #[serde(default)]
    building: Option<bool>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(rename = "estimatedDuration", default)]
    estimated_duration: Option<i64>,
    #[serde(rename = "fullDisplayName", default)]
    full_display_name: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "keepLog", default)]
    keep_log: Option<bool>,
    #[serde(default)]
    number: Option<i64>,
    #[serde(rename = "queueId", default)]
    queue_id: Option<i64>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(rename = "_parentFullName", default)]
    parent_full_name: Option<String>,
    #[serde(rename = "_projectName", default)]
    project_name: Option<String>,
    #[serde(rename = "_multiBranch", default)]
    multi_branch: Option<bool>,
}

/// `workflowrun.Action`: its `UnmarshalJSON` decodes `_class` into a string and keeps the raw
/// JSON (null is a no-op; anything but an object or null is a type error).
struct Action {
    kind: String,
    raw: Value,
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let kind = match &raw {
            Value::Null => String::new(),
            Value::Object(map) => match map.get("_class") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(serde::de::Error::custom("_class is not a string")),
            },
            _ => return Err(serde::de::Error::custom("an action is not an object")),
        };
        Ok(Action { kind, raw })
    }
}

/// `ParameterAction` and `Parameter`: `Value` is an `interface{}`.
#[derive(Deserialize)]
struct ParameterAction {
    #[serde(default)]
    parameters: Option<Vec<Parameter>>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // decoded for its type
struct Parameter {
    #[serde(rename = "_class", default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Value,
}

/// What the handler does with one request: an error is a 500; `Some` starts the goroutine.
fn decide(body: &[u8]) -> Result<Option<(Identifier, Data)>, String> {
    let event: Event = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Some(raw) = event.data else {
        return Ok(None);
    };
    if event.data_type.as_deref() != Some(WORKFLOW_RUN) {
        return Ok(None);
    }
    let data: Data = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    if event.ty.as_deref() != Some("run.initialize") {
        return Ok(None);
    }
    Ok(identifier(&data).map(|id| (id, data)))
}

/// `extractPipelineRunIdentifier`.
fn identifier(data: &Data) -> Option<Identifier> {
    let parent = data.parent_full_name.clone().unwrap_or_default();
    if parent.is_empty() {
        return None;
    }
    let names: Vec<&str> = parent.split('/').collect();
    let project = data.project_name.clone().unwrap_or_default();
    let build = data.id.clone().unwrap_or_default();
    if data.multi_branch.unwrap_or(false) {
        if names.len() != 2 {
            return None;
        }
        Some(Identifier {
            namespace: names[0].into(),
            pipeline: names[1].into(),
            branch: Some(project),
            build,
        })
    } else {
        if names.len() != 1 {
            return None;
        }
        Some(Identifier {
            namespace: parent,
            pipeline: project,
            branch: None,
            build,
        })
    }
}

/// `Actions.GetParameters` then `convertParameters`.
fn parameters(actions: &Option<Vec<Action>>) -> Result<Vec<(String, String)>, String> {
    let Some(action) = actions
        .iter()
        .flatten()
        .find(|a| a.kind == "hudson.model.ParametersAction")
    else {
        return Ok(Vec::new());
    };
    let decoded: ParameterAction =
        serde_json::from_value(action.raw.clone()).map_err(|e| e.to_string())?;
    Ok(decoded
        .parameters
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let name = p.name.unwrap_or_default();
            (!name.is_empty()).then(|| (name, go_sprint(&p.value)))
        })
        .collect())
}

/// `fmt.Sprint` of what `encoding/json` puts in an `interface{}`: strings as they are, numbers
/// as `float64` with `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`), `<nil>`, `[a b]`,
/// `map[k:v]` with sorted keys.
pub fn go_sprint(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let pairs: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_sprint(&map[*k])))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

/// `%v` of a float64: `%g` with the shortest precision, which strconv writes in exponent form
/// when the exponent is below -4 or at least 6 ("if precision was the shortest possible, use
/// precision 6 for this decision", `strconv/ftoa.go`), with at least two exponent digits.
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{f}");
        s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
    } else {
        // Rust writes 1e8 / 1.5e-5; Go writes 1e+08 / 1.5e-05.
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').expect("exponent form");
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

#[test]
fn values_are_formatted_as_go_fmt_sprint_formats_them() {
    let cases = [
        (serde_json::json!("main"), "main"),
        (serde_json::json!(true), "true"),
        (serde_json::json!(3), "3"),
        (serde_json::json!(1.5), "1.5"),
        (serde_json::json!(123456), "123456"),
        (serde_json::json!(1234567), "1.234567e+06"),
        (serde_json::json!(100000000), "1e+08"),
        (serde_json::json!(0.00001), "1e-05"),
        (Value::Null, "<nil>"),
        (serde_json::json!(["a", 1]), "[a 1]"),
        (serde_json::json!({"b": 1, "a": "x"}), "map[a:x b:1]"),
    ];
    for (value, expected) in cases {
        assert_eq!(go_sprint(&value), expected, "{value}");
    }
}
