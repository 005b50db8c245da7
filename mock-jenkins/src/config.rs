//! A job's `config.xml`, read the way the mock needs it: the item kind from the root element,
//! the settings Jenkins honours (description, disabled, concurrent builds, quiet period), and
//! the build steps that steer a build's outcome: `sleep N` and `exit N` in a freestyle shell
//! step, `sleep`, `error` and `unstable` in a pipeline script.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::world::{Kind, Plan};

/// What the mock reads from a config.xml.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// The item kind, from the root element.
    pub kind: Kind,
    /// `<description>`.
    pub description: String,
    /// `<displayName>`, if set.
    pub display_name: Option<String>,
    /// `<disabled>`.
    pub disabled: bool,
    /// `<concurrentBuild>` (pipelines: unless `DisableConcurrentBuildsJobProperty`).
    pub concurrent: bool,
    /// `<quietPeriod>` in seconds, as ms.
    pub quiet_period_ms: Option<i64>,
    /// How a build of this job runs.
    pub plan: Plan,
}

/// A config.xml the mock cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parses a config.xml.
pub fn parse(xml: &str) -> Result<JobConfig, ConfigError> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut description = String::new();
    let mut display_name = None;
    let mut disabled = false;
    let mut concurrent = None;
    let mut quiet = None;
    let mut commands = Vec::new();
    let mut script = String::new();
    let mut no_concurrent_property = false;
    // Text arrives in pieces (entity references are events of their own): gather it per element.
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from(e.name().as_ref());
                root.get_or_insert_with(|| name.clone());
                no_concurrent_property |= name.ends_with("DisableConcurrentBuildsJobProperty");
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                let name = String::from(e.name().as_ref());
                root.get_or_insert_with(|| name.clone());
                no_concurrent_property |= name.ends_with("DisableConcurrentBuildsJobProperty");
            }
            Ok(Event::Text(t)) => text.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => text.push_str(&t.into_inner()),
            Ok(Event::GeneralRef(r)) => {
                let reference = format!("&{};", r.into_inner());
                let resolved = quick_xml::escape::unescape(&reference)
                    .map_err(|e| ConfigError(format!("config.xml: {e}")))?;
                text.push_str(&resolved);
            }
            Ok(Event::End(_)) => {
                let leaf = path.pop().unwrap_or_default();
                let value = std::mem::take(&mut text);
                match (leaf.as_str(), path.len() + 1) {
                    ("description", 2) => description = value,
                    ("displayName", 2) => display_name = Some(value),
                    ("disabled", 2) => disabled = value.trim() == "true",
                    ("concurrentBuild", 2) => concurrent = Some(value.trim() == "true"),
                    ("quietPeriod", 2) => {
                        quiet = value.trim().parse::<i64>().ok().map(|s| s * 1000)
                    }
                    ("command", _) => commands.push(value),
                    ("script", _) => script.push_str(&value),
                    _ => {}
                }
            }
            Ok(Event::Eof) => break,
            Err(e) => {
                return Err(ConfigError(format!(
                    "config.xml is not well-formed XML: {e}"
                )));
            }
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(ConfigError(format!(
            "config.xml ends inside <{}>",
            path.join("><")
        )));
    }
    let root = root.ok_or_else(|| ConfigError("config.xml is empty".into()))?;
    let kind = match root.as_str() {
        "project" | "maven2-moduleset" => Kind::Freestyle,
        "matrix-project" => Kind::Matrix,
        "matrix-config" => Kind::MatrixConfiguration,
        "flow-definition" => Kind::Pipeline,
        "com.cloudbees.hudson.plugins.folder.Folder" => Kind::Folder,
        "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject" => {
            Kind::Multibranch
        }
        other => {
            return Err(ConfigError(format!(
                "unsupported item type <{other}> in config.xml"
            )));
        }
    };
    let plan = match kind {
        Kind::Pipeline => pipeline_plan(&script),
        _ => shell_plan(&commands.join("\n")),
    };
    Ok(JobConfig {
        kind,
        description,
        display_name,
        disabled,
        concurrent: concurrent.unwrap_or(kind == Kind::Pipeline && !no_concurrent_property),
        quiet_period_ms: quiet,
        plan,
    })
}

