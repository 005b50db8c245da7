//! The plugin's payload models (`QueueModel`, `JobModel`, `BuildModel`, `NodeModel`) with field
//! order and nullability as Jackson writes them, and the rules that fill them.

use serde::Serialize;
use serde_json::Value;

use crate::jenkins::model::Cause;
use crate::jenkins::path::full_name;
use crate::watch::{BuildFacts, Change, ItemKind, Phase, QueueSnapshot, ScmState};

use super::JobBodies;

/// An encoded change before it becomes a CloudEvent.
pub(super) struct Plugin {
    pub ty: String,
    /// Unescaped `job/<displayName>` or `node/<name>`.
    pub source: String,
    pub data: Option<Value>,
    /// Natural key for the event id.
    pub key: String,
    /// When it happened (ms), for the opt-in `time`.
    pub time: i64,
    /// What it is about, for the opt-in `subject`: `team/app/42` for a build, the job's full
    /// name for queue and item events, the node name for node events.
    pub subject: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueModel<'a> {
    ci_url: Option<&'a str>,
    display_name: &'a str,
    entry_time: i64,
    exit_time: i64,
    started_by: String,
    jenkins_queue_id: u64,
    status: &'static str,
    duration: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    queue_causes: Vec<QueueCause>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueCause {
    reason_for_waiting: String,
    #[serde(rename = "type")]
    ty: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobModel<'a> {
    user_id: Option<&'a str>,
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    name: &'a str,
    display_name: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<BuildModel<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_file: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildModel<'a> {
    full_url: Option<&'a str>,
    number: u64,
    queue_id: i64,
    timestamp: i64,
    duration: i64,
    phase: &'static str,
    status: Option<&'a str>,
    url: String,
    display_name: Option<()>,
    parameters: Option<serde_json::Map<String, Value>>,
    scm_state: &'a ScmState,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeModel<'a> {
    num_executors: u32,
    offline_cause: Option<Value>,
    node_name: &'a str,
    cached_host_name: Option<()>,
    terminated_by: Option<Vec<()>>,
    connect_time: i64,
}

fn to_value(model: impl Serialize) -> Value {
    serde_json::to_value(model).expect("plugin models always serialise")
}

/// The plugin's event for a change; `None` for what the plugin never reports (deletions,
/// items other than freestyle-type projects: its ItemListener ignores them, and runs whose
/// `queueId` is ≤ 0: `BuildModel.setQueueId` throws, and `Stage.handleEvent` drops the event).
pub(super) fn encode(change: &Change, bodies: JobBodies, run_user: Option<&str>) -> Option<Plugin> {
    if let Change::Build { build, .. } = change
        && build.queue_id <= 0
    {
        return None;
    }
    Some(match change {
        Change::QueueEntered(item) => queue(item, "ENTERED_WAITING", item.in_queue_since),
        Change::QueueLeft { item, exit_time } => queue(item, "LEFT", *exit_time),
        Change::Build {
            job,
            build,
            phase,
            timestamp,
        } => {
            let (ty, phase_name) = match phase {
                Phase::Started => ("started", "STARTED"),
                Phase::Completed => ("completed", "COMPLETED"),
                Phase::Finalized => ("finalized", "FINALIZED"),
                Phase::Failed => ("failed", "FINALIZED"),
            };
            let model = JobModel {
                user_id: run_user,
                user_name: run_user,
                status: None,
                name: &job.name,
                display_name: &job.display_name,
                url: &job.path,
                build: Some(build_model(build, phase_name, *timestamp, phase)),
                created_date: None,
                updated_date: None,
                config_file: None,
            };
            Plugin {
                ty: format!("org.jenkinsci.job.{ty}"),
                source: format!("job/{}", job.display_name),
                data: (bodies == JobBodies::Intended).then(|| to_value(model)),
                key: format!(
                    "build|{}|{}|{}|{ty}",
                    build.id.job, build.id.number, build.timestamp
                ),
                time: *timestamp,
                subject: format!("{}/{}", full_name(&job.path), build.id.number),
            }
        }
        Change::Item {
            job,
            kind,
            config,
            at,
            revision,
        } => {
            let is_project = job
                .class
                .as_deref()
                .is_some_and(|c| crate::watch::ABSTRACT_PROJECT_CLASSES.contains(&c));
            let (ty, status) = match kind {
                _ if !is_project => return None,
                ItemKind::Created => ("created", "CREATED"),
                ItemKind::Updated => ("updated", "UPDATED"),
                ItemKind::Deleted => return None,
            };
            let model = JobModel {
                // The saving user is not visible over REST.
                user_id: None,
                user_name: None,
                status: Some(status),
                name: &job.name,
                display_name: &job.display_name,
                url: &job.path,
                build: None,
                created_date: (*kind == ItemKind::Created).then_some(*at),
                updated_date: (*kind == ItemKind::Updated).then_some(*at),
                config_file: config.as_deref(),
            };
            let revision = match kind {
                ItemKind::Updated => format!("{revision}|{}", config.as_deref().unwrap_or("")),
                _ => String::new(),
            };
            Plugin {
                ty: format!("org.jenkinsci.job.{ty}"),
                source: format!("job/{}", job.display_name),
                data: (bodies == JobBodies::Intended).then(|| to_value(model)),
                key: format!("item|{}|{ty}|{revision}", job.path),
                time: *at,
                subject: full_name(&job.path),
            }
        }
        Change::BuildDeleted { .. } | Change::Stage { .. } => return None,
        Change::Node(node) => {
            let offline_cause = (!node.online).then(|| offline_cause(node));
            let model = NodeModel {
                num_executors: 0,
                offline_cause,
                node_name: &node.name,
                cached_host_name: None,
                terminated_by: (!node.online).then(Vec::new),
                connect_time: node.connect_time,
            };
            let status = if node.online { "online" } else { "offline" };
            Plugin {
                ty: format!("org.jenkinsci.node.{status}"),
                source: format!("node/{}", node.name),
                data: Some(to_value(model)),
                key: format!("node|{}|{status}|{}|{}", node.name, node.seq, node.at),
                time: node.at,
                subject: node.name.clone(),
            }
        }
    })
}

fn queue(item: &QueueSnapshot, status: &'static str, exit_time: i64) -> Plugin {
    let entered = status == "ENTERED_WAITING";
    let model = QueueModel {
        ci_url: item.ci_url.as_deref(),
        display_name: &item.display_name,
        entry_time: item.in_queue_since,
        exit_time,
        started_by: started_by(&item.causes),
        jenkins_queue_id: item.id,
        status,
        duration: if entered {
            0
        } else {
            exit_time - item.in_queue_since
        },
        queue_causes: if entered {
            vec![QueueCause {
                reason_for_waiting: reason_for_waiting(item.quiet_ms),
                ty: "entered_waiting",
            }]
        } else {
            Vec::new()
        },
    };
    let stage = status.to_lowercase();
    Plugin {
        ty: format!("org.jenkinsci.queue.{stage}"),
        source: format!("job/{}", item.display_name),
        data: Some(to_value(model)),
        key: format!("queue|{}|{}|{stage}", item.id, item.in_queue_since),
        time: exit_time,
        subject: full_name(&item.job),
    }
}

fn build_model<'a>(
    build: &'a BuildFacts,
    phase: &'static str,
    timestamp: i64,
    at: &Phase,
) -> BuildModel<'a> {
    let parameters = build.parameters.as_ref().map(|params| {
        params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    });
    BuildModel {
        full_url: build.full_url.as_deref(),
        number: build.id.number,
        queue_id: build.queue_id,
        timestamp,
        // At `started` the plugin reads the duration of a running build: 0.
        duration: if *at == Phase::Started {
            0
        } else {
            build.duration
        },
        phase,
        status: if *at == Phase::Started {
            None
        } else {
            build.result.as_deref()
        },
        url: build.id.path(),
        display_name: None,
        parameters,
        scm_state: &build.scm,
    }
}

