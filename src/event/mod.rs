//! Domain changes to CloudEvents: the Jenkins CloudEvents plugin's contract, exactly.
//!
//! [`Encoder::encode`] is pure: a [`Change`] and the options in, a [`cloudevents::Event`] out.
//! Ids are UUIDs derived (v5) from the controller and the change's natural key
//! (`job path + build number + build start + phase`, `queue id + entry time + stage`, …), so the
//! same change gets the same id on every retry, after a restart, and when it is observed again
//! after state was lost: receivers can deduplicate on `source` + `id`.

mod cdevents;
pub mod kubesphere;
mod needs;
mod plugin;

use cloudevents::event::AttributesWriter;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde::{Deserialize, Serialize};

use crate::watch::Change;

pub use cdevents::{Unstable, outcome};
pub use needs::{Ask, Need};
pub use plugin::{started_by, time_span};

/// The dialect a sink speaks; each change is encoded once per dialect some sink uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The Jenkins CloudEvents plugin's events (`org.jenkinsci.*`).
    #[default]
    Plugin,
    /// CDEvents v0.5 (`dev.cdevents.pipelinerun.*`, `dev.cdevents.taskrun.*`) as CloudEvents.
    #[serde(rename = "cdevents")]
    CdEvents,
    /// KubeSphere's generic-event envelope (`run.*`, `item.*`), for ks-devops. Not CloudEvents.
    #[serde(rename = "kubesphere")]
    KubeSphere,
}

impl Format {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Format::Plugin => "plugin",
            Format::CdEvents => "cdevents",
            Format::KubeSphere => "kubesphere",
        }
    }

    /// Parses the configuration spelling.
    pub fn parse(value: &str) -> Option<Format> {
        match value {
            "plugin" => Some(Format::Plugin),
            "cdevents" => Some(Format::CdEvents),
            "kubesphere" => Some(Format::KubeSphere),
            _ => None,
        }
    }
}

/// What waits in the outbox and goes to a sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// A CloudEvent (plugin and CDEvents formats).
    Cloud(Event),
    /// A generic-event envelope (KubeSphere format).
    Generic(kubesphere::GenericEvent),
}

impl Payload {
    /// The event id (stable across retries and restarts).
    pub fn id(&self) -> &str {
        match self {
            Payload::Cloud(e) => e.id(),
            Payload::Generic(g) => &g.envelope.id,
        }
    }

    /// The event as one JSON document: a structured CloudEvent, or the generic-event envelope
    /// (what stdout and file sinks write, one per line).
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Payload::Cloud(e) => serde_json::to_vec(e),
            Payload::Generic(g) => serde_json::to_vec(&g.envelope),
        }
        .expect("events always serialise")
    }

    /// The event type, for filters, logs and metrics.
    pub fn ty(&self) -> &str {
        match self {
            Payload::Cloud(e) => e.ty(),
            Payload::Generic(g) => &g.envelope.ty,
        }
    }
}

/// What the poller read, beyond the change itself, for the dialects that need more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads<'a> {
    /// The Pipeline stages of a run that just completed (CDEvents task runs).
    pub stages: Option<&'a [crate::jenkins::model::Stage]>,
    /// Stage events of that run already sent while it ran (`watch::stages::key`).
    pub stages_sent: Option<&'a std::collections::BTreeSet<String>>,
    /// The build's (or, for item changes, the job's) own `api/json` (KubeSphere data).
    pub run: Option<&'a serde_json::Value>,
    /// The class of the job's parent (KubeSphere `_multiBranch`).
    pub parent_class: Option<&'a str>,
}

/// One encoded event of a tick, ready for the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Its dialect: only sinks speaking it receive it.
    pub format: Format,
    /// The event.
    pub payload: Payload,
    /// Its job path, for per-job ordering, job filters and logs.
    pub job: Option<String>,
    /// The name of the controller it comes from, for controller filters.
    pub controller: String,
}

/// What `job.*` events carry as their body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobBodies {
    /// The JSON the plugin's README and model classes define.
    #[default]
    Intended,
    /// An empty body, as plugin 1.0.0 actually sends (its JobModel serialisation throws).
    #[serde(rename = "plugin-1.0.0")]
    Plugin100,
}

/// What to do with a `source` that `java.net.URI` rejects (spaces, `<>"{}|\^[]` and backticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidSources {
    /// Percent-encode the offending characters and emit.
    #[default]
    Encode,
    /// Drop the event, as the plugin does.
    Drop,
}

