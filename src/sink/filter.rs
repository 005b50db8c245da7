//! Which events a sink wants: event types, job full names and controller names, as glob
//! patterns. Pure.

use crate::jenkins::path::full_name;

/// A sink's filter; empty lists let everything through.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    types: Vec<glob::Pattern>,
    jobs: Vec<glob::Pattern>,
    controllers: Vec<glob::Pattern>,
}

impl Filter {
    /// Builds a filter from patterns (`org.jenkinsci.job.*`, `team/**`).
    pub fn new(
        types: &[String],
        jobs: &[String],
        controllers: &[String],
    ) -> Result<Filter, glob::PatternError> {
        let compile = |list: &[String]| {
            list.iter()
                .map(|p| glob::Pattern::new(p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Filter {
            types: compile(types)?,
            jobs: compile(jobs)?,
            controllers: compile(controllers)?,
        })
    }

    /// Does the sink want an event of type `ty` about the job at `job_path` (none for nodes)
    /// from the controller named `controller`? With job patterns, events without a job (node
    /// events) are not wanted.
    pub fn wants(&self, ty: &str, job_path: Option<&str>, controller: &str) -> bool {
        let controller_ok =
            self.controllers.is_empty() || self.controllers.iter().any(|p| p.matches(controller));
        let type_ok = self.types.is_empty() || self.types.iter().any(|p| p.matches(ty));
        let job_ok = self.jobs.is_empty()
            || job_path.is_some_and(|path| {
                let name = full_name(path);
                self.jobs.iter().any(|p| p.matches(&name))
            });
        type_ok && job_ok && controller_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_job_names_match_globs() {
        let f = Filter::new(
            &["org.jenkinsci.job.*".into()],
            &["team/*".into(), "mb/feature%2F*".into()],
            &["ci-*".into()],
        )
        .unwrap();
        let c = "ci-east";
        assert!(f.wants("org.jenkinsci.job.failed", Some("job/team/job/app/"), c));
        assert!(!f.wants("org.jenkinsci.queue.left", Some("job/team/job/app/"), c));
        assert!(!f.wants("org.jenkinsci.job.failed", Some("job/other/"), c));
        assert!(f.wants(
            "org.jenkinsci.job.started",
            Some("job/mb/job/feature%252Flogin/"),
            c
        ));
        assert!(
            !f.wants("org.jenkinsci.job.started", None, c),
            "node events have no job"
        );
        assert!(
            !f.wants(
                "org.jenkinsci.job.failed",
                Some("job/team/job/app/"),
                "legacy"
            ),
            "another controller"
        );
        assert!(Filter::default().wants("org.jenkinsci.node.online", None, "x"));
        assert_eq!(full_name("job/a/job/b%20c/"), "a/b c");
        assert!(Filter::new(&["[".into()], &[], &[]).is_err());
    }
}
