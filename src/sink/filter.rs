//! Which events a sink wants: CloudEvent types and job full names, as glob patterns. Pure.

use crate::jenkins::path::full_name;

/// A sink's filter; empty lists let everything through.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    types: Vec<glob::Pattern>,
    jobs: Vec<glob::Pattern>,
}

impl Filter {
    /// Builds a filter from patterns (`org.jenkinsci.job.*`, `team/**`).
    pub fn new(types: &[String], jobs: &[String]) -> Result<Filter, glob::PatternError> {
        let compile = |list: &[String]| {
            list.iter()
                .map(|p| glob::Pattern::new(p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Filter {
            types: compile(types)?,
            jobs: compile(jobs)?,
        })
    }

    /// Does the sink want an event of type `ty` about the job at `job_path` (none for nodes)?
    /// With job patterns, events without a job (node events) are not wanted.
    pub fn wants(&self, ty: &str, job_path: Option<&str>) -> bool {
        let type_ok = self.types.is_empty() || self.types.iter().any(|p| p.matches(ty));
        let job_ok = self.jobs.is_empty()
            || job_path.is_some_and(|path| {
                let name = full_name(path);
                self.jobs.iter().any(|p| p.matches(&name))
            });
        type_ok && job_ok
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
        )
        .unwrap();
        assert!(f.wants("org.jenkinsci.job.failed", Some("job/team/job/app/")));
        assert!(!f.wants("org.jenkinsci.queue.left", Some("job/team/job/app/")));
        assert!(!f.wants("org.jenkinsci.job.failed", Some("job/other/")));
        assert!(f.wants(
            "org.jenkinsci.job.started",
            Some("job/mb/job/feature%252Flogin/")
        ));
        assert!(
            !f.wants("org.jenkinsci.job.started", None),
            "node events have no job"
        );
        assert!(Filter::default().wants("org.jenkinsci.node.online", None));
        assert_eq!(full_name("job/a/job/b%20c/"), "a/b c");
        assert!(Filter::new(&["[".into()], &[]).is_err());
    }
}