/// `offlineCause` from what REST shows (the plugin dumps the Java bean, stack traces included,
/// which REST does not expose).
fn offline_cause(node: &crate::watch::NodeSnapshot) -> Value {
    let cause = node.offline_cause.as_ref();
    let timestamp = cause
        .and_then(|c| c.get("timestamp"))
        .and_then(Value::as_i64)
        .unwrap_or(node.at);
    let description = node
        .offline_reason
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            cause
                .and_then(|c| c.get("description").or_else(|| c.get("shortDescription")))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let mut map = serde_json::Map::new();
    map.insert("timestamp".into(), timestamp.into());
    if let Some(description) = description {
        map.insert("shortDescription".into(), description.into());
    }
    map.insert("time".into(), timestamp.into());
    Value::Object(map)
}

/// `WaitingItem.getCauseOfBlockage().getShortDescription()` when the plugin's listener runs,
/// `left_ms` before the quiet period ends: `Queue.InQuietPeriod`, or `Queue.FinishedWaiting`
/// once that time is past.
fn reason_for_waiting(left_ms: i64) -> String {
    if left_ms < 0 {
        "Finished waiting".to_string()
    } else {
        format!("In the quiet period. Expires in {}", time_span(left_ms))
    }
}

/// Cause classes that are `Cause.UserIdCause` (the class and the subclasses plugins ship):
/// core's CLI cause extends it.
const USER_ID_CAUSES: &[&str] = &[
    "hudson.model.Cause$UserIdCause",
    "hudson.cli.BuildCommand$CLICause",
];

