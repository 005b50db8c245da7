//! Jenkins URLs to the relative paths the watcher keys on.
//!
//! Jenkins builds absolute `url`s from its configured root URL, which behind a proxy may differ
//! from the URL we reach it at. Keys are therefore the relative part from the first `job/`
//! segment on (`job/folder/job/app/`), kept percent-encoded exactly as Jenkins wrote it (branch
//! names arrive as `feature%252Fx`): we never rebuild a URL from a name.

/// The relative path of a job, e.g. `job/folder/job/app/` (always ends in `/`).
pub type JobPath = String;

/// A build: its job's relative path and its number.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct BuildRef {
    /// The job's relative path.
    pub job: JobPath,
    /// The build number.
    pub number: u64,
}

impl BuildRef {
    /// The build's relative URL, `job/app/12/`.
    pub fn path(&self) -> String {
        format!("{}{}/", self.job, self.number)
    }
}

impl std::fmt::Display for BuildRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.job, self.number)
    }
}

/// Splits an absolute Jenkins URL into (root URL, relative path from the first `job/`).
/// `http://ci/jenkins/job/a/job/b/` → (`http://ci/jenkins/`, `job/a/job/b/`).
pub fn split_job_url(url: &str) -> Option<(&str, &str)> {
    // Search after the scheme so that a host named "job" cannot match.
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rel = url[scheme_end..].find("/job/")? + scheme_end + 1;
    Some((&url[..rel], &url[rel..]))
}

/// The relative job path of an absolute or relative job URL, with a trailing `/`.
pub fn job_path(url: &str) -> Option<JobPath> {
    let rel = match split_job_url(url) {
        Some((_, rel)) => rel,
        None if url.starts_with("job/") => url,
        None => return None,
    };
    Some(if rel.ends_with('/') {
        rel.to_string()
    } else {
        format!("{rel}/")
    })
}

/// Parses a build URL (`…/job/a/12/`) into its job path and number.
pub fn build_ref(url: &str) -> Option<BuildRef> {
    let rel = job_path(url)?;
    let trimmed = rel.trim_end_matches('/');
    let (job, number) = trimmed.rsplit_once('/')?;
    let number = number.parse().ok()?;
    Some(BuildRef {
        job: format!("{job}/"),
        number,
    })
}

/// The root URL (with trailing `/`) of an absolute job or build URL.
pub fn root_of(url: &str) -> Option<&str> {
    split_job_url(url).map(|(root, _)| root)
}

/// `job/team/job/app%20x/` → `team/app x` (the Jenkins full name; a branch stays `feature%2Fx`).
pub fn full_name(path: &str) -> String {
    path.trim_end_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|pair| match pair {
            ["job", name] => Some(
                percent_encoding::percent_decode_str(name)
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_root_and_relative_path_behind_a_context_path() {
        assert_eq!(
            split_job_url("http://ci/jenkins/job/a/job/b/"),
            Some(("http://ci/jenkins/", "job/a/job/b/"))
        );
        assert_eq!(root_of("https://job/job/x/"), Some("https://job/"));
    }

    #[test]
    fn build_url_gives_job_path_and_number_keeping_encoded_branch_names() {
        let b = build_ref("http://ci/job/mb/job/feature%252Fx/7/").unwrap();
        assert_eq!(b.job, "job/mb/job/feature%252Fx/");
        assert_eq!(b.number, 7);
        assert_eq!(b.path(), "job/mb/job/feature%252Fx/7/");
        assert_eq!(build_ref("http://ci/job/a/"), None);
    }
}