/// A build that does nothing still takes a moment.
const MIN_BUILD_MS: i64 = 100;

fn seconds(word: &str) -> Option<f64> {
    word.trim_matches(|c: char| !c.is_ascii_digit() && c != '.')
        .parse()
        .ok()
}

/// Freestyle shell: `sleep N` adds N seconds; the first `exit N` ends it (N ≠ 0: FAILURE).
fn shell_plan(commands: &str) -> Plan {
    let mut duration = 0.0;
    let mut result = "SUCCESS";
    for line in commands.lines().flat_map(|l| l.split(';')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sleep", n, ..] => duration += seconds(n).unwrap_or(0.0),
            ["exit", n, ..] => {
                if seconds(n).unwrap_or(0.0) != 0.0 {
                    result = "FAILURE";
                }
                break;
            }
            ["false", ..] => {
                result = "FAILURE";
                break;
            }
            _ => {}
        }
    }
    Plan {
        duration_ms: ((duration * 1000.0) as i64).max(MIN_BUILD_MS),
        result: result.into(),
    }
}

/// Pipeline script: each `sleep` (`sleep 2`, `sleep(2)`, `sleep time: 2`) adds its seconds;
/// `error` makes it FAILURE, `unstable` UNSTABLE.
fn pipeline_plan(script: &str) -> Plan {
    let mut duration = 0.0;
    let mut result = "SUCCESS";
    let mut rest = script;
    while let Some(i) = rest.find("sleep") {
        rest = &rest[i + 5..];
        let number: String = rest
            .chars()
            .skip_while(|c| !c.is_ascii_digit() && *c != '\n')
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        duration += number.parse::<f64>().unwrap_or(0.0);
    }
    if contains_step(script, "error") {
        result = "FAILURE";
    } else if contains_step(script, "unstable") {
        result = "UNSTABLE";
    }
    Plan {
        duration_ms: ((duration * 1000.0) as i64).max(MIN_BUILD_MS),
        result: result.into(),
    }
}

fn contains_step(script: &str, step: &str) -> bool {
    script.match_indices(step).any(|(i, _)| {
        let before = script[..i].chars().next_back();
        let after = script[i + step.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && matches!(after, Some('(' | ' ' | '\'' | '"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freestyle_shell_steps_steer_duration_and_result() {
        let c = parse(
            "<?xml version='1.1' encoding='UTF-8'?><project><description>d</description><disabled>false</disabled>\
             <quietPeriod>3</quietPeriod><concurrentBuild>true</concurrentBuild><builders><hudson.tasks.Shell>\
             <command>echo hi\nsleep 2\nexit 3</command></hudson.tasks.Shell></builders></project>",
        )
        .unwrap();
        assert_eq!(c.kind, Kind::Freestyle);
        assert_eq!(
            (c.description.as_str(), c.concurrent, c.quiet_period_ms),
            ("d", true, Some(3000))
        );
        assert_eq!(
            c.plan,
            Plan {
                duration_ms: 2000,
                result: "FAILURE".into()
            }
        );
    }

    #[test]
    fn pipeline_script_sleeps_and_errors_are_read() {
        let c = parse(
            "<flow-definition plugin='workflow-job'><definition class='org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition'>\
             <script>node { sleep(1); sleep time: 2; error 'boom' }</script></definition></flow-definition>",
        )
        .unwrap();
        assert_eq!(c.kind, Kind::Pipeline);
        assert!(c.concurrent);
        assert_eq!(
            c.plan,
            Plan {
                duration_ms: 3000,
                result: "FAILURE".into()
            }
        );
        let folder = parse("<com.cloudbees.hudson.plugins.folder.Folder/>").unwrap();
        assert_eq!(folder.kind, Kind::Folder);
        assert!(parse("<nope/>").is_err());
        assert!(
            parse("<project><description>").is_err(),
            "truncated XML is refused"
        );
        let escaped =
            parse("<project><description>a &amp; b &lt;c&gt;</description></project>").unwrap();
        assert_eq!(escaped.description, "a & b <c>");
    }
}