/// Encoding options.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    /// Identifies the controller in event ids (its root URL as configured).
    pub controller: String,
    /// The controller's name (for sinks' controller filters).
    pub name: String,
    /// job.* bodies.
    pub job_bodies: JobBodies,
    /// Sources the plugin would drop.
    pub invalid_sources: InvalidSources,
    /// Run events' `userId`/`userName` (REST cannot see the listener thread's principal).
    pub run_user: Option<String>,
    /// Attributes the plugin never sets, each opt-in.
    pub extras: Extras,
    /// The dialects some sink speaks: each change is encoded once per dialect.
    pub formats: Vec<Format>,
    /// What UNSTABLE counts as in CDEvents.
    pub unstable: Unstable,
}

/// Opt-in attributes; all off by default so strict consumers see exactly the plugin's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// `time`: when the change happened (RFC 3339).
    pub time: bool,
    /// `subject`: the build (`team/app/42`), job, or node the event is about.
    pub subject: bool,
    /// The `jenkinsurl` extension: the controller's URL, to tell several controllers apart.
    pub jenkins_url: bool,
}

/// The extension attribute carrying the controller URL (CloudEvents names: `[a-z0-9]{1,20}`).
pub const JENKINS_URL_EXTENSION: &str = "jenkinsurl";

/// Milliseconds since the epoch as a UTC date-time (the epoch itself for what cannot be one).
fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.max(0)) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The UUID namespace of event ids (a fixed random UUID: ids must never change).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b1c_1a1e_8e0f_4f7a_9d3c_2a55_0e1f_7c42);

impl Encoder {
    /// Whether some sink speaks `format`.
    pub fn speaks(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// A change in the dialects some sink speaks that `which` selects.
    pub fn encode_where(
        &self,
        change: &Change,
        reads: &Reads<'_>,
        which: impl Fn(Format) -> bool,
    ) -> Vec<Outgoing> {
        let job = change.job().map(str::to_owned);
        let mut out = Vec::new();
        for format in self.formats.iter().filter(|f| which(**f)) {
            let payloads: Vec<Payload> = match format {
                Format::Plugin => self
                    .encode(change)
                    .map(Payload::Cloud)
                    .into_iter()
                    .collect(),
                Format::CdEvents => cdevents::encode(
                    &self.controller,
                    change,
                    reads.stages,
                    reads.stages_sent,
                    self.unstable,
                )
                .into_iter()
                .filter_map(|draft| {
                    let id = self.id(&draft.key);
                    cdevents::to_cloudevent(draft, id)
                })
                .map(Payload::Cloud)
                .collect(),
                Format::KubeSphere => kubesphere::encode(change, reads)
                    .into_iter()
                    .map(|mut draft| {
                        draft.envelope.id = self.id(&draft.key);
                        Payload::Generic(kubesphere::GenericEvent {
                            envelope: draft.envelope,
                            referrer: self.controller.clone(),
                        })
                    })
                    .collect(),
            };
            out.extend(payloads.into_iter().map(|payload| Outgoing {
                format: *format,
                payload,
                job: job.clone(),
                controller: self.name.clone(),
            }));
        }
        out
    }

    /// Whether `format` reports `change` at all (a queue change has no KubeSphere event).
    pub fn reports(&self, format: Format, change: &Change) -> bool {
        !self
            .encode_where(change, &Reads::default(), |f| f == format)
            .is_empty()
    }

    /// The stable id of the event with natural key `key`.
    fn id(&self, key: &str) -> String {
        uuid::Uuid::new_v5(
            &ID_NAMESPACE,
            format!("{}|{key}", self.controller).as_bytes(),
        )
        .to_string()
    }

    /// The plugin-format CloudEvent for a change, or `None` when the options say to drop it.
    pub fn encode(&self, change: &Change) -> Option<Event> {
        let p = plugin::encode(change, self.job_bodies, self.run_user.as_deref())?;
        let source = match plugin::uri_safe(&p.source) {
            Some(source) => source,
            None if self.invalid_sources == InvalidSources::Drop => return None,
            None => plugin::encode_source(&p.source),
        };
        let builder = EventBuilderV10::new()
            .id(self.id(&p.key))
            .source(source)
            .ty(p.ty);
        let builder = match p.data {
            Some(data) => builder.data("application/json", data),
            None => builder,
        };
        let builder = if self.extras.subject {
            builder.subject(p.subject)
        } else {
            builder
        };
        let builder = if self.extras.time {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(p.time.max(0) as u64);
            builder.time(humantime::format_rfc3339_millis(at).to_string())
        } else {
            builder
        };
        let builder = if self.extras.jenkins_url {
            builder.extension(JENKINS_URL_EXTENSION, self.controller.clone())
        } else {
            builder
        };
        let mut event = builder.build().expect("id, source and type are always set");
        event.set_datacontenttype(Some("application/json"));
        Some(event)
    }
}