/// `Cause.UpstreamCause` and its subclasses: pipeline-build-step's `BuildUpstreamCause` (the
/// Pipeline `build` step) and the rebuild plugin's `RebuildCause`.
const UPSTREAM_CAUSES: &[&str] = &[
    "hudson.model.Cause$UpstreamCause",
    "org.jenkinsci.plugins.workflow.support.steps.build.BuildUpstreamCause",
    "com.sonyericsson.rebuild.RebuildCause",
];

/// `SCMTrigger.SCMTriggerCause` and the subclasses SCM plugins ship for their webhooks. Git's
/// `GitStatus$CommitHookCause` extends plain `Cause`, so it is *not* one, and neither are
/// branch-api's `BranchEventCause` and `BranchIndexingCause`.
const SCM_CAUSES: &[&str] = &[
    "hudson.triggers.SCMTrigger$SCMTriggerCause",
    "com.cloudbees.jenkins.GitHubPushCause",
    "com.dabsquared.gitlabjenkins.cause.GitLabWebHookCause",
    "com.cloudbees.jenkins.plugins.BitBucketPushCause",
];

/// The plugin's `startedBy` (`QueueModel` via `Stage.buildQueueModel`): its `instanceof` tests
/// on each cause in order, the last recognised cause winning; any other cause is ignored.
pub fn started_by(causes: &[Cause]) -> String {
    let mut by = String::new();
    for cause in causes {
        let class = cause.class.as_deref().unwrap_or("");
        if USER_ID_CAUSES.contains(&class) {
            // `UserIdCause.getUserName()`: the user's display name, "anonymous" without one.
            by = cause
                .user_name
                .clone()
                .unwrap_or_else(|| "anonymous".to_string());
        } else if UPSTREAM_CAUSES.contains(&class) {
            by = "UPSTREAM".into();
        } else if SCM_CAUSES.contains(&class) {
            by = "SCM".into();
        } else if class == "hudson.triggers.TimerTrigger$TimerTriggerCause" {
            by = "TIMER".into();
        }
    }
    by
}

/// Jenkins' `Util.getTimeSpanString` in English: `4.9 sec`, `0.23 sec`, `12 ms`, `1 min 5 sec`.
pub fn time_span(ms: i64) -> String {
    const SEC: i64 = 1000;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    let mut d = ms.max(0);
    let years = d / YEAR;
    d %= YEAR;
    let months = d / MONTH;
    d %= MONTH;
    let days = d / DAY;
    d %= DAY;
    let hours = d / HOUR;
    d %= HOUR;
    let minutes = d / MIN;
    d %= MIN;
    let seconds = d / SEC;
    let millis = d % SEC;
    let pair = |big: i64, big_label: String, small_label: String| {
        if big < 10 {
            format!("{big_label} {small_label}")
        } else {
            big_label
        }
    };
    if years > 0 {
        pair(years, format!("{years} yr"), format!("{months} mo"))
    } else if months > 0 {
        pair(months, format!("{months} mo"), format!("{days} day"))
    } else if days > 0 {
        pair(days, format!("{days} day"), format!("{hours} hr"))
    } else if hours > 0 {
        pair(hours, format!("{hours} hr"), format!("{minutes} min"))
    } else if minutes > 0 {
        pair(minutes, format!("{minutes} min"), format!("{seconds} sec"))
    } else if seconds >= 10 {
        format!("{seconds} sec")
    } else if seconds >= 1 {
        // Java formats the float seconds + tenths, dropping a zero fraction ("5 sec").
        java_number(seconds as f64 + (millis / 100) as f64 / 10.0) + " sec"
    } else if millis >= 100 {
        java_number((millis / 10) as f64 / 100.0) + " sec"
    } else {
        format!("{millis} ms")
    }
}

/// `MessageFormat`'s default number rendering for small values: no trailing zeros.
fn java_number(value: f64) -> String {
    let s = format!("{value:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// True for characters `java.net.URI` rejects in a path.
fn uri_rejects(c: char) -> bool {
    c.is_control() || c == ' ' || "\"<>\\^`{|}[]".contains(c)
}

/// The source as is when `java.net.URI` accepts it, else `None`.
pub(super) fn uri_safe(source: &str) -> Option<String> {
    let bad_percent = source.char_indices().any(|(i, c)| {
        c == '%'
            && !source
                .get(i + 1..i + 3)
                .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
    });
    let hashes = source.matches('#').count();
    (!source.chars().any(uri_rejects) && !bad_percent && hashes <= 1).then(|| source.to_string())
}

/// Percent-encodes what `java.net.URI` rejects (and a stray `%` or second `#`).
pub(super) fn encode_source(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 8);
    let mut seen_hash = false;
    for (i, c) in source.char_indices() {
        let stray_percent = c == '%'
            && !source
                .get(i + 1..i + 3)
                .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        let extra_hash = c == '#' && std::mem::replace(&mut seen_hash, true);
        if uri_rejects(c) || stray_percent || extra_hash {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_without_a_positive_queue_id_give_no_job_events_as_in_the_plugin() {
        let run = |queue_id: i64| {
            let build: crate::jenkins::model::Build = serde_json::from_value(serde_json::json!({
                "number": 3, "url": "http://ci/job/app/3/", "building": true,
                "timestamp": 1_000, "duration": 0, "queueId": queue_id}))
            .unwrap();
            let id = crate::jenkins::path::BuildRef {
                job: "job/app/".into(),
                number: 3,
            };
            Change::Build {
                job: crate::watch::JobInfo {
                    path: "job/app/".into(),
                    name: "app".into(),
                    display_name: "app".into(),
                    class: None,
                },
                build: crate::watch::BuildFacts::from_build(id, &build),
                phase: Phase::Started,
                timestamp: 1_000,
            }
        };
        assert!(encode(&run(7), JobBodies::Intended, None).is_some());
        assert!(encode(&run(0), JobBodies::Intended, None).is_none());
        assert!(encode(&run(-1), JobBodies::Intended, None).is_none());
    }

    #[test]
    fn only_abstract_projects_give_job_created_as_in_the_plugin() {
        let created = |class: &str| Change::Item {
            job: crate::watch::JobInfo {
                path: "job/app/".into(),
                name: "app".into(),
                display_name: "app".into(),
                class: Some(class.into()),
            },
            kind: ItemKind::Created,
            config: None,
            at: 1_000,
            revision: String::new(),
        };
        assert!(
            encode(
                &created("hudson.model.FreeStyleProject"),
                JobBodies::Intended,
                None
            )
            .is_some()
        );
        assert!(
            encode(
                &created("org.jenkinsci.plugins.workflow.job.WorkflowJob"),
                JobBodies::Intended,
                None
            )
            .is_none(),
            "a pipeline is not an AbstractProject: the plugin's JobListener ignores it"
        );
    }

    #[test]
    fn reason_for_waiting_is_the_time_left_or_finished_waiting() {
        assert_eq!(
            reason_for_waiting(4_900),
            "In the quiet period. Expires in 4.9 sec"
        );
        assert_eq!(
            reason_for_waiting(0),
            "In the quiet period. Expires in 0 ms"
        );
        assert_eq!(reason_for_waiting(-1), "Finished waiting");
    }

    #[test]
    fn time_span_matches_jenkins_util_get_time_span_string() {
        assert_eq!(time_span(4_900), "4.9 sec");
        assert_eq!(time_span(5_000), "5 sec");
        assert_eq!(time_span(12_345), "12 sec");
        assert_eq!(time_span(230), "0.23 sec");
        assert_eq!(time_span(0), "0 ms");
        assert_eq!(time_span(65_000), "1 min 5 sec");
        assert_eq!(time_span(11 * 60_000), "11 min");
    }

    #[test]
    fn started_by_takes_the_last_recognised_cause() {
        let cause = |class: &str, user: Option<&str>| Cause {
            class: Some(class.into()),
            user_name: user.map(str::to_owned),
            ..Cause::default()
        };
        let causes = vec![
            cause("hudson.model.Cause$UserIdCause", Some("Jane Doe")),
            cause("hudson.triggers.TimerTrigger$TimerTriggerCause", None),
            cause(
                "org.jenkinsci.plugins.workflow.cps.replay.ReplayCause",
                None,
            ),
        ];
        assert_eq!(started_by(&causes), "TIMER");
        // The Pipeline `build` step's cause is an UpstreamCause; git's commit hook is no
        // SCMTriggerCause (the plugin ignores it), GitHub's push cause is one.
        let step = cause(
            "org.jenkinsci.plugins.workflow.support.steps.build.BuildUpstreamCause",
            None,
        );
        assert_eq!(started_by(&[step]), "UPSTREAM");
        let hook = cause("hudson.plugins.git.GitStatus$CommitHookCause", None);
        assert_eq!(started_by(&[hook]), "");
        let push = cause("com.cloudbees.jenkins.GitHubPushCause", None);
        assert_eq!(started_by(&[push]), "SCM");
        assert_eq!(started_by(&causes[..1]), "Jane Doe");
        assert_eq!(started_by(&[]), "");
        assert_eq!(
            started_by(&[cause("hudson.model.Cause$UserIdCause", None)]),
            "anonymous"
        );
    }

    #[test]
    fn sources_java_net_uri_rejects_are_percent_encoded() {
        assert_eq!(uri_safe("job/ok-name_1"), Some("job/ok-name_1".into()));
        assert_eq!(uri_safe("job/fü"), Some("job/fü".into()));
        assert_eq!(uri_safe("job/a%2Fb"), Some("job/a%2Fb".into()));
        assert_eq!(uri_safe("job/my job"), None);
        assert_eq!(encode_source("job/my job"), "job/my%20job");
        assert_eq!(encode_source("job/a{b}|c"), "job/a%7Bb%7D%7Cc");
        assert_eq!(encode_source("job/100%"), "job/100%25");
        assert_eq!(encode_source("job/a#b#c"), "job/a#b%23c");
    }
}
